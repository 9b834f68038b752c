#!/usr/bin/env bash
#
# test/run.sh: the mlops test command (run as root: bash test/run.sh)
#
# Installs the Debian dependencies, builds with warnings as errors, installs,
# starts a throwaway cluster with mlops preloaded, then runs every step even
# when an earlier one fails:
#   regress      make installcheck (pg_regress, sql/ + expected/)
#   pgtap        pg_prove test/pgtap/*.sql in database mlops_tap
#   python       prove test/python/test_*.py (scikit-learn/SciPy references) in mlops_py
#   fuzz         test/fuzz/run.sh: every SQL function with adversarial arguments and
#                corrupted registry rows, on its own cluster; fails on a backend crash
#   integration  prove test/integration/*.sh (they start their own clusters); citus.sh
#                last, after building Citus from shared/vendor if citus.so is missing
#
# Options: --only STEP   run one step
#          --no-deps     do not check or install Debian packages
#          --no-citus    skip the Citus build and test/integration/citus.sh (MLOPS_SKIP_CITUS=1)
# Environment: MLOPS_CFLAGS (default: strict flags), MLOPS_STEP_TIMEOUT (seconds, default 1200: the python and integration steps take several minutes each on 2 cores)
set -euo pipefail

# mlops.* lines for postgresql.conf; only settings the library defines, since it reserves the prefix
MLOPS_SETTINGS=()

STEPS=(regress pgtap python fuzz integration)

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

# Print the command line synopsis
usage() {
	echo "usage: bash test/run.sh [--only regress|pgtap|python|fuzz|integration] [--no-deps] [--no-citus]"
}

# Run a command under the step time limit
limited() {
	mlops_timeout "${MLOPS_STEP_TIMEOUT:-1200}" "$@"
}

# Recreate database $1 and create the extensions named by the other arguments in it
fresh_db() {
	local db=$1 ext sql=""

	shift
	for ext in "$@"; do
		sql+="CREATE EXTENSION $ext; "
	done
	mlops_psql -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" &&
		mlops_psql -d "$db" -c "$sql"
}

# Each step returns 0 (passed), 77 (skipped: nothing to run) or another status (failed)
step_regress() {
	rm -f "$MLOPS_ROOT/regression.diffs"
	limited make -C "$MLOPS_ROOT" installcheck && return 0
	if [[ -s $MLOPS_ROOT/regression.diffs ]]; then
		mlops_log "regression.diffs (first 300 lines):"
		head -n 300 "$MLOPS_ROOT/regression.diffs"
	fi
	return 1
}

step_pgtap() {
	fresh_db mlops_tap pgtap mlops &&
		limited pg_prove --psql-bin "$MLOPS_PGBIN/psql" -d mlops_tap "$MLOPS_ROOT"/test/pgtap/*.sql
}

step_python() {
	local tests=("$MLOPS_ROOT"/test/python/test_*.py)

	[[ -e ${tests[0]} ]] || return 77
	fresh_db mlops_py mlops &&
		PGDATABASE=mlops_py PYTHONDONTWRITEBYTECODE=1 limited prove -v --exec /usr/bin/python3 "${tests[@]}"
}

step_fuzz() {
	limited bash "$MLOPS_ROOT/test/fuzz/run.sh" --calls 20000
}

# citus.sh runs on its own (after building Citus if needed), with a time limit of its own
step_integration() {
	local tests=() test rc=0

	for test in "$MLOPS_ROOT"/test/integration/*.sh; do
		[[ $test == */citus.sh ]] || tests+=("$test")
	done
	((${#tests[@]})) || return 77
	limited prove -v --exec bash "${tests[@]}" || rc=1
	if [[ ${MLOPS_SKIP_CITUS:-} == 1 ]]; then
		mlops_log "citus: skipped (--no-citus)"
	elif ! mlops_citus_installed && [[ ! -f $MLOPS_CITUS_TARBALL ]]; then
		# a checkout without shared/vendor next to it cannot build Citus: say so loudly
		mlops_log "citus: SKIPPED, no citus.so and no source tarball at $MLOPS_CITUS_TARBALL (set MLOPS_CITUS_TARBALL)"
	else
		(mlops_citus_install) && limited prove -v --exec bash "$MLOPS_ROOT/test/integration/citus.sh" || rc=1
	fi
	return "$rc"
}

only="" deps=1
while (($#)); do
	case $1 in
		--only)
			[[ " ${STEPS[*]} " == *" ${2:-} "* ]] || { usage >&2; exit 2; }
			only=$2
			shift 2
			;;
		--no-deps)
			deps=0
			shift
			;;
		--no-citus)
			export MLOPS_SKIP_CITUS=1
			shift
			;;
		-h | --help)
			usage
			exit 0
			;;
		*)
			usage >&2
			exit 2
			;;
	esac
done

if ((deps)); then
	mlops_install_deps
fi
export MLOPS_CFLAGS=${MLOPS_CFLAGS-$MLOPS_STRICT_CFLAGS}
mlops_build
mlops_cluster_start "shared_preload_libraries = 'mlops'" "${MLOPS_SETTINGS[@]}"

passed=0 failed=0 summary=()
for step in "${STEPS[@]}"; do
	[[ -z $only || $only == "$step" ]] || continue
	mlops_log "step $step"
	rc=0
	"step_$step" || rc=$?
	case $rc in
		0) status=passed passed=$((passed + 1)) ;;
		77) status=skipped ;;
		*) status=failed failed=$((failed + 1)) ;;
	esac
	mlops_log "step $step: $status"
	summary+=("$(printf '%-12s %s' "$step" "$status")")
done

echo
echo "summary:"
printf '  %s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
