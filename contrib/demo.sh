#!/usr/bin/env bash
#
# contrib/demo.sh: the mlops demo (run as root: bash contrib/demo.sh)
#
# Installs the dependencies, builds and installs mlops, starts a throwaway
# cluster, loads the data sets of contrib/datasets (tables.sql; the tour
# uses table breast_cancer), runs the SQL tour in contrib/demo.sql and
# writes the project's HTML report (mlops.report) to mlops-report.html. The
# cluster is removed on exit.
set -euo pipefail

# shellcheck source=../test/lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../test/lib.sh"

mlops_install_deps
mlops_build
# preloaded: the serving statistics live in shared memory
mlops_cluster_start "shared_preload_libraries = 'mlops'"
mlops_psql -c "CREATE EXTENSION mlops"
mlops_log "demo: contrib/datasets/tables.sql"
(cd "$MLOPS_ROOT/contrib/datasets" && mlops_psql -f tables.sql) >/dev/null
mlops_log "demo: contrib/demo.sql"
mlops_psql -e -f "$MLOPS_ROOT/contrib/demo.sql"
# the two retrains of the tour: skipped for no drift, then retrained on the drifted
# rows and deployed because it scores better on them (the canary that follows is
# aborted, so the retrained model is still the deployed one)
decisions=$(mlops_psql -At -c "SELECT string_agg(detail->>'reason', ' | ' ORDER BY id) FROM mlops.events
                                WHERE action = 'retrain'")
deployed_newest=$(mlops_psql -At -c "SELECT (SELECT model_id FROM mlops.overview WHERE project = 'cancer')
                                            = (SELECT model_id FROM mlops.events
                                                WHERE action = 'retrain' ORDER BY id DESC LIMIT 1)")
[[ $decisions == "no drift: "*" | new f1 "*" >= deployed "*" on the same "*" held-out rows; "*" columns drifted"* &&
	$deployed_newest == t ]] || mlops_die "demo: unexpected retrain decisions: $decisions"
mlops_log "demo: retrain decisions: $decisions"
# the project's report: one self-contained HTML page
report=${MLOPS_DEMO_REPORT:-$MLOPS_ROOT/mlops-report.html}
mlops_psql -At -c "SELECT mlops.report('cancer')" >"$report"
grep -q '<svg' "$report" || mlops_die "demo: the report has no chart"
mlops_log "demo: report written to $report ($(wc -c <"$report") bytes)"
mlops_log "demo: done"
