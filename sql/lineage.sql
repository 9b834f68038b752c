-- Lineage, annotations, model cards, export and import (issue 11).
-- Stands alone: creates its own tables.
SET client_min_messages = warning;
-- model ids in messages do not depend on the tests before this one
SELECT setval('mlops.models_id_seq', 100000) > 0 AS ids_set;
CREATE TABLE gov_iris (sepal_length float8, sepal_width float8, petal_length float8,
                       petal_width float8, species text);
\copy gov_iris FROM 'contrib/datasets/iris.csv' WITH (FORMAT csv, HEADER, NULL 'NA')
-- the same rows in another order, and a copy with one changed value
CREATE TABLE gov_iris_shuffled AS SELECT * FROM gov_iris ORDER BY md5(sepal_length::text || species || petal_width::text);
CREATE TABLE gov_iris_changed AS SELECT * FROM gov_iris;
UPDATE gov_iris_changed SET petal_width = petal_width + 0.1
 WHERE ctid = (SELECT min(ctid) FROM gov_iris_changed);

SELECT model_id AS m1 FROM mlops.train('gov_iris', 'gov_iris', 'species', algorithm => 'logistic') \gset
SELECT model_id AS m2 FROM mlops.train('gov_iris', 'gov_iris_shuffled', 'species', algorithm => 'logistic') \gset
SELECT model_id AS m3 FROM mlops.train('gov_iris', 'gov_iris_changed', 'species', algorithm => 'logistic') \gset

-- fingerprints: rows and hash; equal for the shuffled copy, not for the changed one
SELECT split_part(data_fingerprint, ':', 1) AS rows,
       length(split_part(data_fingerprint, ':', 2)) AS hex_digits
  FROM mlops.models WHERE id = :m1;
SELECT (SELECT data_fingerprint FROM mlops.models WHERE id = :m1)
     = (SELECT data_fingerprint FROM mlops.models WHERE id = :m2) AS shuffled_equal,
       (SELECT data_fingerprint FROM mlops.models WHERE id = :m1)
     = (SELECT data_fingerprint FROM mlops.models WHERE id = :m3) AS changed_equal;

-- retrain: the new model's parent is the deployed one it re-ran
SELECT status FROM mlops.deploy('gov_iris', 'specific', :m1);
SELECT action FROM mlops.retrain('gov_iris', 'gov_iris_shuffled', force => true);
SELECT model_id AS m4 FROM mlops.lineage WHERE project = 'gov_iris' ORDER BY version DESC LIMIT 1 \gset
SELECT version, parent_model_id = :m1 AS parent_is_m1, depth, relation,
       data_fingerprint = (SELECT data_fingerprint FROM mlops.models WHERE id = :m1) AS same_rows
  FROM mlops.lineage WHERE model_id = :m4;
SELECT version, parent_model_id, depth FROM mlops.lineage WHERE project = 'gov_iris' AND model_id <> :m4 ORDER BY version;
-- a second generation
SELECT action FROM mlops.retrain('gov_iris', 'gov_iris', force => true, model_id => :m4);
SELECT version, depth FROM mlops.lineage WHERE project = 'gov_iris' ORDER BY version DESC LIMIT 1;

-- annotate: NULL leaves a field as it is
SELECT mlops.annotate(:m1, 'first model', '{"team": "flowers"}');
SELECT mlops.annotate(:m1, NULL, '{"team": "flowers", "reviewed": true}');
SELECT description, tags FROM mlops.models WHERE id = :m1;
SELECT mlops.annotate(:m1, 'first model, reviewed');
SELECT description, tags FROM mlops.models WHERE id = :m1;
SELECT action, detail FROM mlops.events WHERE action = 'annotate' ORDER BY id;
-- refusals
SELECT mlops.annotate(NULL, 'x');
SELECT mlops.annotate(-1, 'x');
SELECT mlops.annotate(:m1, NULL, '[1, 2]');
SELECT mlops.annotate(:m1, NULL, '"x"');
SELECT mlops.annotate(:m1, NULL, '{"team": {"name": "flowers"}}');

-- export and import: every algorithm predicts bit-identically after a round trip
CREATE TABLE gov_diabetes (age float8, sex float8, bmi float8, bp float8, s1 float8,
                           s2 float8, s3 float8, s4 float8, s5 float8, s6 float8,
                           progression float8);
\copy gov_diabetes FROM 'contrib/datasets/diabetes.csv' WITH (FORMAT csv, HEADER, NULL 'NA')
SELECT model_id AS xi FROM mlops.train('gov_x', 'gov_iris', 'species', hyperparams => '{"n_estimators": 10}') \gset
SELECT model_id AS rf FROM mlops.train('gov_rf', 'gov_diabetes', 'progression', algorithm => 'random_forest', hyperparams => '{"n_estimators": 10}') \gset
SELECT model_id AS ri FROM mlops.train('gov_ridge', 'gov_diabetes', 'progression', algorithm => 'ridge') \gset
SELECT mlops.annotate(:xi, 'iris trees', '{"owner": "flowers"}');
SELECT d->>'format' AS format, d->'format_version' AS format_version, d->'project' AS project,
       d->>'algorithm' AS algorithm, d->'labels' AS labels, d->'model'->'learner'->'objective'->>'name' AS objective,
       d->'lineage'->'version' AS version, d->'annotations' AS annotations,
       d ? 'features' AND d ? 'profile' AND d ? 'metrics' AS complete
  FROM mlops.export_model(:xi) d;
SELECT jsonb_array_length(d->'model'->'coefficients') AS outputs,
       jsonb_array_length(d->'model'->'coefficients'->0) AS features, d->'model'->'kind' AS kind
  FROM mlops.export_model(:ri) d;
SELECT * FROM mlops.import_model('gov_x_copy', mlops.export_model(:xi));
SELECT * FROM mlops.import_model('gov_rf_copy', mlops.export_model(:rf), deploy => 'never');
SELECT * FROM mlops.import_model('gov_ridge_copy', mlops.export_model(:ri));
SELECT count(*) AS rows,
       count(*) FILTER (WHERE mlops.predict_proba('gov_x', t)::text = mlops.predict_proba('gov_x_copy', t)::text) AS identical
  FROM gov_iris t;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE mlops.predict(:rf, t) = mlops.predict((SELECT model_id FROM mlops.lineage WHERE project = 'gov_rf_copy'), t)) AS identical,
       count(*) FILTER (WHERE mlops.predict('gov_ridge', t) = mlops.predict('gov_ridge_copy', t)) AS identical_ridge
  FROM gov_diabetes t;
-- the copy keeps labels, metrics, fingerprint and annotations
SELECT c.labels = o.labels AS labels, c.metrics = o.metrics AS metrics, c.importance = o.importance AS importance,
       c.data_fingerprint = o.data_fingerprint AS fingerprint, c.description, c.tags
  FROM mlops.models c, mlops.models o
 WHERE o.id = :xi AND c.id = (SELECT model_id FROM mlops.lineage WHERE project = 'gov_x_copy');
-- a second import into the same project: deploy auto keeps the deployed model
SELECT version, deployed FROM mlops.import_model('gov_x_copy', mlops.export_model(:xi));
SELECT action, detail FROM mlops.events WHERE project = 'gov_x_copy' ORDER BY id;

-- import refusals
SELECT * FROM mlops.import_model('gov_bad', jsonb_set(mlops.export_model(:xi), '{format_version}', '2'));
SELECT * FROM mlops.import_model('gov_bad', '{"format": "onnx", "format_version": 1}');
SELECT * FROM mlops.import_model('gov_bad', '[1]');
SELECT * FROM mlops.import_model('gov_bad', mlops.export_model(:xi) - 'model');
SELECT * FROM mlops.import_model('gov_bad', jsonb_set(mlops.export_model(:xi), '{model}', '{"learner": 1}'));
SELECT * FROM mlops.import_model('gov_bad', jsonb_set(mlops.export_model(:xi),
       '{model,learner,gradient_booster,model,trees,0,left_children,0}', '99999'));
SELECT * FROM mlops.import_model('gov_bad', jsonb_set(mlops.export_model(:xi), '{labels}', '["setosa", "versicolor"]'));
SELECT * FROM mlops.import_model('gov_bad', jsonb_set(mlops.export_model(:ri), '{model,coefficients,0}', '[1, 2, 3]'));
SELECT * FROM mlops.import_model('gov_bad', jsonb_set(mlops.export_model(:ri), '{model,nfeatures}', '3'));
SELECT * FROM mlops.import_model('gov_bad', jsonb_set(mlops.export_model(:xi), '{algorithm}', '"svm"'));
SELECT * FROM mlops.import_model('gov_rf', mlops.export_model(:xi));
SELECT * FROM mlops.import_model('gov_bad', mlops.export_model(:xi), deploy => 'sometimes');
SELECT * FROM mlops.import_model('gov_bad', jsonb_set(mlops.export_model(:xi), '{annotations,tags}', '{"a": [1]}'));
SELECT * FROM mlops.import_model(NULL, mlops.export_model(:xi));
SELECT count(*) AS nothing_left FROM mlops.projects WHERE name = 'gov_bad';
SELECT mlops.export_model(-1);
SELECT mlops.export_model(NULL);

-- import_xgboost: XGBoost's own JSON model (here the trees of an mlops model)
SELECT mlops.export_model(:xi)->'model' AS booster \gset
SELECT * FROM mlops.import_xgboost('gov_xgb', :'booster',
       '{sepal_length,sepal_width,petal_length,petal_width}', 'classification',
       labels => '{setosa,versicolor,virginica}', target => 'species');
SELECT count(*) FILTER (WHERE mlops.predict_proba('gov_x', t)::text = mlops.predict_proba('gov_xgb', t)::text) AS identical
  FROM gov_iris t;
-- labels default to the class indices
SELECT project, version, deployed FROM mlops.import_xgboost('gov_xgb_idx', :'booster',
       '{sepal_length,sepal_width,petal_length,petal_width}', 'classification');
SELECT mlops.predict('gov_xgb_idx', t) AS class FROM gov_iris t LIMIT 1;
SELECT labels, training->>'imported' AS imported, metrics, data_fingerprint FROM mlops.models m
 WHERE id = (SELECT model_id FROM mlops.lineage WHERE project = 'gov_xgb_idx');
-- multi:softmax is served as softprob
SELECT count(*) FILTER (WHERE mlops.predict('gov_x', t) = mlops.predict(p.model_id, t)) AS same_class
  FROM gov_iris t, mlops.import_xgboost('gov_xgb_softmax',
       jsonb_set(:'booster'::jsonb, '{learner,objective,name}', '"multi:softmax"'),
       '{sepal_length,sepal_width,petal_length,petal_width}', 'classification') p;
-- refusals
SELECT * FROM mlops.import_xgboost('gov_bad', :'booster', '{sepal_length,sepal_width,petal_length}', 'classification');
SELECT * FROM mlops.import_xgboost('gov_bad', :'booster', '{a,b,c,a}', 'classification');
SELECT * FROM mlops.import_xgboost('gov_bad', :'booster', '{a,b,c,d}', 'regression');
SELECT * FROM mlops.import_xgboost('gov_bad', :'booster', '{a,b,c,d}', 'classification', labels => '{x,y}');
SELECT * FROM mlops.import_xgboost('gov_bad', jsonb_set(:'booster'::jsonb, '{learner,objective,name}', '"rank:pairwise"'), '{a,b,c,d}', 'classification');
SELECT * FROM mlops.import_xgboost('gov_bad', '{"learner": {}}', '{a,b,c,d}', 'classification');
SELECT * FROM mlops.import_xgboost('gov_bad', jsonb_set(:'booster'::jsonb, '{version}', '"x"'), '{a,b,c,d}', 'classification');
SELECT * FROM mlops.import_xgboost('gov_bad', :'booster', '{}', 'classification');
SELECT * FROM mlops.import_xgboost('gov_bad', :'booster', '{a,NULL,c,d}', 'classification');
SELECT * FROM mlops.import_xgboost('gov_bad', :'booster', '{a,b,c,d}', 'clustering');

-- set_reference: an imported booster has no profile until it is given one
SELECT count(*) FROM mlops.drift('gov_xgb', 'gov_iris');
SELECT mlops.set_reference((SELECT model_id FROM mlops.lineage WHERE project = 'gov_xgb'), 'gov_iris');
SELECT feature, drifted FROM mlops.drift('gov_xgb', 'gov_iris') ORDER BY feature;
SELECT detail FROM mlops.events WHERE action = 'set_reference';
SELECT mlops.set_reference(:xi, 'gov_no_such_table');
SELECT mlops.set_reference(:xi, 'gov_diabetes');
SELECT mlops.set_reference(-1, 'gov_iris');
SELECT mlops.set_reference(:xi, NULL);
CREATE TABLE gov_empty AS SELECT * FROM gov_iris LIMIT 0;
SELECT mlops.set_reference(:xi, 'gov_empty');

-- model_card: the nine sections, filled or said to be unknown
SELECT line FROM regexp_split_to_table(mlops.model_card(:xi), E'\n') AS line
 WHERE line LIKE '#%' OR line LIKE 'Unknown%' OR line LIKE '| setosa%' OR line LIKE '- Tags%' OR line = 'iris trees';
SELECT line FROM regexp_split_to_table(mlops.model_card((SELECT model_id FROM mlops.lineage WHERE project = 'gov_xgb_idx')), E'\n') AS line
 WHERE line LIKE 'Unknown%' OR line LIKE '- Origin%' OR line LIKE 'Feature importance%';
SELECT mlops.model_card(-1);
SELECT mlops.model_card(NULL);
