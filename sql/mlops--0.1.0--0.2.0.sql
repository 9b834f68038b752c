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
