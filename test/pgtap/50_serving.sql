-- test/pgtap/50_serving.sql: who sees and resets serving statistics, and
-- who sees logged predictions (issue 12)
--
-- srv_owner owns project sp, srv_other owns project so; each scores its
-- own.  srv_other sees only so's statistics and logged predictions until
-- granted a privilege on sp; its reset leaves sp's statistics alone until
-- it holds admin on sp.  Nobody but the extension's owner writes
-- mlops.predictions or reads its partitions directly, and only a
-- superuser turns mlops.track_serving off.
BEGIN;
SELECT plan(18);

CREATE TABLE srv_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, (i % 7) / 7.0 AS b, ((i % 17) / 17.0 + (i % 7) / 7.0 > 1)::int AS y
  FROM generate_series(1, 200) i;
GRANT SELECT ON srv_t TO PUBLIC;
CREATE ROLE srv_owner;
CREATE ROLE srv_other;

SET client_min_messages = error;
\o /dev/null
SET ROLE srv_owner;
SELECT model_id AS pm FROM mlops.train('sp', 'srv_t', 'y', algorithm => 'logistic', exclude => '{id}') \gset
SELECT count(mlops.predict('sp', t)) FROM srv_t t;
SET ROLE srv_other;
SELECT model_id AS om FROM mlops.train('so', 'srv_t', 'y', algorithm => 'logistic', exclude => '{id}') \gset
SELECT count(mlops.predict('so', t)) FROM srv_t t WHERE id <= 50;
RESET ROLE;
INSERT INTO mlops.predictions (project, model_id, variant, key, predicted_at, prediction)
VALUES ('sp', :pm, 'champion', '1', now(), 1), ('so', :om, 'champion', '2', now(), 0);
\o

SET ROLE srv_other;
SELECT set_eq($$SELECT project, calls FROM mlops.serving_stats WHERE project IN ('sp', 'so')$$,
	$$VALUES ('so', 50::bigint)$$, 'a role sees the statistics of its own project only');
SELECT is((SELECT count(*) FROM mlops.serving_stats_entries() WHERE model_id = :pm), 0::bigint,
	'the function under the view hides the other project''s entries too');
SELECT set_eq($$SELECT project, key FROM mlops.predictions WHERE project IN ('sp', 'so')$$,
	$$VALUES ('so', '2')$$, 'a role sees the logged predictions of its own project only');
SELECT lives_ok('SELECT mlops.serving_stats_reset()', 'anyone may call serving_stats_reset');
SELECT is((SELECT count(*) FROM mlops.serving_stats WHERE project = 'so'), 0::bigint,
	'it resets the projects the caller administers');
SELECT throws_ok($$INSERT INTO mlops.predictions (project, model_id, variant, predicted_at) VALUES ('so', 1, 'champion', now())$$,
	'42501', NULL, 'nobody writes mlops.predictions directly');
SELECT throws_ok($$DELETE FROM mlops.predictions$$, '42501', NULL, 'nor deletes from it');
SELECT throws_ok($$SELECT * FROM mlops.predictions_default$$, '42501', NULL,
	'a partition of mlops.predictions is not read directly (its row-level security is the partitioned table''s)');
SELECT throws_ok($$INSERT INTO mlops.predictions_default (project, model_id, variant, predicted_at) VALUES ('so', 1, 'champion', now())$$,
	'42501', NULL, 'nor written');
SELECT throws_ok($$SET mlops.track_serving = off$$, '42501', NULL, 'only a superuser turns mlops.track_serving off');
RESET ROLE;
SELECT is((SELECT calls FROM mlops.serving_stats WHERE project = 'sp'), 200::bigint,
	'another role''s reset leaves sp''s statistics alone');

SET ROLE srv_owner;
SELECT mlops.grant('sp', 'srv_other', 'predict');
SET ROLE srv_other;
SELECT is((SELECT calls FROM mlops.serving_stats WHERE project = 'sp'), 200::bigint,
	'with predict on sp, srv_other sees its statistics');
SELECT is((SELECT count(*) FROM mlops.predictions WHERE project = 'sp'), 1::bigint,
	'and its logged predictions');
SELECT lives_ok('SELECT mlops.serving_stats_reset()', 'a reset with predict on sp');
SELECT is((SELECT calls FROM mlops.serving_stats WHERE project = 'sp'), 200::bigint,
	'does not reset sp (that needs admin)');
SET ROLE srv_owner;
SELECT mlops.grant('sp', 'srv_other', 'admin');
SET ROLE srv_other;
SELECT lives_ok('SELECT mlops.serving_stats_reset()', 'a reset with admin on sp');
SELECT is((SELECT count(*) FROM mlops.serving_stats WHERE project = 'sp'), 0::bigint, 'resets sp');
RESET ROLE;
SELECT is((SELECT count(*) FROM mlops.serving_stats WHERE project IN ('sp', 'so')), 0::bigint,
	'the superuser sees no statistics left of either');

SELECT * FROM finish();
ROLLBACK;
