-- test/pgtap/50_monitor.sql: live performance, alerts and guardrails as roles
--
-- mp_alice owns project mp; mp_bob holds predict, mp_carol train, mp_dave
-- deploy, mp_eve nothing.  monitor needs train, check_alerts deploy (it may
-- roll back), report predict; performance history and alerts show only to
-- roles with a privilege on the project; nobody writes them directly.
BEGIN;
SELECT plan(26);

CREATE TABLE mon_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, (i % 7) / 7.0 AS b, ((i % 17) / 17.0 + (i % 7) / 7.0 > 1)::int AS y,
	   timestamptz '2026-01-01 00:00+00' + i * interval '1 hour' AS at
  FROM generate_series(1, 300) i;
CREATE TABLE mon_flipped AS SELECT id, a, b, 1 - y AS y, at FROM mon_t;
GRANT SELECT ON mon_t, mon_flipped TO PUBLIC;
CREATE ROLE mp_alice;
CREATE ROLE mp_bob;
CREATE ROLE mp_carol;
CREATE ROLE mp_dave;
CREATE ROLE mp_eve;

SET client_min_messages = error;
SET ROLE mp_alice;
SELECT model_id AS v1 FROM mlops.train('mp', 'mon_t', 'y', algorithm => 'logistic', exclude => '{id,at}') \gset
SELECT model_id AS v2 FROM mlops.train('mp', 'mon_t', 'y', algorithm => 'logistic', exclude => '{id,at}',
									   hyperparams => '{"C": 0.01}', deploy => 'always') \gset
SELECT mlops.grant('mp', 'mp_bob', 'predict');
SELECT mlops.grant('mp', 'mp_carol', 'train');
SELECT mlops.grant('mp', 'mp_dave', 'deploy');
SELECT count(*) FROM mlops.monitor('mp', 'mon_flipped', 'y', time_column => 'at');
RESET ROLE;
SET ROLE mp_eve;
SELECT model_id AS e1 FROM mlops.train('mp_eve_own', 'mon_t', 'y', algorithm => 'logistic', exclude => '{id,at}') \gset
RESET ROLE;

-- eve holds nothing on mp
SET ROLE mp_eve;
SELECT throws_ok($$SELECT * FROM mlops.monitor('mp', 'mon_t', 'y')$$, '42501', NULL, 'eve cannot monitor mp');
SELECT throws_ok($$SELECT mlops.check_alerts('mp')$$, '42501', NULL, 'eve cannot check the alerts of mp');
SELECT is((SELECT count(*) FROM mlops.performance_history WHERE project = 'mp'), 0::bigint,
	'eve sees no performance history of mp');
SELECT is((SELECT count(*) FROM mlops.alerts WHERE project = 'mp') + (SELECT count(*) FROM mlops.alert_status WHERE project = 'mp'),
	0::bigint, 'eve sees no alert of mp');
SELECT is(mlops.check_alerts(), 0, 'eve checks the alerts of the projects she may deploy in: none of mp''s');
SELECT throws_ok($$SELECT mlops.report('mp')$$, '42501', NULL, 'eve cannot read the report of mp');
RESET ROLE;

-- bob (predict) reads, but neither monitors nor checks
SET ROLE mp_bob;
SELECT throws_ok($$SELECT * FROM mlops.monitor('mp', 'mon_t', 'y')$$, '42501', NULL, 'bob (predict) cannot monitor');
SELECT throws_ok($$SELECT mlops.check_alerts('mp')$$, '42501', NULL, 'bob (predict) cannot check alerts');
SELECT is((SELECT count(*) FROM mlops.performance_history WHERE project = 'mp'), 13::bigint,
	'bob sees the performance history of mp (13 one-day windows)');
SELECT results_eq($$SELECT rule, status, severity FROM mlops.alert_status WHERE project = 'mp'$$,
	$$VALUES ('degraded_performance'::text, 'firing'::text, 'warning'::text)$$, 'bob sees the alert of mp');
SELECT throws_ok($$INSERT INTO mlops.alerts (project, rule, severity) VALUES ('mp', 'x', 'warning')$$, '42501', NULL,
	'bob cannot write alerts');
SELECT throws_ok($$DELETE FROM mlops.performance_history$$, '42501', NULL, 'bob cannot delete live performance');
SELECT ok(mlops.report('mp') LIKE '%degraded_performance%', 'bob (predict) reads the report of mp, with its open alert');
SELECT ok(mlops.report('mp') LIKE '%<h2>Latency of the deployed model</h2>%<h2>Experiment</h2>%<p class="none">None.</p>%',
	'bob''s report has the latency and experiment sections (mp runs no experiment)');
RESET ROLE;

-- carol (train) monitors, but does not check alerts (which may roll back)
SET ROLE mp_carol;
SELECT results_eq($$SELECT rows, degraded FROM mlops.monitor('mp', 'mon_t', 'y')$$, $$VALUES (300::bigint, false)$$,
	'carol (train) monitors mp: one window, not degraded');
SELECT throws_ok($$SELECT mlops.check_alerts('mp')$$, '42501', NULL, 'carol (train) cannot check alerts');
SELECT is((SELECT status FROM mlops.alert_status WHERE project = 'mp' AND rule = 'degraded_performance'), 'resolved',
	'the good window resolved the alert');
RESET ROLE;

-- dave (deploy): a guardrail breach rolls back to v1
SET ROLE mp_alice;
SELECT count(*) FROM mlops.monitor('mp', 'mon_flipped', 'y');
SELECT mlops.set_policy('mp', '{"guardrails": {"min_live_score": 0.5, "action": "rollback"}}');
RESET ROLE;
SET ROLE mp_dave;
SELECT is(mlops.check_alerts(), 1, 'dave (deploy) checks every project he may deploy in: one guardrail alert opens');
SELECT is((SELECT model_id FROM mlops.overview WHERE project = 'mp'), :v1::bigint, 'the breach rolled mp back to v1');
SELECT is((SELECT count(*) FROM mlops.alerts WHERE project = 'mp_eve_own'), 0::bigint, 'eve''s project was not checked');
RESET ROLE;
SELECT is((SELECT count(*) FROM mlops.events WHERE project = 'mp' AND action = 'rollback'
			 AND detail->>'reason' LIKE 'guardrail live_score broken: %'), 1::bigint,
	'the rollback is in mlops.events with its reason');

-- max_error_rate and max_p99_us read the serving statistics (shared memory:
-- this cluster preloads mlops); errors after the model is known count
SET ROLE mp_alice;
SELECT count(*) FROM mlops.deploy('mp', 'specific', :v2);
SELECT mlops.set_policy('mp', '{"guardrails": {"max_error_rate": 0.01, "action": "rollback"}}');
RESET ROLE;
SELECT mlops.serving_stats_reset();
SELECT count(mlops.predict('mp', t)) FROM mon_t t;
DO $$
BEGIN
	FOR i IN 1..10 LOOP
		BEGIN
			PERFORM mlops.predict('mp', t) FROM (SELECT 'x'::text AS a, 1.0::float8 AS b) t;
		EXCEPTION WHEN datatype_mismatch THEN
			NULL;
		END;
	END LOOP;
END $$;
SELECT is((SELECT errors FROM mlops.serving_stats WHERE project = 'mp' AND model_id = :v2), 10::bigint,
	'the serving statistics count the 10 failed calls of the deployed model');
SET ROLE mp_dave;
SELECT is(mlops.check_alerts('mp'), 1, 'an error rate of 10 in 310 calls breaks max_error_rate 0.01');
SELECT is((SELECT model_id FROM mlops.overview WHERE project = 'mp'), :v1::bigint, 'and rolls mp back to v1');
RESET ROLE;
SET ROLE mp_alice;
SELECT mlops.set_policy('mp', '{"guardrails": {"max_error_rate": 0.01, "max_p99_us": 0.001, "action": "alert"}}');
RESET ROLE;
SELECT count(mlops.predict('mp', t)) FROM mon_t t;
SET ROLE mp_dave;
SELECT is(mlops.check_alerts('mp'), 1,
	'any latency breaks max_p99_us 0.001 (v1 has no errors: the error rate alert resolves)');
SELECT results_eq($$SELECT rule, status FROM mlops.alert_status WHERE project = 'mp' AND rule IN
	('guardrail_error_rate', 'guardrail_p99_us') ORDER BY rule$$,
	$$VALUES ('guardrail_error_rate'::text, 'resolved'::text), ('guardrail_p99_us', 'firing')$$,
	'the alerts say which limit broke');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
