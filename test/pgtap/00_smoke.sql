-- test/pgtap/00_smoke.sql: the objects of the SQL contract in DESIGN.md exist
-- (schema, registry tables and views with their columns, core functions)
BEGIN;
SELECT plan(61);

SELECT has_schema('mlops');

SELECT has_table('mlops', t::name, format('table mlops.%s exists', t))
FROM unnest(ARRAY['projects', 'models', 'deployments', 'evaluations']) AS t;

SELECT has_view('mlops', v::name, format('view mlops.%s exists', v))
FROM unnest(ARRAY['overview', 'model_metrics']) AS v;

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
		'created_at'])
) AS contract(r, cols), unnest(cols) AS c;

SELECT has_function('mlops', 'train',
	ARRAY['text', 'text', 'text', 'text', 'text', 'jsonb', 'jsonb', 'text[]', 'text[]',
		'double precision', 'text', 'text', 'integer', 'text'],
	'mlops.train has the contract signature');

SELECT has_function('mlops', 'predict', ARRAY['text', a], format('mlops.predict(text, %s) exists', a))
FROM unnest(ARRAY['record', 'double precision[]', 'real[]', 'jsonb']) AS a;

SELECT volatility_is('mlops', 'predict', ARRAY['text', 'record'], 'stable',
	'mlops.predict is stable');

SELECT has_function('mlops', 'deploy', ARRAY['text', 'text', 'bigint'],
	'mlops.deploy has the contract signature');

SELECT * FROM finish();
ROLLBACK;
