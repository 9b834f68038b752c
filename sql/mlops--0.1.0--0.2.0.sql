-- mlops upgrade script: 0.1.0 to 0.2.0
--
-- Every change to the schema made in 0.2.0 lands here as it is made, so
-- that ALTER EXTENSION mlops UPDATE leaves what a fresh 0.2.0 install
-- creates (test/integration/upgrade.sh compares the two).  The schema
-- itself stays outside the extension on upgraded installations: PostgreSQL
-- cannot add an existing schema to an extension.

\echo Use "ALTER EXTENSION mlops UPDATE TO '0.2.0'" to load this file. \quit

COMMENT ON SCHEMA mlops IS 'mlops: machine learning and MLOps inside PostgreSQL.';

--------------------------------------------------------------------------
-- Roles by OID: the role columns become regrole.  A role that no longer
-- exists becomes 0 (shown as '-'), never a later role of the same name.
-- The views that show these columns are made again below.
--------------------------------------------------------------------------

DROP VIEW mlops.job_progress, mlops.drift_status, mlops.events_log, mlops.overview,
	mlops.deployed_models;

ALTER TABLE mlops.projects ALTER created_by DROP DEFAULT,
	ALTER created_by TYPE regrole
	USING COALESCE(pg_catalog.to_regrole(pg_catalog.quote_ident(created_by::text)), 0::oid::regrole);
ALTER TABLE mlops.models ALTER created_by DROP DEFAULT,
	ALTER created_by TYPE regrole
	USING COALESCE(pg_catalog.to_regrole(pg_catalog.quote_ident(created_by::text)), 0::oid::regrole);
ALTER TABLE mlops.deployments ALTER deployed_by DROP DEFAULT,
	ALTER deployed_by TYPE regrole
	USING COALESCE(pg_catalog.to_regrole(pg_catalog.quote_ident(deployed_by::text)), 0::oid::regrole);
ALTER TABLE mlops.evaluations ALTER evaluated_by DROP DEFAULT,
	ALTER evaluated_by TYPE regrole
	USING COALESCE(pg_catalog.to_regrole(pg_catalog.quote_ident(evaluated_by::text)), 0::oid::regrole);
ALTER TABLE mlops.events ALTER actor DROP DEFAULT,
	ALTER actor TYPE regrole
	USING COALESCE(pg_catalog.to_regrole(pg_catalog.quote_ident(actor::text)), 0::oid::regrole);
ALTER TABLE mlops.drift_reports ALTER checked_by DROP DEFAULT,
	ALTER checked_by TYPE regrole
	USING COALESCE(pg_catalog.to_regrole(pg_catalog.quote_ident(checked_by::text)), 0::oid::regrole);
ALTER TABLE mlops.schedules ALTER created_by DROP DEFAULT,
	ALTER created_by TYPE regrole
	USING COALESCE(pg_catalog.to_regrole(pg_catalog.quote_ident(created_by::text)), 0::oid::regrole);
ALTER TABLE mlops.jobs ALTER submitted_by DROP DEFAULT,
	ALTER submitted_by TYPE regrole
	USING COALESCE(pg_catalog.to_regrole(pg_catalog.quote_ident(submitted_by::text)), 0::oid::regrole);
COMMENT ON COLUMN mlops.projects.created_by IS 'The role that owns the project, by OID: a role dropped and created again under the same name does not own it.';

CREATE VIEW mlops.deployed_models AS
SELECT DISTINCT ON (d.project_id)
	   d.project_id, d.model_id, d.strategy, d.deployed_at, d.deployed_by
  FROM mlops.deployments d
 ORDER BY d.project_id, d.id DESC;
COMMENT ON VIEW mlops.deployed_models IS 'The deployed model of each project (its latest deployment).';

CREATE VIEW mlops.overview AS
SELECT p.name AS project, p.task, p.target,
	   m.id AS model_id, m.version, m.algorithm,
	   CASE p.task WHEN 'classification' THEN 'f1' ELSE 'r2' END AS metric,
	   (m.metrics ->> CASE p.task WHEN 'classification' THEN 'f1' ELSE 'r2' END)::float8 AS score,
	   d.deployed_at, m.created_at AS trained_at
  FROM mlops.projects p
  LEFT JOIN mlops.deployed_models d ON d.project_id = p.id
  LEFT JOIN mlops.models m ON m.id = d.model_id;
COMMENT ON VIEW mlops.overview IS 'One row per project with its deployed model, primary metric and score.';

CREATE VIEW mlops.events_log AS
SELECT e.at AS time, e.action, e.project, e.model_id, e.actor, e.detail
  FROM mlops.events e;
COMMENT ON VIEW mlops.events_log IS 'The events table with a time column, for BI tools.';

CREATE VIEW mlops.drift_status AS
SELECT DISTINCT ON (r.project_id)
	   p.name AS project, r.id AS report_id, r.model_id, r.relation, r.rows, r.method,
	   r.features AS features_checked, r.drifted AS features_drifted, r.drift_share,
	   r.dataset_drift, r.prediction_drift, r.checked_at, r.checked_by
  FROM mlops.drift_reports r
  JOIN mlops.projects p ON p.id = r.project_id
 ORDER BY r.project_id, r.id DESC;
COMMENT ON VIEW mlops.drift_status IS 'The latest drift report of each project: features checked and drifted, their share, dataset drift.';

CREATE VIEW mlops.job_progress AS
SELECT p.job_id, j.kind, j.project, j.submitted_by, p.pid, p.phase,
	   p.iterations_done, p.iterations_total,
	   round(100.0 * p.iterations_done / p.iterations_total, 1) AS percent,
	   p.started_at, clock_timestamp() - p.started_at AS elapsed
  FROM mlops.job_progress_info() p
  JOIN mlops.jobs j ON j.id = p.job_id;
COMMENT ON VIEW mlops.job_progress IS 'Running jobs as they run: phase, iterations done of the total, percent, elapsed time.';

GRANT SELECT ON mlops.deployed_models, mlops.overview, mlops.events_log, mlops.drift_status,
	mlops.job_progress TO PUBLIC;
