#!/usr/bin/env bash
#
# test/fuzz/run.sh: fuzz every SQL function of mlops on a throwaway cluster
#
# Starts its own cluster (mlops preloaded, server log in a file), loads the
# datasets and test/fuzz/fixtures.sql (tables and models owned by the
# non-superuser role fuzzer), then runs test/fuzz/fuzz.py. Arguments go to
# fuzz.py: --seed N, --calls N, --seconds S (default: --calls 20000, as in
# bash test/run.sh), --verbose, --strict; see test/fuzz/README.md.
# The extension must be built and installed first (make install, or
# bash test/run.sh). Exit status 0 only when no backend crashed or hung.
set -euo pipefail

# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"

FUZZ_DIR=$MLOPS_ROOT/test/fuzz
DATASETS=$MLOPS_ROOT/contrib/datasets

args=("$@")
((${#args[@]})) || args=(--calls 20000)

# Core files of crashed backends land in the data directory, for gdb
ulimit -c unlimited 2>/dev/null || true

mlops_cluster_start "shared_preload_libraries = 'mlops'" \
	"mlops.scheduler_naptime = 200" "mlops.max_jobs = 1" \
	"log_min_messages = log" "log_min_error_statement = panic" \
	"restart_after_crash = on"

mlops_psql -c "CREATE EXTENSION mlops" \
	-c "CREATE ROLE fuzzer LOGIN" \
	-c "CREATE SCHEMA fz AUTHORIZATION fuzzer"
mlops_load_csv "$DATASETS/iris.csv" fz.iris species text
mlops_load_csv "$DATASETS/diabetes.csv" fz.diabetes progression float8
mlops_load_csv "$DATASETS/pima_diabetes.csv" fz.pima diabetes text
mlops_load_csv "$DATASETS/wine.csv" fz.wine cultivar text
mlops_psql -c "ALTER TABLE fz.iris OWNER TO fuzzer" -c "ALTER TABLE fz.diabetes OWNER TO fuzzer" \
	-c "ALTER TABLE fz.pima OWNER TO fuzzer" -c "ALTER TABLE fz.wine OWNER TO fuzzer"
mlops_log "fixtures: $FUZZ_DIR/fixtures.sql"
mlops_psql -f "$FUZZ_DIR/fixtures.sql" >/dev/null
mlops_log "fixtures: $(mlops_psql -Atc "SELECT count(*) FROM mlops.models") models in $(mlops_psql -Atc "SELECT count(*) FROM mlops.projects") projects"

PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$FUZZ_DIR/fuzz.py" --log "$MLOPS_CLUSTER_DIR/server.log" \
	--role fuzzer "${args[@]}"
