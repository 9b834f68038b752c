/*-------------------------------------------------------------------------
 *
 * jobs_store.c
 *	  Jobs and schedules, the job store: the table access of the background
 *	  worker (worker.c), and the helpers the SQL entry points (jobs_sql.c)
 *	  share with it.
 *
 * A job is a row of mlops.jobs: its kind ("train", "tune" or "retrain"), its
 * arguments as jsonb, the role that submitted it, and its state: queued,
 * running, then succeeded, failed or canceled.  The launcher takes queued
 * jobs (oldest first) and marks them running before it starts their
 * workers; the job worker runs the job's SQL as the submitting role, with
 * the stored arguments passed as one SPI parameter, never pasted into the
 * statement, and records the result row (as jsonb) or the error.  Every
 * state change is also written to mlops.events.
 *
 * A schedule is a row of mlops.schedules; when it is due and its project
 * has no retrain job queued or running, the launcher queues a retrain job
 * as the role that created the schedule, and moves the next run one
 * interval on (from now, when runs were missed, so a server that was down
 * runs a missed schedule once).
 *
 * Only the extension's C code writes these tables, as the extension owner
 * (registry.c), after checking the caller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "ops/jobs_store.h"
#include "ops/jobs_internal.h"
#include "jsonutil.h"
#include "registry.h"

/* args->key as jsonb and as text ($1 is the job's arguments) */
#define JOBS_JSON(key) "$1 OPERATOR(pg_catalog.->) '" key "'"
#define JOBS_TEXT(key) "$1 OPERATOR(pg_catalog.->>) '" key "'"

/* a JSON array of the strings of args->key, or NULL when it is not an array */
#define JOBS_TEXT_ARRAY(key) \
	"CASE WHEN pg_catalog.jsonb_typeof(" JOBS_JSON(key) ") OPERATOR(pg_catalog.=) 'array' " \
	"THEN ARRAY(SELECT pg_catalog.jsonb_array_elements_text(" JOBS_JSON(key) ")) END"

/* the statement of each kind of job */
static const char *const train_sql =
"SELECT pg_catalog.to_jsonb(t) FROM mlops.train("
"project => " JOBS_TEXT("project") ", relation => " JOBS_TEXT("relation") ", "
"target => " JOBS_TEXT("target") ", algorithm => " JOBS_TEXT("algorithm") ", "
"task => " JOBS_TEXT("task") ", hyperparams => " JOBS_JSON("hyperparams") ", "
"preprocess => " JOBS_JSON("preprocess") ", "
"features => " JOBS_TEXT_ARRAY("features") ", exclude => " JOBS_TEXT_ARRAY("exclude") ", "
"test_size => (" JOBS_TEXT("test_size") ")::pg_catalog.float8, split => " JOBS_TEXT("split") ", "
"order_by => " JOBS_TEXT("order_by") ", seed => (" JOBS_TEXT("seed") ")::pg_catalog.int4, "
"deploy => " JOBS_TEXT("deploy") ", cv => (" JOBS_TEXT("cv") ")::pg_catalog.int4) t";

static const char *const tune_sql =
"SELECT pg_catalog.to_jsonb(t) FROM mlops.tune("
"project => " JOBS_TEXT("project") ", relation => " JOBS_TEXT("relation") ", "
"target => " JOBS_TEXT("target") ", algorithm => " JOBS_TEXT("algorithm") ", "
"search_space => CASE WHEN pg_catalog.jsonb_typeof(" JOBS_JSON("search_space") ") "
"OPERATOR(pg_catalog.<>) 'null' THEN " JOBS_JSON("search_space") " END, search => " JOBS_TEXT("search") ", "
"trials => (" JOBS_TEXT("trials") ")::pg_catalog.int4, cv => (" JOBS_TEXT("cv") ")::pg_catalog.int4, "
"metric => " JOBS_TEXT("metric") ", "
"task => " JOBS_TEXT("task") ", hyperparams => " JOBS_JSON("hyperparams") ", "
"preprocess => " JOBS_JSON("preprocess") ", "
"features => " JOBS_TEXT_ARRAY("features") ", exclude => " JOBS_TEXT_ARRAY("exclude") ", "
"test_size => (" JOBS_TEXT("test_size") ")::pg_catalog.float8, split => " JOBS_TEXT("split") ", "
"order_by => " JOBS_TEXT("order_by") ", seed => (" JOBS_TEXT("seed") ")::pg_catalog.int4, "
"deploy => " JOBS_TEXT("deploy") ") t";

static const char *const retrain_sql =
"SELECT pg_catalog.to_jsonb(t) FROM mlops.retrain("
"project => " JOBS_TEXT("project") ", relation => " JOBS_TEXT("relation") ", force => false, "
"policy => " JOBS_JSON("policy") ") t";

/*
 * Write a job's state change to mlops.events.  model_id is the model the
 * job made (0 for none); error and sqlerrcode describe a failure.
 */
void
JobsLogEvent(const char *status, int64 job_id, const char *kind, const char *project,
			 int64 model_id, const char *error, int sqlerrcode)
{
	StringInfoData detail;

	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"job_id\": " INT64_FORMAT ", \"kind\": ", job_id);
	JsonAppendString(&detail, kind);
	if (error != NULL)
	{
		appendStringInfoString(&detail, ", \"error\": ");
		JsonAppendString(&detail, error);
	}
	if (sqlerrcode != 0)
		appendStringInfo(&detail, ", \"sqlstate\": \"%s\"", unpack_sql_state(sqlerrcode));
	appendStringInfoChar(&detail, '}');
	RegistryLogEvent(psprintf("job_%s", status), project, model_id, detail.data);
}

/*
 * Are the extension and its job tables there?  The launcher waits quietly
 * until they are.
 */
bool
JobsTablesExist(void)
{
	return OidIsValid(get_extension_oid("mlops", true)) &&
		OidIsValid(RegistryTableOid("jobs")) &&
		OidIsValid(RegistryTableOid("schedules"));
}

/* a job row as returned by the RETURNING lists below */
typedef struct JobsRow
{
	int64		id;
	char	   *kind;
	char	   *project;
} JobsRow;

/*
 * Copy the (id, kind, project) rows of the last SPI result.
 */
static JobsRow *
JobsCopyRows(MemoryContext cxt, int *nrows)
{
	JobsRow    *rows = MemoryContextAlloc(cxt, sizeof(JobsRow) * Max(1, SPI_processed));

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		rows[r].id = RegistryResultInt64(r, "id");
		rows[r].kind = RegistryResultText(r, "kind", cxt);
		rows[r].project = RegistryResultText(r, "project", cxt);
	}
	*nrows = (int) SPI_processed;
	return rows;
}

/*
 * Mark jobs of a status ("queued" or "running") failed with an error:
 * those in ids (only_these), or all but those.
 */
static void
JobsFail(const int64 *ids, int nids, bool only_these, const char *status, const char *error)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[4] = {INT8ARRAYOID, TEXTOID, BOOLOID, TEXTOID};
	Datum		values[4];
	Datum	   *elems = palloc(sizeof(Datum) * Max(1, nids));
	JobsRow    *rows;
	int			nrows;

	for (int i = 0; i < nids; i++)
		elems[i] = Int64GetDatum(ids[i]);
	values[0] = PointerGetDatum(construct_array(elems, nids, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = CStringGetTextDatum(error);
	values[2] = BoolGetDatum(only_these);
	values[3] = CStringGetTextDatum(status);
	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.jobs SET status = 'failed', error = $2, "
						 "finished_at = pg_catalog.clock_timestamp() "
						 "WHERE status OPERATOR(pg_catalog.=) $4 "
						 "AND (id OPERATOR(pg_catalog.=) ANY ($1)) OPERATOR(pg_catalog.=) $3 "
						 "RETURNING id, kind, project",
						 4, types, values, NULL);
	rows = JobsCopyRows(cxt, &nrows);
	SPI_finish();
	for (int r = 0; r < nrows; r++)
		JobsLogEvent("failed", rows[r].id, rows[r].kind, rows[r].project, 0, error, 0);
}

/*
 * Mark running jobs failed with an error: those in ids (only_these), or
 * all but those (after a restart: the jobs no worker holds).
 */
void
JobsFailRunning(const int64 *ids, int nids, bool only_these, const char *error)
{
	JobsFail(ids, nids, only_these, "running", error);
}

/*
 * Remove the schedules of dropped projects, then queue a retrain job for
 * every due schedule whose project has no retrain job queued or running,
 * and move those schedules on by one interval (from now when runs were
 * missed).
 */
void
JobsQueueDueSchedules(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	JobsRow    *rows;
	int			nrows;
	int64	   *schedule_ids;

	SPI_connect();
	RegistryWriteAsOwner("DELETE FROM mlops.schedules s WHERE NOT EXISTS "
						 "(SELECT 1 FROM mlops.projects p WHERE p.name OPERATOR(pg_catalog.=) s.project) "
						 "RETURNING s.id, 'retrain' AS kind, s.project",
						 0, NULL, NULL, NULL);
	rows = JobsCopyRows(cxt, &nrows);
	SPI_finish();
	for (int r = 0; r < nrows; r++)
		RegistryLogEvent("schedule_removed", rows[r].project, 0,
						 psprintf("{\"schedule_id\": " INT64_FORMAT ", \"reason\": \"the project was dropped\"}",
								  rows[r].id));

	SPI_connect();
	RegistryWriteAsOwner("WITH due AS ("
						 " SELECT s.id FROM mlops.schedules s"
						 " WHERE s.next_run_at OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp()"
						 " AND NOT EXISTS"
						 " (SELECT 1 FROM mlops.jobs j WHERE j.project OPERATOR(pg_catalog.=) s.project"
						 "  AND j.kind OPERATOR(pg_catalog.=) 'retrain'"
						 "  AND j.status OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'running']))"
						 " ORDER BY s.id FOR UPDATE OF s SKIP LOCKED),"
						 " queued AS ("
						 " INSERT INTO mlops.jobs (kind, project, args, schedule_id, submitted_by)"
						 " SELECT 'retrain', s.project, pg_catalog.jsonb_build_object("
						 "  'project', s.project, 'relation', s.relation, 'policy', s.policy),"
						 "  s.id, s.created_by"
						 " FROM mlops.schedules s JOIN due ON due.id OPERATOR(pg_catalog.=) s.id"
						 " RETURNING id, project, schedule_id)"
						 " UPDATE mlops.schedules s SET last_job_id = q.id,"
						 " last_run_at = pg_catalog.clock_timestamp(),"
						 " next_run_at = CASE WHEN (s.next_run_at OPERATOR(pg_catalog.+) s.every)"
						 "  OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp()"
						 "  THEN s.next_run_at OPERATOR(pg_catalog.+) s.every"
						 "  ELSE pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) s.every END"
						 " FROM queued q WHERE s.id OPERATOR(pg_catalog.=) q.schedule_id"
						 " RETURNING q.id, 'retrain' AS kind, q.project, s.id AS schedule_id",
						 0, NULL, NULL, NULL);
	rows = JobsCopyRows(cxt, &nrows);
	schedule_ids = palloc(sizeof(int64) * Max(1, nrows));
	for (int r = 0; r < nrows; r++)
		schedule_ids[r] = RegistryResultInt64(r, "schedule_id");
	SPI_finish();
	for (int r = 0; r < nrows; r++)
		RegistryLogEvent("job_queued", rows[r].project, 0,
						 psprintf("{\"job_id\": " INT64_FORMAT ", \"kind\": \"retrain\", "
								  "\"schedule_id\": " INT64_FORMAT "}",
								  rows[r].id, schedule_ids[r]));
}

/*
 * Milliseconds until the next schedule is due (whose project has no
 * retrain job queued or running), at most max_ms.
 */
long
JobsNextScheduleWait(long max_ms)
{
	double		wait = (double) max_ms;

	SPI_connect();
	if (SPI_execute("SELECT pg_catalog.date_part('epoch', pg_catalog.min(s.next_run_at)"
					" OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000"
					" FROM mlops.schedules s WHERE NOT EXISTS"
					" (SELECT 1 FROM mlops.jobs j WHERE j.project OPERATOR(pg_catalog.=) s.project"
					"  AND j.kind OPERATOR(pg_catalog.=) 'retrain'"
					"  AND j.status OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'running']))",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read mlops.schedules");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			wait = Min(wait, DatumGetFloat8(d));
	}
	SPI_finish();
	/* a due schedule that could not be queued (locked) is retried soon, not in a busy loop */
	return (long) Max(wait, (double) Min(max_ms, 100));
}

/*
 * Take up to limit queued jobs, oldest first, and mark them running.  A
 * job whose role no longer exists, may not log in or may not connect to the
 * database fails at once (a worker could not connect as that role).
 * Returns the number of jobs taken; *jobs lists them.
 */
int
JobsTakeQueued(int limit, JobsQueued **jobs)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(limit)};
	JobsQueued *taken;
	int64	   *failed_ids;
	char	  **problems;
	int			ntaken = 0;
	int			nfailed = 0;
	int			nrows;
	Datum	   *elems;

	SPI_connect();
	RegistryWriteAsOwner("SELECT j.id, r.rolname, j.submitted_by::pg_catalog.oid AS submitted_by, r.rolcanlogin, "
						 "r.oid IS NULL OR pg_catalog.has_database_privilege(r.oid, "
						 "pg_catalog.current_database(), 'CONNECT') AS can_connect "
						 "FROM mlops.jobs j LEFT JOIN pg_catalog.pg_roles r "
						 "ON r.oid OPERATOR(pg_catalog.=) j.submitted_by::pg_catalog.oid "
						 "WHERE j.status OPERATOR(pg_catalog.=) 'queued' ORDER BY j.id LIMIT $1 FOR UPDATE OF j SKIP LOCKED",
						 1, types, values, NULL);
	nrows = (int) SPI_processed;
	taken = MemoryContextAlloc(cxt, sizeof(JobsQueued) * Max(1, nrows));
	failed_ids = palloc(sizeof(int64) * Max(1, nrows));
	problems = palloc(sizeof(char *) * Max(1, nrows));
	for (int r = 0; r < nrows; r++)
	{
		char	   *role = RegistryResultText(r, "rolname", cxt);
		bool		no_role = (role == NULL);
		bool		isnull;
		Oid			roleoid = RegistryResultOid(r, "submitted_by");
		bool		can_login = !no_role && DatumGetBool(RegistryResultDatum(r, "rolcanlogin", &isnull));
		bool		can_connect = DatumGetBool(RegistryResultDatum(r, "can_connect", &isnull));
		char	   *problem = NULL;

		if (no_role)
			problem = psprintf("the role that submitted the job (OID %u) no longer exists", roleoid);
		else if (!can_login)
			problem = psprintf("role \"%s\" cannot run jobs: it is not permitted to log in", role);
		else if (!can_connect)
			problem = psprintf("role \"%s\" cannot run jobs: it has no CONNECT privilege on database \"%s\"",
							   role, get_database_name(MyDatabaseId));
		if (problem != NULL)
		{
			failed_ids[nfailed] = RegistryResultInt64(r, "id");
			problems[nfailed++] = MemoryContextStrdup(cxt, problem);
			continue;
		}
		taken[ntaken].id = RegistryResultInt64(r, "id");
		taken[ntaken++].roleoid = roleoid;
	}

	elems = palloc(sizeof(Datum) * Max(1, ntaken));
	for (int i = 0; i < ntaken; i++)
		elems[i] = Int64GetDatum(taken[i].id);
	values[0] = PointerGetDatum(construct_array(elems, ntaken, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	types[0] = INT8ARRAYOID;
	RegistryWriteAsOwner("UPDATE mlops.jobs SET status = 'running', "
						 "started_at = pg_catalog.clock_timestamp() WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
						 1, types, values, NULL);
	SPI_finish();
	for (int i = 0; i < nfailed; i++)
		JobsFail(&failed_ids[i], 1, true, "queued", problems[i]);
	*jobs = taken;
	return ntaken;
}

/*
 * Put a job the launcher could not start back in the queue.
 */
void
JobsRequeue(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};

	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.jobs SET status = 'queued', started_at = NULL "
						 "WHERE id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'running'",
						 1, types, values, NULL);
	SPI_finish();
}

/*
 * The job worker starts its job: records its PID and reads the job's kind
 * and arguments.  False when the job is no longer running (it was
 * canceled before the worker got to it).
 */
bool
JobsStart(int64 job_id, char **kind, Jsonb **args)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(job_id), Int32GetDatum(MyProcPid)};
	char	   *project = NULL;

	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.jobs SET pid = $2 "
						 "WHERE id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'running' "
						 "RETURNING kind, project, args",
						 2, types, values, NULL);
	if (SPI_processed == 1)
	{
		*kind = RegistryResultText(0, "kind", cxt);
		project = RegistryResultText(0, "project", cxt);
		*args = RegistryResultJsonb(0, "args", cxt);
	}
	SPI_finish();
	if (project == NULL)
		return false;
	RegistryLogEvent("job_started", project, 0,
					 psprintf("{\"job_id\": " INT64_FORMAT ", \"kind\": \"%s\", \"pid\": %d}",
							  job_id, *kind, MyProcPid));
	return true;
}

/*
 * Run a job's statement as the current (submitting) role; returns its
 * result row as jsonb (NULL when it returned no row).
 */
Jsonb *
JobsRun(const char *kind, Jsonb *args)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[1] = {JSONBOID};
	Datum		values[1] = {JsonbPGetDatum(args)};
	const char *sql;
	Jsonb	   *result = NULL;
	int			rc;

	if (strcmp(kind, "train") == 0)
		sql = train_sql;
	else if (strcmp(kind, "retrain") == 0)
		sql = retrain_sql;
	else if (strcmp(kind, "tune") == 0)
		sql = tune_sql;
	else
		elog(ERROR, "unknown job kind \"%s\"", kind);

	SPI_connect();
	rc = SPI_execute_with_args(sql, 1, types, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	if (SPI_processed >= 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			result = DatumGetJsonbPCopy(d);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	return result;
}

/*
 * Record how a running job ended: status "succeeded" with its result, or
 * "failed" or "canceled" with the error.  The model the job made (train:
 * model_id, retrain: new_model_id) is named in the event.
 */
void
JobsFinish(int64 job_id, const char *status, Jsonb *result, const char *error,
		   int sqlerrcode)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[4] = {INT8OID, TEXTOID, JSONBOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	JobsRow    *rows;
	int			nrows;
	int64		model_id = 0;

	values[0] = Int64GetDatum(job_id);
	values[1] = CStringGetTextDatum(status);
	values[2] = result ? JsonbPGetDatum(result) : (Datum) 0;
	nulls[2] = result ? ' ' : 'n';
	values[3] = error ? CStringGetTextDatum(error) : (Datum) 0;
	nulls[3] = error ? ' ' : 'n';
	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.jobs SET status = $2, result = $3, error = $4, "
						 "finished_at = pg_catalog.clock_timestamp() "
						 "WHERE id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'running' "
						 "RETURNING id, kind, project",
						 4, types, values, nulls);
	rows = JobsCopyRows(cxt, &nrows);
	SPI_finish();
	if (nrows == 0)
		return;

	if (result != NULL)
	{
		JsonbValue *v = JsonGet(&result->root, "model_id");
		double		d;

		if (v == NULL)
			v = JsonGet(&result->root, "new_model_id");
		if (v != NULL && JsonValueNumber(v, &d))
			model_id = (int64) d;
	}
	JobsLogEvent(status, job_id, rows[0].kind, rows[0].project, model_id, error, sqlerrcode);
}
