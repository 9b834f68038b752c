-- canary and shadow experiments: deploy strategies canary, shadow, promote
-- and abort, routing (mlops.variant, predict), mlops.experiment
-- model ids in this file do not depend on the files run before it
SELECT FROM pg_catalog.setval('mlops.models_id_seq', 70000);
SELECT FROM pg_catalog.setval('mlops.deploy_requests_id_seq', 70000);

SELECT version, deployed FROM mlops.train('can', 'iris', 'species', algorithm => 'logistic');
SELECT version, deployed FROM mlops.train('can', 'iris', 'species', algorithm => 'xgboost',
                                          hyperparams => '{"n_estimators": 3, "max_depth": 1}', deploy => 'never');
SELECT version, deployed FROM mlops.train('can2', 'iris', 'species', algorithm => 'logistic');
SELECT id AS c1 FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'can') AND version = 1 \gset
SELECT id AS c2 FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'can') AND version = 2 \gset
SELECT id AS other FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'can2') \gset

-- bad input: each a clear error, nothing recorded
SELECT * FROM mlops.deploy('can', 'canary', :c2);
SELECT * FROM mlops.deploy('can', 'canary', :c2, 0);
SELECT * FROM mlops.deploy('can', 'canary', :c2, 1);
SELECT * FROM mlops.deploy('can', 'canary', :c2, -0.5);
SELECT * FROM mlops.deploy('can', 'canary', :c2, 'NaN');
SELECT * FROM mlops.deploy('can', 'canary', :c2, 'Infinity');
SELECT * FROM mlops.deploy('can', 'canary', NULL, 0.1);
SELECT * FROM mlops.deploy('can', 'specific', :c2, 0.1);
SELECT * FROM mlops.deploy('can', 'shadow', :c2, 0.1);
SELECT * FROM mlops.deploy('can', 'promote', :c2);
SELECT * FROM mlops.deploy('can', 'canary', :c1, 0.1);
SELECT * FROM mlops.deploy('can', 'canary', :other, 0.1);
SELECT * FROM mlops.deploy('can', 'canary', 999999, 0.1);
SELECT * FROM mlops.deploy('can', 'promote');
SELECT * FROM mlops.deploy('can', 'abort');
SELECT * FROM mlops.deploy('can', 'canari', :c2, 0.1);
SELECT * FROM mlops.experiment('can', 'iris', 'species');
SELECT count(*) AS experiments FROM mlops.experiments WHERE project = 'can';

-- without an experiment every row is the champion's
SELECT mlops.variant('can', i) AS variant, count(*) FROM iris i GROUP BY 1;

-- a canary: the challenger answers about 30 % of the rows, always the same ones
SELECT project, model_id = :c2 AS challenger, version, strategy, status, request_id
  FROM mlops.deploy('can', 'canary', :c2, 0.3);
SELECT kind, champion_model_id = :c1 AS champion, challenger_model_id = :c2 AS challenger, fraction,
       ended_at IS NULL AS running, outcome FROM mlops.experiments WHERE project = 'can';
SELECT action, model_id = :c2 AS challenger, detail - 'experiment_id' - 'champion_model_id' AS detail
  FROM mlops.events WHERE project = 'can' AND action = 'canary';
SELECT mlops.variant('can', i) AS variant, count(*) FROM iris i GROUP BY 1 ORDER BY 1;
-- the same values route the same way in every form
SELECT count(*) AS disagreements FROM iris i
 WHERE mlops.variant('can', i) <> mlops.variant('can', to_jsonb(i))
    OR mlops.variant('can', i) <> mlops.variant('can', to_jsonb(i) - 'species');
-- predict answers each row with its variant's model
SELECT count(*) AS rows, count(*) FILTER (WHERE mlops.predict_label('can', i) =
         CASE mlops.variant('can', i) WHEN 'challenger' THEN mlops.predict_label(:c2, i)
                                       ELSE mlops.predict_label(:c1, i) END) AS as_routed,
       count(*) FILTER (WHERE mlops.predict_proba('can', i) =
         CASE mlops.variant('can', i) WHEN 'challenger' THEN mlops.predict_proba(:c2, i)
                                       ELSE mlops.predict_proba(:c1, i) END) AS proba_as_routed,
       count(*) FILTER (WHERE mlops.predict('can', to_jsonb(i)) =
         CASE mlops.variant('can', i) WHEN 'challenger' THEN mlops.predict(:c2, i)
                                       ELSE mlops.predict(:c1, i) END) AS json_as_routed
  FROM iris i;
-- the models disagree on some rows, so routing shows
SELECT count(*) > 0 AS models_differ FROM iris i WHERE mlops.predict_label(:c1, i) <> mlops.predict_label(:c2, i);
-- the experiment: accuracy per variant, and the two-proportion z-test
SELECT variant, model_id = :c1 AS champion, rows, metric, round(value::numeric, 6) AS value,
       round(ci_low::numeric, 6) AS ci_low, round(ci_high::numeric, 6) AS ci_high,
       round(p_value::numeric, 6) AS p_value, significant
  FROM mlops.experiment('can', 'iris', 'species');
SELECT detail->>'metric' AS metric, detail->'champion_rows' AS champion_rows, detail->'challenger_rows' AS challenger_rows
  FROM mlops.events WHERE project = 'can' AND action = 'experiment';
SELECT * FROM mlops.experiment('can', 'iris', 'label');
SELECT * FROM mlops.experiment('can', 'no_such_table', 'species');
SELECT * FROM mlops.experiment('can', 'iris', NULL);
SELECT * FROM mlops.experiment('can', '(SELECT 1)', 'species');
CREATE TABLE iris_nolabel AS SELECT * FROM iris WHERE species IS NULL;
SELECT * FROM mlops.experiment('can', 'iris_nolabel', 'species');
DROP TABLE iris_nolabel;

-- a ramp: the same challenger at 60 %; the rows it had stay with it
CREATE TEMP TABLE at30 AS SELECT i.* FROM iris i WHERE mlops.variant('can', i) = 'challenger';
SELECT status FROM mlops.deploy('can', 'canary', :c2, 0.6);
SELECT mlops.variant('can', i) AS variant, count(*) FROM iris i GROUP BY 1 ORDER BY 1;
SELECT count(*) AS left_the_challenger FROM at30 i WHERE mlops.variant('can', i) <> 'challenger';
SELECT count(*) AS experiments, max(fraction) AS fraction FROM mlops.experiments WHERE project = 'can';
-- the deployed model and the challenger must both fit in the model cache
\c
SET mlops.model_cache_size = 1;
SELECT count(mlops.predict('can', i)) FROM iris i;
SET mlops.model_cache_size = 2;
SELECT count(mlops.predict('can', i)) FROM iris i;
RESET mlops.model_cache_size;
-- another challenger while one runs, dropping the challenger: refused
SELECT version FROM mlops.train('can', 'iris', 'species', algorithm => 'random_forest', hyperparams => '{"n_estimators": 3}', deploy => 'never');
SELECT id AS c3 FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'can') AND version = 3 \gset
SELECT * FROM mlops.deploy('can', 'canary', :c3, 0.1);
SELECT mlops.drop_model(:c2);
SELECT mlops.set_stage(:c2, 'archived');
SELECT mlops.set_stage(:c2, 'staging');

-- a shadow (switched from the canary): predict always answers with the champion
SELECT status FROM mlops.deploy('can', 'shadow', :c2);
SELECT kind, fraction FROM mlops.experiments WHERE project = 'can' AND ended_at IS NULL;
SELECT mlops.variant('can', i) AS variant, count(*) FROM iris i GROUP BY 1;
SELECT count(*) FILTER (WHERE mlops.predict_label('can', i) = mlops.predict_label(:c1, i)) AS champion_answers
  FROM iris i;
-- both models score every row: McNemar's test
SELECT variant, rows, metric, round(value::numeric, 6) AS value, round(ci_low::numeric, 6) AS ci_low,
       round(ci_high::numeric, 6) AS ci_high, round(p_value::numeric, 6) AS p_value, significant
  FROM mlops.experiment('can', 'iris', 'species');

-- abort: the champion answers everything again
SELECT model_id = :c2 AS challenger, status FROM mlops.deploy('can', 'abort');
SELECT kind, outcome, ended_by IS NOT NULL AS ended_by FROM mlops.experiments WHERE project = 'can';
SELECT detail->>'outcome' AS outcome, detail->>'reason' AS reason FROM mlops.events
 WHERE project = 'can' AND action = 'experiment_end';
SELECT mlops.variant('can', i) AS variant, count(*) FROM iris i GROUP BY 1;
SELECT * FROM mlops.deploy('can', 'abort');

-- promote: the challenger is deployed through the normal deploy path
SELECT status FROM mlops.deploy('can', 'canary', :c2, 0.5);
SELECT model_id = :c2 AS challenger, strategy, status FROM mlops.deploy('can', 'promote');
SELECT d.model_id = :c2 AS deployed, d.strategy FROM mlops.deployed_models d
  JOIN mlops.projects p ON p.id = d.project_id WHERE p.name = 'can';
SELECT version, stage FROM mlops.model_stages WHERE project = 'can' ORDER BY version;
SELECT kind, outcome FROM mlops.experiments WHERE project = 'can' ORDER BY id;
SELECT mlops.variant('can', i) AS variant, count(*) FROM iris i GROUP BY 1;
SELECT count(*) FILTER (WHERE mlops.predict_label('can', i) = mlops.predict_label(:c2, i)) AS promoted_answers
  FROM iris i;
-- an archived model cannot be a challenger
SELECT mlops.set_stage(:c3, 'archived');
SELECT * FROM mlops.deploy('can', 'canary', :c3, 0.2);
SELECT mlops.set_stage(:c3, 'staging');

-- a rollback (and any other deploy) ends a running experiment
SELECT status FROM mlops.deploy('can', 'canary', :c3, 0.2);
SELECT model_id = :c1 AS back_to_first, strategy FROM mlops.deploy('can', 'rollback');
SELECT kind, outcome FROM mlops.experiments WHERE project = 'can' ORDER BY id;
SELECT status FROM mlops.deploy('can', 'shadow', :c3);
SELECT version, deployed FROM mlops.train('can', 'iris', 'species', algorithm => 'logistic', deploy => 'always');
SELECT kind, outcome FROM mlops.experiments WHERE project = 'can' ORDER BY id;

-- with require_approval, promote waits for an approval and the canary keeps running
SELECT status FROM mlops.deploy('can', 'canary', :c3, 0.2);
SELECT mlops.set_policy('can', '{"require_approval": true}');
SELECT model_id = :c3 AS challenger, strategy, status, request_id IS NOT NULL AS request
  FROM mlops.deploy('can', 'promote');
SELECT kind, outcome FROM mlops.experiments WHERE project = 'can' AND ended_at IS NULL;
-- aborting supersedes the waiting promote
SELECT status FROM mlops.deploy('can', 'abort');
SELECT strategy, status FROM mlops.deploy_requests WHERE project = 'can';
SELECT mlops.set_policy('can', '{"require_approval": null}');

-- regression: mean squared error, Welch's t-test (canary), paired t-test (shadow)
SELECT version FROM mlops.train('canr', 'diabetes', 'progression', algorithm => 'linear');
SELECT version FROM mlops.train('canr', 'diabetes', 'progression', algorithm => 'ridge',
                                hyperparams => '{"alpha": 1}', deploy => 'never');
SELECT id AS r2 FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'canr') AND version = 2 \gset
SELECT status FROM mlops.deploy('canr', 'canary', :r2, 0.5);
SELECT variant, rows, metric, round(value::numeric, 3) AS value, round(ci_low::numeric, 3) AS ci_low,
       round(ci_high::numeric, 3) AS ci_high, round(p_value::numeric, 6) AS p_value, significant
  FROM mlops.experiment('canr', 'diabetes', 'progression');
SELECT status FROM mlops.deploy('canr', 'shadow', :r2);
SELECT variant, rows, metric, round(value::numeric, 3) AS value, round(ci_low::numeric, 3) AS ci_low,
       round(ci_high::numeric, 3) AS ci_high, round(p_value::numeric, 6) AS p_value, significant
  FROM mlops.experiment('canr', 'diabetes', 'progression');
-- a text label on a regression project cannot be a number
CREATE TABLE diabetes_text AS SELECT *, progression::text AS said FROM diabetes;
SELECT * FROM mlops.experiment('canr', 'diabetes_text', 'said');
DROP TABLE diabetes_text;

-- dropping the project ends its experiment (its rows stay as a record)
SELECT mlops.drop_project('canr');
SELECT kind, outcome FROM mlops.experiments WHERE project = 'canr';
SELECT mlops.drop_project('can');
SELECT mlops.drop_project('can2');

-- a challenger reads only the deployed model's columns, as it reads them:
-- callers pass the deployed model's rows
SELECT version FROM mlops.train('can3', 'iris', 'species', algorithm => 'logistic',
                                features => '{sepal_length,sepal_width}');
SELECT model_id AS wide FROM mlops.train('can3', 'iris', 'species', algorithm => 'logistic', deploy => 'never') \gset
SELECT * FROM mlops.deploy('can3', 'shadow', :wide);
SELECT count(*) AS experiments FROM mlops.experiments WHERE project = 'can3';

