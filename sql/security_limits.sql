-- Sizes that come from the data, the memory bound of training and who may
-- change the training settings (issue 10, defects 2 and 7)
LOAD 'mlops';
CREATE ROLE regress_mlops_limits;

-- Array lengths are summed with overflow checks: 32 arrays of 134217727
-- NULL elements (the largest array; 16 MB each) and one of 40 are 2^32 + 8
-- inputs, 8 in 32-bit arithmetic, which once overran an allocation.
CREATE TABLE limits_rows (y float8);
INSERT INTO limits_rows VALUES (1), (2), (3), (4);
SELECT format('CREATE VIEW limits_wrap AS SELECT y, %s FROM limits_rows',
              string_agg(format('array_fill(NULL::float8, ARRAY[%s]) AS a%s',
                                CASE WHEN i <= 32 THEN 134217727 ELSE 40 END, i), ', ' ORDER BY i))
  FROM generate_series(1, 33) i \gexec
-- Sizes next to the limit of 10000 inputs: an array of 10001, and 9995
-- elements plus the 6 parts of a timestamp; 9999 elements and a number fit.
CREATE VIEW limits_array AS SELECT y, array_fill(y, ARRAY[10001]) AS a FROM limits_rows;
CREATE VIEW limits_parts AS
  SELECT y, array_fill(y, ARRAY[9995]) AS a, timestamp '2024-01-01' AS t FROM limits_rows;
CREATE VIEW limits_fit AS SELECT 1.0::float8 AS y, array_fill(y, ARRAY[9999]) AS a, y AS b FROM limits_rows;
GRANT SELECT ON limits_wrap, limits_array, limits_parts, limits_fit TO regress_mlops_limits;
SET ROLE regress_mlops_limits;
SELECT * FROM mlops.train('limits', 'limits_wrap', 'y');
SELECT * FROM mlops.train('limits', 'limits_array', 'y');
SELECT * FROM mlops.train('limits', 'limits_parts', 'y');
-- read in full: the training stops at the constant target
SELECT * FROM mlops.train('limits', 'limits_fit', 'y', test_size => 0);
RESET ROLE;

-- Only a superuser changes mlops.max_train_memory and mlops.threads, by
-- any route (SQLSTATE 42501, insufficient privilege).
SET ROLE regress_mlops_limits;
SET mlops.max_train_memory = '100GB';
\echo :LAST_ERROR_SQLSTATE
SET mlops.threads = 1;
\echo :LAST_ERROR_SQLSTATE
SELECT set_config('mlops.max_train_memory', '100GB', false);
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE regress_mlops_limits SET mlops.max_train_memory = '100GB';
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE regress_mlops_limits SET mlops.threads = 2;
\echo :LAST_ERROR_SQLSTATE
CREATE FUNCTION pg_temp.more_memory() RETURNS int LANGUAGE sql
  SET mlops.max_train_memory = '100GB' AS 'SELECT 1';
\echo :LAST_ERROR_SQLSTATE
SHOW mlops.max_train_memory;
SELECT count(*) AS role_settings FROM pg_db_role_setting
  WHERE setrole = 'regress_mlops_limits'::regrole;
RESET ROLE;
-- a superuser can, up to one thread per online CPU (the detail of the
-- error names their number)
SET mlops.max_train_memory = '100GB';
SHOW mlops.max_train_memory;
RESET mlops.max_train_memory;
-- the detail names this machine's CPU count
\set VERBOSITY terse
SET mlops.threads = 256;
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SET mlops.threads = 1;
SHOW mlops.threads;

-- The memory bound counts the texts of categories as they are read: 1000
-- distinct values of 1024 characters take 2 MB, the column's codes 32 kB.
CREATE TABLE limits_texts AS
  SELECT repeat(md5((g % 1000)::text), 32) || g % 1000 AS c, g % 2 AS y FROM generate_series(1, 2000) g;
SET mlops.max_train_memory = '1MB';
SELECT * FROM mlops.train('limits_texts', 'limits_texts', 'y');
RESET mlops.max_train_memory;

-- It counts the fit's memory: 1000 categories one-hot
-- encoded make ridge's statistics 997 x 997 wide (about 40 MB), which it
-- refuses under 4 MB although the column read takes 64 kB; ordinal
-- encoding fits.
CREATE TABLE limits_onehot AS
  SELECT (g % 1000)::text AS c, (g % 7)::float8 AS y FROM generate_series(1, 4000) g;
SET mlops.max_train_memory = '4MB';
SELECT * FROM mlops.train('limits_onehot', 'limits_onehot', 'y', algorithm => 'ridge');
SELECT algorithm, deployed FROM mlops.train('limits_onehot', 'limits_onehot', 'y', algorithm => 'ridge',
  preprocess => '{"c": {"encode": "ordinal"}}');
-- and libxgboost's copies: 15000 training rows of 20 features take 5.5 MB
-- as read and 2.4 MB as the feature matrix, libxgboost 14 MB more (the
-- profile is kept small here)
CREATE TABLE limits_trees AS
  SELECT g % 2 AS y, g::float8 AS f1, g::float8 AS f2, g::float8 AS f3, g::float8 AS f4,
         g::float8 AS f5, g::float8 AS f6, g::float8 AS f7, g::float8 AS f8, g::float8 AS f9,
         g::float8 AS f10, g::float8 AS f11, g::float8 AS f12, g::float8 AS f13, g::float8 AS f14,
         g::float8 AS f15, g::float8 AS f16, g::float8 AS f17, g::float8 AS f18, g::float8 AS f19,
         g::float8 AS f20
  FROM generate_series(1, 20000) g;
SET mlops.max_train_memory = '12MB';
SET mlops.drift_sample_size = 100;
SELECT * FROM mlops.train('limits_trees', 'limits_trees', 'y', hyperparams => '{"n_estimators": 2}');
RESET mlops.drift_sample_size;
RESET mlops.max_train_memory;

DROP VIEW limits_wrap, limits_array, limits_parts, limits_fit;
DROP TABLE limits_rows, limits_texts, limits_onehot, limits_trees;
DROP ROLE regress_mlops_limits;
