-- The planner support function of the row forms (issue 16): mlops.predict('p', t)
-- on a table's row is planned as a call on the model's columns, guarded by
-- the model it was planned for; every other case keeps the row form.
\set VERBOSITY default
SET client_min_messages = warning;

CREATE TABLE ps_t AS
SELECT i AS id, (i % 17) / 17.0 AS a, ((i % 7) / 7.0)::real AS b, i % 5 AS c,
       CASE WHEN i % 3 = 0 THEN 'x' WHEN i % 3 = 1 THEN 'y' ELSE 'z' END AS cat,
       ((i % 17) / 17.0 + (i % 7) / 7.0 > 1) AS y, ((i % 17) / 17.0 * 3 + (i % 5)) AS v
  FROM generate_series(1, 400) i;
UPDATE ps_t SET a = NULL WHERE id % 41 = 0;
UPDATE ps_t SET cat = NULL WHERE id % 43 = 0;
\o /dev/null
SELECT mlops.train('ps', 'ps_t', 'y', exclude => '{id,v}', hyperparams => '{"n_estimators": 8}');
SELECT mlops.train('ps_reg', 'ps_t', 'v', exclude => '{id,y}', hyperparams => '{"n_estimators": 8}');
SELECT mlops.train('ps_lin', 'ps_t', 'v', algorithm => 'linear', exclude => '{id,y}');
\o
SELECT model_id AS ps_model FROM mlops.overview WHERE project = 'ps' \gset

-- EXPLAIN with the planned model's id shown as N
CREATE FUNCTION ps_explain(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || query LOOP
		RETURN NEXT regexp_replace(line, '''\d+''::bigint', '''N''::bigint', 'g');
	END LOOP;
END
$$;

-- run a statement: its error (SQLSTATE, message and detail) with model ids shown as N
CREATE FUNCTION ps_try(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text;
	msg text;
	detail text;
BEGIN
	EXECUTE query;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	RETURN regexp_replace(state || ': ' || msg || coalesce(' / ' || nullif(detail, ''), ''), 'model -?\d+', 'model N', 'g');
END
$$;

-- the rewrite: only the model's columns, guarded by the planned model
SELECT ps_explain($$SELECT id, mlops.predict('ps', t) FROM ps_t t$$);
SELECT ps_explain($$SELECT mlops.predict_proba('ps', t), mlops.predict_label('ps', t), mlops.featurize('ps', t) FROM ps_t t WHERE id < 10$$);
-- the same results as the row form (kept from the rewrite by a join), NULLs included
SELECT count(*) AS rows,
       count(*) FILTER (WHERE r.p IS DISTINCT FROM s.p OR r.pr IS DISTINCT FROM s.pr OR r.l IS DISTINCT FROM s.l
                        OR r.f IS DISTINCT FROM s.f OR r.g IS DISTINCT FROM s.g OR r.h IS DISTINCT FROM s.h) AS differ
  FROM (SELECT id, mlops.predict('ps', t) p, mlops.predict_proba('ps', t) pr, mlops.predict_label('ps', t) l,
               mlops.featurize('ps', t) f, mlops.predict('ps_reg', t) g, mlops.predict('ps_lin', t) h FROM ps_t t) r
  JOIN (SELECT t.id, mlops.predict('ps', t) p, mlops.predict_proba('ps', t) pr, mlops.predict_label('ps', t) l,
               mlops.featurize('ps', t) f, mlops.predict('ps_reg', t) g, mlops.predict('ps_lin', t) h
          FROM ps_t t JOIN (VALUES (1)) one(k) ON true) s USING (id);
SELECT ps_explain($$SELECT mlops.predict('ps', t) FROM ps_t t JOIN (VALUES (1)) one(k) ON true$$);

-- a row type with the columns in another order, other types, a domain and extra columns
CREATE DOMAIN ps_real AS real CHECK (VALUE >= 0);
CREATE TABLE ps_other (extra text, cat varchar(3), c numeric, b ps_real, id int, a float8);
INSERT INTO ps_other SELECT 'e', cat, c, b, id, a FROM ps_t;
SELECT ps_explain($$SELECT mlops.predict('ps', o) FROM ps_other o$$);
SELECT count(*) FILTER (WHERE mlops.predict_proba('ps', o) IS DISTINCT FROM
                              (SELECT mlops.predict_proba('ps', t) FROM ps_t t WHERE t.id = o.id)) AS differ
  FROM ps_other o;

-- calls that keep the row form: a project that is not a constant, an unknown or
-- undeployed project, a table without a column the model reads or of a type it
-- cannot read (the row form reports those at execution)
SELECT ps_explain($$SELECT mlops.predict(p, t) FROM ps_t t, (SELECT 'ps'::text AS p) s$$);
SELECT ps_explain($$SELECT mlops.predict('ps_nope', t) FROM ps_t t$$);
SELECT ps_try('SELECT mlops.predict(''ps_nope'', t) FROM ps_t t LIMIT 1');
CREATE TABLE ps_missing AS SELECT a, b, cat FROM ps_t;
SELECT ps_explain($$SELECT mlops.predict('ps', m) FROM ps_missing m$$);
SELECT ps_try('SELECT mlops.predict(''ps'', m) FROM ps_missing m LIMIT 1');
CREATE TABLE ps_wrongtype AS SELECT a, b, c::text AS c, cat FROM ps_t;
SELECT ps_explain($$SELECT mlops.predict('ps', w) FROM ps_wrongtype w$$);
SELECT ps_try('SELECT mlops.predict(''ps'', w) FROM ps_wrongtype w LIMIT 1');

-- a column dropped or retyped after PREPARE: the plan is made again and gives
-- the row form's error
CREATE TABLE ps_alter AS SELECT * FROM ps_t;
PREPARE ps_q AS SELECT mlops.predict('ps', t) FROM ps_alter t WHERE id = 5;
EXECUTE ps_q;
ALTER TABLE ps_alter DROP COLUMN c;
SELECT ps_try('EXECUTE ps_q');
ALTER TABLE ps_alter ADD COLUMN c text DEFAULT 'one';
SELECT ps_try('EXECUTE ps_q');
ALTER TABLE ps_alter ALTER COLUMN c DROP DEFAULT, ALTER COLUMN c TYPE int USING 1;
EXECUTE ps_q;
SELECT mlops.predict('ps', t) AS with_c_1 FROM (SELECT a, b, 1 AS c, cat FROM ps_t WHERE id = 5) t;
DEALLOCATE ps_q;

-- a model deployed after planning, with other columns: a cursor opened before
-- the deploy scores as the row form does (the deploy is not in its snapshot)
\o /dev/null
SELECT mlops.train('ps', 'ps_t', 'y', features => '{b,cat}', hyperparams => '{"n_estimators": 3}', deploy => 'never');
\o
SELECT max(m.id) AS ps_model2 FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id WHERE p.name = 'ps' \gset
BEGIN;
DECLARE ps_c CURSOR FOR SELECT id, mlops.predict_proba('ps', t) AS p FROM ps_t t ORDER BY id;
DECLARE ps_row CURSOR FOR SELECT id, mlops.predict_proba('ps', t) AS p FROM ps_t t JOIN (VALUES (1)) one(k) ON true ORDER BY id;
FETCH 2 FROM ps_c;
FETCH 2 FROM ps_row;
SELECT count(*) FROM mlops.deploy('ps', 'specific', :ps_model2);
FETCH 2 FROM ps_c;
FETCH 2 FROM ps_row;
SELECT mlops.predict_proba(:ps_model2, t) AS new_model, mlops.predict_proba(:ps_model, t) AS old_model
  FROM ps_t t WHERE id IN (3, 4) ORDER BY id;
-- a statement planned in the same transaction after the deploy uses the new model's columns
SELECT ps_explain($$SELECT mlops.predict('ps', t) FROM ps_t t$$);
ROLLBACK;

-- a prepared statement is planned again after a deploy
PREPARE ps_q2 AS SELECT mlops.predict('ps', t) FROM ps_t t;
SELECT ps_explain('EXECUTE ps_q2');
\o /dev/null
SELECT mlops.deploy('ps', 'specific', :ps_model2);
\o
SELECT ps_explain('EXECUTE ps_q2');
SELECT count(*) FILTER (WHERE p IS DISTINCT FROM q) AS differ
  FROM (SELECT mlops.predict('ps', t) p, mlops.predict(:ps_model2, t) q FROM ps_t t) s;
DEALLOCATE ps_q2;

-- a model that reads more than 99 columns keeps the row form
SELECT format('CREATE TABLE ps_wide AS SELECT i %% 2 = 0 AS y, %s FROM generate_series(1, 60) i',
              string_agg(format('(i * %s) %% 11 AS x%s', k, k), ', ')) FROM generate_series(1, 100) k \gexec
\o /dev/null
SELECT mlops.train('ps_wide', 'ps_wide', 'y', hyperparams => '{"n_estimators": 2}', test_size => 0.5);
\o
SELECT count(*) AS lines, bool_or(l LIKE '%predict_planned%') AS rewritten
  FROM ps_explain($$SELECT mlops.predict('ps_wide', w) FROM ps_wide w$$) l;

-- the planned form called directly
SELECT mlops.predict_planned(:ps_model2, 0.5::real, 'x'::text) = mlops.predict('ps', '{"b": 0.5, "cat": "x"}'::jsonb) AS same;
SELECT mlops.predict_planned(:ps_model2, NULL::real, NULL::text) = mlops.predict('ps', '{"b": null, "cat": null}'::jsonb) AS nulls;
SELECT mlops.predict_planned(NULL::bigint, 0.5::real, 'x'::text) IS NULL AS null_model;
SELECT ps_try('SELECT mlops.predict_planned(' || :ps_model2 || ', 0.5::real)');
SELECT ps_try('SELECT mlops.predict_planned(' || :ps_model2 || ', ''x''::text, 0.5::real)');
SELECT ps_try('SELECT mlops.predict_planned(' || :ps_model2 || ', 0.5::real, ''x'')');
SELECT ps_try('SELECT mlops.predict_planned(' || :ps_model2 || ', VARIADIC ARRAY[1, 2])');
SELECT ps_try('SELECT mlops.predict_planned(' || :ps_model2 || ', ''NaN''::real, ''x''::text)');
SELECT ps_try('SELECT mlops.predict_planned(-1, 1)');
SELECT mlops.predict_label_planned(:ps_model2, 0.5::real, 'x'::text) = mlops.predict_label('ps', '{"b": 0.5, "cat": "x"}'::jsonb) AS label;
SELECT mlops.featurize_planned(:ps_model2, 0.5::real, 'x'::text) = mlops.featurize('ps', '{"b": 0.5, "cat": "x"}'::jsonb) AS featurize;
SELECT mlops.planned_model_current('ps', :ps_model2) AS current, mlops.planned_model_current('ps', :ps_model) AS old,
       mlops.planned_model_current('ps_nope', 1) AS unknown, mlops.planned_model_current(NULL, 1) AS null_project;
