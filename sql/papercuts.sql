-- The newcomer's papercuts (issue 17): overloads that resolve as pasted,
-- JSON input, id-like columns, evaluate without the target, rollback
-- walking back through history, schedule replacement, date inputs
\pset pager off
-- model ids in this file do not depend on the files run before it
SELECT FROM pg_catalog.setval('mlops.models_id_seq', 10000);
CREATE TABLE pc_churn AS
SELECT g AS customer_id, 20 + (g * 7) % 50 AS age, (g * 13) % 100 / 10.0 AS spend,
       (ARRAY['free', 'basic', 'pro'])[1 + g % 3] AS plan,
       ((g * 7) % 50 > 30 OR g % 3 = 0) AS churned
  FROM generate_series(1, 300) g;

-- an integer column unique on every row is used as a feature: a NOTICE says how to leave it out
SELECT model_id AS m1, deployed FROM mlops.train('pc_churn', 'pc_churn', 'churned', algorithm => 'logistic') \gset
SELECT :'deployed' AS deployed;
-- excluded: no notice (age, an integer that repeats, never had one)
SELECT model_id AS m2 FROM mlops.train('pc_churn', 'pc_churn', 'churned', exclude => '{customer_id}',
                                       deploy => 'never') \gset

-- every input form resolves as pasted: an untyped JSON literal, ARRAY[...] of numeric
SELECT mlops.predict_label('pc_churn', '{"customer_id": 1, "age": 27, "spend": 1.3, "plan": "basic"}') AS untyped_json,
       mlops.predict_label('pc_churn', '{"customer_id": 1, "age": 27, "spend": 1.3, "plan": "basic"}'::jsonb) AS jsonb;
SELECT mlops.predict(:m1, '{"customer_id": 1, "age": 27, "spend": 1.3, "plan": "basic"}')
       = mlops.predict(:m1, '{"customer_id": 1, "age": 27, "spend": 1.3, "plan": "basic"}'::jsonb) AS same,
       array_length(mlops.predict_proba(:m1, '{"customer_id": 1, "age": 27, "spend": 1.3, "plan": "basic"}'), 1) AS nproba,
       mlops.featurize('pc_churn', '{"customer_id": 1, "age": 27, "spend": 1.3, "plan": "basic"}')
       = mlops.featurize('pc_churn', c) AS featurize_same
  FROM pc_churn c WHERE customer_id = 1;
CREATE TABLE pc_num AS SELECT g::float8 AS x1, (g % 5)::float8 AS x2, g * 2.0 + g % 5 AS y
  FROM generate_series(1, 100) g;
SELECT model_id AS num FROM mlops.train('pc_num', 'pc_num', 'y', algorithm => 'linear') \gset
SELECT round(mlops.predict(:num, ARRAY[10, 2.5])::numeric, 6) = round(mlops.predict(:num, ARRAY[10, 2.5]::float8[])::numeric, 6) AS numeric_by_id,
       round(mlops.predict('pc_num', ARRAY[10, 2.5])::numeric, 6) = round(mlops.predict('pc_num', ARRAY[10, 2.5]::float4[])::numeric, 6) AS numeric_by_name,
       mlops.featurize(:num, ARRAY[10, 2.5]) = mlops.featurize('pc_num', ARRAY[10, 2.5]::float8[]) AS featurize_array;
SELECT mlops.predict('pc_num', ARRAY[1, 'NaN']::numeric[]);
SELECT mlops.predict('pc_num', ARRAY[1, 2, 3]::numeric[]);
SELECT mlops.predict('pc_num', '{1, 2}');
SELECT mlops.predict('pc_num', NULL) IS NULL AS null_is_null;

-- JSON input: a numeric string is a number; another string says how to send it
SELECT mlops.predict(:m1, '{"customer_id": "1", "age": " 27 ", "spend": "1.3e0", "plan": "basic"}')
       = mlops.predict(:m1, '{"customer_id": 1, "age": 27, "spend": 1.3, "plan": "basic"}') AS numeric_strings;
SELECT mlops.predict(:m1, '{"customer_id": 1, "age": "twenty", "spend": 1.3, "plan": "basic"}');
SELECT mlops.predict(:m1, '{"customer_id": 1, "age": "1e999", "spend": 1.3, "plan": "basic"}');
-- every missing key is named in one error
SELECT mlops.predict(:m1, '{"customer_id": 1, "plan": "basic"}');
SELECT mlops.predict(:m1, '{"customer_id": 1, "age": 27, "plan": "basic"}');
-- an unseen category: one NOTICE per call site, also for rows
SELECT count(mlops.predict(:m1, jsonb_build_object('customer_id', g, 'age', 30, 'spend', 1, 'plan', 'enterprise'))) AS scored
  FROM generate_series(1, 5) g;
SELECT count(mlops.predict('pc_churn', t)) AS scored
  FROM (SELECT customer_id, age, spend, CASE WHEN customer_id < 3 THEN 'gold' ELSE plan END AS plan
          FROM pc_churn WHERE customer_id < 6) t;

-- evaluate on a relation without the target: mlops's own words
CREATE TABLE pc_unlabeled AS SELECT customer_id, age, spend, plan FROM pc_churn;
SELECT mlops.evaluate('pc_churn', 'pc_unlabeled');

-- rollback walks back through history: A, B, C deployed; rollback goes to B, then A, then no further
SELECT model_id AS ma FROM mlops.train('pc_walk', 'pc_num', 'y', algorithm => 'linear') \gset
SELECT model_id AS mb FROM mlops.train('pc_walk', 'pc_num', 'y', algorithm => 'ridge', deploy => 'never') \gset
SELECT model_id AS mc FROM mlops.train('pc_walk', 'pc_num', 'y', algorithm => 'lasso', deploy => 'never') \gset
SELECT strategy, version FROM mlops.deploy('pc_walk', 'specific', :mb);
SELECT strategy, version FROM mlops.deploy('pc_walk', 'specific', :mc);
SELECT strategy, version FROM mlops.deploy('pc_walk', 'rollback');
SELECT strategy, version FROM mlops.deploy('pc_walk', 'rollback');
SELECT strategy, version FROM mlops.deploy('pc_walk', 'rollback');
-- a new deployment after rollbacks: rollback returns to the model it replaced; the same model twice counts once
SELECT strategy, version FROM mlops.deploy('pc_walk', 'specific', :mc);
SELECT strategy, version FROM mlops.deploy('pc_walk', 'specific', :mc);
SELECT strategy, version FROM mlops.deploy('pc_walk', 'rollback');
SELECT m.version FROM mlops.deployments d JOIN mlops.models m ON m.id = d.model_id
 WHERE d.project_id = (SELECT id FROM mlops.projects WHERE name = 'pc_walk') ORDER BY d.id;

-- schedule called again replaces the project's schedule, and says so
SET client_min_messages = notice;
SELECT mlops.schedule('pc_walk', '1 day') > 0 AS scheduled;
SELECT mlops.schedule('pc_walk', '2 hours', 'pc_num') > 0 AS replaced;
SELECT every, relation FROM mlops.schedules WHERE project = 'pc_walk';
SELECT mlops.unschedule('pc_walk');

-- a date column has no hour input (a timestamp keeps it); models trained
-- before 0.2.0 keep theirs (test/integration/upgrade.sh)
CREATE TABLE pc_dates AS
SELECT g AS n, date '2024-01-01' + g AS day, timestamp '2024-01-01' + g * interval '5 hours' AS at,
       (g % 7)::float8 AS y
  FROM generate_series(1, 100) g;
SELECT model_id AS dates FROM mlops.train('pc_dates', 'pc_dates', 'y', algorithm => 'linear', exclude => '{n}') \gset
SELECT source_column, string_agg(feature, ', ' ORDER BY position) AS inputs
  FROM mlops.model_features WHERE model_id = :dates GROUP BY source_column ORDER BY source_column;
SELECT mlops.featurize(:dates, '{"day": "2024-03-01", "at": "2024-03-01 13:00"}') =
       mlops.featurize(:dates, t) AS json_equals_row
  FROM (SELECT date '2024-03-01' AS day, timestamp '2024-03-01 13:00' AS at) t;
SELECT count(*) AS drift_rows FROM mlops.drift('pc_dates', 'pc_dates') WHERE feature LIKE 'day.%';
