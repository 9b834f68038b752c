#!/usr/bin/env bash
#
# test/integration/role_oids.sh: projects, jobs and schedules remember roles
# by OID
#
# A throwaway cluster with mlops preloaded.  Role r creates a project,
# queues a training job and a one-second schedule; in the same transaction
# r is dropped and a new role r is created.  Checks: the project's owner is
# the old role's OID, not the new r; the new r gets permission denied on
# the project (train, train_async, deploy, drop, schedule, unschedule); the
# queued job and the schedule's retrain job fail with a clear reason and
# never run as the new r.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" \
	"mlops.scheduler_naptime = 100" "synchronous_commit = on"

sql "CREATE EXTENSION mlops" >/dev/null
sql "SELECT setseed(0.25);
     CREATE TABLE small AS SELECT i AS id, a, b, (a + b > 1)::int AS y
       FROM (SELECT i, random() AS a, random() AS b FROM generate_series(1, 200) i) s;
     GRANT SELECT ON small TO PUBLIC;
     CREATE ROLE r LOGIN" >/dev/null

old=$(sql "SELECT 'r'::regrole::oid")
sql "SET ROLE r; SELECT version FROM mlops.train('rp', 'small', 'y', algorithm => 'logistic', exclude => '{id}')" >/dev/null
tap_is "$(sql "SELECT created_by::oid FROM mlops.projects WHERE name = 'rp'")" "$old" \
	"the project records its creator's OID"

# r queues a job and a schedule, and is replaced by a new r before they run
job=$(sql "BEGIN;
	SET LOCAL ROLE r;
	WITH s AS (SELECT mlops.schedule('rp', '1 second'))
	SELECT mlops.train_async('rp', 'small', 'y', algorithm => 'logistic', exclude => '{id}') FROM s;
	RESET ROLE;
	DROP ROLE r;
	CREATE ROLE r LOGIN;
	COMMIT;")
new=$(sql "SELECT 'r'::regrole::oid")
tap_ok "$((old != new ? 0 : 1))" "the new role r has another OID"
tap_is "$(sql "SELECT created_by::oid || ' ' || (created_by::text = 'r')
               FROM mlops.projects WHERE name = 'rp'")" "$old false" \
	"the project still belongs to the dropped role's OID, which is not shown as r"
tap_is "$(sql "SELECT submitted_by::oid FROM mlops.jobs WHERE id = $job")" "$old" \
	"the job records its submitter's OID"

tap_is "$(wait_for "SELECT status FROM mlops.jobs WHERE id = $job" failed)" failed \
	"the dropped role's queued job fails"
tap_is "$(sql "SELECT error FROM mlops.jobs WHERE id = $job")" \
	"the role that submitted the job (OID $old) no longer exists" "with a clear reason"
tap_is "$(sql "SELECT count(*) FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
               WHERE p.name = 'rp'")" 1 "and trains nothing"

tap_is "$(wait_for "SELECT status FROM mlops.jobs WHERE project = 'rp' AND kind = 'retrain'
                    ORDER BY id LIMIT 1" failed)" failed \
	"the schedule's retrain job, queued as the dropped role, fails"
tap_is "$(sql "SELECT submitted_by::oid || ' ' || error FROM mlops.jobs WHERE project = 'rp' AND kind = 'retrain'
               ORDER BY id LIMIT 1")" "$old the role that submitted the job (OID $old) no longer exists" \
	"for the same reason"
tap_is "$(sql "SELECT count(*) FROM mlops.events WHERE project = 'rp' AND actor = 'r'::regrole")" 0 \
	"no event of the project is attributed to the new r"

# The new r has no right on the old r's project
for call in "SELECT mlops.train('rp', 'small', 'y', algorithm => 'logistic', exclude => '{id}')" \
	"SELECT mlops.train_async('rp', 'small', 'y')" \
	"SELECT mlops.deploy('rp', 'most_recent')" \
	"SELECT mlops.schedule('rp', '1 day')" \
	"SELECT mlops.unschedule('rp')" \
	"SELECT mlops.drop_project('rp')"; do
	tap_like "$(sql_err "SET ROLE r; $call")" 'ERROR:  permission denied for project "rp"' \
		"the new r: ${call%%(*} is refused"
done
tap_is "$(sql "SELECT count(*) FROM mlops.projects WHERE name = 'rp'")" 1 "the project is still there"

tap_done
