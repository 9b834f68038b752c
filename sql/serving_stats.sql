-- Serving statistics, entity key and prediction log policies (issue 12).
-- Stands alone: creates its own tables.  The test cluster preloads mlops,
-- so the statistics are in shared memory; the background worker runs in
-- another database (mlops.database), so rows the log policy samples here
-- are dropped and counted (test/integration/prediction_log.sh checks the
-- log's contents on a cluster whose worker serves the database).
SET client_min_messages = warning;
-- model ids in messages do not depend on the tests before this one
SELECT setval('mlops.models_id_seq', 120000) > 0 AS ids_set;
CREATE TABLE ss_iris (id serial, sepal_length float8, sepal_width float8, petal_length float8,
                      petal_width float8, species text);
\copy ss_iris (sepal_length, sepal_width, petal_length, petal_width, species) FROM 'contrib/datasets/iris.csv' WITH (FORMAT csv, HEADER, NULL 'NA')
CREATE VIEW ss_iris_train AS SELECT sepal_length, sepal_width, petal_length, petal_width, species FROM ss_iris;
SELECT model_id AS m1 FROM mlops.train('ss_iris', 'ss_iris_train', 'species', algorithm => 'logistic') \gset
SELECT mlops.serving_stats_reset();

-- the view's columns
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'mlops.serving_stats'::regclass AND attnum > 0 ORDER BY attnum;

-- every form of predict counts, errors after the model is known count as errors
SELECT count(mlops.predict('ss_iris', i)) FROM ss_iris i;
SELECT count(mlops.predict_proba('ss_iris', i)) FROM ss_iris i WHERE id <= 10;
SELECT mlops.predict_label('ss_iris', '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'::jsonb);
SELECT mlops.predict(:m1, ARRAY[5.1, 3.5, 1.4, 0.2]);
SELECT mlops.predict('ss_iris', '{"sepal_length": 5.1}'::jsonb);
SELECT mlops.predict('ss_iris', ARRAY['NaN', 3.5, 1.4, 0.2]::float8[]);
-- unknown projects are no model's error
SELECT mlops.predict('ss_nope', ARRAY[1, 2, 3, 4]::float8[]);
SELECT project, model_id = :m1 AS is_m1, version, variant, calls, errors, dropped,
       mean_us > 0 AS mean_positive, p50_us <= p95_us AND p95_us <= p99_us AND p99_us <= max_us AS ordered,
       first_call <= last_call AS times_ordered, stats_reset <= first_call AS reset_first
  FROM mlops.serving_stats WHERE project = 'ss_iris';
-- the histogram behind the percentiles holds every call
SELECT sum(calls) AS histogram_calls, min(le_us) > 0 AS bounds_positive FROM mlops.serving_latency_histogram WHERE project = 'ss_iris';
-- an error caught by an exception block counts too
DO $$
BEGIN
	PERFORM mlops.predict('ss_iris', '{}'::jsonb);
EXCEPTION WHEN undefined_column THEN NULL;
END $$;
SELECT calls, errors FROM mlops.serving_stats WHERE project = 'ss_iris';

-- mlops.track_serving off: nothing is counted
SET mlops.track_serving = off;
SELECT count(mlops.predict('ss_iris', i)) FROM ss_iris i;
RESET mlops.track_serving;
SELECT calls FROM mlops.serving_stats WHERE project = 'ss_iris';
-- only a superuser changes it
CREATE ROLE ss_user;
SET ROLE ss_user;
SET mlops.track_serving = off;
RESET ROLE;

-- reset forgets this project's statistics
SELECT mlops.serving_stats_reset();
SELECT count(*) FROM mlops.serving_stats WHERE project = 'ss_iris';

-- policies: the entity key and the prediction log
SELECT mlops.set_policy('ss_iris', '{"key": "id", "log_predictions": {"sample": 1}, "log_retention": "30 days"}');
SELECT mlops.set_policy('ss_iris', '{"log_retention": "P2W"}') -> 'log_retention' AS iso_interval;
SELECT mlops.set_policy('ss_iris', '{"key": 5}');
SELECT mlops.set_policy('ss_iris', '{"key": ""}');
SELECT mlops.set_policy('ss_iris', '{"log_predictions": true}');
SELECT mlops.set_policy('ss_iris', '{"log_predictions": {"sample": 1.5}}');
SELECT mlops.set_policy('ss_iris', '{"log_predictions": {"sample": "all"}}');
SELECT mlops.set_policy('ss_iris', '{"log_predictions": {"rate": 0.1}}');
SELECT mlops.set_policy('ss_iris', '{"log_retention": "forever"}');
SELECT mlops.set_policy('ss_iris', '{"log_retention": "-3 days"}');
SELECT mlops.set_policy('ss_iris', '{"log_retention": 30}');
SELECT mlops.set_policy('ss_iris', '{"log_retention": "0 days"}');
-- nothing was half-applied
SELECT policy FROM mlops.policies WHERE project = 'ss_iris';

-- with a key, every input must hold it; arrays carry no names
SELECT count(mlops.predict('ss_iris', i)) FROM ss_iris i;
SELECT mlops.predict('ss_iris', (SELECT t FROM (SELECT 5.1 AS sepal_length, 3.5 AS sepal_width,
                                                       1.4 AS petal_length, 0.2 AS petal_width) t));
SELECT mlops.predict('ss_iris', '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'::jsonb);
SELECT mlops.predict('ss_iris', '{"id": "a1", "sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}');
SELECT mlops.predict('ss_iris', ARRAY[5.1, 3.5, 1.4, 0.2]);
-- this database is not mlops.database: sampled rows cannot reach the worker and are dropped
SELECT calls, errors, dropped FROM mlops.serving_stats WHERE project = 'ss_iris';
-- sample 0 logs nothing
SELECT mlops.set_policy('ss_iris', '{"log_predictions": {"sample": 0}}') -> 'log_predictions' AS log_predictions;
SELECT count(mlops.predict('ss_iris', i)) FROM ss_iris i;
SELECT calls, dropped FROM mlops.serving_stats WHERE project = 'ss_iris';
-- sample 0.1 drops (logs) about a tenth
SELECT mlops.set_policy('ss_iris', '{"log_predictions": {"sample": 0.1}}') -> 'log_predictions' AS log_predictions;
SELECT mlops.serving_stats_reset();
SELECT count(mlops.predict('ss_iris', i)) FROM ss_iris i, generate_series(1, 20);
SELECT calls, dropped BETWEEN 230 AND 370 AS about_a_tenth FROM mlops.serving_stats WHERE project = 'ss_iris';

-- the prediction log's table
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'mlops.predictions'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT relrowsecurity FROM pg_class WHERE oid = 'mlops.predictions'::regclass;

-- another role sees no statistics of a project it holds no privilege on
SELECT count(mlops.predict('ss_iris', i)) FROM ss_iris i;
SET ROLE ss_user;
SELECT count(*) FROM mlops.serving_stats WHERE project = 'ss_iris';
SELECT count(*) FROM mlops.serving_stats_entries();
SELECT mlops.serving_stats_reset();
RESET ROLE;
SELECT count(*) FROM mlops.serving_stats WHERE project = 'ss_iris';
SELECT mlops.drop_project('ss_iris');
DROP ROLE ss_user;
