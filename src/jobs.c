/*-------------------------------------------------------------------------
 *
 * jobs.c
 *	  Jobs and schedules: mlops.train_async, mlops.cancel_job,
 *	  mlops.schedule and mlops.unschedule, and the table access of the
 *	  background worker (worker.c).
 *
 * A job is a row of mlops.jobs: its kind ("train" or "retrain"), its
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

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "dataset.h"
#include "jobs.h"
#include "jsonutil.h"
#include "policy.h"
#include "progress.h"
#include "privileges.h"
#include "registry.h"
#include "retrain.h"
#include "train.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(mlops_train_async);
PG_FUNCTION_INFO_V1(mlops_cancel_job);
PG_FUNCTION_INFO_V1(mlops_schedule);
PG_FUNCTION_INFO_V1(mlops_unschedule);

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

static const char *const retrain_sql =
"SELECT pg_catalog.to_jsonb(t) FROM mlops.retrain("
"project => " JOBS_TEXT("project") ", relation => " JOBS_TEXT("relation") ", force => false, "
"policy => " JOBS_JSON("policy") ") t";

/* the kinds of the parameters of mlops.train, in order */
typedef enum TrainArgKind
{
	ARG_TEXT,
	ARG_JSONB,
	ARG_TEXT_ARRAY,
	ARG_FLOAT8,
	ARG_INT4
} TrainArgKind;

typedef struct TrainArg
{
	const char *name;
	TrainArgKind kind;
} TrainArg;

static const TrainArg train_args[] = {
	{"project", ARG_TEXT},
	{"relation", ARG_TEXT},
	{"target", ARG_TEXT},
	{"algorithm", ARG_TEXT},
	{"task", ARG_TEXT},
	{"hyperparams", ARG_JSONB},
	{"preprocess", ARG_JSONB},
	{"features", ARG_TEXT_ARRAY},
	{"exclude", ARG_TEXT_ARRAY},
	{"test_size", ARG_FLOAT8},
	{"split", ARG_TEXT},
	{"order_by", ARG_TEXT},
	{"seed", ARG_INT4},
	{"deploy", ARG_TEXT},
	{"cv", ARG_INT4},
};

/* wake the launcher when the current transaction commits */
static bool wake_at_commit = false;
static bool wake_callback_registered = false;

/*
 * Transaction callback: wake the launcher after a commit that queued a job
 * or changed a schedule (before the commit it could not see them).
 */
static void
JobsXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (wake_at_commit)
				ProgressWakeLauncher();
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * Have the launcher look at the jobs and schedules as soon as this
 * transaction commits.
 */
static void
JobsWakeAtCommit(void)
{
	if (!wake_callback_registered)
	{
		RegisterXactCallback(JobsXactCallback, NULL);
		wake_callback_registered = true;
	}
	wake_at_commit = true;
}

/*
 * Warn when no background worker serves this database: the row is kept,
 * but nothing will run it until one does.
 */
static void
JobsWarnIfNoWorker(const char *what)
{
	char	   *dbname = get_database_name(MyDatabaseId);

	if (WorkerServesDatabase(dbname))
		return;
	ereport(WARNING,
			(errmsg("the mlops background worker is not running for database \"%s\"", dbname),
			 errdetail("The %s is recorded, but nothing runs it until the worker does.", what),
			 errhint("Add mlops to shared_preload_libraries, set mlops.database to \"%s\" and restart the server.",
					 dbname)));
}

/*
 * Fetch an int8 column of row "row" of the last SPI result (0 for NULL).
 */
static int64
JobsResultInt64(uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Copy a text column of row "row" of the last SPI result into cxt (NULL
 * stays NULL).
 */
static char *
JobsResultText(uint64 row, int col, MemoryContext cxt)
{
	char	   *s = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	return s ? MemoryContextStrdup(cxt, s) : NULL;
}

/*
 * The current user, as a regrole Datum.
 */
static Datum
JobsCurrentUser(void)
{
	return ObjectIdGetDatum(GetUserId());
}

/*
 * Write a job's state change to mlops.events.  model_id is the model the
 * job made (0 for none); error and sqlerrcode describe a failure.
 */
static void
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
 * Append a text[] as a JSON array (NULL elements as null).
 */
static void
JobsAppendTextArray(StringInfo buf, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		if (nulls[i])
			appendStringInfoString(buf, "null");
		else
			JsonAppendString(buf, TextDatumGetCString(elems[i]));
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Append argument i of mlops.train_async as a JSON value; the relation
 * (argument 1) as resolved.  Non-finite floats are written as strings,
 * which the job casts back to float8.
 */
static void
JobsAppendTrainArg(StringInfo buf, FunctionCallInfo fcinfo, int i, const char *relation)
{
	const TrainArg *arg = &train_args[i];

	if (PG_ARGISNULL(i))
	{
		appendStringInfoString(buf, "null");
		return;
	}
	switch (arg->kind)
	{
		case ARG_TEXT:
			JsonAppendString(buf, i == 1 ? relation : text_to_cstring(PG_GETARG_TEXT_PP(i)));
			break;
		case ARG_JSONB:
			{
				Jsonb	   *jb = PG_GETARG_JSONB_P(i);

				appendStringInfoString(buf, JsonbToCString(NULL, &jb->root, VARSIZE(jb)));
				break;
			}
		case ARG_TEXT_ARRAY:
			JobsAppendTextArray(buf, PG_GETARG_ARRAYTYPE_P(i));
			break;
		case ARG_FLOAT8:
			{
				double		d = PG_GETARG_FLOAT8(i);

				if (isfinite(d))
					JsonAppendDouble(buf, d);
				else
					JsonAppendString(buf, float8out_internal(d));
				break;
			}
		case ARG_INT4:
			appendStringInfo(buf, "%d", PG_GETARG_INT32(i));
			break;
	}
}

/*
 * mlops.train_async(<the parameters of mlops.train>): queue a training job
 * and return its id.  Every argument is checked now, as mlops.train checks
 * it before reading a row (TrainCheck); the relation is stored
 * schema-qualified so the job finds it whatever its search_path.  Only
 * what depends on the rows fails the job.
 */
Datum
mlops_train_async(PG_FUNCTION_ARGS)
{
	TrainRequest req = {0};
	TrainPlan	plan;
	char	   *project;
	char	   *relation;
	StringInfoData args;
	Oid			types[3] = {TEXTOID, JSONBOID, REGROLEOID};
	Datum		values[3];
	int64		job_id;

	TrainRequestFromArgs(fcinfo, &req);
	TrainCheck(&req, &plan);
	project = req.project;
	relation = plan.relname;

	initStringInfo(&args);
	appendStringInfoChar(&args, '{');
	for (int i = 0; i < lengthof(train_args); i++)
	{
		JsonAppendKey(&args, train_args[i].name, i == 0);
		JobsAppendTrainArg(&args, fcinfo, i, relation);
	}
	appendStringInfoChar(&args, '}');

	values[0] = CStringGetTextDatum(project);
	values[1] = JsonbPGetDatum(JsonFromText(&args));
	values[2] = JobsCurrentUser();
	SPI_connect();
	RegistryWriteAsOwner("INSERT INTO mlops.jobs (kind, project, args, submitted_by) "
						 "VALUES ('train', $1, $2, $3) RETURNING id",
						 3, types, values, NULL);
	job_id = JobsResultInt64(0, 1);
	SPI_finish();

	JobsLogEvent("queued", job_id, "train", project, 0, NULL, 0);
	JobsWakeAtCommit();
	JobsWarnIfNoWorker("job");
	PG_RETURN_INT64(job_id);
}

/*
 * May the current user act on something a role (by OID) submitted or
 * created?  Members of the role and superusers may.
 */
static bool
JobsMayActFor(Oid roleid)
{
	return superuser() || (OidIsValid(roleid) && has_privs_of_role(GetUserId(), roleid));
}

/*
 * A role's name for a message, or its OID when it no longer exists.
 */
static char *
JobsRoleName(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return name ? name : psprintf("with OID %u", roleid);
}

/*
 * Fetch an OID (or regrole) from column col of row "row" of the last SPI
 * result.
 */
static Oid
JobsResultOid(uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * mlops.cancel_job(job_id): cancel a queued job, or ask a running job's
 * worker to stop (it records "canceled" when it does).  Returns false, with
 * a notice, for a job that already finished.
 */
Datum
mlops_cancel_job(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64		job_id = PG_GETARG_INT64(0);
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	char	   *status;
	Oid			submitted_by;
	char	   *kind;
	char	   *project;
	RegistryProject *proj;
	const char *error;

	values[0] = Int64GetDatum(job_id);
	SPI_connect();
	RegistryWriteAsOwner("SELECT j.status, j.submitted_by, j.kind, j.project FROM mlops.jobs j "
						 "WHERE j.id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
						 1, types, values, NULL);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job " INT64_FORMAT " does not exist", job_id)));
	status = JobsResultText(0, 1, cxt);
	submitted_by = JobsResultOid(0, 2);
	kind = JobsResultText(0, 3, cxt);
	project = JobsResultText(0, 4, cxt);

	proj = RegistryGetProject(project, true);
	if (!JobsMayActFor(submitted_by) && (proj == NULL || !PrivilegeHeld(proj->id, PRIV_ADMIN)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to cancel job " INT64_FORMAT, job_id),
				 errdetail("Only members of the role that submitted the job (%s) and admins of its project may cancel it.",
						   JobsRoleName(submitted_by))));

	if (strcmp(status, "queued") == 0)
		error = "canceled before it started";
	else if (strcmp(status, "running") == 0)
	{
		/* a worker holds the job: it stops at its next interrupt check */
		if (ProgressRequestCancel(job_id))
		{
			SPI_finish();
			PG_RETURN_BOOL(true);
		}
		/* no worker holds it any more: nothing is left to stop */
		error = "canceled while running";
	}
	else
	{
		SPI_finish();
		ereport(NOTICE,
				(errmsg("job " INT64_FORMAT " already finished with status \"%s\"", job_id, status)));
		PG_RETURN_BOOL(false);
	}

	values[1] = CStringGetTextDatum(error);
	RegistryWriteAsOwner("UPDATE mlops.jobs SET status = 'canceled', error = $2, "
						 "finished_at = pg_catalog.clock_timestamp() WHERE id OPERATOR(pg_catalog.=) $1",
						 2, types, values, NULL);
	SPI_finish();
	JobsLogEvent("canceled", job_id, kind, project, 0, error, 0);
	PG_RETURN_BOOL(true);
}

/*
 * mlops.schedule(project, every, relation, policy): retrain the project
 * every interval, as the calling role, with the policy; returns the
 * schedule's id.  A project has one schedule: scheduling it again replaces
 * the settings and restarts the interval.  The policy, and the project's
 * retraining settings against the relation, are checked now, so that a
 * schedule that cannot run is refused rather than failing every run.
 */
Datum
mlops_schedule(PG_FUNCTION_ARGS)
{
	char	   *project;
	Interval   *every;
	Interval	zero = {0};
	char	   *relation = NULL;
	Jsonb	   *policy;
	Policy		parsed;
	RegistryProject *proj;
	Oid			types[6] = {TEXTOID, INTERVALOID, TEXTOID, JSONBOID, REGROLEOID, INT8OID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int64		id;
	bool		created;
	char	   *old_every = NULL;
	char	   *old_relation = NULL;
	MemoryContext outer = CurrentMemoryContext;
	StringInfoData detail;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and every must not be NULL")));
	project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	every = PG_GETARG_INTERVAL_P(1);
	if (!DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(every),
										  IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule interval must be positive"),
				 errdetail("The interval given is \"%s\".",
						   DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(every))))));
	policy = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	PolicyParse(policy, &parsed);
	proj = RegistryGetProject(project, false);
	PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	if (parsed.deploy)
		PrivilegeCheck(proj->id, proj->name, PRIV_DEPLOY);
	if (!PG_ARGISNULL(2))
		DatasetResolveRelation(text_to_cstring(PG_GETARG_TEXT_PP(2)), &relation);
	RetrainCheckSettings(proj, relation);

	values[0] = CStringGetTextDatum(project);
	values[1] = IntervalPGetDatum(every);
	values[2] = relation ? CStringGetTextDatum(relation) : (Datum) 0;
	nulls[2] = relation ? ' ' : 'n';
	values[3] = policy ? JsonbPGetDatum(policy) : DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	values[4] = JobsCurrentUser();
	SPI_connect();
	RegistryWriteAsOwner("SELECT id, every::pg_catalog.text, relation FROM mlops.schedules "
						 "WHERE project OPERATOR(pg_catalog.=) $1 FOR UPDATE",
						 1, types, values, nulls);
	created = (SPI_processed == 0);
	if (!created)
	{
		/* what the replaced schedule did, for the notice */
		old_every = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 2));
		old_relation = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
		if (old_relation != NULL)
			old_relation = MemoryContextStrdup(outer, old_relation);
	}
	if (created)
		RegistryWriteAsOwner("INSERT INTO mlops.schedules (project, every, relation, policy, "
							 "next_run_at, created_by) "
							 "VALUES ($1, $2, $3, $4, pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $2, $5) "
							 "RETURNING id",
							 5, types, values, nulls);
	else
	{
		values[5] = Int64GetDatum(JobsResultInt64(0, 1));
		RegistryWriteAsOwner("UPDATE mlops.schedules SET every = $2, relation = $3, policy = $4, "
							 "next_run_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $2, created_by = $5, "
							 "created_at = pg_catalog.now() WHERE id OPERATOR(pg_catalog.=) $6 RETURNING id",
							 6, types, values, nulls);
	}
	id = JobsResultInt64(0, 1);
	SPI_finish();

	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"schedule_id\": " INT64_FORMAT ", \"every\": ", id);
	JsonAppendString(&detail, DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(every))));
	appendStringInfoString(&detail, ", \"relation\": ");
	if (relation)
		JsonAppendString(&detail, relation);
	else
		appendStringInfoString(&detail, "null");
	appendStringInfoString(&detail, ", \"policy\": ");
	PolicyToJson(&parsed, &detail);
	appendStringInfoChar(&detail, '}');
	RegistryLogEvent(created ? "schedule_created" : "schedule_updated", project, 0, detail.data);
	if (!created)
		ereport(NOTICE,
				(errmsg("replaced the schedule of project \"%s\"", project),
				 errdetail("It ran every %s on %s; it now runs every %s on %s.",
						   old_every, old_relation ? old_relation : "the last training run's relation",
						   DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(every))),
						   relation ? relation : "the last training run's relation"),
				 errhint("A project has one schedule; mlops.unschedule() removes it.")));

	JobsWakeAtCommit();
	JobsWarnIfNoWorker("schedule");
	PG_RETURN_INT64(id);
}

/*
 * mlops.unschedule(project): remove the project's schedule; false when it
 * has none.  Jobs it already queued still run.
 */
Datum
mlops_unschedule(PG_FUNCTION_ARGS)
{
	char	   *project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	RegistryProject *proj;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int64		id;
	Oid			created_by;

	values[0] = CStringGetTextDatum(project);
	SPI_connect();
	RegistryWriteAsOwner("SELECT s.id, s.created_by FROM mlops.schedules s "
						 "WHERE s.project OPERATOR(pg_catalog.=) $1 FOR UPDATE",
						 1, types, values, NULL);
	if (SPI_processed == 0)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	id = JobsResultInt64(0, 1);
	created_by = JobsResultOid(0, 2);

	/* train on the project may; so may the schedule's creator if the project is gone */
	proj = RegistryGetProject(project, true);
	if (proj != NULL)
		PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	else if (!JobsMayActFor(created_by))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to remove the schedule of project \"%s\"", project),
				 errdetail("Only members of the role that created the schedule (%s) may remove it.",
						   JobsRoleName(created_by))));

	RegistryWriteAsOwner("DELETE FROM mlops.schedules WHERE project OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	SPI_finish();
	RegistryLogEvent("schedule_removed", project, 0,
					 psprintf("{\"schedule_id\": " INT64_FORMAT "}", id));
	PG_RETURN_BOOL(true);
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
		rows[r].id = JobsResultInt64(r, 1);
		rows[r].kind = JobsResultText(r, 2, cxt);
		rows[r].project = JobsResultText(r, 3, cxt);
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
						 "RETURNING s.id, 'retrain', s.project",
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
						 " RETURNING q.id, 'retrain', q.project, s.id",
						 0, NULL, NULL, NULL);
	rows = JobsCopyRows(cxt, &nrows);
	schedule_ids = palloc(sizeof(int64) * Max(1, nrows));
	for (int r = 0; r < nrows; r++)
		schedule_ids[r] = JobsResultInt64(r, 4);
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
	RegistryWriteAsOwner("SELECT j.id, r.rolname, j.submitted_by::pg_catalog.oid, r.rolcanlogin, "
						 "r.oid IS NULL OR pg_catalog.has_database_privilege(r.oid, "
						 "pg_catalog.current_database(), 'CONNECT') "
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
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *role = JobsResultText(r, 2, cxt);
		bool		no_role = (role == NULL);
		bool		isnull;
		Oid			roleoid = JobsResultOid(r, 3);
		bool		can_login = !no_role && DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		bool		can_connect = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
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
			failed_ids[nfailed] = JobsResultInt64(r, 1);
			problems[nfailed++] = MemoryContextStrdup(cxt, problem);
			continue;
		}
		taken[ntaken].id = JobsResultInt64(r, 1);
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
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		MemoryContext old;

		*kind = JobsResultText(0, 1, cxt);
		project = JobsResultText(0, 2, cxt);
		old = MemoryContextSwitchTo(cxt);
		*args = DatumGetJsonbPCopy(d);
		MemoryContextSwitchTo(old);
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
