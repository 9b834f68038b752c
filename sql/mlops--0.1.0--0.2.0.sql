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
COMMENT ON COLUMN mlops.drift_reports.features IS 'Source columns checked (a timestamp column is six inputs, a date five, an array one per element, and counts once); the prediction row is not counted.';
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
-- Prediction: numeric[] and text forms of predict, predict_proba, predict_label;
-- featurize takes every input form predict takes
--------------------------------------------------------------------------

-- numeric[] (what ARRAY[5.1, 3.5] is) and text (an untyped literal, as a web app
-- sends JSON) forms, so that neither is ambiguous between the other overloads

CREATE FUNCTION mlops.predict(project text, features numeric[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'mlops_predict' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict(project text, features text) RETURNS float8
	AS 'MODULE_PATHNAME', 'mlops_predict' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict(model_id bigint, features numeric[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'mlops_predict' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict(model_id bigint, features text) RETURNS float8
	AS 'MODULE_PATHNAME', 'mlops_predict' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_proba(project text, features numeric[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_predict_proba' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_proba(project text, features text) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_predict_proba' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_proba(model_id bigint, features numeric[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_predict_proba' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_proba(model_id bigint, features text) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_predict_proba' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_label(project text, features numeric[]) RETURNS text
	AS 'MODULE_PATHNAME', 'mlops_predict_label' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_label(project text, features text) RETURNS text
	AS 'MODULE_PATHNAME', 'mlops_predict_label' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_label(model_id bigint, features numeric[]) RETURNS text
	AS 'MODULE_PATHNAME', 'mlops_predict_label' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_label(model_id bigint, features text) RETURNS text
	AS 'MODULE_PATHNAME', 'mlops_predict_label' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.featurize(project text, features float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_featurize' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.featurize(project text, features float4[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_featurize' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.featurize(project text, features numeric[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_featurize' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.featurize(project text, features jsonb) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_featurize' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.featurize(project text, features text) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_featurize' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.featurize(model_id bigint, features float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_featurize' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.featurize(model_id bigint, features float4[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_featurize' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.featurize(model_id bigint, features numeric[]) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_featurize' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.featurize(model_id bigint, features jsonb) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_featurize' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.featurize(model_id bigint, features text) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mlops_featurize' LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION mlops.predict(text, numeric[]) IS 'Score raw numeric features in the model''s feature order with the project''s deployed model.';
COMMENT ON FUNCTION mlops.predict(text, text) IS 'Score a JSON object given as text (keys matched by name) with the project''s deployed model.';
COMMENT ON FUNCTION mlops.predict(bigint, numeric[]) IS 'Score raw numeric features in the model''s feature order with the given model.';
COMMENT ON FUNCTION mlops.predict(bigint, text) IS 'Score a JSON object given as text (keys matched by name) with the given model.';
COMMENT ON FUNCTION mlops.predict_proba(text, numeric[]) IS 'Class probabilities in label order from the project''s deployed model, for raw numeric features in the model''s feature order.';
COMMENT ON FUNCTION mlops.predict_proba(text, text) IS 'Class probabilities in label order from the project''s deployed model, for a JSON object given as text.';
COMMENT ON FUNCTION mlops.predict_proba(bigint, numeric[]) IS 'Class probabilities in label order from the given model, for raw numeric features in the model''s feature order.';
COMMENT ON FUNCTION mlops.predict_proba(bigint, text) IS 'Class probabilities in label order from the given model, for a JSON object given as text.';
COMMENT ON FUNCTION mlops.predict_label(text, numeric[]) IS 'Predicted class label, as text, from the project''s deployed model, for raw numeric features in the model''s feature order.';
COMMENT ON FUNCTION mlops.predict_label(text, text) IS 'Predicted class label, as text, from the project''s deployed model, for a JSON object given as text.';
COMMENT ON FUNCTION mlops.predict_label(bigint, numeric[]) IS 'Predicted class label, as text, from the given model, for raw numeric features in the model''s feature order.';
COMMENT ON FUNCTION mlops.predict_label(bigint, text) IS 'Predicted class label, as text, from the given model, for a JSON object given as text.';
COMMENT ON FUNCTION mlops.featurize(text, float8[]) IS 'The feature vector the project''s deployed model sees for raw numeric features.';
COMMENT ON FUNCTION mlops.featurize(text, float4[]) IS 'The feature vector the project''s deployed model sees for raw numeric features.';
COMMENT ON FUNCTION mlops.featurize(text, numeric[]) IS 'The feature vector the project''s deployed model sees for raw numeric features.';
COMMENT ON FUNCTION mlops.featurize(text, jsonb) IS 'The feature vector the project''s deployed model sees for a JSON object.';
COMMENT ON FUNCTION mlops.featurize(text, text) IS 'The feature vector the project''s deployed model sees for a JSON object given as text.';
COMMENT ON FUNCTION mlops.featurize(bigint, float8[]) IS 'The feature vector the given model sees for raw numeric features.';
COMMENT ON FUNCTION mlops.featurize(bigint, float4[]) IS 'The feature vector the given model sees for raw numeric features.';
COMMENT ON FUNCTION mlops.featurize(bigint, numeric[]) IS 'The feature vector the given model sees for raw numeric features.';
COMMENT ON FUNCTION mlops.featurize(bigint, jsonb) IS 'The feature vector the given model sees for a JSON object.';
COMMENT ON FUNCTION mlops.featurize(bigint, text) IS 'The feature vector the given model sees for a JSON object given as text.';

--------------------------------------------------------------------------
-- Governance: model stages (the deployed models become production),
-- deploy's status and request_id, policies and deploy requests.
--------------------------------------------------------------------------

ALTER TABLE mlops.models ADD COLUMN stage text NOT NULL DEFAULT 'none'
	CHECK (stage IN ('none', 'staging', 'production', 'archived'));
COMMENT ON COLUMN mlops.models.stage IS 'none, staging, production (exactly the deployed model, set only by deploying) or archived (never deployed).';
GRANT SELECT (stage) ON mlops.models TO PUBLIC;
UPDATE mlops.models m SET stage = 'production'
  FROM mlops.deployed_models d WHERE d.model_id = m.id;

DROP FUNCTION mlops.deploy(text, text, bigint);
CREATE FUNCTION mlops.deploy(project text, strategy text DEFAULT 'best_score', model_id bigint DEFAULT NULL)
RETURNS TABLE (project text, model_id bigint, version int, strategy text, status text, request_id bigint)
AS 'MODULE_PATHNAME', 'mlops_deploy'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.deploy(text, text, bigint) IS 'Deploy a model of the project: best_score, most_recent, rollback or specific (model_id); status pending and a request_id when the policy requires an approval.';

--------------------------------------------------------------------------
-- Governance (src/ops/governance.c, src/ops/policy.c): project policies, deploy
-- requests and their approvals.  Only the extension's C code writes these
-- tables.
--------------------------------------------------------------------------

CREATE TABLE mlops.policies (
	project		text PRIMARY KEY,
	policy		jsonb NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT now(),
	updated_by	regrole NOT NULL
);
COMMENT ON TABLE mlops.policies IS 'One policy per project (mlops.set_policy): selection metric, min_score, min_improvement, require_approval, approvers, deploy_window and the retrain keys.';

CREATE TABLE mlops.deploy_requests (
	id			bigserial PRIMARY KEY,
	project		text NOT NULL,
	model_id	bigint NOT NULL,
	strategy	text NOT NULL,
	status		text NOT NULL DEFAULT 'pending'
				CHECK (status IN ('pending', 'approved', 'rejected', 'superseded', 'expired')),
	requested_by regrole NOT NULL,
	requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	reason		text,
	decided_by	regrole,
	decided_at	timestamptz,
	comment		text,
	deployed_at timestamptz
);
CREATE INDEX ON mlops.deploy_requests (project) WHERE status IN ('pending', 'approved');
COMMENT ON TABLE mlops.deploy_requests IS 'Deploys waiting for, or decided by, an approval (policy require_approval).';
COMMENT ON COLUMN mlops.deploy_requests.status IS 'pending, approved, rejected, superseded (by a newer request or deploy) or expired (the model or project was dropped).';
COMMENT ON COLUMN mlops.deploy_requests.strategy IS 'The deploy that asked: a strategy of mlops.deploy, auto or always (train), or retrain.';
COMMENT ON COLUMN mlops.deploy_requests.deployed_at IS 'When the approved request was deployed; NULL while it waits for the deploy window.';

SELECT pg_catalog.pg_extension_config_dump('mlops.policies', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.deploy_requests', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.deploy_requests_id_seq', '');

REVOKE ALL ON mlops.policies, mlops.deploy_requests FROM PUBLIC;
GRANT SELECT ON mlops.policies, mlops.deploy_requests TO PUBLIC;

ALTER TABLE mlops.policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.deploy_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_privilege ON mlops.policies FOR SELECT
	USING (mlops.has_project_privilege(project));
CREATE POLICY project_privilege_or_requester ON mlops.deploy_requests FOR SELECT
	USING (mlops.has_project_privilege(project)
		   OR requested_by::oid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER));
COMMENT ON POLICY project_privilege ON mlops.policies IS 'The policies of the projects the user holds a privilege on.';
COMMENT ON POLICY project_privilege_or_requester ON mlops.deploy_requests IS 'The deploy requests of the projects the user holds a privilege on, and the user''s own requests.';

CREATE VIEW mlops.model_stages WITH (security_invoker = true) AS
SELECT p.name AS project, m.id AS model_id, m.version, m.stage,
	   (SELECT max(d.deployed_at) FROM mlops.deployments d WHERE d.model_id = m.id) AS deployed_at
  FROM mlops.models m
  JOIN mlops.projects p ON p.id = m.project_id;
COMMENT ON VIEW mlops.model_stages IS 'The stage of every model (none, staging, production or archived) and when it was last deployed.';
GRANT SELECT ON mlops.model_stages TO PUBLIC;

CREATE FUNCTION mlops.set_policy(project text, policy jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'mlops_set_policy'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.set_policy(text, jsonb)
	IS 'Merge keys into the project''s policy (a JSON null removes a key); returns the policy; needs admin.';

CREATE FUNCTION mlops.set_stage(model_id bigint, stage text)
RETURNS void
AS 'MODULE_PATHNAME', 'mlops_set_stage'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.set_stage(bigint, text)
	IS 'Move a model that is not deployed to stage none, staging or archived (production comes only with a deploy); needs deploy.';

CREATE FUNCTION mlops.approve(request_id bigint, comment text DEFAULT NULL)
RETURNS TABLE (project text, model_id bigint, version int, strategy text)
AS 'MODULE_PATHNAME', 'mlops_approve'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.approve(bigint, text)
	IS 'Approve another role''s pending deploy request and deploy it (inside the deploy window, else the background worker deploys it when the window opens); needs approve and membership in the policy''s approvers.';

CREATE FUNCTION mlops.reject(request_id bigint, comment text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'mlops_reject'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.reject(bigint, text)
	IS 'Reject a pending deploy request; needs approve and membership in the policy''s approvers.';

--------------------------------------------------------------------------
-- Curves of classification models: ROC, precision-recall, calibration
--------------------------------------------------------------------------

CREATE TABLE mlops.model_curves (
	model_id	bigint NOT NULL REFERENCES mlops.models (id) ON DELETE CASCADE,
	curve		text NOT NULL CHECK (curve IN ('roc', 'pr', 'calibration')),
	label		text NOT NULL,
	threshold	float8[],
	bin			int[],
	x			float8[] NOT NULL,
	y			float8[] NOT NULL,
	rows		bigint[],
	PRIMARY KEY (model_id, curve, label)
);
COMMENT ON TABLE mlops.model_curves IS 'Held-out curves of each classification model, one row per curve and label (at most 200 points): roc (threshold, x = fpr, y = tpr), pr (threshold, x = precision, y = recall), calibration (bin, x = mean predicted, y = fraction positive, rows).';
SELECT pg_catalog.pg_extension_config_dump('mlops.model_curves', '');
REVOKE ALL ON mlops.model_curves FROM PUBLIC;
GRANT SELECT ON mlops.model_curves TO PUBLIC;
ALTER TABLE mlops.model_curves ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_privilege ON mlops.model_curves FOR SELECT
	USING (mlops.has_project_privilege((SELECT m.project_id FROM mlops.models m WHERE m.id = model_id)));
COMMENT ON POLICY project_privilege ON mlops.model_curves IS 'The curves of the models of the projects the user holds a privilege on.';

CREATE VIEW mlops.roc_curves WITH (security_invoker = true) AS
SELECT p.name AS project, m.id AS model_id, m.version, c.label, pt.point, pt.threshold,
	   pt.fpr, pt.tpr
  FROM mlops.model_curves c
  JOIN mlops.models m ON m.id = c.model_id
  JOIN mlops.projects p ON p.id = m.project_id
 CROSS JOIN LATERAL unnest(c.threshold, c.x, c.y) WITH ORDINALITY AS pt (threshold, fpr, tpr, point)
 WHERE c.curve = 'roc';
COMMENT ON VIEW mlops.roc_curves IS 'Held-out ROC curve of each classification model and label (one-vs-rest), one row per point.';

CREATE VIEW mlops.pr_curves WITH (security_invoker = true) AS
SELECT p.name AS project, m.id AS model_id, m.version, c.label, pt.point, pt.threshold,
	   pt."precision", pt.recall
  FROM mlops.model_curves c
  JOIN mlops.models m ON m.id = c.model_id
  JOIN mlops.projects p ON p.id = m.project_id
 CROSS JOIN LATERAL unnest(c.threshold, c.x, c.y) WITH ORDINALITY AS pt (threshold, "precision", recall, point)
 WHERE c.curve = 'pr';
COMMENT ON VIEW mlops.pr_curves IS 'Held-out precision-recall curve of each classification model and label (one-vs-rest), one row per point.';

CREATE VIEW mlops.calibration WITH (security_invoker = true) AS
SELECT p.name AS project, m.id AS model_id, m.version, c.label, pt.bin, pt.mean_predicted,
	   pt.fraction_positive, pt.rows
  FROM mlops.model_curves c
  JOIN mlops.models m ON m.id = c.model_id
  JOIN mlops.projects p ON p.id = m.project_id
 CROSS JOIN LATERAL unnest(c.bin, c.x, c.y, c.rows) AS pt (bin, mean_predicted, fraction_positive, rows)
 WHERE c.curve = 'calibration';
COMMENT ON VIEW mlops.calibration IS 'Held-out calibration curve (10 uniform bins) of each classification model and label (one-vs-rest), one row per non-empty bin.';

GRANT SELECT ON mlops.roc_curves, mlops.pr_curves, mlops.calibration TO PUBLIC;

CREATE FUNCTION mlops.roc_curve(model_id bigint, relation text)
RETURNS TABLE (label text, threshold float8, fpr float8, tpr float8)
AS 'MODULE_PATHNAME', 'mlops_roc_curve'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.roc_curve(bigint, text) IS 'ROC curve of a classification model on the labeled rows of a relation, per label (one-vs-rest; binary: the second label), as sklearn.metrics.roc_curve(drop_intermediate=False); needs the train privilege.';

CREATE FUNCTION mlops.pr_curve(model_id bigint, relation text)
RETURNS TABLE (label text, threshold float8, "precision" float8, recall float8)
AS 'MODULE_PATHNAME', 'mlops_pr_curve'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.pr_curve(bigint, text) IS 'Precision-recall curve of a classification model on the labeled rows of a relation, per label (one-vs-rest; binary: the second label), as sklearn.metrics.precision_recall_curve; needs the train privilege.';

CREATE FUNCTION mlops.calibration_curve(model_id bigint, relation text, bins int DEFAULT 10)
RETURNS TABLE (label text, bin int, mean_predicted float8, fraction_positive float8, rows bigint)
AS 'MODULE_PATHNAME', 'mlops_calibration_curve'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.calibration_curve(bigint, text, int) IS 'Calibration curve of a classification model on the labeled rows of a relation, per label (one-vs-rest; binary: the second label), in uniform bins numbered from 1, as sklearn.calibration.calibration_curve(strategy=''uniform''); needs the train privilege.';

-- mlops.train and mlops.train_async: cv (k-fold metrics in metrics->'cv')
DROP FUNCTION mlops.train(text, text, text, text, text, jsonb, jsonb, text[], text[], float8, text, text, int, text);
CREATE FUNCTION mlops.train(
	project		text,
	relation	text,
	target		text,
	algorithm	text DEFAULT 'xgboost',
	task		text DEFAULT NULL,
	hyperparams jsonb DEFAULT '{}',
	preprocess	jsonb DEFAULT '{}',
	features	text[] DEFAULT NULL,
	exclude		text[] DEFAULT NULL,
	test_size	float8 DEFAULT 0.25,
	split		text DEFAULT NULL,
	order_by	text DEFAULT NULL,
	seed		int DEFAULT 42,
	deploy		text DEFAULT 'auto',
	cv			int DEFAULT NULL)
RETURNS TABLE (project text, model_id bigint, version int, algorithm text,
			   task text, metrics jsonb, deployed boolean)
AS 'MODULE_PATHNAME', 'mlops_train'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.train(text, text, text, text, text, jsonb, jsonb, text[], text[], float8, text, text, int, text, int)
	IS 'Train, evaluate on held-out rows (and with cv by k-fold cross-validation on the training rows), register and (optionally) deploy a model.';

DROP FUNCTION mlops.train_async(text, text, text, text, text, jsonb, jsonb, text[], text[], float8, text, text, int, text);
CREATE FUNCTION mlops.train_async(
	project		text,
	relation	text,
	target		text,
	algorithm	text DEFAULT 'xgboost',
	task		text DEFAULT NULL,
	hyperparams jsonb DEFAULT '{}',
	preprocess	jsonb DEFAULT '{}',
	features	text[] DEFAULT NULL,
	exclude		text[] DEFAULT NULL,
	test_size	float8 DEFAULT 0.25,
	split		text DEFAULT NULL,
	order_by	text DEFAULT NULL,
	seed		int DEFAULT 42,
	deploy		text DEFAULT 'auto',
	cv			int DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mlops_train_async'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.train_async(text, text, text, text, text, jsonb, jsonb, text[], text[], float8, text, text, int, text, int)
	IS 'Queue an mlops.train call as a background job run as the calling role; returns the job id.';

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

--------------------------------------------------------------------------
-- Serving statistics (shared memory) and the prediction log
--------------------------------------------------------------------------

CREATE FUNCTION mlops.serving_stats_entries(
	OUT model_id bigint, OUT variant text, OUT calls bigint, OUT errors bigint, OUT dropped bigint,
	OUT mean_us float8, OUT p50_us float8, OUT p95_us float8, OUT p99_us float8, OUT max_us float8,
	OUT first_call timestamptz, OUT last_call timestamptz, OUT stats_reset timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mlops_serving_stats_entries'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION mlops.serving_stats_entries() IS 'The serving statistics in shared memory of this database''s models whose project the user holds a privilege on; read them through the view mlops.serving_stats. Empty unless mlops is in shared_preload_libraries.';

CREATE VIEW mlops.serving_stats WITH (security_invoker = true) AS
SELECT p.name AS project, s.model_id, m.version, s.variant, s.calls, s.errors, s.dropped,
	   s.mean_us, s.p50_us, s.p95_us, s.p99_us, s.max_us, s.first_call, s.last_call, s.stats_reset
  FROM mlops.serving_stats_entries() s
  JOIN mlops.models m ON m.id = s.model_id
  JOIN mlops.projects p ON p.id = m.project_id;
COMMENT ON VIEW mlops.serving_stats IS 'Calls, errors, dropped prediction-log rows and latency (mean, percentiles from a log-scale histogram with 19 % wide buckets, clamped to max_us) of predict per model and variant in this database, since the server started or the statistics were reset. Kept in shared memory: empty unless mlops is in shared_preload_libraries (nothing else changes without it); counting is turned off by mlops.track_serving. A role sees the projects it holds a privilege on.';
GRANT SELECT ON mlops.serving_stats TO PUBLIC;

CREATE FUNCTION mlops.serving_stats_reset() RETURNS void
AS 'MODULE_PATHNAME', 'mlops_serving_stats_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.serving_stats_reset() IS 'Forget the serving statistics of this database''s models of the projects the user administers (admin privilege; a superuser: all of them). Statistics of other projects stay.';

CREATE FUNCTION mlops.serving_histogram_entries(
	OUT model_id bigint, OUT variant text, OUT le_us float8, OUT calls bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mlops_serving_histogram_entries'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION mlops.serving_histogram_entries() IS 'The non-empty latency histogram buckets in shared memory of this database''s models whose project the user holds a privilege on; read them through the view mlops.serving_latency_histogram. Empty unless mlops is in shared_preload_libraries.';

CREATE VIEW mlops.serving_latency_histogram WITH (security_invoker = true) AS
SELECT p.name AS project, h.model_id, m.version, h.variant, h.le_us, h.calls
  FROM mlops.serving_histogram_entries() h
  JOIN mlops.models m ON m.id = h.model_id
  JOIN mlops.projects p ON p.id = m.project_id;
COMMENT ON VIEW mlops.serving_latency_histogram IS 'The latency histogram behind mlops.serving_stats: per model and variant, the calls whose latency fell in each non-empty bucket, a bucket being [le_us / 2^(1/4), le_us) microseconds (the first starts at 0, the last ends at infinity). A role sees the projects it holds a privilege on.';
GRANT SELECT ON mlops.serving_latency_histogram TO PUBLIC;

CREATE TABLE mlops.predictions (
	id			bigserial PRIMARY KEY,
	project		text NOT NULL,
	model_id	bigint NOT NULL,
	variant		text NOT NULL,
	key			text,
	predicted_at timestamptz NOT NULL,
	features	jsonb,
	prediction	float8,
	proba		float8[]
);
CREATE INDEX ON mlops.predictions (project, predicted_at);
CREATE INDEX ON mlops.predictions (project, key);
COMMENT ON TABLE mlops.predictions IS 'The prediction log: predict calls sampled by the project''s policy "log_predictions", written by the background worker from a shared-memory queue (project by name, so rows outlive the project); rows older than policy "log_retention" are deleted by the worker. Join it with outcomes to monitor live performance.';
COMMENT ON COLUMN mlops.predictions.key IS 'The value of the entity key (policy "key") in the call''s input, as text; NULL without a key or for array inputs.';
COMMENT ON COLUMN mlops.predictions.predicted_at IS 'When predict ran (not when the worker wrote the row).';
COMMENT ON COLUMN mlops.predictions.features IS 'The call''s input as jsonb (a row as row_to_json makes it, an array under the model''s column names); NULL when it was too wide for a queue entry.';
COMMENT ON COLUMN mlops.predictions.prediction IS 'What mlops.predict returned.';
COMMENT ON COLUMN mlops.predictions.proba IS 'Class probabilities in label order; NULL for regression.';
SELECT pg_catalog.pg_extension_config_dump('mlops.predictions', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.predictions_id_seq', '');
REVOKE ALL ON mlops.predictions FROM PUBLIC;
GRANT SELECT ON mlops.predictions TO PUBLIC;
ALTER TABLE mlops.predictions ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_privilege ON mlops.predictions FOR SELECT
	USING (mlops.has_project_privilege(project));
COMMENT ON POLICY project_privilege ON mlops.predictions IS 'The logged predictions of the projects the user holds a privilege on.';
