#!/usr/bin/env bash
#
# test/bench/canary.sh: what canary routing adds to a single-row predict
#
#   bash test/bench/canary.sh [--no-build] [--seconds N] [--rounds N]
#
# Builds and installs mlops (unless --no-build), starts a throwaway cluster
# (test/lib.sh) and trains, for each of a linear model (the cheapest
# predict, the worst case for a fixed overhead) and an XGBoost model (100
# trees of depth 6), two models of the same kind on 20 numeric features,
# so that a row costs the same with either.  pgbench then runs, on one
# client with prepared statements (-M prepared), a single-row
#
#   SELECT mlops.predict('<project>', ARRAY[:x1, ..., :x20]::float8[])
#
# with 20 random parameters (so rows go to both variants) in three states:
# no experiment, a canary at 50 % (the routing: a hash of the 20 raw
# values, and the challenger's call state for half the rows), and a shadow
# (both models score every row, for reference: the cost of scoring twice).
# The states alternate for --rounds rounds (default 5) of --seconds seconds
# (default 10) each, and the median transactions per second of each state
# are compared: the canary's overhead is 1 - canary / none (target: at most
# 5 %).  On a shared or busy machine the numbers are noisy: run it on a
# quiet one, and read the spread printed per state.  Needs root or the
# postgres user, like test/run.sh; --no-build also skips the Debian package
# check.
set -euo pipefail

# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"

build=1 seconds=10 rounds=5
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
		--rounds)
			rounds=$2
			shift 2
			;;
		*)
			echo "usage: bash test/bench/canary.sh [--no-build] [--seconds N] [--rounds N]" >&2
			exit 2
			;;
	esac
done

if ((build)); then
	mlops_install_deps
	mlops_build
fi
mlops_cluster_start "shared_preload_libraries = 'mlops'"
mlops_psql -c "CREATE EXTENSION mlops"

mlops_log "data: 20000 rows, 20 features; two linear and two XGBoost models"
mlops_psql <<'SQL'
SELECT setseed(0.42);
CREATE TABLE bench_rows AS
SELECT i AS id, x[1] AS x1, x[2] AS x2, x[3] AS x3, x[4] AS x4, x[5] AS x5, x[6] AS x6, x[7] AS x7,
       x[8] AS x8, x[9] AS x9, x[10] AS x10, x[11] AS x11, x[12] AS x12, x[13] AS x13, x[14] AS x14,
       x[15] AS x15, x[16] AS x16, x[17] AS x17, x[18] AS x18, x[19] AS x19, x[20] AS x20,
       (x[1] + 2 * x[2] - x[3] + 0.5 * x[4] + 0.1 * x[20] + random() * 5 > 12)::int AS y
FROM (SELECT i, ARRAY(SELECT random() * 10 FROM generate_series(1, 20) WHERE i > 0) AS x
      FROM generate_series(1, 20000) i) s;
SELECT model_id FROM mlops.train('bench_linear', 'bench_rows', 'y', algorithm => 'logistic', exclude => '{id}');
SELECT model_id FROM mlops.train('bench_linear', 'bench_rows', 'y', algorithm => 'logistic', exclude => '{id}',
                                 hyperparams => '{"C": 0.5}', deploy => 'never');
SELECT model_id FROM mlops.train('bench_xgb', 'bench_rows', 'y', exclude => '{id}',
                                 hyperparams => '{"n_estimators": 100, "max_depth": 6}');
SELECT model_id FROM mlops.train('bench_xgb', 'bench_rows', 'y', exclude => '{id}',
                                 hyperparams => '{"n_estimators": 100, "max_depth": 6, "learning_rate": 0.2}', deploy => 'never');
SQL

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlops-canary-bench.XXXXXX")
MLOPS_CLUSTER_DIRS+=("$tmp")
chmod 755 "$tmp"
for project in bench_linear bench_xgb; do
	{
		for i in $(seq 1 20); do
			echo "\\set x$i random(0, 10000) / 1000.0"
		done
		printf "SELECT mlops.predict('%s', ARRAY[" "$project"
		for i in $(seq 1 20); do
			printf "%s:x%d" "$([[ $i == 1 ]] || echo ", ")" "$i"
		done
		echo "]::float8[]);"
	} >"$tmp/$project.sql"
done

# set the project's experiment state: none, canary (50 %) or shadow
set_state() {
	local project=$1 state=$2 challenger

	challenger=$(mlops_psql -At -c "SELECT max(m.id) FROM mlops.models m JOIN mlops.projects p
		ON p.id = m.project_id WHERE p.name = '$project'")
	mlops_psql -c "SELECT count(*) FROM mlops.deploy('$project', 'abort')" >/dev/null 2>&1 || true
	case $state in
		canary) mlops_psql -c "SELECT status FROM mlops.deploy('$project', 'canary', $challenger, 0.5)" >/dev/null ;;
		shadow) mlops_psql -c "SELECT status FROM mlops.deploy('$project', 'shadow', $challenger)" >/dev/null ;;
	esac
}

# transactions per second of one pgbench run
tps() {
	"$MLOPS_PGBIN/pgbench" -n -M prepared -c 1 -j 1 -T "$seconds" -f "$2" "$1" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

# the median of the arguments
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

printf '\n%-14s %-8s %12s %12s %10s\n' project state "median tps" "min-max" overhead
for project in bench_linear bench_xgb; do
	declare -A runs=([none]="" [canary]="" [shadow]="")
	for ((r = 1; r <= rounds; r++)); do
		for state in none canary shadow; do
			set_state "$project" "$state"
			runs[$state]+=" $(tps "$PGDATABASE" "$tmp/$project.sql")"
		done
	done
	set_state "$project" none
	# shellcheck disable=SC2086
	base=$(median ${runs[none]})
	for state in none canary shadow; do
		# shellcheck disable=SC2086
		m=$(median ${runs[$state]})
		# shellcheck disable=SC2086
		range=$(printf '%s\n' ${runs[$state]} | sort -g | sed -n '1p;$p' | paste -sd- | sed 's/\.[0-9]*//g')
		printf '%-14s %-8s %12.0f %12s %9.1f%%\n' "$project" "$state" "$m" "$range" \
			"$(awk -v b="$base" -v m="$m" 'BEGIN { print 100 * (1 - m / b) }')"
	done
	unset runs
done
