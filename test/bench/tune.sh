#!/usr/bin/env bash
#
# test/bench/tune.sh: mlops.tune against scikit-learn's RandomizedSearchCV +
# XGBClassifier (run as root: bash test/bench/tune.sh)
#
# Builds and installs mlops, starts a throwaway cluster, then runs
# tune_bench.py: 20 random trials x 5 folds of XGBoost on 200,000 x 20 rows
# on both sides at equal threads; prints a markdown table.  Not part of
# test/run.sh.  Run it on a quiet machine: libgomp's spinning threads make
# runs with 2 threads on a loaded machine meaningless.
#
# Environment: MLOPS_BENCH_ROWS (200000), MLOPS_BENCH_TRIALS (20),
# MLOPS_BENCH_FOLDS (5), MLOPS_BENCH_THREADS ("1 2"), MLOPS_BENCH_REPS (1),
# MLOPS_CFLAGS (build flags).
set -euo pipefail

# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"

mlops_install_deps
mlops_build >&2
mlops_cluster_start "shared_preload_libraries = 'mlops'" "shared_buffers = 512MB" \
	"max_parallel_workers_per_gather = 0"
mlops_psql -c "CREATE EXTENSION mlops" >&2
mlops_timeout 7200 /usr/bin/python3 "$MLOPS_ROOT/test/bench/tune_bench.py"
