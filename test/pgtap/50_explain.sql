-- test/pgtap/50_explain.sql: explain, explain_global, compare and fairness
-- as unprivileged roles
--
-- ex_alice trains project exa; ex_bob holds nothing at first: he can
-- explain nothing and sees no recorded importance.  With predict on exa he
-- explains exa's rows (the owner's numbers) and records global importance
-- on a relation he can read, but not on one he cannot; ex_carol's project
-- stays closed to him.  compare and fairness read labels, like evaluate:
-- they need train; fairness reports follow the same row-level security.
BEGIN;
SELECT plan(21);

CREATE TABLE ex_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, (i % 7) / 7.0 AS b, ((i % 17) / 17.0 + (i % 7) / 7.0 > 1.2)::int AS y
  FROM generate_series(1, 300) i;
GRANT SELECT ON ex_t TO PUBLIC;
CREATE TABLE ex_secret AS SELECT * FROM ex_t;
CREATE ROLE ex_alice;
CREATE ROLE ex_bob;
CREATE ROLE ex_carol;

SET client_min_messages = error;
\o /dev/null
SET ROLE ex_alice;
SELECT version FROM mlops.train('exa', 'ex_t', 'y', exclude => '{id}', hyperparams => '{"n_estimators": 5}');
SELECT version FROM mlops.train('exa', 'ex_t', 'y', 'logistic', exclude => '{id}', deploy => 'never');
SELECT * FROM mlops.fairness('exa', 'ex_t', '{b}');
SET ROLE ex_carol;
SELECT version FROM mlops.train('exc', 'ex_t', 'y', exclude => '{id}', hyperparams => '{"n_estimators": 5}');
SET ROLE ex_alice;
SELECT * FROM mlops.explain_global('exa', 'ex_t');
RESET ROLE;
\o
SELECT min(id) AS exa_model, max(id) AS exa_linear FROM mlops.models
 WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'exa') \gset
SELECT id AS exc_model FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'exc') \gset
CREATE TEMP TABLE owner_explain AS
SELECT e.* FROM ex_t t, mlops.explain('exa', t) e WHERE t.id <= 20;
GRANT SELECT ON owner_explain TO PUBLIC;
CREATE TEMP TABLE owner_compare AS SELECT * FROM mlops.compare(:exa_model, :exa_linear, 'ex_t');
GRANT SELECT ON owner_compare TO PUBLIC;

SET ROLE ex_bob;
SELECT throws_ok('SELECT * FROM mlops.explain(''exa'', ARRAY[0.5, 0.5]::float8[])', '42501', NULL,
				 'explain without a privilege is refused');
SELECT throws_ok(format('SELECT * FROM mlops.explain(%s, ARRAY[0.5, 0.5]::float8[])', :exa_model), '42501', NULL,
				 'explain of a model id without a privilege is refused');
SELECT throws_ok('SELECT * FROM mlops.explain_global(''exa'', ''ex_t'')', '42501', NULL,
				 'explain_global without a privilege is refused');
SELECT is((SELECT count(*) FROM mlops.global_importance) + (SELECT count(*) FROM mlops.shap_importance),
		  0::bigint, 'bob sees no recorded importance');
RESET ROLE;
SELECT mlops.grant('exa', 'ex_bob', 'predict');
REVOKE SELECT ON ex_secret FROM PUBLIC;
SET ROLE ex_bob;
SELECT results_eq('SELECT e.* FROM ex_t t, mlops.explain(''exa'', t) e WHERE t.id <= 20',
				  'SELECT * FROM owner_explain', 'with predict bob gets the owner''s explanations');
SELECT is((SELECT count(*) FROM mlops.global_importance WHERE project = 'exa' AND mean_abs_shap IS NOT NULL), 2::bigint,
		  'and sees the importance alice recorded');
SELECT is((SELECT count(*) FROM mlops.explain_global('exa', 'ex_t')), 2::bigint,
		  'explain_global records the importance of both inputs');
SELECT is((SELECT computed_by::text FROM mlops.shap_importance WHERE feature = 'a'), 'ex_bob',
		  'recorded as computed by bob');
SELECT throws_ok('SELECT * FROM mlops.explain_global(''exa'', ''ex_secret'')', '42501', NULL,
				 'a relation bob cannot read is refused');
SELECT throws_ok(format('SELECT * FROM mlops.explain(%s, ARRAY[0.5, 0.5]::float8[])', :exc_model), '42501', NULL,
				 'a model of carol''s project is refused');
SELECT throws_ok('INSERT INTO mlops.shap_importance VALUES (1, ''exa'', ''a'', 1, 1, ''x'', now(), ''ex_bob'')',
				 '42501', NULL, 'bob cannot write the importance table');
SELECT is((SELECT count(*) FROM mlops.global_importance WHERE project = 'exc'), 0::bigint,
		  'nor see carol''s');
SELECT is((SELECT count(*) FROM mlops.fairness_reports), 1::bigint, 'bob sees alice''s fairness report');
SELECT throws_ok(format('SELECT * FROM mlops.compare(%s, %s, %L)', :exa_model, :exa_linear, 'ex_t'), '42501', NULL,
				 'compare needs the train privilege');
SELECT throws_ok('SELECT * FROM mlops.fairness(''exa'', ''ex_t'', ''{b}'')', '42501', NULL,
				 'fairness needs the train privilege');
RESET ROLE;
SELECT mlops.grant('exa', 'ex_bob', 'train');
SET ROLE ex_bob;
SELECT results_eq(format('SELECT * FROM mlops.compare(%s, %s, %L)', :exa_model, :exa_linear, 'ex_t'),
				  'SELECT * FROM owner_compare', 'with train bob gets the owner''s comparison');
SELECT is((SELECT count(*) FROM mlops.fairness('exa', 'ex_t', '{b}')), 7::bigint,
		  'and a fairness report of the 7 groups of b');
SELECT is((SELECT count(*) FROM mlops.fairness_results), 14::bigint, 'both reports'' rows are visible to him');
SELECT throws_ok('SELECT * FROM mlops.fairness(''exa'', ''ex_secret'', ''{b}'')', '42501', NULL,
				 'fairness on a relation bob cannot read is refused');
SELECT throws_ok(format('SELECT * FROM mlops.compare(%s, %s, %L)', :exa_model, :exc_model, 'ex_t'), '42501', NULL,
				 'comparing with a model of carol''s project is refused');
RESET ROLE;
SELECT is((SELECT count(*) FROM mlops.fairness_reports), 2::bigint, 'the owner context recorded both reports');

SELECT * FROM finish();
ROLLBACK;
