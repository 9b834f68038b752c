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

-- Drift: the same rows do not drift; rows with two shifted measurements do
SELECT feature, method, round(statistic::numeric, 4) AS statistic, drifted
FROM mlops.drift('cancer', 'breast_cancer') WHERE drifted OR feature IN ('mean_radius', 'prediction');
CREATE TABLE breast_cancer_new AS
SELECT * FROM breast_cancer;
UPDATE breast_cancer_new SET mean_radius = mean_radius * 1.4, worst_area = worst_area * 1.8;
SELECT feature, method, round(statistic::numeric, 4) AS statistic, drifted
FROM mlops.drift('cancer', 'breast_cancer_new') WHERE drifted;
SELECT project, features_checked, features_drifted, round(drift_share::numeric, 3) AS drift_share, dataset_drift
FROM mlops.drift_status;

-- Retrain when it has drifted (here: force it), deployed only if not worse on the same held-out rows
SELECT action, reason, deployed FROM mlops.retrain('cancer', 'breast_cancer_new', force => true);

-- The audit log
SELECT time, action, project, model_id FROM mlops.events_log ORDER BY time;
