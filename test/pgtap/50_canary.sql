-- test/pgtap/50_canary.sql: canary and shadow experiments as roles
--
-- ca_alice owns project ca; ca_dave holds deploy, ca_bob predict, ca_erin
-- approve, ca_carol nothing.  Starting, promoting and aborting an
-- experiment need deploy; mlops.variant and mlops.experiment need predict
-- (and SELECT on the relation, checked before anything is read); the
-- experiments show only to roles with a privilege on the project; with
-- require_approval a promote waits for an approval while the canary runs,
-- and the approval ends it.
BEGIN;
SELECT plan(27);

CREATE TABLE ca_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, (i % 7) / 7.0 AS b, ((i % 17) / 17.0 + (i % 7) / 7.0 > 1)::int AS y
  FROM generate_series(1, 400) i;
GRANT SELECT ON ca_t TO PUBLIC;
CREATE TABLE ca_secret AS SELECT * FROM ca_t;
CREATE ROLE ca_alice;
CREATE ROLE ca_bob;
CREATE ROLE ca_carol;
CREATE ROLE ca_dave;
CREATE ROLE ca_erin;

SET client_min_messages = error;
SET ROLE ca_alice;
SELECT model_id AS v1 FROM mlops.train('ca', 'ca_t', 'y', algorithm => 'logistic', exclude => '{id}') \gset
SELECT model_id AS v2 FROM mlops.train('ca', 'ca_t', 'y', algorithm => 'xgboost', exclude => '{id}',
									   hyperparams => '{"n_estimators": 2, "max_depth": 1}', deploy => 'never') \gset
SELECT mlops.grant('ca', 'ca_bob', 'predict');
SELECT mlops.grant('ca', 'ca_dave', 'deploy');
SELECT mlops.grant('ca', 'ca_erin', 'approve');
RESET ROLE;

-- predict alone does not start, promote or abort experiments
SET ROLE ca_bob;
SELECT throws_ok(format('SELECT * FROM mlops.deploy(%L, %L, %s, 0.5)', 'ca', 'canary', :v2), '42501', NULL,
	'bob (predict) cannot start a canary');
SELECT throws_ok(format('SELECT * FROM mlops.deploy(%L, %L, %s)', 'ca', 'shadow', :v2), '42501', NULL,
	'bob (predict) cannot start a shadow');
SELECT throws_ok($$SELECT * FROM mlops.deploy('ca', 'promote')$$, '42501', NULL, 'bob (predict) cannot promote');
SELECT throws_ok($$SELECT * FROM mlops.deploy('ca', 'abort')$$, '42501', NULL, 'bob (predict) cannot abort');
RESET ROLE;

-- dave (deploy) starts a canary
SET ROLE ca_dave;
SELECT results_eq(format('SELECT status, model_id FROM mlops.deploy(%L, %L, %s, 0.5)', 'ca', 'canary', :v2),
	format('VALUES (%L::text, %s::bigint)', 'started', :v2), 'dave (deploy) starts a canary');
SELECT throws_ok($$SELECT * FROM mlops.experiment('ca', 'ca_t', 'y')$$, '42501', NULL,
	'dave (deploy only) cannot run the experiment');
RESET ROLE;

-- bob sees it, routes and scores as predict does
SET ROLE ca_bob;
SELECT results_eq($$SELECT kind, fraction FROM mlops.experiments WHERE project = 'ca'$$,
	$$VALUES ('canary'::text, 0.5::float8)$$, 'bob sees the running canary');
SELECT results_eq($$SELECT count(DISTINCT v) FROM (SELECT mlops.variant('ca', t) AS v FROM ca_t t) s$$,
	$$VALUES (2::bigint)$$, 'bob routes rows to both variants');
SELECT is((SELECT count(*) FROM ca_t t WHERE mlops.predict('ca', t) <> CASE mlops.variant('ca', t)
		WHEN 'challenger' THEN mlops.predict(:v2, t) ELSE mlops.predict(:v1, t) END), 0::bigint,
	'bob''s predictions come from each row''s variant');
SELECT results_eq($$SELECT variant, rows FROM mlops.experiment('ca', 'ca_t', 'y') ORDER BY variant$$,
	$$SELECT v, count(*) FROM (SELECT mlops.variant('ca', t) AS v FROM ca_t t) s GROUP BY v
	  UNION ALL SELECT 'difference', 400 ORDER BY 1$$,
	'bob (predict) runs the experiment: each variant scores the rows routed to it');
SELECT throws_ok($$SELECT * FROM mlops.experiment('ca', 'ca_secret', 'y')$$, '42501',
	'permission denied for table ca_secret', 'bob cannot run it on a table he may not read');
SELECT throws_ok($$SELECT * FROM mlops.experiment('ca', 'ca_t', 'z')$$, '42703', NULL,
	'an unknown label column is an error');
RESET ROLE;

-- carol holds nothing
SET ROLE ca_carol;
SELECT throws_ok($$SELECT mlops.variant('ca', '{"a": 1, "b": 0}'::jsonb)$$, '42501', NULL,
	'carol cannot route');
SELECT throws_ok($$SELECT * FROM mlops.experiment('ca', 'ca_t', 'y')$$, '42501', NULL,
	'carol cannot run the experiment');
SELECT throws_ok(format('SELECT * FROM mlops.deploy(%L, %L, %s, 0.1)', 'ca', 'canary', :v2), '42501', NULL,
	'carol cannot change the canary');
SELECT is((SELECT count(*) FROM mlops.experiments WHERE project = 'ca'), 0::bigint,
	'carol sees no experiment of ca');
SELECT throws_ok($$INSERT INTO mlops.experiments (project, kind, champion_model_id, challenger_model_id, started_by)
	VALUES ('ca', 'shadow', 1, 2, 'ca_carol')$$, '42501', NULL, 'carol cannot write the table');
RESET ROLE;

-- with require_approval a promote waits; the canary runs until erin approves
SET ROLE ca_alice;
SELECT mlops.set_policy('ca', '{"require_approval": true}');
RESET ROLE;
SET ROLE ca_dave;
SELECT results_eq($$SELECT status, request_id IS NOT NULL FROM mlops.deploy('ca', 'promote')$$,
	$$VALUES ('pending'::text, true)$$, 'dave''s promote makes a pending request');
SELECT id AS r1 FROM mlops.deploy_requests WHERE project = 'ca' AND status = 'pending' \gset
SELECT results_eq($$SELECT count(*) FROM mlops.experiments WHERE project = 'ca' AND ended_at IS NULL$$,
	$$VALUES (1::bigint)$$, 'the canary keeps running while the promote waits');
SELECT throws_ok(format('SELECT * FROM mlops.approve(%s)', :r1), '42501', NULL,
	'dave cannot approve his own promote');
RESET ROLE;
SET ROLE ca_erin;
SELECT results_eq(format('SELECT model_id, strategy FROM mlops.approve(%s)', :r1),
	format('VALUES (%s::bigint, %L::text)', :v2, 'promote'), 'erin approves: the challenger is deployed');
RESET ROLE;
SELECT results_eq($$SELECT outcome, ended_by::text FROM mlops.experiments WHERE project = 'ca'$$,
	$$VALUES ('promoted'::text, 'ca_erin'::text)$$, 'the approved promote ended the canary as promoted');
SELECT results_eq($$SELECT model_id FROM mlops.model_stages WHERE project = 'ca' AND stage = 'production'$$,
	format('VALUES (%s::bigint)', :v2), 'the challenger is production');
SET ROLE ca_bob;
SELECT is((SELECT count(*) FROM ca_t t WHERE mlops.predict('ca', t) <> mlops.predict(:v2, t)), 0::bigint,
	'bob''s predictions come from the promoted model');
SELECT results_eq($$SELECT DISTINCT mlops.variant('ca', t) FROM ca_t t$$, $$VALUES ('champion'::text)$$,
	'without an experiment every row is the champion''s');
RESET ROLE;

-- a shadow started by dave: abort needs deploy, and bob's predictions are the champion's
SET ROLE ca_dave;
SELECT lives_ok(format('SELECT * FROM mlops.deploy(%L, %L, %s)', 'ca', 'shadow', :v1), 'dave starts a shadow');
SELECT results_eq($$SELECT status FROM mlops.deploy('ca', 'abort')$$, $$VALUES ('aborted'::text)$$,
	'dave aborts it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
