#!/usr/bin/env bash
#
# test/integration/upgrade.sh: ALTER EXTENSION mlops UPDATE from 0.1.0
#
# Builds mlops 0.1.0 from its release commit into a private copy of the
# PostgreSQL installation, installs it in a throwaway cluster and trains,
# deploys, evaluates and checks drift with every algorithm; then installs
# this tree's build over it (as a package upgrade does), runs ALTER
# EXTENSION mlops UPDATE and checks that
#   - every model predicts exactly what it predicted under 0.1.0, also
#     models whose date column has an hour input (0.2.0 trains a date
#     without it), which drift, evaluate and retrain still read,
#   - the 0.1.0 registry rows are intact,
#   - the schema equals a fresh install's (schema_catalog.sql),
#   - DROP EXTENSION removes a fresh install's schema, and leaves an
#     upgraded one's behind (the documented one-line cleanup drops it).
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

# The commit that shipped 0.1.0
V010_COMMIT=de19f78

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlops-upgrade.XXXXXX")
chmod 755 "$tmp" # the postgres user runs the copied server programs
MLOPS_CLUSTER_DIRS+=("$tmp") # removed with the clusters on exit

# A private copy of the PostgreSQL installation (Debian layout: lib/postgresql/N
# and share/postgresql/N under one prefix), so installing 0.1.0 touches nothing else
pglib=$(dirname "$("$PG_CONFIG" --bindir)")
pgshare=$("$PG_CONFIG" --sharedir)
major=$(basename "$pglib")
mkdir -p "$tmp/pg/lib/postgresql" "$tmp/pg/share/postgresql" "$tmp/pg/include"
cp -a "$pglib" "$tmp/pg/lib/postgresql/"
cp -a "$pgshare" "$tmp/pg/share/postgresql/"
ln -s "$("$PG_CONFIG" --includedir)" "$tmp/pg/include/postgresql"
rm -f "$tmp/pg/share/postgresql/$major/extension/mlops"* "$tmp/pg/lib/postgresql/$major/lib/mlops.so"
export PG_CONFIG=$tmp/pg/lib/postgresql/$major/bin/pg_config
[[ $("$PG_CONFIG" --sharedir) == "$tmp/pg/share/postgresql/$major" ]] ||
	mlops_die "the copy of PostgreSQL in $tmp/pg is not relocatable"

# Build and install 0.1.0 from its commit
git -C "$MLOPS_ROOT" cat-file -e "$V010_COMMIT^{commit}" 2>/dev/null ||
	mlops_die "commit $V010_COMMIT (mlops 0.1.0) is not in this clone's history"
mkdir "$tmp/src010"
git -C "$MLOPS_ROOT" archive "$V010_COMMIT" | tar -x -C "$tmp/src010"
mlops_log "upgrade: building mlops 0.1.0 ($V010_COMMIT)"
make -C "$tmp/src010" -j "$(nproc)" >"$tmp/build010.log" 2>&1 && make -C "$tmp/src010" install >>"$tmp/build010.log" 2>&1 || {
	tail -n 30 "$tmp/build010.log" >&2
	mlops_die "building mlops 0.1.0 failed"
}

mlops_cluster_start
mlops_psql -c "CREATE DATABASE up" -c "CREATE DATABASE fresh"
export PGDATABASE=up
sql "CREATE EXTENSION mlops" >/dev/null
tap_is "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'mlops'")" 0.1.0 "0.1.0 is installed"

data=$MLOPS_ROOT/contrib/datasets
mlops_load_csv "$data/iris.csv" iris species text
mlops_load_csv "$data/breast_cancer.csv" bc diagnosis text
mlops_load_csv "$data/diabetes.csv" dia progression float8
sql "ALTER TABLE iris ADD id serial; ALTER TABLE bc ADD id serial; ALTER TABLE dia ADD id serial" >/dev/null
# a date column: 0.1.0 gave it six inputs, the last an hour that is always 0
sql "CREATE TABLE visits AS
     SELECT g AS id, date '2024-01-01' + g % 200 AS day, timestamp '2024-01-01' + g * interval '5 hours' AS at,
            (g % 17)::float8 AS x, (g % 200) * 0.1 + (g % 17) * 0.5 + (g * 5 % 24) * 0.01 AS y
       FROM generate_series(1, 600) g" >/dev/null

# Every algorithm, classification (multiclass and binary) and regression
for a in xgboost random_forest logistic; do
	sql "SELECT version FROM mlops.train('iris', 'iris', 'species', algorithm => '$a', exclude => '{id}', deploy => 'always')"
done >/dev/null
for a in xgboost logistic; do
	sql "SELECT version FROM mlops.train('bc', 'bc', 'diagnosis', algorithm => '$a', exclude => '{id}')"
done >/dev/null
for a in xgboost random_forest linear ridge lasso elastic_net; do
	sql "SELECT version FROM mlops.train('dia', 'dia', 'progression', algorithm => '$a', exclude => '{id}')"
done >/dev/null
sql "SELECT mlops.deploy('dia', 'best_score'); SELECT mlops.deploy('iris', 'rollback');
	 SELECT mlops.evaluate('bc', 'bc'); SELECT count(*) FROM mlops.drift('dia', 'dia');
	 SELECT mlops.schedule('dia', '1 day'); SELECT mlops.train_async('bc', 'bc', 'diagnosis', exclude => '{id}')" \
	>/dev/null 2>&1
for a in xgboost linear; do
	sql "SELECT version FROM mlops.train('visits', 'visits', 'y', algorithm => '$a', exclude => '{id}', deploy => 'always')"
done >/dev/null
tap_is "$(sql "SELECT count(*) FROM mlops.models")" 13 "0.1.0 trained 13 models of 7 algorithms"

# Predictions of every model and of each project's deployed model, on every row
scores_sql="SET extra_float_digits = 3;
	SELECT m.id, t.id, mlops.predict(m.id, t), mlops.predict_proba(m.id, t)
	  FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id, iris t WHERE p.name = 'iris'
	UNION ALL
	SELECT m.id, t.id, mlops.predict(m.id, t), mlops.predict_proba(m.id, t)
	  FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id, bc t WHERE p.name = 'bc'
	UNION ALL
	SELECT m.id, t.id, mlops.predict(m.id, t), NULL
	  FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id, dia t WHERE p.name = 'dia'
	UNION ALL
	SELECT 0, t.id, mlops.predict('iris', t), mlops.predict_proba('iris', t) FROM iris t
	UNION ALL
	SELECT 0, t.id, mlops.predict('dia', t), NULL FROM dia t
	UNION ALL
	SELECT m.id, t.id, mlops.predict(m.id, t), NULL
	  FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id, visits t WHERE p.name = 'visits'
	UNION ALL
	SELECT 0, t.id, mlops.predict('visits', to_jsonb(t)), NULL FROM visits t
	ORDER BY 1, 2, 3"
sql "$scores_sql" >"$tmp/scores.before"

# The 0.1.0 registry rows: a digest of each table over its 0.1.0 columns
registry_digests() {
	local t cols

	for t in $(sql "SELECT relname FROM pg_class WHERE relnamespace = 'mlops'::regnamespace AND relkind = 'r' ORDER BY 1"); do
		cols=${registry_cols[$t]:-}
		if [[ -z $cols ]]; then
			cols=$(sql "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
			            WHERE attrelid = 'mlops.$t'::regclass AND attnum > 0 AND NOT attisdropped")
			registry_cols[$t]=$cols
		fi
		echo "$t $(sql "SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))
		                FROM (SELECT $cols FROM mlops.$t) r")"
	done
}
declare -A registry_cols=()
registry_digests >"$tmp/registry.before"

# A project of a role that is dropped before the upgrade: its rows name
# role 0 after it, and a role of the same name created after the upgrade
# does not get the project (0.1.0 stored only names: a role dropped and
# created again before the upgrade cannot be told apart)
sql "CREATE ROLE gone; GRANT SELECT ON dia TO gone" >/dev/null
sql "SET ROLE gone; SELECT version FROM mlops.train('gone_p', 'dia', 'progression', algorithm => 'linear', exclude => '{id}')" >/dev/null
sql "REVOKE SELECT ON dia FROM gone; DROP ROLE gone" >/dev/null

# The package upgrade: this tree's build over 0.1.0, then ALTER EXTENSION
mlops_cluster_stop fast
make -C "$MLOPS_ROOT" install >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log" >&2
	mlops_die "make install of this tree failed"
}
mlops_pg_ctl_start
out=$(sql_err "ALTER EXTENSION mlops UPDATE")
tap_is "$out" "" "ALTER EXTENSION mlops UPDATE runs without a message"
tap_is "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'mlops'")" \
	"$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$MLOPS_ROOT/mlops.control")" "and reaches the default version"

tap_is "$(sql "SELECT p.created_by::oid || ' ' || m.created_by::oid || ' ' || e.actors
               FROM mlops.projects p JOIN mlops.models m ON m.project_id = p.id,
               LATERAL (SELECT string_agg(DISTINCT actor::oid::text, ',') AS actors
                          FROM mlops.events WHERE project = p.name) e WHERE p.name = 'gone_p'")" "0 0 0" \
	"the rows of a role dropped before the upgrade name role 0"
sql "CREATE ROLE gone" >/dev/null
tap_like "$(sql_err "SET ROLE gone; SELECT mlops.drop_project('gone_p')")" 'ERROR:  permission denied for project "gone_p"' \
	"a role of the same name created after the upgrade does not own the project"
# the rest compares the 0.1.0 rows of live roles
sql "SELECT mlops.drop_project('gone_p'); DELETE FROM mlops.events WHERE project = 'gone_p'" >/dev/null

sql "$scores_sql" >"$tmp/scores.after"
tap_is "$(wc -l <"$tmp/scores.after")" "$(wc -l <"$tmp/scores.before")" "every model still scores every row"
diff "$tmp/scores.before" "$tmp/scores.after" >&2 && rc=0 || rc=$?
tap_ok "$rc" "every prediction and probability equals 0.1.0's, to the last bit"

registry_digests | awk 'NR == FNR { old[$1] = 1; next } $1 in old' "$tmp/registry.before" - >"$tmp/registry.after"
diff "$tmp/registry.before" "$tmp/registry.after" >&2 && rc=0 || rc=$?
tap_ok "$rc" "the 0.1.0 registry rows are intact"
tap_is "$(sql "SELECT count(*) FILTER (WHERE m.stage = 'production') = count(d.model_id)
                 AND count(*) FILTER (WHERE m.stage = 'production' AND d.model_id IS NULL) = 0
                 AND count(*) FILTER (WHERE m.stage NOT IN ('production', 'none')) = 0
               FROM mlops.models m LEFT JOIN mlops.deployed_models d ON d.model_id = m.id")" t \
	"the deployed models are in stage production, the others in none"

# The upgraded schema equals a fresh install's
PGDATABASE=fresh sql "CREATE EXTENSION mlops" >/dev/null
sql "\\i $MLOPS_ROOT/test/integration/schema_catalog.sql" >"$tmp/catalog.up"
PGDATABASE=fresh sql "\\i $MLOPS_ROOT/test/integration/schema_catalog.sql" >"$tmp/catalog.fresh"
tap_ok "$(($(wc -l <"$tmp/catalog.fresh") > 100 ? 0 : 1))" "the catalog description lists the schema's objects"
diff "$tmp/catalog.fresh" "$tmp/catalog.up" >&2 && rc=0 || rc=$?
tap_ok "$rc" "the upgraded schema equals a fresh install's (functions, tables, columns, views, grants, policies, comments)"

# The upgraded installation keeps working
out=$(sql "SELECT version FROM mlops.train('dia', 'dia', 'progression', algorithm => 'ridge', exclude => '{id}', deploy => 'never')")
tap_is "$out" 7 "the upgraded installation trains the next version"

# A 0.1.0 model with a date hour input next to a new one without it
day_inputs="SELECT string_agg((SELECT c->>'inputs' FROM jsonb_array_elements(m.features->'columns') c
                               WHERE c->>'name' = 'day'), ' ' ORDER BY m.version)
              FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id WHERE p.name = 'visits'"
sql "SELECT version FROM mlops.train('visits', 'visits', 'y', algorithm => 'linear', exclude => '{id}', deploy => 'never')" >/dev/null
tap_is "$(sql "$day_inputs")" "6 6 5" "a 0.1.0 model keeps the hour of a date; a new training has none"
tap_is "$(sql "SELECT count(*) FROM mlops.drift('visits', 'visits') WHERE feature LIKE 'day.%'")" 6 \
	"drift reads a 0.1.0 model's date hour"
tap_is "$(sql "SELECT mlops.evaluate('visits', 'visits') ? 'r2'")" t "evaluate scores a 0.1.0 model with a date hour"
tap_like "$(sql "SELECT reason FROM mlops.retrain('visits', force => true)")" \
	'on the same [0-9]+ held-out rows' \
	"retrain compares a new model with the 0.1.0 model on the same rows"

# The schema belongs to a fresh install, not to an upgraded one
PGDATABASE=fresh sql "DROP EXTENSION mlops" >/dev/null
tap_is "$(PGDATABASE=fresh sql "SELECT count(*) FROM pg_namespace WHERE nspname = 'mlops'")" 0 \
	"DROP EXTENSION removes a fresh install's schema"
sql "DROP EXTENSION mlops" >/dev/null
tap_is "$(sql "SELECT count(*) FROM pg_namespace WHERE nspname = 'mlops'")" 1 \
	"an upgraded install's schema stays after DROP EXTENSION"
sql "DROP SCHEMA mlops" >/dev/null
tap_is "$(sql "SELECT count(*) FROM pg_namespace WHERE nspname = 'mlops'")" 0 \
	"and DROP SCHEMA mlops removes it"

tap_done
