-- test/fuzz/fixtures.sql: the tables and models the fuzzer calls the
-- functions with, all owned by the non-superuser role fuzzer (run by
-- test/fuzz/run.sh after it loaded the CSV datasets into schema fz)
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET ROLE fuzzer;
SET search_path = fz, public;
SELECT setseed(0.5);

-- Every supported column kind, with NULLs, NaN, infinities, huge values,
-- empty and unicode categories, dates, timestamps and arrays
CREATE TYPE fz.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE fz.odd (
	id int, x float8, r real, n numeric, b bigint, s smallint, flag boolean,
	cat text, v varchar(8), c char(2), nm name, m fz.mood, d date, ts timestamp, tz timestamptz,
	arr float8[], arr4 real[], y int, yr float8, ycat text);
INSERT INTO fz.odd
SELECT g,
	   CASE g % 11 WHEN 0 THEN NULL WHEN 1 THEN 'NaN' WHEN 2 THEN 'Infinity' WHEN 3 THEN '-Infinity'
	   WHEN 4 THEN 1e308 WHEN 5 THEN -1e308 WHEN 6 THEN 5e-324 ELSE random() * 100 END,
	   CASE WHEN g % 7 = 0 THEN NULL ELSE (random() * 10)::real END,
	   CASE WHEN g % 13 = 0 THEN 1e300::numeric * 1e300 ELSE (g * 1.5)::numeric END,
	   CASE WHEN g % 17 = 0 THEN 9223372036854775807 WHEN g % 19 = 0 THEN -9223372036854775808 ELSE g END,
	   (g % 300)::smallint,
	   CASE WHEN g % 5 = 0 THEN NULL ELSE g % 2 = 0 END,
	   (ARRAY['a', 'b', '', NULL, 'ünï©ødé ✓', 'x''; DROP TABLE fz.odd; --', repeat('long', 300)])[1 + g % 7],
	   (ARRAY['p', 'q', NULL])[1 + g % 3],
	   (ARRAY['c1', 'c2'])[1 + g % 2],
	   ('n' || (g % 4))::name,
	   (ARRAY['sad', 'ok', 'happy', NULL])[1 + g % 4]::fz.mood,
	   CASE WHEN g % 9 = 0 THEN NULL WHEN g % 10 = 0 THEN 'infinity'::date ELSE date '2020-01-01' + g END,
	   timestamp '2020-01-01' + g * interval '1 hour',
	   CASE WHEN g % 8 = 0 THEN '-infinity'::timestamptz ELSE timestamptz '2020-01-01 00:00+00' + g * interval '1 day' END,
	   CASE WHEN g % 6 = 0 THEN NULL WHEN g % 6 = 1 THEN ARRAY[NULL, 1, 2]::float8[] ELSE ARRAY[g, g * 2, 'NaN']::float8[] END,
	   ARRAY[g, 1]::real[],
	   g % 3, g * 0.5 + random(), (ARRAY['red', 'green', 'blue'])[1 + g % 3]
  FROM generate_series(1, 240) g;

-- Degenerate tables
CREATE TABLE fz.empty (LIKE fz.odd);
CREATE TABLE fz.one_row AS SELECT * FROM fz.odd WHERE id = 7;
CREATE TABLE fz.one_class AS SELECT id, x, r, cat, 1 AS y FROM fz.odd;
CREATE TABLE fz.constant AS SELECT 1.0::float8 AS a, 2.0::float8 AS b, 'k'::text AS t, g % 2 AS y, 3.0::float8 AS yr
  FROM generate_series(1, 50) g;
CREATE TABLE fz.all_null AS SELECT NULL::float8 AS a, NULL::text AS t, g % 2 AS y FROM generate_series(1, 50) g;
CREATE TABLE fz.no_features AS SELECT g % 2 AS y FROM generate_series(1, 50) g;
CREATE TABLE fz.ragged AS SELECT g % 2 AS y, array_fill(1.0::float8, ARRAY[1 + g % 4]) AS arr FROM generate_series(1, 60) g;
CREATE TABLE fz.huge AS SELECT g % 2 AS y, (g * 1e300)::float8 AS a, (-g * 1e300)::float8 AS b, g::numeric ^ 30 AS c
  FROM generate_series(1, 60) g;
CREATE TABLE fz.many_classes AS SELECT 'class ' || (g % 200) AS y, g::float8 AS a, random() AS b
  FROM generate_series(1, 600) g;
CREATE VIEW fz.odd_view AS SELECT x, cat, d, arr, y FROM fz.odd WHERE id % 2 = 0;
CREATE TABLE fz.private (a float8, y int);
INSERT INTO fz.private SELECT g, g % 2 FROM generate_series(1, 40) g;
REVOKE ALL ON fz.private FROM fuzzer;

-- A few models of each algorithm and task
SELECT count(*) FROM mlops.train('iris_xgb', 'fz.iris', 'species', hyperparams => '{"n_estimators": 10}');
SELECT count(*) FROM mlops.train('iris_xgb', 'fz.iris', 'species', algorithm => 'random_forest',
								 hyperparams => '{"n_estimators": 5}', deploy => 'never');
SELECT count(*) FROM mlops.train('iris_log', 'fz.iris', 'species', algorithm => 'logistic');
SELECT count(*) FROM mlops.train('iris_rf', 'fz.iris', 'species', algorithm => 'random_forest', hyperparams => '{"n_estimators": 5}');
SELECT count(*) FROM mlops.train('diab_lin', 'fz.diabetes', 'progression', algorithm => 'linear');
SELECT count(*) FROM mlops.train('diab_lin', 'fz.diabetes', 'progression', algorithm => 'ridge', deploy => 'never');
SELECT count(*) FROM mlops.train('diab_lin', 'fz.diabetes', 'progression', algorithm => 'lasso', deploy => 'never');
SELECT count(*) FROM mlops.train('diab_lin', 'fz.diabetes', 'progression', algorithm => 'elastic_net', deploy => 'never');
SELECT count(*) FROM mlops.train('diab_xgb', 'fz.diabetes', 'progression', hyperparams => '{"n_estimators": 10}');
SELECT count(*) FROM mlops.train('diab_rf', 'fz.diabetes', 'progression', algorithm => 'random_forest', hyperparams => '{"n_estimators": 5}');
SELECT count(*) FROM mlops.train('pima', 'fz.pima', 'diabetes', hyperparams => '{"n_estimators": 10}');
SELECT count(*) FROM mlops.train('pima_log', 'fz.pima', 'diabetes', algorithm => 'logistic',
								 preprocess => '{"glucose": {"impute": "median", "scale": "robust"}}');
SELECT count(*) FROM mlops.train('odd_cls', 'fz.odd', 'ycat', exclude => '{x,n,b,d,tz,yr,y,arr}', hyperparams => '{"n_estimators": 5}');
SELECT count(*) FROM mlops.train('odd_log', 'fz.odd', 'y', algorithm => 'logistic', exclude => '{x,n,b,d,tz,yr,ycat,arr}',
								 preprocess => '{"cat": {"encode": "target"}, "v": {"encode": "ordinal"}, "r": {"impute": {"constant": 2}}}');
SELECT count(*) FROM mlops.train('odd_reg', 'fz.odd', 'yr', algorithm => 'ridge', exclude => '{x,n,b,d,tz,y,ycat,arr}',
								 preprocess => '{"cat": {"impute": {"constant": "zz"}, "max_categories": 3}, "r": {"scale": "min_max"}}');
SELECT count(*) FROM mlops.train('odd_rf', 'fz.odd', 'yr', algorithm => 'random_forest', exclude => '{x,n,b,d,tz,y,ycat,arr}',
								 hyperparams => '{"n_estimators": 5}');
SELECT count(*) FROM mlops.train('many', 'fz.many_classes', 'y', hyperparams => '{"n_estimators": 2}', test_size => 0.5);
