-- test/pgtap/50_plan_support.sql: the planned form of predict (issue 16) as
-- a second role
--
-- ps_owner owns project psp; ps_other holds nothing on it, then predict.
-- Without the privilege, the planner keeps the row form (its plan is the
-- one of a project that does not exist, so it tells nothing) and the call
-- fails as before (42501); the internal functions refuse or answer false.
-- A plan made by a privileged role and run by another, or after a revoke,
-- falls back to the row form and its error.
BEGIN;
SELECT plan(16);

CREATE TABLE psp_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, (i % 7) / 7.0 AS b, ((i % 17) / 17.0 + (i % 7) / 7.0 > 1)::int AS y
  FROM generate_series(1, 300) i;
GRANT SELECT ON psp_t TO PUBLIC;
CREATE ROLE ps_owner;
CREATE ROLE ps_other;

-- the plan of a statement, its model id shown as N
CREATE FUNCTION psp_plan(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	plan text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || query LOOP
		plan := plan || regexp_replace(line, '''\d+''::bigint', '''N''::bigint', 'g') || E'\n';
	END LOOP;
	RETURN plan;
END
$$;
GRANT EXECUTE ON FUNCTION psp_plan(text) TO PUBLIC;

SET client_min_messages = error;
\o /dev/null
SET ROLE ps_owner;
SELECT model_id AS pm FROM mlops.train('psp', 'psp_t', 'y', exclude => '{id}', hyperparams => '{"n_estimators": 5}') \gset
RESET ROLE;
\o

SET ROLE ps_other;
SELECT throws_ok('SELECT mlops.predict(''psp'', t) FROM psp_t t', '42501', NULL,
	'without predict, the row form fails as before');
SELECT unalike(psp_plan('SELECT mlops.predict(''psp'', t) FROM psp_t t'), '%planned%',
	'without predict, the call is not rewritten');
SELECT is(psp_plan('SELECT mlops.predict(''psp'', t) FROM psp_t t'),
	replace(psp_plan('SELECT mlops.predict(''psp_none'', t) FROM psp_t t'), 'psp_none', 'psp'),
	'the plan is the one of a project that does not exist');
SELECT is(mlops.planned_model_current('psp', :pm), false, 'planned_model_current is false without predict');
SELECT throws_ok(format('SELECT mlops.predict_planned(%s, 0.5, 0.5)', :pm), '42501', NULL,
	'predict_planned needs predict');
SELECT throws_ok(format('SELECT mlops.featurize_planned(%s, 0.5, 0.5)', :pm), '42501', NULL,
	'featurize_planned needs predict');

RESET ROLE;
\o /dev/null
SELECT mlops.grant('psp', 'ps_other', 'predict');
\o
SET ROLE ps_other;
SELECT alike(psp_plan('SELECT mlops.predict(''psp'', t) FROM psp_t t'),
	'%mlops.predict_planned(''N''::bigint, %a, %b)%', 'with predict, the call takes the model''s columns');
SELECT is(mlops.planned_model_current('psp', :pm), true, 'planned_model_current is true with predict');
SELECT is((SELECT count(*) FROM psp_t t
	WHERE mlops.predict_proba('psp', t) IS DISTINCT FROM mlops.predict_proba(:pm, jsonb_build_object('a', t.a, 'b', t.b))),
	0::bigint, 'the planned form scores as the JSON form');

-- a plan made by ps_other and run after a revoke: the row form's error
PREPARE psp_q AS SELECT mlops.predict('psp', t) FROM psp_t t;
SELECT lives_ok('EXECUTE psp_q', 'the prepared statement runs with predict');
SELECT alike(psp_plan('EXECUTE psp_q'), '%predict_planned%', 'the prepared statement is rewritten');
RESET ROLE;
\o /dev/null
SELECT mlops.revoke('psp', 'ps_other', 'predict');
\o
SET ROLE ps_other;
SELECT throws_ok('EXECUTE psp_q', '42501', NULL, 'after the revoke, the prepared statement fails as the row form does');
RESET ROLE;
DEALLOCATE psp_q;

-- a plan made by the owner and run by a role without predict
SET ROLE ps_owner;
PREPARE psp_q2 AS SELECT mlops.predict('psp', t) FROM psp_t t;
SELECT lives_ok('EXECUTE psp_q2', 'the owner''s prepared statement runs');
SELECT alike(psp_plan('EXECUTE psp_q2'), '%predict_planned%', 'the owner''s prepared statement is rewritten');
SET ROLE ps_other;
SELECT throws_ok('EXECUTE psp_q2', '42501', NULL, 'run by a role without predict, it fails as the row form does');
SELECT is(mlops.planned_model_current('psp', :pm), false, 'planned_model_current is false again after the revoke');
RESET ROLE;
DEALLOCATE psp_q2;

SELECT * FROM finish();
ROLLBACK;
