#!/usr/bin/env bash
#
# test/integration/citus.sh: mlops on a Citus 12.1 cluster
#
# A coordinator and two workers (three throwaway clusters on their own
# ports, shared_preload_libraries = 'citus,mlops').  Every check compares
# the distributed run with a single-node run of the same rows and model:
# the same table, not distributed, on the coordinator.
#   - CREATE EXTENSION mlops on the coordinator reaches both workers and
#     mlops.citus_setup() copies the registry to them; the registry is the
#     same on every node, with its row-level security and column privileges
#   - predict over a distributed table runs inside the worker tasks (EXPLAIN
#     VERBOSE) and returns what the single node returns; INSERT ... SELECT
#     mlops.predict(...) into a distributed table works
#   - deploys: a committed one is used by the workers' next statement (also
#     in a session whose worker connections cached the old model), a
#     rolled-back one never; a dropped project is gone everywhere
#   - training reads a distributed table through the coordinator and equals
#     the single-node run (also xgboost on a sampling view); a train_async
#     job runs on the coordinator
#   - drift on a distributed table runs the partial aggregate
#     mlops.drift_profile in the worker tasks (EXPLAIN VERBOSE) and equals
#     the single-node run to the last digit for every method and share
#     (numbers and categories, NULLs, out-of-range values, unseen
#     categories); with more values than mlops.drift_sample_size, ks and
#     wasserstein equal a single-node run on the rows of smallest
#     hash_record_extended(row, 0); bad input: a missing column, a role that
#     cannot read a worker's shards, a column without a hash function,
#     drift before mlops.citus_setup()
#   - linear, ridge and logistic (binary and multiclass) on a distributed
#     table train through the pushed-down aggregate mlops.train_partial
#     (EXPLAIN VERBOSE, DEBUG1): coefficients,
#     transform statistics, predictions and profile equal a single-node fit
#     of the rows the hash split keeps to 1e-9 relative, the metrics
#     mlops.evaluate of the held-out rows; deploy 'auto' compares on the
#     same held-out rows; xgboost and a median imputation read through the
#     coordinator (NOTICE); a categorical input (one-hot with NULLs, mode
#     imputation with max_categories, ordinal; target encoding of a
#     regression); date, timestamp and timestamptz inputs (ridge,
#     logistic); array inputs; a classifier's target encoding reads through the
#     coordinator; bad input: an empty table, a split that holds out
#     every row, a constant target,
#     a single class, NaN and infinite features, a role that cannot read a worker's shards,
#     a worker without mlops; an unprivileged role trains the same model
#   - bad input: a model id unknown on the workers, a distributed table
#     without a column the model needs, a worker without mlops (named)
#   - registry writes on a worker are refused; mlops.citus_setup() again
#     restores a worker's lost registry
#
# Skipped when MLOPS_SKIP_CITUS=1 or when Citus is not installed
# (test/run.sh builds it from shared/vendor unless MLOPS_SKIP_CITUS=1).
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

if [[ ${MLOPS_SKIP_CITUS:-} == 1 ]]; then
	echo "1..0 # SKIP MLOPS_SKIP_CITUS=1"
	exit 0
fi
if ! mlops_citus_installed; then
	echo "1..0 # SKIP citus.so is not installed in $("$PG_CONFIG" --pkglibdir) (test/run.sh builds it)"
	exit 0
fi

data=$MLOPS_ROOT/contrib/datasets
mlops_citus_cluster_start 2
w1=${MLOPS_CITUS_WORKER_PORTS[0]} w2=${MLOPS_CITUS_WORKER_PORTS[1]} coord=$PGPORT

# Run SQL on a node (by port)
on() { PGPORT=$1 sql "$2"; }
on_err() { PGPORT=$1 sql_err "$2"; }

# Compare two multi-line results, showing the first differing lines (not the whole results);
# an empty expected result fails
tap_same() {
	if [[ -n $2 && $1 == "$2" ]]; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		diff <(printf '%s\n' "$2" | cut -c1-200) <(printf '%s\n' "$1" | cut -c1-200) | head -n 8 | sed 's/^/#   /' || true
	fi
}

# --- the extension and the registry on every node
sql "CREATE EXTENSION mlops" >/dev/null
for port in "$w1" "$w2"; do
	tap_is "$(on "$port" "SELECT extversion FROM pg_extension WHERE extname = 'mlops'")" \
		"$(sql "SELECT extversion FROM pg_extension WHERE extname = 'mlops'")" \
		"CREATE EXTENSION mlops on the coordinator created it on the worker on port $port"
done
mlops_load_csv "$data/iris.csv" iris species text
mlops_load_csv "$data/diabetes.csv" dia progression float8
sql "ALTER TABLE iris ADD id serial PRIMARY KEY; ALTER TABLE dia ADD id serial PRIMARY KEY;
	CREATE TABLE iris_d (LIKE iris); INSERT INTO iris_d SELECT * FROM iris;
	CREATE TABLE dia_d (LIKE dia); INSERT INTO dia_d SELECT * FROM dia;
	SET client_min_messages = warning;
	SELECT create_distributed_table('iris_d', 'id'); SELECT create_distributed_table('dia_d', 'id');
	SELECT truncate_local_data_after_distributing_table('iris_d');
	SELECT truncate_local_data_after_distributing_table('dia_d')" >/dev/null
tap_is "$(sql "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid IN ('iris_d'::regclass, 'dia_d'::regclass)")" \
	64 "iris_d and dia_d are distributed in 32 shards each"

# Before mlops.citus_setup(): a warning, once per transaction
early=$(sql_err "SELECT model_id FROM mlops.train('iris', 'iris', 'species', exclude => '{id}')")
tap_is "$(grep -c "WARNING:  this change of the mlops registry does not reach the Citus worker nodes" <<<"$early")" 1 \
	"before mlops.citus_setup() a registry change warns (once) that the workers do not get it"
iris1=$(sql "SELECT max(id) FROM mlops.models")
sql "CREATE TABLE iris_early AS SELECT * FROM iris; SET client_min_messages = warning;
	SELECT create_distributed_table('iris_early', 'id')" >/dev/null
tap_like "$(sql_err "SELECT * FROM mlops.drift('iris', 'iris_early', method => 'psi')")" \
	"the mlops registry has not been copied to the Citus worker nodes" \
	"before mlops.citus_setup() drift on a distributed table says the workers lack the registry"
tap_is "$(sql "SELECT mlops.citus_setup()")" 2 "mlops.citus_setup() reaches both workers"
tap_is "$(sql "SELECT partmethod::text || repmodel::text FROM pg_dist_partition WHERE logicalrelid = 'mlops.registry_changes'::regclass")" \
	"nt" "mlops.registry_changes is a reference table"
tap_is "$(sql "SELECT count(*) FROM mlops.registry_changes")" 0 "it stores nothing"

iris2=$(sql "SELECT model_id FROM mlops.train('iris', 'iris', 'species', algorithm => 'logistic', exclude => '{id}', deploy => 'never')")
dia1=$(sql "SELECT model_id FROM mlops.train('dia', 'dia', 'progression', algorithm => 'ridge', exclude => '{id}')")

# The serving registry as the superuser sees it: the same on every node
registry="SELECT x FROM (
	SELECT 'p' || id || name || task || target || created_by::text AS x FROM mlops.projects
	UNION ALL SELECT 'm' || id || project_id || version || algorithm || md5(model) || md5(features::text)
	  || coalesce(labels::text, '') || stage || created_by::text FROM mlops.models
	UNION ALL SELECT 'd' || id || project_id || model_id || strategy || deployed_by::text FROM mlops.deployments
	UNION ALL SELECT 'g' || project_id || grantee::text || privilege FROM mlops.project_grants) r ORDER BY x"
check_registry() {
	local port expected

	expected=$(sql "$registry")
	for port in "$w1" "$w2"; do
		tap_same "$(on "$port" "$registry")" "$expected" "$1 (worker on port $port)"
	done
}
check_registry "the worker's registry equals the coordinator's after training"

# --- predict pushed down into the worker tasks
explain=$(sql "EXPLAIN (VERBOSE, COSTS OFF) SELECT id, mlops.predict('iris', t) FROM iris_d t")
tap_like "$explain" "Task Count: 32" "predict over iris_d runs as 32 tasks"
# (the planner's rewrite of predict into its planned form travels with the task)
tap_like "$explain" "Query: SELECT id, CASE WHEN mlops\.planned_model_current\('iris'::text, '[0-9]+'::bigint\) THEN mlops\.predict_planned\('[0-9]+'::bigint, [a-z_, ]+\) ELSE mlops\.predict\('iris'::text, t\.\*\) END AS predict FROM public\.iris_d_[0-9]+ t" \
	"EXPLAIN VERBOSE shows mlops.predict, in its planned form, inside the task's query"

scores="SET extra_float_digits = 3;
	SELECT t.id, mlops.predict('iris', t), mlops.predict_proba('iris', t), mlops.predict_label('iris', t),
	       mlops.predict_proba($iris2, to_jsonb(t)), mlops.featurize($iris2, t),
	       mlops.predict('iris', ARRAY[t.sepal_length_cm, t.sepal_width_cm, t.petal_length_cm, t.petal_width_cm])
	  FROM TABLE t ORDER BY 1"
single=$(sql "${scores//TABLE/iris}")
tap_same "$(sql "${scores//TABLE/iris_d}")" "$single" \
	"every predict form over the distributed iris_d equals the single-node run over iris (150 rows)"
dia_scores="SET extra_float_digits = 3; SELECT t.id, mlops.predict('dia', t), mlops.predict($dia1, to_jsonb(t)) FROM TABLE t ORDER BY 1"
tap_same "$(sql "${dia_scores//TABLE/dia_d}")" "$(sql "${dia_scores//TABLE/dia}")" \
	"ridge predict over the distributed dia_d equals the single-node run (442 rows)"

sql "CREATE TABLE scores (id int, score float8); SET client_min_messages = warning;
	SELECT create_distributed_table('scores', 'id', colocate_with => 'dia_d')" >/dev/null
explain=$(sql "EXPLAIN (VERBOSE, COSTS OFF) INSERT INTO scores SELECT id, mlops.predict('dia', t) FROM dia_d t")
tap_like "$explain" "Query: INSERT INTO public\.scores_[0-9]+ .*mlops\.predict\('dia'::text, t\.\*\)" \
	"INSERT INTO scores SELECT id, mlops.predict(...) FROM dia_d is pushed down to the shards"
tap_is "$(sql "INSERT INTO scores SELECT id, mlops.predict('dia', t) FROM dia_d t; SELECT count(*) FROM scores")" 442 \
	"INSERT ... SELECT mlops.predict writes a score for every row"
tap_same "$(sql "SET extra_float_digits = 3; SELECT string_agg(s.score::text, ',' ORDER BY s.id) FROM scores s")" \
	"$(sql "SET extra_float_digits = 3; SELECT string_agg(mlops.predict('dia', t)::text, ',' ORDER BY t.id) FROM dia t")" \
	"the distributed scores equal the single-node predictions"

# --- transactional deploys, worker caches
iris_probe="SET extra_float_digits = 3; SELECT md5(string_agg(mlops.predict_proba('iris', t)::text, ';' ORDER BY id)) FROM TABLE t"
by_model() { sql "SET extra_float_digits = 3; SELECT md5(string_agg(mlops.predict_proba($1, t)::text, ';' ORDER BY id)) FROM iris t"; }
m1=$(by_model "$iris1")
m2=$(by_model "$iris2")
tap_same "$(sql "${iris_probe//TABLE/iris_d}")" "$m1" "before the deploy the workers score with model $iris1"
sql "BEGIN; SELECT mlops.deploy('iris', 'specific', $iris2); ROLLBACK" >/dev/null
tap_same "$(sql "${iris_probe//TABLE/iris_d}")" "$m1" "a rolled-back deploy is never used by the workers"
check_registry "a rolled-back deploy leaves the worker's registry as the coordinator's"
# One session: warm the workers' caches, deploy in another session, score again
session=$(mlops_psql -At -c "${iris_probe//TABLE/iris_d}" \
	-c "\\! PGPORT=$coord $MLOPS_PGBIN/psql -X -q -At -c \"SELECT mlops.deploy('iris', 'specific', $iris2)\" >/dev/null" \
	-c "${iris_probe//TABLE/iris_d}")
tap_same "$session" "$m1"$'\n'"$m2" \
	"a deploy committed in another session is used by the workers' next statement (cached worker connections)"
tap_same "$(mlops_psql -At -c "${iris_probe//TABLE/iris_d}" \
	-c "DO \$\$BEGIN PERFORM mlops.deploy('iris', 'specific', $iris1); END\$\$" -c "${iris_probe//TABLE/iris_d}")" \
	"$m2"$'\n'"$m1" "a deploy committed in the same session is used by its next statement"
check_registry "after three deploys the worker's registry equals the coordinator's"

# --- security: row-level security and column privileges on the workers
sql "CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN; GRANT SELECT ON iris_d, iris TO alice, bob;
	SELECT mlops.grant('iris', 'alice', 'predict')" >/dev/null
check_registry "a grant reaches the worker's registry"
for port in "$w1" "$w2"; do
	tap_is "$(on "$port" "SET ROLE alice; SELECT string_agg(DISTINCT p.name, ',') FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id")" \
		iris "on the worker on port $port alice sees the models of iris only (row-level security)"
	tap_like "$(on_err "$port" "SET ROLE alice; SELECT model FROM mlops.models")" \
		"permission denied for table models" "on the worker on port $port alice cannot read the model bytes"
	tap_is "$(on "$port" "SET ROLE bob; SELECT count(*) FROM mlops.models")" 0 \
		"on the worker on port $port bob sees no model"
done
shard=$(sql "SELECT 'mlops.registry_changes_' || shardid FROM pg_dist_shard WHERE logicalrelid = 'mlops.registry_changes'::regclass")
for table in mlops.registry_changes "$shard"; do
	tap_like "$(on_err "$w1" "SET ROLE bob; INSERT INTO $table VALUES ('projects', 'RESET', NULL)")" \
		"permission denied for table registry_changes" \
		"on a worker bob cannot insert a change into $table (the apply trigger runs as the owner)"
done
tap_same "$(sql "SET ROLE alice; ${iris_probe//TABLE/iris_d}")" "$m1" "alice scores iris_d on the workers like on a single node"
tap_like "$(sql_err "SET ROLE bob; SELECT mlops.predict('iris', t) FROM iris_d t")" \
	"permission denied for project \"iris\"" "bob cannot score iris_d: the workers check his privilege"
tap_is "$(sql_err "SET ROLE bob; SELECT mlops.predict('iris', t) FROM iris_d t" | grep -c ERROR)" \
	"$(sql_err "SET ROLE bob; SELECT mlops.predict('iris', t) FROM iris t" | grep -c ERROR)" \
	"... and fails as on a single node"

# --- training and drift read a distributed table through the coordinator
train_sig="SELECT m.algorithm, m.data_fingerprint, md5(m.model), m.metrics - 'fit_seconds' FROM mlops.models m WHERE m.id ="
for spec in "xgboost iris species" "logistic iris species" "linear dia progression" "ridge dia progression"; do
	read -r algo table target <<<"$spec"
	train="SELECT model_id FROM mlops.train('${table}_$algo', 'TABLE', '$target', algorithm => '$algo',
		exclude => '{id}', order_by => 'id', deploy => 'never')"
	local_id=$(sql "${train//TABLE/$table}")
	dist_id=$(sql "${train//TABLE/${table}_d}")
	tap_same "$(sql "$train_sig $dist_id")" "$(sql "$train_sig $local_id")" \
		"$algo trained on the distributed ${table}_d equals the single-node fit (data fingerprint, model bytes, metrics)"
done
# XGBoost on a sample of a distributed table: a view whose predicate the
# worker tasks evaluate, so only the sampled rows reach the coordinator
sql "CREATE VIEW iris_d_half AS SELECT * FROM iris_d WHERE hashint4(id) % 2 = 0;
	CREATE VIEW iris_half AS SELECT * FROM iris WHERE hashint4(id) % 2 = 0" >/dev/null
tap_like "$(sql "EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM iris_d_half")" \
	"Query: SELECT .* FROM public\.iris_d_[0-9]+ iris_d WHERE \(\(hashint4\(id\) (OPERATOR\(pg_catalog\.)?%\)? 2\) (OPERATOR\(pg_catalog\.)?=\)? 0\)" \
	"a sampling view over iris_d filters the rows inside the worker tasks"
train="SELECT model_id FROM mlops.train('iris_sample_TABLE', 'TABLE', 'species', exclude => '{id}', order_by => 'id', deploy => 'never')"
tap_same "$(sql "$train_sig $(sql "${train//TABLE/iris_d_half}")")" "$(sql "$train_sig $(sql "${train//TABLE/iris_half}")")" \
	"xgboost trained on the sampling view of iris_d equals the single-node fit on the same sample"
tap_is "$(sql "SELECT training->>'rows' FROM mlops.models ORDER BY id DESC LIMIT 1")" "$(sql "SELECT count(*) FROM iris_half")" \
	"... which has the sampled rows only"

# --- drift on a distributed table: per-shard partial profiles, merged on the coordinator
iris_row="ROW(t.sepal_length_cm, t.sepal_width_cm, t.petal_length_cm, t.petal_width_cm)"
explain=$(sql "EXPLAIN (VERBOSE, COSTS OFF) SELECT mlops.drift_profile($iris1, 10000, hash_record_extended(t, 0), $iris_row) FROM iris_d t")
tap_like "$explain" "Task Count: 32" "the partial drift profile of iris_d runs as 32 tasks"
tap_like "$explain" "Query: SELECT pg_catalog\.worker_partial_agg\('mlops\.drift_profile\(bigint,integer,bigint,record\)'::regprocedure, ROW\('$iris1'::bigint, 10000, hash_record_extended\(t\.\*, '0'::bigint\), ROW\(sepal_length_cm, sepal_width_cm, petal_length_cm, petal_width_cm\)\)\) AS drift_profile FROM public\.iris_d_[0-9]+ t" \
	"EXPLAIN VERBOSE shows the partial aggregate mlops.drift_profile inside each task's query"
tap_like "$explain" "coord_combine_agg\(" "... and its combine on the coordinator"
drift="SET extra_float_digits = 3; SELECT feature, kind, method, statistic, p_value, threshold, drifted,
	null_share, out_of_range_share, unseen_share, raw_statistic
	FROM mlops.drift('PROJECT', 'TABLE', method => 'METHOD') ORDER BY feature"
check_drift() { # project local-table distributed-table methods...
	local project=$1 local_table=$2 dist_table=$3 method d
	shift 3
	for method in "$@"; do
		d=${drift//METHOD/$method}
		d=${d//PROJECT/$project}
		tap_same "$(sql "${d//TABLE/$dist_table}")" "$(sql "${d//TABLE/$local_table}")" \
			"mlops.drift $method of $project on the distributed $dist_table equals the single-node run (every column, every digit)"
	done
}
check_drift iris iris iris_d psi jensen_shannon ks wasserstein auto
# Numbers and categories with NULLs, values outside the reference range and
# categories the reference never had; a numeric and a categorical prediction
sql "CREATE TABLE mix AS SELECT i AS id, CASE WHEN i % 7 = 0 THEN NULL ELSE (i % 50)::float8 END AS x,
	(ARRAY['a', 'b', 'c'])[1 + i % 3] AS c, (ARRAY['u', 'v'])[1 + i % 2] AS c2,
	(i % 50) * 2.0 + (i % 3) AS y, (i % 3 = 0)::text AS label
	FROM generate_series(1, 300) i;
	CREATE TABLE mix_now AS SELECT i AS id, CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 70)::float8 - 5 END AS x,
	CASE WHEN i % 11 = 0 THEN NULL ELSE (ARRAY['a', 'b', 'c', 'd', 'e', 'a'])[1 + i % 6] END AS c,
	(ARRAY['u', 'v', 'w'])[1 + i % 3] AS c2, 0.0 AS y, 'true' AS label
	FROM generate_series(1, 3000) i;
	CREATE TABLE mix_now_d AS SELECT * FROM mix_now; SET client_min_messages = warning;
	SELECT create_distributed_table('mix_now_d', 'id')" >/dev/null
sql "SELECT mlops.train('mix_reg', 'mix', 'y', algorithm => 'linear', exclude => '{id,label}', order_by => 'id');
	SELECT mlops.train('mix_cls', 'mix', 'label', algorithm => 'logistic', exclude => '{id,y}', order_by => 'id');
	SELECT mlops.train('mix_cat', 'mix', 'y', algorithm => 'linear', features => '{c,c2}', order_by => 'id');
	SELECT mlops.train('mix_num', 'mix', 'y', algorithm => 'ridge', features => '{x}', order_by => 'id')" >/dev/null
check_drift mix_reg mix_now mix_now_d psi jensen_shannon auto
check_drift mix_cls mix_now mix_now_d psi jensen_shannon auto
check_drift mix_num mix_now mix_now_d psi jensen_shannon ks wasserstein auto
check_drift mix_cat mix_now mix_now_d psi jensen_shannon chi2 l_infinity auto
# Dates, timestamps and arrays: several inputs from one column
sql "CREATE TABLE parts AS SELECT i AS id, timestamp '2026-01-01' + i * interval '7 hours' AS at,
	date '2026-01-01' + i AS day, ARRAY[(i % 13)::float8, (i % 7)::float8 / 7] AS v, (i % 13) * 1.5 + i % 2 AS y
	FROM generate_series(1, 400) i;
	CREATE TABLE parts_now AS SELECT i AS id, CASE WHEN i % 10 = 0 THEN NULL ELSE timestamp '2026-03-01' + i * interval '5 hours' END AS at,
	date '2026-02-01' + i AS day, ARRAY[(i % 17)::float8, (i % 5)::float8 / 7] AS v, 0.0 AS y
	FROM generate_series(1, 2500) i;
	CREATE TABLE parts_now_d AS SELECT * FROM parts_now; SET client_min_messages = warning;
	SELECT create_distributed_table('parts_now_d', 'id');
	SELECT mlops.train('parts', 'parts', 'y', algorithm => 'xgboost', exclude => '{id}', order_by => 'id')" >/dev/null
check_drift parts parts_now parts_now_d psi ks wasserstein auto
report="SELECT r.rows, r.method, r.drifted, r.drift_share, r.dataset_drift, r.prediction_drift
	FROM mlops.drift_reports r WHERE r.relation = 'public.TABLE' ORDER BY r.id DESC LIMIT 1"
tap_same "$(sql "${report//TABLE/mix_now_d}")" "$(sql "${report//TABLE/mix_now}")" \
	"the recorded drift report of the distributed table equals the single-node one (rows, drift share, dataset and prediction drift)"
tap_is "$(sql "SELECT count(*) > 0 FROM mlops.drift('mix_cat', 'mix_now_d', method => 'chi2') WHERE unseen_share > 0")" t \
	"the distributed run sees the categories the reference never had"
# The sample: with more non-NULL values than mlops.drift_sample_size, ks and
# wasserstein compare the values of the rows with the smallest
# hash_record_extended(row, 0): what a single node gives on exactly those rows
sql "CREATE TABLE iris_sample AS SELECT * FROM iris t ORDER BY hash_record_extended(t, 0), id LIMIT 100;
	CREATE TABLE mix_x_sample AS SELECT * FROM mix_now t WHERE x IS NOT NULL ORDER BY hash_record_extended(t, 0), id LIMIT 100;
	CREATE TABLE mix_sample AS SELECT * FROM mix_now t ORDER BY hash_record_extended(t, 0), id LIMIT 100" >/dev/null
sampled() { # project table method: the ks/wasserstein columns of the result lines
	local d="SET mlops.drift_sample_size = 100; ${drift//METHOD/$3}"
	d=${d//PROJECT/$1}
	sql "${d//TABLE/$2}" | cut -d'|' -f1-5,11
}
for method in ks wasserstein; do
	tap_same "$(sampled iris iris_d $method | grep -v '^prediction')" "$(sampled iris iris_sample $method | grep -v '^prediction')" \
		"drift $method on iris_d (150 rows) with a sample of 100 equals a single-node run on the 100 rows of smallest hash_record_extended(row, 0)"
	tap_same "$(sampled mix_num mix_now_d $method | grep '^x')" "$(sampled mix_num mix_x_sample $method | grep '^x')" \
		"drift $method of mix_num's x (3000 rows, NULLs) samples the 100 rows of smallest key among those where x is not NULL"
	tap_same "$(sampled mix_num mix_now_d $method | grep '^prediction')" "$(sampled mix_num mix_sample $method | grep '^prediction')" \
		"drift $method of mix_num's prediction samples the 100 rows of smallest key"
done
d="SET mlops.drift_sample_size = 100; ${drift//METHOD/psi}"
d=${d//PROJECT/iris}
tap_same "$(sql "${d//TABLE/iris_d}")" "$(sql "${d//TABLE/iris}")" "... while psi, which counts every row, still equals the single-node run on all rows"
# A column without a hash function: psi counts every row; ks, which samples by hash, names it
sql "CREATE TABLE iris_json AS SELECT *, json_build_object('id', id) AS doc FROM iris;
	SET client_min_messages = warning; SELECT create_distributed_table('iris_json', 'id')" >/dev/null
d=${drift//METHOD/psi}
d=${d//PROJECT/iris}
tap_same "$(sql "${d//TABLE/iris_json}")" "$(sql "${d//TABLE/iris}")" \
	"drift psi on a distributed table with a json column equals the single-node run"
tap_like "$(sql_err "SELECT * FROM mlops.drift('iris', 'iris_json', method => 'ks')")" \
	"cannot sample the rows of distributed table public\.iris_json: column \"doc\" has type json, which has no hash function" \
	"drift ks on it names the column that cannot be hashed"
tap_like "$(sql_err "SET client_min_messages = debug1; SELECT count(*) FROM mlops.drift('iris', 'iris_d', method => 'psi')")" \
	"drift reads the distributed table public\.iris_d through partial profiles: SELECT mlops\.drift_profile\(\\\$1, \\\$2, 0, ROW\(t\.sepal_length_cm" \
	"at DEBUG1 drift shows the query it pushes down (no sample keys for psi)"
sql "SELECT mlops.grant('iris', 'alice', 'train')" >/dev/null
tap_is "$(sql "SET ROLE alice; SELECT count(*) FROM mlops.drift('iris', 'iris_d', method => 'psi')")" 5 \
	"alice, with the train privilege, checks the drift of iris_d"
on "$w1" "SET citus.enable_ddl_propagation = off; REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM alice" >/dev/null
tap_like "$(sql_err "SET ROLE alice; SELECT * FROM mlops.drift('iris', 'iris_d', method => 'psi')")" \
	"permission denied for table iris_d_[0-9]+" "a role that cannot read the shards on a worker gets that worker's permission error"
on "$w1" "SET citus.enable_ddl_propagation = off; GRANT SELECT ON ALL TABLES IN SCHEMA public TO alice" >/dev/null

# Jobs run on the coordinator: the model a job trains on a distributed table reaches the workers
job=$(sql "SELECT mlops.train_async('iris_async', 'iris_d', 'species', exclude => '{id}', order_by => 'id')")
tap_is "$(wait_for "SELECT status FROM mlops.jobs WHERE id = $job" succeeded 120)" succeeded \
	"train_async on the distributed iris_d runs as a job of the coordinator's background worker"
async_probe="SET extra_float_digits = 3; SELECT md5(string_agg(mlops.predict_proba('iris_async', t)::text, ';' ORDER BY id)) FROM TABLE t"
tap_same "$(sql "${async_probe//TABLE/iris_d}")" "$(sql "${async_probe//TABLE/iris}")" \
	"the job's deployed model scores iris_d on the workers as on a single node"
for port in "$w1" "$w2"; do
	tap_is "$(on "$port" "SELECT count(*) FROM mlops.jobs")" 0 "the worker on port $port has no job"
done
tap_like "$(sql_err "SET ROLE bob; SELECT mlops.train('bob_dia', 'dia_d', 'progression', algorithm => 'linear')")" \
	"permission denied for table dia_d" "training on a distributed table bob cannot read is refused"

# --- training on a distributed table through pushed-down partial aggregates
# (linear, ridge): every pass runs in the worker tasks; the model equals, to
# 1e-9 relative, a single-node fit of exactly its training rows (the rows
# the hash rule keeps), its metrics the single-node evaluation of the rows
# it holds out
sql "CREATE TABLE reg AS SELECT i AS id, CASE WHEN i % 9 = 0 THEN NULL ELSE sin(i) * 10 END AS x1, (i % 17) AS x2,
	((i * 7) % 23)::numeric / 3 AS x3, (i % 5 = 0) AS x4, CASE WHEN i % 11 = 0 THEN NULL ELSE (ARRAY['a', 'b', 'c', 'd'])[1 + i % 4] END AS c,
	CASE WHEN i % 97 = 0 THEN NULL ELSE 3 * coalesce(sin(i) * 10, 1) - 2 * (i % 17) + ((i * 7) % 23) / 3.0 + cos(i * 3) + 1000 + 4 * (i % 4) END AS y
	FROM generate_series(1, 3000) i;
	CREATE TABLE reg_d AS SELECT * FROM reg; SET client_min_messages = warning; SELECT create_distributed_table('reg_d', 'id')" >/dev/null
part_row="ROW(t.y, t.x1, t.x2, t.x3, t.x4)"
explain=$(sql "EXPLAIN (VERBOSE, COSTS OFF) SELECT mlops.train_partial('{\"pass\": \"stats\", \"test_size\": 0.25, \"target\": \"y\", \"columns\": [\"x1\", \"x2\", \"x3\", \"x4\"], \"sample_size\": 100, \"classification\": false}', NULL::bytea, hash_record_extended($part_row, 42), $part_row) FROM reg_d t")
tap_like "$explain" "Task Count: 32" "the partial training statistics of reg_d run as 32 tasks"
tap_like "$explain" "Query: SELECT pg_catalog\.worker_partial_agg\('mlops\.train_partial\(jsonb,bytea,bigint,record\)'::regprocedure, ROW\(.*hash_record_extended\(ROW\(y, x1, x2, x3, x4\), '42'::bigint\), ROW\(y, x1, x2, x3, x4\)\)\) AS train_partial FROM public\.reg_d_[0-9]+ t" \
	"EXPLAIN VERBOSE shows the partial aggregate mlops.train_partial inside each task's query"
tap_like "$explain" "coord_combine_agg\(" "... and its combine on the coordinator"
debug=$(sql_err "SET client_min_messages = debug1; SELECT model_id FROM mlops.train('reg_dbg', 'reg_d', 'y', algorithm => 'linear', exclude => '{id}', deploy => 'never')")
tap_like "$debug" "mlops\.train reads the distributed table public\.reg_d through partial aggregates: SELECT mlops\.train_partial\(\\\$1, \\\$2, pg_catalog\.hash_record_extended\(ROW\(t\.y, t\.x1, t\.x2, t\.x3, t\.x4, t\.c\), \\\$3\), ROW\(t\.y, t\.x1, t\.x2, t\.x3, t\.x4, t\.c\)\) FROM public\.reg_d AS t" \
	"at DEBUG1 mlops.train shows the query it pushes down"
tap_like "$debug" "NOTICE:  skipped 30 rows whose target is NULL" "... and counts the rows whose target is NULL, as on a single node"

# relative difference of two numbers, as SQL
reldiff() { echo "abs(($1) - ($2)) / greatest(abs($2), 1e-300)"; }
check_dist_train() { # name algorithm hyperparams preprocess table target exclude metric-keys [feature columns]
	local name=$1 algo=$2 hp=$3 pre=$4 table=$5 target=$6 exclude=$7 keys=$8 cols=${9:-t.x1, t.x2, t.x3, t.x4, t.c} dist loc worst rule
	rule="(((hash_record_extended(ROW(t.$target, $cols), 42) >> 11) & 9007199254740991)::float8 / 9007199254740992.0 < 0.25)"
	sql "CREATE TABLE ${name}_train AS SELECT * FROM $table t WHERE $target IS NOT NULL AND NOT $rule;
		CREATE TABLE ${name}_test AS SELECT * FROM $table t WHERE $target IS NOT NULL AND $rule" >/dev/null
	dist=$(sql "SELECT model_id FROM mlops.train('${name}_d', '${table}_d', '$target', algorithm => '$algo', hyperparams => '$hp',
		preprocess => '$pre', exclude => '$exclude', deploy => 'never')" 2>/dev/null)
	tap_is "$(sql "SELECT training->>'distributed' FROM mlops.models WHERE id = $dist")" true \
		"$name: the run on ${table}_d trains through partial aggregates"
	loc=$(sql "SELECT model_id FROM mlops.train('${name}_local', '${name}_train', '$target', algorithm => '$algo', hyperparams => '$hp',
		preprocess => '$pre', exclude => '$exclude', test_size => 0, deploy => 'never')" 2>/dev/null)
	tap_is "$(sql "SELECT (training->>'train_rows')::int = (SELECT count(*) FROM ${name}_train) AND (training->>'test_rows')::int = (SELECT count(*) FROM ${name}_test)
		AND training->>'distributed' = 'true' AND labels IS NOT DISTINCT FROM (SELECT labels FROM mlops.models WHERE id = $loc) FROM mlops.models WHERE id = $dist")" t \
		"$name: the distributed run trains on the rows the hash rule keeps and holds out the others (same labels)"
	worst=$(sql "SELECT max($(reldiff a.weight b.weight)) FROM mlops.weights($dist) a JOIN mlops.weights($loc) b USING (output, feature)")
	tap_is "$(sql "SELECT $worst < 1e-9 AND (SELECT count(*) FROM mlops.weights($dist)) = (SELECT count(*) FROM mlops.weights($loc))")" t \
		"$name: coefficients and intercepts equal the single-node fit of the training rows (largest relative difference $worst)"
	worst=$(sql "SELECT greatest(max($(reldiff "(a.v->>k)::float8" "(b.v->>k)::float8")), (SELECT max($(reldiff "x.t::float8" "y.t::float8"))
		FROM mlops.models, jsonb_array_elements(features->'inputs') WITH ORDINALITY e(v, ord), jsonb_array_elements_text(v->'target_values') WITH ORDINALITY x(t, i)
		JOIN (SELECT ord, i, t FROM mlops.models, jsonb_array_elements(features->'inputs') WITH ORDINALITY e(v, ord),
			jsonb_array_elements_text(v->'target_values') WITH ORDINALITY y(t, i) WHERE id = $loc) y USING (i) WHERE id = $dist AND y.ord = e.ord)) FROM
		(SELECT ord, v FROM mlops.models, jsonb_array_elements(features->'inputs') WITH ORDINALITY e(v, ord) WHERE id = $dist) a JOIN
		(SELECT ord, v FROM mlops.models, jsonb_array_elements(features->'inputs') WITH ORDINALITY e(v, ord) WHERE id = $loc) b USING (ord),
		unnest(ARRAY['fill', 'center', 'scale_by']) k")
	tap_is "$(sql "SELECT $worst < 1e-9 AND (SELECT features - 'inputs' FROM mlops.models WHERE id = $dist) = (SELECT features - 'inputs' FROM mlops.models WHERE id = $loc)
		AND (SELECT jsonb_agg(v - ARRAY['fill', 'center', 'scale_by', 'target_values']) FROM mlops.models, jsonb_array_elements(features->'inputs') v WHERE id = $dist)
		= (SELECT jsonb_agg(v - ARRAY['fill', 'center', 'scale_by', 'target_values']) FROM mlops.models, jsonb_array_elements(features->'inputs') v WHERE id = $loc)")" t \
		"$name: the transform's statistics (imputed values, centers, scales; the names, settings and categories of every input) equal the single-node fit's (largest relative difference $worst)"
	worst=$(sql "SELECT max($(reldiff "(d.metrics->>k)::float8" "(e.metrics->>k)::float8")) FROM mlops.models d,
		(SELECT mlops.evaluate('${name}_d', '${name}_test', $dist) AS metrics) e, unnest('$keys'::text[]) k WHERE d.id = $dist")
	tap_is "$(sql "SELECT $worst < 1e-9")" t \
		"$name: its held-out metrics equal mlops.evaluate of the model on the held-out rows (largest relative difference $worst)"
	if [[ $algo == logistic ]]; then
		worst=$(sql "SELECT max($(reldiff p.a p.b)) FROM $table t, unnest(mlops.predict_proba($dist, t), mlops.predict_proba($loc, t)) p(a, b)")
	else
		worst=$(sql "SELECT max($(reldiff "mlops.predict($dist, t)" "mlops.predict($loc, t)")) FROM $table t")
	fi
	tap_is "$(sql "SELECT $worst < 1e-9")" t \
		"$name: its predictions equal the single-node model's on every row (largest relative difference $worst)"
	tap_is "$(sql "SELECT bool_and(a.v->k = b.v->k) AND bool_and($(reldiff "(a.v->>'mean')::float8" "(b.v->>'mean')::float8") < 1e-9)
		FROM (SELECT ord, v FROM mlops.models, jsonb_array_elements(profile->'features') WITH ORDINALITY e(v, ord) WHERE id = $dist) a JOIN
		(SELECT ord, v FROM mlops.models, jsonb_array_elements(profile->'features') WITH ORDINALITY e(v, ord) WHERE id = $loc) b USING (ord),
		unnest(ARRAY['min', 'max', 'count', 'nulls', 'edges', 'histogram', 'sample', 'categories']) k")" t \
		"$name: its reference profile of the inputs equals the single-node one (fewer training rows than mlops.drift_sample_size)"
}
reg_keys='{r2,mae,mse,rmse,explained_variance}'
cls_keys='{accuracy,precision,recall,f1,roc_auc,log_loss,mcc}'
sql "CREATE TABLE cls AS SELECT id, x1, x2, x3, x4, c, CASE WHEN y IS NULL THEN NULL WHEN y > 1010 THEN 'hi' WHEN y > 995 THEN 'mid' ELSE 'lo' END AS label,
	(y > 1000) AS flag FROM reg;
	CREATE TABLE cls_d AS SELECT * FROM cls; SET client_min_messages = warning; SELECT create_distributed_table('cls_d', 'id')" >/dev/null
check_dist_train linear linear '{}' '{}' reg y '{id}' "$reg_keys"
check_dist_train ridge ridge '{"alpha": 30}' '{"x1": {"scale": "min_max", "impute": {"constant": 2}}, "x3": {"scale": "max_abs"}, "x2": {"impute": "max", "scale": "none"}, "c": {"impute": "mode", "max_categories": 2}}' \
	reg y '{id}' "$reg_keys"
check_dist_train multi logistic '{}' '{"c": {"encode": "ordinal"}}' cls label '{id,flag}' "$cls_keys"
check_dist_train binary logistic '{"C": 0.5, "class_weight": "balanced"}' '{"x1": {"scale": "min_max"}, "x2": {"impute": "zero"}}' cls flag '{id,label}' "$cls_keys"
# target encoding of a regression: its sums of the target per category merge
check_dist_train target_enc linear '{}' '{"c": {"encode": "target"}}' reg y '{id}' "$reg_keys"
check_dist_train target_mode ridge '{"alpha": 3}' '{"c": {"encode": "target", "impute": "mode", "max_categories": 2}}' reg y '{id}' "$reg_keys"
tap_is "$(sql "SELECT count(*) FROM mlops.models m, jsonb_array_elements(m.features->'inputs') v WHERE v->>'encode' = 'target'
	AND m.id IN (SELECT max(m2.id) FROM mlops.models m2 JOIN mlops.projects p ON p.id = m2.project_id WHERE p.name IN ('target_enc_d', 'target_mode_d') GROUP BY p.name)")" 2 \
	"... both target-encode c"
tap_like "$(sql_err "SELECT model_id FROM mlops.train('cls_target', 'cls_d', 'label', algorithm => 'logistic', preprocess => '{\"c\": {\"encode\": \"target\"}}', exclude => '{id,flag}', deploy => 'never')")" \
	"NOTICE:  mlops\.train reads the distributed table public\.cls_d through the coordinator" \
	"a classifier's target encoding (sums per class) reads through the coordinator, with a NOTICE"
# date, timestamp and timestamptz inputs: their parts (epoch, year, month,
# day, day of week, hour) are numbers whose statistics merge like any number
sql "CREATE TABLE dt AS SELECT r.id, r.x1, r.c, date '2019-03-01' + (r.id * 37) % 1500 AS d,
	CASE WHEN r.id % 13 = 0 THEN NULL ELSE timestamp '2021-03-01 05:00' + r.id * interval '7 hours 13 minutes' END AS ts,
	timestamptz '2020-06-01 00:00+00' + ((r.id * 101) % 997) * interval '5 hours 3 minutes' AS tz,
	r.y + ((r.id * 37) % 1500) / 100.0 + (r.id % 13) AS y, l.label FROM reg r JOIN cls l USING (id);
	CREATE TABLE dt_d AS SELECT * FROM dt; SET client_min_messages = warning; SELECT create_distributed_table('dt_d', 'id')" >/dev/null
check_dist_train dates ridge '{"alpha": 1}' '{"ts": {"impute": "max", "scale": "min_max"}, "d": {"scale": "max_abs"}}' dt y '{id,label}' "$reg_keys" \
	"t.x1, t.c, t.d, t.ts, t.tz"
check_dist_train dates_cls logistic '{}' '{"d": {"impute": "min"}}' dt label '{id,y}' "$cls_keys" "t.x1, t.c, t.d, t.ts, t.tz"
# array inputs (float8[] and real[], NULL arrays): one input per element
sql "CREATE TABLE arr AS SELECT id, x1, c, CASE WHEN id % 7 = 0 THEN NULL ELSE ARRAY[sin(id), cos(id * 2), (id % 5)::float8] END AS a,
	ARRAY[(id % 9)::real, sqrt(id)::real] AS b, y FROM reg;
	CREATE TABLE arr_d AS SELECT * FROM arr; SET client_min_messages = warning; SELECT create_distributed_table('arr_d', 'id')" >/dev/null
check_dist_train arrays linear '{}' '{"a": {"scale": "min_max"}}' arr y '{id}' "$reg_keys" "t.x1, t.c, t.a, t.b"
tap_is "$(sql "SELECT string_agg(DISTINCT curve || ':' || label, ',') FROM mlops.model_curves WHERE model_id = (SELECT max(m.id) FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id WHERE p.name = 'binary_d')")" \
	"$(sql "SELECT string_agg(DISTINCT curve || ':' || label, ',') FROM mlops.model_curves WHERE model_id = $(sql "SELECT model_id FROM mlops.train('binary_curves', 'cls', 'flag', algorithm => 'logistic', exclude => '{id,label}', deploy => 'never')" 2>/dev/null)")" \
	"the distributed logistic run stores the held-out curves, as a single-node run does"
fp_local=$(sql "SELECT model_id FROM mlops.train('reg_fp', 'reg', 'y', exclude => '{id}', algorithm => 'linear', deploy => 'never')" 2>/dev/null)
tap_same "$(sql "SELECT m.data_fingerprint FROM mlops.models m WHERE m.id = (SELECT max(m2.id) FROM mlops.models m2 JOIN mlops.projects p ON p.id = m2.project_id WHERE p.name = 'ridge_d')")" \
	"$(sql "SELECT data_fingerprint FROM mlops.models WHERE id = $fp_local")" \
	"the data fingerprint of the distributed run equals the single-node one of the same rows (a sum over rows)"
# deploy 'auto' scores the deployed model on the same held-out rows, on the workers
sql "SELECT mlops.train('reg_auto', 'reg_d', 'y', algorithm => 'linear', exclude => '{id}')" >/dev/null
auto=$(sql_err "SELECT model_id, deployed FROM mlops.train('reg_auto', 'reg_d', 'y', algorithm => 'ridge', hyperparams => '{\"alpha\": 500}', exclude => '{id}')")
tap_like "$auto" "below the [0-9.]+ of deployed model [0-9]+ on the same $(sql "SELECT count(*) FROM linear_test") held-out rows" \
	"deploy 'auto' compares with the deployed model on the same held-out rows, scored on the workers"
sql "SELECT mlops.train('cls_auto', 'cls_d', 'label', algorithm => 'logistic', exclude => '{id,flag}')" >/dev/null 2>&1
auto=$(sql_err "SELECT model_id, deployed FROM mlops.train('cls_auto', 'cls_d', 'label', algorithm => 'logistic', features => '{x4}')")
tap_like "$auto" "below the [0-9.]+ of deployed model [0-9]+ on the same [0-9]+ held-out rows" \
	"... and so does a classifier, by predict_proba on the workers"
tap_like "$(sql "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM mlops.train('reg_rr', 'reg_d', 'y', algorithm => 'ridge', exclude => '{id}');
	SELECT training->>'distributed' FROM mlops.models ORDER BY id DESC LIMIT 1; COMMIT" 2>/dev/null)" "true$" "training in a REPEATABLE READ transaction (every pass reads the same rows) works"
tap_like "$(sql_err "SELECT model_id FROM mlops.train('reg_xgb', 'reg_d', 'y', algorithm => 'xgboost', exclude => '{id}', deploy => 'never')")" \
	"NOTICE:  mlops\.train reads the distributed table public\.reg_d through the coordinator.*DETAIL:  Algorithm \"xgboost\" does not train through partial aggregates; linear, ridge and logistic do" \
	"xgboost on a distributed table reads it through the coordinator, with a NOTICE saying why"
tap_like "$(sql_err "SELECT model_id FROM mlops.train('reg_med', 'reg_d', 'y', algorithm => 'linear', preprocess => '{\"x1\": {\"impute\": \"median\"}}', exclude => '{id}', deploy => 'never')")" \
	"DETAIL:  A preprocess setting \(impute median or mode of a number or date, scale robust, encode target of a classifier\) does not merge from the shards' statistics" \
	"... and so does a transform whose statistics do not merge (impute median)"
# bad input
sql "CREATE TABLE bad_d (id int, x float8, y float8, lab text); SET client_min_messages = warning; SELECT create_distributed_table('bad_d', 'id')" >/dev/null
before=$(sql "SELECT count(*) FROM mlops.models")
tap_like "$(sql_err "SELECT mlops.train('bad', 'bad_d', 'y', algorithm => 'linear', exclude => '{id,lab}')")" \
	"relation public\.bad_d has no rows with a non-NULL target to train on" "an empty distributed table is refused"
sql "INSERT INTO bad_d SELECT i, i, 7, 'a' FROM generate_series(1, 100) i" >/dev/null
tap_like "$(sql_err "SELECT mlops.train('bad', 'bad_d', 'y', algorithm => 'linear', exclude => '{id,lab}')")" \
	"target column \"y\" is constant in the training rows" "a constant target is refused"
tap_like "$(sql_err "SELECT mlops.train('bad', 'bad_d', 'lab', algorithm => 'logistic', exclude => '{id,y}')")" \
	"target column \"lab\" has a single class in the training rows" "a single class is refused"
sql "UPDATE bad_d SET y = id % 3; UPDATE bad_d SET x = 'NaN' WHERE id = 50" >/dev/null
tap_like "$(sql_err "SELECT mlops.train('bad', 'bad_d', 'y', algorithm => 'linear', exclude => '{id,lab}')")" \
	"feature column \"x\" contains NaN" "a NaN feature is refused by the worker, naming the column"
sql "UPDATE bad_d SET x = '-Infinity' WHERE id = 50" >/dev/null
tap_like "$(sql_err "SELECT mlops.train('bad', 'bad_d', 'y', algorithm => 'linear', exclude => '{id,lab}')")" \
	"feature column \"x\" contains an infinite value" "an infinite feature is refused, naming the column"
sql "CREATE TABLE tiny_d (id int, x float8, y float8); SET client_min_messages = warning; SELECT create_distributed_table('tiny_d', 'id');
	INSERT INTO tiny_d VALUES (1, 1, 2), (2, 2, 3), (3, 3, 5)" >/dev/null
tap_is "$(sql "SELECT count(*) FROM tiny_d t WHERE (((hash_record_extended(ROW(t.y, t.x), 42) >> 11) & 9007199254740991)::float8 / 9007199254740992.0 < 0.99)")" 3 \
	"the hash rule holds out the 3 rows of tiny_d at test_size 0.99"
tap_like "$(sql_err "SELECT mlops.train('tiny', 'tiny_d', 'y', algorithm => 'linear', exclude => '{id}', test_size => 0.99)")" \
	"ERROR:  the split of distributed table public\.tiny_d holds out all its 3 rows.*HINT:  Lower test_size, or train on more rows" \
	"a split that holds out every row is refused (a hash rule, not ceil(test_size * n))"
tap_is "$(sql "SELECT count(*) FROM mlops.models")" "$before" "... and none of them registers anything"
# an unprivileged role, and a role that cannot read the shards on a worker
sql "GRANT SELECT ON reg_d TO alice" >/dev/null
alice=$(sql "SET ROLE alice; SELECT model_id FROM mlops.train('alice_reg', 'reg_d', 'y', algorithm => 'linear', exclude => '{id}')")
tap_is "$(sql "SELECT max($(reldiff a.weight b.weight)) < 1e-12 FROM mlops.weights($alice) a JOIN mlops.weights((SELECT max(m.id) FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id WHERE p.name = 'linear_d')) b USING (output, feature)")" t \
	"alice, without superuser rights, trains on the distributed table and gets the same model"
before=$(sql "SELECT count(*) FROM mlops.models")
on "$w1" "SET citus.enable_ddl_propagation = off; REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM alice" >/dev/null
tap_like "$(sql_err "SET ROLE alice; SELECT mlops.train('alice_reg', 'reg_d', 'y', algorithm => 'linear', exclude => '{id}')")" \
	"permission denied for table reg_d_[0-9]+" "a role that cannot read the shards on a worker gets that worker's permission error"
on "$w1" "SET citus.enable_ddl_propagation = off; GRANT SELECT ON ALL TABLES IN SCHEMA public TO alice" >/dev/null
tap_is "$(sql "SELECT count(*) FROM mlops.models")" "$before" "... and nothing is registered"

# --- bad input
tap_like "$(sql_err "SELECT mlops.predict(987654, t) FROM iris_d t")" \
	"$(sql_err "SELECT mlops.predict(987654, t) FROM iris t" | sed -n 's/^.*ERROR: *//p' | head -1)" \
	"predict by a model id unknown on the workers fails as on a single node"
sql "CREATE TABLE iris_short AS SELECT id, sepal_length_cm, sepal_width_cm FROM iris;
	CREATE TABLE iris_short_d AS SELECT * FROM iris_short; SET client_min_messages = warning;
	SELECT create_distributed_table('iris_short_d', 'id')" >/dev/null
missing=$(sql_err "SELECT mlops.predict('iris', t) FROM iris_short t" | sed -n 's/^.*ERROR: *//p' | head -1)
tap_like "$missing" "petal_length_cm" "single node: a table without a model column is refused, naming it"
tap_like "$(sql_err "SELECT mlops.predict('iris', t) FROM iris_short_d t")" "${missing//\"/.}" \
	"a distributed table without a model column fails on the workers with the same error"
# drift: the same errors as on a single node
missing=$(sql_err "SELECT * FROM mlops.drift('iris', 'iris_short')" | sed -n 's/^.*ERROR: *//p' | head -1)
tap_like "$missing" "petal_length_cm" "single node: drift on a table without a model column is refused, naming it"
tap_is "$(sql_err "SELECT * FROM mlops.drift('iris', 'iris_short_d')" | sed -n 's/^.*ERROR: *//p' | head -1)" \
	"${missing//iris_short/iris_short_d}" "drift on a distributed table without a model column fails with the same error"
tap_like "$(sql_err "SET ROLE bob; SELECT * FROM mlops.drift('iris', 'iris_d')")" "permission denied for project \"iris\"" \
	"bob, without the train privilege, cannot check the drift of iris_d"
tap_like "$(sql_err "SET ROLE bob; SELECT mlops.drift_profile($iris1, 100, 0, $iris_row) FROM iris_d t")" \
	"permission denied for project \"iris\"" "... nor run the partial aggregate himself: the workers check his privilege"

# --- a dropped project is gone everywhere
sql "SELECT mlops.drop_project('dia')" >/dev/null
for port in "$w1" "$w2"; do
	tap_is "$(on "$port" "SELECT count(*) FROM mlops.projects WHERE name = 'dia'")" 0 \
		"a dropped project is gone from the worker on port $port"
done
tap_like "$(sql_err "SELECT mlops.predict('dia', t) FROM dia_d t")" "project \"dia\" does not exist" \
	"predict of a dropped project fails on the workers"
check_registry "after the drop the worker's registry equals the coordinator's"

# --- mlops.citus_setup() again copies the whole registry (a node that lost it)
tap_like "$(on_err "$w1" "CREATE TABLE wt AS SELECT i::float8 AS a, (i % 3)::float8 AS y FROM generate_series(1, 100) i;
	SELECT mlops.train('on_worker', 'wt', 'y', algorithm => 'linear')")" \
	"cannot change the mlops registry on a Citus worker node" "training on a worker is refused: the registry is written on the coordinator"
on "$w1" "SET session_replication_role = replica;
	DELETE FROM mlops.project_grants; DELETE FROM mlops.deployments; DELETE FROM mlops.models; DELETE FROM mlops.projects" >/dev/null
tap_is "$(on "$w1" "SELECT count(*) FROM mlops.models")" 0 "the worker on port $w1 lost its registry"
tap_is "$(sql "SELECT mlops.citus_setup()")" 2 "mlops.citus_setup() runs again"
check_registry "mlops.citus_setup() copied the whole registry to the worker that had lost it"
tap_same "$(sql "${iris_probe//TABLE/iris_d}")" "$m1" "the workers score with the deployed model again"

# --- a worker added later gets the registry from mlops.citus_setup()
mlops_citus_node_start
w3=$PGPORT
PGPORT=$coord
sql "SELECT citus_add_node('localhost', $w3)" >/dev/null
tap_is "$(on "$w3" "SELECT extversion FROM pg_extension WHERE extname = 'mlops'")" \
	"$(sql "SELECT extversion FROM pg_extension WHERE extname = 'mlops'")" "citus_add_node created mlops on the new worker"
tap_is "$(sql "SELECT mlops.citus_setup()")" 3 "mlops.citus_setup() reaches the three workers"
tap_same "$(on "$w3" "$registry")" "$(sql "$registry")" "the new worker's registry equals the coordinator's"
sql "CREATE TABLE iris_d3 AS SELECT * FROM iris; SET client_min_messages = warning;
	SELECT create_distributed_table('iris_d3', 'id', colocate_with => 'none')" >/dev/null
tap_is "$(sql "SELECT count(DISTINCT nodeport) FROM pg_dist_shard_placement JOIN pg_dist_shard USING (shardid) WHERE logicalrelid = 'iris_d3'::regclass")" \
	3 "iris_d3 has shards on the three workers"
tap_same "$(sql "${scores//TABLE/iris_d3}")" "$single" "every predict form over iris_d3 (three workers) equals the single-node run"

# --- a worker without mlops is named
on "$w2" "SET citus.enable_ddl_propagation = off; DROP EXTENSION mlops CASCADE" >/dev/null 2>&1
tap_like "$(sql_err "SELECT mlops.citus_setup()")" "mlops is not installed on worker node localhost:$w2" \
	"mlops.citus_setup() names the worker that lacks mlops"
tap_like "$(sql_err "SELECT * FROM mlops.drift('iris', 'iris_d3', method => 'psi')")" "mlops is not installed on worker node localhost:$w2" \
	"mlops.drift on a distributed table names the worker that lacks mlops"
tap_like "$(sql_err "SELECT mlops.train('reg_nomlops', 'reg_d', 'y', algorithm => 'linear', exclude => '{id}')")" \
	"mlops is not installed on worker node localhost:$w2" "mlops.train on a distributed table names the worker that lacks mlops"

tap_done
