-- test/pgtap/50_citus.sql: the Citus registry replication without Citus
-- (issue 15; test/integration/citus.sh runs it on a Citus cluster)
--
-- Without Citus the capture triggers change nothing and store nothing;
-- mlops.citus_setup() is for superusers and needs a Citus coordinator; the
-- trigger functions cannot be called directly; nobody but the owner reads
-- or writes mlops.registry_changes.
BEGIN;
SELECT plan(9);

CREATE TABLE cit_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, (i % 7) / 7.0 AS b FROM generate_series(1, 200) i;
GRANT SELECT ON cit_t TO PUBLIC;
CREATE ROLE cit_user;

SET client_min_messages = error;
\o /dev/null
SELECT model_id AS m FROM mlops.train('cit', 'cit_t', 'a', algorithm => 'linear', exclude => '{id}') \gset
SELECT mlops.grant('cit', 'cit_user', 'predict');
SELECT mlops.deploy('cit', 'specific', :m);
\o

SELECT is((SELECT count(*) FROM mlops.registry_changes), 0::bigint,
	'without Citus, training, granting and deploying leave mlops.registry_changes empty');
SELECT throws_ok('SELECT mlops.citus_setup()', '55000', 'this node is not the coordinator of a Citus cluster',
	'citus_setup needs a Citus coordinator');
SELECT throws_ok('SELECT mlops.registry_capture()', NULL, NULL,
	'registry_capture cannot be called directly');
SELECT lives_ok(format('INSERT INTO mlops.registry_changes VALUES (''models'', ''DELETE'', ''{"id": %s}'')', :m),
	'without Citus, an inserted change is not applied...');
SELECT is((SELECT count(*) FROM mlops.registry_changes), 0::bigint, '... nor stored');

SET ROLE cit_user;
SELECT throws_ok('SELECT mlops.citus_setup()', '42501', 'permission denied for function mlops.citus_setup',
	'citus_setup is for superusers');
SELECT throws_ok('SELECT * FROM mlops.registry_changes', '42501', NULL,
	'cit_user cannot read mlops.registry_changes');
SELECT throws_ok('INSERT INTO mlops.registry_changes VALUES (''projects'', ''RESET'', NULL)', '42501', NULL,
	'cit_user cannot write mlops.registry_changes (so cannot reach the apply trigger)');
SELECT is((SELECT count(*) FROM mlops.models WHERE id = :m), 1::bigint,
	'the model is still there');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
