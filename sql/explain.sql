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
-- before explain_global, a model's features show their training importance only
SELECT feature, gain_importance IS NOT NULL AS has_gain, mean_abs_shap FROM mlops.global_importance
 WHERE model_id = :rf ORDER BY feature;

-- errors
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

-- compare: McNemar for classification (exact below 25 discordant rows)
SELECT test, statistic, round(p_value::numeric, 6) AS p_value, round(a_score::numeric, 4) AS a_score,
       round(b_score::numeric, 4) AS b_score, better
  FROM mlops.compare(:bin, :lin, 'ex_bin');
SELECT test, statistic, p_value, better FROM mlops.compare(:tree, :tree, 'ex_iris');
-- regression: paired t-test of squared errors
SELECT model_id AS reg1 FROM mlops.train('ex_reg', 'ex_iris', 'petal_width', algorithm => 'linear',
       exclude => '{species}') \gset
SELECT model_id AS reg2 FROM mlops.train('ex_reg', 'ex_iris', 'petal_width', algorithm => 'xgboost',
       hyperparams => '{"n_estimators": 3, "max_depth": 1}', exclude => '{species}', deploy => 'never') \gset
SELECT test, round(statistic::numeric, 4) AS statistic, round(p_value::numeric, 6) AS p_value,
       round(a_score::numeric, 4) AS a_score, round(b_score::numeric, 4) AS b_score, better
  FROM mlops.compare(:reg1, :reg2, 'ex_iris');

-- fairness: rates per group, disparities per attribute, recorded
SELECT attribute, grp, rows, round(selection_rate::numeric, 4) AS selection_rate, round(tpr::numeric, 4) AS tpr,
       round(fpr::numeric, 4) AS fpr, round("precision"::numeric, 4) AS "precision", round(accuracy::numeric, 4) AS accuracy,
       round(demographic_parity_diff::numeric, 4) AS dpd, round(demographic_parity_ratio::numeric, 4) AS dpr,
       round(equalized_odds_diff::numeric, 4) AS eod
  FROM mlops.fairness('ex_bin', 'ex_bin', '{even}');
SELECT r.project, r.model_id = :lin AS deployed_model, r.relation, r.rows, r.sensitive, count(*) AS groups
  FROM mlops.fairness_reports r JOIN mlops.fairness_results g ON g.report_id = r.id
 GROUP BY r.id ORDER BY r.id;
SELECT count(*) FROM mlops.fairness('ex_bin', 'ex_bin', '{even,sepal_width}', :bin);
SELECT position(E'## Factors\n\nGroups evaluated with mlops.fairness on public.ex_bin' IN mlops.model_card(:lin)) > 0 AS card_factors,
       position('| even | 1 | 75 |' IN mlops.model_card(:lin)) > 0 AS card_table,
       position('- even: demographic parity difference' IN mlops.model_card(:lin)) > 0 AS card_considerations,
       position('Fairness: unknown' IN mlops.model_card(:tree)) > 0 AS card_unknown;

-- errors
SELECT * FROM mlops.compare(:tree, :bin, 'ex_iris');
SELECT * FROM mlops.compare(:tree, NULL, 'ex_iris');
SELECT * FROM mlops.compare(:tree, 999999999, 'ex_iris');
SELECT * FROM mlops.compare(:tree, :rf, 'no_such_table');
SELECT * FROM mlops.compare(:tree, :rf, 'ex_empty');
SELECT * FROM mlops.compare(:tree, :rf, 'ex_other');
SELECT * FROM mlops.compare(:bin, :lin, 'ex_iris');
SELECT * FROM mlops.fairness('ex_bin', 'ex_bin', '{no_such_column}');
SELECT * FROM mlops.fairness('ex_bin', 'ex_bin', '{}');
SELECT * FROM mlops.fairness('ex_bin', 'ex_bin', '{even,even}');
SELECT * FROM mlops.fairness('ex_bin', 'ex_bin', '{virginica}');
SELECT * FROM mlops.fairness('ex_bin', 'ex_bin', ARRAY['even', NULL]);
SELECT * FROM mlops.fairness('ex_bin', 'ex_bin', NULL);
SELECT * FROM mlops.fairness('ex_bin', 'ex_bin', '{even}', :tree);
SELECT * FROM mlops.fairness('ex_iris', 'ex_iris', '{species}');
SELECT * FROM mlops.fairness('ex_reg', 'ex_iris', '{species}');
SELECT * FROM mlops.fairness('ex_iris', 'ex_iris', '{sepal_length}', :tree);
CREATE TABLE ex_bin_empty AS SELECT * FROM ex_bin WHERE false;
SELECT * FROM mlops.fairness('ex_bin', 'ex_bin_empty', '{even}');
CREATE TABLE ex_bin_wide AS SELECT b.*, (row_number() OVER ())::float8 AS serial FROM ex_bin b, generate_series(1, 7);
SELECT * FROM mlops.fairness('ex_bin', 'ex_bin_wide', '{serial}');
