#!/usr/bin/env bash
#
# test/integration/security_locks.sh: no lock without privilege (issue 10,
# defect 8)
#
# A role without SELECT on a table calls every function that takes a
# relation name on it.  Checks: while another session holds an exclusive
# lock on the table, each call fails at once with "permission denied"
# rather than queueing for a lock; in a transaction left open after the
# error, that backend holds no lock on the table and another session's
# ALTER TABLE under lock_timeout is not blocked (train_async and schedule
# used to succeed there, keeping their lock).  SELECT on some columns is
# enough to train on those columns.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

mlops_cluster_start

sql "CREATE EXTENSION mlops;
     CREATE ROLE intruder LOGIN;
     GRANT CREATE ON SCHEMA public TO intruder;
     SELECT setseed(0.25);
     CREATE TABLE secret AS SELECT i AS id, random() AS a, random() AS b, (i % 2) AS y
       FROM generate_series(1, 200) i;
     CREATE TABLE mine AS SELECT id, a, b, y FROM secret;
     ALTER TABLE mine OWNER TO intruder" >/dev/null
# the intruder's own project, so that the functions on a project reach the relation
PGUSER=intruder sql "SELECT model_id FROM mlops.train('mine', 'mine', 'y', exclude => '{id}')" >/dev/null

# Locks the intruder's backends hold on table secret
intruder_locks() {
	sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s USING (pid)
	     WHERE s.usename = 'intruder' AND l.relation = 'secret'::regclass"
}

# Run a psql session as role $1 in the background: its input is $2, then
# it waits until file $3 exists and sends $4; its output goes to file $5
background_session() {
	local role=$1 input=$2 release=$3 last=$4 out=$5
	{
		echo "$input"
		while [[ ! -e $release ]]; do sleep 0.1; done
		echo "$last"
	} | PGUSER=$role "$MLOPS_PGBIN/psql" -X -q -At >"$out" 2>&1 &
}

# Check call $1 as the intruder: (1) while another session holds an
# exclusive lock on the table, it is refused at once instead of queueing
# for a lock (where it would hold up every later lock request); (2) in a
# transaction the intruder leaves open after the error, it holds no lock
# and does not block another session's ALTER TABLE
check_call() {
	local call=$1 release out

	release=$(mktemp -u "${TMPDIR:-/tmp}/mlops_release.XXXXXX")
	out=$(mktemp "${TMPDIR:-/tmp}/mlops_out.XXXXXX")
	background_session postgres "BEGIN; LOCK TABLE secret IN ACCESS EXCLUSIVE MODE;" "$release" "COMMIT;" "$out"
	wait_for "SELECT count(*) FROM pg_locks WHERE relation = 'secret'::regclass AND granted" 1 30 >/dev/null
	tap_like "$(PGUSER=intruder sql_err "SET statement_timeout = '5s'; SELECT $call")" \
		'ERROR:  permission denied for table secret' \
		"$call: refused at once while another session holds an exclusive lock on the table"
	touch "$release"
	wait
	rm -f "$release"

	background_session intruder "BEGIN; SELECT $call;" "$release" "ROLLBACK;" "$out"
	tap_is "$(wait_for "SELECT count(*) FROM pg_stat_activity
	                    WHERE usename = 'intruder' AND state = 'idle in transaction (aborted)'" 1 30)" 1 \
		"$call: fails in the intruder's transaction"
	tap_like "$(cat "$out")" 'ERROR:  permission denied for table secret' "$call: with permission denied"
	tap_is "$(intruder_locks)" 0 "$call: the intruder's backend holds no lock on the table"
	tap_is "$(sql_err "SET lock_timeout = '2s'; ALTER TABLE secret ALTER COLUMN b SET DEFAULT 0")" "" \
		"$call: ALTER TABLE in another session is not blocked"
	touch "$release"
	wait
	rm -f "$release" "$out"
}

check_call "mlops.train('x', 'secret', 'y')"
check_call "mlops.train('x', 'public.secret', 'y', algorithm => 'linear')"
check_call "mlops.train_async('x', 'secret', 'y')"
check_call "mlops.evaluate('mine', 'secret')"
check_call "mlops.drift('mine', 'secret')"
check_call "mlops.retrain('mine', 'secret', force => true)"
check_call "mlops.schedule('mine', '1 hour', 'secret')"

# SELECT on some columns is enough to train on them, not on the others
sql "GRANT SELECT (a, y) ON secret TO intruder" >/dev/null
tap_like "$(PGUSER=intruder sql "SELECT algorithm FROM mlops.train('cols', 'secret', 'y', features => '{a}')")" \
	'^xgboost$' "with SELECT on columns a and y, the intruder trains on them"
tap_like "$(PGUSER=intruder sql_err "SELECT algorithm FROM mlops.train('cols2', 'secret', 'y', features => '{a,b}')")" \
	'ERROR:  permission denied for table secret' "but not on column b"

tap_done
