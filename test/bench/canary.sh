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
# with 20 random parameters (so rows go to both variants) in four states:
# no experiment; "routing", a canary at a fraction of 1e-9 (every row is
# hashed and routed, all to the champion: the routing's own cost); a
# canary at 50 % (half the rows scored by the challenger's call state:
# with large forests, two models interleaved also share the processor's
# caches); and a shadow (both models score every row, for reference: the
# cost of scoring twice).
# The states alternate for --rounds rounds (default 5) of --seconds seconds
# (default 10) each, and the median transactions per second of each state
# are compared: the overhead of a state is 1 - its tps / none's (target
# for routing: at most 5 %).  Each round also times predict over all 20000
# rows inside one statement (microseconds per row, no client round trip;
# the best of the rounds), where the routing's own cost is not hidden by
# the network.  Each pgbench run also measures the server's CPU time per
# call (the clock ticks of the postmaster's reaped children, that is the
# pgbench backend once it has exited, from /proc, over the transactions
# made): steadier than TPS on a shared machine, where other processes take
# the cores.  Steadiest of all, each round also measures the backend's own
# CPU time (/proc/self/schedstat) per single-row statement, 20,000
# statements each its own executor run as a pgbench transaction is
# ("ns/stmt", median of the rounds): its difference from "none" ("+ns") is
# what the state adds to a transaction, and "% of tx" puts it against the
# server's CPU per pgbench transaction without an experiment.  On a shared or busy machine the numbers are noisy: run it
# on a quiet one, and read the ranges printed per state.  Needs root or
# the postgres user, like test/run.sh; --no-build also skips the Debian
# package check.
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
-- microseconds per row of predict inside one statement over every row
CREATE FUNCTION bench_per_row(project text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	n bigint;
BEGIN
	SELECT count(mlops.predict(project, ARRAY[x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14,
											  x15, x16, x17, x18, x19, x20])) INTO n FROM bench_rows;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END $$;
-- nanoseconds of this backend's CPU (/proc/self/schedstat) per single-row
-- statement over 5000 rows, 4 times: each PERFORM its own executor run, as
-- each pgbench transaction is (the FROM keeps PL/pgSQL from evaluating it
-- as a simple expression)
CREATE FUNCTION bench_cpu_ns(project text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	arrays float8[] := ARRAY(SELECT ARRAY[x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14,
										  x15, x16, x17, x18, x19, x20] FROM bench_rows WHERE id <= 5000 ORDER BY id);
	a float8[];
	t0 bigint := split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint;
BEGIN
	FOR i IN 1..4 LOOP
		FOREACH a SLICE 1 IN ARRAY arrays LOOP
			PERFORM mlops.predict(project, a) FROM (VALUES (1)) v;
		END LOOP;
	END LOOP;
	RETURN (split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - t0) / 20000;
END $$;
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

# set the project's experiment state: none, routing (a canary at 1e-9),
# canary (50 %) or shadow
set_state() {
	local project=$1 state=$2 challenger

	challenger=$(mlops_psql -At -c "SELECT max(m.id) FROM mlops.models m JOIN mlops.projects p
		ON p.id = m.project_id WHERE p.name = '$project'")
	mlops_psql -c "SELECT count(*) FROM mlops.deploy('$project', 'abort')" >/dev/null 2>&1 || true
	case $state in
		routing) mlops_psql -c "SELECT status FROM mlops.deploy('$project', 'canary', $challenger, 1e-9)" >/dev/null ;;
		canary) mlops_psql -c "SELECT status FROM mlops.deploy('$project', 'canary', $challenger, 0.5)" >/dev/null ;;
		shadow) mlops_psql -c "SELECT status FROM mlops.deploy('$project', 'shadow', $challenger)" >/dev/null ;;
	esac
}

# CPU clock ticks of the postmaster's reaped children (cutime + cstime)
server_ticks() {
	awk '{ print $16 + $17 }' "/proc/$(head -n 1 "$MLOPS_CLUSTER_DIR/data/postmaster.pid")/stat"
}
hz=$(getconf CLK_TCK)

# one pgbench run on database $1 with script $2: appends its transactions
# per second to runs[$3] and the server's CPU microseconds per call to
# cpu[$3]
measure() {
	local t0 t1 tps n

	t0=$(server_ticks)
	read -r tps n < <("$MLOPS_PGBIN/pgbench" -n -M prepared -c 1 -j 1 -T "$seconds" -f "$2" "$1" 2>/dev/null |
		awk '/^number of transactions actually processed:/ { n = $NF } /^tps = / { t = $3 } END { print t, n }')
	sleep 0.5 # the backend is reaped
	t1=$(server_ticks)
	runs[$3]+=" $tps"
	cpu[$3]+=" $(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$hz" 'BEGIN { printf "%.3f", (b - a) / hz * 1e6 / n }')"
}

# the median of the arguments
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# per state of each project: the median single-row tps and the best
# in-statement microseconds per row (the least disturbed run), with their
# ranges
report=""
for project in bench_linear bench_xgb; do
	declare -A runs=([none]="" [routing]="" [canary]="" [shadow]="") rows=([none]="" [routing]="" [canary]="" [shadow]="")
	declare -A cpu=([none]="" [routing]="" [canary]="" [shadow]="") stmt=([none]="" [routing]="" [canary]="" [shadow]="")
	for ((r = 1; r <= rounds; r++)); do
		for state in none routing canary shadow; do
			set_state "$project" "$state"
			measure "$PGDATABASE" "$tmp/$project.sql" "$state"
			rows[$state]+=" $(mlops_psql -At -c "SELECT round(bench_per_row('$project')::numeric, 3)")"
			stmt[$state]+=" $(mlops_psql -At -c "SELECT bench_cpu_ns('$project')")"
		done
	done
	set_state "$project" none
	# shellcheck disable=SC2086
	base=$(median ${runs[none]})
	# shellcheck disable=SC2086
	base_row=$(printf '%s\n' ${rows[none]} | sort -g | head -n 1)
	# shellcheck disable=SC2086
	base_cpu=$(median ${cpu[none]})
	# shellcheck disable=SC2086
	base_stmt=$(median ${stmt[none]})
	for state in none routing canary shadow; do
		# shellcheck disable=SC2086
		m=$(median ${runs[$state]})
		# shellcheck disable=SC2086
		range=$(printf '%s\n' ${runs[$state]} | sort -g | sed -n '1p;$p' | paste -sd- | sed 's/\.[0-9]*//g')
		# shellcheck disable=SC2086
		m_row=$(printf '%s\n' ${rows[$state]} | sort -g | head -n 1)
		# shellcheck disable=SC2086
		range_row=$(printf '%s\n' ${rows[$state]} | sort -g | sed -n '1p;$p' | paste -sd-)
		# shellcheck disable=SC2086
		m_cpu=$(median ${cpu[$state]})
		# shellcheck disable=SC2086
		m_stmt=$(median ${stmt[$state]})
		report+=$(printf '%-14s %-7s %10.0f %13s %8.1f%% %9.3f %15s %8.1f%% %9.2f %8.1f%% %9.0f %+7.0f %8.1f%%' "$project" "$state" "$m" "$range" \
			"$(awk -v b="$base" -v m="$m" 'BEGIN { print 100 * (1 - m / b) }')" "$m_row" "$range_row" \
			"$(awk -v b="$base_row" -v m="$m_row" 'BEGIN { print 100 * (m / b - 1) }')" "$m_cpu" \
			"$(awk -v b="$base_cpu" -v m="$m_cpu" 'BEGIN { print 100 * (m / b - 1) }')" "$m_stmt" "$((m_stmt - base_stmt))" \
			"$(awk -v b="$base_stmt" -v m="$m_stmt" -v tx="$base_cpu" 'BEGIN { print (m - b) / (tx * 10) }')")$'\n'
	done
	unset runs rows cpu stmt
done
printf '\n%-14s %-7s %10s %13s %9s %9s %15s %9s %9s %9s %9s %7s %9s\n' project state "tps" "tps min-max" overhead "best us/row" "us/row min-max" overhead "cpu us/tx" overhead "ns/stmt" "+ns" "% of tx"
printf '%s' "$report"
