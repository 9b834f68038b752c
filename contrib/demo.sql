-- contrib/demo.sql: a short tour of mlops, run by contrib/demo.sh on table
-- breast_cancer (569 tumours, 30 numeric features, label diagnosis)
\pset pager off
\pset format wrapped
\pset columns 120

-- Train, evaluate, register and deploy a model with the defaults (XGBoost)
SELECT * FROM mlops.train('cancer', 'breast_cancer', 'diagnosis');

-- A second model; it is deployed only if it is not worse than the first
SELECT * FROM mlops.train('cancer', 'breast_cancer', 'diagnosis', algorithm => 'logistic');

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
SELECT * FROM mlops.model_metrics WHERE project = 'cancer';

-- Drift of the current data against the training profile, once mlops.drift exists
SELECT EXISTS (SELECT FROM pg_proc WHERE proname = 'drift' AND pronamespace = 'mlops'::regnamespace) AS has_drift
\gset
\if :has_drift
SELECT * FROM mlops.drift('cancer', 'breast_cancer');
\else
\echo 'mlops.drift is not available in this build'
\endif
