#!/usr/bin/env bash
#
# test/integration/forest_jobs.sh: a random forest in a background job
#
# A throwaway cluster with mlops preloaded (mlops.max_jobs = 1, a short
# naptime).  Checks: cancel_job stops a forest of 20,000 trees within 5 s,
# and the job's progress counts the trees while it grows them.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" "synchronous_commit = on" \
	"mlops.scheduler_naptime = 100" "mlops.max_jobs = 1"

sql "CREATE EXTENSION mlops" >/dev/null
sql "CREATE TABLE big AS SELECT (g % 97)::float8 AS a, (g * 7 % 13)::float8 AS b, sin(g) AS c,
       (g % 5 > 1)::int AS y FROM generate_series(1, 100000) g" >/dev/null

# Queue a forest of 20,000 trees (minutes of work); print the job's id
forest_job() {
	sql "SELECT mlops.train_async('$1', 'big', 'y', algorithm => 'random_forest',
	       hyperparams => '{\"n_estimators\": 20000, \"max_depth\": 6}')"
}

# Milliseconds since the epoch
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

a=$(forest_job forest_a)
tap_is "$(wait_for "SELECT phase FROM mlops.job_progress WHERE job_id = $a" fitting)" fitting \
	"the forest job reaches its fitting phase"
sleep 1
tap_is "$(sql "SELECT mlops.cancel_job($a)")" t "cancel_job of the running forest returns true"
start=$(now_ms)
tap_is "$(wait_for "SELECT status FROM mlops.jobs WHERE id = $a" canceled 300)" canceled \
	"the forest job stops and is recorded as canceled"
elapsed=$(($(now_ms) - start))
tap_ok $((elapsed < 5000 ? 0 : 1)) "it stops within 5 s of cancel_job ($elapsed ms)"

b=$(forest_job forest_b)
tap_is "$(wait_for "SELECT phase || ' ' || iterations_total FROM mlops.job_progress WHERE job_id = $b" "fitting 20000")" \
	"fitting 20000" "the forest job's phase is fitting, with its number of trees as the total"
tap_is "$(wait_for "SELECT iterations_done >= 10 FROM mlops.job_progress WHERE job_id = $b" t)" t \
	"its progress counts the trees grown so far"
done_before=$(sql "SELECT iterations_done FROM mlops.job_progress WHERE job_id = $b")
sleep 0.5
tap_is "$(sql "SELECT iterations_done > $done_before AND iterations_done < 20000
               FROM mlops.job_progress WHERE job_id = $b")" t "the count grows while the job runs"
sql "SELECT mlops.cancel_job($b)" >/dev/null
tap_is "$(wait_for "SELECT count(*) FROM mlops.job_progress" 0 300)" 0 "no job shows in mlops.job_progress once they stopped"

tap_done
