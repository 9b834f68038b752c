-- mlops.retrain: drift-gated retraining, compared on the same held-out rows
\i sql/include/datasets.psql
-- model ids in this file do not depend on the files run before it
SELECT FROM pg_catalog.setval('mlops.models_id_seq', 40000);
CREATE TABLE sensor AS
SELECT g AS id, sin(g) AS a, cos(g * 0.7) AS b, (sin(g) + cos(g * 0.7) > 0.2) AS alarm
  FROM generate_series(1, 2000) g;
SELECT model_id AS first, deployed FROM mlops.train('sensor', 'sensor', 'alarm', exclude => '{id}',
                                                  hyperparams => '{"n_estimators": 20}') \gset

-- the same data: no drift, nothing retrained
SELECT action, reason, old_model_id = :first AS old_is_first, new_model_id, deployed
  FROM mlops.retrain('sensor');

-- force retrains anyway; a model as good as the deployed one is deployed
SELECT action, reason, new_model_id > :first AS new_model, deployed FROM mlops.retrain('sensor', force => true);

-- shifted inputs: drift triggers retraining, and the new model wins on the same rows
CREATE TABLE sensor_shifted AS SELECT id, a + 1.5 AS a, b * 3 AS b,
       (a + 1.5 + b * 3 > 2) AS alarm FROM sensor;
SELECT action, reason, deployed, (metrics->>'f1')::float8 > 0.9 AS good FROM mlops.retrain('sensor', 'sensor_shifted');

-- a worse model (labels scrambled) is not deployed, and the events say why
CREATE TABLE sensor_noise AS SELECT id, a, b, (id % 3 = 0) AS alarm FROM sensor_shifted;
SELECT model_id AS before FROM mlops.overview WHERE project = 'sensor' \gset
SELECT action, deployed, reason LIKE 'new f1 % < deployed % on the same 500 held-out rows; forced' AS says_why
  FROM mlops.retrain('sensor', 'sensor_noise', force => true);
SELECT model_id = :before AS unchanged FROM mlops.overview WHERE project = 'sensor';
SELECT detail->>'action' AS action, detail ? 'deployed_metrics_same_rows' AS compared,
       (detail->'deployed_metrics_same_rows'->>'test_rows')::int AS same_rows
  FROM mlops.events WHERE action = 'retrain' AND project = 'sensor' ORDER BY id DESC LIMIT 1;

-- min_improvement and deploy never
SELECT action, deployed, reason LIKE '%min_improvement 0.5%' AS gated
  FROM mlops.retrain('sensor', 'sensor_shifted', force => true, policy => '{"min_improvement": 0.5}');
SELECT action, deployed, reason FROM mlops.retrain('sensor', 'sensor_shifted', force => true,
                                                   policy => '{"deploy": "never"}');
SELECT action, deployed FROM mlops.retrain('sensor', 'sensor_noise', policy => '{"retrain": "always", "min_improvement": -1}');

-- the retrained models keep the project's settings
SELECT count(DISTINCT training->'columns') AS column_sets, count(DISTINCT hyperparams) AS hyperparam_sets,
       count(DISTINCT training->'seed') AS seeds
  FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'sensor');

-- retrain re-runs the DEPLOYED model's settings: xgboost deployed, then a
-- logistic model without column b that is not deployed
CREATE TABLE cust AS
SELECT g AS id, sin(g) AS a, cos(g * 0.7) AS b, (g % 5)::float8 AS c,
       (sin(g) + 2 * cos(g * 0.7) > 0.3) AS churn
  FROM generate_series(1, 1200) g;
CREATE TABLE cust_next AS
SELECT id, a + 0.3 AS a, b * 1.5 AS b, c, (a + 0.3 + 3 * b > 0.3) AS churn FROM cust;
SELECT model_id AS xgb FROM mlops.train('cust', 'cust', 'churn', exclude => '{id}',
                                         hyperparams => '{"n_estimators": 15}') \gset
SELECT model_id AS logit, deployed FROM mlops.train('cust', 'cust', 'churn', algorithm => 'logistic',
                                                    exclude => '{id,b}', deploy => 'never') \gset
SELECT action, new_model_id AS first_new, reason LIKE 'the policy says%' AS never
  FROM mlops.retrain('cust', 'cust_next', force => true, policy => '{"deploy": "never"}') \gset
SELECT :'action' AS action, :'never' AS never;
SELECT algorithm, training->'columns' AS columns, hyperparams->'n_estimators' AS n_estimators
  FROM mlops.models WHERE id = :first_new;
-- the deployed model was scored on the new model's held-out rows
SELECT (detail->'deployed_metrics_same_rows'->>'test_rows')::int = (detail->'new_metrics'->>'test_rows')::int
       AND (detail->'new_metrics'->>'test_rows')::int = 300 AS same_rows,
       detail->'deployed_metrics_same_rows'->>'f1' AS deployed_f1
  FROM mlops.events WHERE action = 'retrain' AND project = 'cust' ORDER BY id DESC LIMIT 1 \gset
SELECT :'same_rows' AS same_rows;
-- model_id names other settings: logistic without b; the deployed xgboost
-- still reads b from the relation, and scores exactly as before on the same rows
SELECT action, reason LIKE 'the policy says%' AS never
  FROM mlops.retrain('cust', 'cust_next', force => true, policy => '{"deploy": "never"}', model_id => :logit);
SELECT m.algorithm, m.training->'columns' AS columns,
       e.detail->'deployed_metrics_same_rows'->>'f1' = :'deployed_f1' AS same_deployed_f1
  FROM mlops.events e JOIN mlops.models m ON m.id = e.model_id
 WHERE e.action = 'retrain' AND e.project = 'cust' ORDER BY e.id DESC LIMIT 1;
-- a relation without b: the deployed model cannot be scored, nothing is deployed
CREATE TABLE cust_nob AS SELECT id, a, c, churn FROM cust_next;
SELECT action, deployed, reason
  FROM mlops.retrain('cust', 'cust_nob', force => true, model_id => :logit);
SELECT model_id = :xgb AS still_xgb FROM mlops.overview WHERE project = 'cust';
-- with its own settings the deployed model is retrained and compared on the same rows
SELECT action, deployed, reason LIKE 'new f1 % >= deployed % on the same 300 held-out rows; forced' AS says_why
  FROM mlops.retrain('cust', 'cust_next', force => true);
SELECT * FROM mlops.retrain('cust', model_id => 123456);
SELECT * FROM mlops.retrain('cust', model_id => :first);

-- an empty relation (a quiet day of a "new rows" view) is skipped, forced or not
CREATE VIEW sensor_quiet AS SELECT * FROM sensor_shifted WHERE id < 0;
SELECT action, reason, new_model_id, deployed FROM mlops.retrain('sensor', 'sensor_quiet');
SELECT action, reason, new_model_id, deployed FROM mlops.retrain('sensor', 'sensor_quiet', force => true);
SELECT detail->>'action' AS action, detail->>'reason' AS reason, detail->>'relation' AS relation
  FROM mlops.events WHERE action = 'retrain' AND project = 'sensor' ORDER BY id DESC LIMIT 1;

-- the drift gate counts source columns (a timestamp column is six inputs and
-- one column), and drifted predictions are a reason by themselves
CREATE TABLE stamped AS
SELECT g AS id, sin(g) AS a, cos(g * 0.7) AS b, (g % 4)::float8 AS c,
       timestamp '2026-01-01' + g * interval '37 minutes' AS at, (sin(g) + cos(g * 0.7) > 0.2) AS alarm
  FROM generate_series(1, 1000) g;
CREATE TABLE stamped_next AS
SELECT id, a + 2 AS a, b * 3 AS b, c + 4 AS c, at, (a + 2 + b * 3 > 2.2) AS alarm FROM stamped;
SELECT deployed FROM mlops.train('stamped', 'stamped', 'alarm', exclude => '{id}',
                                 hyperparams => '{"n_estimators": 10}');
SELECT action, reason FROM mlops.retrain('stamped', 'stamped_next',
                                         policy => '{"drift_share": 0.9, "on_prediction_drift": false}');
SELECT action, deployed, reason LIKE 'the policy says "deploy": "never"; 3 of 4 columns drifted, predictions drifted' AS why
  FROM mlops.retrain('stamped', 'stamped_next', policy => '{"drift_share": 0.9, "deploy": "never"}');
SELECT detail->'drift' AS drift, detail->'policy'->'on_prediction_drift' AS on_prediction_drift
  FROM mlops.events WHERE action = 'retrain' AND project = 'stamped' ORDER BY id DESC LIMIT 1;
SELECT action, deployed, reason LIKE 'new f1 % >= deployed % on the same 250 held-out rows; 3 of 4 columns drifted, %' AS why
  FROM mlops.retrain('stamped', 'stamped_next', policy => '{"on_prediction_drift": false}');
SELECT * FROM mlops.retrain('stamped', policy => '{"on_prediction_drift": "yes"}');

-- bad input
SELECT * FROM mlops.retrain(NULL);
SELECT * FROM mlops.retrain('nope');
SELECT * FROM mlops.retrain('sensor', 'no_such_table');
SELECT * FROM mlops.retrain('sensor', policy => '{"retrain": "sometimes"}');
SELECT * FROM mlops.retrain('sensor', policy => '{"drift_share": 1.5}');
SELECT * FROM mlops.retrain('sensor', policy => '{"min_improvement": "a lot"}');
SELECT * FROM mlops.retrain('sensor', policy => '{"schedule": "daily"}');
SELECT * FROM mlops.retrain('sensor', policy => '[1]');
CREATE TABLE sensor_narrow AS SELECT id, a, alarm FROM sensor;
SELECT * FROM mlops.retrain('sensor', 'sensor_narrow', force => true);
SELECT * FROM mlops.retrain('sensor', 'sensor_narrow');
-- the settings are checked before the drift check reads a row
CREATE OR REPLACE FUNCTION row_read() RETURNS boolean LANGUAGE plpgsql VOLATILE
AS $$BEGIN RAISE EXCEPTION 'a row was read'; END$$;
CREATE VIEW sensor_unreadable AS SELECT id, a, alarm FROM sensor WHERE row_read();
SELECT * FROM mlops.retrain('sensor', 'sensor_unreadable');
SELECT * FROM mlops.retrain('sensor', 'sensor_unreadable', force => true);
-- schedule checks the settings against the relation when called
SELECT mlops.schedule('sensor', '1 day', 'sensor_unreadable');
SELECT mlops.schedule('sensor', '1 day', 'sensor_narrow');
SELECT count(*) AS schedules FROM mlops.schedules WHERE project = 'sensor';
