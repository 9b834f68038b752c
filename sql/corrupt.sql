-- Corrupted registry rows (a superuser can write them): every reader of a
-- stored model, transform or profile refuses them with an error naming the
-- model and what is wrong, never a crash.  Each case corrupts a fresh copy
-- of a sound model and shows the outcome of one call on it.
\i sql/include/datasets.psql
SET statement_timeout = '60s';

CREATE TABLE flowers AS
  SELECT species, sepal_length, sepal_width, petal_length, petal_width FROM iris;

-- classification: logistic (linear format) and xgboost (UBJSON), 3 labels
SELECT model_id AS logistic FROM mlops.train('corrupt_cls', 'flowers', 'species', algorithm => 'logistic') \gset
SELECT model_id AS trees FROM mlops.train('corrupt_cls', 'flowers', 'species', algorithm => 'xgboost',
  hyperparams => '{"n_estimators": 3}', deploy => 'never') \gset
-- regression on a categorical column (inputs[0], one-hot or target-encoded) and numbers
SELECT model_id AS linear FROM mlops.train('corrupt_reg', 'flowers', 'petal_width', algorithm => 'linear') \gset
SELECT model_id AS target FROM mlops.train('corrupt_reg', 'flowers', 'petal_width', algorithm => 'xgboost',
  hyperparams => '{"n_estimators": 3}', preprocess => '{"species": {"encode": "target"}}',
  deploy => 'never') \gset
SELECT features->'inputs'->0->>'name' AS first_input, features->'inputs'->0->>'encode' AS encode
  FROM mlops.models WHERE id = :linear;

-- Copy model src (as the newest version of its project), apply "change" (a
-- SET clause) to the copy, run "call" with the copy's id in place of %s:
-- 'ok', or the error's SQLSTATE, message, detail and the context line that
-- names the model, the copy's id written <copy>.
CREATE FUNCTION corrupt(src bigint, change text, call text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  copy bigint;
  state text;
  msg text;
  detail text;
  context text;
BEGIN
  INSERT INTO mlops.models (project_id, version, algorithm, hyperparams, preprocess, features, labels,
                            metrics, training, profile, importance, format, model, created_by)
  SELECT project_id, (SELECT max(version) + 1 FROM mlops.models o WHERE o.project_id = m.project_id),
         algorithm, hyperparams, preprocess, features, labels, metrics, training, profile, importance,
         format, model, created_by
    FROM mlops.models m WHERE id = src
  RETURNING id INTO copy;
  EXECUTE format('UPDATE mlops.models SET %s WHERE id = $1', change) USING copy;
  BEGIN
    EXECUTE format(call, copy);
    state := 'ok';
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                            context = PG_EXCEPTION_CONTEXT;
    state := state || ' ' || msg || coalesce(' (' || nullif(detail, '') || ')', '')
             || coalesce(' [' || substring(context from '((?:loading|reading the [a-z ]+ of) model \d+)') || ']', '');
  END;
  -- the copy goes, so the next case's copy is again the newest version
  DELETE FROM mlops.models WHERE id = copy;
  RETURN regexp_replace(state, '\m' || copy || '\M', '<copy>', 'g');
END $$;

\set predict 'SELECT mlops.predict(%s, f) FROM flowers f LIMIT 1'
\set proba 'SELECT mlops.predict_proba(%s, f) FROM flowers f LIMIT 1'
\set label 'SELECT mlops.predict_label(%s, f) FROM flowers f LIMIT 1'
\set featurize 'SELECT mlops.featurize(%s, f) FROM flowers f LIMIT 1'
\set json 'SELECT mlops.predict(%s, to_jsonb(f)) FROM flowers f LIMIT 1'
\set array 'SELECT mlops.predict(%s::bigint, ARRAY[5.1, 3.5, 1.4, 0.2]::float8[])'
\set weights 'SELECT count(*) FROM mlops.weights(%s)'
\set evaluate_cls 'SELECT mlops.evaluate(''corrupt_cls'', ''flowers'', %s)'
\set evaluate_reg 'SELECT mlops.evaluate(''corrupt_reg'', ''flowers'', %s)'
\set drift 'SELECT count(*) FROM mlops.drift(''corrupt_reg'', ''flowers'', ''auto'', NULL, %s)'
\set drift_ks 'SELECT count(*) FROM mlops.drift(''corrupt_cls'', ''flowers'', ''ks'', NULL, %s)'
\set drift_psi 'SELECT count(*) FROM mlops.drift(''corrupt_reg'', ''flowers'', ''psi'', NULL, %s)'
\set retrain 'SELECT action FROM mlops.retrain(''corrupt_cls'', force => true, model_id => %s)'
\pset format unaligned
\pset tuples_only on

-- sound copies work
SELECT 'sound logistic: ' || corrupt(:logistic, 'labels = labels', :'label');
SELECT 'sound trees: ' || corrupt(:trees, 'labels = labels', :'proba');
SELECT 'sound linear: ' || corrupt(:linear, 'labels = NULL', :'weights');
SELECT 'sound drift: ' || corrupt(:linear, 'labels = NULL', :'drift');

-- labels
SELECT 'NULL label: ' || corrupt(:logistic, $$labels = '{setosa,NULL,virginica}'$$, :'label');
SELECT 'NULL label, weights: ' || corrupt(:logistic, $$labels = '{NULL,versicolor,virginica}'$$, :'weights');
SELECT 'NULL label, evaluate: ' || corrupt(:logistic, $$labels = '{setosa,versicolor,NULL}'$$, :'evaluate_cls');
SELECT 'NULL labels: ' || corrupt(:logistic, 'labels = NULL', :'predict');
SELECT 'no labels: ' || corrupt(:logistic, $$labels = '{}'$$, :'predict');
SELECT '2-D labels: ' || corrupt(:logistic, $$labels = '{{a,b},{c,d}}'$$, :'proba');
SELECT 'too few labels: ' || corrupt(:logistic, $$labels = '{a,b}'$$, :'proba');
SELECT 'too many labels: ' || corrupt(:logistic, $$labels = '{a,b,c,d}'$$, :'label');
SELECT 'too few labels, trees: ' || corrupt(:trees, $$labels = '{a,b}'$$, :'label');
SELECT 'too many labels, trees: ' || corrupt(:trees, $$labels = '{a,b,c,d,e}'$$, :'array');
SELECT 'duplicate label: ' || corrupt(:logistic, $$labels = '{a,b,a}'$$, :'label');
SELECT 'text labels said numeric: ' || corrupt(:logistic, $$training = training || '{"labels_numeric": true}'$$, :'predict');
SELECT 'labels_numeric not boolean: ' || corrupt(:logistic, $$training = training || '{"labels_numeric": "yes"}'$$, :'predict');

-- feature transform
SELECT 'non-string feature name, weights: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,0,features,0}', '7')$$, :'weights');
SELECT 'non-string feature name, predict: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,1,features,0}', 'null')$$, :'predict');
SELECT 'non-string category: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,0,categories,1}', '{"a": 1}')$$, :'predict');
SELECT 'non-string column name: ' || corrupt(:linear, $$features = jsonb_set(features, '{columns,0,name}', '[]')$$, :'json');
SELECT 'transform is an array: ' || corrupt(:linear, $$features = '[]'$$, :'featurize');
SELECT 'transform is a string: ' || corrupt(:linear, $$features = '"x"'$$, :'predict');
SELECT 'missing inputs: ' || corrupt(:linear, $$features = features - 'inputs'$$, :'featurize');
SELECT 'columns not an array: ' || corrupt(:linear, $$features = jsonb_set(features, '{columns}', '{"a": 1}')$$, :'predict');
SELECT 'inputs not an array: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs}', '"many"')$$, :'predict');
SELECT 'input not an object: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,1}', '[1, 2]')$$, :'predict');
SELECT 'features not an array: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,1,features}', '{"x": "y"}')$$, :'weights');
SELECT 'categories not an array: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,0,categories}', '"abc"')$$, :'predict');
SELECT 'column index a string: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,0,column}', '"zero"')$$, :'predict');
SELECT 'huge column index: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,0,column}', '2147483647')$$, :'predict');
SELECT 'column index too big for int: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,0,column}', '1e30')$$, :'predict');
SELECT 'fractional column index: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,1,column}', '1.5')$$, :'predict');
SELECT 'negative input count: ' || corrupt(:linear, $$features = jsonb_set(features, '{columns,1,inputs}', '-1')$$, :'predict');
SELECT 'huge input count: ' || corrupt(:linear, $$features = jsonb_set(features, '{columns,1,inputs}', '100000')$$, :'predict');
SELECT 'too many inputs: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs}', (SELECT jsonb_agg(i) FROM (SELECT features->'inputs'->1 AS i FROM generate_series(1, 10001)) s))$$, :'predict');
SELECT 'wrong feature count: ' || corrupt(:linear, $$features = jsonb_set(features, '{nfeatures}', '1000')$$, :'predict');
SELECT 'huge feature count: ' || corrupt(:linear, $$features = jsonb_set(features, '{nfeatures}', '1e300')$$, :'predict');
SELECT 'one-hot features without categories: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,0,categories}', '["setosa"]')$$, :'predict');
SELECT 'imputed category out of range: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,0,fill_index}', '99')$$, :'predict');
SELECT 'negative imputed category: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,0,fill_index}', '-7')$$, :'predict');
SELECT 'unknown input kind: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,1,kind}', '"fuzzy"')$$, :'predict');
SELECT 'input of the wrong kind: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,1,kind}', '"categorical"')$$, :'predict');
SELECT 'unknown column kind: ' || corrupt(:linear, $$features = jsonb_set(features, '{columns,1,kind}', '"vector"')$$, :'predict');
SELECT 'number said to be a date: ' || corrupt(:linear, $$features = jsonb_set(features, '{columns,1,kind}', '"datetime"')$$, :'predict');
SELECT 'unknown encoding: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,0,encode}', '"hash"')$$, :'predict');
SELECT 'unknown imputation: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,1,impute}', '17')$$, :'predict');
SELECT 'zero scale: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,1,scale_by}', '0')$$, :'predict');
SELECT 'missing center: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,1}', (features->'inputs'->1) - 'center')$$, :'predict');
SELECT 'unknown transform format: ' || corrupt(:linear, $$features = jsonb_set(features, '{format}', '2')$$, :'predict');
SELECT 'target values of the wrong size: ' || corrupt(:target, $$features = jsonb_set(features, '{inputs,0,target_values}', '[1]')$$, :'predict');
SELECT 'target value not a number: ' || corrupt(:target, $$features = jsonb_set(features, '{inputs,0,target_values,2}', '"x"')$$, :'predict');
SELECT 'more than 10000 features: ' || corrupt(:target, $$features = jsonb_set(features, '{inputs,0,features}', (SELECT jsonb_agg('f' || g) FROM generate_series(1, 10001) g))$$, :'predict');

-- model bytes and format
SELECT 'truncated linear model: ' || corrupt(:logistic, 'model = substring(model from 1 for 20)', :'predict');
SELECT 'linear model with a huge size: ' || corrupt(:logistic, $$model = overlay(model placing '\xffffff7f' from 9)$$, :'predict');
SELECT 'truncated trees: ' || corrupt(:trees, 'model = substring(model from 1 for length(model) / 2)', :'predict');
SELECT 'one byte of trees: ' || corrupt(:trees, $$model = '\x7b'$$, :'proba');
SELECT 'linear bytes as trees: ' || corrupt(:linear, $$algorithm = 'xgboost', format = 1$$, :'predict');
SELECT 'trees as linear bytes: ' || corrupt(:trees, $$algorithm = 'logistic'$$, :'predict');
-- a node's parent out of range (libxgboost would read the node there): the
-- compiler refuses it before predict, and before export hands it to libxgboost
SELECT 'parent out of range, predict: ' || corrupt(:trees, $$model = set_byte(model, position('parents'::bytea in model) + 23, 64)$$, :'predict');
SELECT 'parent out of range, export: ' || corrupt(:trees, $$model = set_byte(model, position('parents'::bytea in model) + 23, 64)$$, 'SELECT mlops.export_model(%s)');
SELECT 'parent of another node: ' || corrupt(:trees, $$model = set_byte(model, position('parents'::bytea in model) + 26, 2)$$, :'predict');
SELECT 'unknown format: ' || corrupt(:logistic, 'format = 7', :'predict');
SELECT 'unknown algorithm: ' || corrupt(:logistic, $$algorithm = 'quantum'$$, :'predict');
SELECT 'transform with fewer features than the model: ' || corrupt(:logistic, $$features = jsonb_set(jsonb_set(features, '{inputs}', (features->'inputs') - 3), '{columns}', (features->'columns') - 3) || '{"nfeatures": 3}'$$, :'array');

-- reference profile
SELECT 'profile without features: ' || corrupt(:linear, $$profile = jsonb_set(profile, '{features}', '[]')$$, :'drift');
SELECT 'profile features not an array: ' || corrupt(:linear, $$profile = jsonb_set(profile, '{features}', '{"a": 1}')$$, :'drift');
SELECT 'categorical predictions of a regression: ' || corrupt(:linear, $$profile = jsonb_set(profile, '{prediction}', profile->'features'->0)$$, :'drift');
SELECT 'sound drift, ks: ' || corrupt(:logistic, 'labels = labels', :'drift_ks');
-- a sample is the base64 of little-endian float8 values: NaN, 1 and 2, 1
SELECT 'NaN in a sample: ' || corrupt(:logistic, $$profile = jsonb_set(profile, '{features,1,sample}', '"AAAAAAAA+H8AAAAAAADwPw=="')$$, :'drift_ks');
SELECT 'unsorted sample: ' || corrupt(:logistic, $$profile = jsonb_set(profile, '{features,1,sample}', '"AAAAAAAAAEAAAAAAAADwPw=="')$$, :'drift_ks');
SELECT 'sample not base64: ' || corrupt(:logistic, $$profile = jsonb_set(profile, '{features,1,sample}', '"%%%"')$$, :'drift_ks');
SELECT 'sample of 12 bytes: ' || corrupt(:logistic, $$profile = jsonb_set(profile, '{features,1,sample}', '"AAAAAAAAAEAAAAAA"')$$, :'drift_ks');
SELECT 'sample an array: ' || corrupt(:logistic, $$profile = jsonb_set(profile, '{features,1,sample}', '[1, 2]')$$, :'drift_ks');
-- a 0.1.0 profile (format 1) holds its samples as arrays of numbers
SELECT 'format 1 samples: ' || corrupt(:logistic, $$profile = jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(profile, '{version}', '1'), '{features,0,sample}', '[1, 2]'), '{features,1,sample}', '[1, 2]'), '{features,2,sample}', '[1, 2]'), '{features,3,sample}', '[1, 2]')$$, :'drift_ks');
SELECT 'format 1, NaN in a sample: ' || corrupt(:logistic, $$profile = jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(profile, '{version}', '1'), '{features,0,sample}', '[1, 2]'), '{features,1,sample}', '[null, 2]'), '{features,2,sample}', '[1, 2]'), '{features,3,sample}', '[1, 2]')$$, :'drift_ks');
SELECT 'negative count: ' || corrupt(:linear, $$profile = jsonb_set(profile, '{features,1,count}', '-5')$$, :'drift_psi');
SELECT 'descending edges: ' || corrupt(:linear, $$profile = jsonb_set(profile, '{features,1,edges}', '[9, 8, 7, 6, 5, 4, 3, 2, 1]')$$, :'drift_psi');
SELECT 'negative bin count: ' || corrupt(:linear, $$profile = jsonb_set(profile, '{features,1,histogram,3}', '-1')$$, :'drift_psi');
SELECT 'negative category count: ' || corrupt(:linear, $$profile = jsonb_set(profile, '{features,0,counts,0}', '-3')$$, :'drift');
SELECT 'categories not an array: ' || corrupt(:linear, $$profile = jsonb_set(profile, '{features,0,categories}', '{"setosa": 1}')$$, :'drift');
SELECT 'negative array length: ' || corrupt(:linear, $$profile = jsonb_set(profile, '{columns,1,array_length}', '-1')$$, :'drift');
SELECT 'huge array length: ' || corrupt(:linear, $$profile = jsonb_set(jsonb_set(profile, '{columns,1,array_length}', '2147483647'), '{columns,1,kind}', '"array"')$$, :'drift');
SELECT 'profile of another shape: ' || corrupt(:linear, $$profile = jsonb_set(profile, '{columns}', (profile->'columns') - 0)$$, :'drift');
SELECT 'corrupted labels, drift: ' || corrupt(:logistic, $$labels = '{a,NULL,c}'$$, 'SELECT count(*) FROM mlops.drift(''corrupt_cls'', ''flowers'', ''auto'', NULL, %s)');
SELECT 'corrupted transform, evaluate: ' || corrupt(:linear, $$features = jsonb_set(features, '{inputs,0,column}', '5')$$, :'evaluate_reg');

-- the settings retrain reads back from the model it re-runs
SELECT 'hyperparams an array: ' || corrupt(:logistic, $$hyperparams = '[]'$$, :'retrain');
SELECT 'hyperparam of the wrong type: ' || corrupt(:logistic, $$hyperparams = '{"max_iter": "many"}'$$, :'retrain');
SELECT 'preprocess a number: ' || corrupt(:logistic, $$preprocess = '3'$$, :'retrain');
SELECT 'no relation: ' || corrupt(:logistic, $$training = training - 'relation'$$, :'retrain');
SELECT 'column names not strings: ' || corrupt(:logistic, $$training = jsonb_set(training, '{columns}', '[1, 2]')$$, :'retrain');
SELECT 'columns not an array: ' || corrupt(:logistic, $$training = jsonb_set(training, '{columns}', '{"a": "b"}')$$, :'retrain');
SELECT 'test_size a string: ' || corrupt(:logistic, $$training = jsonb_set(training, '{test_size}', '"big"')$$, :'retrain');
SELECT 'test_size out of range: ' || corrupt(:logistic, $$training = jsonb_set(training, '{test_size}', '7')$$, :'retrain');
SELECT 'unknown split: ' || corrupt(:logistic, $$training = jsonb_set(training, '{split}', '"sideways"')$$, :'retrain');
SELECT 'seed out of range: ' || corrupt(:logistic, $$training = jsonb_set(training, '{seed}', '1e12')$$, :'retrain');

\pset format aligned
\pset tuples_only off
-- the sound models still predict, and nothing is left of the copies
SELECT mlops.predict_label(:logistic, f) AS label, round(mlops.predict(:linear, f)::numeric, 3) AS width
  FROM flowers f LIMIT 1;
SELECT count(*) AS models FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
 WHERE p.name IN ('corrupt_cls', 'corrupt_reg');
SELECT mlops.drop_project('corrupt_cls'), mlops.drop_project('corrupt_reg');
DROP FUNCTION corrupt(bigint, text, text);
DROP TABLE flowers;
RESET statement_timeout;
