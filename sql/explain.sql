-- Explanations (TreeSHAP, linear contributions), model comparison and
-- fairness (issue 13).  Stands alone: creates its own tables.
SET client_min_messages = warning;
-- model ids in messages do not depend on the tests before this one
SELECT setval('mlops.models_id_seq', 200000) > 0 AS ids_set;
CREATE TABLE ex_iris (sepal_length float8, sepal_width float8, petal_length float8,
                      petal_width float8, species text);
\copy ex_iris FROM 'contrib/datasets/iris.csv' WITH (FORMAT csv, HEADER, NULL 'NA')
CREATE TABLE ex_bin AS
SELECT sepal_length, sepal_width, petal_length, petal_width,
       species = 'virginica' AS virginica, (row_number() OVER ())::int % 2 = 0 AS even
  FROM ex_iris;

SELECT model_id AS tree FROM mlops.train('ex_iris', 'ex_iris', 'species', algorithm => 'xgboost',
       hyperparams => '{"n_estimators": 10, "max_depth": 3}') \gset
SELECT model_id AS rf FROM mlops.train('ex_iris', 'ex_iris', 'species', algorithm => 'random_forest',
       hyperparams => '{"n_estimators": 10, "max_depth": 3}', deploy => 'never') \gset
SELECT model_id AS lin FROM mlops.train('ex_bin', 'ex_bin', 'virginica', algorithm => 'logistic',
       exclude => '{even}') \gset
SELECT model_id AS bin FROM mlops.train('ex_bin', 'ex_bin', 'virginica', algorithm => 'xgboost',
       hyperparams => '{"n_estimators": 10, "max_depth": 3}', exclude => '{even}', deploy => 'never') \gset

-- one row per output and input, then the bias; values are the raw inputs
SELECT output, feature, value, round(contribution::numeric, 4) AS contribution
  FROM mlops.explain('ex_iris', (SELECT t FROM ex_iris t LIMIT 1)) WHERE output = 'setosa';
-- each output's contributions sum to its margin: the softmax of the sums is predict_proba
WITH e AS (SELECT output, sum(contribution) AS margin
             FROM mlops.explain('ex_iris', (SELECT t FROM ex_iris t OFFSET 60 LIMIT 1)) GROUP BY output),
     s AS (SELECT output, exp(margin) / sum(exp(margin)) OVER () AS p FROM e)
SELECT array_agg(round(p::numeric, 6) ORDER BY output) AS from_explain,
       (SELECT array_agg(round(p::numeric, 6)) FROM unnest(mlops.predict_proba('ex_iris',
               (SELECT t FROM ex_iris t OFFSET 60 LIMIT 1))) p) AS predict_proba
  FROM s;
-- every form of the row gives the same numbers; NULL follows the default direction
SELECT (SELECT array_agg(contribution ORDER BY output, feature)
          FROM mlops.explain(:tree, '{"sepal_length": 6.1, "sepal_width": null, "petal_length": 4.7, "petal_width": 1.4}'::jsonb))
     = (SELECT array_agg(contribution ORDER BY output, feature)
          FROM mlops.explain(:tree, ARRAY[6.1, NULL, 4.7, 1.4]::float8[])) AS jsonb_equals_array;
SELECT count(*) AS rows, count(value) AS values
  FROM mlops.explain(:tree, ARRAY[6.1, NULL, 4.7, 1.4]::float8[]);
-- random forest, binary xgboost (output: the second label), logistic (coefficient x value)
SELECT count(DISTINCT output) AS outputs, count(*) AS rows FROM mlops.explain(:rf, (SELECT t FROM ex_iris t LIMIT 1));
SELECT DISTINCT output FROM mlops.explain(:bin, (SELECT t FROM ex_bin t LIMIT 1));
SELECT round(1 / (1 + exp(-sum(contribution)))::numeric, 9)
     = round((mlops.predict_proba(:lin, (SELECT t FROM ex_bin t LIMIT 1)))[2]::numeric, 9) AS logistic_sums_to_logit
  FROM mlops.explain(:lin, (SELECT t FROM ex_bin t LIMIT 1));
-- explaining a whole table
SELECT count(*) FROM ex_iris t, mlops.explain('ex_iris', t);
-- NULL arguments explain nothing
SELECT count(*) FROM mlops.explain('ex_iris', NULL::float8[]);
SELECT count(*) FROM mlops.explain(NULL::text, ARRAY[1, 2, 3, 4]::float8[]);

-- global importance: mean |SHAP| per input, recorded
SELECT feature, round(mean_abs_shap::numeric, 3) AS mean_abs_shap, rows
  FROM mlops.explain_global('ex_iris', 'ex_iris');
SELECT project, version, feature, round(mean_abs_shap::numeric, 3) AS mean_abs_shap,
       gain_importance IS NOT NULL AS has_gain, rows, relation
  FROM mlops.global_importance WHERE model_id = :tree ORDER BY mean_abs_shap DESC;

-- errors
\set VERBOSITY terse
SELECT * FROM mlops.explain('no_such_project', ARRAY[1, 2, 3, 4]::float8[]);
SELECT * FROM mlops.explain(999999999, ARRAY[1, 2, 3, 4]::float8[]);
SELECT * FROM mlops.explain(:tree, ARRAY[1, 2, 3]::float8[]);
SELECT * FROM mlops.explain(:tree, ARRAY[1, 'NaN', 3, 4]::float8[]);
SELECT * FROM mlops.explain(:tree, ARRAY[1, 'Infinity', 3, 4]::float8[]);
SELECT * FROM mlops.explain(:tree, '{"sepal_length": 1}'::jsonb);
SELECT * FROM mlops.explain(:tree, '[1, 2]'::jsonb);
-- columns the model does not read are ignored
SELECT count(*) FROM mlops.explain(:tree, (SELECT t FROM ex_bin t LIMIT 1));
SELECT * FROM mlops.explain(:tree, ROW(1, 2));
SELECT * FROM mlops.explain_global('ex_iris', 'no_such_table');
SELECT * FROM mlops.explain_global('ex_iris', NULL);
SELECT * FROM mlops.explain_global('no_such_project', 'ex_iris');
CREATE TABLE ex_empty (LIKE ex_iris);
SELECT * FROM mlops.explain_global('ex_iris', 'ex_empty');
CREATE TABLE ex_other (a float8);
SELECT * FROM mlops.explain_global('ex_iris', 'ex_other');
SELECT count(*) FROM mlops.train('ex_undeployed', 'ex_iris', 'species', algorithm => 'logistic', deploy => 'never');
SELECT * FROM mlops.explain_global('ex_undeployed', 'ex_iris');
\set VERBOSITY default
