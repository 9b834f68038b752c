#!/usr/bin/env bash
#
# test/bench/serving.sh: the cost of serving statistics and of the
# prediction log on single-row predict
#
#   bash test/bench/serving.sh [--no-build] [--seconds N] [--reps N]
#
# Builds and installs mlops (unless --no-build), starts a throwaway cluster
# (test/lib.sh) with mlops preloaded and its worker in the benchmark's
# database, trains an XGBoost model on iris, then runs pgbench -M prepared
# on one single-row predict (a float8[] literal) at 1, 2 and 8 clients:
#
#   track     mlops.track_serving off vs on (no logging policy); target: on
#             at most 3 % slower
#   log       no "log_predictions" vs {"sample": 1} (statistics on in both);
#             target: at most 15 % slower.  After each logged run the script
#             waits for the worker to drain the queue and checks that every
#             call was either logged or counted as dropped (lost must be 0;
#             dropped is non-zero only when the queue was full)
#
#   plain     no log, while a plain session writes the rows the logged run
#             wrote, at its rate, the way an application would log them
#             itself: every 20 ms (mlops.log_writer_delay) one INSERT ...
#             SELECT of that many rows, taken from a table of logged rows,
#             into a table like a day partition of mlops.predictions (its
#             indexes, its id sequence), committed asynchronously as the
#             worker commits.  What writing these rows costs the clients on
#             this machine, whoever writes them: the floor the log is
#             measured against
#
#   in-statement  200,000 predict calls in one statement, track_serving off
#             vs on: the per-call cost without pgbench's round trips
#
# The configurations alternate within each repetition (--reps, default 3) so
# that a noisy machine hurts both alike (statistics off and on in turns
# first); before each run the log's rows are truncated, a checkpoint is
# taken and autovacuum is waited for, so that no run pays for the writing
# of the one before.  Each cell is the median TPS of --seconds-long runs
# (default 10).  Beside TPS, which other processes on
# the machine disturb, each run measures the server's CPU time per call:
# the clock ticks of the postmaster's reaped children (every pgbench
# backend, once it has exited) and of the mlops scheduler (which writes the
# log; after the queue is drained), from /proc, over the transactions
# pgbench made.  On a shared machine that is the steadier measure of what
# statistics and logging cost.  The logged runs also report the worker's
# own CPU per row it wrote (its /proc schedstat clock), and wait for it by
# polling the table's statistics, not by counting the rows.  Prints
# markdown tables.  Needs root (to read /proc of the server's processes) or
# the postgres user, like test/run.sh.
set -euo pipefail

# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"

build=1 seconds=10 reps=3
while (($#)); do
	case $1 in
		--no-build)
			build=0
			shift
			;;
		--seconds)
			seconds=$2
			shift 2
			;;
		--reps)
			reps=$2
			shift 2
			;;
		*)
			echo "usage: bash test/bench/serving.sh [--no-build] [--seconds N] [--reps N]" >&2
			exit 2
			;;
	esac
done

if ((build)); then
	mlops_install_deps
	mlops_build >&2
fi
mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" \
	"max_parallel_workers_per_gather = 0" "mlops.scheduler_naptime = 1000" "max_connections = 40"
mlops_psql -q -c "CREATE EXTENSION mlops" >&2
mlops_load_csv "$MLOPS_ROOT/contrib/datasets/iris.csv" bench_iris species text
mlops_psql -q -At -c "SELECT model_id FROM mlops.train('bench_srv', 'bench_iris', 'species')" >/dev/null
mlops_psql -q <<'SQL'
CREATE TABLE bench_floor_src (LIKE mlops.predictions);
CREATE TABLE bench_floor_dst (LIKE mlops.predictions_default INCLUDING DEFAULTS INCLUDING INDEXES);
-- every 20 ms for the given seconds, per_look rows of bench_floor_src into
-- bench_floor_dst, each INSERT its own transaction, committed asynchronously
CREATE PROCEDURE bench_floor_writer(seconds float8, per_look int) LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	t timestamptz;
BEGIN
	LOOP
		t := clock_timestamp();
		EXIT WHEN t >= t0 + make_interval(secs => seconds);
		SET LOCAL synchronous_commit = off;
		INSERT INTO bench_floor_dst (project, model_id, variant, key, predicted_at, features, prediction, proba)
			SELECT project, model_id, variant, key, predicted_at, features, prediction, proba
			FROM bench_floor_src LIMIT per_look;
		COMMIT;
		PERFORM pg_sleep(greatest(0, 0.02 - extract(epoch FROM clock_timestamp() - t)));
	END LOOP;
END $$;
SQL

script=$(mktemp "${TMPDIR:-/tmp}/mlops-bench.XXXXXX")
trap 'rm -f "$script"; mlops_cleanup' EXIT
echo "SELECT mlops.predict('bench_srv', '{5.1,3.5,1.4,0.2}'::float8[]);" >"$script"
chmod 644 "$script"

# TPS and transactions of one pgbench run with PGOPTIONS $1 and $2 clients
pgbench_run() {
	PGOPTIONS=$1 "$MLOPS_PGBIN/pgbench" -n -M prepared -f "$script" -c "$2" -j "$2" -T "$seconds" 2>/dev/null |
		awk '/^number of transactions actually processed:/ { n = $NF } /^tps = / { t = $3 } END { print t, n }'
}

# CPU clock ticks the server has used: the postmaster's reaped children
# (cutime + cstime) and the scheduler's own (utime + stime)
server_ticks() {
	local pm launcher

	pm=$(head -n 1 "$MLOPS_CLUSTER_DIR/data/postmaster.pid")
	launcher=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'")
	{
		awk '{ print $16 + $17 }' "/proc/$pm/stat"
		awk '{ print $14 + $15 }' "/proc/$launcher/stat"
	} | awk '{ s += $1 } END { print s }'
}
hz=$(getconf CLK_TCK)

# One measured run (PGOPTIONS $1, $2 clients; $3 = drain: wait for the
# worker to write the log first; plain: bench_floor_writer writes $per_look
# rows every 20 ms meanwhile, and its CPU counts as the server's): appends
# the TPS to runs[$4], the server's CPU microseconds per call to cpu[$4]
# and, when draining, the worker's CPU microseconds per logged row to
# worker[$4]
measure() {
	local t0 t1 w0 w1 tps n writer

	t0=$(server_ticks)
	w0=$(worker_ns)
	if [[ $3 == plain ]]; then
		q "CALL bench_floor_writer($seconds, $per_look)" >/dev/null &
		writer=$!
	fi
	read -r tps n < <(pgbench_run "$1" "$2")
	[[ $3 != plain ]] || wait "$writer"
	if [[ $3 == drain ]]; then
		logged=$(drained)
		w1=$(worker_ns)
		worker[$4]+=" $(awk -v a="$w0" -v b="$w1" -v n="$logged" 'BEGIN { printf "%.3f", (b - a) / 1000 / n }')"
	fi
	sleep 0.5 # the backends are reaped
	t1=$(server_ticks)
	runs[$4]+=" $tps"
	cpu[$4]+=" $(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$hz" 'BEGIN { printf "%.3f", (b - a) / hz * 1e6 / n }')"
}

# Median of the numbers given as arguments
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# One number from SQL
q() {
	mlops_psql -q -At -c "$1"
}

# Rows ever inserted into mlops.predictions' partitions, by their statistics
inserted() {
	q "SELECT coalesce(sum(s.n_tup_ins), 0) FROM pg_stat_user_tables s JOIN pg_inherits i ON i.inhrelid = s.relid
	   WHERE i.inhparent = 'mlops.predictions'::regclass"
}

# Wait (up to 60 s) until the worker has written every queued row (the
# calls not dropped; the statistics of the run's backends are flushed when
# they end), polling the partitions' statistics (cheap: no scan) and counting
# the rows once those say they have all arrived; prints the rows logged
drained() {
	local want now rows=-1

	want=$(q "SELECT calls - dropped FROM mlops.serving_stats WHERE project = 'bench_srv'")
	for _ in $(seq 120); do
		now=$(($(inserted) - ins0))
		if ((now >= want)); then
			rows=$(q "SELECT count(*) FROM mlops.predictions")
			((rows >= want)) && break
		fi
		sleep 0.5
	done
	((rows >= 0)) || rows=$(q "SELECT count(*) FROM mlops.predictions")
	echo "$rows"
}

# CPU nanoseconds the scheduler (the log's writer) has used
worker_ns() {
	awk '{ print $1 }' "/proc/$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'")/schedstat"
}

# Let the server settle before a run: the rows a logged run wrote are
# gone (TRUNCATE), a checkpoint has written their pages, and no autovacuum
# worker runs (up to 30 s), so that no run pays for the one before
settle() {
	q "TRUNCATE mlops.predictions, bench_floor_dst; CHECKPOINT" >/dev/null
	for _ in $(seq 60); do
		(($(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'") == 0)) && break
		sleep 0.5
	done
}

declare -A runs cpu worker
lost_total=0 dropped_total=0 logged_total=0
for ((r = 1; r <= reps; r++)); do
	for c in 1 2 8; do
		# statistics off and on, in alternating order from one repetition to the next
		mlops_log "rep $r, $c clients: track_serving off / on"
		for state in $( ((r % 2)) && echo "off on" || echo "on off"); do
			settle
			if [[ $state == off ]]; then
				measure "-c mlops.track_serving=off" "$c" - "track_off_$c"
			else
				measure "" "$c" - "track_on_$c"
			fi
		done

		mlops_log "rep $r, $c clients: no log / log sample 1"
		q "SELECT mlops.set_policy('bench_srv', '{\"log_predictions\": null}')" >/dev/null
		settle
		measure "" "$c" - "log_off_$c"
		q "SELECT mlops.set_policy('bench_srv', '{\"log_predictions\": {\"sample\": 1}}'); SELECT mlops.serving_stats_reset()" >/dev/null
		settle
		ins0=$(inserted)
		measure "" "$c" drain "log_on_$c"
		read -r calls dropped < <(q "SELECT calls, dropped FROM mlops.serving_stats WHERE project = 'bench_srv'" | tr '|' ' ')
		lost=$((calls - dropped - logged))
		mlops_log "  $calls calls: $logged logged, $dropped dropped (queue full), $lost lost; TPS no log ${runs[log_off_$c]##* }, log ${runs[log_on_$c]##* }"
		lost_total=$((lost_total + lost)) dropped_total=$((dropped_total + dropped)) logged_total=$((logged_total + logged))
		q "SELECT mlops.set_policy('bench_srv', '{\"log_predictions\": null}')" >/dev/null

		# the same rows at the same rate, written by a plain session
		q "INSERT INTO bench_floor_src SELECT * FROM mlops.predictions
		   WHERE NOT EXISTS (SELECT FROM bench_floor_src) LIMIT 20000" >/dev/null
		per_look=$(awk -v n="$logged" -v s="$seconds" 'BEGIN { printf "%d", n / s * 0.02 + 0.5 }')
		settle
		measure "" "$c" plain "plain_$c"
		mlops_log "  plain INSERT of $per_look rows every 20 ms: TPS ${runs[plain_$c]##* }"
	done
done

# Milliseconds of one statement of 200,000 predict calls, with PGOPTIONS $1
batch_ms() {
	PGOPTIONS=$1 mlops_psql -q -c '\timing on' \
		-c "SELECT count(mlops.predict('bench_srv', '{5.1,3.5,1.4,0.2}'::float8[])) FROM generate_series(1, 200000)" |
		awk '/^Time: / { print $2; exit }'
}
for ((r = 1; r <= 2 * reps + 1; r++)); do
	runs[batch_off]+=" $(batch_ms "-c mlops.track_serving=off")"
	runs[batch_on]+=" $(batch_ms "")"
done

# Percent slower of the median of $2 than that of $1
slower() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f %%", (a - b) / a * 100 }'
}

echo
echo "| clients | track_serving off (TPS) | on (TPS) | on vs off | no log (TPS) | log sample 1 (TPS) | log vs no log | plain INSERT at the log's rate (TPS) | plain vs no log |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in 1 2 8; do
	# shellcheck disable=SC2086 # the runs are space-separated numbers
	off=$(median ${runs[track_off_$c]}) on=$(median ${runs[track_on_$c]})
	# shellcheck disable=SC2086
	nolog=$(median ${runs[log_off_$c]}) log=$(median ${runs[log_on_$c]}) plain=$(median ${runs[plain_$c]})
	echo "| $c | $off | $on | $(slower "$off" "$on") slower | $nolog | $log | $(slower "$nolog" "$log") slower |" \
		"$plain | $(slower "$nolog" "$plain") slower |"
done
echo
echo "server CPU per call (µs; median of the runs):"
echo
echo "| clients | track_serving off | on | on vs off | no log | log sample 1 | log vs no log | of which the worker, per logged row | plain INSERT at the log's rate | plain vs no log |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for c in 1 2 8; do
	# shellcheck disable=SC2086
	off=$(median ${cpu[track_off_$c]}) on=$(median ${cpu[track_on_$c]})
	# shellcheck disable=SC2086
	nolog=$(median ${cpu[log_off_$c]}) log=$(median ${cpu[log_on_$c]}) plain=$(median ${cpu[plain_$c]})
	# shellcheck disable=SC2086
	echo "| $c | $off | $on | $(awk -v a="$off" -v b="$on" 'BEGIN { printf "%+.1f %%", (b - a) / a * 100 }') |" \
		"$nolog | $log | $(awk -v a="$nolog" -v b="$log" 'BEGIN { printf "%+.1f %%", (b - a) / a * 100 }') |" \
		"$(median ${worker[log_on_$c]}) | $plain | $(awk -v a="$nolog" -v b="$plain" 'BEGIN { printf "%+.1f %%", (b - a) / a * 100 }') |"
done
# shellcheck disable=SC2086
boff=$(median ${runs[batch_off]}) bon=$(median ${runs[batch_on]})
echo
echo "in-statement, 200,000 calls: track_serving off $boff ms, on $bon ms" \
	"($(awk -v a="$boff" -v b="$bon" 'BEGIN { printf "%+.1f %%", (b - a) / a * 100 }') time;" \
	"$(awk -v a="$boff" -v b="$bon" 'BEGIN { printf "%.0f", (b - a) / 200000 * 1e6 }') ns per call)"
echo "prediction log: $logged_total rows logged, $dropped_total dropped (queue full, counted), $lost_total lost"
((lost_total == 0))
