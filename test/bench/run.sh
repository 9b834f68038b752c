#!/usr/bin/env bash
#
# test/bench/run.sh: the mlops benchmark suite (run as root: bash test/bench/run.sh)
#
# Installs the Debian dependencies of the tests and the benchmark's own
# (wrk), builds and installs mlops, starts a throwaway cluster, then runs
# bench.py: batch scoring, single-row serving, model load, XGBoost, linear and
# logistic training against the Python path and libxgboost, 3 repetitions,
# medians; then fastscore.py (issue 16: the planned form of predict, the
# binned walk, wide inputs).  Prints the markdown tables of the README's
# Performance section.
# About 10 minutes on 2 cores; not part of test/run.sh.
#
# Environment: MLOPS_BENCH_REPS (3), MLOPS_BENCH_ROWS (1000000),
# MLOPS_BENCH_SECONDS (5, per pgbench or wrk run), MLOPS_CFLAGS (build flags).
set -euo pipefail

# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"

mlops_install_deps
if ! command -v wrk >/dev/null; then
	((EUID == 0)) || mlops_die "wrk is missing (run as root to install it)"
	mlops_log "dependencies: apt-get install wrk"
	apt-get update -qq || mlops_die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk ||
		mlops_die "apt-get install wrk failed"
fi
mlops_build >&2
mlops_cluster_start "shared_preload_libraries = 'mlops'" "shared_buffers = 1GB" \
	"max_parallel_workers_per_gather = 0" "mlops.threads = 1"
mlops_psql -c "CREATE EXTENSION mlops" >&2
MLOPS_PGBIN=$MLOPS_PGBIN mlops_timeout 3600 /usr/bin/python3 "$MLOPS_ROOT/test/bench/bench.py"
# issue 16: the planned form, the binned walk, wide inputs (reuses bench.py's table and model)
MLOPS_PGBIN=$MLOPS_PGBIN mlops_timeout 3600 /usr/bin/python3 "$MLOPS_ROOT/test/bench/fastscore.py"
