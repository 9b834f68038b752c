#!/usr/bin/env bash
#
# test/integration/readme_examples.sh: every ```sql block of README.md runs
#
# The blocks run in README order, each as one psql script that stops at
# its first error, in a database holding the tables of
# contrib/datasets/tables.sql (the README's examples name those tables and
# their columns).  A block whose first line is "-- not run: <why>" is
# skipped, with its reason; at most MAX_NOT_RUN blocks may say so.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

MAX_NOT_RUN=2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlops-readme.XXXXXX")
MLOPS_CLUSTER_DIRS+=("$tmp") # removed with the clusters on exit

# one file per block, numbered in README order, named by its first line
awk -v dir="$tmp" '
	/^```sql[[:space:]]*$/ { n++; file = sprintf("%s/block%02d.sql", dir, n); inside = 1; next }
	/^```/ { inside = 0; next }
	inside { print > file }
' "$MLOPS_ROOT/README.md"
blocks=("$tmp"/block*.sql)
tap_ok "$((${#blocks[@]} >= 10 ? 0 : 1))" "README.md has ${#blocks[@]} sql blocks"

mlops_cluster_start
(cd "$MLOPS_ROOT/contrib/datasets" && mlops_psql -q -v ON_ERROR_STOP=1 -f tables.sql) >/dev/null
tap_is "$(sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" \
	"$(find "$MLOPS_ROOT/contrib/datasets" -name '*.csv' | wc -l)" "contrib/datasets/tables.sql loads a table per CSV"

not_run=0
for f in "${blocks[@]}"; do
	first=$(head -n 1 "$f")
	line=$(grep -n -F -x -m 1 -f <(head -n 1 "$f") "$MLOPS_ROOT/README.md" | cut -d: -f1)
	if [[ $first == "-- not run:"* ]]; then
		not_run=$((not_run + 1))
		echo "ok $((TAP_RUN + 1)) - README.md line $line # SKIP ${first#-- not run: }"
		TAP_RUN=$((TAP_RUN + 1))
		continue
	fi
	if out=$(mlops_psql -X -q -v ON_ERROR_STOP=1 -f "$f" 2>&1 >/dev/null); then
		tap_ok 0 "README.md line $line: $first"
	else
		tap_ok 1 "README.md line $line: $first"
		sed 's/^/#   /' <<<"$out"
	fi
done
tap_ok "$((not_run <= MAX_NOT_RUN ? 0 : 1))" "at most $MAX_NOT_RUN blocks are not run ($not_run)"

tap_done
