-- mlops upgrade script: 0.1.0 to 0.2.0
--
-- Every change to the schema made in 0.2.0 lands here as it is made, so
-- that ALTER EXTENSION mlops UPDATE leaves what a fresh 0.2.0 install
-- creates (test/integration/upgrade.sh compares the two).  The schema
-- itself stays outside the extension on upgraded installations: PostgreSQL
-- cannot add an existing schema to an extension.

\echo Use "ALTER EXTENSION mlops UPDATE TO '0.2.0'" to load this file. \quit

COMMENT ON SCHEMA mlops IS 'mlops: machine learning and MLOps inside PostgreSQL.';

-- mlops.retrain: the settings of the deployed model, or of model_id
DROP FUNCTION mlops.retrain(text, text, boolean, jsonb);
CREATE FUNCTION mlops.retrain(project text, relation text DEFAULT NULL, force boolean DEFAULT false,
							  policy jsonb DEFAULT '{}', model_id bigint DEFAULT NULL)
RETURNS TABLE (project text, action text, reason text, old_model_id bigint,
			   new_model_id bigint, deployed boolean, metrics jsonb)
AS 'MODULE_PATHNAME', 'mlops_retrain'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.retrain(text, text, boolean, jsonb, bigint) IS 'Re-run the training settings of the deployed model (or of model_id) when the policy says so (drift), and deploy the new model only if it is not worse than the deployed one on the same held-out rows, each model reading its own columns.';

-- mlops.drift counts source columns in its report; retrain policies take on_prediction_drift
COMMENT ON TABLE mlops.drift_reports IS 'One row per mlops.drift call: relation, rows, method, and how many source columns drifted.';
COMMENT ON COLUMN mlops.drift_reports.features IS 'Source columns checked (a date or timestamp column is six inputs, an array one per element, and counts once); the prediction row is not counted.';
COMMENT ON COLUMN mlops.drift_reports.drifted IS 'Source columns that drifted: a column drifted when any of its inputs did (mlops.drift_results has one row per input).';
COMMENT ON COLUMN mlops.drift_reports.drift_share IS 'drifted / features: the share of source columns that drifted.';
COMMENT ON COLUMN mlops.drift_reports.dataset_drift IS 'True when drift_share is at least 0.5: at least half of the source columns drifted.';
COMMENT ON COLUMN mlops.schedules.policy IS 'Retrain policy passed to mlops.retrain: retrain, drift_share, on_prediction_drift, min_improvement, deploy.';

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

--------------------------------------------------------------------------
-- Column privileges: the training data in a model is read only through
-- the functions that check privileges
--------------------------------------------------------------------------

REVOKE SELECT ON mlops.models FROM PUBLIC;
GRANT SELECT (id, project_id, version, algorithm, hyperparams, preprocess, labels, metrics,
	training, importance, format, created_at, created_by) ON mlops.models TO PUBLIC;

--------------------------------------------------------------------------
-- Per-project privileges (src/privileges.c)
--
-- A project belongs to the role that created it: its members and
-- superusers hold every privilege.  mlops.grant gives others predict,
-- train, deploy, approve or admin (admin implies the others).
--------------------------------------------------------------------------

CREATE TABLE mlops.project_grants (
	project_id	bigint NOT NULL REFERENCES mlops.projects (id) ON DELETE CASCADE,
	grantee		regrole NOT NULL,
	privilege	text NOT NULL CHECK (privilege IN ('predict', 'train', 'deploy', 'approve', 'admin')),
	granted_by	regrole NOT NULL,
	granted_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (project_id, grantee, privilege)
);
COMMENT ON TABLE mlops.project_grants IS 'Privileges granted on projects by mlops.grant (the owner''s come with the project and are not listed).';
COMMENT ON COLUMN mlops.project_grants.grantee IS 'The role granted the privilege, by OID; 0 (shown as -) for PUBLIC.';
COMMENT ON COLUMN mlops.project_grants.privilege IS 'predict, train, deploy, approve or admin.';

SELECT pg_catalog.pg_extension_config_dump('mlops.project_grants', '');

REVOKE ALL ON mlops.project_grants FROM PUBLIC;
GRANT SELECT ON mlops.project_grants TO PUBLIC;

CREATE FUNCTION mlops.has_project_privilege(project_id bigint, privilege text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mlops_has_project_privilege_id'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION mlops.has_project_privilege(bigint, text)
	IS 'Whether the current user holds the privilege (NULL: any privilege) on the project; row-level security on the registry calls it.';

CREATE FUNCTION mlops.has_project_privilege(project text, privilege text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mlops_has_project_privilege_name'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION mlops.has_project_privilege(text, text)
	IS 'Whether the current user holds the privilege (NULL: any privilege) on the project named; false when there is no such project.';

CREATE FUNCTION mlops.grant(project text, role text, privilege text)
RETURNS void
AS 'MODULE_PATHNAME', 'mlops_grant'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.grant(text, text, text)
	IS 'Grant a role (or public) a privilege on a project: predict, train, deploy, approve or admin; needs admin on the project.';

CREATE FUNCTION mlops.revoke(project text, role text, privilege text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mlops_revoke'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.revoke(text, text, text)
	IS 'Revoke a privilege granted to a role (or public) on a project; false when it was not granted; needs admin on the project.';

CREATE VIEW mlops.project_privileges WITH (security_invoker = true) AS
SELECT p.name AS project, p.created_by::text AS role, 'admin' AS privilege,
	   NULL::regrole AS granted_by, p.created_at AS granted_at
  FROM mlops.projects p
 WHERE p.created_by::oid <> 0
UNION ALL
SELECT p.name, CASE WHEN g.grantee::oid = 0 THEN 'public' ELSE g.grantee::text END,
	   g.privilege, g.granted_by, g.granted_at
  FROM mlops.project_grants g
  JOIN mlops.projects p ON p.id = g.project_id;
COMMENT ON VIEW mlops.project_privileges IS 'Who holds which privilege on each project: the owner as admin (granted_by NULL, since the project''s creation), then the grants; role is a role name or public.';

GRANT SELECT ON mlops.project_privileges TO PUBLIC;

-- the views apply the caller's privileges: as the caller, or (model_features,
-- which reads mlops.models.features) by an explicit privilege test behind a
-- security barrier, so that no condition of the caller sees a row first
ALTER VIEW mlops.deployed_models SET (security_invoker = true);
ALTER VIEW mlops.overview SET (security_invoker = true);
ALTER VIEW mlops.model_metrics SET (security_invoker = true);
ALTER VIEW mlops.feature_importance SET (security_invoker = true);
ALTER VIEW mlops.events_log SET (security_invoker = true);
ALTER VIEW mlops.drift_history SET (security_invoker = true);
ALTER VIEW mlops.drift_status SET (security_invoker = true);
ALTER VIEW mlops.job_progress SET (security_invoker = true);

CREATE OR REPLACE VIEW mlops.model_features WITH (security_barrier = true) AS
SELECT p.name AS project, m.id AS model_id, m.version,
	   (row_number() OVER (PARTITION BY m.id ORDER BY i.n, f.k))::int AS position,
	   f.feature,
	   m.features->'columns'->((i.input->>'column')::int)->>'name' AS source_column,
	   i.input->>'name' AS input, i.input->>'kind' AS kind,
	   i.input - '{name,column,kind,features}'::text[] AS transform
  FROM mlops.models m
  JOIN mlops.projects p ON p.id = m.project_id
 CROSS JOIN LATERAL jsonb_array_elements(m.features->'inputs') WITH ORDINALITY AS i(input, n)
 CROSS JOIN LATERAL jsonb_array_elements_text(i.input->'features') WITH ORDINALITY AS f(feature, k)
 WHERE mlops.has_project_privilege(p.id);
COMMENT ON VIEW mlops.model_features IS 'Each model''s features in order: name, source column, input and the frozen transform that makes it (models of the projects the user holds a privilege on).';

--------------------------------------------------------------------------
-- Row-level security: a role sees the registry rows of the projects it
-- holds any privilege on.  Events, jobs and schedules name their project
-- (they outlive it) and stay visible to the role that made them.  The
-- C functions read and write the registry as its owner, which the
-- policies do not apply to.
--------------------------------------------------------------------------

ALTER TABLE mlops.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.models ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.evaluations ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.drift_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.drift_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.project_grants ENABLE ROW LEVEL SECURITY;

CREATE POLICY project_privilege ON mlops.projects FOR SELECT
	USING (mlops.has_project_privilege(id));
CREATE POLICY project_privilege ON mlops.models FOR SELECT
	USING (mlops.has_project_privilege(project_id));
CREATE POLICY project_privilege ON mlops.deployments FOR SELECT
	USING (mlops.has_project_privilege(project_id));
CREATE POLICY project_privilege ON mlops.evaluations FOR SELECT
	USING (mlops.has_project_privilege((SELECT m.project_id FROM mlops.models m WHERE m.id = model_id)));
CREATE POLICY project_privilege ON mlops.drift_reports FOR SELECT
	USING (mlops.has_project_privilege(project_id));
CREATE POLICY project_privilege ON mlops.drift_results FOR SELECT
	USING (mlops.has_project_privilege((SELECT r.project_id FROM mlops.drift_reports r WHERE r.id = report_id)));
CREATE POLICY project_privilege ON mlops.project_grants FOR SELECT
	USING (mlops.has_project_privilege(project_id));
CREATE POLICY project_privilege_or_actor ON mlops.events FOR SELECT
	USING (mlops.has_project_privilege(project)
		   OR actor::oid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER));
CREATE POLICY project_privilege_or_submitter ON mlops.jobs FOR SELECT
	USING (mlops.has_project_privilege(project)
		   OR submitted_by::oid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER));
CREATE POLICY project_privilege_or_creator ON mlops.schedules FOR SELECT
	USING (mlops.has_project_privilege(project)
		   OR created_by::oid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER));

COMMENT ON POLICY project_privilege ON mlops.projects IS 'The projects the user holds a privilege on.';
COMMENT ON POLICY project_privilege ON mlops.models IS 'The models of the projects the user holds a privilege on.';
COMMENT ON POLICY project_privilege ON mlops.deployments IS 'The deployments of the projects the user holds a privilege on.';
COMMENT ON POLICY project_privilege ON mlops.evaluations IS 'The evaluations of the models of the projects the user holds a privilege on.';
COMMENT ON POLICY project_privilege ON mlops.drift_reports IS 'The drift reports of the projects the user holds a privilege on.';
COMMENT ON POLICY project_privilege ON mlops.drift_results IS 'The drift results of the reports of the projects the user holds a privilege on.';
COMMENT ON POLICY project_privilege ON mlops.project_grants IS 'The grants of the projects the user holds a privilege on.';
COMMENT ON POLICY project_privilege_or_actor ON mlops.events IS 'The events of the projects the user holds a privilege on, and the user''s own events (also of dropped projects).';
COMMENT ON POLICY project_privilege_or_submitter ON mlops.jobs IS 'The jobs of the projects the user holds a privilege on, and the jobs the user submitted.';
COMMENT ON POLICY project_privilege_or_creator ON mlops.schedules IS 'The schedules of the projects the user holds a privilege on, and the schedules the user created.';

--------------------------------------------------------------------------
-- Governance: lineage and annotations
--------------------------------------------------------------------------

ALTER TABLE mlops.models ADD COLUMN parent_model_id bigint,
	ADD COLUMN data_fingerprint text,
	ADD COLUMN description text,
	ADD COLUMN tags jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN mlops.models.parent_model_id IS 'The model this one descends from: the model whose settings a retrain re-ran, or the parent named by an imported document when it exists here; it may name a dropped model.';
COMMENT ON COLUMN mlops.models.data_fingerprint IS 'The rows the model was trained on (before the split): "<rows>:<hash>", the hash an order-independent 64-bit sum of row hashes in hexadecimal; NULL when not trained here.';
COMMENT ON COLUMN mlops.models.description IS 'Free text set by mlops.annotate.';
COMMENT ON COLUMN mlops.models.tags IS 'A JSON object of labels set by mlops.annotate.';
GRANT SELECT (parent_model_id, data_fingerprint, description, tags) ON mlops.models TO PUBLIC;
-- each model with its ancestors that still exist: depth counts them (0 for
-- a model without a parent here); parents are always older models
CREATE VIEW mlops.lineage WITH (security_invoker = true) AS
WITH RECURSIVE up (model_id, ancestor, depth) AS (
	SELECT m.id, m.parent_model_id, 0 FROM mlops.models m
	UNION ALL
	SELECT u.model_id, a.parent_model_id, u.depth + 1
	  FROM up u
	  JOIN mlops.models a ON a.id = u.ancestor AND a.id < u.model_id
)
SELECT p.name AS project, m.id AS model_id, m.version, m.parent_model_id,
	   (SELECT max(u.depth) FROM up u WHERE u.model_id = m.id) AS depth,
	   m.data_fingerprint, m.training->>'relation' AS relation, m.created_at, m.created_by
  FROM mlops.models m
  JOIN mlops.projects p ON p.id = m.project_id;
COMMENT ON VIEW mlops.lineage IS 'Where each model came from: its parent model, how many ancestors it has, the fingerprint of its training rows and the relation they came from.';
GRANT SELECT ON mlops.lineage TO PUBLIC;

CREATE FUNCTION mlops.annotate(model_id bigint, description text DEFAULT NULL, tags jsonb DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'mlops_annotate'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.annotate(bigint, text, jsonb) IS 'Set a model''s description and tags (a JSON object that replaces the tags); NULL leaves a field as it is. Needs the train privilege.';

--------------------------------------------------------------------------
-- Governance: export and import
--------------------------------------------------------------------------

CREATE FUNCTION mlops.export_model(model_id bigint) RETURNS jsonb
AS 'MODULE_PATHNAME', 'mlops_export_model'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.export_model(bigint) IS 'The model as a JSON document ("format": "mlops-model", "format_version": 1) that mlops.import_model reads in another database. Needs the admin privilege.';

CREATE FUNCTION mlops.import_model(project text, document jsonb, deploy text DEFAULT 'auto')
RETURNS TABLE (project text, model_id bigint, version int, deployed boolean)
AS 'MODULE_PATHNAME', 'mlops_import_model'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.import_model(text, jsonb, text) IS 'Register a model exported by mlops.export_model, creating the project from the document if needed; deploy auto deploys it when the project has no deployed model. Needs train (and deploy) on an existing project.';

CREATE FUNCTION mlops.import_xgboost(project text, model jsonb, features text[], task text,
	labels text[] DEFAULT NULL, target text DEFAULT NULL, deploy text DEFAULT 'always')
RETURNS TABLE (project text, model_id bigint, version int, deployed boolean)
AS 'MODULE_PATHNAME', 'mlops_import_xgboost'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.import_xgboost(text, jsonb, text[], text, text[], text, text) IS 'Serve a booster saved by XGBoost''s save_model (JSON): features are raw numeric columns in the booster''s order; labels default to the class indices. Needs train (and deploy) on an existing project.';

CREATE FUNCTION mlops.set_reference(model_id bigint, relation text) RETURNS void
AS 'MODULE_PATHNAME', 'mlops_set_reference'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.set_reference(bigint, text) IS 'Rebuild a model''s drift reference profile from every row of a relation (its inputs and the model''s predictions on them); for imported boosters. Needs the train privilege.';

CREATE FUNCTION mlops.model_card(model_id bigint) RETURNS text
AS 'MODULE_PATHNAME', 'mlops_model_card'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.model_card(bigint) IS 'A Markdown model card with the nine sections of Mitchell et al. (2019), filled from the registry; what is unknown is said to be unknown. Needs the predict privilege.';
