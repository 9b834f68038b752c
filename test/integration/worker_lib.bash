# shellcheck shell=bash
#
# test/integration/worker_lib.bash: TAP and polling helpers for the
# integration scripts of the background worker (sourced, not run by prove)
#
#   tap_ok STATUS NAME            one test: passes when STATUS is 0
#   tap_is GOT EXPECTED NAME      passes when the strings are equal
#   tap_like GOT REGEX NAME       passes when GOT matches the extended regex
#   tap_done                      print the plan; fail when a test failed
#   sql SQL                       run SQL on the current cluster, print the result unaligned
#   sql_err SQL                   run SQL that should fail or warn; print what psql printed
#   wait_for SQL EXPECTED [SECS]  rerun SQL until it prints EXPECTED (default 60 s)

# shellcheck source=../lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TAP_RUN=0
TAP_FAILED=0

# One test result
tap_ok() {
	TAP_RUN=$((TAP_RUN + 1))
	if (($1 == 0)); then
		echo "ok $TAP_RUN - $2"
	else
		echo "not ok $TAP_RUN - $2"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
}

# Compare two strings
tap_is() {
	if [[ $1 == "$2" ]]; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		printf '#   got:      %s\n#   expected: %s\n' "$1" "$2"
	fi
}

# Match a string against an extended regular expression
tap_like() {
	if [[ $1 =~ $2 ]]; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		printf '#   got:      %s\n#   expected to match: %s\n' "$1" "$2"
	fi
}

# Print the plan; the exit status says whether every test passed
tap_done() {
	echo "1..$TAP_RUN"
	((TAP_FAILED == 0))
}

# Run SQL, printing the result unaligned and tuples only
sql() {
	mlops_psql -At -c "$1"
}

# Run SQL that should fail (or warn), printing psql's output and messages
sql_err() {
	mlops_psql -At -c "$1" 2>&1 || true
}

# Rerun SQL every 0.1 s until it prints EXPECTED; print the last output
wait_for() {
	local query=$1 expected=$2 seconds=${3:-60} got deadline

	deadline=$((SECONDS + seconds))
	while :; do
		got=$(sql "$query" 2>&1) || true
		if [[ $got == "$expected" ]] || ((SECONDS >= deadline)); then
			break
		fi
		sleep 0.1
	done
	echo "$got"
}
