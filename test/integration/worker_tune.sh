#!/usr/bin/env bash
#
# test/integration/worker_tune.sh: mlops.tune_async in the background
# worker, progress and cancel of a tune (issue 13)
#
# A throwaway cluster with mlops preloaded.  Checks: a tune_async job gives
# what a synchronous tune gives (the same trials and a byte-identical
# model); mlops.job_progress names the trial, fold and boosting round of a
# running tune; mlops.cancel_job stops it between boosting rounds and
# nothing of it is recorded; statement_timeout and pg_cancel_backend stop a
# synchronous tune.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" "synchronous_commit = on" \
	"mlops.scheduler_naptime = 100" "mlops.max_jobs = 1" "mlops.threads = 1"

wait_status() {
	wait_for "SELECT status FROM mlops.jobs WHERE id = $1" "$2" "${3:-120}"
}

sql "CREATE EXTENSION mlops" >/dev/null
sql "SELECT setseed(0.25);
     CREATE TABLE small AS SELECT i AS id, a, b, c, (a + b * b - c > 0.4)::int AS y
       FROM (SELECT i, random() AS a, random() AS b, random() AS c FROM generate_series(1, 400) i) s;
     CREATE TABLE big AS SELECT random() AS a, random() AS b, random() AS c, (random() > 0.5)::int AS y
       FROM generate_series(1, 20000)" >/dev/null
space='{"max_depth": [2, 3, 4], "n_estimators": {"min": 5, "max": 20, "int": true}}'
slow='{"n_estimators": [100000], "max_depth": [8]}'

# --- an async tune gives what a synchronous tune gives ----------------------

sync=$(sql "SELECT model_id || ' ' || tune_id FROM mlops.tune('sync', 'small', 'y', trials => 5, cv => 3,
              exclude => '{id}', search_space => '$space')")
job=$(sql "SELECT mlops.tune_async('async', 'small', 'y', trials => 5, cv => 3, exclude => '{id}', search_space => '$space')")
tap_is "$(wait_status "$job" succeeded)" succeeded "tune_async job $job succeeds"
tap_is "$(sql "SELECT j.result->>'model_id' = e.model_id::text AND j.kind = 'tune'
               FROM mlops.jobs j JOIN mlops.events e ON e.action = 'job_succeeded' AND (e.detail->>'job_id')::bigint = j.id
               WHERE j.id = $job")" t "the job's result is tune's row and its event names the model"
async_model=$(sql "SELECT result->>'model_id' FROM mlops.jobs WHERE id = $job")
async_tune=$(sql "SELECT result->>'tune_id' FROM mlops.jobs WHERE id = $job")
tap_is "$(sql "SELECT a.model = b.model AND a.hyperparams = b.hyperparams
               FROM mlops.models a, mlops.models b WHERE a.id = ${sync% *} AND b.id = $async_model")" t \
	"the job's model is byte-identical to the synchronous tune's"
tap_is "$(sql "SELECT count(*) FROM mlops.trials a JOIN mlops.trials b USING (trial)
               WHERE a.tune_id = ${sync#* } AND b.tune_id = $async_tune AND a.params = b.params AND a.scores = b.scores")" 5 \
	"with the same trials"

# --- progress and cancel of a running tune -----------------------------------

job=$(sql "SELECT mlops.tune_async('slow', 'big', 'y', trials => 3, cv => 5, search_space => '$slow')")
tap_is "$(wait_for "SELECT phase || ' ' || iterations_total FROM mlops.job_progress WHERE job_id = $job" \
	"tuning: trial 1 of 3, fold 1 of 5 100000")" "tuning: trial 1 of 3, fold 1 of 5 100000" \
	"mlops.job_progress names the trial and fold, with the boosting rounds as the total"
tap_is "$(wait_for "SELECT iterations_done > 0 FROM mlops.job_progress WHERE job_id = $job" t)" t \
	"and counts the boosting rounds done"
tap_is "$(sql "SELECT kind FROM mlops.job_progress WHERE job_id = $job")" tune "its kind is tune"
tap_is "$(sql "SELECT mlops.cancel_job($job)")" t "cancel_job of a running tune returns true"
tap_is "$(wait_status "$job" canceled 30)" canceled "the tune stops within a boosting round and is recorded as canceled"
tap_is "$(sql "SELECT count(*) FROM mlops.trials WHERE project = 'slow'")" 0 "a canceled tune records no trial"
tap_is "$(sql "SELECT count(*) FROM mlops.projects WHERE name = 'slow'")" 0 "and no project or model"

# --- statement_timeout and pg_cancel_backend stop a synchronous tune --------

start=$SECONDS
tap_like "$(sql_err "SET statement_timeout = '2s'; SELECT * FROM mlops.tune('slow', 'big', 'y', trials => 3, search_space => '$slow')")" \
	'canceling statement due to statement timeout' "statement_timeout stops a synchronous tune"
tap_ok $((SECONDS - start > 20)) "within seconds ($((SECONDS - start)) s)"

mlops_psql -At -c "SELECT * FROM mlops.tune('slow', 'big', 'y', trials => 3, search_space => '$slow')" \
	>"$MLOPS_CLUSTER_DIR/tune_cancel.out" 2>&1 &
client=$!
tap_is "$(wait_for "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%mlops.tune(''slow''%' AND pid <> pg_backend_pid()" 1)" 1 \
	"a synchronous tune runs"
sleep 1
sql "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%mlops.tune(''slow''%' AND pid <> pg_backend_pid()" >/dev/null
wait "$client" || true
tap_like "$(cat "$MLOPS_CLUSTER_DIR/tune_cancel.out")" 'canceling statement due to user request' \
	"pg_cancel_backend stops it"
tap_is "$(sql "SELECT count(*) FROM mlops.trials WHERE project = 'slow'")" 0 "nothing of the canceled tunes is recorded"

tap_done
