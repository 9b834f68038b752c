-- mlops.retrain: drift-gated retraining, compared on the same held-out rows
\set VERBOSITY terse
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
