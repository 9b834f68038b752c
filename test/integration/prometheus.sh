#!/usr/bin/env bash
#
# test/integration/prometheus.sh: the Prometheus integration of contrib/prometheus
#
# Starts Debian's prometheus-postgres-exporter on 127.0.0.1 against a test
# cluster with contrib/prometheus/queries.yaml, scrapes /metrics and checks
# that every mlops series is there with the value the SQL views give; then
# runs the alert rules' unit tests with promtool (Debian's prometheus).
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

exporter=/usr/bin/prometheus-postgres-exporter
promtool=/usr/bin/promtool
data=$MLOPS_ROOT/contrib/datasets
prom=$MLOPS_ROOT/contrib/prometheus

if [[ ! -x $exporter || ! -x $promtool ]]; then
	echo "1..0 # SKIP prometheus-postgres-exporter or promtool is not installed"
	exit 0
fi

mlops_cluster_start "shared_preload_libraries = 'mlops'"
sql "CREATE EXTENSION mlops" >/dev/null
mlops_load_csv "$data/iris.csv" iris species text
iris=$(sql "SELECT model_id FROM mlops.train('iris', 'iris', 'species')")
sql "SELECT count(*) FROM mlops.drift('iris', 'iris')" >/dev/null
sql "SELECT count(mlops.predict('iris', i)) FROM iris i" >/dev/null
sql "SELECT count(*) FROM mlops.monitor('iris', 'iris', 'species')" >/dev/null

# The exporter, on a free loopback port
port=$(mlops_free_port)
log=$MLOPS_CLUSTER_DIR/exporter.log
DATA_SOURCE_NAME="host=$PGHOST port=$PGPORT user=postgres dbname=postgres sslmode=disable" \
	"$exporter" --web.listen-address="127.0.0.1:$port" --extend.query-path="$prom/queries.yaml" \
	--disable-default-metrics --disable-settings-metrics >"$log" 2>&1 &
exporter_pid=$!
trap 'kill $exporter_pid 2>/dev/null || true; mlops_cleanup' EXIT

# Scrape until the mlops series are there (the exporter connects lazily)
metrics=""
for _ in $(seq 100); do
	metrics=$(curl -sf "http://127.0.0.1:$port/metrics" || true)
	if grep -q '^mlops_deployed_version' <<<"$metrics"; then
		break
	fi
	sleep 0.1
done
if ! tap_like "$metrics" "mlops_deployed_version" "the exporter serves the mlops series"; then
	sed 's/^/# /' "$log"
fi

# The value of series $1 whose labels contain every label=value pair of $2 (comma-separated, in order)
series() {
	local name=$1 labels=$2 pattern

	pattern="^$name\\{[^}]*$(sed 's/=\([^,]*\)/="\1"/g; s/,/[^}]*/g' <<<"$labels")[^}]*\\} "
	grep -E "$pattern" <<<"$metrics" | head -n 1 | awk '{print $2}' || true
}

# Compare a scraped value with SQL's, as numbers
same_number() {
	python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 1e-9 * max(1, abs(b)) else 1)' "$1" "$2"
}

got=$(series mlops_deployed_version "model_id=$iris,project=iris")
tap_is "$got" "1" "mlops_deployed_version labels the deployed model of project iris"
want=$(sql "SELECT score FROM mlops.overview WHERE project = 'iris'")
got=$(series mlops_deployed_score "model_id=$iris,project=iris")
same_number "${got:-NaN}" "$want" && rc=0 || rc=$?
tap_ok $rc "mlops_deployed_score is the overview's score ($want)"
want=$(sql "SELECT drift_share FROM mlops.drift_status WHERE project = 'iris'")
got=$(series mlops_drift_drift_share "model_id=$iris,project=iris")
same_number "${got:-NaN}" "$want" && rc=0 || rc=$?
tap_ok $rc "mlops_drift_drift_share is drift_status's share ($want)"
got=$(series mlops_drift_features_checked "project=iris")
tap_is "$got" "4" "mlops_drift_features_checked counts the four inputs"
got=$(series mlops_jobs_count "status=failed")
tap_is "$got" "0" "mlops_jobs_count has a zero series for failed jobs"

want=$(sql "SELECT calls FROM mlops.serving_stats WHERE project = 'iris' AND variant = 'champion'")
got=$(series mlops_serving_calls "model_id=$iris,project=iris,variant=champion")
tap_is "$got" "$want" "mlops_serving_calls counts the predict calls of the serving statistics ($want)"
got=$(series mlops_serving_p99_us "model_id=$iris,project=iris,variant=champion")
want=$(sql "SELECT p99_us FROM mlops.serving_stats WHERE project = 'iris' AND variant = 'champion'")
same_number "${got:-NaN}" "$want" && rc=0 || rc=$?
tap_ok $rc "mlops_serving_p99_us is serving_stats' p99 ($want µs)"
want=$(sql "SELECT value FROM mlops.performance_history WHERE project = 'iris' ORDER BY id DESC LIMIT 1")
got=$(series mlops_live_score "model_id=$iris,project=iris")
same_number "${got:-NaN}" "$want" && rc=0 || rc=$?
tap_ok $rc "mlops_live_score is the latest monitor window's score ($want)"
got=$(series mlops_alerts_open "severity=critical")
tap_is "$got" "0" "mlops_alerts_open has a zero series for critical alerts"

# The alert rules
"$promtool" check rules "$prom/mlops-rules.yml" >/dev/null && rc=0 || rc=$?
tap_ok $rc "promtool check rules accepts mlops-rules.yml"
(cd "$prom" && "$promtool" test rules mlops-rules.test.yml >/dev/null) && rc=0 || rc=$?
tap_ok $rc "promtool test rules: the rules fire as their unit tests expect"

tap_done
