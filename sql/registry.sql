-- deploy, rollback, evaluate, drop, views, events and privileges
\i sql/include/datasets.psql

-- the projects of this file
SELECT FROM pg_catalog.setval('mlops.models_id_seq', 60000);
SELECT FROM mlops.train('rg_iris', 'iris', 'species');
SELECT FROM mlops.train('rg_iris', 'iris', 'species', algorithm => 'logistic', deploy => 'never');
SELECT FROM mlops.train('rg_diabetes', 'diabetes', 'progression', algorithm => 'linear');
SELECT FROM mlops.train('rg_diabetes', 'diabetes', 'progression', algorithm => 'ridge', hyperparams => '{"alpha": 10}');
SELECT FROM mlops.train('rg_diabetes', 'diabetes', 'progression', algorithm => 'lasso', hyperparams => '{"alpha": 0.5}');
SELECT FROM mlops.train('rg_diabetes', 'diabetes', 'progression', algorithm => 'elastic_net');
SELECT FROM mlops.train('rg_diabetes', 'diabetes', 'progression', hyperparams => '{"n_estimators": 50, "max_depth": 3}');
CREATE TABLE rg_small AS SELECT g AS x, g * 2.5 AS val FROM generate_series(1, 60) g;
SELECT FROM mlops.train('rg_small_reg', 'rg_small', 'val', features => '{x}');
SELECT FROM mlops.train('rg_all_rows', 'rg_small', 'val', features => '{x}', test_size => 0, algorithm => 'linear');

SELECT project, task, target, version, algorithm, metric, round(score::numeric, 4) AS score
  FROM mlops.overview WHERE project LIKE 'rg\_%' ORDER BY project;

-- strategies
SELECT project, version, strategy FROM mlops.deploy('rg_diabetes', 'most_recent');
SELECT project, version, strategy FROM mlops.deploy('rg_diabetes', 'best_score');
SELECT (SELECT model_id FROM mlops.overview WHERE project = 'rg_diabetes') =
       (SELECT id FROM mlops.models m WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'rg_diabetes')
         ORDER BY (metrics->>'r2')::float8 DESC LIMIT 1) AS best_is_deployed;
SELECT m.id AS lasso FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
 WHERE p.name = 'rg_diabetes' AND m.algorithm = 'lasso' \gset
SELECT project, version, strategy FROM mlops.deploy('rg_diabetes', 'specific', :lasso);
SELECT algorithm FROM mlops.overview WHERE project = 'rg_diabetes';
SELECT project, version, strategy FROM mlops.deploy('rg_diabetes', 'rollback');
SELECT algorithm FROM mlops.overview WHERE project = 'rg_diabetes';

-- a rolled-back deploy changes nothing, also for predict in this session
SELECT mlops.predict('rg_diabetes', d) AS before FROM diabetes d WHERE ctid = '(0,1)' \gset
BEGIN;
SELECT version FROM mlops.deploy('rg_diabetes', 'specific', :lasso);
SELECT mlops.predict('rg_diabetes', d) <> :before AS changed_inside FROM diabetes d WHERE ctid = '(0,1)';
ROLLBACK;
SELECT mlops.predict('rg_diabetes', d) = :before AS unchanged_after FROM diabetes d WHERE ctid = '(0,1)';

-- auto deploy keeps the better model; always replaces it; never does not
SELECT deployed FROM mlops.train('rg_diabetes', 'diabetes', 'progression', algorithm => 'lasso',
                                 hyperparams => '{"alpha": 100}');
SELECT deployed FROM mlops.train('rg_diabetes', 'diabetes', 'progression', algorithm => 'lasso',
                                 hyperparams => '{"alpha": 100}', deploy => 'always');
SELECT project, version, strategy FROM mlops.deploy('rg_diabetes', 'best_score');

-- evaluate: metrics on labeled rows, recorded
SELECT round((e->>'accuracy')::numeric, 3) AS accuracy, e->'rows' AS rows, e ? 'roc_auc' AS has_auc
  FROM mlops.evaluate('rg_iris', 'iris') e;
SELECT round((mlops.evaluate('rg_diabetes', 'diabetes')->>'r2')::numeric, 3) > 0.3 AS r2_ok;
SELECT e.relation, e.rows FROM mlops.evaluations e JOIN mlops.models m ON m.id = e.model_id
  JOIN mlops.projects p ON p.id = m.project_id WHERE p.name LIKE 'rg\_%' ORDER BY e.id;
CREATE TABLE iris_new_label AS SELECT * FROM iris;
UPDATE iris_new_label SET species = 'unknown' WHERE ctid = '(0,1)';
SELECT mlops.evaluate('rg_iris', 'iris_new_label');
SELECT mlops.evaluate('rg_iris', 'diabetes');
SELECT mlops.evaluate('rg_iris', 'iris', :lasso);
CREATE TABLE iris_empty AS SELECT * FROM iris WHERE false;
SELECT mlops.evaluate('rg_iris', 'iris_empty');
SELECT mlops.evaluate('nope', 'iris');

-- long-format metrics view
SELECT metric, count(*) FROM mlops.model_metrics WHERE project = 'rg_iris' GROUP BY metric ORDER BY metric;

-- drop
SELECT mlops.drop_model(model_id) FROM mlops.overview WHERE project = 'rg_iris';
SELECT mlops.drop_model(:lasso);
SELECT count(*) FROM mlops.models WHERE id = :lasso;
SELECT mlops.predict(:lasso, d) FROM diabetes d LIMIT 1;
SELECT mlops.drop_model(-5);
SELECT * FROM mlops.deploy('rg_diabetes', 'specific', :lasso);
SELECT * FROM mlops.deploy('rg_diabetes', 'specific');
SELECT * FROM mlops.deploy('rg_diabetes', 'best_score', 1);
SELECT * FROM mlops.deploy('rg_diabetes', 'sideways');
SELECT * FROM mlops.deploy('nope', 'best_score');
SELECT * FROM mlops.deploy('rg_all_rows', 'best_score');
SELECT mlops.drop_project('rg_small_reg');
SELECT mlops.drop_project('rg_small_reg');
SELECT count(*) FROM mlops.projects WHERE name = 'rg_small_reg';

-- the events log
SELECT action, count(*) FROM mlops.events WHERE project LIKE 'rg\_%' GROUP BY action ORDER BY action;
SELECT action, project FROM mlops.events_log WHERE project = 'rg_small_reg' ORDER BY time;

-- privileges: PUBLIC reads the registry rows of the projects it holds a
-- privilege on but cannot write them, and trains only on what it may SELECT
CREATE ROLE regress_mlops_user;
CREATE TABLE secret AS SELECT * FROM iris;
GRANT SELECT ON iris TO regress_mlops_user;
SET ROLE regress_mlops_user;
SELECT count(*) > 0 AS can_read FROM mlops.models;
INSERT INTO mlops.projects (name, task, target) VALUES ('evil', 'regression', 'x');
DELETE FROM mlops.models;
SELECT * FROM mlops.train('mine', 'secret', 'species');
SELECT project, version, deployed FROM mlops.train('mine', 'iris', 'species', hyperparams => '{"n_estimators": 5}');
SELECT created_by FROM mlops.projects WHERE name = 'mine';
SELECT * FROM mlops.deploy('rg_iris', 'most_recent');
SELECT mlops.drop_project('rg_iris');
SELECT * FROM mlops.train('rg_iris', 'iris', 'species');
SELECT mlops.predict_label('rg_iris', i) FROM iris i LIMIT 1;
RESET ROLE;
SELECT mlops.grant('rg_iris', 'regress_mlops_user', 'predict');
SET ROLE regress_mlops_user;
SELECT mlops.predict_label('rg_iris', i) FROM iris i LIMIT 1;
SELECT DISTINCT p.name FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id ORDER BY 1;
RESET ROLE;
SELECT mlops.revoke('rg_iris', 'regress_mlops_user', 'predict');
SELECT mlops.drop_project('mine');
DROP TABLE secret;
REVOKE SELECT ON iris FROM regress_mlops_user;
DROP ROLE regress_mlops_user;

-- every object of the extension has a comment
SELECT c.relname FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'mlops')
   AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'mlops')
   AND obj_description(p.oid, 'pg_proc') IS NULL;
