-- test/pgtap/10_owner_context.sql: no code of the caller ever runs with the
-- extension owner's rights (issue 10, defect 1)
--
-- A hostile non-superuser owns schema evil, where it shadows the built-in
-- operators, functions, aggregates, type names and casts that registry SQL
-- could use (test/shadows.sql); every shadow records (current_user,
-- session_user) in evil.calls and tries to make hostile a superuser.  With
-- search_path = evil, pg_catalog it then calls every function that writes
-- the registry.  The extension (created by postgres) is owned by a
-- superuser, so one shadow run as the owner would be an escalation.
BEGIN;
SELECT plan(57);

CREATE ROLE hostile;
CREATE SCHEMA evil AUTHORIZATION hostile;
SET ROLE hostile;

\ir ../shadows.sql

-- the training rows: y from x1 and x2, c a class
CREATE TABLE evil.data AS
SELECT i, (i % 7)::float8 AS x1, (i % 5)::float8 AS x2,
	   (2 * (i % 7) + (i % 5))::float8 AS y, (i % 7) > 3 AS c
  FROM generate_series(1, 80) AS i;

-- every function that writes the registry, in order, as hostile
CREATE TABLE evil.attacks (n int, what text, sql text, error text);
INSERT INTO evil.attacks (n, what, sql) VALUES
	(1, 'train xgboost', $$SELECT * FROM mlops.train('evil_reg', 'evil.data', 'y', exclude => '{i,c}')$$),
	(2, 'train linear', $$SELECT * FROM mlops.train('evil_reg', 'evil.data', 'y', 'linear', exclude => '{i,c}')$$),
	(3, 'train logistic', $$SELECT * FROM mlops.train('evil_cls', 'evil.data', 'c', 'logistic', exclude => '{i,y}')$$),
	(4, 'deploy most_recent', $$SELECT * FROM mlops.deploy('evil_reg', 'most_recent')$$),
	(5, 'deploy best_score', $$SELECT * FROM mlops.deploy('evil_reg', 'best_score')$$),
	(6, 'deploy specific', $$SELECT * FROM mlops.deploy('evil_reg', 'specific',
		(SELECT m.id FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
		WHERE p.name = 'evil_reg' AND m.version = 1))$$),
	(7, 'deploy rollback', $$SELECT * FROM mlops.deploy('evil_reg', 'rollback')$$),
	(8, 'evaluate', $$SELECT mlops.evaluate('evil_reg', 'evil.data')$$),
	(9, 'drift', $$SELECT * FROM mlops.drift('evil_reg', 'evil.data')$$),
	(10, 'retrain', $$SELECT * FROM mlops.retrain('evil_reg', 'evil.data', force => true)$$),
	(11, 'schedule', $$SELECT mlops.schedule('evil_reg', '1 day', 'evil.data')$$),
	(12, 'schedule again', $$SELECT mlops.schedule('evil_reg', '2 days', 'evil.data', '{"retrain": "always"}')$$),
	(13, 'unschedule', $$SELECT mlops.unschedule('evil_reg')$$),
	(14, 'train_async', $$SELECT mlops.train_async('evil_reg', 'evil.data', 'y', 'linear')$$),
	(15, 'cancel_job', $$SELECT mlops.cancel_job((SELECT j.id FROM mlops.jobs j WHERE j.project = 'evil_reg'))$$),
	(16, 'train never deployed', $$SELECT * FROM mlops.train('evil_reg', 'evil.data', 'y', 'linear',
		exclude => '{i,c}', deploy => 'never')$$),
	(17, 'drop_model', $$SELECT mlops.drop_model((SELECT m.id FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
		WHERE p.name = 'evil_reg' AND m.version = 4))$$),
	(18, 'drop_project', $$SELECT mlops.drop_project('evil_cls')$$),
	(19, 'set_policy', $$SELECT mlops.set_policy('evil_reg', '{"metric": "mae", "min_score": {"r2": -100},
		"deploy_window": {"from": "00:00", "to": "24:00", "timezone": "UTC"}}')$$),
	(20, 'set_stage', $$SELECT mlops.set_stage((SELECT m.id FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
		WHERE p.name = 'evil_reg' AND m.id NOT IN (SELECT d.model_id FROM mlops.deployed_models d)
		ORDER BY m.id LIMIT 1), 'archived')$$),
	(21, 'deploy by the policy', $$SELECT * FROM mlops.deploy('evil_reg', 'best_score')$$),
	(22, 'set_policy require_approval', $$SELECT mlops.set_policy('evil_reg', '{"require_approval": true}')$$),
	(23, 'deploy request', $$SELECT * FROM mlops.deploy('evil_reg', 'most_recent')$$),
	(24, 'reject', $$SELECT mlops.reject((SELECT r.id FROM mlops.deploy_requests r WHERE r.project = 'evil_reg'
		AND r.status = 'pending'))$$),
	(25, 'annotate', $$SELECT mlops.annotate((SELECT max(m.id) FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
		WHERE p.name = 'evil_reg'), 'evil', '{"a": 1}')$$),
	(26, 'export and import_model', $$SELECT * FROM mlops.import_model('evil_imp', mlops.export_model((SELECT max(m.id)
		FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id WHERE p.name = 'evil_reg')))$$),
	(27, 'import_xgboost', $$SELECT * FROM mlops.import_xgboost('evil_xgb', mlops.export_model((SELECT max(m.id)
		FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
		WHERE p.name = 'evil_reg' AND m.algorithm = 'xgboost'))->'model', '{x1,x2}', 'regression', target => 'y')$$),
	(28, 'set_reference', $$SELECT mlops.set_reference((SELECT m.id FROM mlops.models m JOIN mlops.projects p
		ON p.id = m.project_id WHERE p.name = 'evil_xgb'), 'evil.data')$$),
	(29, 'model_card', $$SELECT mlops.model_card((SELECT m.id FROM mlops.models m JOIN mlops.projects p
		ON p.id = m.project_id WHERE p.name = 'evil_xgb'))$$),
	(30, 'tune', $$SELECT * FROM mlops.tune('evil_tune', 'evil.data', 'y', 'ridge', trials => 2, cv => 2,
		exclude => '{i,c}')$$),
	(31, 'tune_async', $$SELECT mlops.tune_async('evil_tune', 'evil.data', 'y', 'ridge', trials => 2, cv => 2)$$),
	(32, 'explain_global', $$SELECT * FROM mlops.explain_global('evil_reg', 'evil.data')$$),
	(33, 'train a classifier for fairness', $$SELECT * FROM mlops.train('evil_fair', 'evil.data', 'c', 'logistic',
		exclude => '{i,y}')$$),
	(34, 'fairness', $$SELECT * FROM mlops.fairness('evil_fair', 'evil.data', '{x2}')$$),
	(35, 'deploy canary', $$SELECT * FROM mlops.deploy('evil_reg', 'canary', (SELECT m.id FROM mlops.models m
		JOIN mlops.projects p ON p.id = m.project_id WHERE p.name = 'evil_reg' AND m.stage IN ('none', 'staging')
		ORDER BY m.id LIMIT 1), 0.5)$$),
	(36, 'experiment', $$SELECT * FROM mlops.experiment('evil_reg', 'evil.data', 'y')$$),
	(37, 'deploy shadow', $$SELECT * FROM mlops.deploy('evil_reg', 'shadow', (SELECT e.challenger_model_id
		FROM mlops.experiments e WHERE e.project = 'evil_reg' AND e.ended_at IS NULL))$$),
	(38, 'deploy promote (a request)', $$SELECT * FROM mlops.deploy('evil_reg', 'promote')$$),
	(39, 'deploy abort', $$SELECT * FROM mlops.deploy('evil_reg', 'abort')$$),
	(40, 'deploy canary again', $$SELECT * FROM mlops.deploy('evil_reg', 'canary', (SELECT m.id FROM mlops.models m
		JOIN mlops.projects p ON p.id = m.project_id WHERE p.name = 'evil_reg' AND m.stage IN ('none', 'staging')
		ORDER BY m.id LIMIT 1), 0.2)$$),
	(41, 'rollback ends the canary', $$SELECT * FROM mlops.deploy('evil_reg', 'rollback')$$),
	(42, 'monitor', $$SELECT * FROM mlops.monitor('evil_reg', 'evil.data', 'y')$$),
	(43, 'set_policy guardrails', $$SELECT mlops.set_policy('evil_reg', '{"guardrails": {"min_live_score": -1,
		"max_drift_share": 0, "action": "rollback"}, "drift_severity": {"warning": 0}}')$$),
	(44, 'check_alerts (a rollback)', $$SELECT mlops.check_alerts('evil_reg')$$),
	(45, 'check_alerts of every project', $$SELECT mlops.check_alerts()$$);


SET client_min_messages = error;
SET search_path = evil, pg_catalog;
DO $$
DECLARE
	a record;
BEGIN
	FOR a IN SELECT * FROM evil.attacks ORDER BY n LOOP
		BEGIN
			EXECUTE a.sql;
		EXCEPTION WHEN OTHERS THEN
			UPDATE evil.attacks SET error = SQLERRM WHERE n = a.n;
		END;
	END LOOP;
END
$$;
RESET search_path;
RESET client_min_messages;
RESET ROLE;

SELECT is(error, NULL, format('as hostile with evil first in search_path: %s', what))
  FROM evil.attacks ORDER BY n;

SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'hostile'), false,
	'hostile did not make itself a superuser');
SELECT is((SELECT string_agg(DISTINCT format('%s as %s', what, who), ', ') FROM evil.calls WHERE who <> 'hostile'),
	NULL, 'no shadowing operator, function, aggregate or cast ran as another role than hostile');
SELECT is((SELECT count(*) FROM evil.calls WHERE who = 'hostile') > 0, true,
	'the shadows were live: hostile''s own statements ran them');
SELECT is((SELECT count(*) FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
		WHERE p.name = 'evil_reg'), 3::bigint,
	'the registry holds what the calls wrote (4 models of evil_reg, one dropped)');
SELECT is((SELECT count(*) FROM mlops.jobs WHERE project = 'evil_reg' AND status = 'canceled'), 1::bigint,
	'the queued job was canceled');
SELECT is((SELECT string_agg(kind || ' ' || outcome, ', ' ORDER BY id) FROM mlops.experiments WHERE project = 'evil_reg'),
	'shadow aborted, canary rolled_back', 'the experiments were started and ended');

-- an error raised while running as the owner (version overflow in the
-- insert of a model), caught in a PL/pgSQL block, leaves the caller's user,
-- search_path and security context as they were
UPDATE mlops.models SET version = 2147483647
 WHERE id = (SELECT max(m.id) FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
			  WHERE p.name = 'evil_reg');
SET ROLE hostile;
CREATE TABLE evil.after_error (error text, who name, path text, temp_ok bool);
SET search_path = evil, pg_catalog;
DO $$
DECLARE
	err pg_catalog.text;
	temp_ok pg_catalog.bool;
BEGIN
	BEGIN
		PERFORM * FROM mlops.train('evil_reg', 'evil.data', 'y', 'linear', exclude => '{i,c}');
	EXCEPTION WHEN OTHERS THEN
		err := SQLERRM;
	END;
	BEGIN
		CREATE TEMP TABLE hostile_temp (x int);
		temp_ok := true;
	EXCEPTION WHEN OTHERS THEN
		temp_ok := false;
	END;
	INSERT INTO evil.after_error VALUES (err, current_user, pg_catalog.current_setting('search_path'), temp_ok);
END
$$;
RESET search_path;
RESET ROLE;

SELECT is(error, 'integer out of range', 'the insert of a model failed as the owner') FROM evil.after_error;
SELECT is(who, 'hostile', 'after the caught error the user is hostile again') FROM evil.after_error;
SELECT is(path, 'evil, pg_catalog', 'after the caught error search_path is the caller''s again') FROM evil.after_error;
SELECT is(temp_ok, true, 'after the caught error hostile may create a temporary table (no restricted operation)')
  FROM evil.after_error;
SELECT is((SELECT count(*) FROM evil.calls WHERE who <> 'hostile'), 0::bigint,
	'the failed call ran nothing as another role either');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'hostile'), false,
	'hostile is still not a superuser');

SELECT * FROM finish();
ROLLBACK;
