-- mlops.train: algorithms, tasks, splits, metrics and bad input
\i sql/include/datasets.psql

-- xgboost on a text label: classification inferred, stratified split
SELECT project, model_id, version, algorithm, task, deployed,
       metrics->'train_rows' AS train_rows, metrics->'test_rows' AS test_rows,
       round((metrics->>'accuracy')::numeric, 4) AS accuracy,
       metrics->'confusion_matrix' AS confusion
  FROM mlops.train('iris', 'iris', 'species');

-- every classification and regression metric key is there
SELECT array_agg(k ORDER BY k) FROM mlops.models m, jsonb_object_keys(m.metrics) k WHERE m.id = 1;

-- labels in label order, the transform and the training record
SELECT labels, features->'nfeatures' AS nfeatures,
       training->>'split' AS split, training->'seed' AS seed,
       training->>'relation' AS relation, training->'labels_numeric' AS labels_numeric
  FROM mlops.models WHERE id = 1;

-- same data and seed: same split and same model
SELECT model_id AS again FROM mlops.train('iris', 'iris', 'species', deploy => 'never') \gset
SELECT a.metrics - 'fit_seconds' = b.metrics - 'fit_seconds' AS same_metrics, a.model = b.model AS same_model
  FROM mlops.models a, mlops.models b WHERE a.id = 1 AND b.id = :again;

-- another seed moves the split
SELECT (metrics - 'fit_seconds') <> (SELECT metrics - 'fit_seconds' FROM mlops.models WHERE id = 1) AS differs
  FROM mlops.train('iris', 'iris', 'species', seed => 7, deploy => 'never');

-- the other algorithms
SELECT algorithm, task, round((metrics->>'f1')::numeric, 3) AS f1
  FROM mlops.train('iris', 'iris', 'species', algorithm => 'random_forest', deploy => 'never');
SELECT model_id AS m, algorithm, task, round((metrics->>'f1')::numeric, 3) AS f1
  FROM mlops.train('iris', 'iris', 'species', algorithm => 'logistic', deploy => 'never') \gset
SELECT :'algorithm', :'task', :f1, training->'converged' AS converged FROM mlops.models WHERE id = :m;
SELECT algorithm, task, round((metrics->>'r2')::numeric, 4) AS r2
  FROM mlops.train('diabetes', 'diabetes', 'progression', algorithm => 'linear');
SELECT algorithm, round((metrics->>'r2')::numeric, 4) AS r2
  FROM mlops.train('diabetes', 'diabetes', 'progression', algorithm => 'ridge', hyperparams => '{"alpha": 10}');
SELECT algorithm, round((metrics->>'r2')::numeric, 4) AS r2
  FROM mlops.train('diabetes', 'diabetes', 'progression', algorithm => 'lasso', hyperparams => '{"alpha": 0.5}');
SELECT algorithm, round((metrics->>'r2')::numeric, 4) AS r2
  FROM mlops.train('diabetes', 'diabetes', 'progression', algorithm => 'elastic_net');
SELECT algorithm, round((metrics->>'r2')::numeric, 4) AS r2, metrics ? 'mae' AND metrics ? 'mse' AND metrics ? 'rmse' AND metrics ? 'explained_variance' AS keys
  FROM mlops.train('diabetes', 'diabetes', 'progression', hyperparams => '{"n_estimators": 50, "max_depth": 3}');

-- hyperparameters are stored complete, defaults included
SELECT hyperparams FROM mlops.models WHERE algorithm = 'ridge';

-- NULL features: missing for trees, mean-imputed for linear models
SELECT task, round((metrics->>'accuracy')::numeric, 3) AS accuracy
  FROM mlops.train('pima', 'pima', 'diabetes', hyperparams => '{"n_estimators": 20}');
SELECT model_id AS m FROM mlops.train('pima', 'pima', 'diabetes', algorithm => 'logistic') \gset
SELECT (features->'inputs'->1->>'impute') AS impute, round((features->'inputs'->1->>'fill')::numeric, 4) AS fill,
       round(avg(glucose), 4) AS mean_of_all_rows
  FROM mlops.models, pima WHERE id = :m GROUP BY 1, 2;

-- integer target with few values: classification; boolean target
CREATE TABLE small AS SELECT g AS x, (g % 3) AS cls, (g % 2 = 0) AS flag, g * 2.5 AS val
  FROM generate_series(1, 60) g;
SELECT model_id AS m, task FROM mlops.train('small_int', 'small', 'cls', exclude => '{flag,val}') \gset
SELECT :'task', labels, training->'labels_numeric' AS numeric FROM mlops.models WHERE id = :m;
SELECT model_id AS m, task FROM mlops.train('small_bool', 'small', 'flag', features => '{x}') \gset
SELECT :'task', labels, training->'labels_numeric' AS numeric FROM mlops.models WHERE id = :m;
SELECT task FROM mlops.train('small_reg', 'small', 'val', features => '{x}');

-- early stopping holds out part of the training rows
SELECT model_id AS m FROM mlops.train('diabetes_es', 'diabetes', 'progression',
                   hyperparams => '{"n_estimators": 500, "early_stopping_rounds": 5}') \gset
SELECT training->'validation_rows' AS validation_rows, training->'train_rows' AS train_rows,
       (training->'rounds')::int < 500 AS stopped_early,
       (training->'best_iteration')::int < (training->'rounds')::int AS best_before_last
  FROM mlops.models WHERE id = :m;

-- split 'last' with order_by holds out the last rows
SELECT model_id AS m FROM mlops.train('ordered', 'small', 'val', features => '{x}', order_by => 'x',
                                      test_size => 0.1, algorithm => 'linear') \gset
SELECT metrics->'test_rows' AS test_rows, training->>'split' AS split, training->>'order_by' AS order_by
  FROM mlops.models WHERE id = :m;
-- a linear model of an exact line predicts the held-out rows exactly
SELECT round((metrics->>'r2')::numeric, 10) AS r2 FROM mlops.models WHERE id = :m;
-- test_size 0 trains on every row
SELECT metrics - 'fit_seconds' AS metrics
  FROM mlops.train('all_rows', 'small', 'val', features => '{x}', test_size => 0, algorithm => 'linear');

-- deploy "auto" leaves a worse model undeployed and says why: a NOTICE, and a
-- not_deployed event with both scores on the same held-out rows (the
-- deployed model reading its own four columns, the new one only sepal_width)
SELECT model_id AS deployed_before FROM mlops.overview WHERE project = 'iris' \gset
SELECT version, deployed FROM mlops.train('iris', 'iris', 'species', features => '{sepal_width}',
                                          hyperparams => '{"n_estimators": 1, "max_depth": 1}');
SELECT model_id = :deployed_before AS unchanged FROM mlops.overview WHERE project = 'iris';
SELECT detail->>'basis' AS basis, detail->>'metric' AS metric, detail->'test_rows' AS test_rows,
       (detail->>'score')::float8 < (detail->>'deployed_score')::float8 AS worse,
       (detail->>'deployed_model_id')::bigint = :deployed_before AS against_deployed,
       detail->'deployed_metrics_same_rows'->>'f1' = detail->>'deployed_score' AS scored_there,
       detail->>'reason' LIKE 'Its f1 % is below the % of deployed model % on the same 38 held-out rows.' AS says_why
  FROM mlops.events WHERE action = 'not_deployed' AND project = 'iris' ORDER BY id DESC LIMIT 1;
-- deploy "never" is the caller's choice: nothing to explain
SELECT deployed FROM mlops.train('iris', 'iris', 'species', features => '{sepal_width}', deploy => 'never');
SELECT count(*) AS not_deployed_events FROM mlops.events WHERE action = 'not_deployed' AND project = 'iris';

-- bad input
SELECT * FROM mlops.train(NULL, 'iris', 'species');
SELECT * FROM mlops.train('x', NULL, 'species');
SELECT * FROM mlops.train('x', 'iris', NULL);
SELECT * FROM mlops.train('', 'iris', 'species');
SELECT * FROM mlops.train(repeat('p', 64), 'iris', 'species');
SELECT * FROM mlops.train('x', 'no_such_table', 'species');
SELECT * FROM mlops.train('x', 'no_schema.iris', 'species');
SELECT * FROM mlops.train('x', 'iris', 'no_such_column');
SELECT * FROM mlops.train('x', 'iris', 'species', features => '{sepal_length,nope}');
SELECT * FROM mlops.train('x', 'iris', 'species', features => '{species}');
SELECT * FROM mlops.train('x', 'iris', 'species', features => '{sepal_length,sepal_length}');
SELECT * FROM mlops.train('x', 'iris', 'species', features => '{sepal_length,NULL}');
SELECT * FROM mlops.train('x', 'iris', 'species', exclude => '{nope}');
SELECT * FROM mlops.train('x', 'iris', 'species', exclude => '{sepal_length,sepal_width,petal_length,petal_width}');
SELECT * FROM mlops.train('x', 'iris', 'species', algorithm => 'svm');
SELECT * FROM mlops.train('x', 'iris', 'species', task => 'clustering');
SELECT * FROM mlops.train('x', 'iris', 'species', algorithm => 'linear');
SELECT * FROM mlops.train('x', 'diabetes', 'progression', algorithm => 'logistic');
SELECT * FROM mlops.train('x', 'iris', 'species', hyperparams => '{"depth": 3}');
SELECT * FROM mlops.train('x', 'iris', 'species', hyperparams => '{"alpha": 3}', algorithm => 'logistic');
SELECT * FROM mlops.train('x', 'iris', 'species', hyperparams => '{"max_depth": 100}');
SELECT * FROM mlops.train('x', 'iris', 'species', hyperparams => '{"learning_rate": 0}');
SELECT * FROM mlops.train('x', 'iris', 'species', hyperparams => '{"n_estimators": 1.5}');
SELECT * FROM mlops.train('x', 'iris', 'species', hyperparams => '{"n_estimators": "10"}');
SELECT * FROM mlops.train('x', 'iris', 'species', hyperparams => '{"eta": 0.1, "learning_rate": 0.2}');
SELECT * FROM mlops.train('x', 'iris', 'species', hyperparams => '[1, 2]');
SELECT * FROM mlops.train('x', 'iris', 'species', hyperparams => '{"fit_intercept": 1}', algorithm => 'logistic');
SELECT * FROM mlops.train('x', 'iris', 'species', hyperparams => '{"penalty": "l1"}', algorithm => 'logistic');
SELECT * FROM mlops.train('x', 'diabetes', 'progression', hyperparams => '{"scale_pos_weight": 2}');
SELECT * FROM mlops.train('x', 'iris', 'species', test_size => 1);
SELECT * FROM mlops.train('x', 'iris', 'species', test_size => -0.1);
SELECT * FROM mlops.train('x', 'iris', 'species', test_size => 'NaN');
SELECT * FROM mlops.train('x', 'iris', 'species', split => 'sideways');
SELECT * FROM mlops.train('x', 'iris', 'species', split => 'last');
SELECT * FROM mlops.train('x', 'iris', 'species', order_by => 'nope');
SELECT * FROM mlops.train('x', 'diabetes', 'progression', split => 'stratified');
SELECT * FROM mlops.train('x', 'iris', 'species', deploy => 'maybe');
SELECT * FROM mlops.train('iris', 'iris', 'sepal_length');
SELECT * FROM mlops.train('iris', 'iris', 'species', task => 'regression');
SELECT * FROM mlops.train('x', 'iris', 'species', preprocess => '{"nope": {"impute": "mean"}}');
SELECT * FROM mlops.train('x', 'iris', 'species', preprocess => '{"sepal_length": {"impute": "sometimes"}}');
SELECT * FROM mlops.train('x', 'iris', 'species', preprocess => '{"sepal_length": {"scale": "log"}}');
SELECT * FROM mlops.train('x', 'iris', 'species', preprocess => '{"sepal_length": {"encode": "one_hot"}}');
SELECT * FROM mlops.train('x', 'iris', 'species', preprocess => '{"sepal_length": {"winsorize": true}}');
SELECT * FROM mlops.train('x', 'iris', 'species', preprocess => '{"sepal_length": "mean"}');
SELECT * FROM mlops.train('x', 'pima', 'diabetes', preprocess => '{"insulin": {"impute": "error"}}');

-- every setting is checked before a row is read: reading a row of this view
-- raises, so each error below comes first (and did not, for the
-- hyperparameters, preprocess and split, before 0.2.0)
CREATE FUNCTION row_read() RETURNS boolean LANGUAGE plpgsql VOLATILE
AS $$BEGIN RAISE EXCEPTION 'a row was read'; END$$;
CREATE VIEW unreadable AS SELECT * FROM iris WHERE row_read();
SELECT * FROM mlops.train('x', 'unreadable', 'species', hyperparams => '{"depth": 3}');
SELECT * FROM mlops.train('x', 'unreadable', 'species', hyperparams => '{"alpha": 1}', algorithm => 'logistic');
SELECT * FROM mlops.train('x', 'unreadable', 'species', preprocess => '{"sepal_lenght": {"impute": "mean"}}');
SELECT * FROM mlops.train('x', 'unreadable', 'species', preprocess => '{"sepal_length": {"impute": "sometimes"}}');
SELECT * FROM mlops.train('x', 'unreadable', 'species', preprocess => '{"sepal_length": {"encode": "one_hot"}}');
SELECT * FROM mlops.train('x', 'unreadable', 'species', preprocess => '{"species": {"impute": "mode"}}');
SELECT * FROM mlops.train('x', 'unreadable', 'species', split => 'last');
SELECT * FROM mlops.train('x', 'unreadable', 'sepal_length', split => 'stratified', algorithm => 'linear');
SELECT * FROM mlops.train('x', 'unreadable', 'sepal_length', hyperparams => '{"scale_pos_weight": 2}',
                          exclude => '{species}');
SELECT * FROM mlops.train('x', 'unreadable', 'species', order_by => 'nope');
SELECT * FROM mlops.train('x', 'unreadable', 'species', features => '{sepal_length,nope}');
SELECT * FROM mlops.train('x', 'unreadable', 'nope');
SELECT * FROM mlops.train('x', 'unreadable', 'species', test_size => 1);
SELECT * FROM mlops.train('x', 'unreadable', 'species', deploy => 'maybe');
-- train_async checks the same, when called
SELECT mlops.train_async('x', 'unreadable', 'species', algorithm => 'xgbost');
SELECT mlops.train_async('x', 'unreadable', 'species', hyperparams => '{"depth": 3}');
SELECT mlops.train_async('x', 'unreadable', 'species', preprocess => '{"sepal_length": {"scale": "log"}}');
SELECT mlops.train_async('x', 'unreadable', 'species', split => 'last');
SELECT mlops.train_async('x', 'unreadable', 'nope');
SELECT count(*) AS jobs FROM mlops.jobs WHERE project = 'x';
-- good settings read the rows
SELECT * FROM mlops.train('x', 'unreadable', 'species');

CREATE TABLE empty (a float8, y int);
SELECT * FROM mlops.train('x', 'empty', 'y');
CREATE TABLE all_null AS SELECT g::float8 AS a, NULL::int AS y FROM generate_series(1, 10) g;
SELECT * FROM mlops.train('x', 'all_null', 'y');
CREATE TABLE one_class AS SELECT g::float8 AS a, 'yes'::text AS y FROM generate_series(1, 10) g;
SELECT * FROM mlops.train('x', 'one_class', 'y');
CREATE TABLE constant AS SELECT g::float8 AS a, 5.0::float8 AS y FROM generate_series(1, 10) g;
SELECT * FROM mlops.train('x', 'constant', 'y');
CREATE TABLE tiny AS SELECT 1.0::float8 AS a, 1.0::float8 AS y;
SELECT * FROM mlops.train('x', 'tiny', 'y');
CREATE TABLE nan_feature AS SELECT g::float8 AS a, g % 2 AS y FROM generate_series(1, 10) g;
INSERT INTO nan_feature VALUES ('NaN', 1);
SELECT * FROM mlops.train('x', 'nan_feature', 'y');
CREATE TABLE inf_feature AS SELECT g::float8 AS a, g % 2 AS y FROM generate_series(1, 10) g;
INSERT INTO inf_feature VALUES ('-Infinity', 1);
SELECT * FROM mlops.train('x', 'inf_feature', 'y');
CREATE TABLE nan_target AS SELECT g::float8 AS a, g::float8 AS y FROM generate_series(1, 10) g;
INSERT INTO nan_target VALUES (1, 'Infinity');
SELECT * FROM mlops.train('x', 'nan_target', 'y');
CREATE TABLE point_feature AS SELECT point(g, g) AS a, g % 2 AS y FROM generate_series(1, 10) g;
SELECT * FROM mlops.train('x', 'point_feature', 'y');
CREATE TABLE text_target AS SELECT g::float8 AS a, g::text AS y FROM generate_series(1, 10) g;
SELECT * FROM mlops.train('x', 'text_target', 'y', task => 'regression');
CREATE TABLE null_targets AS SELECT g::float8 AS a, CASE WHEN g % 5 = 0 THEN NULL ELSE g % 2 END AS y
  FROM generate_series(1, 40) g;
SELECT metrics->'train_rows' AS train_rows, metrics->'test_rows' AS test_rows
  FROM mlops.train('null_targets', 'null_targets', 'y', algorithm => 'logistic');
CREATE SEQUENCE not_a_table;
SELECT * FROM mlops.train('x', 'not_a_table', 'y');

-- a memory limit refuses data instead of exhausting memory
SET mlops.max_train_memory = '1MB';
CREATE TABLE big AS SELECT g::float8 AS a, g::float8 AS b, (g % 7)::float8 AS y FROM generate_series(1, 100000) g;
SELECT * FROM mlops.train('x', 'big', 'y', task => 'regression');
RESET mlops.max_train_memory;
SET mlops.threads = 0;

-- a statement timeout cancels training
-- (terse: where the timeout strikes, reading or fitting, depends on the machine)
\set VERBOSITY terse
SET statement_timeout = '50ms';
SELECT * FROM mlops.train('slow', 'big', 'y', task => 'regression', hyperparams => '{"n_estimators": 100000}');
\set VERBOSITY default
RESET statement_timeout;
-- nothing of the failed runs was registered
SELECT count(*) FROM mlops.projects WHERE name IN ('x', 'slow');
