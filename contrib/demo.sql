-- contrib/demo.sql: a short tour of mlops, run by contrib/demo.sh on table
-- breast_cancer (569 tumours, 30 numeric features, label diagnosis)
\pset pager off

-- Train, evaluate, register and deploy a model with the defaults (XGBoost)
SELECT project, model_id, version, algorithm, task, deployed,
       metrics->'accuracy' AS accuracy, metrics->'roc_auc' AS roc_auc, metrics->'confusion_matrix' AS confusion
FROM mlops.train('cancer', 'breast_cancer', 'diagnosis');

-- A second model; it is deployed only if it is not worse than the first
SELECT project, model_id, version, algorithm, deployed, metrics->'f1' AS f1
FROM mlops.train('cancer', 'breast_cancer', 'diagnosis', algorithm => 'logistic');

-- One row per project with its deployed model
SELECT * FROM mlops.overview;

-- Score whole table rows: features are matched by column name
SELECT diagnosis,
       mlops.predict('cancer', b) AS predict,
       mlops.predict_label('cancer', b) AS predict_label,
       mlops.predict_proba('cancer', b) AS predict_proba
FROM breast_cancer b
LIMIT 5;

-- Every metric of every model, in long format for BI tools
SELECT version, algorithm, metric, round(value::numeric, 4) AS value
FROM mlops.model_metrics WHERE project = 'cancer' AND metric IN ('accuracy', 'f1', 'roc_auc', 'log_loss')
ORDER BY version, metric;

-- Roll back to the previous deployment, then evaluate it on labeled rows
SELECT * FROM mlops.deploy('cancer', 'rollback');
SELECT mlops.evaluate('cancer', 'breast_cancer') - 'confusion_matrix' AS evaluation;

-- The audit log
SELECT time, action, project, model_id FROM mlops.events_log ORDER BY time;

-- Drift of the current data against the training profile, once mlops.drift exists
SELECT EXISTS (SELECT FROM pg_proc WHERE proname = 'drift' AND pronamespace = 'mlops'::regnamespace) AS has_drift
\gset
\if :has_drift
SELECT * FROM mlops.drift('cancer', 'breast_cancer');
\else
\echo 'mlops.drift is not available in this build'
\endif
