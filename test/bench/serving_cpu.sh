#!/usr/bin/env bash
#
# test/bench/serving_cpu.sh: the CPU time serving statistics and the
# prediction log add to a single-row predict statement, measured inside
# one backend (steady on a shared machine, where TPS is not)
#
#   bash test/bench/serving_cpu.sh [--no-build] [--calls N] [--reps N]
#
# Builds and installs mlops (unless --no-build), starts a throwaway cluster
# (test/lib.sh) with mlops preloaded, its worker in this database, trains an
# XGBoost model on iris, then times, by the backend's own CPU clock
# (/proc/self/schedstat, read with pg_read_file), a PL/pgSQL loop of
# --calls (default 100,000) single-row statements
#
#   PERFORM mlops.predict('bench_cpu', '{5.1,3.5,1.4,0.2}'::float8[]) FROM (VALUES (1)) v;
#
# each its own executor run (the FROM keeps PL/pgSQL from evaluating it as
# a simple expression), so each pays the end-of-statement flush as a
# pgbench transaction does in four states, alternating within each of
# --reps repetitions (default 7): mlops.track_serving off, on, on with
# "log_predictions": {"sample": 1} (the backend's part of logging: the
# row built and queued, in a new session, which also maps the queue's
# shared-memory pages as it first writes them; the worker drains the queue
# between runs; and again as the second loop of one session, its pages
# mapped, while the worker drains), and on
# with a canary at a fraction of 1e-9 (every row hashed and routed, all to
# the champion: routing's own cost), and prints the median nanoseconds per
# call of each and the differences; and the same without and with the
# canary for the JSON-text form under policy "key" (routed by the entity
# key, read from the parsed text).
# The worker's part is measured apart: its CPU clock (/proc schedstat, in
# nanoseconds; the clock ticks of /proc stat counted 10 ms) while it
# writes --calls queued rows (held back by a lock on mlops.predictions
# until the loop ends).  Needs root or the postgres user, like test/run.sh.
set -euo pipefail

# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"

build=1 calls=100000 reps=7
while (($#)); do
	case $1 in
		--no-build)
			build=0
			shift
			;;
		--calls)
			calls=$2
			shift 2
			;;
		--reps)
			reps=$2
			shift 2
			;;
		*)
			echo "usage: bash test/bench/serving_cpu.sh [--no-build] [--calls N] [--reps N]" >&2
			exit 2
			;;
	esac
done

if ((build)); then
	mlops_install_deps
	mlops_build >&2
fi
mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" \
	"max_parallel_workers_per_gather = 0" "mlops.scheduler_naptime = 1000" \
	"mlops.log_queue_size = $((calls + 1000))" "autovacuum = off"
trap mlops_cleanup EXIT
q() {
	mlops_psql -q -At -c "$1"
}
mlops_psql -q -c "CREATE EXTENSION mlops" >&2
mlops_load_csv "$MLOPS_ROOT/contrib/datasets/iris.csv" bench_iris species text
q "SELECT model_id FROM mlops.train('bench_cpu', 'bench_iris', 'species')" >/dev/null
challenger=$(q "SELECT model_id FROM mlops.train('bench_cpu', 'bench_iris', 'species', deploy => 'never')")
q "CREATE FUNCTION bench_cpu_ns(n int, json bool DEFAULT false) RETURNS bigint LANGUAGE plpgsql AS \$\$
DECLARE
	t0 bigint := split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint;
BEGIN
	IF json THEN
		FOR i IN 1..n LOOP
			PERFORM mlops.predict('bench_cpu', '{\"id\": 7, \"sepal_length_cm\": 5.1, \"sepal_width_cm\": 3.5, \"petal_length_cm\": 1.4, \"petal_width_cm\": 0.2}'::text)
			   FROM (VALUES (1)) v;
		END LOOP;
	ELSE
		FOR i IN 1..n LOOP
			PERFORM mlops.predict('bench_cpu', '{5.1,3.5,1.4,0.2}'::float8[]) FROM (VALUES (1)) v;
		END LOOP;
	END IF;
	RETURN (split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - t0) / n;
END \$\$" >/dev/null
launcher=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'")

# nanoseconds per call of one loop in a new session, with PGOPTIONS $1
# ($2 = json: the JSON-text form with an entity key)
loop_ns() {
	PGOPTIONS=$1 mlops_psql -q -At -c "SELECT bench_cpu_ns($calls, ${2:-false})"
}

# Median of the numbers given as arguments
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

off="" on="" log="" steady="" worker="" routing="" json="" json_routing=""
for ((r = 1; r <= reps; r++)); do
	q "SELECT mlops.set_policy('bench_cpu', '{\"log_predictions\": null}')" >/dev/null
	off+=" $(loop_ns "-c mlops.track_serving=off")"
	on+=" $(loop_ns "")"
	q "SELECT mlops.set_policy('bench_cpu', '{\"log_predictions\": {\"sample\": 1}}'); TRUNCATE mlops.predictions; CHECKPOINT" >/dev/null
	# hold the worker back while the loop queues its rows
	coproc LOCKER { "$MLOPS_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 2>&1; }
	echo "BEGIN; LOCK TABLE mlops.predictions IN ACCESS EXCLUSIVE MODE; SELECT 'locked';" >&"${LOCKER[1]}"
	read -r -t 30 _ <&"${LOCKER[0]}"
	log+=" $(loop_ns "")"
	t0=$(awk '{ print $1 }' "/proc/$launcher/schedstat")
	echo "COMMIT;" >&"${LOCKER[1]}"
	echo '\q' >&"${LOCKER[1]}"
	wait "$LOCKER_PID" 2>/dev/null || true
	while [[ $(q "SELECT count(*) FROM mlops.predictions") != "$calls" ]]; do
		sleep 0.2
	done
	t1=$(awk '{ print $1 }' "/proc/$launcher/schedstat")
	worker+=" $(awk -v a="$t0" -v b="$t1" -v n="$calls" 'BEGIN { printf "%.0f", (b - a) / n }')"
	# the backend's part in a session's second loop: its queue pages mapped, the worker draining
	steady+=" $(mlops_psql -q -At -c "SELECT bench_cpu_ns($calls); SELECT bench_cpu_ns($calls)" | tail -n 1)"
	q "SELECT mlops.set_policy('bench_cpu', '{\"log_predictions\": null}')" >/dev/null
	q "SELECT status FROM mlops.deploy('bench_cpu', 'canary', $challenger, 1e-9)" >/dev/null
	routing+=" $(loop_ns "")"
	q "SELECT mlops.set_policy('bench_cpu', '{\"key\": \"id\"}')" >/dev/null
	json_routing+=" $(loop_ns "" true)"
	q "SELECT status FROM mlops.deploy('bench_cpu', 'abort')" >/dev/null
	json+=" $(loop_ns "" true)"
	q "SELECT mlops.set_policy('bench_cpu', '{\"key\": null}')" >/dev/null
	mlops_log "rep $r: off${off##* } on${on##* } log${log##* } steady${steady##* } worker${worker##* } routing${routing##* } ns/call"
done
# shellcheck disable=SC2086
moff=$(median $off) mon=$(median $on) mlog=$(median $log) msteady=$(median $steady) mworker=$(median $worker) mrouting=$(median $routing) mjson=$(median $json) mjson_routing=$(median $json_routing)
echo
echo "| single-row statement, backend CPU (ns per call, median of $reps) | ns |"
echo "|---|---|"
echo "| track_serving off | $moff |"
echo "| track_serving on | $mon |"
echo "| on, log sample 1 (the backend's part) | $mlog |"
echo "| statistics: on - off | $((mon - moff)) |"
echo "| log, backend: log - on | $((mlog - mon)) |"
echo "| log, backend, a session's second loop (queue pages mapped, the worker draining): - on | $((msteady - mon)) |"
echo "| log, worker: CPU per row written | $mworker |"
echo "| on, canary at 1e-9 (every row routed) | $mrouting |"
echo "| routing: canary - on | $((mrouting - mon)) |"
echo "| JSON text with policy \"key\", on | $mjson |"
echo "| JSON text with policy \"key\", canary at 1e-9 (routed by the key) | $mjson_routing |"
echo "| routing by key: canary - on | $((mjson_routing - mjson)) |"
