-- Batch predict (issue 16): the MlopsBatchPredict custom scan scores the
-- planned form of predict, predict_proba and predict_label in batches of
-- rows, with the planned form's guard, errors at the same row as one row at
-- a time, and mlops.batch_predict to switch it off.
\set VERBOSITY default
SET client_min_messages = warning;

CREATE TABLE bp_t AS
SELECT i AS id, ((i * 37) % 101) / 101.0 AS a, ((i * 11) % 53) / 53.0 AS b, (i % 9)::float8 AS c,
       (((i * 37) % 101) / 101.0 + ((i * 11) % 53) / 53.0 > 1) AS y,
       ((i * 37) % 101) / 101.0 * 3 + (i % 9) AS v
  FROM generate_series(1, 1000) i;
UPDATE bp_t SET a = NULL WHERE id % 41 = 0;
\o /dev/null
SELECT mlops.train('bp', 'bp_t', 'y', exclude => '{id,v}', hyperparams => '{"n_estimators": 12, "max_depth": 4}');
SELECT mlops.train('bp_reg', 'bp_t', 'v', exclude => '{id,y}', hyperparams => '{"n_estimators": 12}');
SELECT mlops.train('bp_lin', 'bp_t', 'v', algorithm => 'linear', exclude => '{id,y}');
\o

-- EXPLAIN with model ids shown as N
CREATE FUNCTION bp_explain(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || query LOOP
		RETURN NEXT regexp_replace(line, '''\d+''::bigint', '''N''::bigint', 'g');
	END LOOP;
END
$$;

-- the node above the scan; each batched CASE is a parameter of its output
SELECT bp_explain($$SELECT id, mlops.predict('bp', t), mlops.predict_proba('bp', t), mlops.predict_label('bp', t) FROM bp_t t$$);
EXPLAIN (COSTS OFF) SELECT id, mlops.predict('bp_reg', t) FROM bp_t t WHERE id > 10 ORDER BY 2;
-- mlops.batch_predict off, a LIMIT, a call inside another expression, featurize: no node
SET mlops.batch_predict = off;
EXPLAIN (COSTS OFF) SELECT id, mlops.predict('bp', t) FROM bp_t t;
RESET mlops.batch_predict;
EXPLAIN (COSTS OFF) SELECT id, mlops.predict('bp', t) FROM bp_t t LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id, mlops.predict('bp', t) + 1 FROM bp_t t;
EXPLAIN (COSTS OFF) SELECT id, mlops.featurize('bp', t) FROM bp_t t;
-- a volatile filter would run on rows read ahead: no node
EXPLAIN (COSTS OFF) SELECT id, mlops.predict('bp', t) FROM bp_t t WHERE random() < 2;

-- the same results batched and one row at a time, NULLs included, for every kind and algorithm
CREATE TABLE bp_one AS
SELECT id, mlops.predict('bp', t) p, mlops.predict_proba('bp', t) pr, mlops.predict_label('bp', t) l,
       mlops.predict('bp_reg', t) g, mlops.predict('bp_lin', t) h FROM bp_t t;
SET mlops.batch_predict = off;
CREATE TABLE bp_single AS
SELECT id, mlops.predict('bp', t) p, mlops.predict_proba('bp', t) pr, mlops.predict_label('bp', t) l,
       mlops.predict('bp_reg', t) g, mlops.predict('bp_lin', t) h FROM bp_t t;
RESET mlops.batch_predict;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE r.p IS DISTINCT FROM s.p OR r.pr IS DISTINCT FROM s.pr OR r.l IS DISTINCT FROM s.l
                        OR r.g IS DISTINCT FROM s.g OR r.h IS DISTINCT FROM s.h) AS differ
  FROM bp_one r JOIN bp_single s USING (id);
-- INSERT ... SELECT, which scores a table into another
CREATE TABLE bp_ins (id int, p float8, l text);
EXPLAIN (COSTS OFF) INSERT INTO bp_ins SELECT id, mlops.predict('bp', t), mlops.predict_label('bp', t) FROM bp_t t;
INSERT INTO bp_ins SELECT id, mlops.predict('bp', t), mlops.predict_label('bp', t) FROM bp_t t;
SELECT count(*) AS rows, count(*) FILTER (WHERE i.p IS DISTINCT FROM s.p OR i.l IS DISTINCT FROM s.l) AS differ
  FROM bp_ins i JOIN bp_single s USING (id);
DROP TABLE bp_ins;
-- UPDATE keeps one row at a time
EXPLAIN (COSTS OFF) UPDATE bp_t t SET v = mlops.predict('bp_reg', t);

-- in order, under a sort, an aggregate, an index scan
SELECT count(*) FILTER (WHERE p IS DISTINCT FROM (SELECT s.g FROM bp_single s WHERE s.id = q.id)) AS differ, count(*)
  FROM (SELECT id, mlops.predict('bp_reg', t) p FROM bp_t t ORDER BY 2, 1) q;
SELECT round(sum(mlops.predict('bp_reg', t))::numeric, 6) = (SELECT round(sum(g)::numeric, 6) FROM bp_single) AS same_sum
  FROM bp_t t;
CREATE INDEX bp_t_id ON bp_t (id);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id, mlops.predict('bp_reg', t) FROM bp_t t WHERE id BETWEEN 100 AND 700;
SELECT count(*) FILTER (WHERE r.g IS DISTINCT FROM s.g) AS differ, count(*)
  FROM (SELECT id, mlops.predict('bp_reg', t) g FROM bp_t t WHERE id BETWEEN 100 AND 700) r JOIN bp_single s USING (id);
RESET enable_seqscan;
RESET enable_bitmapscan;

-- rescans: the node under a nested loop's inner side, rescanned for each outer row
EXPLAIN (COSTS OFF)
SELECT k.n, sum(q.p) FROM generate_series(1, 3) k(n),
       LATERAL (SELECT mlops.predict('bp_reg', t) p FROM bp_t t WHERE t.id <= k.n * 300 OFFSET 0) q
 GROUP BY k.n;
SELECT k.n, count(q.p), sum(q.p) = (SELECT sum(s.g) FROM bp_single s WHERE s.id <= k.n * 300) AS same_sum
  FROM generate_series(1, 3) k(n),
       LATERAL (SELECT mlops.predict('bp_reg', t) p FROM bp_t t WHERE t.id <= k.n * 300 ORDER BY t.id OFFSET 0) q
 GROUP BY k.n ORDER BY k.n;

-- a NaN or infinite input: the row form's error at the same row; the rows before it come first
-- (rows in id order from the index; the batch read ahead holds row 300)
UPDATE bp_t SET b = 'NaN' WHERE id = 300;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_sort = off;
BEGIN;
DECLARE c NO SCROLL CURSOR FOR
SELECT id, p IS NOT NULL AS scored FROM (SELECT id, mlops.predict('bp_reg', t) p FROM bp_t t ORDER BY id OFFSET 0) s;
EXPLAIN (COSTS OFF)
SELECT id, p IS NOT NULL AS scored FROM (SELECT id, mlops.predict('bp_reg', t) p FROM bp_t t ORDER BY id OFFSET 0) s;
FETCH 2 FROM c;
MOVE 296 FROM c;
FETCH 1 FROM c;
FETCH 1 FROM c;
ROLLBACK;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_sort;
-- a cursor that may scroll keeps the plan without the node
BEGIN;
DECLARE c CURSOR FOR SELECT id, p IS NOT NULL AS scored FROM (SELECT id, mlops.predict('bp_reg', t) p FROM bp_t t OFFSET 0) s;
FETCH 2 FROM c;
FETCH BACKWARD 1 FROM c;
ROLLBACK;
SET mlops.batch_predict = off;
SELECT count(p) FROM (SELECT mlops.predict('bp_reg', t) p FROM bp_t t OFFSET 0) s;
RESET mlops.batch_predict;
EXPLAIN (COSTS OFF) SELECT count(p) FROM (SELECT mlops.predict('bp_reg', t) p FROM bp_t t OFFSET 0) s;
SELECT count(p) FROM (SELECT mlops.predict('bp_reg', t) p FROM bp_t t OFFSET 0) s;
UPDATE bp_t SET b = 'Infinity' WHERE id = 300;
SELECT count(p) FROM (SELECT mlops.predict('bp_reg', t) p FROM bp_t t OFFSET 0) s;
UPDATE bp_t SET b = 0.5 WHERE id = 300;

-- the guard: a model deployed after planning is served by the row form, as the planned call would be
PREPARE bp_q AS SELECT id, mlops.predict('bp_reg', t) p FROM bp_t t;
CREATE TABLE bp_before AS EXECUTE bp_q;
\o /dev/null
SELECT mlops.train('bp_reg', 'bp_t', 'v', exclude => '{id,y}', hyperparams => '{"n_estimators": 3}', deploy => 'always');
\o
CREATE TABLE bp_after AS EXECUTE bp_q;
SET mlops.batch_predict = off;
CREATE TABLE bp_after_single AS SELECT id, mlops.predict('bp_reg', t) p FROM bp_t t;
RESET mlops.batch_predict;
SELECT count(*) FILTER (WHERE a.p IS DISTINCT FROM s.p) AS differ_from_new_model,
       count(*) FILTER (WHERE a.p IS DISTINCT FROM b.p) AS differ_from_old_model
  FROM bp_after a JOIN bp_after_single s USING (id) JOIN bp_before b USING (id);
-- a deploy between two fetches of a cursor, in the same transaction: the cursor's statement keeps
-- its snapshot's deployment, batched as one row at a time
SELECT model_id AS bp_new FROM mlops.overview WHERE project = 'bp_reg' \gset
\o /dev/null
SELECT mlops.deploy('bp_reg', 'rollback');
\o
CREATE FUNCTION bp_cursor_deploy(batch text, model bigint, OUT id int, OUT p float8) RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
	c NO SCROLL CURSOR FOR SELECT t.id, mlops.predict('bp_reg', t) FROM bp_t t;
	n int := 0;
	old bigint := (SELECT model_id FROM mlops.overview WHERE project = 'bp_reg');
BEGIN
	PERFORM set_config('mlops.batch_predict', batch, true);
	OPEN c;
	LOOP
		FETCH c INTO id, p;
		EXIT WHEN NOT FOUND;
		n := n + 1;
		IF n = 100 THEN
			PERFORM mlops.deploy('bp_reg', 'specific', model);
		END IF;
		RETURN NEXT;
	END LOOP;
	PERFORM mlops.deploy('bp_reg', 'specific', old);
END
$$;
CREATE TABLE bp_guard_on AS SELECT * FROM bp_cursor_deploy('on', :bp_new);
CREATE TABLE bp_guard_off AS SELECT * FROM bp_cursor_deploy('off', :bp_new);
SELECT count(*) AS rows, count(*) FILTER (WHERE a.p IS DISTINCT FROM b.p) AS differ,
       count(*) FILTER (WHERE a.p IS DISTINCT FROM o.g) AS new_model_rows
  FROM bp_guard_on a JOIN bp_guard_off b USING (id) JOIN bp_single o USING (id);
DROP FUNCTION bp_cursor_deploy(text, bigint);
DROP TABLE bp_guard_on, bp_guard_off;
-- a deploy earlier in the same transaction
BEGIN;
\o /dev/null
SELECT mlops.deploy('bp_reg', 'specific', :bp_new);
\o
SELECT count(*) FILTER (WHERE r.p IS DISTINCT FROM s.p) AS differ_from_new_model
  FROM (SELECT id, mlops.predict('bp_reg', t) p FROM bp_t t) r JOIN bp_after_single s USING (id);
ROLLBACK;

-- a user without predict on the project: the row form's error, batched or not
CREATE ROLE bp_nobody;
GRANT USAGE ON SCHEMA mlops TO bp_nobody;
GRANT SELECT ON bp_t TO bp_nobody;
SET ROLE bp_nobody;
SELECT count(p) FROM (SELECT mlops.predict('bp', t) p FROM bp_t t OFFSET 0) s;
RESET ROLE;
-- a plan made for a user who may predict, run by one who may not: the guard fails at execution,
-- the row form runs and gives its error
SET plan_cache_mode = force_generic_plan;
PREPARE bp_mine AS SELECT count(p) FROM (SELECT mlops.predict('bp', t) p FROM bp_t t OFFSET 0) s;
EXPLAIN (COSTS OFF) EXECUTE bp_mine;
EXECUTE bp_mine;
SET ROLE bp_nobody;
EXECUTE bp_mine;
RESET ROLE;
DEALLOCATE bp_mine;
RESET plan_cache_mode;
REVOKE ALL ON bp_t FROM bp_nobody;
REVOKE USAGE ON SCHEMA mlops FROM bp_nobody;
DROP ROLE bp_nobody;

-- predict_proba of a regression model: the planned call's error (model ids shown as N)
DO $$
BEGIN
	PERFORM count(p) FROM (SELECT mlops.predict_proba('bp_reg', t) p FROM bp_t t OFFSET 0) s;
EXCEPTION WHEN wrong_object_type THEN
	RAISE WARNING '%', regexp_replace(SQLERRM, 'model \d+', 'model N');
END
$$;

-- parallel workers run the node above their share of the scan
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT sum(p) FROM (SELECT mlops.predict('bp', t) p FROM bp_t t OFFSET 0) s;
SELECT sum(p) = (SELECT sum(p) FROM bp_one) AS same_sum FROM (SELECT mlops.predict('bp', t) p FROM bp_t t OFFSET 0) s;
-- an aggregate's argument is evaluated by the aggregate, one row at a time: no node
EXPLAIN (COSTS OFF) SELECT sum(mlops.predict('bp', t)) FROM bp_t t;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- serving statistics count every batched row as one call
SELECT mlops.serving_stats_reset();
SELECT count(p) FROM (SELECT mlops.predict('bp', t) p FROM bp_t t OFFSET 0) s;
SELECT sum(calls) AS calls FROM mlops.serving_stats WHERE project = 'bp';

DROP TABLE bp_one, bp_single, bp_before, bp_after, bp_after_single;
SELECT mlops.drop_project(p) FROM unnest(ARRAY['bp', 'bp_reg', 'bp_lin']) p;
DROP FUNCTION bp_explain(text);
DROP TABLE bp_t;
