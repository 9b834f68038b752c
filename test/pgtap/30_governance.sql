-- test/pgtap/30_governance.sql: policies, stages and approvals as roles
--
-- alice owns project gp and asks for deploys; bob holds approve and belongs
-- to the approvers role gp_approvers, which alice belongs to as well; carol
-- holds nothing.  set_policy needs admin, set_stage deploy, approve and
-- reject approve plus membership in the approvers; nobody approves their
-- own request; the policy and the requests show only to roles with a
-- privilege on the project.
BEGIN;
SELECT plan(21);

CREATE TABLE gov_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, (i % 7) / 7.0 AS b, ((i % 17) / 17.0 + (i % 7) / 7.0 > 1)::int AS y
  FROM generate_series(1, 300) i;
GRANT SELECT ON gov_t TO PUBLIC;
CREATE ROLE gp_approvers;
CREATE ROLE gp_alice IN ROLE gp_approvers;
CREATE ROLE gp_bob IN ROLE gp_approvers;
CREATE ROLE gp_carol;

SET client_min_messages = error;
SET ROLE gp_alice;
SELECT model_id AS v1 FROM mlops.train('gp', 'gov_t', 'y', algorithm => 'logistic', exclude => '{id}') \gset
SELECT model_id AS v2 FROM mlops.train('gp', 'gov_t', 'y', algorithm => 'logistic', exclude => '{id}',
									   hyperparams => '{"C": 0.01}', deploy => 'never') \gset
SELECT mlops.grant('gp', 'gp_bob', 'approve');
RESET ROLE;

-- carol holds nothing
SET ROLE gp_carol;
SELECT throws_ok($$SELECT mlops.set_policy('gp', '{"require_approval": true}')$$, '42501', NULL,
	'carol cannot set the policy');
SELECT throws_ok(format('SELECT mlops.set_stage(%s, %L)', :v2, 'staging'), '42501', NULL,
	'carol cannot set a stage');
SELECT is((SELECT count(*) FROM mlops.model_stages WHERE project = 'gp'), 0::bigint,
	'carol sees no stage of gp');
RESET ROLE;

-- bob approves, but neither sets policies nor stages nor deploys
SET ROLE gp_bob;
SELECT throws_ok($$SELECT mlops.set_policy('gp', '{"require_approval": false}')$$, '42501', NULL,
	'bob (approve) cannot set the policy');
SELECT throws_ok(format('SELECT mlops.set_stage(%s, %L)', :v2, 'staging'), '42501', NULL,
	'bob (approve) cannot set a stage');
SELECT throws_ok($$SELECT * FROM mlops.deploy('gp', 'most_recent')$$, '42501', NULL,
	'bob (approve) cannot deploy');
RESET ROLE;

-- alice sets the policy and asks
SET ROLE gp_alice;
SELECT lives_ok($$SELECT mlops.set_policy('gp', '{"require_approval": true, "approvers": "gp_approvers", "metric": "log_loss"}')$$,
	'alice (owner) sets the policy');
SELECT lives_ok(format('SELECT mlops.set_stage(%s, %L)', :v2, 'staging'), 'alice stages v2');
SELECT results_eq(format('SELECT status, request_id IS NOT NULL FROM mlops.deploy(%L, %L, %s)', 'gp', 'specific', :v2),
	$$VALUES ('pending'::text, true)$$, 'alice''s deploy makes a pending request');
SELECT id AS r1 FROM mlops.deploy_requests WHERE project = 'gp' AND status = 'pending' \gset
SELECT throws_ok(format('SELECT * FROM mlops.approve(%s)', :r1), '42501',
	format('role "gp_alice" cannot approve its own deploy request %s', :r1),
	'alice cannot approve her own request');
RESET ROLE;

SET ROLE gp_carol;
SELECT throws_ok(format('SELECT * FROM mlops.approve(%s)', :r1), '42501', NULL, 'carol cannot approve');
SELECT throws_ok(format('SELECT mlops.reject(%s)', :r1), '42501', NULL, 'carol cannot reject');
SELECT is((SELECT count(*) FROM mlops.deploy_requests WHERE project = 'gp'), 0::bigint,
	'carol sees no deploy request of gp');
SELECT is((SELECT count(*) FROM mlops.policies WHERE project = 'gp'), 0::bigint,
	'carol sees no policy of gp');
RESET ROLE;

SET ROLE gp_bob;
SELECT is((SELECT count(*) FROM mlops.deploy_requests WHERE project = 'gp'), 1::bigint,
	'bob sees the request');
SELECT results_eq(format('SELECT project, model_id, strategy FROM mlops.approve(%s, %L)', :r1, 'ok'),
	format('VALUES (%L::text, %s::bigint, %L::text)', 'gp', :v2, 'specific'),
	'bob approves alice''s request: it is deployed');
SELECT results_eq($$SELECT model_id FROM mlops.model_stages WHERE project = 'gp' AND stage = 'production'$$,
	format('VALUES (%s::bigint)', :v2), 'the approved model is production');
SELECT results_eq($$SELECT action, actor::text FROM mlops.events WHERE project = 'gp'
	AND action IN ('deploy_requested', 'approve', 'deploy') ORDER BY id DESC LIMIT 3$$,
	$$VALUES ('deploy'::text, 'gp_bob'::text), ('approve', 'gp_bob'), ('deploy_requested', 'gp_alice')$$,
	'every decision is an event, by who made it');
RESET ROLE;

-- a rollback never waits; a new request is rejected
SET ROLE gp_alice;
SELECT results_eq($$SELECT status FROM mlops.deploy('gp', 'rollback')$$, $$VALUES ('deployed'::text)$$,
	'alice rolls back without an approval');
SELECT status FROM mlops.deploy('gp', 'specific', :v2);
SELECT id AS r2 FROM mlops.deploy_requests WHERE project = 'gp' AND status = 'pending' \gset
RESET ROLE;
SET ROLE gp_bob;
SELECT lives_ok(format('SELECT mlops.reject(%s, %L)', :r2, 'no'), 'bob rejects');
RESET ROLE;
SELECT results_eq(format('SELECT status, decided_by::text FROM mlops.deploy_requests WHERE id = %s', :r2),
	$$VALUES ('rejected'::text, 'gp_bob'::text)$$, 'the request is rejected by bob');

SELECT * FROM finish();
ROLLBACK;
