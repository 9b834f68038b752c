#!/usr/bin/env bash
#
# test/integration/worker_search_path.sh: the workers run nothing a
# database's search_path points to
#
# A throwaway cluster with mlops preloaded.  A hostile non-superuser owns
# schema evil with shadows of the built-in operators, functions, aggregates,
# type names and casts (test/shadows.sql), and the database's owner sets
# search_path = evil, pg_catalog for the database, which the launcher (a
# superuser) and the job workers get when they connect.  hostile then has
# a retrain run every second and queues a training job.  Checks: the
# setting is live (a new session of hostile runs the shadows); the
# schedule and the job run; no shadow ran as another role than hostile;
# hostile is not a superuser.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'" \
	"mlops.scheduler_naptime = 100"

# this script's own sessions keep the default search_path
export PGOPTIONS="-c search_path=public"

sql "CREATE EXTENSION mlops;
     CREATE ROLE hostile LOGIN;
     CREATE SCHEMA evil AUTHORIZATION hostile" >/dev/null
mlops_psql -q -c "SET ROLE hostile" -f "$MLOPS_ROOT/test/shadows.sql" >/dev/null
sql "SET ROLE hostile;
     CREATE TABLE evil.data AS
     SELECT i, (i % 7)::float8 AS x1, (i % 5)::float8 AS x2, (2 * (i % 7) + (i % 5))::float8 AS y
       FROM generate_series(1, 80) AS i;
     SELECT model_id FROM mlops.train('evil_reg', 'evil.data', 'y', 'linear', exclude => '{i}')" >/dev/null

# the database's owner points search_path at evil; a new launcher connects with it
wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'" 1 >/dev/null
old_pid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'")
sql "ALTER DATABASE postgres SET search_path = evil, pg_catalog;
     SELECT pg_terminate_backend($old_pid)" >/dev/null
new_pid=$(wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mlops scheduler'
                    AND pid <> $old_pid" 1)
tap_is "$new_pid" 1 "a new launcher connected after the database's search_path changed"
tap_is "$(PGOPTIONS='' PGUSER=hostile sql "SHOW search_path; SELECT 2::bigint = 2::bigint;
                                         SELECT count(*) FROM evil.calls WHERE what = 'int8 = int8'")" \
	$'evil, pg_catalog\nt\n1' "the setting is live: a new session of hostile runs the shadowing operators"
sql "TRUNCATE evil.calls" >/dev/null

sql "SET ROLE hostile;
     SELECT mlops.schedule('evil_reg', '1 second', 'evil.data', '{\"retrain\": \"always\"}');
     SELECT mlops.train_async('evil_async', 'evil.data', 'y', 'linear', exclude => '{i}')" >/dev/null
tap_is "$(wait_for "SELECT status FROM mlops.jobs WHERE kind = 'train'" succeeded)" succeeded \
	"hostile's training job ran"
tap_is "$(wait_for "SELECT count(*) >= 2 FROM mlops.jobs WHERE kind = 'retrain' AND status = 'succeeded'" t)" t \
	"hostile's schedule queued retrain jobs that ran"
tap_is "$(sql "SELECT count(*) >= 3 FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id
               WHERE p.name = 'evil_reg'")" t "the retrain jobs registered their models"
tap_is "$(sql "SELECT coalesce(string_agg(DISTINCT format('%s as %s', what, who), ', '), 'none')
               FROM evil.calls WHERE who <> 'hostile'")" none \
	"no shadowing operator, function, aggregate or cast ran as another role than hostile"
tap_is "$(sql "SELECT rolsuper FROM pg_roles WHERE rolname = 'hostile'")" f "hostile is not a superuser"

tap_done
