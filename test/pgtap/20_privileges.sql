-- test/pgtap/20_privileges.sql: per-project privileges, row-level security
-- and column privileges of the registry
--
-- alice owns project ap (with a model, a deployment, an evaluation, a drift
-- report, a job, a schedule and a grant), carol owns project cp.  bob holds
-- nothing on ap, then predict, then train, deploy and admin; carol gets ap
-- through PUBLIC.  Every function refuses without its privilege (42501),
-- every registry table and view shows bob no row of ap until he holds a
-- privilege on it and then exactly ap's rows, never cp's; the training data
-- columns of mlops.models stay unreadable with predict; a revoke reaches an
-- already prepared predict; SET ROLE is rechecked.
BEGIN;
SELECT plan(130);

CREATE TABLE priv_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, (i % 7) / 7.0 AS b, ((i % 17) / 17.0 + (i % 7) / 7.0 > 1)::int AS y
  FROM generate_series(1, 300) i;
GRANT SELECT ON priv_t TO PUBLIC;
CREATE ROLE priv_alice;
CREATE ROLE priv_bob;
CREATE ROLE priv_carol;

SET client_min_messages = error;
\o /dev/null
SET ROLE priv_alice;
SELECT version FROM mlops.train('ap', 'priv_t', 'y', algorithm => 'logistic', exclude => '{id}');
SELECT mlops.evaluate('ap', 'priv_t');
SELECT count(*) FROM mlops.drift('ap', 'priv_t');
SELECT mlops.schedule('ap', '1 day');
SELECT mlops.train_async('ap', 'priv_t', 'y', algorithm => 'logistic', exclude => '{id}') AS job \gset
SELECT mlops.grant('ap', 'priv_carol', 'approve');
SET ROLE priv_carol;
SELECT version FROM mlops.train('cp', 'priv_t', 'y', algorithm => 'logistic', exclude => '{id}');
RESET ROLE;
\o

-- ap's rows of every table and view, as a superuser sees them
CREATE TEMP TABLE ap_rows AS
SELECT 'projects' AS rel, id::text AS key FROM mlops.projects WHERE name = 'ap'
UNION ALL SELECT 'models', m.id::text FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id WHERE p.name = 'ap'
UNION ALL SELECT 'deployments', d.id::text FROM mlops.deployments d JOIN mlops.projects p ON p.id = d.project_id WHERE p.name = 'ap'
UNION ALL SELECT 'evaluations', e.id::text FROM mlops.evaluations e JOIN mlops.models m ON m.id = e.model_id
	JOIN mlops.projects p ON p.id = m.project_id WHERE p.name = 'ap'
UNION ALL SELECT 'events', id::text FROM mlops.events WHERE project = 'ap'
UNION ALL SELECT 'drift_reports', r.id::text FROM mlops.drift_reports r JOIN mlops.projects p ON p.id = r.project_id WHERE p.name = 'ap'
UNION ALL SELECT 'drift_results', f.report_id || ':' || f.position FROM mlops.drift_results f
	JOIN mlops.drift_reports r ON r.id = f.report_id JOIN mlops.projects p ON p.id = r.project_id WHERE p.name = 'ap'
UNION ALL SELECT 'jobs', id::text FROM mlops.jobs WHERE project = 'ap'
UNION ALL SELECT 'schedules', id::text FROM mlops.schedules WHERE project = 'ap'
UNION ALL SELECT 'project_grants', g.privilege FROM mlops.project_grants g JOIN mlops.projects p ON p.id = g.project_id WHERE p.name = 'ap';
SELECT id AS ap_model FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'ap') \gset

-- the key of each row a registry table shows the current user
CREATE TEMP VIEW visible_rows WITH (security_invoker = true) AS
SELECT 'projects' AS rel, id::text AS key FROM mlops.projects
UNION ALL SELECT 'models', id::text FROM mlops.models
UNION ALL SELECT 'deployments', id::text FROM mlops.deployments
UNION ALL SELECT 'evaluations', id::text FROM mlops.evaluations
UNION ALL SELECT 'events', id::text FROM mlops.events
UNION ALL SELECT 'drift_reports', id::text FROM mlops.drift_reports
UNION ALL SELECT 'drift_results', report_id || ':' || position FROM mlops.drift_results
UNION ALL SELECT 'jobs', id::text FROM mlops.jobs
UNION ALL SELECT 'schedules', id::text FROM mlops.schedules
UNION ALL SELECT 'project_grants', privilege FROM mlops.project_grants;

-- the projects each view shows the current user
CREATE TEMP VIEW visible_projects WITH (security_invoker = true) AS
SELECT 'overview' AS rel, project FROM mlops.overview
UNION ALL SELECT 'deployed_models', p.name FROM mlops.deployed_models d JOIN mlops.projects p ON p.id = d.project_id
UNION ALL SELECT 'model_metrics', project FROM mlops.model_metrics
UNION ALL SELECT 'model_features', project FROM mlops.model_features
UNION ALL SELECT 'feature_importance', project FROM mlops.feature_importance
UNION ALL SELECT 'events_log', project FROM mlops.events_log
UNION ALL SELECT 'drift_history', project FROM mlops.drift_history
UNION ALL SELECT 'drift_status', project FROM mlops.drift_status
UNION ALL SELECT 'project_privileges', project FROM mlops.project_privileges;

-- a cheap condition that fails when it is shown a model of ap, to catch a
-- view that evaluates the caller's conditions before its privilege test
CREATE FUNCTION pg_temp.peek(id bigint) RETURNS boolean LANGUAGE plpgsql STABLE COST 0.0001
AS $$BEGIN
	IF id::text IN (SELECT key FROM ap_rows WHERE rel = 'models') THEN
		RAISE EXCEPTION 'a condition was shown model %', id;
	END IF;
	RETURN true;
END$$;

-- pgTAP's bookkeeping and these helpers, for the roles the tests switch to
DO $$
BEGIN
	EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
	EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
END $$;

SELECT is((SELECT count(DISTINCT rel) FROM ap_rows), 10::bigint, 'project ap has rows in all 10 registry tables');

-- --- bob holds nothing on ap ------------------------------------------------
SET ROLE priv_bob;

SELECT is((SELECT count(*) FROM visible_rows v WHERE v.rel = t), 0::bigint,
		  format('without a privilege, bob sees no row of mlops.%s', t))
  FROM unnest(ARRAY['projects', 'models', 'deployments', 'evaluations', 'events', 'drift_reports',
	'drift_results', 'jobs', 'schedules', 'project_grants']) AS t;
SELECT is((SELECT count(*) FROM visible_projects v WHERE v.rel = t), 0::bigint,
		  format('without a privilege, bob sees no row of view mlops.%s', t))
  FROM unnest(ARRAY['overview', 'deployed_models', 'model_metrics', 'model_features', 'feature_importance',
	'events_log', 'drift_history', 'drift_status', 'project_privileges']) AS t;
SELECT is(mlops.has_project_privilege('ap'), false, 'has_project_privilege(ap) is false for bob');
SELECT lives_ok('SELECT count(*) FROM mlops.model_features WHERE pg_temp.peek(model_id)',
				'a cheap condition on model_features is shown no model of ap (the view is a security barrier)');

SELECT throws_ok(format($$SELECT %s$$, replace(call, 'MODEL', :'ap_model')), '42501',
				 'permission denied for project "ap"', format('without a privilege, bob is refused %s', call))
  FROM unnest(ARRAY[
	$$mlops.predict('ap', ARRAY[0.5, 0.5]::float8[])$$,
	$$mlops.predict(MODEL::bigint, ARRAY[0.5, 0.5]::float8[])$$,
	$$mlops.predict_proba('ap', '{"a": 0.5, "b": 0.5}'::jsonb)$$,
	$$mlops.predict_label('ap', t) FROM priv_t t$$,
	$$mlops.featurize('ap', t) FROM priv_t t$$,
	$$mlops.predict(MODEL, ARRAY[0.5, 0.5])$$,
	$$mlops.predict_label('ap', '{"a": 0.5, "b": 0.5}')$$,
	$$mlops.featurize(MODEL, '{"a": "0.5", "b": 0.5}')$$,
	$$* FROM mlops.weights(MODEL)$$,
	$$mlops.evaluate('ap', 'priv_t')$$,
	$$* FROM mlops.drift('ap', 'priv_t')$$,
	$$* FROM mlops.train('ap', 'priv_t', 'y', algorithm => 'logistic', exclude => '{id}', deploy => 'never')$$,
	$$mlops.train_async('ap', 'priv_t', 'y', deploy => 'never')$$,
	$$* FROM mlops.retrain('ap', force => true, policy => '{"deploy": "never"}')$$,
	$$mlops.schedule('ap', '1 hour', policy => '{"deploy": "never"}')$$,
	$$mlops.unschedule('ap')$$,
	$$* FROM mlops.deploy('ap', 'most_recent')$$,
	$$mlops.drop_model(MODEL)$$,
	$$mlops.drop_project('ap')$$,
	$$mlops.grant('ap', 'priv_bob', 'predict')$$,
	$$mlops.revoke('ap', 'priv_carol', 'approve')$$]) AS call;
SELECT throws_ok(format('SELECT mlops.cancel_job(%s)', :job), '42501', NULL,
				 'bob cannot cancel alice''s job');

-- --- bob gets predict ---------------------------------------------------------
RESET ROLE;
SET ROLE priv_alice;
SELECT lives_ok($$SELECT mlops.grant('ap', 'priv_bob', 'predict')$$, 'alice grants bob predict');
SET ROLE priv_bob;

SELECT set_eq(format('SELECT key FROM visible_rows WHERE rel = %L', t),
			  format('SELECT key FROM ap_rows WHERE rel = %L', t),
			  format('with predict, bob sees exactly ap''s rows of mlops.%s', t))
  FROM unnest(ARRAY['projects', 'models', 'deployments', 'evaluations', 'drift_reports',
	'drift_results', 'jobs', 'schedules']) AS t;
SELECT set_eq($$SELECT key FROM visible_rows WHERE rel = 'events'$$,
			  $$SELECT key FROM ap_rows WHERE rel = 'events'
				UNION ALL SELECT id::text FROM mlops.events WHERE action = 'grant' AND detail->>'role' = 'priv_bob'$$,
			  'with predict, bob sees exactly ap''s events (the grant included)');
SELECT set_eq($$SELECT key FROM visible_rows WHERE rel = 'project_grants'$$,
			  ARRAY['approve', 'predict'], 'with predict, bob sees ap''s grants');
SELECT set_eq(format('SELECT DISTINCT project FROM visible_projects WHERE rel = %L', t), ARRAY['ap'],
			  format('with predict, bob sees project ap (only) in view mlops.%s', t))
  FROM unnest(ARRAY['overview', 'deployed_models', 'model_metrics', 'model_features', 'feature_importance',
	'events_log', 'drift_history', 'drift_status', 'project_privileges']) AS t;
SELECT set_eq($$SELECT role || ' ' || privilege FROM mlops.project_privileges$$,
			  ARRAY['priv_alice admin', 'priv_carol approve', 'priv_bob predict'],
			  'project_privileges lists the owner as admin and the grants');

SELECT lives_ok(format($$SELECT %s$$, replace(call, 'MODEL', :'ap_model')),
				format('with predict, bob may call %s', call))
  FROM unnest(ARRAY[
	$$mlops.predict('ap', ARRAY[0.5, 0.5]::float8[])$$,
	$$mlops.predict(MODEL::bigint, ARRAY[0.5, 0.5]::float8[])$$,
	$$mlops.predict_proba('ap', '{"a": 0.5, "b": 0.5}'::jsonb)$$,
	$$mlops.predict_label('ap', t) FROM priv_t t$$,
	$$mlops.featurize('ap', t) FROM priv_t t$$,
	$$mlops.predict(MODEL, ARRAY[0.5, 0.5])$$,
	$$mlops.predict_label('ap', '{"a": 0.5, "b": 0.5}')$$,
	$$mlops.featurize(MODEL, '{"a": "0.5", "b": 0.5}')$$,
	$$* FROM mlops.weights(MODEL)$$]) AS call;
SELECT is(mlops.predict('ap', ARRAY[0.9, 0.9]::float8[]), 1::float8, 'and predict scores');

SELECT throws_ok(format('SELECT %I FROM mlops.models', c), '42501', 'permission denied for table models',
				 format('even with predict, mlops.models.%s is not readable', c))
  FROM unnest(ARRAY['profile', 'features', 'model']) AS c;
SELECT throws_ok('SELECT * FROM mlops.models', '42501', 'permission denied for table models',
				 'SELECT * on mlops.models is refused (it names the training data columns)');
SELECT throws_ok(format($$SELECT %s$$, call), '42501', 'permission denied for project "ap"',
				 format('predict is not enough for %s', call))
  FROM unnest(ARRAY[
	$$mlops.evaluate('ap', 'priv_t')$$,
	$$* FROM mlops.train('ap', 'priv_t', 'y', algorithm => 'logistic', exclude => '{id}', deploy => 'never')$$,
	$$* FROM mlops.deploy('ap', 'most_recent')$$,
	$$mlops.grant('ap', 'priv_carol', 'predict')$$]) AS call;
SELECT is((SELECT count(*) FROM visible_rows WHERE key IN (SELECT id::text FROM mlops.projects WHERE name = 'cp')
		   AND rel = 'projects'), 0::bigint, 'bob still sees nothing of carol''s project cp');
SELECT is(mlops.has_project_privilege('cp'), false, 'has_project_privilege(cp) is false for bob');
SELECT is(mlops.has_project_privilege('ap', 'predict'), true, 'has_project_privilege(ap, predict) is true');
SELECT is(mlops.has_project_privilege('ap', 'train'), false, 'has_project_privilege(ap, train) is false');

-- a prepared predict: the revoke is seen at its next execution
PREPARE bob_predict AS SELECT mlops.predict('ap', ARRAY[a, b]::float8[]) FROM priv_t;
SELECT lives_ok('EXECUTE bob_predict', 'bob''s prepared predict runs');
RESET ROLE;
SET ROLE priv_alice;
SELECT is(mlops.revoke('ap', 'priv_bob', 'predict'), true, 'alice revokes bob''s predict');
SELECT is(mlops.revoke('ap', 'priv_bob', 'predict'), false, 'revoking it again revokes nothing');
SET ROLE priv_bob;
SELECT throws_ok('EXECUTE bob_predict', '42501', 'permission denied for project "ap"',
				 'the prepared predict is refused at its next execution');
SELECT is((SELECT count(*) FROM mlops.models), 0::bigint, 'and bob sees ap''s models no more');

-- --- train, deploy, admin ------------------------------------------------------
RESET ROLE;
SET ROLE priv_alice;
SELECT lives_ok($$SELECT mlops.grant('ap', 'priv_bob', 'train')$$, 'alice grants bob train');
SET ROLE priv_bob;
SELECT lives_ok($$SELECT * FROM mlops.train('ap', 'priv_t', 'y', algorithm => 'logistic', exclude => '{id}',
				  deploy => 'never')$$, 'with train, bob trains in ap without deploying');
SELECT throws_ok($$SELECT * FROM mlops.train('ap', 'priv_t', 'y', algorithm => 'logistic', exclude => '{id}')$$,
				 '42501', 'permission denied for project "ap"',
				 'training that may deploy (deploy => auto) also needs deploy');
SELECT lives_ok($$SELECT mlops.evaluate('ap', 'priv_t')$$, 'with train, bob evaluates');
SELECT lives_ok($$SELECT * FROM mlops.drift('ap', 'priv_t')$$, 'with train, bob checks drift');
SELECT lives_ok($$SELECT mlops.schedule('ap', '1 hour', policy => '{"deploy": "never"}')$$,
				'with train, bob schedules a retrain that does not deploy');
SELECT throws_ok($$SELECT mlops.predict('ap', ARRAY[0.5, 0.5]::float8[])$$, '42501',
				 'permission denied for project "ap"', 'train does not give predict');
SELECT throws_ok($$SELECT * FROM mlops.deploy('ap', 'most_recent')$$, '42501',
				 'permission denied for project "ap"', 'train does not give deploy');
RESET ROLE;
SET ROLE priv_alice;
SELECT lives_ok($$SELECT mlops.grant('ap', 'priv_bob', 'deploy')$$, 'alice grants bob deploy');
SET ROLE priv_bob;
SELECT lives_ok($$SELECT * FROM mlops.deploy('ap', 'most_recent')$$, 'with deploy, bob deploys');
SELECT throws_ok(format('SELECT mlops.drop_model(%s)', :ap_model), '42501',
				 'permission denied for project "ap"', 'dropping a model needs admin');
SELECT throws_ok($$SELECT mlops.revoke('ap', 'priv_carol', 'approve')$$, '42501',
				 'permission denied for project "ap"', 'bob, no admin, cannot revoke');
RESET ROLE;
SET ROLE priv_alice;
SELECT lives_ok($$SELECT mlops.grant('ap', 'priv_bob', 'admin')$$, 'alice grants bob admin');
SET ROLE priv_bob;
SELECT is(mlops.has_project_privilege('ap', p), true, format('admin holds %s', p))
  FROM unnest(ARRAY['predict', 'train', 'deploy', 'approve', 'admin']) AS p;
SELECT lives_ok($$SELECT mlops.grant('ap', 'priv_carol', 'predict')$$, 'with admin, bob grants');
SELECT lives_ok(format('SELECT mlops.cancel_job(%s)', :job), 'with admin, bob cancels alice''s job');
SELECT lives_ok(format('SELECT mlops.drop_model(%s)', :ap_model), 'with admin, bob drops a model');

-- --- SET ROLE within a session is rechecked -------------------------------------
PREPARE who_predicts AS SELECT mlops.predict('ap', ARRAY[0.5, 0.5]::float8[]);
RESET ROLE;
SET ROLE priv_alice;
SELECT lives_ok($$SELECT mlops.revoke('ap', 'priv_carol', 'predict')$$, 'alice revokes carol''s predict');
SET ROLE priv_bob;
SELECT lives_ok('EXECUTE who_predicts', 'bob predicts');
SET ROLE priv_carol;
SELECT throws_ok('EXECUTE who_predicts', '42501', 'permission denied for project "ap"',
				 'after SET ROLE carol, the same statement is refused');
SET ROLE priv_bob;
SELECT lives_ok('EXECUTE who_predicts', 'and after SET ROLE bob, allowed again');

-- --- PUBLIC ---------------------------------------------------------------------
SET ROLE priv_alice;
SELECT lives_ok($$SELECT mlops.grant('ap', 'public', 'predict')$$, 'alice grants public predict');
SET ROLE priv_carol;
SELECT lives_ok('EXECUTE who_predicts', 'carol predicts through public');
SELECT ok((SELECT count(*) FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'ap')) > 0,
		  'and sees ap''s models');
SELECT set_eq($$SELECT role FROM mlops.project_privileges WHERE project = 'ap' AND privilege = 'predict'$$,
			  ARRAY['public'], 'project_privileges names the grant to public');
SET ROLE priv_alice;
SELECT is(mlops.revoke('ap', 'public', 'predict'), true, 'alice revokes public predict');
SET ROLE priv_carol;
SELECT throws_ok('EXECUTE who_predicts', '42501', 'permission denied for project "ap"',
				 'then carol is refused');

-- --- bad arguments ---------------------------------------------------------------
SET ROLE priv_alice;
SELECT throws_ok($$SELECT mlops.grant('ap', 'priv_nobody', 'predict')$$, '42704',
				 'role "priv_nobody" does not exist', 'grant to an unknown role');
SELECT throws_ok($$SELECT mlops.grant('ap', 'priv_bob', 'fly')$$, '22023',
				 'unknown project privilege "fly"', 'grant of an unknown privilege');
SELECT throws_ok($$SELECT mlops.grant('nope', 'priv_bob', 'predict')$$, '42704',
				 'project "nope" does not exist', 'grant on an unknown project');
SELECT throws_ok($$SELECT mlops.grant('ap', NULL, 'predict')$$, '22004', NULL, 'grant to NULL');
SELECT throws_ok($$SELECT mlops.has_project_privilege('ap', 'fly')$$, '22023',
				 'unknown project privilege "fly"', 'has_project_privilege of an unknown privilege');
SELECT is(mlops.has_project_privilege('nope'), false, 'has_project_privilege of an unknown project is false');
SELECT ok((SELECT count(*) FROM mlops.events WHERE action IN ('grant', 'revoke') AND project = 'ap') >= 10,
		  'grants and revokes are logged in mlops.events');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
