/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker: a launcher ("mlops scheduler") that runs queued
 *	  jobs and due schedules, each job in its own dynamic background worker
 *	  ("mlops job") as the role that submitted it.
 *
 * Modelled on pg_cron and worker_spi.  The launcher is a static background
 * worker, registered only when mlops is in shared_preload_libraries; it
 * starts once recovery has finished (never on a hot standby), connects to
 * the database named by mlops.database as the bootstrap superuser, pins
 * its search_path to pg_catalog, pg_temp (ALTER DATABASE ... SET cannot
 * redirect its statements), and loops: look at the jobs and schedules, then sleep on its latch until the
 * next schedule is due, mlops.scheduler_naptime has passed, a job worker
 * started or stopped (bgw_notify_pid), or a transaction that queued a job
 * committed (jobs_sql.c wakes it).  The prediction log's filling queue
 * wakes it too, for a pass that only writes the log, and while rows
 * arrive steadily it looks at the queue every mlops.log_writer_delay
 * (prediction_log.c): after any wake-up it
 * makes a full pass only when one is due (a job queued, a job worker it
 * started exited, the configuration changed, or its time has come).
 * SIGHUP rereads the configuration (a new
 * mlops.database makes it exit, to be restarted there); SIGTERM ends it
 * (and pg_terminate_backend makes it restart a second later).  While the
 * extension is not created it just waits.
 *
 * Each pass, in one transaction: take note of job workers that exited (a
 * job still "running" then failed: the worker died), queue due schedules,
 * deploy the approved deploy requests whose window is open (governance.c),
 * check the alert rules and guardrails of every project (alerts.c),
 * write the prediction log's queue and prune it (prediction_log.c),
 * take queued jobs up to mlops.max_jobs running, claim a shared-memory slot
 * for each (progress.c) and mark them running; after the commit, start one
 * worker per job, passing job id, slot, database and role in bgw_extra.
 * The first launcher after a server start marks the jobs that were running
 * failed ("server restarted"); a launcher that restarts while the server
 * stays up adopts the slots of workers still running, and fails only the
 * running jobs no worker holds.
 *
 * A job worker connects as the submitting role (so the job reads only what
 * that role may read), attaches to its slot, runs the job's SQL (jobs_store.c)
 * and records the result in the same transaction.  An error is caught,
 * the transaction rolled back, and the failure (or the cancel, when
 * mlops.cancel_job asked for it) recorded in a new one.  A worker killed
 * outright cannot record anything; the launcher does it for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "monitor/alerts.h"
#include "ops/governance.h"
#include "ops/jobs_store.h"
#include "ops/progress.h"
#include "ops/worker.h"
#include "serve/prediction_log.h"

char	   *mlops_database = NULL;
int			mlops_scheduler_naptime = 10000;
int			mlops_max_jobs = 2;

/* how long a job worker may take to attach to its slot before the launcher gives up */
#define WORKER_ATTACH_TIMEOUT_MS 60000

#define WORKER_EXITED_ERROR \
	"job worker exited before the job finished (it was terminated or hit a fatal error; see the server log)"

/* what the launcher passes to a job worker in bgw_extra */
typedef struct JobWorkerArgs
{
	int64		job_id;
	Oid			dboid;
	Oid			roleoid;
	int			slot;
} JobWorkerArgs;

StaticAssertDecl(sizeof(JobWorkerArgs) <= BGW_EXTRALEN, "JobWorkerArgs does not fit in bgw_extra");

/* the launcher's bookkeeping, per slot: the job it runs there and the worker's handle */
static int64 *launcher_jobs = NULL;
static BackgroundWorkerHandle **launcher_handles = NULL;
static bool launcher_warned = false;

/*
 * Register the launcher.
 */
static void
WorkerRegisterLauncher(void)
{
	BackgroundWorker worker = {0};

	if (IsBinaryUpgrade)
		return;
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	strlcpy(worker.bgw_library_name, "mlops", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "MlopsLauncherMain", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "mlops scheduler", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "mlops scheduler", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/*
 * Define the worker's settings (also without preloading, so that they can
 * be set and shown everywhere) and, while preloading, register the
 * launcher; called from _PG_init.
 */
void
WorkerInit(void)
{
	DefineCustomStringVariable("mlops.database",
							   "Sets the database in which the mlops background worker runs jobs and schedules.",
							   "The worker runs only when mlops is in shared_preload_libraries; "
							   "it restarts in the new database when this changes.",
							   &mlops_database,
							   "postgres",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("mlops.scheduler_naptime",
							"Sets the longest time the mlops background worker sleeps between looks at jobs and schedules.",
							"Queued jobs and due schedules wake it earlier.",
							&mlops_scheduler_naptime,
							10000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mlops.max_jobs",
							"Sets how many mlops jobs may run at the same time.",
							"Each running job takes one background worker (max_worker_processes).",
							&mlops_max_jobs,
							2, 1, 1024,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	if (process_shared_preload_libraries_in_progress)
		WorkerRegisterLauncher();
}

/*
 * Does a running launcher serve this database?  Only when mlops is
 * preloaded and the database is mlops.database.
 */
bool
WorkerServesDatabase(const char *dbname)
{
	return ProgressAvailable() && mlops_database != NULL && strcmp(mlops_database, dbname) == 0;
}

/*
 * Start a transaction with a snapshot in a background worker; allocations
 * go to cxt.
 */
static void
WorkerBeginTx(MemoryContext cxt, const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(cxt);
	pgstat_report_activity(STATE_RUNNING, activity);
}

/*
 * Commit the transaction of WorkerBeginTx and go back to cxt.
 */
static void
WorkerCommitTx(MemoryContext cxt)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * on_shmem_exit callback of the launcher: no wake-ups to it any more.
 */
static void
LauncherExit(int code, Datum arg)
{
	ProgressSetLauncherPid(0);
}

/*
 * How many more jobs may start now: mlops.max_jobs less the running ones,
 * and no more than there are free slots (a job of the database the
 * launcher served before a change of mlops.database may still hold one).
 */
static int
LauncherFreeSlots(void)
{
	int			running = 0;
	int			free_slots = 0;

	for (int i = 0; i < ProgressSlotCount(); i++)
	{
		ProgressSlotInfo info;

		ProgressSlotGet(i, &info);
		if (info.job_id == 0)
			free_slots++;
		if (launcher_jobs[i] != 0)
			running++;
	}
	return Min(free_slots, Max(0, mlops_max_jobs - running));
}

/*
 * Is the job worker the launcher started in slot i gone?  A worker frees
 * its slot when it exits, after recording how its job ended; one that
 * never got to attach is known by its handle, or, for a slot adopted from
 * an earlier launcher, by a timeout (only when timeouts is true).
 */
static bool
LauncherJobGone(int i, bool timeouts)
{
	ProgressSlotInfo info;
	pid_t		pid;

	ProgressSlotGet(i, &info);
	if (info.job_id != launcher_jobs[i])
		return true;
	if (launcher_handles[i] != NULL)
		return GetBackgroundWorkerPid(launcher_handles[i], &pid) == BGWH_STOPPED;
	return timeouts && info.pid == 0 &&
		TimestampDifferenceExceeds(info.claimed_at, GetCurrentTimestamp(), WORKER_ATTACH_TIMEOUT_MS);
}

/*
 * Take note of the job workers that exited: jobs still "running" after
 * their worker is gone are marked failed.
 */
static void
LauncherReap(void)
{
	int			n = ProgressSlotCount();
	int64	   *ended = palloc(sizeof(int64) * n);
	int			nended = 0;

	for (int i = 0; i < n; i++)
	{
		if (launcher_jobs[i] == 0 || !LauncherJobGone(i, true))
			continue;
		ProgressReleaseSlot(i, launcher_jobs[i]);
		ended[nended++] = launcher_jobs[i];
		launcher_jobs[i] = 0;
		if (launcher_handles[i] != NULL)
		{
			pfree(launcher_handles[i]);
			launcher_handles[i] = NULL;
		}
	}
	if (nended > 0)
		JobsFailRunning(ended, nended, true, WORKER_EXITED_ERROR);
}

/*
 * Once per launcher, when the job tables are there: jobs marked running
 * that no worker holds were interrupted, by a server restart (when no
 * launcher recovered from it yet) or by a worker exit that an earlier
 * launcher did not see.  Returns whether this was the recovery from a
 * server restart.
 */
static bool
LauncherFailUnheld(void)
{
	int			n = ProgressSlotCount();
	int64	   *held = palloc(sizeof(int64) * n);
	int			nheld = 0;
	bool		after_restart = !ProgressRecovered();

	for (int i = 0; i < n; i++)
		if (launcher_jobs[i] != 0)
			held[nheld++] = launcher_jobs[i];
	JobsFailRunning(held, nheld, false, after_restart ? "server restarted" : WORKER_EXITED_ERROR);
	return after_restart;
}

/*
 * Start the worker of a job whose slot is claimed and whose row says
 * running; false when no background worker slot is free.
 */
static bool
LauncherStartWorker(const JobsQueued *job, int slot)
{
	BackgroundWorker worker = {0};
	JobWorkerArgs args = {0};
	BackgroundWorkerHandle *handle;
	MemoryContext old;
	bool		ok;

	args.job_id = job->id;
	args.dboid = MyDatabaseId;
	args.roleoid = job->roleoid;
	args.slot = slot;
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "mlops", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "MlopsJobWorkerMain", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "mlops job " INT64_FORMAT, job->id);
	strlcpy(worker.bgw_type, "mlops job", BGW_MAXLEN);
	worker.bgw_notify_pid = MyProcPid;
	memcpy(worker.bgw_extra, &args, sizeof(args));

	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(old);
	if (ok)
		launcher_handles[slot] = handle;
	return ok;
}

/*
 * Give a job's slot back and put the job back in the queue.
 */
static void
LauncherRequeue(const JobsQueued *job, int slot, MemoryContext cxt)
{
	ProgressReleaseSlot(slot, job->id);
	launcher_jobs[slot] = 0;
	WorkerBeginTx(cxt, "mlops scheduler: requeue a job");
	JobsRequeue(job->id);
	WorkerCommitTx(cxt);
}

/*
 * Run fn(arg) in a subtransaction of the caller's transaction (a pass of
 * the launcher): an error rolls back only fn's work and is returned, for
 * the caller to report and free (FreeErrorData); NULL when fn succeeded.
 */
ErrorData *
WorkerTryIsolated(void (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;	/* set after a longjmp */

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();
	return edata;
}

/*
 * WorkerTryIsolated, an error becoming a WARNING, "could not <what>:
 * <message>", so that one project or request that fails does not stop the
 * others.
 */
void
WorkerRunIsolated(void (*fn) (void *arg), void *arg, const char *what)
{
	ErrorData  *edata = WorkerTryIsolated(fn, arg);

	if (edata != NULL)
	{
		ereport(WARNING,
				(errmsg("could not %s: %s", what, edata->message)));
		FreeErrorData(edata);
	}
}

/*
 * One look at the jobs and schedules; returns how long to sleep (ms).
 */
static long
LauncherPass(MemoryContext cxt, bool *checked_unheld)
{
	long		timeout = mlops_scheduler_naptime;
	JobsQueued *jobs = NULL;
	int		   *slots = NULL;
	int			njobs = 0;
	int			started = 0;
	bool		after_restart = false;

	WorkerBeginTx(cxt, "mlops scheduler: looking at jobs and schedules");
	if (JobsTablesExist())
	{
		if (!*checked_unheld)
		{
			after_restart = LauncherFailUnheld();
			*checked_unheld = true;
		}
		LauncherReap();
		JobsQueueDueSchedules();
		GovernanceDeployApproved();
		AlertsWorkerPass();
		PredictionLogWork(true);
		njobs = JobsTakeQueued(LauncherFreeSlots(), &jobs);
		slots = palloc(sizeof(int) * Max(1, njobs));
		for (int i = 0; i < njobs; i++)
		{
			slots[i] = ProgressClaimSlot(jobs[i].id);
			if (slots[i] < 0)
				elog(ERROR, "no free mlops job slot for job " INT64_FORMAT, jobs[i].id);
			launcher_jobs[slots[i]] = jobs[i].id;
		}
		timeout = JobsNextScheduleWait(timeout);
	}
	WorkerCommitTx(cxt);
	if (after_restart)
		ProgressSetRecovered();

	/* the jobs' rows say running now (committed), so their workers may start */
	while (started < njobs && LauncherStartWorker(&jobs[started], slots[started]))
		started++;
	if (started < njobs)
	{
		if (!launcher_warned)
			ereport(WARNING,
					(errmsg("could not start an mlops job worker: no background worker slot is free"),
					 errdetail("%d jobs stay queued.", njobs - started),
					 errhint("Raise max_worker_processes, or lower mlops.max_jobs.")));
		launcher_warned = true;
		for (int i = started; i < njobs; i++)
			LauncherRequeue(&jobs[i], slots[i], cxt);
	}
	else if (njobs > 0)
		launcher_warned = false;
	return timeout;
}

/*
 * A pass that only writes the prediction log, for a wake-up by its filling
 * queue: nothing else is due, so the other checks wait for their time.
 * It commits without waiting for the WAL to reach disk (synchronous_commit
 * off, for this transaction): its rows came from shared memory, which a
 * crash empties anyway, and a worker waiting for a flush lets the queue
 * fill and drop rows.
 */
static void
LauncherLogPass(MemoryContext cxt)
{
	if (!PredictionLogPending())
		return;
	WorkerBeginTx(cxt, "mlops scheduler: writing the prediction log");
	(void) set_config_option("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	if (JobsTablesExist())
		PredictionLogWork(false);
	WorkerCommitTx(cxt);
}

/*
 * After a wake-up: is a full pass due?  When its time has come, a wake-up
 * asked for one (a job queued), the configuration is to be reread, or a
 * job worker the launcher started exited (its notification sets the latch
 * like any other wake-up, so the handles and slots are looked at).
 */
static bool
LauncherFullPassDue(TimestampTz next_full)
{
	bool		due = ProgressTakeFullPassRequest();

	if (ConfigReloadPending || GetCurrentTimestamp() >= next_full)
		due = true;
	for (int i = 0; i < ProgressSlotCount() && !due; i++)
		due = launcher_jobs[i] != 0 && LauncherJobGone(i, false);
	return due;
}

/*
 * Main function of the launcher.
 */
void
MlopsLauncherMain(Datum main_arg)
{
	MemoryContext cxt;
	char	   *database;
	bool		checked_unheld = false;
	bool		full = true;
	TimestampTz next_full = 0;
	int			n;
	long		wait_ms;
	long		look;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	database = pstrdup(mlops_database);
	BackgroundWorkerInitializeConnection(database, NULL, 0);
	pgstat_report_appname("mlops scheduler");

	/*
	 * The launcher is a superuser: whatever search_path the database's owner
	 * set for it, its statements look only in pg_catalog (and name
	 * everything schema-qualified as well).
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	ProgressSetLauncherPid(MyProcPid);
	on_shmem_exit(LauncherExit, (Datum) 0);

	/* adopt the slots of job workers started by an earlier launcher */
	n = ProgressSlotCount();
	launcher_jobs = MemoryContextAllocZero(TopMemoryContext, sizeof(int64) * n);
	launcher_handles = MemoryContextAllocZero(TopMemoryContext, sizeof(BackgroundWorkerHandle *) * n);
	for (int i = 0; i < n; i++)
	{
		ProgressSlotInfo info;

		ProgressSlotGet(i, &info);
		if (info.dboid == MyDatabaseId)
			launcher_jobs[i] = info.job_id;
	}

	ereport(LOG,
			(errmsg("mlops scheduler started in database \"%s\"", database)));

	cxt = AllocSetContextCreate(TopMemoryContext, "mlops scheduler", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (strcmp(mlops_database, database) != 0)
			{
				ereport(LOG,
						(errmsg("mlops scheduler restarts to move from database \"%s\" to \"%s\"",
								database, mlops_database)));
				proc_exit(1);
			}
		}
		MemoryContextSwitchTo(cxt);
		if (full)
		{
			long		timeout = LauncherPass(cxt, &checked_unheld);

			next_full = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout);
		}
		else
			LauncherLogPass(cxt);
		MemoryContextReset(cxt);

		/* until the next full pass, or the next look at a filling log */
		wait_ms = Max(0, (next_full - GetCurrentTimestamp() + 999) / 1000);
		look = PredictionLogNextLook();
		if (look >= 0)
			wait_ms = Min(wait_ms, look);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		full = LauncherFullPassDue(next_full);
	}
}

/*
 * Main function of a job worker: run one job and exit.
 */
void
MlopsJobWorkerMain(Datum main_arg)
{
	JobWorkerArgs args;
	MemoryContext cxt;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(args.dboid, args.roleoid, 0);
	pgstat_report_appname(psprintf("mlops job " INT64_FORMAT, args.job_id));
	if (!ProgressAttach(args.slot, args.job_id))
		proc_exit(0);
	cxt = AllocSetContextCreate(TopMemoryContext, "mlops job", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);

	PG_TRY();
	{
		char	   *kind = NULL;
		Jsonb	   *job_args = NULL;
		bool		started;

		WorkerBeginTx(cxt, "mlops job: starting");
		started = JobsStart(args.job_id, &kind, &job_args);
		WorkerCommitTx(cxt);
		if (started)
		{
			if (ProgressCancelRequested())
				ereport(ERROR,
						(errcode(ERRCODE_QUERY_CANCELED),
						 errmsg("canceling job " INT64_FORMAT " due to user request", args.job_id)));
			MlopsProgressPhase("running", 0);
			WorkerBeginTx(cxt, psprintf("mlops job " INT64_FORMAT ": %s", args.job_id, kind));
			JobsFinish(args.job_id, "succeeded", JobsRun(kind, job_args), NULL, 0);
			WorkerCommitTx(cxt);
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		canceled;

		/* record the failure without being interrupted again */
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		canceled = edata->sqlerrcode == ERRCODE_QUERY_CANCELED && ProgressCancelRequested();
		WorkerBeginTx(cxt, "mlops job: recording the failure");
		JobsFinish(args.job_id, canceled ? "canceled" : "failed", NULL,
				   canceled ? "canceled while running" : (edata->message ? edata->message : "unknown error"),
				   edata->sqlerrcode);
		WorkerCommitTx(cxt);
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();

	proc_exit(0);
}
