#!/usr/bin/env bash
#
# test/integration/standby.sh: read scale-out on a streaming hot standby
#
# A primary with models of two projects and a hot standby streaming from
# it.  Checks: predict, predict_proba, predict_label and featurize in every
# input form (row, float8[], float4[], jsonb; project and model_id) give on
# the standby exactly what they give on the primary; a deploy committed on
# the primary is used by the standby's next statement once replayed, and a
# rolled-back deploy never; mlops.drift computes the same statistics on the
# standby, records nothing there and says so in a NOTICE.  Both servers
# preload mlops: the standby counts its own predict calls in its
# serving_stats (shared memory, nothing written), and drops and counts the
# rows a logging policy samples, since a standby cannot log.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

data=$MLOPS_ROOT/contrib/datasets

mlops_cluster_start "wal_level = replica" "max_wal_senders = 4" "shared_preload_libraries = 'mlops'"
primary_host=$PGHOST primary_port=$PGPORT primary_dir=$MLOPS_CLUSTER_DIR
sql "CREATE EXTENSION mlops" >/dev/null
mlops_load_csv "$data/iris.csv" iris species text
mlops_load_csv "$data/diabetes.csv" dia progression float8
sql "ALTER TABLE iris ADD id serial; ALTER TABLE dia ADD id serial" >/dev/null
iris1=$(sql "SELECT model_id FROM mlops.train('iris', 'iris', 'species', exclude => '{id}')")
iris2=$(sql "SELECT model_id FROM mlops.train('iris', 'iris', 'species', algorithm => 'logistic', exclude => '{id}', deploy => 'never')")
dia1=$(sql "SELECT model_id FROM mlops.train('dia', 'dia', 'progression', algorithm => 'ridge', exclude => '{id}')")

# The standby
sdir=$(mktemp -d "${TMPDIR:-/tmp}/mlops.XXXXXX")
MLOPS_CLUSTER_DIRS+=("$sdir")
chmod 755 "$sdir"
if ((EUID == 0)); then
	chown postgres: "$sdir"
fi
sport=$(mlops_free_port)
mlops_as_pg "$MLOPS_PGBIN/pg_basebackup" -D "$sdir/data" -R -h "$primary_host" -p "$primary_port" -U postgres -c fast
printf '%s\n' "port = $sport" "unix_socket_directories = '$sdir'" "hot_standby = on" >>"$sdir/data/postgresql.conf"
mlops_pg_ctl "$sdir" -l "$sdir/server.log" -w -t 60 -s start

# Run SQL on the primary or on the standby
on_primary() { PGHOST=$primary_host PGPORT=$primary_port sql "$1"; }
on_standby() { PGHOST=$sdir PGPORT=$sport sql "$1"; }
on_standby_err() { PGHOST=$sdir PGPORT=$sport sql_err "$1"; }

# Wait until the standby has replayed everything the primary has written so far
caught_up() {
	local lsn

	lsn=$(on_primary "SELECT pg_current_wal_insert_lsn()")
	PGHOST=$sdir PGPORT=$sport wait_for "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" t 30 >/dev/null
}

tap_is "$(on_standby "SELECT pg_is_in_recovery()")" t "the standby is in recovery"
caught_up

# Every predict form on every row, by project and by model id
scores_sql="SET extra_float_digits = 3;
	SELECT t.id, mlops.predict('iris', t), mlops.predict_proba('iris', t), mlops.predict_label('iris', t),
	       mlops.predict('iris', to_jsonb(t)), mlops.predict_proba($iris2, to_jsonb(t)),
	       mlops.predict_label($iris2, t), mlops.featurize('iris', t),
	       mlops.predict('iris', ARRAY[t.sepal_length_cm, t.sepal_width_cm, t.petal_length_cm, t.petal_width_cm]),
	       mlops.predict($iris2, ARRAY[t.sepal_length_cm, t.sepal_width_cm, t.petal_length_cm, t.petal_width_cm]::float4[])
	  FROM iris t
	UNION ALL
	SELECT t.id, mlops.predict('dia', t), NULL, NULL, mlops.predict($dia1, to_jsonb(t)), NULL, NULL,
	       mlops.featurize($dia1, t), NULL, NULL
	  FROM dia t
	ORDER BY 1, 2"
on_primary "$scores_sql" >"$primary_dir/scores"
on_standby "$scores_sql" >"$sdir/scores"
tap_is "$(wc -l <"$sdir/scores")" 592 "the standby scores every row of both tables"
diff "$primary_dir/scores" "$sdir/scores" >&2 && rc=0 || rc=$?
tap_ok "$rc" "every predict, predict_proba, predict_label and featurize form equals the primary's"

# Deploys reach the standby's next statement after replay; rolled-back ones never
deployed="SELECT mlops.predict_proba('iris', t) = mlops.predict_proba($iris2, t) FROM iris t WHERE id = 1"
tap_is "$(on_standby "$deployed")" f "before the deploy the standby scores with model $iris1"
on_primary "BEGIN; SELECT mlops.deploy('iris', 'specific', $iris2); ROLLBACK" >/dev/null
caught_up
tap_is "$(on_standby "$deployed")" f "a rolled-back deploy is never used by the standby"
on_primary "SELECT mlops.deploy('iris', 'specific', $iris2)" >/dev/null
caught_up
tap_is "$(on_standby "$deployed")" t "a committed deploy is used by the standby's next statement after replay"
on_primary "SELECT mlops.deploy('iris', 'rollback')" >/dev/null
caught_up
tap_is "$(on_standby "$deployed")" f "and so is a rollback"

# A session that stays open sees the deploy too (its model cache is invalidated by replay)
coproc STANDBY { PGHOST=$sdir PGPORT=$sport "$MLOPS_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 2>&1; }
standby_pid=$STANDBY_PID # bash unsets STANDBY_PID when the coprocess ends
echo "$deployed;" >&"${STANDBY[1]}"
read -r -t 30 first <&"${STANDBY[0]}" || first=timeout
on_primary "SELECT mlops.deploy('iris', 'specific', $iris2)" >/dev/null
caught_up
echo "$deployed;" >&"${STANDBY[1]}"
read -r -t 30 second <&"${STANDBY[0]}" || second=timeout
echo '\q' >&"${STANDBY[1]}"
wait "$standby_pid" 2>/dev/null || true
tap_is "$first $second" "f t" "an open standby session switches models at its next statement after replay"

# Drift on the standby: the same statistics, nothing recorded, a NOTICE
drift_sql="SET extra_float_digits = 3; SELECT feature, method, statistic, p_value, drifted FROM mlops.drift('dia', 'dia') ORDER BY 1"
reports=$(on_primary "SELECT count(*) FROM mlops.drift_reports")
caught_up
out=$(on_standby_err "$drift_sql")
tap_like "$out" 'NOTICE:  drift report not recorded: the server is a hot standby' "drift on the standby says it records nothing"
on_standby "$drift_sql" 2>/dev/null >"$sdir/drift"
on_primary "$drift_sql" >"$primary_dir/drift"
diff "$primary_dir/drift" "$sdir/drift" >&2 && rc=0 || rc=$?
tap_ok "$rc" "and computes exactly the primary's statistics"
tap_is "$(($(on_primary "SELECT count(*) FROM mlops.drift_reports") - reports))" 1 \
	"only the primary's call was recorded"

# Serving statistics on the standby: its own shared memory counts its calls
on_primary "SELECT mlops.serving_stats_reset()" >/dev/null
on_standby "SELECT mlops.serving_stats_reset()" >/dev/null
on_standby "SELECT count(mlops.predict('dia', t)) FROM dia t" >/dev/null
on_standby_err "SELECT mlops.predict('dia', '{}'::jsonb)" >/dev/null
tap_is "$(on_standby "SELECT model_id || ' ' || variant || ' ' || calls || ' ' || errors FROM mlops.serving_stats WHERE project = 'dia'")" \
	"$dia1 champion 442 1" "the standby counts its predict calls and errors in its serving_stats"
tap_is "$(on_primary "SELECT count(*) FROM mlops.serving_stats WHERE project = 'dia'")" 0 \
	"the primary's serving_stats do not hold the standby's calls"
on_primary "SELECT mlops.set_policy('dia', '{\"key\": \"id\", \"log_predictions\": {\"sample\": 1}}')" >/dev/null
caught_up
on_standby "SELECT count(mlops.predict('dia', t)) FROM dia t WHERE id <= 10" >/dev/null
tap_is "$(on_standby "SELECT calls || ' ' || dropped FROM mlops.serving_stats WHERE project = 'dia'")" "452 10" \
	"a standby cannot log predictions: the sampled calls are dropped and counted"

tap_done
