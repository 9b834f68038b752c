-- test/pgtap/60_train_partial.sql: the partial training statistics aggregate as a role
--
-- mlops.train_partial reads nothing but its arguments (the rows, the params
-- and the model they carry), so any role that can read the rows runs it;
-- bad params are refused with their SQLSTATE, its support functions refuse
-- to run outside the aggregate and reject a damaged state.  On one node it
-- also runs as a parallel aggregate, whose combine merges the workers'
-- states.
BEGIN;
SELECT plan(19);

CREATE TABLE tp_t AS
SELECT i AS id, CASE WHEN i % 9 = 0 THEN NULL ELSE (i % 40)::float8 END AS x,
	   (ARRAY['a', 'b', 'c'])[1 + i % 3] AS c, (i % 40) * 0.5 + (i % 3) AS y
  FROM generate_series(1, 400) i;
GRANT SELECT ON tp_t TO PUBLIC;
CREATE ROLE tp_eve;

SET ROLE tp_eve;
\set stats '''{"pass": "stats", "test_size": 0.25, "target": "y", "columns": ["x"], "sample_size": 50, "classification": false}'''
SELECT ok((SELECT length(mlops.train_partial(:stats, NULL, hash_record_extended(ROW(t.y, t.x), 42), ROW(t.y, t.x))) > 0 FROM tp_t t),
	'eve, without any mlops privilege, computes the partial statistics of rows she can read');
SELECT is((SELECT mlops.train_partial(:stats, NULL, 0, ROW(t.y, t.x)) FROM tp_t t WHERE false),
	NULL::bytea, 'no rows give NULL');
SELECT throws_ok($$SELECT mlops.train_partial(NULL, NULL, 0, ROW(t.y, t.x)) FROM tp_t t$$,
	'22004', NULL, 'NULL params are refused');
SELECT throws_ok($$SELECT mlops.train_partial('{"pass": "guess", "columns": ["x"]}', NULL, 0, ROW(t.y, t.x)) FROM tp_t t$$,
	'22023', 'unknown pass "guess" of mlops.train_partial', 'an unknown pass is refused, named');
SELECT throws_ok($$SELECT mlops.train_partial('{"pass": "stats", "test_size": 1, "target": "y", "columns": ["x"], "sample_size": 0, "classification": false}', NULL, 0, ROW(t.y, t.x)) FROM tp_t t$$,
	'22023', NULL, 'a test_size of 1 is refused');
SELECT throws_ok($$SELECT mlops.train_partial('{"pass": "stats", "test_size": 0.2, "target": "y", "columns": ["x"], "sample_size": -1, "classification": false}', NULL, 0, ROW(t.y, t.x)) FROM tp_t t$$,
	'22023', NULL, 'a negative sample size is refused');
SELECT throws_ok(format($$SELECT mlops.train_partial(%L, NULL, 0, ROW(t.x)) FROM tp_t t$$, :stats),
	'42804', NULL, 'a row without the target and every column is refused');
SELECT throws_ok(format($$SELECT mlops.train_partial(%L, NULL, 0, ROW(t.y, date '2026-01-01' + t.id)) FROM tp_t t$$, :stats),
	'42804', 'feature column "x" of mlops.train_partial has type date, which gives 5 inputs, not the 1 of the params'' "parts"',
	'a date column (5 inputs) is refused when the params count 1 input');
SELECT ok((SELECT length(mlops.train_partial('{"pass": "stats", "test_size": 0.25, "target": "y", "columns": ["x"], "parts": [5], "sample_size": 50, "classification": false}',
	NULL, 0, ROW(t.y, date '2026-01-01' + t.id))) > 0 FROM tp_t t),
	'a date column is read as its 5 inputs when the params count them');
SELECT throws_ok(format($$SELECT mlops.train_partial(%L, NULL, 0, ROW(t.y, ARRAY[t.y, t.y]::float8[])) FROM tp_t t$$, :stats),
	'2202E', 'array column "x" has 2 elements where 1 are expected', 'an array of another length than the params'' parts is refused');
SELECT throws_ok(format($$SELECT mlops.train_partial(%L, NULL, 0, ROW(t.y, point(t.y, t.y))) FROM tp_t t$$, :stats),
	'42804', 'feature column "x" of mlops.train_partial has type point, which is not a feature type',
	'a column of no feature type is refused');
SELECT throws_ok($$SELECT mlops.train_partial('{"pass": "stats", "test_size": 0.25, "target": "y", "columns": ["x"], "parts": [0], "sample_size": 5, "classification": false}', NULL, 0, ROW(t.y, t.x)) FROM tp_t t$$,
	'22023', NULL, 'parts of 0 inputs are refused');
SELECT ok((SELECT length(mlops.train_partial(:stats, NULL, 0, ROW(t.y, t.c))) > 0 FROM tp_t t),
	'a categorical column is read (its categories counted)');
SELECT throws_ok(format($$SELECT mlops.train_partial(%L, NULL, 0, ROW(t.y, 'NaN'::float8)) FROM tp_t t$$, :stats),
	'22000', 'feature column "x" contains NaN', 'a NaN feature is refused, naming the column');
SELECT throws_ok($$SELECT mlops.train_partial('{"pass": "fit", "test_size": 0.2, "target": "y", "columns": ["x"]}', NULL, 0, ROW(t.y, t.x)) FROM tp_t t$$,
	'22023', NULL, 'the fit pass needs the transform');
SELECT throws_ok($$SELECT mlops.train_partial_step(NULL, '{}', NULL, 0, ROW(1))$$,
	'0A000', NULL, 'the transition function runs only inside mlops.train_partial');
SELECT throws_ok($$SELECT mlops.train_partial_combine('\x00'::bytea, '\x00'::bytea)$$,
	'0A000', NULL, 'so does the combine function');
SELECT throws_ok($$SELECT mlops.train_partial_final('\x0000000100'::bytea)$$,
	'XX001', 'partial training statistics are corrupted', 'the final function rejects a damaged state');
-- a parallel aggregate: workers' states merged by the combine function
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT ok((SELECT length(mlops.train_partial(:stats, NULL, hash_record_extended(ROW(t.y, t.x), 42), ROW(t.y, t.x))) > 0 FROM tp_t t),
	'the aggregate runs in parallel (partial states combined)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
