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
