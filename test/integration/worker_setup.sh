#!/usr/bin/env bash
#
# test/integration/worker_setup.sh: where the background worker runs, and
# where it does not
#
# 1. A cluster without shared_preload_libraries: jobs and schedules are
#    recorded with a warning that nothing runs them; the settings exist.
# 2. A preloaded primary: a database other than mlops.database gets the
#    same warning; a reload with another mlops.database moves the launcher.
# 3. A hot standby of it: no launcher runs until it is promoted.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

# Create the test tables and train project p
setup_data() {
	sql "CREATE EXTENSION IF NOT EXISTS mlops;
	     SELECT setseed(0.75);
	     CREATE TABLE small AS SELECT i AS id, a, b, (a > b)::int AS y
	       FROM (SELECT i, random() AS a, random() AS b FROM generate_series(1, 200) i) s" >/dev/null
	sql "SELECT model_id FROM mlops.train('p', 'small', 'y', exclude => '{id}')" >/dev/null
}

# Count the launchers of the current cluster
launchers() {
	sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'"
}

warning='WARNING:  the mlops background worker is not running for database "[a-z]+"'

# --- 1. without preloading ---------------------------------------------------------

mlops_cluster_start "mlops.database = 'postgres'" "mlops.scheduler_naptime = 100" "mlops.max_jobs = 3"
setup_data
tap_is "$(launchers)" 0 "without shared_preload_libraries no launcher runs"
out=$(sql_err "SELECT mlops.train_async('p', 'small', 'y', exclude => '{id}')")
tap_like "$out" "$warning" "train_async warns that the worker is not running"
tap_like "$out" 'HINT:  Add mlops to shared_preload_libraries, set mlops.database to "postgres" and restart the server\.' \
	"with a hint how to start it"
tap_like "$out" $'\n[0-9]+$' "and returns the job id"
job=${out##*$'\n'}
tap_is "$(sql "SELECT status FROM mlops.jobs WHERE id = $job")" queued "the job is recorded as queued"
out=$(sql_err "SELECT mlops.schedule('p', '1 hour')")
tap_like "$out" "$warning" "schedule warns too"
tap_is "$(sql "SELECT count(*) FROM mlops.schedules WHERE project = 'p'")" 1 "and records the schedule"
tap_is "$(sql "SELECT count(*) FROM mlops.job_progress")" 0 "mlops.job_progress is empty"
tap_is "$(sql "SELECT mlops.cancel_job($job)")" t "a queued job can be canceled"
tap_is "$(sql "SELECT status FROM mlops.jobs WHERE id = $job")" canceled "and is"
tap_is "$(sql "LOAD 'mlops'; SELECT current_setting('mlops.database') || ' ' || current_setting('mlops.scheduler_naptime')
               || ' ' || current_setting('mlops.max_jobs')")" "postgres 100ms 3" \
	"the worker's settings are read from postgresql.conf"
mlops_cluster_stop fast

# --- 2. a preloaded primary, another database ------------------------------------

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" "mlops.scheduler_naptime = 100" \
	"wal_level = replica" "max_wal_senders = 4"
setup_data
tap_is "$(wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'" 1 20)" 1 \
	"a preloaded primary runs one launcher"
sql "CREATE DATABASE other" >/dev/null
# q's settings pass train_async's checks; its job fails on the rows (every target is NULL)
out=$(PGDATABASE=other sql_err "CREATE EXTENSION mlops; CREATE TABLE q AS SELECT g::float8 AS x, NULL::float8 AS y
                                FROM generate_series(1, 10) g; SELECT mlops.train_async('q', 'q', 'y')")
tap_like "$out" 'WARNING:  the mlops background worker is not running for database "other"' \
	"a database other than mlops.database gets the warning"
out=$(sql_err "SELECT mlops.train_async('p', 'small', 'y', exclude => '{id}')")
tap_like "$out" '^[0-9]+$' "mlops.database does not"
tap_is "$(wait_for "SELECT status FROM mlops.jobs WHERE id = $out" succeeded)" succeeded "and runs the job"
sql "ALTER SYSTEM SET mlops.database = 'other'" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
tap_is "$(wait_for "SELECT string_agg(datname, ',') FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'" other 20)" \
	other "after a reload with another mlops.database the launcher moves there"
job=$(PGDATABASE=other sql "SELECT mlops.train_async('q', 'q', 'y')")
tap_is "$(PGDATABASE=other wait_for "SELECT status FROM mlops.jobs WHERE id = $job" failed)" failed \
	"and runs that database's queued jobs"
sql "ALTER SYSTEM RESET mlops.database" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
wait_for "SELECT string_agg(datname, ',') FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'" postgres 20 >/dev/null

# --- 3. a hot standby ----------------------------------------------------------------

primary_host=$PGHOST primary_port=$PGPORT
sdir=$(mktemp -d "${TMPDIR:-/tmp}/mlops.XXXXXX")
MLOPS_CLUSTER_DIRS+=("$sdir")
chmod 755 "$sdir"
if ((EUID == 0)); then
	chown postgres: "$sdir"
fi
sport=$(mlops_free_port)
mlops_as_pg "$MLOPS_PGBIN/pg_basebackup" -D "$sdir/data" -R -h "$primary_host" -p "$primary_port" -U postgres -c fast
printf '%s\n' "port = $sport" "unix_socket_directories = '$sdir'" "hot_standby = on" >>"$sdir/data/postgresql.conf"
mlops_pg_ctl "$sdir" -l "$sdir/server.log" -w -t 60 -s start
export PGHOST=$sdir PGPORT=$sport MLOPS_CLUSTER_DIR=$sdir
tap_is "$(sql "SELECT pg_is_in_recovery()")" t "the standby is in recovery"
sql "SELECT pg_sleep(1)" >/dev/null
tap_is "$(launchers)" 0 "no launcher runs on a hot standby"
tap_is "$(sql "SELECT count(*) FROM mlops.jobs WHERE status = 'succeeded'")" 1 "the standby reads the jobs table"
tap_like "$(sql_err "SELECT mlops.train_async('p', 'small', 'y')")" 'ERROR:  cannot execute INSERT in a read-only transaction' \
	"train_async on the standby is an error"
mlops_pg_ctl "$sdir" -w -s promote
tap_is "$(wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'" 1 20)" 1 \
	"the launcher starts when the standby is promoted"
job=$(sql "SELECT mlops.train_async('p', 'small', 'y', exclude => '{id}')")
tap_is "$(wait_for "SELECT status FROM mlops.jobs WHERE id = $job" succeeded)" succeeded "and runs jobs there"

tap_done
