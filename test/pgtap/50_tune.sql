-- test/pgtap/50_tune.sql: the privileges of mlops.tune, mlops.tune_async
-- and mlops.trials (issue 13)
--
-- tune_owner tunes project tp; tune_other holds nothing on it, then
-- predict, then train.  tune and tune_async need train (and deploy unless
-- deploy => 'never') on an existing project (42501); mlops.trials shows a
-- role the trials of the projects it holds a privilege on, never others'.
BEGIN;
SELECT plan(13);

CREATE TABLE tune_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, (i % 7) / 7.0 AS b, ((i % 17) / 17.0 + (i % 7) / 7.0 > 1)::int AS y
  FROM generate_series(1, 300) i;
GRANT SELECT ON tune_t TO PUBLIC;
CREATE ROLE tune_owner;
CREATE ROLE tune_other;

SET client_min_messages = error;
\o /dev/null
SET ROLE tune_owner;
SELECT tune_id AS owner_tune FROM mlops.tune('tp', 'tune_t', 'y', trials => 2, cv => 3, exclude => '{id}',
	search_space => '{"max_depth": [2, 3], "n_estimators": [5]}') \gset
RESET ROLE;
\o

SET ROLE tune_other;
SELECT throws_ok($$SELECT * FROM mlops.tune('tp', 'tune_t', 'y', trials => 2, cv => 3, exclude => '{id}')$$,
	'42501', NULL, 'tune of another role''s project needs a privilege');
SELECT throws_ok($$SELECT mlops.tune_async('tp', 'tune_t', 'y', trials => 2, cv => 3)$$,
	'42501', NULL, 'tune_async of another role''s project needs a privilege');
SELECT is((SELECT count(*) FROM mlops.trials WHERE project = 'tp'), 0::bigint,
	'without a privilege, the trials of tp are invisible');
SELECT is((SELECT count(*) FROM mlops.trials), 0::bigint, 'and no other trial shows');

RESET ROLE;
SELECT mlops.grant('tp', 'tune_other', 'predict');
SET ROLE tune_other;
SELECT is((SELECT count(*) FROM mlops.trials WHERE project = 'tp'), 2::bigint, 'with predict, tp''s trials show');
SELECT throws_ok($$SELECT * FROM mlops.tune('tp', 'tune_t', 'y', trials => 2, cv => 3, exclude => '{id}')$$,
	'42501', NULL, 'tune needs train, not predict');

RESET ROLE;
SELECT mlops.grant('tp', 'tune_other', 'train');
SET ROLE tune_other;
SELECT throws_ok($$SELECT * FROM mlops.tune('tp', 'tune_t', 'y', trials => 2, cv => 3, exclude => '{id}')$$,
	'42501', NULL, 'a tune that may deploy needs deploy as well');
SELECT is((SELECT deployed FROM mlops.tune('tp', 'tune_t', 'y', trials => 2, cv => 3, exclude => '{id}', deploy => 'never',
	search_space => '{"max_depth": [2, 3], "n_estimators": [5]}')), false, 'with train, tune deploy never works');
SELECT mlops.tune_async('tp', 'tune_t', 'y', trials => 2, cv => 3, deploy => 'never') AS tune_job \gset
SELECT is((SELECT j.kind || ' ' || j.status FROM mlops.jobs j WHERE j.id = :tune_job),
	'tune queued', 'with train, tune_async queues a tune job');
-- its own project: tune_other's trials, invisible to tune_owner
SELECT lives_ok($$SELECT * FROM mlops.tune('tp_other', 'tune_t', 'y', trials => 2, cv => 3, exclude => '{id}',
	search_space => '{"n_estimators": [3, 4]}')$$, 'tune_other tunes a project of its own');
SELECT is((SELECT count(*) FROM mlops.trials WHERE project = 'tp_other'), 2::bigint,
	'tune_other sees the two trials of its project');
RESET ROLE;
SET ROLE tune_owner;
SELECT is((SELECT count(*) FROM mlops.trials WHERE project = 'tp_other'), 0::bigint,
	'the trials of tune_other''s project are invisible to tune_owner');
SELECT is((SELECT count(*) FROM mlops.trials WHERE project = 'tp'), 4::bigint,
	'tune_owner sees both tunes of tp');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
