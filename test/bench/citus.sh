#!/usr/bin/env bash
#
# test/bench/citus.sh: batch scoring and drift on a Citus cluster against a
# single node, with the per-task times
#
#   bash test/bench/citus.sh [--no-build] [--rows N] [--workers N] [--repeat N]
#
# Builds and installs mlops (unless --no-build) and Citus (if missing),
# starts a coordinator and --workers workers (default 2) on this machine,
# and loads N rows (default 4,000,000) of 8 float features twice: as a local
# table on the coordinator (the single node) and as a table distributed by
# id in 32 shards.  An XGBoost regression model (100 trees, depth 6) is
# trained on the first 100,000 rows and deployed.  Timed, best of --repeat
# (default 3), from EXPLAIN ANALYZE's execution time:
#
#   score      SELECT sum(mlops.predict('b', t)) FROM <table> t
#              (on the distributed table every task scores its shard and
#              sums; the sums must agree to 1e-9 relative)
#   score+write INSERT INTO <scores> SELECT id, mlops.predict('b', t) FROM <table> t
#              (distributed: a co-located scores table, written by the tasks)
#   drift      mlops.drift('b', <table>, method => 'psi'): on the
#              distributed table the partial drift profiles are computed in
#              the worker tasks and merged on the coordinator
#   drift_ks   the same with method => 'ks' (the partial profiles carry a
#              sample of mlops.drift_sample_size values per input)
#   The tasks of drift and drift_ks: Citus cannot EXPLAIN ANALYZE a
#   pushed-down custom aggregate (its partial result is a cstring), so each
#   shard's partial drift profile is timed on its worker as the task runs
#   it: SELECT mlops.drift_profile(model, 0, 0, ROW(t.f1, ..., t.f8)) FROM
#   <shard> t for psi, with 10000 and hash_record_extended(t, 0) for ks.
#
# With citus.explain_all_tasks the distributed EXPLAIN ANALYZE lists each
# task's execution time; the table shows their sum and maximum.  One
# connection per worker (citus.max_adaptive_executor_pool_size = 1) runs
# the tasks of a worker one after another, so that a task's time is its
# own work, not a share of a core contended by the worker's other tasks.  The sum
# is the work a single core would do; the maximum bounds the elapsed time
# on a cluster with one core per shard.  On a shared 2-core machine the
# workers compete with each other and with the coordinator, so the elapsed
# distributed time shows the overhead, not the speed-up (see the README
# section on scaling).  Needs root or the postgres user, like test/run.sh.
set -euo pipefail

# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"

build=1 rows=4000000 workers=2 repeat=3
while (($#)); do
	case $1 in
		--no-build)
			build=0
			shift
			;;
		--rows)
			rows=$2
			shift 2
			;;
		--workers)
			workers=$2
			shift 2
			;;
		--repeat)
			repeat=$2
			shift 2
			;;
		*)
			echo "usage: bash test/bench/citus.sh [--no-build] [--rows N] [--workers N] [--repeat N]" >&2
			exit 2
			;;
	esac
done

if ((build)); then
	mlops_install_deps
	mlops_build
fi
mlops_citus_install
mlops_citus_cluster_start "$workers" "shared_buffers = 256MB"

q() { mlops_psql -At -c "$1"; }

q "CREATE EXTENSION mlops" >/dev/null
q "SELECT mlops.citus_setup()" >/dev/null
mlops_log "data: $rows rows"
cols=""
for k in 1 2 3 4 5 6 7 8; do
	cols+="((hashint8(i * 8 + $k) & 1048575) / 1048576.0)::float8 AS f$k, "
done
q "CREATE TABLE b AS
	SELECT *, 2 * f1 - f2 + f3 * f4 + sin(6 * f5) + 0.1 * f6 AS y
	  FROM (SELECT i AS id, ${cols%, } FROM generate_series(1, $rows) i) s;
	ANALYZE b" >/dev/null
q "CREATE TABLE b_d (LIKE b); SET client_min_messages = warning;
	SELECT create_distributed_table('b_d', 'id', shard_count => 32);
	INSERT INTO b_d SELECT * FROM b; ANALYZE b_d;
	CREATE TABLE scores (id int, score float8);
	CREATE TABLE scores_d (id int, score float8);
	SELECT create_distributed_table('scores_d', 'id', colocate_with => 'b_d')" >/dev/null
q "CREATE TABLE b_train AS SELECT * FROM b WHERE id <= 100000" >/dev/null
mlops_log "train: xgboost on 100,000 rows"
q "SELECT mlops.train('b', 'b_train', 'y', exclude => '{id}', hyperparams => '{\"n_estimators\": 100, \"max_depth\": 6}')" >/dev/null

# Execution time (ms) of a statement, and its tasks' times: "total sum max count"
timed() {
	mlops_psql -At -c "SET citus.explain_all_tasks = on" -c "SET citus.max_adaptive_executor_pool_size = 1" \
		-c "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF) $1" |
		awk '/Execution Time:/ { t = $(NF - 1) + 0; if ($0 ~ /^ /) { s += t; if (t > m) m = t; n++ } else total = t }
		     END { printf "%.1f %.1f %.1f %d\n", total, s, m, n }'
}

# Best of $repeat runs of a statement: "total sum max count" of the fastest run
best() {
	local r line best_line="" best_total=""

	for ((r = 0; r < repeat; r++)); do
		[[ -z ${2:-} ]] || q "$2" >/dev/null
		line=$(timed "$1")
		if [[ -z $best_total ]] || awk -v a="${line%% *}" -v b="$best_total" 'BEGIN { exit !(a < b) }'; then
			best_line=$line best_total=${line%% *}
		fi
	done
	echo "$best_line"
}

single_sum=$(q "SELECT sum(mlops.predict('b', t)) FROM b t")
dist_sum=$(q "SELECT sum(mlops.predict('b', t)) FROM b_d t")
agree=$(awk -v a="$single_sum" -v b="$dist_sum" 'BEGIN { d = a - b; if (d < 0) d = -d; print (d <= 1e-9 * (a < 0 ? -a : a)) ? "yes" : "NO" }')
mlops_log "sums: single node $single_sum, distributed $dist_sum (agree to 1e-9: $agree)"

declare -A res
mlops_log "timing: score"
res[score_single]=$(best "SELECT sum(mlops.predict('b', t)) FROM b t")
res[score_dist]=$(best "SELECT sum(mlops.predict('b', t)) FROM b_d t")
mlops_log "timing: score+write"
res[write_single]=$(best "INSERT INTO scores SELECT id, mlops.predict('b', t) FROM b t" "TRUNCATE scores")
res[write_dist]=$(best "INSERT INTO scores_d SELECT id, mlops.predict('b', t) FROM b_d t" "TRUNCATE scores_d")
mlops_log "timing: drift"
res[drift_single]=$(best "SELECT count(*) FROM mlops.drift('b', 'b', method => 'psi')")
res[drift_dist]=$(best "SELECT count(*) FROM mlops.drift('b', 'b_d', method => 'psi')")
res[drift_ks_single]=$(best "SELECT count(*) FROM mlops.drift('b', 'b', method => 'ks')")
res[drift_ks_dist]=$(best "SELECT count(*) FROM mlops.drift('b', 'b_d', method => 'ks')")
mlops_log "timing: the partial drift profiles, per shard"
model=$(q "SELECT max(id) FROM mlops.models")
profile="SELECT length(mlops.drift_profile($model, SAMPLE, KEY, ROW(t.f1, t.f2, t.f3, t.f4, t.f5, t.f6, t.f7, t.f8))) FROM"
# Citus cannot EXPLAIN ANALYZE a pushed-down custom aggregate (its partial
# result is a cstring), so each shard's task is timed on its worker: the
# same aggregate over the shard table, as the task runs it
shard_times() { # SAMPLE: "sum max count" of the per-shard execution times
	local port shard p=${profile//SAMPLE/$1} key="hash_record_extended(t, 0)"

	(($1 > 0)) || key=0
	p=${p//KEY/$key}

	q "SELECT nodeport, shardid FROM pg_dist_shard_placement JOIN pg_dist_shard USING (shardid)
		WHERE logicalrelid = 'b_d'::regclass ORDER BY shardid" |
		while IFS='|' read -r port shard; do
			PGPORT=$port mlops_psql -At -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $p b_d_$shard t" |
				awk '/Execution Time:/ { print $(NF - 1) }'
		done | awk '{ s += $1; if ($1 > m) m = $1; n++ } END { printf "%.1f %.1f %d\n", s, m, n }'
}
for k in drift drift_ks; do
	sample=0
	[[ $k == drift_ks ]] && sample=10000
	read -r ds dm dn <<<"$(shard_times $sample)"
	read -r dt _ <<<"${res[${k}_dist]}"
	res[${k}_dist]="$dt $ds $dm $dn"
done
psi_single=$(q "SET extra_float_digits = 3; SELECT string_agg(statistic::text, ',' ORDER BY feature) FROM mlops.drift('b', 'b', method => 'psi')")
psi_dist=$(q "SET extra_float_digits = 3; SELECT string_agg(statistic::text, ',' ORDER BY feature) FROM mlops.drift('b', 'b_d', method => 'psi')")
psi_agree=$([[ $psi_single == "$psi_dist" ]] && echo yes || echo NO)

echo
echo "Citus: $workers workers x 32 shards on one machine ($(nproc) cores), $rows rows, best of $repeat; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| statement | single node (ms) | distributed (ms) | tasks | task sum (ms) | task max (ms) |"
echo "|---|---:|---:|---:|---:|---:|"
for k in score write drift drift_ks; do
	read -r st _ _ _ <<<"${res[${k}_single]}"
	read -r dt ds dm dn <<<"${res[${k}_dist]}"
	printf '| %s | %s | %s | %s | %s | %s |\n' "$k" "$st" "$dt" "$dn" "$ds" "$dm"
done
echo
echo "score sums agree to 1e-9 relative: $agree; drift psi statistics equal to the last digit: $psi_agree"
