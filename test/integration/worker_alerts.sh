#!/usr/bin/env bash
#
# test/integration/worker_alerts.sh: the worker checks alerts and guardrails
# every naptime
#
# A throwaway cluster with mlops preloaded and a short naptime.  alice
# deploys version 2 of project wa with a guardrail "min_live_score" and
# "action": "rollback"; its live score on fresh outcomes is bad.  The worker,
# without anyone calling mlops.check_alerts, opens the guardrail alert,
# rolls the deployment back to version 1 and records both in mlops.events
# (waiting at most 1 s at a time for a project lock another session holds);
# a LISTEN session gets the NOTIFY.  A failed job opens the job_failed
# alert, which resolves when a later job succeeds; an error in one project
# (a damaged policy) does not stop the others.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" \
	"mlops.scheduler_naptime = 200"

sql "CREATE EXTENSION mlops" >/dev/null
sql "CREATE ROLE alice LOGIN;
     CREATE TABLE wa_t AS SELECT i, (i % 13)::float8 AS x, (i % 13 > 6)::int AS y FROM generate_series(1, 300) i;
     CREATE TABLE wa_later AS SELECT i, x, 1 - y AS y FROM wa_t;
     GRANT SELECT ON wa_t, wa_later TO alice" >/dev/null
v1=$(sql "SET ROLE alice; SELECT model_id FROM mlops.train('wa', 'wa_t', 'y', algorithm => 'logistic', exclude => '{i}')")
v2=$(sql "SET ROLE alice; SELECT model_id FROM mlops.train('wa', 'wa_t', 'y', algorithm => 'logistic', exclude => '{i}',
          hyperparams => '{\"C\": 0.1}', deploy => 'always')")
# a second project whose stored policy is damaged: its check fails, the others go on
sql "SET ROLE alice; SELECT model_id FROM mlops.train('wb', 'wa_t', 'y', algorithm => 'logistic', exclude => '{i}')" >/dev/null
sql "UPDATE mlops.policies SET policy = '{\"guardrails\": 7}' WHERE project = 'wb';
     INSERT INTO mlops.policies (project, policy, updated_by) SELECT 'wb', '{\"guardrails\": 7}', 'alice'
      WHERE NOT EXISTS (SELECT 1 FROM mlops.policies WHERE project = 'wb')" >/dev/null

sql "SET ROLE alice; SELECT mlops.set_policy('wa', '{\"guardrails\": {\"min_live_score\": 0.5, \"action\": \"rollback\"}}')" \
	>/dev/null
tap_is "$(sql "SELECT model_id FROM mlops.overview WHERE project = 'wa'")" "$v2" "version 2 is deployed"

# a LISTEN session in the background, for 8 seconds; another session holds
# wa's row locked for 4 seconds, so the worker's rollback times out (1 s) and
# is tried again at the next passes
listen_out=$MLOPS_CLUSTER_DIR/listen.out
(mlops_psql -X -q -c "LISTEN mlops_alerts" -c "SELECT pg_sleep(8)" >"$listen_out" 2>&1 &)
(mlops_psql -X -q -c "BEGIN" -c "SELECT 1 FROM mlops.projects WHERE name = 'wa' FOR UPDATE" -c "SELECT pg_sleep(4)" \
	-c "COMMIT" >/dev/null 2>&1 &)
sleep 1
# its live score is bad: the guardrail breaks
sql "SET ROLE alice; SELECT count(*) FROM mlops.monitor('wa', 'wa_later', 'y')" >/dev/null
sleep 2
tap_is "$(sql "SELECT model_id FROM mlops.overview WHERE project = 'wa'")" "$v2" \
	"while another session holds the project's lock, nothing rolls back"
tap_like "$(grep -c 'could not check the alerts of project "wa": canceling statement due to lock timeout' \
	"$MLOPS_CLUSTER_DIR/server.log")" '^[1-9]' "the worker's wait times out with a warning, and the pass goes on"
tap_is "$(wait_for "SELECT model_id FROM mlops.overview WHERE project = 'wa'" "$v1" 30)" "$v1" \
	"the worker rolls wa back to version 1 on its own"
tap_is "$(sql "SELECT rule, severity, model_id FROM mlops.alerts WHERE project = 'wa' AND rule LIKE 'guardrail%'")" \
	"guardrail_live_score|critical|$v2" "it opened the guardrail alert about version 2"
tap_like "$(sql "SELECT action, detail->>'reason' FROM mlops.events WHERE project = 'wa' AND action IN ('guardrail', 'rollback')
                 ORDER BY id")" "^rollback\|guardrail live_score broken: .*
guardrail\|guardrail live_score broken: " "mlops.events records the breach and the rollback with the reason"
tap_is "$(sql "SELECT d.strategy, d.deployed_by FROM mlops.deployed_models d JOIN mlops.projects p ON p.id = d.project_id
               WHERE p.name = 'wa'")" "rollback|postgres" "the deployment is a rollback by the worker"
tap_is "$(wait_for "SELECT status FROM mlops.alert_status WHERE project = 'wa' AND rule = 'guardrail_live_score'" resolved 30)" \
	resolved "version 1 has no live window yet: the alert resolves"
for _ in {1..100}; do
	grep -q 'Asynchronous notification' "$listen_out" && break
	sleep 0.1
done
tap_like "$(cat "$listen_out")" 'Asynchronous notification "mlops_alerts" with payload "\{"event": "fired", "alert_id": [0-9]+, "project": "wa", "rule": "guardrail_live_score", "severity": "critical"' \
	"the LISTEN session got the NOTIFY"
tap_like "$(grep -c 'could not check the alerts of project "wb"' "$MLOPS_CLUSTER_DIR/server.log")" '^[1-9]' \
	"a project whose check fails is a warning in the server log"

# a failed job opens job_failed; a later successful one resolves it
sql "CREATE VIEW wa_bad AS SELECT i, x, y / (i - i) AS y FROM wa_t; GRANT SELECT ON wa_bad TO alice" >/dev/null
sql "SET ROLE alice; SELECT mlops.train_async('wa', 'wa_bad', 'y', algorithm => 'logistic', exclude => '{i}')" >/dev/null
tap_is "$(wait_for "SELECT status FROM mlops.alert_status WHERE project = 'wa' AND rule = 'job_failed'" firing 30)" firing \
	"a failed job opens the job_failed alert"
tap_like "$(sql "SELECT detail->>'error' FROM mlops.alerts WHERE project = 'wa' AND rule = 'job_failed'")" 'division by zero' \
	"the alert carries the job's error"
sql "SET ROLE alice; SELECT mlops.train_async('wa', 'wa_t', 'y', algorithm => 'logistic', exclude => '{i}',
     deploy => 'never')" >/dev/null
tap_is "$(wait_for "SELECT status FROM mlops.alert_status WHERE project = 'wa' AND rule = 'job_failed'" resolved 60)" resolved \
	"a later job that succeeds resolves it"

tap_done
