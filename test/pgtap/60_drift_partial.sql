-- test/pgtap/60_drift_partial.sql: the partial drift profile aggregate as roles
--
-- dp_alice owns project dp, dp_carol holds train, dp_eve nothing.
-- mlops.drift_profile needs train (it reads the hidden reference profile);
-- its support functions refuse to run outside the aggregate and reject a
-- damaged state.  On one node it also runs as a parallel aggregate, whose
-- combine merges the workers' states.
BEGIN;
SELECT plan(13);

CREATE TABLE dp_t AS
SELECT i AS id, CASE WHEN i % 9 = 0 THEN NULL ELSE (i % 40)::float8 END AS x,
	   (ARRAY['a', 'b', 'c'])[1 + i % 3] AS c, (i % 40) * 0.5 + (i % 3) AS y
  FROM generate_series(1, 400) i;
GRANT SELECT ON dp_t TO PUBLIC;
CREATE ROLE dp_alice;
CREATE ROLE dp_carol;
CREATE ROLE dp_eve;

SET client_min_messages = error;
SET ROLE dp_alice;
SELECT model_id AS m FROM mlops.train('dp', 'dp_t', 'y', algorithm => 'linear', exclude => '{id}') \gset
SELECT mlops.grant('dp', 'dp_carol', 'train');
RESET ROLE;

SET ROLE dp_eve;
SELECT throws_ok(format($$SELECT mlops.drift_profile(%s, 100, hash_record_extended(t, 0), ROW(t.x, t.c)) FROM dp_t t$$, :m),
	'42501', NULL, 'eve cannot profile rows against the reference of dp');
RESET ROLE;

SET ROLE dp_carol;
SELECT ok((SELECT length(mlops.drift_profile(:m, 100, hash_record_extended(t, 0), ROW(t.x, t.c))) > 0 FROM dp_t t),
	'carol (train) profiles the rows of dp_t');
SELECT is((SELECT mlops.drift_profile(:m, 100, hash_record_extended(t, 0), ROW(t.x, t.c)) FROM dp_t t WHERE false),
	NULL::bytea, 'no rows give NULL');
SELECT throws_ok(format($$SELECT mlops.drift_profile(%s, 100, 0, ROW(t.x)) FROM dp_t t$$, :m),
	'42804', NULL, 'a row without every source column of the model is refused');
SELECT throws_ok(format($$SELECT mlops.drift_profile(%s, 100, 0, ROW(t.c, t.x)) FROM dp_t t$$, :m),
	'42804', NULL, 'a row whose fields do not fit the model''s columns is refused');
SELECT throws_ok(format($$SELECT mlops.drift_profile(%s, -1, 0, ROW(t.x, t.c)) FROM dp_t t$$, :m),
	'22023', NULL, 'a negative sample size is refused');
SELECT throws_ok($$SELECT mlops.drift_profile(NULL, 100, 0, ROW(t.x, t.c)) FROM dp_t t$$,
	'22004', NULL, 'a NULL model id is refused');
SELECT throws_ok($$SELECT mlops.drift_profile(987654, 100, 0, ROW(t.x, t.c)) FROM dp_t t$$,
	'42704', NULL, 'an unknown model id is refused');
SELECT throws_ok($$SELECT mlops.drift_partial_step(NULL, 1, 1, 0, ROW(1))$$,
	'0A000', NULL, 'the transition function runs only inside mlops.drift_profile');
SELECT throws_ok($$SELECT mlops.drift_partial_combine('\x00'::bytea, '\x00'::bytea)$$,
	'0A000', NULL, 'so does the combine function');
SELECT throws_ok($$SELECT mlops.drift_partial_final('\x0000000100'::bytea)$$,
	'XX001', 'partial drift profile is corrupted', 'the final function rejects a damaged state');
SELECT is((SELECT mlops.drift_partial_final(p) = p
			 FROM (SELECT mlops.drift_profile(:m, 100, hash_record_extended(t, 0), ROW(t.x, t.c)) AS p FROM dp_t t) s),
	true, 'the final function returns a valid state as it is');
-- a parallel aggregate: workers' states merged by the combine function
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT ok((SELECT length(mlops.drift_profile(:m, 100, hash_record_extended(t, 0), ROW(t.x, t.c))) > 0 FROM dp_t t),
	'the aggregate runs in parallel (partial states combined)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
