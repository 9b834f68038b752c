#!/usr/bin/env bash
#
# contrib/demo.sh: the mlops demo (run as root: bash contrib/demo.sh)
#
# Installs the dependencies, builds and installs mlops, starts a throwaway
# cluster, loads the data sets of contrib/datasets (tables.sql; the tour
# uses table breast_cancer) and runs the SQL tour in contrib/demo.sql. The
# cluster is removed on exit.
set -euo pipefail

# shellcheck source=../test/lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../test/lib.sh"

mlops_install_deps
mlops_build
# shellcheck disable=SC2119 # no extra postgresql.conf lines
mlops_cluster_start
mlops_psql -c "CREATE EXTENSION mlops"
mlops_log "demo: contrib/datasets/tables.sql"
(cd "$MLOPS_ROOT/contrib/datasets" && mlops_psql -f tables.sql) >/dev/null
mlops_log "demo: contrib/demo.sql"
mlops_psql -e -f "$MLOPS_ROOT/contrib/demo.sql"
# the two retrains of the tour: skipped for no drift, then retrained on the drifted
# rows and deployed (the newest model) because it scores better on them
decisions=$(mlops_psql -At -c "SELECT string_agg(detail->>'reason', ' | ' ORDER BY id) FROM mlops.events
                                WHERE action = 'retrain'")
deployed_newest=$(mlops_psql -At -c "SELECT (SELECT model_id FROM mlops.overview WHERE project = 'cancer')
                                            = (SELECT max(m.id) FROM mlops.models m
                                                 JOIN mlops.projects p ON p.id = m.project_id
                                                WHERE p.name = 'cancer')")
[[ $decisions == "no drift: "*" | new f1 "*" >= deployed "*" on the same "*" held-out rows; "*" columns drifted"* &&
	$deployed_newest == t ]] || mlops_die "demo: unexpected retrain decisions: $decisions"
mlops_log "demo: retrain decisions: $decisions"
mlops_log "demo: done"
