-- test/pgtap/40_lineage.sql: the privileges of the lineage, model card,
-- export and import functions (issue 11)
--
-- gov_owner owns project gp (an xgboost and a linear model); gov_other
-- holds nothing on it, then predict, train, deploy and admin.  Each
-- function refuses without its privilege (42501): model_card needs
-- predict, annotate, set_reference and import into an existing project
-- train (and deploy when the import deploys), export_model admin.
BEGIN;
SELECT plan(22);

CREATE TABLE gov_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, (i % 7) / 7.0 AS b, ((i % 17) / 17.0 + (i % 7) / 7.0 > 1)::int AS y
  FROM generate_series(1, 300) i;
GRANT SELECT ON gov_t TO PUBLIC;
CREATE ROLE gov_owner;
CREATE ROLE gov_other;

SET client_min_messages = error;
\o /dev/null
SET ROLE gov_owner;
SELECT model_id AS xm FROM mlops.train('gp', 'gov_t', 'y', exclude => '{id}', hyperparams => '{"n_estimators": 5}') \gset
SELECT model_id AS lm FROM mlops.train('gp', 'gov_t', 'y', algorithm => 'logistic', exclude => '{id}', deploy => 'never') \gset
SELECT mlops.export_model(:xm) AS doc \gset
SELECT mlops.export_model(:xm)->'model' AS booster \gset
RESET ROLE;
\o

SET ROLE gov_other;
SELECT throws_ok(format('SELECT mlops.model_card(%s)', :xm), '42501', NULL, 'model_card needs predict');
SELECT throws_ok(format('SELECT mlops.annotate(%s, %L)', :xm, 'x'), '42501', NULL, 'annotate needs a privilege');
SELECT throws_ok(format('SELECT mlops.export_model(%s)', :xm), '42501', NULL, 'export_model needs a privilege');
SELECT throws_ok(format('SELECT mlops.set_reference(%s, %L)', :xm, 'gov_t'), '42501', NULL, 'set_reference needs a privilege');
SELECT throws_ok(format('SELECT * FROM mlops.import_model(%L, %L)', 'gp', :'doc'), '42501', NULL,
	'import_model into another role''s project needs a privilege');
SELECT throws_ok(format('SELECT * FROM mlops.import_xgboost(%L, %L, %L, %L)', 'gp', :'booster', '{a,b}', 'classification'),
	'42501', NULL, 'import_xgboost into another role''s project needs a privilege');
SELECT is((SELECT count(*) FROM mlops.lineage WHERE project = 'gp'), 0::bigint, 'lineage shows no row of gp without a privilege');

RESET ROLE;
SELECT mlops.grant('gp', 'gov_other', 'predict');
SET ROLE gov_other;
SELECT is((SELECT count(*) FROM mlops.lineage WHERE project = 'gp'), 2::bigint, 'with predict, lineage shows gp''s models');
SELECT ok(mlops.model_card(:xm) LIKE '# Model card: gp, version 1%', 'with predict, model_card works');
SELECT throws_ok(format('SELECT mlops.annotate(%s, %L)', :xm, 'x'), '42501', NULL, 'annotate needs train, not predict');
SELECT throws_ok(format('SELECT mlops.set_reference(%s, %L)', :xm, 'gov_t'), '42501', NULL, 'set_reference needs train');
SELECT throws_ok(format('SELECT mlops.export_model(%s)', :xm), '42501', NULL, 'export_model needs admin, not predict');

RESET ROLE;
SELECT mlops.grant('gp', 'gov_other', 'train');
SET ROLE gov_other;
SELECT lives_ok(format('SELECT mlops.annotate(%s, %L, %L)', :xm, 'reviewed', '{"by": "gov_other"}'), 'with train, annotate works');
SELECT lives_ok(format('SELECT mlops.set_reference(%s, %L)', :xm, 'gov_t'), 'with train, set_reference works');
SELECT throws_ok(format('SELECT * FROM mlops.import_model(%L, %L)', 'gp', :'doc'), '42501', NULL,
	'an import that may deploy needs deploy as well');
SELECT is((SELECT deployed FROM mlops.import_model('gp', :'doc', deploy => 'never')), false,
	'with train, import_model deploy never works');
SELECT throws_ok(format('SELECT mlops.export_model(%s)', :xm), '42501', NULL, 'export_model needs admin, not train');

RESET ROLE;
SELECT mlops.grant('gp', 'gov_other', 'deploy');
SET ROLE gov_other;
SELECT is((SELECT deployed FROM mlops.import_xgboost('gp', :'booster', '{a,b}', 'classification', labels => '{0,1}',
	target => 'y', deploy => 'always')), true, 'with deploy, import_xgboost deploys');

RESET ROLE;
SELECT mlops.grant('gp', 'gov_other', 'admin');
SET ROLE gov_other;
SELECT is((SELECT mlops.export_model(:lm)->>'format'), 'mlops-model', 'with admin, export_model works');

-- a role imports into a new project of its own
SELECT is((SELECT project FROM mlops.import_model('gov_other_copy', :'doc')), 'gov_other_copy', 'import creates a project');
SELECT is((SELECT created_by::text FROM mlops.projects WHERE name = 'gov_other_copy'), 'gov_other',
	'the imported project belongs to the importer');
RESET ROLE;
SELECT mlops.revoke('gp', 'gov_other', 'admin');
SET ROLE gov_owner;
SELECT is((SELECT count(*) FROM mlops.lineage WHERE project = 'gov_other_copy'), 0::bigint,
	'the owner of the exported model does not see the importer''s project');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
