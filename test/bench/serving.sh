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
#   in-statement  200,000 predict calls in one statement, track_serving off
#             vs on: the per-call cost without pgbench's round trips
#
# The configurations alternate within each repetition (--reps, default 3) so
# that a noisy machine hurts both alike; each cell is the median TPS of
# --seconds-long runs (default 10).  Prints a markdown table.  Needs root
# or the postgres user, like test/run.sh.
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

script=$(mktemp "${TMPDIR:-/tmp}/mlops-bench.XXXXXX")
trap 'rm -f "$script"; mlops_cleanup' EXIT
echo "SELECT mlops.predict('bench_srv', '{5.1,3.5,1.4,0.2}'::float8[]);" >"$script"
chmod 644 "$script"

# TPS of one pgbench run with PGOPTIONS $1 and $2 clients
tps() {
	PGOPTIONS=$1 "$MLOPS_PGBIN/pgbench" -n -M prepared -f "$script" -c "$2" -j "$2" -T "$seconds" 2>/dev/null |
		awk '/^tps = / { print $3; exit }'
}

# Median of the numbers given as arguments
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# One number from SQL
q() {
	mlops_psql -q -At -c "$1"
}

# Wait (up to 60 s) until the worker has written every queued row: the
# number of logged rows stops changing
drained() {
	local last=-1 now

	for _ in $(seq 600); do
		now=$(q "SELECT count(*) FROM mlops.predictions")
		[[ $now == "$last" ]] && break
		last=$now
		sleep 1
	done
	echo "$now"
}

declare -A runs
lost_total=0 dropped_total=0 logged_total=0
for ((r = 1; r <= reps; r++)); do
	for c in 1 2 8; do
		mlops_log "rep $r, $c clients: track_serving off / on"
		runs[track_off_$c]+=" $(tps "-c mlops.track_serving=off" "$c")"
		runs[track_on_$c]+=" $(tps "" "$c")"

		mlops_log "rep $r, $c clients: no log / log sample 1"
		q "SELECT mlops.set_policy('bench_srv', '{\"log_predictions\": null}')" >/dev/null
		runs[log_off_$c]+=" $(tps "" "$c")"
		q "SELECT mlops.set_policy('bench_srv', '{\"log_predictions\": {\"sample\": 1}}'); SELECT mlops.serving_stats_reset(); TRUNCATE mlops.predictions" >/dev/null
		runs[log_on_$c]+=" $(tps "" "$c")"
		logged=$(drained)
		read -r calls dropped < <(q "SELECT calls, dropped FROM mlops.serving_stats WHERE project = 'bench_srv'" | tr '|' ' ')
		lost=$((calls - dropped - logged))
		mlops_log "  $calls calls: $logged logged, $dropped dropped (queue full), $lost lost"
		lost_total=$((lost_total + lost)) dropped_total=$((dropped_total + dropped)) logged_total=$((logged_total + logged))
		q "SELECT mlops.set_policy('bench_srv', '{\"log_predictions\": null}')" >/dev/null
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
echo "| clients | track_serving off (TPS) | on (TPS) | on vs off | no log (TPS) | log sample 1 (TPS) | log vs no log |"
echo "|---|---|---|---|---|---|---|"
for c in 1 2 8; do
	# shellcheck disable=SC2086 # the runs are space-separated numbers
	off=$(median ${runs[track_off_$c]}) on=$(median ${runs[track_on_$c]})
	# shellcheck disable=SC2086
	nolog=$(median ${runs[log_off_$c]}) log=$(median ${runs[log_on_$c]})
	echo "| $c | $off | $on | $(slower "$off" "$on") slower | $nolog | $log | $(slower "$nolog" "$log") slower |"
done
# shellcheck disable=SC2086
boff=$(median ${runs[batch_off]}) bon=$(median ${runs[batch_on]})
echo
echo "in-statement, 200,000 calls: track_serving off $boff ms, on $bon ms" \
	"($(awk -v a="$boff" -v b="$bon" 'BEGIN { printf "%+.1f %%", (b - a) / a * 100 }') time;" \
	"$(awk -v a="$boff" -v b="$bon" 'BEGIN { printf "%.0f", (b - a) / 200000 * 1e6 }') ns per call)"
echo "prediction log: $logged_total rows logged, $dropped_total dropped (queue full, counted), $lost_total lost"
((lost_total == 0))
