#!/usr/bin/env bash
#
# test/integration/prediction_log.sh: the prediction log end to end
#
# A throwaway cluster with mlops preloaded, its worker in this database and
# a queue of 100 entries.  Checks: with "log_predictions": {"sample": 1}
# every call reaches mlops.predictions (the worker drains the queue), each
# row holding what predict returned (prediction, proba), the entity key,
# the input as jsonb and when predict ran; nothing is lost while the queue
# is not full.  With the worker held up (a lock on mlops.predictions) the
# queue fills: exactly the 100 rows it holds are logged later, the rest are
# dropped and counted in serving_stats.dropped.  The worker deletes rows
# older than "log_retention" and keeps the rows of projects without one.
# The log is stored by day: the worker's rows are in their day's
# partition, made ahead by the worker, other rows in the default
# partition; past days' partitions are dropped once empty.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

data=$MLOPS_ROOT/contrib/datasets

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" \
	"mlops.scheduler_naptime = 100" "mlops.log_queue_size = 100"
sql "CREATE EXTENSION mlops" >/dev/null
mlops_load_csv "$data/iris.csv" iris species text
sql "ALTER TABLE iris ADD id serial" >/dev/null
m=$(sql "SELECT model_id FROM mlops.train('iris', 'iris', 'species', algorithm => 'logistic', exclude => '{id}')")
# what predict returns, computed before logging starts
sql "CREATE TABLE expected AS SELECT t.id, mlops.predict('iris', t) AS prediction, mlops.predict_proba('iris', t) AS proba
     FROM iris t; SELECT mlops.serving_stats_reset()" >/dev/null
sql "SELECT mlops.set_policy('iris', '{\"key\": \"id\", \"log_predictions\": {\"sample\": 1}, \"log_retention\": \"30 days\"}')" >/dev/null

# 90 calls (the queue holds 100): every one is logged, with what predict returned
before=$(sql "SELECT clock_timestamp()")
sql "SELECT count(mlops.predict_proba('iris', t)) FROM iris t WHERE id <= 60" >/dev/null
sql "SELECT count(mlops.predict('iris', to_jsonb(t))) FROM iris t WHERE id > 60 AND id <= 90" >/dev/null
after=$(sql "SELECT clock_timestamp()")
tap_is "$(wait_for "SELECT count(*) FROM mlops.predictions" 90 30)" 90 "the worker writes every sampled call (none lost while the queue is not full)"
tap_is "$(sql "SELECT count(*) FROM mlops.predictions p JOIN iris t ON t.id::text = p.key JOIN expected e ON e.id = t.id
                WHERE p.project = 'iris' AND p.model_id = $m AND p.variant = 'champion'
                  AND p.prediction = e.prediction AND p.proba = e.proba
                  AND (p.features ->> 'id')::int = t.id AND p.features ->> 'species' = t.species
                  AND p.predicted_at BETWEEN '$before' AND '$after'")" 90 \
	"each row holds the key, the input, the prediction, the probabilities and when predict ran"
tap_is "$(sql "SELECT calls || ' ' || errors || ' ' || dropped FROM mlops.serving_stats WHERE project = 'iris'")" \
	"90 0 0" "serving_stats counts the calls, no drops"

# A held-up worker: the queue fills, the rest is dropped and counted
coproc LOCKER { "$MLOPS_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 2>&1; }
locker_pid=$LOCKER_PID
echo "BEGIN; LOCK TABLE mlops.predictions IN ACCESS EXCLUSIVE MODE; SELECT 'locked';" >&"${LOCKER[1]}"
read -r -t 30 locked <&"${LOCKER[0]}" || locked=timeout
tap_is "$locked" locked "the prediction log's table is locked"
wait_for "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'mlops scheduler' AND wait_event_type = 'Lock'" t 30 >/dev/null
sql "SELECT count(mlops.predict('iris', t)) FROM iris t" >/dev/null
tap_is "$(sql "SELECT calls || ' ' || dropped FROM mlops.serving_stats WHERE project = 'iris'")" \
	"240 50" "a full queue drops the calls that find it full and counts them"
echo "COMMIT;" >&"${LOCKER[1]}"
echo '\q' >&"${LOCKER[1]}"
wait "$locker_pid" 2>/dev/null || true
tap_is "$(wait_for "SELECT count(*) FROM mlops.predictions" 190 30)" 190 "the rows the queue held are written once the worker runs again"

# Retention: rows older than "log_retention" go; a project without one keeps its rows
sql "INSERT INTO mlops.predictions (project, model_id, variant, key, predicted_at, prediction)
     VALUES ('iris', $m, 'champion', 'old', now() - interval '31 days', 0),
            ('iris', $m, 'champion', 'recent', now() - interval '29 days', 0),
            ('other', $m, 'champion', 'old', now() - interval '400 days', 0)" >/dev/null
tap_is "$(wait_for "SELECT string_agg(project || ':' || key, ' ' ORDER BY project) FROM mlops.predictions WHERE key IN ('old', 'recent')" \
	"iris:recent other:old" 30)" "iris:recent other:old" "the worker prunes rows older than the project's retention"

# Stored by day (UTC): the worker's rows are in the partition of their day,
# which it made (with the next day's), REPLICA IDENTITY FULL like the rest;
# the rows written directly for days without a partition are in the
# default partition.  Nobody but the owner reads a partition directly (the
# row-level security is on mlops.predictions).
tap_is "$(sql "SELECT count(*) FILTER (WHERE tableoid::regclass::text = 'mlops.predictions_' || to_char(predicted_at AT TIME ZONE 'UTC', 'YYYYMMDD'))
                || ' ' || count(*) FILTER (WHERE tableoid = 'mlops.predictions_default'::regclass) FROM mlops.predictions")" \
	"190 2" "the worker's rows are in their day's partition, the others in the default partition"
last_day=$(sql "SELECT to_char(max(predicted_at) AT TIME ZONE 'UTC' + interval '1 day', 'YYYYMMDD') FROM mlops.predictions WHERE key <> 'recent'")
tap_is "$(sql "SELECT count(*) FILTER (WHERE c.relname = 'predictions_$last_day') || ' ' || bool_and(c.relreplident = 'f') || ' ' || bool_and(c.relacl IS NULL OR c.relname = 'predictions_default')
                FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'mlops.predictions'::regclass")" \
	"1 true true" "the next day's partition is made ahead; every partition has REPLICA IDENTITY FULL and no grants"
sql "CREATE ROLE log_reader" >/dev/null
tap_like "$(sql_err "SET ROLE log_reader; SELECT count(*) FROM mlops.predictions_$last_day")" \
	"permission denied for table predictions_$last_day" "a role without privileges cannot read a partition directly"

# Past days' partitions are dropped once they hold no row: one empty, one
# that retention empties; one holding a row of a project without
# retention stays
sql "CREATE TABLE mlops.predictions_20200101 PARTITION OF mlops.predictions FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-01-02 00:00+00');
     CREATE TABLE mlops.predictions_20200102 PARTITION OF mlops.predictions FOR VALUES FROM ('2020-01-02 00:00+00') TO ('2020-01-03 00:00+00');
     CREATE TABLE mlops.predictions_20200103 PARTITION OF mlops.predictions FOR VALUES FROM ('2020-01-03 00:00+00') TO ('2020-01-04 00:00+00');
     INSERT INTO mlops.predictions (project, model_id, variant, key, predicted_at, prediction)
     VALUES ('iris', $m, 'champion', 'p1', '2020-01-02 12:00+00', 0), ('other', $m, 'champion', 'p2', '2020-01-03 12:00+00', 0)" >/dev/null
tap_is "$(wait_for "SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class WHERE relname LIKE 'predictions\_2020%' AND relkind = 'r'" \
	"predictions_20200103" 30)" "predictions_20200103" "the worker drops past days' partitions once they hold no row, and keeps the others"
tap_is "$(sql "SELECT string_agg(project || ':' || key, ' ' ORDER BY key) FROM mlops.predictions WHERE predicted_at < '2021-01-01'")" \
	"other:p2" "the kept partition's rows are still read through mlops.predictions"

# Array and JSON-text inputs, two projects in one batch, a project dropped
# before the worker writes its rows: the features under the model's column
# names (numbers as their shortest decimal, float4 widened first), the key
# read from the JSON text, the dropped project's rows discarded
for p in iris_b iris_c; do
	sql "SELECT count(*) FROM mlops.train('$p', 'iris', 'species', algorithm => 'logistic', exclude => '{id}')" >/dev/null
	sql "SELECT mlops.set_policy('$p', '{\"key\": \"id\", \"log_predictions\": {\"sample\": 1}}')" >/dev/null
done
coproc LOCKER2 { "$MLOPS_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 2>&1; }
locker_pid=$LOCKER2_PID
echo "BEGIN; LOCK TABLE mlops.predictions IN ACCESS EXCLUSIVE MODE; SELECT 'locked';" >&"${LOCKER2[1]}"
read -r -t 30 locked <&"${LOCKER2[0]}" || locked=timeout
wait_for "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'mlops scheduler' AND wait_event_type = 'Lock'" t 30 >/dev/null
sql "SELECT mlops.predict('iris_b', '{5.1,3.5,1.4,0.2}'::float8[])" >/dev/null
sql "SELECT mlops.predict('iris_b', '{5.1,3.5,1.4,0.2}'::float4[])" >/dev/null
sql "SELECT mlops.predict('iris_b', '{5.10,3.5,1.4,0.2}'::numeric[])" >/dev/null
sql "SELECT mlops.predict('iris_b', '{\"id\": 7, \"sepal_length_cm\": 5.1, \"sepal_width_cm\": 3.5, \"petal_length_cm\": 1.4, \"petal_width_cm\": 0.2}')" >/dev/null
sql "SELECT mlops.predict('iris_c', '{5.1,3.5,1.4,0.2}'::float8[])" >/dev/null
sql "SELECT mlops.drop_project('iris_c')" >/dev/null
echo "COMMIT;" >&"${LOCKER2[1]}"
echo '\q' >&"${LOCKER2[1]}"
wait "$locker_pid" 2>/dev/null || true
tap_is "$(wait_for "SELECT count(*) FROM mlops.predictions WHERE project = 'iris_b'" 4 30)" 4 \
	"rows of two projects taken in one batch are written, each under its project"
tap_is "$(sql "SELECT count(*) FROM mlops.predictions WHERE project = 'iris_c'")" 0 \
	"the rows of a project dropped before the worker wrote them are discarded"
tap_is "$(sql "WITH x(v) AS (VALUES (ARRAY[5.1, 3.5, 1.4, 0.2]::float8[]), (ARRAY[5.1, 3.5, 1.4, 0.2]::float4[]::float8[]),
                                    (ARRAY[5.1, 3.5, 1.4, 0.2]::float8[]), (ARRAY[5.1, 3.5, 1.4, 0.2]::float8[])),
                   e AS (SELECT row_number() OVER () AS n, jsonb_build_object('sepal_length_cm', v[1], 'sepal_width_cm', v[2],
                                'petal_length_cm', v[3], 'petal_width_cm', v[4]) AS f FROM x),
                   p AS (SELECT row_number() OVER (ORDER BY id) AS n, features - 'id' AS f, key FROM mlops.predictions
                          WHERE project = 'iris_b')
              SELECT string_agg((p.f = e.f)::text || ':' || coalesce(p.key, '-'), ' ' ORDER BY p.n)
                FROM p JOIN e USING (n)")" "true:- true:- true:- true:7" \
	"array inputs are logged under the model's column names (float8, float4 widened, numeric), JSON text with its key"

# Numbers as jsonb text: the same digits and scale as to_jsonb writes them
# (the shortest decimal), for short decimals, full doubles, negatives,
# zeros, large and tiny magnitudes
sql "CREATE TABLE numbers AS SELECT i, ARRAY[round((random() * 200 - 100)::numeric, i % 5)::float8, random() * 10 ^ (i % 9 - 4),
            (ARRAY[0, -0.0, 1e20, 1.5e-7, 123456789.125, 0.1 + 0.2, 1e15, 99999999999999.9])[i % 8 + 1],
            round(random()::numeric, 8)::float8]::float8[] AS x FROM generate_series(1, 80) i" >/dev/null
sql "SELECT count(mlops.predict('iris_b', x)) FROM numbers" >/dev/null
tap_is "$(wait_for "SELECT count(*) FROM mlops.predictions WHERE project = 'iris_b'" 84 30)" 84 "the numbers' rows are written"
tap_is "$(sql "SELECT count(*) FROM (SELECT features, row_number() OVER (ORDER BY id) AS n FROM mlops.predictions
                WHERE project = 'iris_b') p JOIN numbers ON i = n - 4
              WHERE p.features::text = jsonb_build_object('sepal_length_cm', x[1], 'sepal_width_cm', x[2],
                                                         'petal_length_cm', x[3], 'petal_width_cm', x[4])::text")" 80 \
	"array values are logged with the digits to_jsonb writes"

# A model of 40 columns (more keys than jsonb's offset stride of 32), an
# array input with NULLs: the features object equals the one
# jsonb builds itself, and each key reads back its value
sql "CREATE TABLE wide AS SELECT i, $(printf 'random() AS c%d, ' $(seq 1 40)) random() AS y FROM generate_series(1, 200) i" >/dev/null
sql "SELECT count(*) FROM mlops.train('wide', 'wide', 'y', algorithm => 'linear', exclude => '{i}')" >/dev/null
sql "SELECT mlops.set_policy('wide', '{\"log_predictions\": {\"sample\": 1}}')" >/dev/null
sql "CREATE TABLE wide_in AS SELECT i, (SELECT array_agg(CASE WHEN k IN (7, 33) THEN NULL ELSE round((i * k)::numeric / 8, 3) END
                                                   ORDER BY k)::float8[] FROM generate_series(1, 40) k) AS x
     FROM generate_series(1, 3) i" >/dev/null
sql "SELECT count(mlops.predict('wide', x)) FROM wide_in" >/dev/null
tap_is "$(wait_for "SELECT count(*) FROM mlops.predictions WHERE project = 'wide'" 3 30)" 3 "the wide model's rows are written"
tap_is "$(sql "WITH p AS (SELECT row_number() OVER (ORDER BY id) AS i, features FROM mlops.predictions WHERE project = 'wide'),
                   e AS (SELECT i, jsonb_object_agg('c' || k, x[k]) AS f
                           FROM wide_in, generate_series(1, 40) k GROUP BY i)
              SELECT count(*) FILTER (WHERE p.features = e.f AND p.features::text = e.f::text
                                        AND (SELECT bool_and(p.features -> ('c' || k) = e.f -> ('c' || k)) FROM generate_series(1, 40) k))
                FROM p JOIN e USING (i)")" 3 \
	"a wide array input is logged as the object jsonb builds, every key read back"

# Features that do not fit a queue entry (960 bytes with the key and the
# probabilities; here 100 values and their names): the row is logged with
# features NULL, its prediction kept
sql "CREATE TABLE wider AS SELECT i, $(printf 'random() AS c%d, ' $(seq 1 100)) random() AS y FROM generate_series(1, 300) i" >/dev/null
sql "SELECT count(*) FROM mlops.train('wider', 'wider', 'y', algorithm => 'linear', exclude => '{i}')" >/dev/null
expected=$(sql "SELECT mlops.predict('wider', array_fill(0.5::float8, ARRAY[100]))")
sql "SELECT mlops.set_policy('wider', '{\"log_predictions\": {\"sample\": 1}}')" >/dev/null
sql "SELECT mlops.predict('wider', array_fill(0.5::float8, ARRAY[100]))" >/dev/null
tap_is "$(wait_for "SELECT count(*) FROM mlops.predictions WHERE project = 'wider'" 1 30)" 1 "the row of too wide an input is written"
tap_is "$(sql "SELECT (features IS NULL) || ' ' || (prediction = $expected) FROM mlops.predictions WHERE project = 'wider'")" \
	"true true" "with features NULL, its prediction kept"

# A day whose rows are already in the default partition cannot have a
# partition of its own: the worker reports it once in the server log,
# tries again a minute later, and goes on writing the log meanwhile
tomorrow=$(sql "SELECT to_char(now() AT TIME ZONE 'UTC' + interval '1 day', 'YYYYMMDD')")
sql "DROP TABLE mlops.predictions_$tomorrow;
     INSERT INTO mlops.predictions (project, model_id, variant, key, predicted_at, prediction)
     VALUES ('iris', $m, 'champion', 'ahead', (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '36 hours') AT TIME ZONE 'UTC', 0)" >/dev/null
for i in 1 2 3; do
	sql "SELECT mlops.predict('wider', array_fill(0.5::float8, ARRAY[100]))" >/dev/null
	wait_for "SELECT count(*) FROM mlops.predictions WHERE project = 'wider'" $((i + 1)) 30 >/dev/null
	sleep 0.3
done
tap_is "$(sql "SELECT count(*) || ' ' || (SELECT tableoid::regclass FROM mlops.predictions WHERE key = 'ahead')
                || ' ' || (SELECT count(*) FROM pg_class WHERE relname = 'predictions_$tomorrow')
                FROM mlops.predictions WHERE project = 'wider'")" \
	"4 mlops.predictions_default 0" "the worker goes on writing the log when a day's partition cannot be made"
tap_is "$(grep -c "could not create partition \"mlops.predictions_$tomorrow\" of the prediction log" "$MLOPS_CLUSTER_DIR/server.log")" 1 \
	"and reports it once in the server log"

# A partition whose columns lie otherwise than the table's (here in reverse
# order; a partition made after a column was dropped from the table would
# too): the worker converts its rows to the partition's layout
read -r today from to < <(sql "SELECT to_char(d, 'YYYYMMDD'), d, d + 1 FROM (SELECT (now() AT TIME ZONE 'UTC')::date AS d) t" | tr '|' ' ')
sql "DROP TABLE mlops.predictions_$today;
     CREATE TABLE mlops.predictions_$today (proba float8[], prediction float8, features jsonb, predicted_at timestamptz NOT NULL,
                                            key text, variant text NOT NULL, model_id bigint NOT NULL, project text NOT NULL, id bigint NOT NULL);
     ALTER TABLE mlops.predictions ATTACH PARTITION mlops.predictions_$today FOR VALUES FROM ('$from 00:00+00') TO ('$to 00:00+00')" >/dev/null
expected=$(sql "SELECT mlops.predict('iris_b', '{5.1,3.5,1.4,0.2}'::float8[])")
sql "SELECT mlops.predict('iris_b', '{5.1,3.5,1.4,0.2}'::float8[])" >/dev/null
tap_is "$(wait_for "SELECT count(*) FROM mlops.predictions_$today WHERE project = 'iris_b'" 2 30)" 2 \
	"rows go to a partition whose columns lie otherwise than the table's"
tap_is "$(sql "SELECT count(*) FROM mlops.predictions_$today
                WHERE project = 'iris_b' AND variant = 'champion' AND key IS NULL AND id > 0
                  AND prediction = $expected AND array_length(proba, 1) = 3
                  AND features = '{\"sepal_length_cm\": 5.1, \"sepal_width_cm\": 3.5, \"petal_length_cm\": 1.4, \"petal_width_cm\": 0.2}'")" 2 \
	"each value in its column"

tap_done
