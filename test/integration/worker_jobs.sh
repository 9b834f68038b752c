#!/usr/bin/env bash
#
# test/integration/worker_jobs.sh: the background worker runs jobs
#
# A throwaway cluster with mlops preloaded (mlops.max_jobs = 1, a short
# naptime, mlops.threads = 2).  Checks: no library threads in the
# postmaster; an async job gives the same model as a synchronous train;
# progress is visible while a job runs; at most mlops.max_jobs run (and a
# reload raises it); cancel of queued, running and finished jobs; a killed
# job worker is recorded as failed and the launcher goes on; a terminated
# launcher comes back; jobs run with the submitting role's privileges (and
# train_async refuses a relation the role cannot read); bad input; a
# crashed job worker; after a crash restart, running jobs are failed and
# queued ones run.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" "synchronous_commit = on" \
	"mlops.scheduler_naptime = 100" "mlops.max_jobs = 1" "mlops.threads = 2"

# Threads of the postmaster (libxgboost and OpenBLAS must not start any there)
postmaster_threads() {
	awk '/^Threads:/ { print $2 }' "/proc/$(head -n 1 "$MLOPS_CLUSTER_DIR/data/postmaster.pid")/status"
}

# Queue a training job that runs until it is stopped; print its id
slow_job() {
	sql "SELECT mlops.train_async('$1', 'big', 'y', test_size => 0.1,
	         hyperparams => '{\"n_estimators\": 100000, \"max_depth\": 8}')"
}

# Queue a quick training job as the current role; print its id
quick_job() {
	sql "SELECT mlops.train_async('$1', 'small', 'y', exclude => '{id}')"
}

# Wait until job $1 has status $2; print the status it has then
wait_status() {
	wait_for "SELECT status FROM mlops.jobs WHERE id = $1" "$2" "${3:-60}"
}

# Wait until job $1 shows in mlops.job_progress (its worker runs it)
wait_running() {
	wait_for "SELECT count(*) FROM mlops.job_progress WHERE job_id = $1" 1
}

tap_is "$(postmaster_threads)" 1 "the preloaded postmaster runs one thread"

sql "CREATE EXTENSION mlops" >/dev/null
sql "SELECT setseed(0.25);
     CREATE TABLE small AS SELECT i AS id, a, b, c, (a + b * b - c > 0.4)::int AS y
       FROM (SELECT i, random() AS a, random() AS b, random() AS c FROM generate_series(1, 400) i) s;
     CREATE TABLE big AS SELECT random() AS a, random() AS b, random() AS c, (random() > 0.5)::int AS y
       FROM generate_series(1, 20000)" >/dev/null

tap_like "$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mlops scheduler' AND datname = 'postgres'")" \
	'^[0-9]+$' "the launcher runs as backend type 'mlops scheduler' in mlops.database"

# --- an async job gives what a synchronous train gives ---------------------

sync_id=$(sql "SELECT model_id FROM mlops.train('sync', 'small', 'y', exclude => '{id}')")
job=$(quick_job async)
tap_is "$(wait_status "$job" succeeded)" succeeded "train_async job $job succeeds"
async_id=$(sql "SELECT (result->>'model_id')::bigint FROM mlops.jobs WHERE id = $job")
tap_is "$(sql "SELECT a.model = b.model AND a.features = b.features
                 AND a.metrics - 'fit_seconds' = b.metrics - 'fit_seconds'
                 AND a.hyperparams = b.hyperparams
               FROM mlops.models a, mlops.models b WHERE a.id = $sync_id AND b.id = $async_id")" t \
	"the job's model is byte-identical to a synchronous train's, with the same metrics"
tap_is "$(sql "SELECT count(*) FROM small s
               WHERE mlops.predict_proba('sync', s) IS DISTINCT FROM mlops.predict_proba('async', s)")" 0 \
	"both models predict the same probabilities on every row"
tap_is "$(sql "SELECT (result->'metrics') - 'fit_seconds' = (SELECT metrics - 'fit_seconds' FROM mlops.models WHERE id = $async_id)
                 AND result->>'project' = 'async' AND (result->>'deployed')::boolean
               FROM mlops.jobs WHERE id = $job")" t "the job's result is mlops.train's result row"
tap_is "$(sql "SELECT string_agg(training->>'threads', ',' ORDER BY id) FROM mlops.models")" 2,2 \
	"training in a backend and in a job both used mlops.threads = 2"
tap_is "$(sql "SELECT string_agg(action, ',' ORDER BY id) FROM mlops.events
               WHERE action LIKE 'job%' AND (detail->>'job_id')::bigint = $job")" job_queued,job_started,job_succeeded \
	"the job's state changes are in mlops.events"
tap_is "$(sql "SELECT model_id = $async_id FROM mlops.events_log
               WHERE action = 'job_succeeded' AND (detail->>'job_id')::bigint = $job")" t \
	"the job_succeeded event names the model it made"
tap_is "$(sql "SELECT submitted_by || ' ' || (started_at >= queued_at) || ' ' || (finished_at >= started_at) || ' ' || (pid > 0)
               FROM mlops.jobs WHERE id = $job")" "postgres true true true" "the job records role, timings and worker PID"
tap_is "$(postmaster_threads)" 1 "the postmaster still runs one thread after training in a backend and a job"

# --- progress, mlops.max_jobs, cancel ----------------------------------------

a=$(slow_job slow_a)
tap_is "$(wait_running "$a")" 1 "a running job shows in mlops.job_progress"
tap_is "$(wait_for "SELECT phase || ' ' || iterations_total FROM mlops.job_progress WHERE job_id = $a" "fitting 100000")" \
	"fitting 100000" "its phase is fitting, with the number of boosting rounds as the total"
tap_is "$(sql "SELECT p.pid = j.pid AND p.kind = 'train' AND p.project = 'slow_a' AND p.elapsed > interval '0'
                 AND p.iterations_done BETWEEN 0 AND p.iterations_total
                 AND p.percent = round(100.0 * p.iterations_done / p.iterations_total, 1)
               FROM mlops.job_progress p JOIN mlops.jobs j ON j.id = p.job_id WHERE p.job_id = $a")" t \
	"its progress row has the worker's PID, iterations, percent and the elapsed time"
tap_is "$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mlops job' AND usename = 'postgres'")" 1 \
	"the job runs in a background worker of type 'mlops job' as the submitting role"
b=$(quick_job queued_b)
sleep 0.5
tap_is "$(sql "SELECT status FROM mlops.jobs WHERE id = $b")" queued "with mlops.max_jobs = 1 a second job waits"
tap_is "$(sql "SELECT mlops.cancel_job($b)")" t "cancel_job of a queued job returns true"
tap_is "$(sql "SELECT status || ': ' || error FROM mlops.jobs WHERE id = $b")" "canceled: canceled before it started" \
	"the queued job is canceled at once"
tap_is "$(sql "SELECT mlops.cancel_job($a)")" t "cancel_job of a running job returns true"
tap_is "$(wait_status "$a" canceled)" canceled "the running job stops and is recorded as canceled"
tap_is "$(sql "SELECT error FROM mlops.jobs WHERE id = $a")" "canceled while running" "with the reason"
tap_like "$(sql_err "SELECT mlops.cancel_job($a)")" 'NOTICE:  job [0-9]+ already finished with status "canceled".*f$' \
	"cancel_job of a finished job returns false with a notice"
tap_like "$(sql_err "SELECT mlops.cancel_job(999999)")" 'ERROR:  job 999999 does not exist' \
	"cancel_job of an unknown job is an error"
tap_is "$(sql "SELECT count(*) FROM mlops.job_progress")" 0 "no job shows in mlops.job_progress once they stopped"

sql "CREATE ROLE mallory LOGIN" >/dev/null
c=$(slow_job slow_c)
wait_running "$c" >/dev/null
tap_like "$(sql_err "SET ROLE mallory; SELECT mlops.cancel_job($c)")" \
	'ERROR:  permission denied to cancel job' "another role cannot cancel the job"
# the privilege is checked before the job's row is locked: mallory is refused
# at once while another session holds the row, not after waiting for it
mlops_psql -At -c "BEGIN; SELECT 1 FROM mlops.jobs WHERE id = $c FOR UPDATE; SELECT pg_sleep(3); COMMIT" >/dev/null &
holder=$!
wait_for "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'BEGIN; SELECT 1 FROM mlops.jobs%' AND state = 'active'" 1 >/dev/null
tap_like "$(sql_err "SET lock_timeout = '500ms'; SET ROLE mallory; SELECT mlops.cancel_job($c)")" \
	'ERROR:  permission denied to cancel job' "a role that may not cancel a job never waits for its row lock"
wait $holder

# --- a killed job worker, a terminated launcher ------------------------------

launcher=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'")
sql "SELECT pg_terminate_backend(pid) FROM mlops.jobs WHERE id = $c" >/dev/null
tap_is "$(wait_status "$c" failed)" failed "a job whose worker was terminated is recorded as failed"
tap_like "$(sql "SELECT error FROM mlops.jobs WHERE id = $c")" '^job worker exited before the job finished' \
	"with a reason"
tap_is "$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'")" "$launcher" \
	"the launcher did not go down"
job=$(quick_job after_kill)
tap_is "$(wait_status "$job" succeeded)" succeeded "the launcher goes on running jobs"

sql "SELECT pg_terminate_backend($launcher)" >/dev/null
tap_like "$(wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mlops scheduler' AND pid <> $launcher" 1 20)" \
	'^1$' "a terminated launcher comes back"
job=$(quick_job after_launcher)
tap_is "$(wait_status "$job" succeeded)" succeeded "the new launcher runs jobs"

# --- a reload changes mlops.max_jobs -----------------------------------------

sql "ALTER SYSTEM SET mlops.max_jobs = 2" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
f=$(slow_job slow_f)
g=$(slow_job slow_g)
tap_is "$(wait_for "SELECT count(*) FROM mlops.job_progress" 2)" 2 "after a reload with mlops.max_jobs = 2 two jobs run at once"
sql "SELECT mlops.cancel_job($f), mlops.cancel_job($g)" >/dev/null
wait_status "$f" canceled >/dev/null
wait_status "$g" canceled >/dev/null

# --- jobs run as the submitting role ------------------------------------------

sql "CREATE ROLE alice LOGIN; CREATE ROLE carol NOLOGIN;
     CREATE TABLE secret AS SELECT * FROM small; CREATE TABLE shared AS SELECT * FROM small;
     GRANT SELECT ON small, shared TO alice, carol" >/dev/null
tap_like "$(sql_err "SET ROLE alice; SELECT mlops.train_async('alice_p', 'secret', 'y', exclude => '{id}')")" \
	'ERROR:  permission denied for table secret' "train_async of a role without SELECT on the relation is refused when called"
tap_is "$(sql "SELECT count(*) FROM mlops.jobs WHERE project = 'alice_p'")" 0 "and queues no job"
job=$(sql "SET ROLE alice; SELECT mlops.train_async('alice_p', 'small', 'y', exclude => '{id}')")
tap_is "$(wait_status "$job" succeeded)" succeeded "the same role's job on a table it may read succeeds"
tap_is "$(sql "SELECT created_by FROM mlops.projects WHERE name = 'alice_p'")" alice "and creates the project as that role"
job=$(mlops_psql -At <<'EOF'
BEGIN;
SET LOCAL ROLE alice;
SELECT mlops.train_async('alice_p', 'shared', 'y', exclude => '{id}');
RESET ROLE;
REVOKE SELECT ON shared FROM alice;
COMMIT;
EOF
)
tap_is "$(wait_status "$job" failed)" failed "a job whose role lost SELECT before it ran fails"
tap_is "$(sql "SELECT error || ' ' || (SELECT detail->>'sqlstate' FROM mlops.events WHERE action = 'job_failed'
                                       AND (detail->>'job_id')::bigint = $job)
               FROM mlops.jobs WHERE id = $job")" "permission denied for table shared 42501" \
	"with the permission error and its SQLSTATE"
job=$(sql "SET ROLE carol; SELECT mlops.train_async('carol_p', 'small', 'y', exclude => '{id}')")
tap_is "$(wait_status "$job" failed)" failed "a job of a role that may not log in fails"
tap_is "$(sql "SELECT error FROM mlops.jobs WHERE id = $job")" \
	'role "carol" cannot run jobs: it is not permitted to log in' "with a clear reason"

# --- bad input and a dropped relation --------------------------------------------

sql "CREATE TABLE doomed AS SELECT * FROM small" >/dev/null
job=$(mlops_psql -At <<'EOF'
BEGIN;
SELECT mlops.train_async('doomed_p', 'doomed', 'y', exclude => '{id}');
DROP TABLE doomed;
COMMIT;
EOF
)
tap_is "$(wait_status "$job" failed)" failed "a job whose relation was dropped fails"
tap_is "$(sql "SELECT error FROM mlops.jobs WHERE id = $job")" 'relation "public.doomed" does not exist' \
	"naming the relation it was given (schema-qualified when queued)"
tap_like "$(sql_err "SELECT mlops.train_async('bad_alg', 'small', 'y', algorithm => 'nope')")" \
	'ERROR:  unknown algorithm "nope"' "train_async refuses a bad argument when called, with mlops.train's error"
tap_is "$(sql "SELECT count(*) FROM mlops.jobs WHERE project = 'bad_alg'")" 0 "and queues no job"
tap_like "$(sql_err "SELECT mlops.train_async(NULL, 'small', 'y')")" 'ERROR:  project must not be NULL' \
	"train_async refuses a NULL project"
tap_like "$(sql_err "SELECT mlops.train_async('p', 'no_such_table', 'y')")" 'ERROR:  relation "no_such_table" does not exist' \
	"train_async refuses an unknown relation when called"
tap_like "$(sql_err "SELECT mlops.train_async('', 'small', 'y')")" 'ERROR:  invalid project name ""' \
	"train_async refuses an empty project name"
tap_like "$(sql_err "SET ROLE mallory; SELECT mlops.train_async('alice_p', 'small', 'y')")" \
	'ERROR:  permission denied for project "alice_p"' "train_async refuses another role's project"
tap_like "$(sql_err "SET ROLE mallory; INSERT INTO mlops.jobs (kind, project, args) VALUES ('train', 'x', '{}')")" \
	'ERROR:  permission denied for table jobs' "the jobs table is read-only for other roles"

# --- a crashed job worker: the server restarts, so does the launcher ----------

k=$(slow_job slow_k)
wait_running "$k" >/dev/null
launcher=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'")
kill -KILL "$(sql "SELECT pid FROM mlops.jobs WHERE id = $k")"
tap_is "$(wait_status "$k" failed)" failed "a job whose worker crashed is recorded as failed"
tap_is "$(sql "SELECT error FROM mlops.jobs WHERE id = $k")" "server restarted" \
	"after the crash restart of the server"
tap_is "$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mlops scheduler' AND pid <> $launcher")" 1 \
	"the launcher restarted with the server"

# --- a crash restart: running jobs fail, queued ones run ------------------------

sql "ALTER SYSTEM SET mlops.max_jobs = 1" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
h=$(slow_job slow_h)
wait_running "$h" >/dev/null
i=$(quick_job after_restart)
tap_is "$(sql "SELECT status FROM mlops.jobs WHERE id = $i")" queued "a job is queued behind the running one"
mlops_cluster_stop immediate
mlops_pg_ctl_start
tap_is "$(wait_status "$h" failed)" failed "after a crash restart the running job is recorded as failed"
tap_is "$(sql "SELECT error FROM mlops.jobs WHERE id = $h")" "server restarted" "because the server restarted"
tap_is "$(wait_status "$i" succeeded)" succeeded "the queued job runs after the restart"
tap_is "$(postmaster_threads)" 1 "the restarted postmaster runs one thread"

tap_done
