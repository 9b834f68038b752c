#!/usr/bin/env bash
#
# test/integration/dump_restore.sh: pg_dump of a database using mlops,
# pg_restore into a new cluster
#
# Cluster A (no background worker) holds models of three projects, an
# evaluation, a drift report, a queued job and an interval schedule.  Its
# pg_dump -Fc is restored into cluster B, which preloads mlops; its worker
# serves another database until the restored one has been checked (so it
# cannot add models meanwhile), then is pointed at the restored database.
# Checks: every model predicts exactly what it predicted in A; every
# registry table has A's rows, the prediction log's in its partitions; the
# worker of B runs the queued job and picks the schedule up.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

data=$MLOPS_ROOT/contrib/datasets

# --- cluster A: models, jobs, schedules ----------------------------------------

mlops_cluster_start
a_host=$PGHOST a_port=$PGPORT a_dir=$MLOPS_CLUSTER_DIR
sql "CREATE EXTENSION mlops" >/dev/null
mlops_load_csv "$data/iris.csv" iris species text
mlops_load_csv "$data/diabetes.csv" dia progression float8
sql "ALTER TABLE iris ADD id serial; ALTER TABLE dia ADD id serial" >/dev/null
for a in xgboost logistic; do
	sql "SELECT version FROM mlops.train('iris', 'iris', 'species', algorithm => '$a', exclude => '{id}')"
done >/dev/null
for a in random_forest ridge; do
	sql "SELECT version FROM mlops.train('dia', 'dia', 'progression', algorithm => '$a', exclude => '{id}', deploy => 'always')"
done >/dev/null
sql "SELECT mlops.evaluate('iris', 'iris'); SELECT count(*) FROM mlops.drift('dia', 'dia')" >/dev/null
sql "SELECT mlops.schedule('dia', '1 second', 'public.dia', '{\"retrain\": \"always\", \"min_improvement\": -1}')" >/dev/null 2>&1
sql "SELECT mlops.train_async('bc', 'dia', 'progression', algorithm => 'linear', exclude => '{id}')" >/dev/null 2>&1
job=$(sql "SELECT max(id) FROM mlops.jobs WHERE project = 'bc'")
tap_is "$(sql "SELECT status FROM mlops.jobs WHERE id = $job")" queued "cluster A has a queued job"
# the prediction log, stored by day: a day's partition as the worker makes
# it (not a member of the extension), and the default partition (a member)
sql "CREATE TABLE mlops.predictions_20200105 (LIKE mlops.predictions_default INCLUDING INDEXES);
     ALTER TABLE mlops.predictions_20200105 REPLICA IDENTITY FULL;
     ALTER TABLE mlops.predictions ATTACH PARTITION mlops.predictions_20200105
       FOR VALUES FROM ('2020-01-05 00:00+00') TO ('2020-01-06 00:00+00');
     INSERT INTO mlops.predictions (project, model_id, variant, key, predicted_at, prediction)
     VALUES ('iris', 1, 'champion', 'a', '2020-01-05 10:00+00', 1), ('iris', 1, 'champion', 'b', '2020-03-01 10:00+00', 2)" >/dev/null

scores_sql="SET extra_float_digits = 3;
	SELECT m.id, t.id, mlops.predict(m.id, t), mlops.predict_proba(m.id, t)
	  FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id, iris t WHERE p.name = 'iris'
	UNION ALL
	SELECT m.id, t.id, mlops.predict(m.id, t), NULL
	  FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id, dia t WHERE p.name = 'dia'
	UNION ALL
	SELECT 0, t.id, mlops.predict('dia', t), NULL FROM dia t
	ORDER BY 1, 2"
counts_sql="SELECT string_agg(format('%s=%s', c.relname,
	(xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM mlops.%I', c.relname), false, true, '')))[1]),
	' ' ORDER BY c.relname)
	FROM pg_class c WHERE c.relnamespace = 'mlops'::regnamespace AND c.relkind = 'r'"
sql "$scores_sql" >"$a_dir/scores"
counts=$(sql "$counts_sql")
mlops_as_pg "$MLOPS_PGBIN/pg_dump" -h "$a_host" -p "$a_port" -U postgres -Fc -f "$a_dir/db.dump" postgres ||
	mlops_die "pg_dump failed"
mlops_cluster_stop fast

# --- cluster B: restore with the worker running ----------------------------------

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" "mlops.scheduler_naptime = 100"
mlops_psql -c "CREATE DATABASE restored"
export PGDATABASE=restored
mlops_as_pg "$MLOPS_PGBIN/pg_restore" -h "$PGHOST" -p "$PGPORT" -U postgres -d restored "$a_dir/db.dump" ||
	mlops_die "pg_restore failed"

sql "$scores_sql" >"$MLOPS_CLUSTER_DIR/scores"
diff "$a_dir/scores" "$MLOPS_CLUSTER_DIR/scores" >&2 && rc=0 || rc=$?
tap_ok "$rc" "every model of the restored database predicts exactly what it predicted before the dump"
tap_is "$(sql "SELECT count(*) FROM mlops.models")" 4 "the restored registry has the four models"
tap_is "$(sql "SELECT string_agg(p.tableoid::regclass || ':' || p.key || ':' || c.relreplident::text, ' ' ORDER BY p.key)
                FROM mlops.predictions p JOIN pg_class c ON c.oid = p.tableoid")" \
	"mlops.predictions_20200105:a:f mlops.predictions_default:b:f" \
	"the prediction log's rows are restored in their partitions, which keep REPLICA IDENTITY FULL"
tap_is "$(sql "SELECT string_agg(indexdef, ' | ' ORDER BY indexdef) FROM pg_indexes WHERE tablename = 'predictions_20200105'")" \
	"CREATE INDEX predictions_20200105_predicted_at_idx ON mlops.predictions_20200105 USING brin (predicted_at) | CREATE INDEX predictions_20200105_project_key_idx ON mlops.predictions_20200105 USING btree (project, key) WHERE (key IS NOT NULL)" \
	"and a day's partition its indexes"

# now the worker serves the restored database
mlops_psql -c "ALTER SYSTEM SET mlops.database = 'restored'" -c "SELECT pg_reload_conf()" >/dev/null

tap_is "$(wait_for "SELECT status IN ('succeeded', 'failed') FROM mlops.jobs WHERE id = $job" t 60)" t \
	"the worker runs the job queued before the dump"
tap_is "$(sql "SELECT status || coalesce(': ' || error, '') FROM mlops.jobs WHERE id = $job")" succeeded "and it succeeds"
tap_is "$(wait_for "SELECT count(*) > 0 FROM mlops.jobs WHERE kind = 'retrain' AND project = 'dia' AND status = 'succeeded'" t 60)" t \
	"the worker picks the restored schedule up and its retrain succeeds"
tap_is "$(sql "SELECT count(*) FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id WHERE p.name = 'bc'")" 1 \
	"the job registered its model"
# the rows A had are all there (the worker has added jobs, events and models since)
got=$(sql "$counts_sql")
python3 -c '
import sys
a = dict(kv.split("=") for kv in sys.argv[1].split())
b = dict(kv.split("=") for kv in sys.argv[2].split())
sys.exit(0 if all(int(b.get(k, -1)) >= int(v) for k, v in a.items()) else 1)' "$counts" "$got" && rc=0 || rc=$?
tap_ok "$rc" "every registry table has at least the rows it had before the dump ($counts)"

tap_done
