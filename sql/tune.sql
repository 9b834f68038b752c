-- Hyperparameter search: mlops.tune, mlops.tune_async, mlops.trials (issue 13).
-- Stands alone: creates its own tables.
SET client_min_messages = warning;
CREATE TABLE tune_iris (sepal_length float8, sepal_width float8, petal_length float8,
                        petal_width float8, species text);
\copy tune_iris FROM 'contrib/datasets/iris.csv' WITH (FORMAT csv, HEADER, NULL 'NA')
CREATE TABLE tune_diabetes (age float8, sex float8, bmi float8, bp float8, s1 float8, s2 float8,
                            s3 float8, s4 float8, s5 float8, s6 float8, progression float8);
\copy tune_diabetes FROM 'contrib/datasets/diabetes.csv' WITH (FORMAT csv, HEADER, NULL 'NA')

-- random search: 4 candidates x 3 folds, the best refitted, registered and deployed
SELECT project, version, algorithm, task, deployed, tune_id > 0 AS has_tune_id,
       best_params ? 'max_depth' AND best_params ? 'n_estimators' AS searched,
       cv_score > 0.8 AS good_cv, (metrics->>'f1')::float8 > 0.8 AS good_held_out
  FROM mlops.tune('tune_iris', 'tune_iris', 'species', trials => 4, cv => 3,
                  search_space => '{"max_depth": [2, 3], "n_estimators": {"min": 5, "max": 15, "int": true}}');
SELECT max(tune_id) AS tune1 FROM mlops.trials WHERE project = 'tune_iris' \gset
-- every trial: its scores per fold, their mean and population std, f1 by default
SELECT trial, status, array_length(scores, 1) AS folds, train_rows,
       abs(mean - (SELECT avg(s) FROM unnest(scores) s)) < 1e-12 AS mean_ok,
       abs(std - (SELECT stddev_pop(s) FROM unnest(scores) s)) < 1e-12 AS std_ok,
       (params->>'max_depth')::int IN (2, 3) AS depth_in_list,
       (params->>'n_estimators')::int BETWEEN 5 AND 15 AS rounds_in_range, seconds >= 0 AS timed
  FROM mlops.trials WHERE tune_id = :tune1 ORDER BY trial;
-- the registered model: the best trial's parameters over the defaults, the tune named in its training record
SELECT m.hyperparams->'max_depth' = t.params->'max_depth' AS same_depth,
       m.hyperparams->'n_estimators' = t.params->'n_estimators' AS same_rounds,
       (m.training->>'tune_id')::bigint = :tune1 AS names_tune, m.parent_model_id IS NULL AS first_model
  FROM mlops.models m, mlops.trials t
 WHERE m.id = (SELECT max(id) FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'tune_iris'))
   AND t.tune_id = :tune1
   AND t.mean = (SELECT max(mean) FROM mlops.trials WHERE tune_id = :tune1)
 ORDER BY t.trial LIMIT 1;
SELECT action, detail->'trials' AS trials, detail->'search' AS search, detail->'metric' AS metric
  FROM mlops.events WHERE project = 'tune_iris' AND action = 'tune';

-- the same seed draws the same candidates
SELECT tune_id AS tune2 FROM mlops.tune('tune_iris', 'tune_iris', 'species', trials => 4, cv => 3, deploy => 'never',
                  search_space => '{"max_depth": [2, 3], "n_estimators": {"min": 5, "max": 15, "int": true}}') \gset
SELECT count(*) AS same_params
  FROM mlops.trials a JOIN mlops.trials b USING (trial)
 WHERE a.tune_id = :tune1 AND b.tune_id = :tune2 AND a.params = b.params AND a.scores = b.scores;

-- grid: every combination, in order, the last key fastest; trials does not limit it;
-- a range gives min, middle and max; lineage: the parent is the deployed model
SELECT version, deployed, tune_id AS grid, cv_score AS grid_score
  FROM mlops.tune('tune_iris', 'tune_iris', 'species', search => 'grid', trials => 1, cv => 3,
                  hyperparams => '{"n_estimators": 5}',
                  search_space => '{"max_depth": [1, 3], "learning_rate": {"min": 0.1, "max": 0.4}}') \gset
SELECT :version AS version, :'deployed' AS deployed,
       :grid_score = (SELECT max(mean) FROM mlops.trials WHERE tune_id = :grid) AS best_mean;
SELECT trial, params->'max_depth' AS max_depth, params->'learning_rate' AS learning_rate, status
  FROM mlops.trials WHERE tune_id = :grid ORDER BY trial;
SELECT version, parent_model_id IS NOT NULL AS has_parent FROM mlops.lineage WHERE project = 'tune_iris' ORDER BY version;

-- successive halving: 10 candidates on a ninth of the rows, the best 4 on a third, the best 2 on all;
-- a rung trains on at least 20 rows per fold (on 112 rows: about half)
SELECT tune_id AS halving FROM mlops.tune('tune_iris', 'tune_iris', 'species', search => 'halving', trials => 10, cv => 3,
                  deploy => 'never', search_space => '{"max_depth": {"min": 1, "max": 4, "int": true}, "n_estimators": [3, 10]}') \gset
SELECT status, count(*) AS trials, array_agg(DISTINCT train_rows ORDER BY train_rows) AS train_rows
  FROM mlops.trials WHERE tune_id = :halving GROUP BY status ORDER BY status;

-- a lower-is-better metric: the smallest mean log_loss wins
SELECT tune_id AS ll, cv_score AS ll_score
  FROM mlops.tune('tune_iris', 'tune_iris', 'species', trials => 3, cv => 3, metric => 'log_loss',
                  deploy => 'never', search_space => '{"max_depth": [1, 2, 3], "n_estimators": [5]}') \gset
SELECT :ll_score = (SELECT min(mean) FROM mlops.trials WHERE tune_id = :ll) AS lowest;
-- the project's policy metric wins over the argument
SELECT mlops.set_policy('tune_iris', '{"metric": "accuracy"}') IS NOT NULL AS set;
SELECT tune_id AS pol FROM mlops.tune('tune_iris', 'tune_iris', 'species', trials => 2, cv => 3, metric => 'log_loss',
                  deploy => 'never', search_space => '{"n_estimators": [5, 6]}') \gset
SELECT detail->'metric' AS metric FROM mlops.events
 WHERE project = 'tune_iris' AND action = 'tune' AND (detail->>'tune_id')::bigint = :pol;

-- regression with the default space of ridge, by rmse
SELECT project, task, algorithm, best_params ? 'alpha' AS alpha_searched, cv_score > 0 AS rmse
  FROM mlops.tune('tune_diabetes', 'tune_diabetes', 'progression', algorithm => 'ridge', trials => 5,
                  cv => 4, metric => 'rmse');
SELECT count(*) AS trials, bool_and((params->>'alpha')::float8 BETWEEN 0.0001 AND 100) AS in_default_range
  FROM mlops.trials WHERE project = 'tune_diabetes';

-- bad input: each a clear error
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"max_deph": [3]}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"max_depth": []}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"learning_rate": {"min": 0.3, "max": 0.1}}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"learning_rate": {"min": 0, "max": 0.3, "log": true}}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"learning_rate": {"min": 0.1, "max": 0.3, "step": 0.1}}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"learning_rate": {"min": 0.1}}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"learning_rate": {"min": "NaN", "max": 0.3}}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"learning_rate": {"min": 0.1, "max": 0.3, "log": "yes"}}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"max_depth": {"min": 2.2, "max": 2.8, "int": true}}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"max_depth": [3, -1]}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"learning_rate": {"min": 0.5, "max": 2}}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{"max_depth": 3}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '[1, 2]');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search_space => '{}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', algorithm => 'ridge', search_space => '{"max_depth": [3]}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search => 'bayes');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search => NULL);
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', trials => 0);
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', trials => 1001);
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', trials => NULL);
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', cv => 1);
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', cv => 101);
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', cv => NULL);
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', cv => 40, search_space => '{"n_estimators": [2]}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', metric => 'auc');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', metric => 'r2', search_space => '{"n_estimators": [2]}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', search => 'grid',
                         search_space => '{"max_depth": [1, 2, 3, 4], "n_estimators": [1, 2, 3, 4, 5], "subsample": [0.5, 0.6, 0.7, 0.8, 0.9],
                                           "colsample_bytree": [0.5, 0.6, 0.7, 0.8, 0.9], "gamma": [0, 1, 2]}');
SELECT * FROM mlops.tune('tune_iris', 'tune_iris', 'species', hyperparams => '{"max_deph": 3}');
SELECT * FROM mlops.tune('tune_iris', 'no_such_table', 'species');
SELECT * FROM mlops.tune(NULL, 'tune_iris', 'species');
SELECT mlops.tune_async('tune_iris', 'tune_iris', 'species', search_space => '{"max_depth": []}');
SELECT mlops.tune_async('tune_iris', 'tune_iris', 'species', trials => 0);

-- tune_async: a job of kind tune with the arguments as given (the relation schema-qualified)
SELECT mlops.tune_async('tune_async', 'tune_iris', 'species', trials => 2, cv => 2, deploy => 'never',
                        search_space => '{"n_estimators": [2, 3]}') AS job \gset
SELECT kind, project, args->'relation' AS relation, args->'trials' AS trials, args->'search_space' AS space,
       args->'metric' AS metric FROM mlops.jobs WHERE id = :job;

-- drop_project removes the project's trials
SELECT mlops.drop_project('tune_diabetes');
SELECT count(*) AS trials_left FROM mlops.trials WHERE project = 'tune_diabetes';
