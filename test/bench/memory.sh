#!/usr/bin/env bash
#
# test/bench/memory.sh: training memory and the time outside the fit
#
#   bash test/bench/memory.sh [--no-build] [xgb-1m] [big] [linear-big] [wide]
#
# Builds and installs mlops (unless --no-build), starts a throwaway cluster
# (test/lib.sh) and runs memory.py (see its docstring): XGBoost on 1M x 20
# against the Python path's memory and libxgboost's in-memory fit plus a
# scan; XGBoost and linear on 20M x 20 float8 (a 3.8 GB table, built in
# the cluster: about 70 GB of free disk for the run is plenty, and it takes
# a while); the fingerprint workload (2048, 1000 and 200 inputs).  Prints
# a markdown table.  Memory figures are exact; timings depend on the load
# of the machine.  Needs root or the postgres user, like test/run.sh.
set -euo pipefail

# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"

build=1
if [[ ${1:-} == --no-build ]]; then
	build=0
	shift
fi
if ((build)); then
	mlops_install_deps
	mlops_build >&2
fi
mlops_cluster_start "shared_preload_libraries = 'mlops'" "shared_buffers = 1GB" \
	"max_parallel_workers_per_gather = 0" "mlops.threads = 1"
mlops_psql -c "CREATE EXTENSION mlops" >&2
mlops_timeout 14400 /usr/bin/python3 "$MLOPS_ROOT/test/bench/memory.py" "$@"
