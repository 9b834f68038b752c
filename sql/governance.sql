-- Lineage, annotations, model cards, export and import (issue 11).
-- Stands alone: creates its own tables.
SET client_min_messages = warning;
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
SELECT mlops.deploy('gov_iris', 'specific', :m1) IS NOT NULL AS deployed;
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
