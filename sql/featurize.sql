-- Featurization: every column type, preprocess options, frozen transforms
\i sql/include/datasets.psql
-- model ids in this file do not depend on the files run before it
SELECT FROM pg_catalog.setval('mlops.models_id_seq', 30000);
CREATE TYPE plan AS ENUM ('free', 'pro', 'enterprise');
CREATE TABLE customers (
  id        int,
  age       int,
  income    numeric,
  active    boolean,
  city      text,
  segment   varchar(10),
  code      char(2),
  tier      plan,
  signup    date,
  last_seen timestamp,
  paid_at   timestamptz,
  emb       float8[],
  emb4      real[],
  churned   boolean
);
INSERT INTO customers
SELECT g,
       CASE WHEN g % 17 = 0 THEN NULL ELSE 20 + g % 50 END,
       (1000 + g * 37 % 5000)::numeric,
       g % 3 = 0,
       CASE WHEN g % 11 = 0 THEN NULL ELSE (ARRAY['paris', 'lyon', 'nice', 'lille'])[1 + g % 4] END,
       (ARRAY['a', 'b', 'c'])[1 + g % 3],
       (ARRAY['x', 'y'])[1 + g % 2],
       (ARRAY['free', 'pro', 'enterprise'])[1 + g % 3]::plan,
       date '2024-01-01' + g,
       timestamp '2024-01-01 00:00' + g * interval '7 hours',
       timestamptz '2024-01-01 00:00+00' + g * interval '5 hours',
       ARRAY[g % 7, g % 5, (g % 3) * 0.5],
       ARRAY[g % 2, g % 9]::real[],
       (g % 4 = 0) <> (g % 3 = 0)
  FROM generate_series(1, 400) g;

-- a plain train works on every supported type
SELECT task, deployed FROM mlops.train('churn', 'customers', 'churned', exclude => '{id}',
                                       hyperparams => '{"n_estimators": 20}');
SELECT position, feature, source_column, input, kind FROM mlops.model_features
 WHERE project = 'churn' ORDER BY position;
-- trees encode categories as ordinals (sorted by text) and keep NULL missing
SELECT transform FROM mlops.model_features WHERE project = 'churn' AND feature = 'city';

-- linear models: one-hot (NULL a category of its own), imputed and standardized numbers
SELECT model_id AS lin FROM mlops.train('churn_lin', 'customers', 'churned', exclude => '{id}',
                                        algorithm => 'logistic') \gset
SELECT position, feature FROM mlops.model_features WHERE model_id = :lin ORDER BY position;

-- featurize shows the vector the model sees; dates are UTC parts
SELECT array(SELECT round(v::numeric, 10) FROM unnest(mlops.featurize(:lin, c)) v) AS features
  FROM customers c WHERE id = 11;
SELECT (mlops.featurize('churn', c))[19:30] AS datetime_parts FROM customers c WHERE id = 1;
SELECT extract(epoch FROM paid_at) AS epoch, extract(dow FROM paid_at AT TIME ZONE 'UTC') AS dow,
       extract(hour FROM paid_at AT TIME ZONE 'UTC') AS hour FROM customers WHERE id = 1;

-- unseen categories, NULLs and reordered columns predict; one-hot unseen is all zeros
SELECT round(p::numeric, 6) FROM (SELECT mlops.predict(:lin, t) AS p FROM (
  SELECT 'marseille'::text AS city, NULL::int AS age, 2000 AS income, true AS active, 'zzz'::varchar AS segment,
         'q'::char(2) AS code, 'pro'::plan AS tier, date '2025-01-01' AS signup,
         timestamp '2025-01-01 12:00' AS last_seen, timestamptz '2025-01-01 12:00+00' AS paid_at,
         ARRAY[1, NULL, 3]::float8[] AS emb, ARRAY[1, 2]::real[] AS emb4) t) s;
SELECT (mlops.featurize(:lin, t))[6:12] AS city_one_hot FROM (
  SELECT 'marseille' AS city, 1 AS age, 2000 AS income, true AS active, 'a' AS segment,
         'x' AS code, 'pro'::plan AS tier, date '2025-01-01' AS signup,
         timestamp '2025-01-01 12:00' AS last_seen, timestamptz '2025-01-01 12:00+00' AS paid_at,
         ARRAY[1, 2, 3]::float8[] AS emb, ARRAY[1, 2]::real[] AS emb4) t;

-- jsonb rows: strings for categories and dates, arrays for arrays
SELECT mlops.predict_proba(:lin, to_jsonb(c)) = mlops.predict_proba(:lin, c) AS same FROM customers c WHERE id = 5;
SELECT mlops.predict_proba('churn', to_jsonb(c)) = mlops.predict_proba('churn', c) AS same FROM customers c WHERE id = 5;

-- options: max_categories with an other slot, target encoding, impute for categories
SELECT model_id AS opt FROM mlops.train('churn_opt', 'customers', 'churned', algorithm => 'logistic',
  features => '{city,segment,tier,income}',
  preprocess => '{"city": {"max_categories": 2}, "segment": {"encode": "target"},
                  "tier": {"encode": "ordinal", "impute": "mode"}, "income": {"scale": "robust"}}') \gset
SELECT position, feature, transform - 'target_values' AS transform FROM mlops.model_features WHERE model_id = :opt ORDER BY position;
SELECT jsonb_array_length(transform->'target_values') AS target_values FROM mlops.model_features
 WHERE model_id = :opt AND input = 'segment';
SELECT (mlops.featurize(:opt, t))[1:3] AS city_other FROM (SELECT 'lille' AS city, 'a' AS segment,
  'pro'::plan AS tier, 1 AS income) t;

-- the transform is frozen: retraining on changed data does not touch older models
SELECT features AS before FROM mlops.models WHERE id = :lin \gset
CREATE TABLE customers_changed AS SELECT * FROM customers;
UPDATE customers_changed SET income = income * 10, city = 'paris';
SELECT model_id AS lin2 FROM mlops.train('churn_lin', 'customers_changed', 'churned', exclude => '{id}',
                                         algorithm => 'logistic') \gset
SELECT features = :'before'::jsonb AS unchanged FROM mlops.models WHERE id = :lin;
SELECT features <> :'before'::jsonb AS new_transform FROM mlops.models WHERE id = :lin2;

-- classification targets of every type; predict_label returns them as text
CREATE TABLE labels AS SELECT g::float8 AS x, (ARRAY['free', 'pro', 'enterprise'])[1 + g % 3]::plan AS tier,
       ('v' || (g % 2))::varchar AS v, g % 3 AS i FROM generate_series(1, 90) g;
SELECT model_id AS m FROM mlops.train('enum_target', 'labels', 'tier', features => '{x}') \gset
SELECT labels FROM mlops.models WHERE id = :m;
SELECT mlops.predict_label('enum_target', l), mlops.predict('enum_target', l) FROM labels l WHERE x = 3;
SELECT model_id AS m FROM mlops.train('varchar_target', 'labels', 'v', features => '{x}') \gset
SELECT labels FROM mlops.models WHERE id = :m;
SELECT mlops.predict_label('varchar_target', l) FROM labels l WHERE x = 3;

-- bad input (nothing of it is registered)
SELECT * FROM mlops.train('bad1', 'customers', 'churned', preprocess => '{"nope": {}}');
SELECT * FROM mlops.train('bad2', 'customers', 'churned', preprocess => '{"city": {"encode": "hash"}}');
SELECT * FROM mlops.train('bad3', 'customers', 'churned', preprocess => '{"city": {"scale": "standard"}}');
SELECT * FROM mlops.train('bad4', 'customers', 'churned', preprocess => '{"age": {"encode": "one_hot"}}');
SELECT * FROM mlops.train('bad5', 'customers', 'churned', preprocess => '{"signup": {"max_categories": 3}}');
SELECT * FROM mlops.train('bad6', 'customers', 'churned', preprocess => '{"city": {"impute": "mean"}}');
SELECT * FROM mlops.train('bad7', 'customers', 'churned', preprocess => '{"city": {"impute": {"constant": 3}}}');
SELECT * FROM mlops.train('bad8', 'customers', 'churned', preprocess => '{"age": {"impute": {"constant": "x"}}}');
SELECT * FROM mlops.train('bad9', 'customers', 'churned', preprocess => '{"city": {"max_categories": 0}}');
SELECT * FROM mlops.train('bad10', 'customers', 'churned', preprocess => '{"city": {"max_categories": 2.5}}');
SELECT * FROM mlops.train('bad11', 'customers', 'churned', preprocess => '{"city": {"bins": 2}}');
SELECT * FROM mlops.train('bad12', 'customers', 'churned', preprocess => '{"age": {"impute": "error"}}');
SELECT * FROM mlops.train('bad13', 'customers', 'churned', preprocess => '{"city": {"impute": "error"}}');
CREATE TABLE many AS SELECT 'id' || g AS key, g % 2 AS y FROM generate_series(1, 1500) g;
SELECT * FROM mlops.train('bad14', 'many', 'y');
SELECT count(*) FROM mlops.train('many', 'many', 'y', preprocess => '{"key": {"max_categories": 10}}');
CREATE TABLE inf_date AS SELECT date '2024-01-01' + g AS d, g % 2 AS y FROM generate_series(1, 10) g;
UPDATE inf_date SET d = 'infinity' WHERE y = 1 AND d < '2024-01-04';
SELECT * FROM mlops.train('bad15', 'inf_date', 'y');
CREATE TABLE ragged AS SELECT ARRAY[g, g]::float8[] AS a, g % 2 AS y FROM generate_series(1, 10) g;
UPDATE ragged SET a = ARRAY[1, 2, 3] WHERE y = 1 AND a[1] = 3;
SELECT * FROM mlops.train('bad16', 'ragged', 'y');
CREATE TABLE nan_array AS SELECT ARRAY[g, 'NaN']::float8[] AS a, g % 2 AS y FROM generate_series(1, 10) g;
SELECT * FROM mlops.train('bad17', 'nan_array', 'y');
CREATE TABLE empty_array AS SELECT '{}'::float8[] AS a, g % 2 AS y FROM generate_series(1, 10) g;
SELECT * FROM mlops.train('bad18', 'empty_array', 'y');
-- at predict time
SELECT mlops.predict(:lin, t) FROM (SELECT 1 AS age) t;
SELECT mlops.predict(:lin, t) FROM (SELECT id, age, income, active, 5 AS city, segment, code, tier, signup,
  last_seen, paid_at, emb, emb4 FROM customers LIMIT 1) t;
SELECT mlops.predict(:lin, c) FROM (SELECT * FROM customers LIMIT 1) c, LATERAL (SELECT 1) x
 WHERE false;
SELECT mlops.predict(:lin, t) FROM (SELECT id, age, income, active, city, segment, code, tier, signup,
  'infinity'::timestamp AS last_seen, paid_at, emb, emb4 FROM customers LIMIT 1) t;
SELECT mlops.predict(:lin, t) FROM (SELECT id, age, income, active, city, segment, code, tier, signup,
  last_seen, paid_at, ARRAY[1, 2]::float8[] AS emb, emb4 FROM customers LIMIT 1) t;
SELECT mlops.predict(:lin, t) FROM (SELECT id, age, income, active, city, segment, code, tier, signup,
  last_seen, paid_at, emb::text AS emb, emb4 FROM customers LIMIT 1) t;
SELECT mlops.predict(:lin, to_jsonb(c) || '{"signup": 5}') FROM customers c LIMIT 1;
SELECT mlops.predict(:lin, to_jsonb(c) || '{"signup": "not a date"}') FROM customers c LIMIT 1;
SELECT mlops.predict(:lin, to_jsonb(c) || '{"emb": [1, 2]}') FROM customers c LIMIT 1;
SELECT mlops.predict(:lin, to_jsonb(c) || '{"city": [1]}') FROM customers c LIMIT 1;
SELECT mlops.predict(:lin, '{1,2,3}'::float8[]);
SELECT count(*) AS registered FROM mlops.projects WHERE name LIKE 'bad%';
