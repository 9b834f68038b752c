-- mlops.drift, the reference profile stored with each model, the drift
-- report tables and views (src/monitor/drift.c, src/monitor/profile.c).  The statistics
-- themselves are compared with SciPy by test/python/test_drift.py; here:
-- the contract, the bookkeeping, and every bad input.
-- Model ids in this file are above those of the files run before it (the
-- checks below take the newest model).
SELECT FROM pg_catalog.setval('mlops.models_id_seq', 90000);

-- Deterministic data: a numeric column, an integer one with NULLs, a text
-- one; 400 rows, so training keeps 300 and auto picks ks and chi2.
CREATE TABLE drift_t AS
SELECT i AS id, (i * 7919 % 1000) / 100.0::float8 AS a,
       CASE WHEN i % 11 = 0 THEN NULL ELSE i % 5 END AS b,
       (ARRAY['x', 'y', 'z'])[1 + i % 3] AS c,
       (i * 7919 % 1000) / 100.0 + i % 5 + (i % 3 = 0)::int AS y
FROM generate_series(1, 400) i;
SELECT project, version, deployed
FROM mlops.train('drift_p', 'drift_t', 'y', hyperparams => '{"n_estimators": 5}',
                 exclude => '{id}', split => 'last', order_by => 'id');
SELECT id AS drift_p FROM mlops.projects WHERE name = 'drift_p' \gset

-- the profile: columns, inputs, the training rows' statistics, predictions
-- (a sample is the base64 of its little-endian float8 values)
SELECT profile -> 'version' AS version, profile -> 'rows' AS rows,
       profile -> 'sample_size' AS sample_size, profile -> 'bins' AS bins,
       jsonb_path_query_array(profile, '$.columns[*].name') AS columns,
       jsonb_path_query_array(profile, '$.columns[*].kind') AS kinds
FROM mlops.models WHERE version = 1 AND project_id = (SELECT id FROM mlops.projects WHERE name = 'drift_p');
SELECT f ->> 'name' AS name, f ->> 'kind' AS kind, f -> 'rows' AS rows, f -> 'count' AS count,
       f -> 'nulls' AS nulls, round((f ->> 'mean')::numeric, 6) AS mean,
       f -> 'min' AS min, f -> 'max' AS max, jsonb_array_length(f -> 'edges') AS edges,
       f -> 'histogram' AS histogram, length(decode(f ->> 'sample', 'base64')) / 8 AS sample,
       f -> 'categories' AS categories, f -> 'counts' AS counts
FROM mlops.models m, jsonb_array_elements(m.profile -> 'features') f
WHERE m.project_id = (SELECT id FROM mlops.projects WHERE name = 'drift_p');
SELECT profile -> 'prediction' ->> 'kind' AS kind, profile -> 'prediction' -> 'rows' AS rows,
       length(decode(profile -> 'prediction' ->> 'sample', 'base64')) / 8 AS sample
FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'drift_p');

--
-- mlops.drift
--
-- the training data itself does not drift; every feature plus the predictions
SELECT feature, kind, method, statistic >= 0 AS has_statistic, p_value > 0.05 AS p_above,
       threshold, drifted, round(null_share::numeric, 4) AS null_share,
       out_of_range_share, unseen_share, raw_statistic
FROM mlops.drift('drift_p', 'drift_t');
-- a shifted copy: a moves up by 5, c gets a new category, b loses values
CREATE TABLE drift_shifted AS
SELECT id, a + 5 AS a, CASE WHEN id % 2 = 0 THEN NULL ELSE b END AS b,
       CASE WHEN id % 4 = 0 THEN 'w' ELSE c END AS c, y
FROM drift_t;
SELECT feature, method, drifted, round(null_share::numeric, 4) AS null_share,
       round(out_of_range_share::numeric, 4) AS out_of_range,
       round(unseen_share::numeric, 4) AS unseen
FROM mlops.drift('drift_p', 'drift_shifted');
-- explicit methods and thresholds; psi and jensen_shannon fit both kinds
SELECT feature, method, threshold, drifted, p_value IS NULL AS no_p_value
FROM mlops.drift('drift_p', 'drift_shifted', method => 'psi');
SELECT feature, method, threshold, drifted
FROM mlops.drift('drift_p', 'drift_shifted', method => 'jensen_shannon', threshold => 0.9);
SELECT feature, method, threshold, drifted
FROM mlops.drift(project => 'drift_p', relation => 'public.drift_t', threshold => 1e-9);
-- extra columns are ignored, column order does not matter, views work
CREATE VIEW drift_view AS SELECT 1 AS extra, c, b, a FROM drift_t;
SELECT count(*) AS rows, bool_or(drifted) AS any_drift FROM mlops.drift('drift_p', 'drift_view');
-- a numeric-only model accepts ks and wasserstein; a pinned model_id
SELECT version, deployed
FROM mlops.train('drift_p', 'drift_t', 'y', hyperparams => '{"n_estimators": 5}', features => '{a,b}',
                 split => 'last', order_by => 'id', deploy => 'never');
SELECT feature, method, drifted, raw_statistic IS NOT NULL AS has_raw
FROM mlops.drift('drift_p', 'drift_shifted', method => 'wasserstein',
                 model_id => (SELECT max(id) FROM mlops.models));
SELECT feature, method, drifted
FROM mlops.drift('drift_p', 'drift_shifted', method => 'ks',
                 model_id => (SELECT max(id) FROM mlops.models));
-- a categorical-only model accepts chi2 and l_infinity (the regression
-- prediction row then uses its auto method)
SELECT version
FROM mlops.train('drift_p', 'drift_t', 'y', hyperparams => '{"n_estimators": 5}', features => '{c}',
                 split => 'last', order_by => 'id', deploy => 'never');
SELECT feature, method, threshold, drifted, round(statistic::numeric, 6) AS statistic
FROM mlops.drift('drift_p', 'drift_shifted', method => 'l_infinity',
                 model_id => (SELECT max(id) FROM mlops.models));
SELECT feature, method, drifted
FROM mlops.drift('drift_p', 'drift_shifted', method => 'chi2',
                 model_id => (SELECT max(id) FROM mlops.models));
-- a model trained without held-out rows has no prediction row
SELECT version FROM mlops.train('drift_p', 'drift_t', 'y', hyperparams => '{"n_estimators": 5}',
                                exclude => '{id}', test_size => 0, deploy => 'never');
SELECT feature, method FROM mlops.drift('drift_p', 'drift_t', model_id => (SELECT max(id) FROM mlops.models));
-- the sample size setting
SHOW mlops.drift_sample_size;
SET mlops.drift_sample_size = 100;
SELECT version FROM mlops.train('drift_p', 'drift_t', 'y', hyperparams => '{"n_estimators": 5}',
                                exclude => '{id}', deploy => 'never');
SELECT f ->> 'name' AS name, length(decode(f ->> 'sample', 'base64')) / 8 AS sample
FROM mlops.models m, jsonb_array_elements(m.profile -> 'features') f
WHERE m.id = (SELECT max(id) FROM mlops.models);
RESET mlops.drift_sample_size;
SET mlops.drift_sample_size = 99;
SET mlops.drift_sample_size = 1000001;

--
-- Reports, views, events
--
SELECT count(*) AS reports, sum(features) AS features, sum(drifted) AS drifted
FROM mlops.drift_reports WHERE project_id = :drift_p;
SELECT relation, rows, method, threshold, features, drifted, drift_share, dataset_drift, prediction_drift
FROM mlops.drift_reports WHERE project_id = :drift_p ORDER BY id;
SELECT count(*) AS results FROM mlops.drift_results
WHERE report_id IN (SELECT id FROM mlops.drift_reports WHERE project_id = :drift_p);
SELECT project, relation, rows, features_checked, features_drifted, drift_share, dataset_drift,
       prediction_drift
FROM mlops.drift_status WHERE project = 'drift_p';
SELECT position, feature, kind, method, drifted
FROM mlops.drift_history
WHERE report_id = (SELECT min(id) FROM mlops.drift_reports WHERE project_id = :drift_p) ORDER BY position;
SELECT count(*) AS history_rows, count(time) AS with_time FROM mlops.drift_history WHERE project = 'drift_p';
SELECT action, project, detail - 'report_id' AS detail
FROM mlops.events WHERE action = 'drift_check' AND project = 'drift_p' ORDER BY id LIMIT 2;
SELECT count(*) AS drift_events FROM mlops.events WHERE action = 'drift_check' AND project = 'drift_p';
-- dataset drift counts source columns, not inputs: a timestamp column is six
-- inputs and one column; here three of four columns drift (three of nine
-- inputs), and the result rows stay one per input
CREATE TABLE drift_ts AS
SELECT i AS id, (i * 7919 % 1000) / 100.0::float8 AS a, (i * 104729 % 1000) / 10.0::float8 AS b,
       (i % 7)::float8 AS c, timestamp '2026-01-01' + i * interval '37 minutes' AS at,
       (i * 7919 % 1000) / 100.0::float8 + i % 7 AS y
FROM generate_series(1, 400) i;
CREATE TABLE drift_ts_shifted AS SELECT id, a + 20 AS a, b + 200 AS b, c + 10 AS c, at, y FROM drift_ts;
SELECT version FROM mlops.train('drift_ts', 'drift_ts', 'y', hyperparams => '{"n_estimators": 5}',
                                exclude => '{id}');
SELECT count(*) AS result_rows, string_agg(feature, ', ' ORDER BY feature) FILTER (WHERE drifted) AS drifted
FROM mlops.drift('drift_ts', 'drift_ts_shifted');
SELECT features, drifted, drift_share, dataset_drift, prediction_drift FROM mlops.drift_reports
WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'drift_ts');
-- two drifted inputs of one column count once
CREATE TABLE drift_ts_later AS SELECT id, a, b, c, at + interval '2 years' AS at, y FROM drift_ts;
SELECT string_agg(feature, ', ' ORDER BY feature) FILTER (WHERE drifted AND feature <> 'prediction') AS drifted
FROM mlops.drift('drift_ts', 'drift_ts_later');
SELECT features, drifted, drift_share, dataset_drift FROM mlops.drift_reports
WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'drift_ts') ORDER BY id DESC LIMIT 1;
SELECT detail->'features' AS features, detail->'drifted' AS drifted, detail->'dataset_drift' AS dataset_drift
FROM mlops.events WHERE action = 'drift_check' AND project = 'drift_ts' ORDER BY id;
SELECT mlops.drop_project('drift_ts');
-- PUBLIC reads the reports of the projects it holds a privilege on, and
-- cannot write them
CREATE ROLE regress_drift_user;
SET ROLE regress_drift_user;
SELECT count(*) > 0 AS can_read FROM mlops.drift_history;
SELECT * FROM mlops.drift('drift_p', 'drift_t');
RESET ROLE;
SELECT mlops.grant('drift_p', 'regress_drift_user', 'train');
SET ROLE regress_drift_user;
SELECT count(*) > 0 AS can_read FROM mlops.drift_history;
INSERT INTO mlops.drift_reports (project_id, model_id, relation, rows, method, features,
                                 drifted, drift_share, dataset_drift)
VALUES (1, 1, 'x', 1, 'auto', 1, 0, 0, false);
DELETE FROM mlops.drift_results;
-- drift reads the relation with the caller's rights
SELECT * FROM mlops.drift('drift_p', 'drift_t');
RESET ROLE;
GRANT SELECT ON drift_t TO regress_drift_user;
SET ROLE regress_drift_user;
SELECT count(*) AS rows FROM mlops.drift('drift_p', 'drift_t');
RESET ROLE;
REVOKE SELECT ON drift_t FROM regress_drift_user;
SELECT mlops.revoke('drift_p', 'regress_drift_user', 'train');
DROP ROLE regress_drift_user;
-- every object carries a comment
SELECT c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
FROM pg_class c WHERE c.relnamespace = 'mlops'::regnamespace AND c.relname LIKE 'drift%'
  AND c.relkind IN ('r', 'v') ORDER BY 1;
SELECT obj_description('mlops.drift(text, text, text, float8, bigint)'::regprocedure) IS NOT NULL AS commented;

--
-- Bad input: a clear error each, nothing recorded
--
CREATE TEMP TABLE reports_before AS SELECT count(*) AS n FROM mlops.drift_reports;
SELECT * FROM mlops.drift(NULL, 'drift_t');
SELECT * FROM mlops.drift('drift_p', NULL);
SELECT * FROM mlops.drift('drift_p', 'drift_t', method => NULL);
SELECT * FROM mlops.drift('no_such_project', 'drift_t');
SELECT * FROM mlops.drift('drift_p', 'no_such_table');
SELECT * FROM mlops.drift('drift_p', 'drift_t', method => 'kolmogorov');
SELECT * FROM mlops.drift('drift_p', 'drift_t', method => 'ks');
SELECT * FROM mlops.drift('drift_p', 'drift_t', method => 'wasserstein');
SELECT * FROM mlops.drift('drift_p', 'drift_t', method => 'chi2');
SELECT * FROM mlops.drift('drift_p', 'drift_t', method => 'l_infinity');
SELECT * FROM mlops.drift('drift_p', 'drift_t', threshold => 0);
SELECT * FROM mlops.drift('drift_p', 'drift_t', threshold => -0.1);
SELECT * FROM mlops.drift('drift_p', 'drift_t', threshold => 'NaN');
SELECT * FROM mlops.drift('drift_p', 'drift_t', threshold => 'Infinity');
SELECT * FROM mlops.drift('drift_p', 'drift_t', model_id => 999999);
-- missing feature columns are all named
CREATE TABLE drift_missing AS SELECT id, a FROM drift_t;
SELECT * FROM mlops.drift('drift_p', 'drift_missing');
CREATE TABLE drift_missing_one AS SELECT a, c FROM drift_t;
SELECT * FROM mlops.drift('drift_p', 'drift_missing_one');
-- a column of another kind
CREATE TABLE drift_text AS SELECT a::text AS a, b, c FROM drift_t;
SELECT * FROM mlops.drift('drift_p', 'drift_text');
-- an empty relation
CREATE TABLE drift_empty AS SELECT * FROM drift_t WHERE false;
SELECT * FROM mlops.drift('drift_p', 'drift_empty');
-- non-finite values
CREATE TABLE drift_nan AS SELECT * FROM drift_t;
UPDATE drift_nan SET a = 'NaN' WHERE id = 7;
SELECT * FROM mlops.drift('drift_p', 'drift_nan');
UPDATE drift_nan SET a = '-Infinity' WHERE id = 7;
SELECT * FROM mlops.drift('drift_p', 'drift_nan');
-- a project without a deployed model, and a model of another project
SELECT project, deployed FROM mlops.train('drift_q', 'drift_t', 'y', hyperparams => '{"n_estimators": 5}',
                                          exclude => '{id}', deploy => 'never');
SELECT * FROM mlops.drift('drift_q', 'drift_t');
DO $$
BEGIN
	PERFORM * FROM mlops.drift('drift_q', 'drift_t', model_id => (SELECT min(m.id) FROM mlops.models m
		JOIN mlops.projects p ON p.id = m.project_id WHERE p.name = 'drift_p'));
EXCEPTION WHEN invalid_parameter_value THEN
	RAISE NOTICE 'error: %', regexp_replace(SQLERRM, '[0-9]+', 'N');	-- model ids vary
END
$$;
-- a damaged profile (the CONTEXT line names the model, whose id varies)
\set SHOW_CONTEXT never
UPDATE mlops.models SET profile = '{"version": 1, "rows": 3}' WHERE id = (SELECT max(id) FROM mlops.models);
SELECT * FROM mlops.drift('drift_q', 'drift_t', model_id => (SELECT max(id) FROM mlops.models));
UPDATE mlops.models SET profile = '{"version": 99}' WHERE id = (SELECT max(id) FROM mlops.models);
SELECT * FROM mlops.drift('drift_q', 'drift_t', model_id => (SELECT max(id) FROM mlops.models));
\set SHOW_CONTEXT errors
SELECT count(*) - (SELECT n FROM reports_before) AS new_reports FROM mlops.drift_reports;

-- dropping a project drops its reports
SELECT count(*) AS results_before FROM mlops.drift_results \gset
SELECT mlops.drop_project('drift_q');
SELECT mlops.drop_project('drift_p');
SELECT count(*) AS reports, :results_before - (SELECT count(*) FROM mlops.drift_results) AS results_deleted
FROM mlops.drift_reports WHERE project_id = :drift_p;
DROP VIEW drift_view;
DROP TABLE drift_t, drift_shifted, drift_missing, drift_missing_one, drift_text, drift_empty, drift_nan;
