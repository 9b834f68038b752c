/*-------------------------------------------------------------------------
 *
 * jobs_sql.c
 *	  Jobs and schedules, the SQL entry points: mlops.train_async,
 *	  mlops.cancel_job, mlops.schedule and mlops.unschedule.
 *
 * Each checks its arguments and the caller now, so that a job or schedule
 * that cannot run is refused rather than failing later, writes the row of
 * mlops.jobs or mlops.schedules as the extension owner (registry.c), and
 * wakes the launcher (worker.c) when the transaction commits.  What a job
 * and a schedule are, and the table access of the background worker, are
 * in jobs_store.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
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

#include "train/dataset.h"
#include "ops/jobs_store.h"
#include "ops/jobs_internal.h"
#include "jsonutil.h"
#include "ops/policy.h"
#include "ops/progress.h"
#include "privileges.h"
#include "registry.h"
#include "ops/retrain.h"
#include "train/train.h"
#include "train/tune.h"
#include "ops/worker.h"

PG_FUNCTION_INFO_V1(mlops_train_async);
PG_FUNCTION_INFO_V1(mlops_tune_async);
PG_FUNCTION_INFO_V1(mlops_cancel_job);
PG_FUNCTION_INFO_V1(mlops_schedule);
PG_FUNCTION_INFO_V1(mlops_unschedule);

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

/* the parameters of mlops.tune, in order */
static const TrainArg tune_args[] = {
	{"project", ARG_TEXT},
	{"relation", ARG_TEXT},
	{"target", ARG_TEXT},
	{"algorithm", ARG_TEXT},
	{"search_space", ARG_JSONB},
	{"search", ARG_TEXT},
	{"trials", ARG_INT4},
	{"cv", ARG_INT4},
	{"metric", ARG_TEXT},
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
				ProgressWakeLauncher(true);
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
 * The current user, as a regrole Datum.
 */
static Datum
JobsCurrentUser(void)
{
	return ObjectIdGetDatum(GetUserId());
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
 * Append argument i of mlops.train_async or mlops.tune_async (its kind in
 * arg) as a JSON value; the relation (argument 1) as resolved.  Non-finite
 * floats are written as strings, which the job casts back to float8.
 */
static void
JobsAppendTrainArg(StringInfo buf, FunctionCallInfo fcinfo, const TrainArg *arg, int i,
				   const char *relation)
{

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
 * Queue a job of a kind ("train" or "tune") whose arguments are those of
 * the call (described by args), with the relation as resolved; returns
 * its id.
 */
static int64
JobsQueueCall(const char *kind, FunctionCallInfo fcinfo, const TrainArg *arg, int nargs,
			  const char *project, const char *relation)
{
	StringInfoData json;
	Oid			types[4] = {TEXTOID, TEXTOID, JSONBOID, REGROLEOID};
	Datum		values[4];
	int64		job_id;

	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	for (int i = 0; i < nargs; i++)
	{
		JsonAppendKey(&json, arg[i].name, i == 0);
		JobsAppendTrainArg(&json, fcinfo, &arg[i], i, relation);
	}
	appendStringInfoChar(&json, '}');

	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(project);
	values[2] = JsonbPGetDatum(JsonFromText(&json));
	values[3] = JobsCurrentUser();
	SPI_connect();
	RegistryWriteAsOwner("INSERT INTO mlops.jobs (kind, project, args, submitted_by) "
						 "VALUES ($1, $2, $3, $4) RETURNING id",
						 4, types, values, NULL);
	job_id = RegistryResultInt64(0, "id");
	SPI_finish();

	JobsLogEvent("queued", job_id, kind, project, 0, NULL, 0);
	JobsWakeAtCommit();
	JobsWarnIfNoWorker("job");
	return job_id;
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

	TrainRequestFromArgs(fcinfo, &req);
	TrainCheck(&req, &plan);
	PG_RETURN_INT64(JobsQueueCall("train", fcinfo, train_args, lengthof(train_args),
								  req.project, plan.relname));
}

/*
 * mlops.tune_async(<the parameters of mlops.tune>): queue a tuning job and
 * return its id, every argument checked now as for mlops.train_async.
 */
Datum
mlops_tune_async(PG_FUNCTION_ARGS)
{
	TuneRequest req = {0};
	TrainPlan	plan;

	TuneRequestFromArgs(fcinfo, &req);
	TuneCheck(&req, &plan);
	PG_RETURN_INT64(JobsQueueCall("tune", fcinfo, tune_args, lengthof(tune_args),
								  req.train.project, plan.relname));
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
 * Read job_id's row into the SPI result, locking it when asked, and check
 * that the caller may cancel it: members of the submitting role and admins
 * of its project may.  mlops.cancel_job calls it without the lock first, so
 * a role that may not cancel a job never locks its row.
 */
static void
CancelJobRead(int64 job_id, bool lock)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job_id)};
	Oid			submitted_by;
	RegistryProject *proj;

	RegistryWriteAsOwner(psprintf("SELECT j.status, j.submitted_by, j.kind, j.project FROM mlops.jobs j "
								  "WHERE j.id OPERATOR(pg_catalog.=) $1%s", lock ? " FOR UPDATE" : ""),
						 1, types, values, NULL);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job " INT64_FORMAT " does not exist", job_id)));
	submitted_by = RegistryResultOid(0, "submitted_by");
	if (JobsMayActFor(submitted_by))
		return;
	proj = RegistryGetProject(RegistryResultText(0, "project", CurrentMemoryContext), true);
	if (proj == NULL || !PrivilegeHeld(proj->id, PRIV_ADMIN))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to cancel job " INT64_FORMAT, job_id),
				 errdetail("Only members of the role that submitted the job (%s) and admins of its project may cancel it.",
						   JobsRoleName(submitted_by))));
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
	char	   *kind;
	char	   *project;
	const char *error;

	SPI_connect();
	CancelJobRead(job_id, false);
	CancelJobRead(job_id, true);
	status = RegistryResultText(0, "status", cxt);
	kind = RegistryResultText(0, "kind", cxt);
	project = RegistryResultText(0, "project", cxt);
	values[0] = Int64GetDatum(job_id);

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
		old_every = RegistryResultText(0, "every", outer);
		old_relation = RegistryResultText(0, "relation", outer);
	}
	if (created)
		RegistryWriteAsOwner("INSERT INTO mlops.schedules (project, every, relation, policy, "
							 "next_run_at, created_by) "
							 "VALUES ($1, $2, $3, $4, pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $2, $5) "
							 "RETURNING id",
							 5, types, values, nulls);
	else
	{
		values[5] = Int64GetDatum(RegistryResultInt64(0, "id"));
		RegistryWriteAsOwner("UPDATE mlops.schedules SET every = $2, relation = $3, policy = $4, "
							 "next_run_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $2, created_by = $5, "
							 "created_at = pg_catalog.now() WHERE id OPERATOR(pg_catalog.=) $6 RETURNING id",
							 6, types, values, nulls);
	}
	id = RegistryResultInt64(0, "id");
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
 * Read the schedule of project into the SPI result, locking it when asked,
 * and check that the caller may remove it: whoever may train on the
 * project, or, once the project is gone, members of the role that created
 * the schedule.  Returns the schedule's id, 0 when the project has none.
 * mlops.unschedule
 * calls it without the lock first, so a role that may not remove a schedule
 * never locks it.
 */
static int64
UnscheduleRead(const char *project, bool lock)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(project)};
	RegistryProject *proj;
	int64		id;
	Oid			created_by;

	RegistryWriteAsOwner(psprintf("SELECT s.id, s.created_by FROM mlops.schedules s "
								  "WHERE s.project OPERATOR(pg_catalog.=) $1%s", lock ? " FOR UPDATE" : ""),
						 1, types, values, NULL);
	if (SPI_processed == 0)
		return 0;
	id = RegistryResultInt64(0, "id");
	created_by = RegistryResultOid(0, "created_by");
	proj = RegistryGetProject(project, true);
	if (proj != NULL)
		PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	else if (!JobsMayActFor(created_by))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to remove the schedule of project \"%s\"", project),
				 errdetail("Only members of the role that created the schedule (%s) may remove it.",
						   JobsRoleName(created_by))));
	return id;
}

/*
 * mlops.unschedule(project): remove the project's schedule; false when it
 * has none.  Jobs it already queued still run.
 */
Datum
mlops_unschedule(PG_FUNCTION_ARGS)
{
	char	   *project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int64		id;

	values[0] = CStringGetTextDatum(project);
	SPI_connect();
	if (UnscheduleRead(project, false) == 0 || (id = UnscheduleRead(project, true)) == 0)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}

	RegistryWriteAsOwner("DELETE FROM mlops.schedules WHERE project OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	SPI_finish();
	RegistryLogEvent("schedule_removed", project, 0,
					 psprintf("{\"schedule_id\": " INT64_FORMAT "}", id));
	PG_RETURN_BOOL(true);
}
