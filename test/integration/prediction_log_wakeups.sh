#!/usr/bin/env bash
#
# test/integration/prediction_log_wakeups.sh: the launcher's two kinds of
# pass, with a naptime of an hour (so that nothing below waits for it)
#
# A prediction log queue of 64 entries wakes the launcher when it holds 16
# rows, for a pass that only writes the log.  Checks: such a wake-up writes
# the queued rows; it does not run the other checks (retention is pruned by
# the full passes only); after a pass that wrote at least a sixteenth of
# the queue (4 rows) the launcher looks again on its own timer
# (mlops.log_writer_delay, 3 s here) and writes what came, fewer rows than
# a quarter too; after a look that found fewer than 4 it sleeps (3 rows
# wait) until a quarter-full queue wakes it; while it looks on its timer,
# half a queue wakes it before its time (the setting is the server's, not
# a session's); a queued job still gets a full pass, and so does a
# job worker's exit (the second of two jobs with mlops.max_jobs = 1 starts
# only once the launcher has seen the first one's worker exit, and a killed
# job worker is recorded as failed); every call is logged or counted as
# dropped (none lost).
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

data=$MLOPS_ROOT/contrib/datasets

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" \
	"mlops.scheduler_naptime = '1h'" "mlops.log_queue_size = 64" "mlops.max_jobs = 1" \
	"mlops.log_writer_delay = '3s'"
sql "CREATE EXTENSION mlops" >/dev/null
mlops_load_csv "$data/iris.csv" iris species text
sql "SELECT setseed(0.25);
     CREATE TABLE small AS SELECT i AS id, a, b, c, (a + b * b - c > 0.4)::int AS y
       FROM (SELECT i, random() AS a, random() AS b, random() AS c FROM generate_series(1, 400) i) s;
     CREATE TABLE big AS SELECT random() AS a, random() AS b, random() AS c, (random() > 0.5)::int AS y
       FROM generate_series(1, 20000)" >/dev/null
sql "SELECT model_id FROM mlops.train('iris', 'iris', 'species', algorithm => 'logistic')" >/dev/null
sql "SELECT mlops.set_policy('iris', '{\"log_predictions\": {\"sample\": 1}, \"log_retention\": \"30 days\"}')" >/dev/null
sql "SELECT mlops.serving_stats_reset()" >/dev/null

wait_status() {
	wait_for "SELECT status FROM mlops.jobs WHERE id = $1" "$2" "${3:-60}"
}

# an old row that retention would prune at a full pass
sql "INSERT INTO mlops.predictions (project, model_id, variant, key, predicted_at, prediction)
     SELECT 'iris', id, 'champion', 'old', now() - interval '31 days', 0 FROM mlops.models LIMIT 1" >/dev/null

# 16 calls fill a quarter of the queue: the wake-up writes them
sql "SELECT count(mlops.predict('iris', t)) FROM (SELECT * FROM iris LIMIT 16) t" >/dev/null
tap_is "$(wait_for "SELECT count(*) FROM mlops.predictions WHERE key IS NULL" 16 30)" 16 \
	"a quarter-full queue wakes the launcher, which writes the queued rows"
sleep 1
tap_is "$(sql "SELECT count(*) FROM mlops.predictions WHERE key = 'old'")" 1 \
	"that wake-up only writes the log: retention waits for a full pass"

# rows that keep coming: the launcher looks on its own timer
tap_is "$(sql "SHOW mlops.log_writer_delay")" 3s "mlops.log_writer_delay is the configured 3 s"
tap_like "$(sql_err "SET mlops.log_writer_delay = '1s'")" 'parameter "mlops.log_writer_delay" cannot be changed now' \
	"mlops.log_writer_delay is set in the configuration (reload), not per session"
logged="SELECT count(*) FROM mlops.predictions WHERE key IS NULL"
calls() {
	sql "SELECT count(mlops.predict('iris', t)) FROM (SELECT * FROM iris LIMIT $1) t" >/dev/null
}
calls 5
tap_is "$(wait_for "$logged" 21 10)" 21 \
	"after a pass that wrote a sixteenth of the queue the launcher looks again: 5 rows (no wake-up) are written"
calls 2
tap_is "$(wait_for "$logged" 23 10)" 23 "the next look writes 2 rows"
calls 3
sleep 7
tap_is "$(sql "$logged")" 23 "after a look that found fewer than a sixteenth it sleeps: 3 rows wait"
calls 13
tap_is "$(wait_for "$logged" 39 10)" 39 "until a quarter-full queue wakes it"
calls 32
tap_is "$(wait_for "$logged" 71 2)" 71 \
	"a pass of 16 rows has it look on its timer again, and meanwhile half a queue wakes it before its time"

# a queued job wakes the launcher for a full pass: the job runs, retention is pruned
j1=$(sql "SELECT mlops.train_async('jobs_a', 'small', 'y', exclude => '{id}')")
j2=$(sql "SELECT mlops.train_async('jobs_b', 'small', 'y', exclude => '{id}')")
tap_is "$(wait_status "$j1" succeeded)" succeeded "a queued job gets a full pass and runs"
tap_is "$(sql "SELECT count(*) FROM mlops.predictions WHERE key = 'old'")" 0 "the full pass prunes by retention"
tap_is "$(wait_status "$j2" succeeded)" succeeded \
	"a job worker's exit gets a full pass: the second job starts in the freed place (max_jobs 1)"

# a killed job worker, while the queue's wake-ups come and go: recorded as failed at once
j3=$(sql "SELECT mlops.train_async('jobs_c', 'big', 'y', test_size => 0.1,
                 hyperparams => '{\"n_estimators\": 100000, \"max_depth\": 8}')")
wait_for "SELECT count(*) FROM mlops.job_progress WHERE job_id = $j3" 1 >/dev/null
sql "SELECT count(mlops.predict('iris', t)) FROM iris t" >/dev/null
sql "SELECT pg_terminate_backend(pid) FROM mlops.jobs WHERE id = $j3" >/dev/null
sql "SELECT count(mlops.predict('iris', t)) FROM iris t" >/dev/null
tap_is "$(wait_status "$j3" failed 30)" failed "a terminated job worker is recorded as failed without waiting for the naptime"

# none lost: after a full pass (a queued job) every call is logged or dropped
sql "SELECT count(mlops.predict('iris', t)) FROM iris t, generate_series(1, 10)" >/dev/null
j4=$(sql "SELECT mlops.train_async('jobs_d', 'small', 'y', exclude => '{id}')")
wait_status "$j4" succeeded >/dev/null
read -r calls dropped < <(sql "SELECT calls, dropped FROM mlops.serving_stats WHERE project = 'iris'" | tr '|' ' ')
logged=$(sql "SELECT count(*) FROM mlops.predictions WHERE key IS NULL")
tap_is "$((calls - dropped - logged))" 0 "every call is logged or counted as dropped ($calls calls, $dropped dropped)"

tap_done
