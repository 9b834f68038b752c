-- mlops.monitor (live performance per window), alerts and guardrails
-- the error of a statement, with model ids (which depend on the tests run before) as N
CREATE FUNCTION monitor_error(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'model \d+', 'model N', 'g');
END $$;
CREATE TABLE churn AS
SELECT g AS id, sin(g) AS a, cos(g * 0.7) AS b,
       CASE WHEN sin(g) + cos(g * 0.7) > 0.2 THEN 'yes' ELSE 'no' END AS churned,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour' AS at
  FROM generate_series(1, 600) g;
SELECT model_id AS m1 FROM mlops.train('churn', 'churn', 'churned', exclude => '{id,at}',
                                       hyperparams => '{"n_estimators": 20}') \gset

-- outcomes that arrive later: the first days as predicted, then the labels flip
CREATE TABLE outcomes AS
SELECT id, a, b, at, CASE WHEN at < '2026-01-10' THEN churned
                          WHEN churned = 'yes' THEN 'no' ELSE 'yes' END AS actual
  FROM churn;

-- one window per week, aligned on the Unix epoch like date_bin
SELECT window_start, rows, (metrics->>'accuracy')::numeric(4,3) AS accuracy, degraded
  FROM mlops.monitor('churn', 'outcomes', 'actual', time_column => 'at', window_size => '7 days');
SELECT bool_and(window_start = date_bin('7 days', window_start, 'epoch')) AS epoch_aligned,
       sum(rows) AS rows, count(*) AS windows, count(*) FILTER (WHERE degraded) AS degraded,
       min(metric) AS metric, bool_and(held_out = (SELECT (metrics->>'f1')::float8 FROM mlops.models WHERE id = :m1)) AS held_out
  FROM mlops.performance_history WHERE project = 'churn';

-- the same metric members as training
SELECT array_agg(k ORDER BY k) AS members
  FROM jsonb_object_keys((SELECT metrics FROM mlops.performance_history WHERE project = 'churn' LIMIT 1)) k;

-- without a time column: one window, no start
SELECT window_start, rows, degraded FROM mlops.monitor('churn', 'churn', 'churned');

-- predictions read from a column: labels, or probabilities in label order
CREATE TABLE logged AS
SELECT id, at, actual, CASE WHEN id % 4 = 0 THEN 'no' ELSE actual END AS predicted,
       CASE WHEN actual = 'yes' THEN ARRAY[0.3, 0.7] ELSE ARRAY[0.9, 0.1] END::float8[] AS proba
  FROM outcomes;
SELECT rows, (metrics->>'accuracy')::numeric(4,3) AS accuracy
  FROM mlops.monitor('churn', 'logged', 'actual', prediction => 'predicted');
SELECT rows, (metrics->>'accuracy')::numeric(4,3) AS accuracy, (metrics->>'log_loss')::numeric(5,4) AS log_loss
  FROM mlops.monitor('churn', 'logged', 'actual', prediction => 'proba');

-- max_degradation: 1.0 never flags a higher-is-better metric that stays at or above 0
SELECT mlops.set_policy('churn', '{"max_degradation": 1.0}') IS NOT NULL AS set;
SELECT count(*) FILTER (WHERE degraded) AS degraded
  FROM mlops.monitor('churn', 'outcomes', 'actual', time_column => 'at', window_size => '7 days');
SELECT mlops.set_policy('churn', '{"max_degradation": null}') IS NOT NULL AS reset;

-- regression: a lower-is-better metric is degraded when it rises
CREATE TABLE load AS
SELECT g AS id, g % 10 AS x, (g % 10) * 2.0 + sin(g) AS y, date '2026-01-01' + g / 50 AS day
  FROM generate_series(1, 500) g;
SELECT model_id AS r1 FROM mlops.train('load', 'load', 'y', exclude => '{id,day}',
                                       hyperparams => '{"n_estimators": 30}') \gset
SELECT mlops.set_policy('load', '{"metric": "rmse"}') IS NOT NULL AS set;
CREATE TABLE load_later AS SELECT id, x, day, CASE WHEN day >= '2026-01-06' THEN y + 5 ELSE y END AS y FROM load;
SELECT window_start::date AS day, rows, degraded
  FROM mlops.monitor('load', 'load_later', 'y', time_column => 'day', window_size => '5 days');
SELECT metric, count(*) FILTER (WHERE degraded) AS degraded FROM mlops.performance_history
 WHERE project = 'load' GROUP BY metric;

-- bad input
SELECT * FROM mlops.monitor('churn', 'outcomes', 'nope');
SELECT * FROM mlops.monitor('churn', 'outcomes', 'actual', time_column => 'nope');
SELECT * FROM mlops.monitor('churn', 'outcomes', 'actual', time_column => 'a');
SELECT * FROM mlops.monitor('churn', 'outcomes', 'actual', prediction => 'nope');
SELECT * FROM mlops.monitor('churn', 'outcomes', 'actual', time_column => 'at', window_size => '0');
SELECT * FROM mlops.monitor('churn', 'outcomes', 'actual', time_column => 'at', window_size => '-1 day');
SELECT * FROM mlops.monitor('churn', 'outcomes', 'actual', time_column => 'at', window_size => '1 month');
SELECT * FROM mlops.monitor('churn', 'outcomes', 'actual', window_size => NULL);
SELECT * FROM mlops.monitor(NULL, 'outcomes', 'actual');
SELECT * FROM mlops.monitor('nope', 'outcomes', 'actual');
SELECT * FROM mlops.monitor('churn', 'no_such_table', 'actual');
SELECT monitor_error(format('SELECT * FROM mlops.monitor(%L, %L, %L, model_id => %s)', 'churn', 'outcomes', 'actual', :r1));
CREATE TABLE unseen AS SELECT id, a, b, 'maybe'::text AS actual FROM churn;
SELECT * FROM mlops.monitor('churn', 'unseen', 'actual');
CREATE TABLE bad_pred AS SELECT id, actual, 'maybe'::text AS predicted, ARRAY[0.5, 0.5, 0.0]::float8[] AS proba,
       ARRAY[1.5, -0.5]::float8[] AS wrong, 'x'::text AS note FROM outcomes;
SELECT monitor_error('SELECT * FROM mlops.monitor(''churn'', ''bad_pred'', ''actual'', prediction => ''predicted'')');
SELECT monitor_error('SELECT * FROM mlops.monitor(''churn'', ''bad_pred'', ''actual'', prediction => ''proba'')');
SELECT monitor_error('SELECT * FROM mlops.monitor(''churn'', ''bad_pred'', ''actual'', prediction => ''wrong'')');
SELECT monitor_error('SELECT * FROM mlops.monitor(''churn'', ''bad_pred'', ''actual'', prediction => ''id'')');
SELECT monitor_error('SELECT * FROM mlops.monitor(''load'', ''load'', ''y'', prediction => ''day'')');
CREATE TABLE empty_outcomes AS SELECT * FROM outcomes WHERE false;
SELECT * FROM mlops.monitor('churn', 'empty_outcomes', 'actual');
CREATE TABLE far AS SELECT id, a, b, actual, timestamptz 'infinity' AS at FROM outcomes LIMIT 1;
SELECT * FROM mlops.monitor('churn', 'far', 'actual', time_column => 'at');

-- policy keys: wrong types and unknown members are named
SELECT mlops.set_policy('churn', '{"max_degradation": "a lot"}');
SELECT mlops.set_policy('churn', '{"drift_severity": {"warning": 0.5, "critical": 0.2}}');
SELECT mlops.set_policy('churn', '{"drift_severity": {"severe": 0.5}}');
SELECT mlops.set_policy('churn', '{"drift_severity": 0.3}');
SELECT mlops.set_policy('churn', '{"guardrails": {"max_error_rate": 2}}');
SELECT mlops.set_policy('churn', '{"guardrails": {"min_live_score": "high"}}');
SELECT mlops.set_policy('churn', '{"guardrails": {"action": "panic"}}');
SELECT mlops.set_policy('churn', '{"guardrails": {"max_latency": 5}}');
SELECT mlops.set_policy('churn', '{"guardrails": []}');
SELECT mlops.set_policy('churn', '{"min_new_rows": 1.5}');
SELECT mlops.set_policy('churn', '{"min_new_rows": -1}');
SELECT mlops.set_policy('churn', '{"on_degradation": "yes"}');

-- alerts: the degraded live performance fired when monitor recorded it
SELECT project, rule, status, severity FROM mlops.alert_status WHERE project = 'churn' ORDER BY rule;

-- a guardrail on the live score rolls back to the earlier deployment, once
SELECT model_id AS m2 FROM mlops.train('churn', 'churn', 'churned', exclude => '{id,at}',
                                       hyperparams => '{"n_estimators": 10}', deploy => 'always') \gset
SELECT count(*) AS windows FROM mlops.monitor('churn', 'outcomes', 'actual', time_column => 'at', window_size => '30 days');
SELECT mlops.set_policy('churn', '{"guardrails": {"min_live_score": 0.9, "action": "rollback"}}') IS NOT NULL AS set;
SELECT mlops.check_alerts('churn') AS opened;
SELECT model_id = :m1 AS rolled_back FROM mlops.overview WHERE project = 'churn';
SELECT action, model_id = :m1 AS to_m1, detail->>'previous_model_id' = :'m2' AS from_m2,
       detail->>'reason' AS reason FROM mlops.events WHERE project = 'churn' AND action = 'rollback';
SELECT detail->>'rule' AS rule, detail->>'action' AS action, detail->>'outcome' LIKE 'rolled back to model %' AS outcome
  FROM mlops.events WHERE project = 'churn' AND action = 'guardrail';
-- m1 breaks the limit too: the alert stays open and follows it, nothing more rolls back
SELECT mlops.check_alerts('churn') AS opened;
SELECT rule, status, model_id = :m1 AS about_m1 FROM mlops.alert_status WHERE project = 'churn' AND rule LIKE 'guardrail%';
SELECT rule, count(*) FILTER (WHERE resolved_at IS NULL) AS open FROM mlops.alerts WHERE project = 'churn' GROUP BY rule ORDER BY rule;

-- drift severity on the drift share, fired when mlops.drift records it: a
-- warning at half the columns, critical at all of them, resolved when the drift is gone
CREATE TABLE churn_half AS SELECT id, a + 3 AS a, b, churned FROM churn;
CREATE TABLE churn_shifted AS SELECT id, a + 3 AS a, b * 5 AS b, churned FROM churn;
SELECT mlops.set_policy('churn', '{"drift_severity": {"critical": 0.6}}') IS NOT NULL AS set;
SELECT count(*) > 0 AS checked FROM mlops.drift('churn', 'churn_half');
SELECT rule, status, severity, value, threshold FROM mlops.alert_status WHERE project = 'churn' AND rule = 'dataset_drift';
SELECT count(*) > 0 AS checked FROM mlops.drift('churn', 'churn_shifted');
SELECT rule, status, severity, value, threshold FROM mlops.alert_status WHERE project = 'churn' AND rule = 'dataset_drift';
SELECT mlops.check_alerts('churn') AS opened;
SELECT count(*) > 0 AS checked FROM mlops.drift('churn', 'churn');
SELECT severity, value, resolved_at IS NULL AS open FROM mlops.alerts
 WHERE project = 'churn' AND rule = 'dataset_drift' ORDER BY id;

-- max_drift_share with action alert: an alert, no rollback
SELECT mlops.set_policy('churn', '{"guardrails": {"max_drift_share": 0.4, "action": "alert"}}') IS NOT NULL AS set;
SELECT count(*) > 0 AS checked FROM mlops.drift('churn', 'churn_shifted');
SELECT model_id AS before FROM mlops.overview WHERE project = 'churn' \gset
SELECT mlops.check_alerts('churn') AS opened;
SELECT model_id = :before AS unchanged FROM mlops.overview WHERE project = 'churn';
SELECT rule, status, severity, value, threshold FROM mlops.alert_status WHERE project = 'churn' AND rule = 'guardrail_drift_share';
SELECT detail->>'action' AS action, detail->>'outcome' AS outcome FROM mlops.events
 WHERE project = 'churn' AND action = 'guardrail' ORDER BY id DESC LIMIT 1;
-- removing the guardrail clears its alert
SELECT mlops.set_policy('churn', '{"guardrails": null}') IS NOT NULL AS set;
SELECT mlops.check_alerts('churn') AS opened;
SELECT status FROM mlops.alert_status WHERE project = 'churn' AND rule = 'guardrail_drift_share';
SELECT * FROM mlops.check_alerts('nope');

-- retrain triggers: min_new_rows and on_degradation
CREATE TABLE grow AS SELECT g AS id, sin(g) AS a, cos(g * 0.7) AS b, (sin(g) + cos(g * 0.7) > 0.2) AS alarm
  FROM generate_series(1, 400) g;
SELECT model_id AS g1 FROM mlops.train('grow', 'grow', 'alarm', exclude => '{id}', hyperparams => '{"n_estimators": 10}') \gset
SELECT action, regexp_replace(reason, 'model \d+', 'model N') AS reason
  FROM mlops.retrain('grow', policy => '{"retrain": "always", "min_new_rows": 100}');
INSERT INTO grow SELECT g, sin(g), cos(g * 0.7), NULL FROM generate_series(401, 500) g;
SELECT action, regexp_replace(reason, 'model \d+', 'model N') AS reason
  FROM mlops.retrain('grow', policy => '{"retrain": "always", "min_new_rows": 100}');
INSERT INTO grow SELECT g, sin(g), cos(g * 0.7), (sin(g) + cos(g * 0.7) > 0.2) FROM generate_series(501, 600) g;
SELECT action, deployed FROM mlops.retrain('grow', policy => '{"retrain": "always", "min_new_rows": 100, "deploy": "never"}');
SELECT action FROM mlops.retrain('grow', force => true, policy => '{"min_new_rows": 100000, "deploy": "never"}');
-- a degraded latest window retrains without drift
CREATE TABLE grow_flipped AS SELECT id, a, b, NOT alarm AS alarm FROM grow WHERE alarm IS NOT NULL;
SELECT degraded FROM mlops.monitor('grow', 'grow_flipped', 'alarm');
SELECT action, reason LIKE 'no drift%' AS no_drift FROM mlops.retrain('grow', policy => '{"deploy": "never"}');
SELECT action, reason LIKE '%; the latest monitor window of model % is degraded (f1 %, held-out %)' AS degraded
  FROM mlops.retrain('grow', policy => '{"on_degradation": true, "deploy": "never"}');
-- schedules take the same keys, checked when the schedule is made
SELECT mlops.schedule('grow', '1 day', policy => '{"min_new_rows": 50, "on_degradation": true}') > 0 AS scheduled;
SELECT mlops.schedule('grow', '1 day', policy => '{"min_new_rows": "many"}');
SELECT mlops.unschedule('grow');

-- mlops.report: one self-contained HTML page with inline SVG charts; its latency histogram
-- counts the deployed model's predict calls (all variants), its experiment section shows a canary
SELECT model_id AS m_chal FROM mlops.train('churn', 'churn', 'churned', exclude => '{id,at}',
                                           hyperparams => '{"n_estimators": 5}', deploy => 'never') \gset
SELECT strategy FROM mlops.deploy('churn', 'canary', :m_chal, 0.25);
SELECT count(mlops.predict('churn', c)) AS predicted FROM churn c;
SELECT sum(calls) AS champion_calls FROM mlops.serving_latency_histogram
 WHERE project = 'churn' AND model_id = (SELECT model_id FROM mlops.deployments d JOIN mlops.projects p
                                          ON p.id = d.project_id WHERE p.name = 'churn' ORDER BY d.id DESC LIMIT 1) \gset
SELECT r LIKE '<!DOCTYPE html>%</html>' || chr(10) AS html, r NOT LIKE '%<script%' AS no_script,
       r !~* '(https?:|src=|href=|url\()' AS no_network,
       (length(r) - length(replace(r, '<svg', ''))) / 4 AS charts,
       r LIKE '%<h2>Open alerts</h2><table>%' AS alerts,
       r LIKE '%<h2>Latency of the deployed model</h2><p>' || :champion_calls || ' calls %<svg%' AS latency,
       r LIKE '%<h2>Experiment</h2>%mlops.experiment(project, relation, label)%<td>canary</td><td>%</td><td>'
              || :m_chal || '</td><td>0.25</td>%<td>running</td>%' AS experiment
  FROM mlops.report('churn') r;
SELECT strategy FROM mlops.deploy('churn', 'abort');
SELECT r LIKE '%<h2>Experiment</h2>%<td>canary</td>%<td>aborted</td></tr></table>%' AS latest_experiment
  FROM mlops.report('churn') r;
SELECT model_id AS x1 FROM mlops.train('<b>&"x''', 'churn', 'churned', exclude => '{id,at}',
                                       hyperparams => '{"n_estimators": 5}') \gset
SELECT r LIKE '%<h1>Project &lt;b&gt;&amp;&quot;x&#39;</h1>%' AS escaped, r NOT LIKE '%<b>&"%' AS no_raw,
       r LIKE '%<h2>Open alerts</h2><p class="none">None.</p>%' AS no_alerts,
       r LIKE '%<h2>Latency of the deployed model</h2><p class="none">No calls of the deployed model %' AS no_calls,
       r LIKE '%<h2>Experiment</h2><p>%</p><p class="none">None.</p>%' AS no_experiment,
       (length(r) - length(replace(r, '<svg', ''))) / 4 AS charts
  FROM mlops.report('<b>&"x''') r;
SELECT mlops.report(NULL);
SELECT mlops.report('nope');
