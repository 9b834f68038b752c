#!/usr/bin/env bash
#
# contrib/demo.sh: the mlops demo (run as root: bash contrib/demo.sh)
#
# Installs the dependencies, builds and installs mlops, starts a throwaway
# cluster, loads the Wisconsin breast cancer data set into table
# breast_cancer and runs the SQL tour in contrib/demo.sql. The cluster is
# removed on exit.
set -euo pipefail

# shellcheck source=../test/lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../test/lib.sh"

mlops_install_deps
mlops_build
# shellcheck disable=SC2119 # no extra postgresql.conf lines
mlops_cluster_start
mlops_psql -c "CREATE EXTENSION mlops"
mlops_load_csv "$MLOPS_ROOT/contrib/datasets/breast_cancer.csv" breast_cancer diagnosis text
mlops_log "demo: contrib/demo.sql"
mlops_psql -e -f "$MLOPS_ROOT/contrib/demo.sql"
mlops_log "demo: done"
