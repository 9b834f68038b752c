#!/usr/bin/env bash
#
# test/integration/worker_governance.sh: the worker deploys an approved
# request when the deploy window opens
#
# A throwaway cluster with mlops preloaded.  alice owns project gw and
# asks to deploy version 2; the policy requires an approval by the role
# approvers and has a deploy window that opens a few seconds from now.
# bob approves before it opens: the request stays approved and waiting,
# the deployed model does not change; once the window is open the
# background worker deploys it, as bob (deployed_by, the event's actor),
# and the stages follow.  A request approved while its model got archived
# expires instead.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" \
	"mlops.scheduler_naptime = 200"

sql "CREATE EXTENSION mlops" >/dev/null
sql "CREATE ROLE approvers; CREATE ROLE alice; CREATE ROLE bob IN ROLE approvers;
     CREATE TABLE gw_t AS SELECT i, (i % 13)::float8 AS x, (3 * (i % 13) + (i % 3))::float8 AS y
       FROM generate_series(1, 300) i;
     GRANT SELECT ON gw_t TO alice" >/dev/null
v1=$(sql "SET ROLE alice; SELECT model_id FROM mlops.train('gw', 'gw_t', 'y', algorithm => 'linear', exclude => '{i}')")
v2=$(sql "SET ROLE alice; SELECT model_id FROM mlops.train('gw', 'gw_t', 'y', algorithm => 'ridge', exclude => '{i}',
          deploy => 'never')")
v3=$(sql "SET ROLE alice; SELECT model_id FROM mlops.train('gw', 'gw_t', 'y', algorithm => 'lasso', exclude => '{i}',
          deploy => 'never')")
sql "SET ROLE alice; SELECT mlops.grant('gw', 'bob', 'approve')" >/dev/null

# the window opens 4 seconds from now (UTC, to the second) and lasts an hour
opens=$(sql "SELECT to_char((clock_timestamp() AT TIME ZONE 'UTC') + interval '4 seconds', 'HH24:MI:SS')")
closes=$(sql "SELECT to_char((clock_timestamp() AT TIME ZONE 'UTC') + interval '1 hour', 'HH24:MI:SS')")
sql "SET ROLE alice; SELECT mlops.set_policy('gw', jsonb_build_object('require_approval', true,
     'approvers', 'approvers', 'deploy_window', jsonb_build_object('from', '$opens', 'to', '$closes')))" >/dev/null

out=$(sql "SET ROLE alice; SELECT status, request_id FROM mlops.deploy('gw', 'specific', $v2)")
tap_like "$out" '^pending\|[0-9]+$' "alice's deploy makes a pending request"
req=${out#pending|}
out=$(sql_err "SET ROLE bob; SELECT version FROM mlops.approve($req, 'ship it')")
tap_like "$out" "NOTICE:  deploy request $req is approved; model $v2 is deployed when the deploy window .* opens" \
	"bob approves before the window opens: a NOTICE says it waits"
tap_is "$(sql "SELECT status, deployed_at IS NULL FROM mlops.deploy_requests WHERE id = $req")" "approved|t" \
	"the request is approved and waiting"
tap_is "$(sql "SELECT model_id FROM mlops.deployed_models d JOIN mlops.projects p ON p.id = d.project_id WHERE p.name = 'gw'")" \
	"$v1" "the deployed model has not changed yet"

tap_is "$(wait_for "SELECT model_id FROM mlops.deployed_models d JOIN mlops.projects p ON p.id = d.project_id
                    WHERE p.name = 'gw'" "$v2" 30)" "$v2" "the worker deploys the approved model once the window opened"
tap_is "$(sql "SELECT (deployed_at AT TIME ZONE 'UTC')::time >= '$opens'::time OR '$opens'::time > '23:00'
               FROM mlops.deploy_requests WHERE id = $req")" t "not before the window opened"
tap_is "$(sql "SELECT r.deployed_at IS NOT NULL, d.deployed_by, d.strategy FROM mlops.deploy_requests r,
               mlops.deployed_models d JOIN mlops.projects p ON p.id = d.project_id WHERE p.name = 'gw' AND r.id = $req")" \
	"t|bob|specific" "the deployment is recorded as bob's, with the request's strategy"
tap_is "$(sql "SELECT actor, detail->>'request_id', detail->>'by' FROM mlops.events WHERE project = 'gw' AND action = 'deploy'
               ORDER BY id DESC LIMIT 1")" "bob|$req|worker" "the deploy event names the request and the worker"
tap_is "$(sql "SELECT string_agg(stage, ',' ORDER BY version) FROM mlops.model_stages WHERE project = 'gw'")" \
	"staging,production,none" "v2 is production, v1 back to staging"

# an approved request whose model is archived before the window opens expires
opens=$(sql "SELECT to_char((clock_timestamp() AT TIME ZONE 'UTC') + interval '3 seconds', 'HH24:MI:SS')")
sql "SET ROLE alice; SELECT mlops.set_policy('gw', jsonb_build_object('deploy_window',
     jsonb_build_object('from', '$opens', 'to', '$closes')))" >/dev/null
req=$(sql "SET ROLE alice; SELECT request_id FROM mlops.deploy('gw', 'specific', $v3)")
sql "SET client_min_messages = warning; SET ROLE bob; SELECT version FROM mlops.approve($req)" >/dev/null
sql "SET ROLE alice; SELECT mlops.set_stage($v3, 'archived')" >/dev/null
tap_is "$(wait_for "SELECT status FROM mlops.deploy_requests WHERE id = $req" expired 30)" expired \
	"an approved request whose model was archived meanwhile expires"
tap_is "$(sql "SELECT model_id FROM mlops.deployed_models d JOIN mlops.projects p ON p.id = d.project_id WHERE p.name = 'gw'")" \
	"$v2" "and deploys nothing"

tap_done
