/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Shared-memory job slots: which job each background job worker runs,
 *	  how far it got, and the cancel requests sent to it.
 *
 * There is one slot per possible background worker (max_worker_processes),
 * so a slot is never what limits the number of jobs.  The launcher claims a
 * slot for a job before it starts the job's worker; the worker attaches to
 * it (records its PID), reports its phase and iterations there, and frees it
 * when it exits, after its last transaction has ended.  A slot that the
 * launcher sees freed while the job's row still says "running" therefore
 * belongs to a worker that died.  Any session reads the slots, the way
 * pg_stat_progress_* views read backend progress, through
 * mlops.job_progress.
 *
 * Each slot has a spinlock held only to copy a few fields.  The memory is
 * requested in shmem_request_hook and set up in shmem_startup_hook, as
 * pg_stat_statements does, so it exists only when mlops is preloaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "ops/progress.h"

#define PROGRESS_PHASE_LEN 48

typedef struct JobSlot
{
	slock_t		mutex;
	int64		job_id;			/* 0: free */
	int			pid;			/* 0 until the job worker attached */
	Oid			dboid;			/* database of the launcher that claimed it */
	bool		cancel;
	TimestampTz claimed_at;
	TimestampTz started_at;
	char		phase[PROGRESS_PHASE_LEN];
	int64		done;
	int64		total;
} JobSlot;

typedef struct JobShared
{
	slock_t		mutex;			/* protects the launcher fields */
	int			launcher_pid;	/* 0 while no launcher runs */
	pg_atomic_uint32 full_pass;	/* 1: a wake-up asked for a full pass */
	bool		recovered;		/* interrupted jobs were marked failed */
	int			nslots;
	JobSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} JobShared;

static JobShared *job_shared = NULL;
static JobSlot *my_slot = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

PG_FUNCTION_INFO_V1(mlops_job_progress_info);

/*
 * Size of the shared state with one slot per background worker.
 */
static Size
ProgressShmemSize(void)
{
	return add_size(offsetof(JobShared, slots),
					mul_size(sizeof(JobSlot), max_worker_processes));
}

/*
 * shmem_request_hook: reserve the shared state.
 */
static void
ProgressShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(ProgressShmemSize());
}

/*
 * shmem_startup_hook: create (or, in a child under EXEC_BACKEND, find) the
 * shared state.
 */
static void
ProgressShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	job_shared = ShmemInitStruct("mlops jobs", ProgressShmemSize(), &found);
	if (!found)
	{
		memset(job_shared, 0, ProgressShmemSize());
		SpinLockInit(&job_shared->mutex);
		pg_atomic_init_u32(&job_shared->full_pass, 0);
		job_shared->nslots = max_worker_processes;
		for (int i = 0; i < job_shared->nslots; i++)
			SpinLockInit(&job_shared->slots[i].mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Install the shared-memory hooks of the job slots when mlops is preloaded
 * (without preloading there are none); called from _PG_init.
 */
void
ProgressInit(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ProgressShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ProgressShmemStartup;
}

/*
 * Are the job slots there (mlops preloaded)?
 */
bool
ProgressAvailable(void)
{
	return job_shared != NULL;
}

/*
 * Number of job slots; 0 without preloading.
 */
int
ProgressSlotCount(void)
{
	return job_shared ? job_shared->nslots : 0;
}

/*
 * Copy the bookkeeping fields of a slot.
 */
void
ProgressSlotGet(int slot, ProgressSlotInfo *info)
{
	JobSlot    *s = &job_shared->slots[slot];

	SpinLockAcquire(&s->mutex);
	info->job_id = s->job_id;
	info->dboid = s->dboid;
	info->pid = s->pid;
	info->cancel = s->cancel;
	info->claimed_at = s->claimed_at;
	info->started_at = s->started_at;
	SpinLockRelease(&s->mutex);
}

/*
 * Claim a free slot for a job of this database (the launcher does, before
 * it starts the job's worker); returns its index, or -1 when all are
 * taken.
 */
int
ProgressClaimSlot(int64 job_id)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; i < job_shared->nslots; i++)
	{
		JobSlot    *s = &job_shared->slots[i];
		bool		claimed = false;

		SpinLockAcquire(&s->mutex);
		if (s->job_id == 0)
		{
			s->job_id = job_id;
			s->dboid = MyDatabaseId;
			s->pid = 0;
			s->cancel = false;
			s->claimed_at = now;
			s->started_at = 0;
			s->phase[0] = '\0';
			s->done = 0;
			s->total = 0;
			claimed = true;
		}
		SpinLockRelease(&s->mutex);
		if (claimed)
			return i;
	}
	return -1;
}

/*
 * Free a slot if it still belongs to the job.
 */
void
ProgressReleaseSlot(int slot, int64 job_id)
{
	JobSlot    *s = &job_shared->slots[slot];

	SpinLockAcquire(&s->mutex);
	if (s->job_id == job_id)
	{
		s->job_id = 0;
		s->pid = 0;
		s->cancel = false;
	}
	SpinLockRelease(&s->mutex);
}

/*
 * on_shmem_exit callback of a job worker: free its slot.  It runs after
 * the worker's last transaction was committed or aborted.
 */
static void
ProgressDetach(int code, Datum arg)
{
	JobSlot    *s = my_slot;

	my_slot = NULL;
	SpinLockAcquire(&s->mutex);
	s->job_id = 0;
	s->pid = 0;
	s->cancel = false;
	SpinLockRelease(&s->mutex);
}

/*
 * A connected job worker takes its slot: records its PID so that the job
 * can be canceled, and frees the slot when the process exits.  False when
 * the slot is not the job's (the launcher gave up on it).
 */
bool
ProgressAttach(int slot, int64 job_id)
{
	JobSlot    *s = &job_shared->slots[slot];
	bool		ok;

	SpinLockAcquire(&s->mutex);
	ok = (s->job_id == job_id);
	if (ok)
	{
		s->pid = MyProcPid;
		s->started_at = GetCurrentTimestamp();
		strlcpy(s->phase, "starting", sizeof(s->phase));
	}
	SpinLockRelease(&s->mutex);
	if (ok)
	{
		my_slot = s;
		on_shmem_exit(ProgressDetach, (Datum) 0);
	}
	return ok;
}

/*
 * Ask the worker of a job to stop: set the slot's cancel flag and, once the
 * worker has attached, send it SIGINT (a query cancel).  A worker that
 * attaches later sees the flag.  False when no slot holds the job.
 */
bool
ProgressRequestCancel(int64 job_id)
{
	for (int i = 0; job_shared && i < job_shared->nslots; i++)
	{
		JobSlot    *s = &job_shared->slots[i];
		int			pid = 0;
		bool		found = false;

		SpinLockAcquire(&s->mutex);
		if (s->job_id == job_id)
		{
			s->cancel = true;
			pid = s->pid;
			found = true;
		}
		SpinLockRelease(&s->mutex);
		if (found)
		{
			if (pid != 0)
				kill(pid, SIGINT);
			return true;
		}
	}
	return false;
}

/*
 * Has this job worker's job been canceled?
 */
bool
ProgressCancelRequested(void)
{
	bool		cancel;

	if (my_slot == NULL)
		return false;
	SpinLockAcquire(&my_slot->mutex);
	cancel = my_slot->cancel;
	SpinLockRelease(&my_slot->mutex);
	return cancel;
}

/*
 * Start a phase of the running job with the number of iterations it will
 * take (0 when unknown).  A no-op outside a job worker.
 */
void
MlopsProgressPhase(const char *phase, int64 total)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&my_slot->mutex);
	strlcpy(my_slot->phase, phase, sizeof(my_slot->phase));
	my_slot->done = 0;
	my_slot->total = total;
	SpinLockRelease(&my_slot->mutex);
}

/*
 * Record the iterations done in the current phase.  A no-op outside a job
 * worker.
 */
void
MlopsProgressAdvance(int64 done)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&my_slot->mutex);
	my_slot->done = done;
	SpinLockRelease(&my_slot->mutex);
}

/*
 * Have the jobs interrupted by the last server start (or crash restart)
 * been marked failed?  The first launcher since shared memory was set up
 * does it.
 */
bool
ProgressRecovered(void)
{
	bool		recovered;

	SpinLockAcquire(&job_shared->mutex);
	recovered = job_shared->recovered;
	SpinLockRelease(&job_shared->mutex);
	return recovered;
}

/*
 * Note that the jobs interrupted by the server start were marked failed.
 */
void
ProgressSetRecovered(void)
{
	SpinLockAcquire(&job_shared->mutex);
	job_shared->recovered = true;
	SpinLockRelease(&job_shared->mutex);
}

/*
 * Record the launcher's PID (0 when it exits), for wake-ups.
 */
void
ProgressSetLauncherPid(int pid)
{
	SpinLockAcquire(&job_shared->mutex);
	job_shared->launcher_pid = pid;
	SpinLockRelease(&job_shared->mutex);
}

/*
 * Wake the launcher (its SIGUSR1 handler sets its latch).  With full_pass
 * it looks at the jobs and schedules now instead of after its nap; without
 * (the prediction log's queue filling up) it only writes the log, unless a
 * full pass is due anyway.
 */
void
ProgressWakeLauncher(bool full_pass)
{
	int			pid;

	if (job_shared == NULL)
		return;
	if (full_pass)
		pg_atomic_write_u32(&job_shared->full_pass, 1);
	SpinLockAcquire(&job_shared->mutex);
	pid = job_shared->launcher_pid;
	SpinLockRelease(&job_shared->mutex);
	if (pid != 0)
		kill(pid, SIGUSR1);
}

/*
 * For the launcher: did a wake-up since the last call ask for a full pass?
 * (Clears the request.)
 */
bool
ProgressTakeFullPassRequest(void)
{
	return pg_atomic_exchange_u32(&job_shared->full_pass, 0) != 0;
}

/*
 * mlops.job_progress_info(): one row per running job of this database, with
 * its phase and iterations; no rows without preloading.
 */
Datum
mlops_job_progress_info(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	SetSingleFuncCall(fcinfo, 0);
	for (int i = 0; i < ProgressSlotCount(); i++)
	{
		JobSlot    *s = &job_shared->slots[i];
		JobSlot		copy;
		Datum		values[6];
		bool		nulls[6] = {0};

		SpinLockAcquire(&s->mutex);
		memcpy(&copy, s, sizeof(JobSlot));
		SpinLockRelease(&s->mutex);
		if (copy.job_id == 0 || copy.pid == 0 || copy.dboid != MyDatabaseId)
			continue;
		values[0] = Int64GetDatum(copy.job_id);
		values[1] = Int32GetDatum(copy.pid);
		values[2] = CStringGetTextDatum(copy.phase);
		values[3] = Int64GetDatum(copy.done);
		values[4] = Int64GetDatum(copy.total);
		nulls[4] = (copy.total <= 0);
		values[5] = TimestampTzGetDatum(copy.started_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
