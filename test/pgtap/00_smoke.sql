-- test/pgtap/00_smoke.sql: the objects of the SQL contract in DESIGN.md exist
-- (schema, registry tables and views with their columns, core functions)
BEGIN;
SELECT plan(115);

SELECT has_schema('mlops');

SELECT has_table('mlops', t::name, format('table mlops.%s exists', t))
FROM unnest(ARRAY['projects', 'models', 'deployments', 'evaluations', 'events', 'drift_reports',
	'drift_results', 'jobs', 'schedules', 'project_grants', 'experiments']) AS t;

SELECT has_view('mlops', v::name, format('view mlops.%s exists', v))
FROM unnest(ARRAY['overview', 'model_metrics', 'model_features', 'events_log', 'drift_history',
	'drift_status', 'job_progress', 'project_privileges']) AS v;

-- Columns the contract requires; the extension may add more
SELECT has_column('mlops', r::name, c::name, format('mlops.%s has column %s', r, c))
FROM (VALUES
	('projects', ARRAY['id', 'name', 'task', 'target', 'created_at', 'created_by']),
	('models', ARRAY['id', 'project_id', 'version', 'algorithm', 'hyperparams', 'preprocess',
		'features', 'labels', 'metrics', 'training', 'created_at', 'created_by']),
	('deployments', ARRAY['id', 'project_id', 'model_id', 'strategy', 'deployed_at', 'deployed_by']),
	('evaluations', ARRAY['id', 'model_id', 'relation', 'rows', 'metrics', 'evaluated_at']),
	('overview', ARRAY['project', 'task', 'target', 'model_id', 'version', 'algorithm',
		'metric', 'score', 'deployed_at', 'trained_at']),
	('model_metrics', ARRAY['project', 'model_id', 'version', 'algorithm', 'metric', 'value',
		'created_at']),
	('jobs', ARRAY['id', 'kind', 'project', 'args', 'status', 'queued_at', 'started_at',
		'finished_at', 'result', 'error']),
	('events', ARRAY['id', 'at', 'actor', 'action', 'project', 'model_id', 'detail']),
	('drift_history', ARRAY['time'])
) AS contract(r, cols), unnest(cols) AS c;

SELECT has_function('mlops', 'train',
	ARRAY['text', 'text', 'text', 'text', 'text', 'jsonb', 'jsonb', 'text[]', 'text[]',
		'double precision', 'text', 'text', 'integer', 'text', 'integer'],
	'mlops.train has the contract signature');

SELECT has_function('mlops', 'predict', ARRAY['text', a], format('mlops.predict(text, %s) exists', a))
FROM unnest(ARRAY['record', 'double precision[]', 'real[]', 'jsonb']) AS a;

SELECT volatility_is('mlops', 'predict', ARRAY['text', 'record'], 'stable',
	'mlops.predict is stable');

SELECT has_function('mlops', 'deploy', ARRAY['text', 'text', 'bigint', 'double precision'],
	'mlops.deploy has the contract signature');

SELECT has_function('mlops', f, format('mlops.%s exists', f))
FROM unnest(ARRAY['predict_proba', 'predict_label', 'featurize', 'evaluate', 'drop_model',
	'drop_project', 'drift', 'ks_test', 'wasserstein', 'psi', 'jensen_shannon', 'chi2_test',
	'retrain', 'schedule', 'unschedule', 'train_async', 'cancel_job', 'roc_curve', 'pr_curve',
	'calibration_curve', 'variant', 'experiment']) AS f;

SELECT function_returns('mlops', 'drift', ARRAY['text', 'text', 'text', 'double precision', 'bigint'],
	'setof record', 'mlops.drift returns a table');

SELECT * FROM finish();
ROLLBACK;
