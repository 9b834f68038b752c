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
CREATE FUNCTION mlops.deploy(project text, strategy text DEFAULT 'best_score', model_id bigint DEFAULT NULL,
	fraction float8 DEFAULT NULL)
RETURNS TABLE (project text, model_id bigint, version int, strategy text, status text, request_id bigint)
AS 'MODULE_PATHNAME', 'mlops_deploy'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.deploy(text, text, bigint, float8) IS 'Deploy a model of the project: best_score, most_recent, rollback, specific (model_id) or promote (the running experiment''s challenger), status deployed, or pending with a request_id when the policy requires an approval; or start a canary (model_id answers fraction of the keys) or a shadow (model_id scored on every call, never returned), status started, or abort it, status aborted.';

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
-- Planned scoring: the planner rewrites mlops.predict('p', t) (and
-- predict_proba, predict_label, featurize) into a call that takes only the
-- columns the deployed model reads (see src/serve/plan_support.c)
--------------------------------------------------------------------------

CREATE FUNCTION mlops.predict_support(internal) RETURNS internal
AS 'MODULE_PATHNAME', 'mlops_predict_support'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.predict_support(internal) IS 'Planner support function of the row forms (project text, features record) of predict, predict_proba, predict_label and featurize: rewrites a call on a table''s row into the planned form when the project''s deployed model is known and the user holds predict on the project.';

CREATE FUNCTION mlops.planned_model_current(project text, model_id bigint) RETURNS boolean
AS 'MODULE_PATHNAME', 'mlops_planned_model_current'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.planned_model_current(text, bigint) IS 'Internal (the planned form''s guard): true when model_id is the project''s deployed model and the current user holds predict on the project; false otherwise, also for a project that does not exist.';

CREATE FUNCTION mlops.predict_planned(model_id bigint, VARIADIC columns "any") RETURNS float8
AS 'MODULE_PATHNAME', 'mlops_predict'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.predict_planned(bigint, "any") IS 'Internal (what the planner rewrites mlops.predict(project, row) into): mlops.predict with the given model on its source columns, passed one by one in the model''s order. Needs the predict privilege.';

CREATE FUNCTION mlops.predict_proba_planned(model_id bigint, VARIADIC columns "any") RETURNS float8[]
AS 'MODULE_PATHNAME', 'mlops_predict_proba'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.predict_proba_planned(bigint, "any") IS 'Internal (what the planner rewrites mlops.predict_proba(project, row) into): class probabilities of the given model on its source columns, passed one by one in the model''s order. Needs the predict privilege.';

CREATE FUNCTION mlops.predict_label_planned(model_id bigint, VARIADIC columns "any") RETURNS text
AS 'MODULE_PATHNAME', 'mlops_predict_label'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.predict_label_planned(bigint, "any") IS 'Internal (what the planner rewrites mlops.predict_label(project, row) into): the predicted label of the given model on its source columns, passed one by one in the model''s order. Needs the predict privilege.';

CREATE FUNCTION mlops.featurize_planned(model_id bigint, VARIADIC columns "any") RETURNS float8[]
AS 'MODULE_PATHNAME', 'mlops_featurize'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.featurize_planned(bigint, "any") IS 'Internal (what the planner rewrites mlops.featurize(project, row) into): the feature vector of the given model on its source columns, passed one by one in the model''s order. Needs the predict privilege.';

ALTER FUNCTION mlops.predict(text, record) SUPPORT mlops.predict_support;
ALTER FUNCTION mlops.predict_proba(text, record) SUPPORT mlops.predict_support;
ALTER FUNCTION mlops.predict_label(text, record) SUPPORT mlops.predict_support;
ALTER FUNCTION mlops.featurize(text, record) SUPPORT mlops.predict_support;

--------------------------------------------------------------------------
-- Citus: the registry replicated to the worker nodes (src/ops/citus.c)
--
-- On a Citus coordinator, mlops.citus_setup() makes mlops.registry_changes
-- a reference table; every row change of the serving registry (projects,
-- models, deployments, project_grants) is then inserted into it, and a
-- trigger on each worker's placement applies it to the worker's registry
-- in the coordinator's two-phase-committed transaction.  Without Citus the
-- triggers do nothing.
--------------------------------------------------------------------------

CREATE TABLE mlops.registry_changes (
	relation	text NOT NULL,
	op			text NOT NULL,
	"row"		jsonb
);
COMMENT ON TABLE mlops.registry_changes IS 'Carrier of registry changes from a Citus coordinator to its workers (a reference table after mlops.citus_setup()); a trigger applies each row on the workers and never lets it be stored, so it is always empty.';
COMMENT ON COLUMN mlops.registry_changes.relation IS 'The registry table changed: projects, models, deployments or project_grants.';
COMMENT ON COLUMN mlops.registry_changes.op IS 'INSERT, UPDATE, DELETE, or RESET (empty the worker''s registry before a full copy).';
COMMENT ON COLUMN mlops.registry_changes."row" IS 'The row (the new one for INSERT and UPDATE) as to_jsonb: roles by name.';
-- it carries whole model rows (training data): nobody but the owner reads it
REVOKE ALL ON mlops.registry_changes FROM PUBLIC;
ALTER TABLE mlops.registry_changes ENABLE ROW LEVEL SECURITY;

CREATE FUNCTION mlops.registry_capture() RETURNS trigger
AS 'MODULE_PATHNAME', 'mlops_registry_capture'
LANGUAGE C;
COMMENT ON FUNCTION mlops.registry_capture() IS 'Row trigger of the serving registry tables: on a Citus coordinator set up by mlops.citus_setup(), sends the change to every worker through mlops.registry_changes.';

CREATE FUNCTION mlops.registry_apply() RETURNS trigger
AS 'MODULE_PATHNAME', 'mlops_registry_apply'
LANGUAGE C;
COMMENT ON FUNCTION mlops.registry_apply() IS 'BEFORE INSERT trigger of mlops.registry_changes: on a Citus worker, applies a registry change of the coordinator to this node''s registry; never stores the row.';

CREATE TRIGGER registry_capture BEFORE INSERT OR UPDATE OR DELETE ON mlops.projects
	FOR EACH ROW EXECUTE FUNCTION mlops.registry_capture();
CREATE TRIGGER registry_capture BEFORE INSERT OR UPDATE OR DELETE ON mlops.models
	FOR EACH ROW EXECUTE FUNCTION mlops.registry_capture();
CREATE TRIGGER registry_capture BEFORE INSERT OR UPDATE OR DELETE ON mlops.deployments
	FOR EACH ROW EXECUTE FUNCTION mlops.registry_capture();
CREATE TRIGGER registry_capture BEFORE INSERT OR UPDATE OR DELETE ON mlops.project_grants
	FOR EACH ROW EXECUTE FUNCTION mlops.registry_capture();
CREATE TRIGGER registry_apply BEFORE INSERT ON mlops.registry_changes
	FOR EACH ROW EXECUTE FUNCTION mlops.registry_apply();

CREATE FUNCTION mlops.citus_setup() RETURNS int
AS 'MODULE_PATHNAME', 'mlops_citus_setup'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.citus_setup() IS 'On a Citus coordinator: check that every worker has mlops, make mlops.registry_changes a reference table and copy the serving registry to every worker; run it after CREATE EXTENSION mlops and after adding nodes. Returns the number of workers. Superuser only.';

--------------------------------------------------------------------------
-- Tuning: mlops.tune, mlops.tune_async, mlops.trials
--------------------------------------------------------------------------

CREATE SEQUENCE mlops.tune_ids;
COMMENT ON SEQUENCE mlops.tune_ids IS 'Ids of mlops.tune runs (mlops.trials.tune_id).';

CREATE TABLE mlops.trials (
	tune_id		bigint NOT NULL,
	project		text NOT NULL,
	trial		int NOT NULL,
	params		jsonb NOT NULL,
	scores		float8[] NOT NULL,
	mean		float8,
	std			float8,
	seconds		float8 NOT NULL,
	status		text NOT NULL CHECK (status IN ('complete', 'pruned')),
	train_rows	int NOT NULL,
	PRIMARY KEY (tune_id, trial)
);
CREATE INDEX ON mlops.trials (project);
COMMENT ON TABLE mlops.trials IS 'Every candidate of every mlops.tune: its hyperparameters and its cross-validated scores of the selection metric.';
COMMENT ON COLUMN mlops.trials.params IS 'The searched hyperparameters of the candidate (merged over the tune''s hyperparams).';
COMMENT ON COLUMN mlops.trials.scores IS 'The selection metric on each fold, at the last rung the candidate reached.';
COMMENT ON COLUMN mlops.trials.mean IS 'The mean of scores; NULL when a fold''s score is undefined.';
COMMENT ON COLUMN mlops.trials.std IS 'The population standard deviation of scores.';
COMMENT ON COLUMN mlops.trials.seconds IS 'Wall time of the candidate''s fits and scoring, all rungs.';
COMMENT ON COLUMN mlops.trials.status IS 'complete, or pruned (successive halving dropped it before the last rung).';
COMMENT ON COLUMN mlops.trials.train_rows IS 'The rows each fold''s fit trained on (fewer than the training rows at the early rungs of halving).';

SELECT pg_catalog.pg_extension_config_dump('mlops.trials', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.tune_ids', '');

REVOKE ALL ON mlops.trials FROM PUBLIC;
GRANT SELECT ON mlops.trials TO PUBLIC;
REVOKE ALL ON SEQUENCE mlops.tune_ids FROM PUBLIC;

ALTER TABLE mlops.trials ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_privilege ON mlops.trials FOR SELECT
	USING (mlops.has_project_privilege(project));
COMMENT ON POLICY project_privilege ON mlops.trials IS 'The trials of the projects the user holds a privilege on.';

ALTER TABLE mlops.jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE mlops.jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('train', 'retrain', 'tune'));
COMMENT ON COLUMN mlops.jobs.kind IS 'train (mlops.train_async), tune (mlops.tune_async) or retrain (a schedule).';

CREATE FUNCTION mlops.tune(
	project		text,
	relation	text,
	target		text,
	algorithm	text DEFAULT 'xgboost',
	search_space jsonb DEFAULT NULL,
	search		text DEFAULT 'random',
	trials		int DEFAULT 20,
	cv			int DEFAULT 5,
	metric		text DEFAULT NULL,
	task		text DEFAULT NULL,
	hyperparams jsonb DEFAULT '{}',
	preprocess	jsonb DEFAULT '{}',
	features	text[] DEFAULT NULL,
	exclude		text[] DEFAULT NULL,
	test_size	float8 DEFAULT 0.25,
	split		text DEFAULT NULL,
	order_by	text DEFAULT NULL,
	seed		int DEFAULT 42,
	deploy		text DEFAULT 'auto')
RETURNS TABLE (project text, model_id bigint, version int, algorithm text, task text,
			   metrics jsonb, deployed boolean, tune_id bigint, best_params jsonb, cv_score float8)
AS 'MODULE_PATHNAME', 'mlops_tune'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.tune(text, text, text, text, jsonb, text, int, int, text, text, jsonb, jsonb, text[], text[], float8, text, text, int, text)
	IS 'Search hyperparameters (grid, random or successive halving) by k-fold cross-validation on the training rows, record every trial in mlops.trials, then train, register and (optionally) deploy the best as mlops.train does. Needs the train privilege (and deploy unless deploy => ''never'').';

CREATE FUNCTION mlops.tune_async(
	project		text,
	relation	text,
	target		text,
	algorithm	text DEFAULT 'xgboost',
	search_space jsonb DEFAULT NULL,
	search		text DEFAULT 'random',
	trials		int DEFAULT 20,
	cv			int DEFAULT 5,
	metric		text DEFAULT NULL,
	task		text DEFAULT NULL,
	hyperparams jsonb DEFAULT '{}',
	preprocess	jsonb DEFAULT '{}',
	features	text[] DEFAULT NULL,
	exclude		text[] DEFAULT NULL,
	test_size	float8 DEFAULT 0.25,
	split		text DEFAULT NULL,
	order_by	text DEFAULT NULL,
	seed		int DEFAULT 42,
	deploy		text DEFAULT 'auto')
RETURNS bigint
AS 'MODULE_PATHNAME', 'mlops_tune_async'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.tune_async(text, text, text, text, jsonb, text, int, int, text, text, jsonb, jsonb, text[], text[], float8, text, text, int, text)
	IS 'Queue an mlops.tune call as a background job run as the calling role; returns the job id.';

--------------------------------------------------------------------------
-- Explanations: TreeSHAP and linear contributions, global importance
--------------------------------------------------------------------------

CREATE FUNCTION mlops.explain(project text, features record)
RETURNS TABLE (output text, feature text, value float8, contribution float8)
AS 'MODULE_PATHNAME', 'mlops_explain'
LANGUAGE C STABLE PARALLEL SAFE ROWS 20;
CREATE FUNCTION mlops.explain(project text, features jsonb)
RETURNS TABLE (output text, feature text, value float8, contribution float8)
AS 'MODULE_PATHNAME', 'mlops_explain'
LANGUAGE C STABLE PARALLEL SAFE ROWS 20;
CREATE FUNCTION mlops.explain(project text, features float8[])
RETURNS TABLE (output text, feature text, value float8, contribution float8)
AS 'MODULE_PATHNAME', 'mlops_explain'
LANGUAGE C STABLE PARALLEL SAFE ROWS 20;
CREATE FUNCTION mlops.explain(model_id bigint, features record)
RETURNS TABLE (output text, feature text, value float8, contribution float8)
AS 'MODULE_PATHNAME', 'mlops_explain'
LANGUAGE C STABLE PARALLEL SAFE ROWS 20;
CREATE FUNCTION mlops.explain(model_id bigint, features jsonb)
RETURNS TABLE (output text, feature text, value float8, contribution float8)
AS 'MODULE_PATHNAME', 'mlops_explain'
LANGUAGE C STABLE PARALLEL SAFE ROWS 20;
CREATE FUNCTION mlops.explain(model_id bigint, features float8[])
RETURNS TABLE (output text, feature text, value float8, contribution float8)
AS 'MODULE_PATHNAME', 'mlops_explain'
LANGUAGE C STABLE PARALLEL SAFE ROWS 20;
COMMENT ON FUNCTION mlops.explain(text, record) IS 'Contribution of each model input to the deployed model''s raw margin for a row (columns matched by name), then the bias; they sum to the margin. Trees: exact TreeSHAP as XGBoost''s pred_contribs; linear models: coefficient x featurized value. output is the label whose margin it is (classification). Needs the predict privilege.';
COMMENT ON FUNCTION mlops.explain(text, jsonb) IS 'Contribution of each model input to the deployed model''s raw margin for a JSON object (keys matched by name), then the bias; see explain(text, record). Needs the predict privilege.';
COMMENT ON FUNCTION mlops.explain(text, float8[]) IS 'Contribution of each model input to the deployed model''s raw margin for raw numeric features in the model''s order, then the bias; see explain(text, record). Needs the predict privilege.';
COMMENT ON FUNCTION mlops.explain(bigint, record) IS 'Contribution of each input of one model to its raw margin for a row, then the bias; see explain(text, record). Needs the predict privilege.';
COMMENT ON FUNCTION mlops.explain(bigint, jsonb) IS 'Contribution of each input of one model to its raw margin for a JSON object, then the bias; see explain(text, record). Needs the predict privilege.';
COMMENT ON FUNCTION mlops.explain(bigint, float8[]) IS 'Contribution of each input of one model to its raw margin for raw numeric features, then the bias; see explain(text, record). Needs the predict privilege.';

CREATE TABLE mlops.shap_importance (
	model_id	bigint NOT NULL REFERENCES mlops.models (id) ON DELETE CASCADE,
	project		text NOT NULL,
	feature		text NOT NULL,
	mean_abs_shap float8 NOT NULL,
	rows		bigint NOT NULL,
	relation	text NOT NULL,
	computed_at timestamptz NOT NULL DEFAULT now(),
	computed_by regrole NOT NULL,
	PRIMARY KEY (model_id, feature)
);
COMMENT ON TABLE mlops.shap_importance IS 'Global importance recorded by mlops.explain_global: each model input''s mean absolute contribution to the raw margin (summed over the classes of a multiclass model) over the rows of a relation.';
SELECT pg_catalog.pg_extension_config_dump('mlops.shap_importance', '');
REVOKE ALL ON mlops.shap_importance FROM PUBLIC;
GRANT SELECT ON mlops.shap_importance TO PUBLIC;
ALTER TABLE mlops.shap_importance ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_privilege ON mlops.shap_importance FOR SELECT
	USING (mlops.has_project_privilege((SELECT m.project_id FROM mlops.models m WHERE m.id = model_id)));
COMMENT ON POLICY project_privilege ON mlops.shap_importance IS 'The global importances of the models of the projects the user holds a privilege on.';

CREATE VIEW mlops.global_importance WITH (security_invoker = true) AS
SELECT p.name AS project, m.id AS model_id, m.version, x.feature, x.gain_importance, x.mean_abs_shap,
	   x.rows, x.relation, x.computed_at, x.computed_by
  FROM mlops.models m
  JOIN mlops.projects p ON p.id = m.project_id
 CROSS JOIN LATERAL (
	SELECT COALESCE(g.feature, s.feature) AS feature, g.gain_importance, s.mean_abs_shap, s.rows,
		   s.relation, s.computed_at, s.computed_by
	  FROM (SELECT kv.key AS feature, (kv.value #>> '{}')::float8 AS gain_importance
			  FROM jsonb_each(m.importance) kv) g
	  FULL JOIN (SELECT * FROM mlops.shap_importance si WHERE si.model_id = m.id) s ON s.feature = g.feature) x;
COMMENT ON VIEW mlops.global_importance IS 'Each model''s features with their training importance (XGBoost gain or standardized coefficient), and each input''s mean absolute SHAP value once mlops.explain_global computed it (matched by name; an input encoded into several features has a row of its own).';
GRANT SELECT ON mlops.global_importance TO PUBLIC;

CREATE FUNCTION mlops.explain_global(project text, relation text)
RETURNS TABLE (model_id bigint, feature text, mean_abs_shap float8, rows bigint)
AS 'MODULE_PATHNAME', 'mlops_explain_global'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.explain_global(text, text) IS 'Explain every row of a relation with the project''s deployed model and record each input''s mean absolute contribution in mlops.shap_importance (view mlops.global_importance); returns them, largest first. Needs the predict privilege and SELECT on the relation.';

--------------------------------------------------------------------------
-- Model comparison and fairness
--------------------------------------------------------------------------

CREATE FUNCTION mlops.compare(model_a bigint, model_b bigint, relation text)
RETURNS TABLE (test text, statistic float8, p_value float8, a_score float8, b_score float8, better text)
AS 'MODULE_PATHNAME', 'mlops_compare'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.compare(bigint, bigint, text) IS 'Compare two models of one project on the labeled rows of a relation: McNemar''s test (statsmodels mcnemar, exact below 25 discordant rows, else chi-square with continuity correction) on accuracy for classification, the paired t-test (scipy ttest_rel) of squared errors for regression; better is a, b or neither at the 5% level. Needs the train privilege and SELECT on the relation.';

CREATE TABLE mlops.fairness_reports (
	id			bigserial PRIMARY KEY,
	project		text NOT NULL,
	model_id	bigint NOT NULL REFERENCES mlops.models (id) ON DELETE CASCADE,
	relation	text NOT NULL,
	rows		bigint NOT NULL,
	sensitive	text[] NOT NULL,
	computed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	computed_by regrole NOT NULL
);
CREATE INDEX ON mlops.fairness_reports (model_id);
COMMENT ON TABLE mlops.fairness_reports IS 'One row per mlops.fairness call: the model, the relation, its labeled rows and the sensitive columns.';

CREATE TABLE mlops.fairness_results (
	report_id	bigint NOT NULL REFERENCES mlops.fairness_reports (id) ON DELETE CASCADE,
	position	int NOT NULL,
	attribute	text NOT NULL,
	grp			text,
	rows		bigint NOT NULL,
	selection_rate float8,
	tpr			float8,
	fpr			float8,
	"precision" float8,
	accuracy	float8,
	demographic_parity_diff float8,
	demographic_parity_ratio float8,
	equalized_odds_diff float8,
	PRIMARY KEY (report_id, position)
);
COMMENT ON TABLE mlops.fairness_results IS 'One row per sensitive attribute and group of a fairness report, as mlops.fairness returned it (grp NULL: the rows where the attribute is NULL); rates with fairlearn''s definitions, NULL when undefined.';

SELECT pg_catalog.pg_extension_config_dump('mlops.fairness_reports', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.fairness_reports_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.fairness_results', '');
REVOKE ALL ON mlops.fairness_reports, mlops.fairness_results FROM PUBLIC;
GRANT SELECT ON mlops.fairness_reports, mlops.fairness_results TO PUBLIC;
ALTER TABLE mlops.fairness_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.fairness_results ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_privilege ON mlops.fairness_reports FOR SELECT
	USING (mlops.has_project_privilege((SELECT m.project_id FROM mlops.models m WHERE m.id = model_id)));
COMMENT ON POLICY project_privilege ON mlops.fairness_reports IS 'The fairness reports of the models of the projects the user holds a privilege on.';
CREATE POLICY project_privilege ON mlops.fairness_results FOR SELECT
	USING (mlops.has_project_privilege((SELECT m.project_id FROM mlops.fairness_reports f
		JOIN mlops.models m ON m.id = f.model_id WHERE f.id = report_id)));
COMMENT ON POLICY project_privilege ON mlops.fairness_results IS 'The rows of the fairness reports the user sees.';

CREATE FUNCTION mlops.fairness(project text, relation text, sensitive text[], model_id bigint DEFAULT NULL)
RETURNS TABLE (attribute text, grp text, rows bigint, selection_rate float8, tpr float8, fpr float8,
			   "precision" float8, accuracy float8, demographic_parity_diff float8,
			   demographic_parity_ratio float8, equalized_odds_diff float8)
AS 'MODULE_PATHNAME', 'mlops_fairness'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.fairness(text, text, text[], bigint) IS 'Per sensitive column and group, a binary classifier''s selection rate, TPR, FPR, precision and accuracy on the labeled rows of a relation, and the column''s demographic parity difference and ratio and equalized odds difference (fairlearn''s definitions; positive = the second label); recorded in mlops.fairness_reports/fairness_results and shown by the model card. The deployed model unless model_id is given. Needs the train privilege and SELECT on the relation.';

--------------------------------------------------------------------------
-- Live performance, alerts and guardrails (src/monitor/performance.c,
-- src/monitor/alerts.c, src/monitor/guardrails.c)
--
-- mlops.monitor scores labeled rows per time window and records each
-- window in mlops.performance_history; the alert rules (dataset drift,
-- degraded live performance, guardrails, failed jobs) open and resolve rows
-- of mlops.alerts, each change announced by NOTIFY mlops_alerts.  Only the
-- extension's C code writes these tables.
--------------------------------------------------------------------------

CREATE TABLE mlops.performance_history (
	id			bigserial PRIMARY KEY,
	project		text NOT NULL,
	model_id	bigint NOT NULL,
	relation	text NOT NULL,
	window_start timestamptz,
	window_size interval,
	rows		bigint NOT NULL,
	metric		text NOT NULL,
	value		float8,
	held_out	float8,
	degraded	boolean,
	metrics		jsonb NOT NULL,
	monitored_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	monitored_by regrole NOT NULL
);
CREATE INDEX ON mlops.performance_history (project, id);
COMMENT ON TABLE mlops.performance_history IS 'One row per window of each mlops.monitor call: the metrics of a model on labeled rows, its primary metric against the held-out score, and whether it degraded.';
COMMENT ON COLUMN mlops.performance_history.window_start IS 'Start of the window (windows are aligned on the Unix epoch, as date_bin with origin 1970-01-01 UTC); NULL when the call had no time column (one window of every row).';
COMMENT ON COLUMN mlops.performance_history.metric IS 'The primary metric: the project policy''s "metric", else f1 (classification) or r2 (regression).';
COMMENT ON COLUMN mlops.performance_history.held_out IS 'The model''s primary metric on its held-out rows at training; NULL when it has none.';
COMMENT ON COLUMN mlops.performance_history.degraded IS 'True when value is worse than held_out by more than the policy''s max_degradation (relative, 0.05 by default); NULL when either is missing.';

CREATE TABLE mlops.alerts (
	id			bigserial PRIMARY KEY,
	project		text NOT NULL,
	model_id	bigint,
	rule		text NOT NULL,
	severity	text NOT NULL CHECK (severity IN ('warning', 'critical')),
	value		float8,
	threshold	float8,
	fired_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	resolved_at timestamptz,
	detail		jsonb NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX alerts_open_rule ON mlops.alerts (project, rule) WHERE resolved_at IS NULL;
CREATE INDEX ON mlops.alerts (fired_at);
COMMENT ON TABLE mlops.alerts IS 'Alerts: one row per firing of a rule for a project, resolved (resolved_at) when its condition clears; at most one open alert per project and rule.';
COMMENT ON COLUMN mlops.alerts.rule IS 'dataset_drift, degraded_performance, job_failed, or a guardrail: guardrail_error_rate, guardrail_p99_us, guardrail_live_score, guardrail_drift_share.';
COMMENT ON COLUMN mlops.alerts.severity IS 'warning or critical: drift by the policy''s drift_severity, guardrails critical, the other rules warning.';
COMMENT ON COLUMN mlops.alerts.value IS 'The value that broke the threshold (drift share, live score, error rate, p99 latency); NULL for failed jobs.';
COMMENT ON INDEX mlops.alerts_open_rule IS 'No duplicate open alert for the same project and rule.';

SELECT pg_catalog.pg_extension_config_dump('mlops.performance_history', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.performance_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.alerts', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.alerts_id_seq', '');

REVOKE ALL ON mlops.performance_history, mlops.alerts FROM PUBLIC;
GRANT SELECT ON mlops.performance_history, mlops.alerts TO PUBLIC;

ALTER TABLE mlops.performance_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_privilege ON mlops.performance_history FOR SELECT
	USING (mlops.has_project_privilege(project));
CREATE POLICY project_privilege ON mlops.alerts FOR SELECT
	USING (mlops.has_project_privilege(project));
COMMENT ON POLICY project_privilege ON mlops.performance_history IS 'The live performance of the projects the user holds a privilege on.';
COMMENT ON POLICY project_privilege ON mlops.alerts IS 'The alerts of the projects the user holds a privilege on.';

CREATE VIEW mlops.alert_status WITH (security_invoker = true) AS
SELECT DISTINCT ON (a.project, a.rule)
	   a.project, a.rule, CASE WHEN a.resolved_at IS NULL THEN 'firing' ELSE 'resolved' END AS status,
	   a.severity, a.model_id, a.value, a.threshold, a.fired_at, a.resolved_at, a.id AS alert_id, a.detail
  FROM mlops.alerts a
 ORDER BY a.project, a.rule, a.id DESC;
COMMENT ON VIEW mlops.alert_status IS 'The latest alert of each project and rule: firing (open) or resolved.';
GRANT SELECT ON mlops.alert_status TO PUBLIC;

CREATE FUNCTION mlops.monitor(project text, relation text, label text, prediction text DEFAULT NULL,
	time_column text DEFAULT NULL, window_size interval DEFAULT '1 day', model_id bigint DEFAULT NULL)
RETURNS TABLE (window_start timestamptz, rows bigint, metrics jsonb, degraded boolean)
AS 'MODULE_PATHNAME', 'mlops_monitor'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.monitor(text, text, text, text, text, interval, bigint) IS 'Live performance: the training metrics of the deployed (or given) model on the labeled rows of a relation (scored, or read from the prediction column), per window of time_column; recorded in mlops.performance_history, a window degraded when its primary metric is worse than the held-out score by more than the policy''s max_degradation. Needs the train privilege.';

CREATE FUNCTION mlops.check_alerts(project text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'mlops_check_alerts'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.check_alerts(text) IS 'Evaluate the alert rules and guardrails of a project (NULL: of every project the caller may deploy in), as the background worker does every naptime: opens and resolves alerts, and rolls back on a guardrail breach with "action": "rollback"; returns the number of alerts opened. Needs the deploy privilege.';

CREATE FUNCTION mlops.report(project text) RETURNS text
AS 'MODULE_PATHNAME', 'mlops_report'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.report(text) IS 'One self-contained HTML page about a project (inline SVG charts, no scripts, no network): the deployed model and the primary metric of every version, live performance windows, drift share over time, feature importance, the latency histogram of predict calls, open alerts and the running (else the latest) experiment''s state. Needs the predict privilege.';

--------------------------------------------------------------------------
-- Canary and shadow experiments (src/ops/experiment.c, src/serve/routing.c,
-- src/monitor/experiment.c): mlops.deploy's strategies canary, shadow,
-- promote and abort keep their state here; predict routes by it.
--------------------------------------------------------------------------

CREATE TABLE mlops.experiments (
	id			bigserial PRIMARY KEY,
	project		text NOT NULL,
	kind		text NOT NULL CHECK (kind IN ('canary', 'shadow')),
	champion_model_id bigint NOT NULL,
	challenger_model_id bigint NOT NULL,
	fraction	float8 CHECK ((kind = 'canary') = (fraction IS NOT NULL) AND fraction > 0 AND fraction < 1),
	started_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	started_by	regrole NOT NULL,
	ended_at	timestamptz,
	ended_by	regrole,
	outcome		text CHECK ((ended_at IS NULL) = (outcome IS NULL)
							AND outcome IN ('promoted', 'aborted', 'rolled_back', 'replaced', 'dropped'))
);
CREATE UNIQUE INDEX experiments_running ON mlops.experiments (project) WHERE ended_at IS NULL;
COMMENT ON TABLE mlops.experiments IS 'Canary and shadow experiments (mlops.deploy strategies canary, shadow, promote, abort): at most one running per project, the rows of ended ones kept as a record.';
COMMENT ON COLUMN mlops.experiments.kind IS 'canary (the challenger answers fraction of the keys) or shadow (the challenger is scored on every call, its outputs never returned).';
COMMENT ON COLUMN mlops.experiments.champion_model_id IS 'The deployed model when the experiment started; it stays deployed until promote.';
COMMENT ON COLUMN mlops.experiments.fraction IS 'A canary''s share of the keys routed to the challenger, in (0, 1); NULL for a shadow.';
COMMENT ON COLUMN mlops.experiments.outcome IS 'How it ended: promoted (the challenger was deployed), aborted (mlops.deploy abort or a guardrail), rolled_back or replaced (another deploy changed the champion), dropped (with the project); NULL while it runs.';

SELECT pg_catalog.pg_extension_config_dump('mlops.experiments', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.experiments_id_seq', '');

REVOKE ALL ON mlops.experiments FROM PUBLIC;
GRANT SELECT ON mlops.experiments TO PUBLIC;
ALTER TABLE mlops.experiments ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_privilege ON mlops.experiments FOR SELECT
	USING (mlops.has_project_privilege(project));
COMMENT ON POLICY project_privilege ON mlops.experiments IS 'The experiments of the projects the user holds a privilege on.';

CREATE FUNCTION mlops.variant(project text, features record) RETURNS text
AS 'MODULE_PATHNAME', 'mlops_variant' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.variant(project text, features jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'mlops_variant' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.variant(text, record) IS 'Which model of the project''s canary answers a row: champion or challenger (always champion without a canary). Needs the predict privilege.';
COMMENT ON FUNCTION mlops.variant(text, jsonb) IS 'Which model of the project''s canary answers a JSON object: champion or challenger (always champion without a canary). Needs the predict privilege.';

CREATE FUNCTION mlops.experiment(project text, relation text, label text)
RETURNS TABLE (variant text, model_id bigint, rows bigint, metric text, value float8,
			   ci_low float8, ci_high float8, p_value float8, significant boolean)
AS 'MODULE_PATHNAME', 'mlops_experiment'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.experiment(text, text, text) IS 'Score the running experiment''s champion and challenger on the labeled rows of a relation, routed as predict routes them (a shadow: every row by both): accuracy or mse per variant with a 95 % interval, and the difference (challenger minus champion) with its test: two-proportion z-test or Welch''s t-test (canary), McNemar or paired t-test (shadow). Needs the predict privilege.';

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

-- stored by day (UTC): the background worker makes each day's partition,
-- mlops.predictions_YYYYMMDD, ahead of time and drops it once retention
-- has emptied it, and the rows that find no day (written directly, or on
-- a day whose partition could not be made) go to predictions_default.  A
-- BRIN index on predicted_at, not a btree: the worker appends rows in time
-- order, and a btree entry per row cost it about 0.6 µs of CPU (each
-- index does).  No primary key: the log is read by project and time
-- (retention, windows) or by entity key, not by id (unique all the same:
-- only the worker's sequence fills it).  REPLICA IDENTITY FULL (set on
-- every partition) lets the worker's retention DELETE run under a
-- publication FOR ALL TABLES.
CREATE TABLE mlops.predictions (
	id			bigserial,
	project		text NOT NULL,
	model_id	bigint NOT NULL,
	variant		text NOT NULL,
	key			text,
	predicted_at timestamptz NOT NULL,
	features	jsonb,
	prediction	float8,
	proba		float8[]
) PARTITION BY RANGE (predicted_at);
CREATE TABLE mlops.predictions_default PARTITION OF mlops.predictions DEFAULT;
-- the indexes are each partition's own, not the partitioned table's: the
-- worker makes a day's partition LIKE this one INCLUDING INDEXES, and
-- pg_restore makes each partition's indexes with it (an index of the
-- partitioned table, a member of the extension, would be made again on
-- each partition as pg_restore attaches it, and clash with the dumped one)
CREATE INDEX ON mlops.predictions_default USING brin (predicted_at);
-- only rows with a key can be joined by it: rows of array inputs (no key) cost no entry
CREATE INDEX ON mlops.predictions_default (project, key) WHERE key IS NOT NULL;
-- the worker writes every id: cached, one sequence update per 1000 rows instead of per row
ALTER SEQUENCE mlops.predictions_id_seq CACHE 1000;
ALTER TABLE mlops.predictions REPLICA IDENTITY FULL;
ALTER TABLE mlops.predictions_default REPLICA IDENTITY FULL;
COMMENT ON TABLE mlops.predictions IS 'The prediction log: predict calls sampled by the project''s policy "log_predictions", written by the background worker from a shared-memory queue (project by name, so rows outlive the project); rows older than policy "log_retention" are deleted by the worker. Stored by day (UTC) in partitions mlops.predictions_YYYYMMDD that the worker makes and drops; read it here. Join it with outcomes to monitor live performance.';
COMMENT ON TABLE mlops.predictions_default IS 'The partition of mlops.predictions for rows of a day that has no partition of its own (rows written directly, or on a day whose partition the worker could not make); read the log through mlops.predictions.';
COMMENT ON COLUMN mlops.predictions.id IS 'The row''s number, in the order the worker wrote the rows; unique, but not indexed (read the log by project and predicted_at, or by key).';
COMMENT ON COLUMN mlops.predictions.key IS 'The value of the entity key (policy "key") in the call''s input, as text; NULL without a key or for array inputs.';
COMMENT ON COLUMN mlops.predictions.predicted_at IS 'When predict ran (not when the worker wrote the row); the partition key, by day (UTC).';
COMMENT ON COLUMN mlops.predictions.features IS 'The call''s input as jsonb (a row as row_to_json makes it, an array under the model''s column names); NULL when it was too wide for a queue entry.';
COMMENT ON COLUMN mlops.predictions.prediction IS 'What mlops.predict returned.';
COMMENT ON COLUMN mlops.predictions.proba IS 'Class probabilities in label order; NULL for regression.';
SELECT pg_catalog.pg_extension_config_dump('mlops.predictions_default', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.predictions_id_seq', '');
REVOKE ALL ON mlops.predictions FROM PUBLIC;
GRANT SELECT ON mlops.predictions TO PUBLIC;
REVOKE ALL ON mlops.predictions_default FROM PUBLIC;
ALTER TABLE mlops.predictions ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_privilege ON mlops.predictions FOR SELECT
	USING (mlops.has_project_privilege(project));
COMMENT ON POLICY project_privilege ON mlops.predictions IS 'The logged predictions of the projects the user holds a privilege on.';

-- Distributed drift (issue 15): partial drift profiles that Citus computes
-- per shard in the worker tasks and merges on the coordinator
CREATE FUNCTION mlops.drift_partial_step(state bytea, model_id bigint, sample_size integer, key bigint, "row" record)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_drift_partial_step'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.drift_partial_step(bytea, bigint, integer, bigint, record) IS 'Transition function of mlops.drift_profile: adds a row''s model inputs and prediction to a partial drift profile (needs the train privilege on the model''s project).';

CREATE FUNCTION mlops.drift_partial_combine(a bytea, b bytea) RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_drift_partial_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.drift_partial_combine(bytea, bytea) IS 'Combine function of mlops.drift_profile: merges two partial drift profiles of the same model (counts added, samples merged).';

CREATE FUNCTION mlops.drift_partial_final(state bytea) RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_drift_partial_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.drift_partial_final(bytea) IS 'Final function of mlops.drift_profile: the merged partial drift profile in its serialized form.';

CREATE AGGREGATE mlops.drift_profile(model_id bigint, sample_size integer, key bigint, "row" record) (
	SFUNC = mlops.drift_partial_step,
	STYPE = bytea,
	COMBINEFUNC = mlops.drift_partial_combine,
	FINALFUNC = mlops.drift_partial_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE mlops.drift_profile(bigint, integer, bigint, record) IS 'The partial drift profile of rows against a model''s reference profile, in a serialized form: bin counts on its frozen edges, category counts, NULL and out-of-range counts, and per numeric input the values of the sample_size rows of smallest key. row is ROW(t.c1, ...) of the model''s source columns in order. mlops.drift runs it on a distributed Citus table (key = hash_record_extended(t, 0)), which pushes it down into the shards'' tasks and merges the partial results on the coordinator.';

-- Profile compression (issue 14, wide inputs)
--
-- A profile holds up to 250,000 sampled values (2 MB of doubles, as base64
-- text in the jsonb); pglz takes about 25 ms to compress one, lz4 a tenth
-- of that (and less to read back for mlops.drift).  A server built
-- without lz4 keeps the default.
DO $$
BEGIN
	ALTER TABLE mlops.models ALTER COLUMN profile SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	NULL;
END
$$;

-- Distributed training (issue 15): partial training statistics that Citus
-- computes per shard in the worker tasks and merges on the coordinator,
-- for linear, ridge and logistic on a distributed table
CREATE FUNCTION mlops.train_partial_step(state bytea, params jsonb, model bytea, key bigint, "row" record)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_train_partial_step'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.train_partial_step(bytea, jsonb, bytea, bigint, record) IS 'Transition function of mlops.train_partial: adds a row (target, then feature columns) to partial training statistics.';

CREATE FUNCTION mlops.train_partial_combine(a bytea, b bytea) RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_train_partial_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.train_partial_combine(bytea, bytea) IS 'Combine function of mlops.train_partial: merges two partial training statistics of the same pass.';

CREATE FUNCTION mlops.train_partial_final(state bytea) RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_train_partial_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.train_partial_final(bytea) IS 'Final function of mlops.train_partial: the merged partial training statistics in their serialized form.';

CREATE AGGREGATE mlops.train_partial(params jsonb, model bytea, key bigint, "row" record) (
	SFUNC = mlops.train_partial_step,
	STYPE = bytea,
	COMBINEFUNC = mlops.train_partial_combine,
	FINALFUNC = mlops.train_partial_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE mlops.train_partial(jsonb, bytea, bigint, record) IS 'Partial training statistics of rows ROW(t.target, t.c1, ...) in a serialized form: one pass of mlops.train on a distributed Citus table (params names the pass: stats, fit, newton or eval; a row is held out when its key, hash_record_extended of the row with the seed, maps below test_size). Citus pushes it down into the shards'' tasks and merges the partial results on the coordinator.';
