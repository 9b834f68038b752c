#!/usr/bin/env bash
#
# test/bench/single_row.sh: single-row prepared predict, this build against
# mlops 0.1.0 (issue 16: "no slower than 0.1.0 at 1, 2 and 8 clients")
#
#   bash test/bench/single_row.sh [--no-build] [--seconds N] [--reps N]
#
# Builds and installs this tree (unless --no-build), builds mlops 0.1.0 from
# its release commit into a private copy of the PostgreSQL installation (as
# test/integration/upgrade.sh does), and starts two throwaway clusters with
# the same settings, each with its mlops preloaded (0.2.0's defaults:
# serving statistics on).  Each trains the same XGBoost regression (100
# trees of depth 6, the issue's model) on the same 20,000 rows of 20 float
# features, then pgbench -M prepared runs
#
#   SELECT mlops.predict('single', :x::float8[]);
#
# at 1, 2 and 8 clients against each, the two clusters alternating within
# each repetition (--reps, default 3; --seconds per run, default 10), so
# that a noisy machine hurts both alike.  Beside TPS, each run measures the
# server's CPU per call: the clock ticks of the postmaster's reaped
# children (the pgbench backends, once they have exited) over the
# transactions made, which other processes on the machine disturb less.
# Both models predict the same value for the benchmark's row (checked).
# Prints a markdown table of medians, then the backend CPU per call of a
# PL/pgSQL loop of 1,000,000 calls against each (no round trips; 0.2.0 also
# with mlops.track_serving off).  Needs root or the postgres user.
set -euo pipefail

# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"

# the commit that shipped 0.1.0 (as in test/integration/upgrade.sh)
V010_COMMIT=de19f78

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
			echo "usage: bash test/bench/single_row.sh [--no-build] [--seconds N] [--reps N]" >&2
			exit 2
			;;
	esac
done

if ((build)); then
	mlops_install_deps
	mlops_build >&2
fi

settings=("shared_preload_libraries = 'mlops'" "max_parallel_workers_per_gather = 0" "max_connections = 40")

# The same data and model in the current cluster
prepare() {
	mlops_psql -q -c "CREATE EXTENSION mlops" >&2
	mlops_psql -q >&2 <<-'SQL'
		SELECT setseed(0.16);
		CREATE TABLE single_rows AS
		SELECT i AS id, f[1] AS x1, f[2] AS x2, f[3] AS x3, f[4] AS x4, f[5] AS x5, f[6] AS x6, f[7] AS x7,
		       f[8] AS x8, f[9] AS x9, f[10] AS x10, f[11] AS x11, f[12] AS x12, f[13] AS x13, f[14] AS x14,
		       f[15] AS x15, f[16] AS x16, f[17] AS x17, f[18] AS x18, f[19] AS x19, f[20] AS x20,
		       f[1] * 2 - f[2] + sin(f[3] * 6) + f[4] * f[5] + random() * 0.1 AS y
		  FROM (SELECT i, array(SELECT random() FROM generate_series(1, 20) WHERE i > 0) AS f
		          FROM generate_series(1, 20000) i) s;
	SQL
	mlops_psql -q -At -c "SELECT model_id FROM mlops.train('single', 'single_rows', 'y', exclude => '{id}',
		hyperparams => '{\"n_estimators\": 100, \"max_depth\": 6}', test_size => 0.2)" >/dev/null
}

# 0.2.0: this tree's build
mlops_cluster_start "${settings[@]}"
prepare
new=("$MLOPS_CLUSTER_DIR" "$PGPORT" "$MLOPS_PGBIN")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlops-single.XXXXXX")
chmod 755 "$tmp"
MLOPS_CLUSTER_DIRS+=("$tmp") # removed with the clusters on exit
script=$tmp/predict.sql
echo "SELECT mlops.predict('single', :x::float8[]);" >"$script"
chmod 644 "$script"

# 0.1.0: a private copy of PostgreSQL with 0.1.0 installed into it
git -C "$MLOPS_ROOT" cat-file -e "$V010_COMMIT^{commit}" 2>/dev/null ||
	mlops_die "commit $V010_COMMIT (mlops 0.1.0) is not in this clone's history"
pglib=$(dirname "$("$PG_CONFIG" --bindir)")
pgshare=$("$PG_CONFIG" --sharedir)
major=$(basename "$pglib")
mkdir -p "$tmp/pg/lib/postgresql" "$tmp/pg/share/postgresql" "$tmp/pg/include" "$tmp/src010"
cp -a "$pglib" "$tmp/pg/lib/postgresql/"
cp -a "$pgshare" "$tmp/pg/share/postgresql/"
ln -s "$("$PG_CONFIG" --includedir)" "$tmp/pg/include/postgresql"
rm -f "$tmp/pg/share/postgresql/$major/extension/mlops"* "$tmp/pg/lib/postgresql/$major/lib/mlops.so"
git -C "$MLOPS_ROOT" archive "$V010_COMMIT" | tar -x -C "$tmp/src010"
mlops_log "single-row: building mlops 0.1.0 ($V010_COMMIT)"
PG_CONFIG=$tmp/pg/lib/postgresql/$major/bin/pg_config
{ make -C "$tmp/src010" -j "$(nproc)" PG_CONFIG="$PG_CONFIG" && make -C "$tmp/src010" install PG_CONFIG="$PG_CONFIG"; } \
	>"$tmp/build010.log" 2>&1 || {
	tail -n 30 "$tmp/build010.log" >&2
	mlops_die "building mlops 0.1.0 failed"
}
mlops_cluster_start "${settings[@]}"
prepare
old=("$MLOPS_CLUSTER_DIR" "$PGPORT" "$MLOPS_PGBIN")

row=$(mlops_psql -At -c "SELECT array_agg(v ORDER BY k)::text FROM (SELECT k, round(random()::numeric, 4) AS v FROM generate_series(1, 20) k) s")
# the two models' prediction for the row, from cluster $1 (an array: dir port bin)
predict_in() {
	local -n c=$1
	PGHOST=${c[0]} PGPORT=${c[1]} mlops_psql -At -c "SELECT mlops.predict('single', '$row'::float8[])"
}
p_new=$(predict_in new) p_old=$(predict_in old)
[[ $p_new == "$p_old" ]] || mlops_log "note: the two models predict $p_new (0.2.0) and $p_old (0.1.0) for the row"

# TPS, transactions and the server's CPU microseconds per call of one run
# against cluster $1 with $2 clients
measure() {
	local -n c=$1
	local pm t0 t1 tps n

	pm=$(head -n 1 "${c[0]}/data/postmaster.pid")
	t0=$(awk '{ print $16 + $17 }' "/proc/$pm/stat")
	read -r tps n < <(PGHOST=${c[0]} PGPORT=${c[1]} "${c[2]}/pgbench" -n -M prepared -f "$script" \
		-D "x=$row" -c "$2" -j "$2" -T "$seconds" 2>/dev/null |
		awk '/^number of transactions actually processed:/ { n = $NF } /^tps = / { t = $3 } END { print t, n }')
	sleep 0.5 # the backends are reaped
	t1=$(awk '{ print $16 + $17 }' "/proc/$pm/stat")
	echo "$tps $(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", (b - a) / hz * 1e6 / n }')"
}

# Backend CPU nanoseconds per call of a PL/pgSQL loop of $2 predict calls in
# cluster $1 (an array: dir port bin), each its own executor run as each
# execution of a prepared statement is, after the SQL in $3 (settings)
loop_ns() {
	local -n c=$1

	PGHOST=${c[0]} PGPORT=${c[1]} mlops_psql -At <<-SQL
		$3
		CREATE TEMP TABLE loop_start AS
		SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS ns;
		DO \$\$
		DECLARE x float8[] := '$row';
		BEGIN
			FOR i IN 1..$2 LOOP PERFORM mlops.predict('single', x); END LOOP;
		END \$\$;
		SELECT round((split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - ns)::numeric / $2)
		  FROM loop_start;
	SQL
}

# Median of the numbers given as arguments
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A tps cpu loop
for ((r = 1; r <= reps; r++)); do
	mlops_log "rep $r, PL/pgSQL loop: 0.1.0 / 0.2.0 / 0.2.0 without serving statistics"
	loop[old]+=" $(loop_ns old 1000000 '')"
	loop[new]+=" $(loop_ns new 1000000 '')"
	loop[new_off]+=" $(loop_ns new 1000000 'SET mlops.track_serving = off;')"

	for c in 1 2 8; do
		mlops_log "rep $r, $c clients: 0.1.0 / 0.2.0"
		for v in old new; do
			read -r t u < <(measure "$v" "$c")
			tps[$v$c]+=" $t"
			cpu[$v$c]+=" $u"
		done
	done
done

echo
echo "Single-row prepared predict, 0.1.0 against this build: $reps repetitions of ${seconds} s, medians; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| clients | 0.1.0 (TPS) | 0.2.0 (TPS) | 0.2.0 vs 0.1.0 | server CPU/call 0.1.0 (µs) | 0.2.0 (µs) | CPU 0.2.0 vs 0.1.0 |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for c in 1 2 8; do
	# shellcheck disable=SC2086 # the lists split into numbers
	to=$(median ${tps[old$c]}) tn=$(median ${tps[new$c]}) co=$(median ${cpu[old$c]}) cn=$(median ${cpu[new$c]})
	awk -v c="$c" -v to="$to" -v tn="$tn" -v co="$co" -v cn="$cn" 'BEGIN {
		printf "| %d | %.0f | %.0f | %+.1f %% | %.2f | %.2f | %+.1f %% |\n", c, to, tn, (tn / to - 1) * 100, co, cn, (cn / co - 1) * 100 }'
done
echo
# shellcheck disable=SC2086 # the lists split into numbers
lo=$(median ${loop[old]}) ln=$(median ${loop[new]}) lf=$(median ${loop[new_off]})
echo "PL/pgSQL loop of 1,000,000 calls (each its own executor run), backend CPU per call, medians:"
echo "0.1.0 $lo ns, 0.2.0 $ln ns ($(awk -v a="$lo" -v b="$ln" 'BEGIN { printf "%+.1f %%", (b / a - 1) * 100 }')), 0.2.0 with mlops.track_serving = off $lf ns"
