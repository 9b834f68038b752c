-- contrib/demo.sql: a short tour of mlops, run by contrib/demo.sh on table
-- breast_cancer of contrib/datasets/tables.sql (569 tumours, 30 numeric
-- features, label diagnosis)
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

-- Drift: the same rows do not drift
SELECT feature, method, round(statistic::numeric, 4) AS statistic, drifted
FROM mlops.drift('cancer', 'breast_cancer') WHERE drifted OR feature IN ('mean_radius', 'prediction');

-- Retraining is gated on drift: on the same rows nothing drifted, so it is skipped and says why
SELECT action, reason, deployed FROM mlops.retrain('cancer', 'breast_cancer');

-- A recalibrated instrument reads every measurement 30 % higher: the columns and the
-- deployed model's predictions drift
CREATE TABLE breast_cancer_new AS
SELECT mean_radius * 1.3 AS mean_radius, mean_texture * 1.3 AS mean_texture,
       mean_perimeter * 1.3 AS mean_perimeter, mean_area * 1.3 AS mean_area,
       mean_smoothness * 1.3 AS mean_smoothness, mean_compactness * 1.3 AS mean_compactness,
       mean_concavity * 1.3 AS mean_concavity, mean_concave_points * 1.3 AS mean_concave_points,
       mean_symmetry * 1.3 AS mean_symmetry, mean_fractal_dimension * 1.3 AS mean_fractal_dimension,
       radius_error * 1.3 AS radius_error, texture_error * 1.3 AS texture_error,
       perimeter_error * 1.3 AS perimeter_error, area_error * 1.3 AS area_error,
       smoothness_error * 1.3 AS smoothness_error, compactness_error * 1.3 AS compactness_error,
       concavity_error * 1.3 AS concavity_error, concave_points_error * 1.3 AS concave_points_error,
       symmetry_error * 1.3 AS symmetry_error, fractal_dimension_error * 1.3 AS fractal_dimension_error,
       worst_radius * 1.3 AS worst_radius, worst_texture * 1.3 AS worst_texture,
       worst_perimeter * 1.3 AS worst_perimeter, worst_area * 1.3 AS worst_area,
       worst_smoothness * 1.3 AS worst_smoothness, worst_compactness * 1.3 AS worst_compactness,
       worst_concavity * 1.3 AS worst_concavity, worst_concave_points * 1.3 AS worst_concave_points,
       worst_symmetry * 1.3 AS worst_symmetry, worst_fractal_dimension * 1.3 AS worst_fractal_dimension,
       diagnosis
FROM breast_cancer;
SELECT feature, method, round(statistic::numeric, 4) AS statistic, drifted
FROM mlops.drift('cancer', 'breast_cancer_new') WHERE feature IN ('mean_radius', 'worst_area', 'prediction');
SELECT project, features_checked, features_drifted, round(drift_share::numeric, 3) AS drift_share, dataset_drift
FROM mlops.drift_status;

-- so retraining runs, scores the new and the deployed model on the same held-out rows of
-- the new data, and deploys the new one because it is better there
SELECT action, reason, deployed FROM mlops.retrain('cancer', 'breast_cancer_new');

-- Governance: a second pair of eyes before anything reaches production
CREATE ROLE reviewer;
SELECT model_id FROM mlops.train('cancer_gov', 'breast_cancer', 'diagnosis');          -- version 1, deployed
SELECT mlops.grant('cancer_gov', 'reviewer', 'approve');
SELECT mlops.set_policy('cancer_gov', '{"require_approval": true, "min_score": {"f1": 0.8}}');
SELECT model_id AS candidate FROM mlops.train('cancer_gov', 'breast_cancer', 'diagnosis',
                                               algorithm => 'logistic', deploy => 'never') \gset
SELECT mlops.set_stage(:candidate, 'staging');
SELECT status, request_id FROM mlops.deploy('cancer_gov', 'specific', :candidate) \gset
SELECT :'status' AS status, :request_id AS request_id;                            -- pending
SET ROLE reviewer;
SELECT * FROM mlops.approve(:request_id, 'metrics checked');                        -- four eyes
RESET ROLE;
SELECT model_id, version, stage FROM mlops.model_stages WHERE project = 'cancer_gov' ORDER BY version;
SELECT project, model_id, version, strategy, status FROM mlops.deploy('cancer_gov', 'rollback');  -- never waits

-- Lineage: the retrained model descends from the one it re-ran, with a fingerprint of its rows
SELECT model_id, version, parent_model_id, depth, data_fingerprint, relation
FROM mlops.lineage WHERE project = 'cancer' ORDER BY version;

-- Tuning: a small random search over XGBoost's space, 3 trials x 2 stratified folds;
-- the best settings are refit and registered (not deployed here)
SELECT model_id, round(cv_score::numeric, 4) AS cv_f1, best_params->'max_depth' AS max_depth
FROM mlops.tune('cancer_tuned', 'breast_cancer', 'diagnosis', trials => 3, cv => 2,
                search_space => '{"max_depth": [2, 4], "n_estimators": {"min": 20, "max": 60, "int": true}}',
                deploy => 'never');
SELECT trial, round(mean::numeric, 4) AS mean_f1, status FROM mlops.trials
WHERE project = 'cancer_tuned' ORDER BY trial;

-- Why this prediction: exact TreeSHAP contributions of the deployed model, summing to the margin
SELECT feature, round(contribution::numeric, 4) AS contribution
FROM mlops.explain('cancer', (SELECT b FROM breast_cancer b LIMIT 1))
ORDER BY abs(contribution) DESC LIMIT 5;

-- A canary: a logistic challenger answers 20 % of the rows (by a hash of their values);
-- the experiment scores both variants on labeled rows and tests the difference
SELECT model_id AS challenger FROM mlops.train('cancer', 'breast_cancer', 'diagnosis',
                                                algorithm => 'logistic', deploy => 'never') \gset
SELECT project, strategy, status FROM mlops.deploy('cancer', 'canary', :challenger, 0.2);
SELECT mlops.variant('cancer', b) AS variant, count(*) FROM breast_cancer b GROUP BY 1 ORDER BY 1;
SELECT variant, rows, metric, round(value::numeric, 4) AS value, round(p_value::numeric, 4) AS p_value
FROM mlops.experiment('cancer', 'breast_cancer', 'diagnosis');
SELECT project, strategy, status FROM mlops.deploy('cancer', 'abort');

-- Serving statistics, from shared memory: calls, errors and latency per model and variant
-- (the experiment above scored each variant's rows with its model)
SELECT project, model_id, version, variant, calls, errors, round(p99_us::numeric, 1) AS p99_us
FROM mlops.serving_stats WHERE project = 'cancer' ORDER BY model_id, variant;

-- Live performance on labeled rows (the deployed model was retrained on the recalibrated
-- readings, so on the original ones it is degraded), and the alerts it raises
SELECT rows, round((metrics->>'f1')::numeric, 4) AS live_f1, degraded
FROM mlops.monitor('cancer', 'breast_cancer', 'diagnosis');
SELECT project, rule, status, severity FROM mlops.alert_status ORDER BY project, rule;

-- The audit log
SELECT time, action, project, model_id FROM mlops.events_log ORDER BY time;
