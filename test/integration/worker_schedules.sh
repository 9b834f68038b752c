#!/usr/bin/env bash
#
# test/integration/worker_schedules.sh: schedules, retraining, pg_cron
#
# A throwaway cluster with mlops and pg_cron preloaded.  A project is
# trained on "old" rows (y = 2x, x in [0, 10]); "new" rows drift (x in
# [10, 20], y = 60 - 3x).  Checks: bad input to mlops.schedule; a
# one-second schedule retrains on the drifted rows and deploys the better
# model; the next run finds no drift and skips; a retrain that would deploy
# a worse model (its training rows are noise) and one that asks for more
# improvement than possible train but do not deploy, and say why in
# mlops.events; a schedule never runs twice at once; a server that was down
# over several intervals runs a missed schedule once; a dropped project's
# schedule goes away; pg_cron calling mlops.retrain leaves its events.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

mlops_cluster_start "shared_preload_libraries = 'mlops,pg_cron'" "mlops.database = 'postgres'" \
	"mlops.scheduler_naptime = 100" "cron.database_name = 'postgres'" "cron.use_background_workers = on"

# Id of the newest retrain job of project $1 (0 when none)
last_retrain() {
	sql "SELECT coalesce(max(id), 0) FROM mlops.jobs WHERE kind = 'retrain' AND project = '$1'"
}

# Wait until project $1 has a finished retrain job newer than job $2; print its id
next_retrain() {
	wait_for "SELECT count(*) > 0 FROM mlops.jobs WHERE kind = 'retrain' AND project = '$1' AND id > $2
	          AND status IN ('succeeded', 'failed', 'canceled')" t >/dev/null
	sql "SELECT min(id) FROM mlops.jobs WHERE kind = 'retrain' AND project = '$1' AND id > $2"
}

sql "CREATE EXTENSION pg_cron; CREATE EXTENSION mlops" >/dev/null
sql "SELECT setseed(0.5);
     CREATE TABLE old_data AS SELECT x, 2 * x + (random() - 0.5) AS y
       FROM (SELECT random() * 10 AS x FROM generate_series(1, 400)) s;
     CREATE TABLE new_data AS SELECT x, 60 - 3 * x + (random() - 0.5) AS y
       FROM (SELECT 10 + random() * 10 AS x FROM generate_series(1, 400)) s" >/dev/null
first=$(sql "SELECT model_id FROM mlops.train('reg', 'old_data', 'y', algorithm => 'linear')")
cron_first=$(sql "SELECT model_id FROM mlops.train('cronp', 'old_data', 'y', algorithm => 'linear')")

# pg_cron fires at the next minute boundary; the other checks run meanwhile
tap_like "$(sql "SELECT cron.schedule('mlops-retrain', '* * * * *', \$\$SELECT * FROM mlops.retrain('cronp', 'new_data')\$\$)")" \
	'^[0-9]+$' "pg_cron schedules a call of mlops.retrain"

# --- bad input -------------------------------------------------------------------

tap_like "$(sql_err "SELECT mlops.schedule('nope', '1 day')")" 'ERROR:  project "nope" does not exist' \
	"schedule of an unknown project is an error"
tap_like "$(sql_err "SELECT mlops.schedule('reg', '0 seconds')")" 'ERROR:  schedule interval must be positive' \
	"a zero interval is an error"
tap_like "$(sql_err "SELECT mlops.schedule('reg', '-1 hour')")" 'schedule interval must be positive.*"-01:00:00"' \
	"a negative interval is an error naming it"
tap_like "$(sql_err "SELECT mlops.schedule('reg', '1 day -25 hours')")" 'ERROR:  schedule interval must be positive' \
	"an interval that adds up to less than zero is an error"
tap_like "$(sql_err "SELECT mlops.schedule('reg', NULL)")" 'ERROR:  project and every must not be NULL' \
	"a NULL interval is an error"
tap_like "$(sql_err "SELECT mlops.schedule('reg', '1 day', policy => '{\"retrian\": \"always\"}')")" \
	'ERROR:  unknown policy key "retrian".*HINT:  Valid keys are "retrain", "drift_share", "on_prediction_drift", "min_improvement", "deploy", "metric", "min_score", "require_approval", "approvers",? (and )?"deploy_window"' \
	"an unknown policy key is an error listing the valid ones"
tap_like "$(sql_err "SELECT mlops.schedule('reg', '1 day', policy => '{\"drift_share\": 2}')")" \
	'ERROR:  policy "drift_share" must be a number between 0 and 1' "an out-of-range policy value is an error"
tap_like "$(sql_err "SELECT mlops.schedule('reg', '1 day', policy => '{\"retrain\": 1}')")" \
	'ERROR:  policy "retrain" must be "on_drift" or "always"' "a policy value of the wrong type is an error"
tap_like "$(sql_err "SELECT mlops.schedule('reg', '1 day', policy => '[1]')")" 'ERROR:  policy must be a JSON object' \
	"a policy that is not an object is an error"
tap_like "$(sql_err "SELECT mlops.schedule('reg', '1 day', 'no_such_table')")" 'ERROR:  relation "no_such_table" does not exist' \
	"an unknown relation is an error"
sql "CREATE ROLE mallory LOGIN" >/dev/null
tap_like "$(sql_err "SET ROLE mallory; SELECT mlops.schedule('reg', '1 day')")" 'ERROR:  permission denied for project "reg"' \
	"another role cannot schedule the project"
tap_is "$(sql "SELECT count(*) FROM mlops.schedules")" 0 "no schedule was recorded by the bad calls"

# --- a schedule retrains on drifted rows and deploys the better model -----------

out=$(sql_err "SELECT mlops.schedule('reg', '1 second', 'new_data')")
tap_like "$out" '^[0-9]+$' "schedule returns the schedule id, without a warning when the worker runs"
sid=$out
job=$(next_retrain reg 0)
tap_is "$(sql "SELECT status || ' ' || kind || ' ' || submitted_by || ' ' || schedule_id FROM mlops.jobs WHERE id = $job")" \
	"succeeded retrain postgres $sid" "the schedule fires a retrain job as the role that scheduled it"
tap_is "$(sql "SELECT result->>'action' || ' ' || (result->>'deployed') || ' ' || (result->>'old_model_id')
               FROM mlops.jobs WHERE id = $job")" "retrained true $first" "the retrain on drifted rows deploys a new model"
tap_like "$(sql "SELECT result->>'reason' FROM mlops.jobs WHERE id = $job")" '>= deployed .* 1 of 1 columns drifted' \
	"the reason compares the scores and names the drift"
new=$(sql "SELECT result->>'new_model_id' FROM mlops.jobs WHERE id = $job")
tap_is "$(sql "SELECT (metrics->>'r2')::float8 > 0.99 FROM mlops.models WHERE id = $new")" t \
	"the new model fits the drifted rows (r2 > 0.99)"
tap_is "$(sql "SELECT (detail->'deployed_metrics_same_rows'->>'r2')::float8 < 0 FROM mlops.events
               WHERE action = 'retrain' AND project = 'reg' AND model_id = $new")" t \
	"the old model scored worse than the mean (r2 < 0) on the same held-out rows"
tap_is "$(sql "SELECT model_id FROM mlops.overview WHERE project = 'reg'")" "$new" "the new model is deployed"
tap_is "$(sql "SELECT string_agg(action, ',' ORDER BY id) FROM mlops.events WHERE project = 'reg'
               AND id >= (SELECT id FROM mlops.events WHERE action = 'schedule_created' AND project = 'reg')
               AND id <= (SELECT id FROM mlops.events WHERE action = 'job_succeeded' AND (detail->>'job_id')::bigint = $job)
               AND action IN ('schedule_created', 'job_queued', 'job_started', 'retrain', 'job_succeeded')")" \
	"schedule_created,job_queued,job_started,retrain,job_succeeded" "mlops.events tells the story"
tap_is "$(sql "SELECT count(*) FROM mlops.events WHERE action = 'deploy' AND project = 'reg' AND model_id = $new")" 1 \
	"including the deploy of the new model"
job=$(next_retrain reg "$job")
tap_is "$(sql "SELECT status || ' ' || (result->>'action') FROM mlops.jobs WHERE id = $job")" "succeeded skipped" \
	"the next run finds no drift against the new model and skips"
tap_like "$(sql "SELECT result->>'reason' FROM mlops.jobs WHERE id = $job")" '^no drift' "saying so"
# the privilege is checked before the schedule's row is locked
sql "CREATE ROLE sched_outsider LOGIN" >/dev/null
mlops_psql -At -c "BEGIN; SELECT 1 FROM mlops.schedules WHERE project = 'reg' FOR UPDATE; SELECT pg_sleep(3); COMMIT" >/dev/null &
holder=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'BEGIN; SELECT 1 FROM mlops.schedules%' AND state = 'active'" 1 >/dev/null
tap_like "$(sql_err "SET lock_timeout = '500ms'; SET ROLE sched_outsider; SELECT mlops.unschedule('reg')")" \
	'ERROR:  permission denied for project "reg"' "a role that may not remove a schedule never waits for its row lock"
wait $holder
tap_is "$(sql "SELECT mlops.unschedule('reg')")" t "unschedule removes the schedule"
tap_is "$(sql "SELECT mlops.unschedule('reg')")" f "unschedule of a project without a schedule returns false"
tap_is "$(sql "SELECT count(*) FROM mlops.events WHERE action = 'schedule_removed' AND project = 'reg'")" 1 \
	"the removal is in mlops.events"

# --- a retrain that would deploy a worse model does not -----------------------

# held out: the last quarter by t, clean in both tables; ord_bad's training rows are noise
sql "SELECT setseed(0.125);
     CREATE TABLE ord_clean AS SELECT t, x, 2 * x + 1 + (random() - 0.5) * 0.1 AS y
       FROM (SELECT g AS t, random() * 10 AS x FROM generate_series(1, 200) g) s;
     CREATE TABLE ord_bad AS SELECT t, x, CASE WHEN t <= 150 THEN random() * 100
                                           ELSE 2 * x + 1 + (random() - 0.5) * 0.1 END AS y
       FROM (SELECT g AS t, random() * 10 AS x FROM generate_series(1, 200) g) s" >/dev/null
ord_first=$(sql "SELECT model_id FROM mlops.train('ord', 'ord_clean', 'y', algorithm => 'linear',
                                                   order_by => 't', exclude => '{t}')")
sql "SELECT mlops.schedule('ord', '1 second', 'ord_bad', '{\"retrain\": \"always\"}')" >/dev/null
job=$(next_retrain ord 0)
sql "SELECT mlops.unschedule('ord')" >/dev/null
tap_is "$(sql "SELECT status || ' ' || (result->>'action') || ' ' || (result->>'deployed') FROM mlops.jobs WHERE id = $job")" \
	"succeeded retrained false" "a retrain on rows whose training part is noise trains but does not deploy"
tap_like "$(sql "SELECT detail->>'reason' FROM mlops.events WHERE action = 'retrain' AND project = 'ord'
                 AND model_id = (SELECT (result->>'new_model_id')::bigint FROM mlops.jobs WHERE id = $job)")" \
	'^new r2 -[0-9.]+ < deployed (0\.99[0-9]+|1\.0000) \+ min_improvement 0 on the same 50 held-out rows' \
	"mlops.events says why: the new model is worse on the same held-out rows"
tap_is "$(sql "SELECT model_id FROM mlops.overview WHERE project = 'ord'")" "$ord_first" "the deployed model stays"

# --- a retrain that would not improve enough does not deploy ----------------------

before=$(last_retrain reg)
sql "SELECT mlops.schedule('reg', '1 second', 'new_data', '{\"retrain\": \"always\", \"min_improvement\": 0.5}')" >/dev/null
job=$(next_retrain reg "$before")
sql "SELECT mlops.unschedule('reg')" >/dev/null
tap_is "$(sql "SELECT status || ' ' || (result->>'action') || ' ' || (result->>'deployed') FROM mlops.jobs WHERE id = $job")" \
	"succeeded retrained false" "a retrain that does not beat the deployed model by min_improvement is not deployed"
tap_like "$(sql "SELECT detail->>'reason' FROM mlops.events WHERE action = 'retrain' AND project = 'reg'
                 AND model_id = (SELECT (result->>'new_model_id')::bigint FROM mlops.jobs WHERE id = $job)")" \
	'^new r2 0\.99[0-9]+ < deployed 0\.99[0-9]+ \+ min_improvement 0\.5 on the same [0-9]+ held-out rows' \
	"mlops.events says why"
tap_is "$(sql "SELECT model_id FROM mlops.overview WHERE project = 'reg'")" "$new" "the deployed model stays"

# --- scheduling again replaces the settings --------------------------------------

id1=$(sql "SELECT mlops.schedule('reg', '1 hour')")
id2=$(sql "SELECT mlops.schedule('reg', '2 hours', 'new_data', '{\"deploy\": \"never\"}')")
tap_is "$id2" "$id1" "scheduling a project again keeps its schedule id"
tap_is "$(sql "SELECT every || ' ' || relation || ' ' || policy::text || ' ' || (next_run_at > now() + interval '119 minutes')
               FROM mlops.schedules WHERE id = $id2")" '02:00:00 public.new_data {"deploy": "never"} true' \
	"with the new interval, relation (schema-qualified) and policy"
tap_is "$(sql "SELECT detail->>'every' || ' ' || (detail->'policy'->>'deploy') FROM mlops.events
               WHERE action = 'schedule_updated' AND project = 'reg'")" "02:00:00 never" "the change is in mlops.events"
sql "SELECT mlops.unschedule('reg')" >/dev/null

# --- a schedule never runs twice at once --------------------------------------

before=$(last_retrain reg)
sid=$(sql "SELECT mlops.schedule('reg', '10 milliseconds', 'new_data', '{\"retrain\": \"always\", \"deploy\": \"never\"}')")
wait_for "SELECT count(*) >= 5 FROM mlops.jobs WHERE schedule_id = $sid AND status = 'succeeded'" t >/dev/null
sql "SELECT mlops.unschedule('reg')" >/dev/null
wait_for "SELECT count(*) FROM mlops.jobs WHERE status IN ('queued', 'running')" 0 >/dev/null
tap_is "$(sql "SELECT count(*) >= 5 FROM mlops.jobs WHERE id > $before AND kind = 'retrain' AND status = 'succeeded'")" t \
	"a 10 ms schedule ran its retrain over and over"
tap_is "$(sql "SELECT count(*) FROM mlops.jobs a JOIN mlops.jobs b ON a.project = b.project AND a.id < b.id
               WHERE a.kind = 'retrain' AND b.kind = 'retrain' AND b.started_at < a.finished_at")" 0 \
	"but never two runs at once (no retrain job started before the previous one finished)"

# --- a server that was down runs a missed schedule once ------------------------

sid=$(sql "SELECT mlops.schedule('reg', '3 seconds', 'new_data', '{\"retrain\": \"always\", \"deploy\": \"never\"}')")
before=$(last_retrain reg)
next_retrain reg "$before" >/dev/null
mlops_cluster_stop fast
sleep 7
mlops_pg_ctl_start
tap_is "$(wait_for "SELECT count(*) FROM mlops.jobs WHERE schedule_id = $sid AND queued_at > pg_postmaster_start_time()" 1 30)" 1 \
	"after the server was down for two intervals the schedule runs"
sleep 1
tap_is "$(sql "SELECT count(*) FROM mlops.jobs WHERE schedule_id = $sid AND queued_at > pg_postmaster_start_time()")" 1 \
	"once, not once per missed interval"
tap_is "$(sql "SELECT next_run_at > clock_timestamp() AND next_run_at <= clock_timestamp() + interval '3 seconds'
               FROM mlops.schedules WHERE id = $sid")" t "and the next run is one interval after it"
sql "SELECT mlops.unschedule('reg')" >/dev/null

# --- a quiet day: a scheduled retrain on an empty relation is skipped ------------

sql "CREATE VIEW quiet AS SELECT * FROM new_data WHERE x < 0" >/dev/null
before=$(last_retrain reg)
sql "SELECT mlops.schedule('reg', '1 second', 'quiet')" >/dev/null
job=$(next_retrain reg "$before")
sql "SELECT mlops.unschedule('reg')" >/dev/null
tap_is "$(sql "SELECT status || ' ' || (result->>'action') || ': ' || (result->>'reason') FROM mlops.jobs WHERE id = $job")" \
	"succeeded skipped: no rows" "a scheduled retrain on an empty relation succeeds, skipped for \"no rows\""

# --- a dropped project's schedule goes away ---------------------------------------

sql "SELECT model_id FROM mlops.train('dropme', 'old_data', 'y', algorithm => 'linear')" >/dev/null
sql "SELECT mlops.schedule('dropme', '1 hour')" >/dev/null
sql "SELECT mlops.drop_project('dropme')" >/dev/null
tap_is "$(wait_for "SELECT count(*) FROM mlops.schedules WHERE project = 'dropme'" 0 20)" 0 \
	"the schedule of a dropped project is removed"
tap_is "$(sql "SELECT detail->>'reason' FROM mlops.events WHERE action = 'schedule_removed' AND project = 'dropme'")" \
	"the project was dropped" "saying why"

# --- pg_cron calls mlops.retrain --------------------------------------------------

tap_is "$(wait_for "SELECT status FROM cron.job_run_details ORDER BY runid LIMIT 1" succeeded 100)" succeeded \
	"pg_cron's job calling mlops.retrain succeeds"
tap_is "$(sql "SELECT detail->>'action' || ' ' || (detail->'drift'->>'drifted') FROM mlops.events
               WHERE action = 'retrain' AND project = 'cronp' ORDER BY id LIMIT 1")" "retrained 1" \
	"and leaves its retrain decision in mlops.events"
tap_is "$(sql "SELECT count(*) FROM mlops.events e JOIN mlops.overview o ON o.model_id = e.model_id
               WHERE e.action = 'deploy' AND e.project = 'cronp' AND o.project = 'cronp'
                 AND (e.detail->>'previous_model_id')::bigint = $cron_first")" 1 \
	"and its deploy of the model it trained"
sql "SELECT cron.unschedule('mlops-retrain')" >/dev/null

tap_done
