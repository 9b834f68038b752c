/*-------------------------------------------------------------------------
 *
 * serving_stats.c
 *	  Serving statistics in shared memory (the pg_stat_statements pattern):
 *	  mlops.serving_stats, mlops.serving_latency_histogram,
 *	  mlops.serving_stats_reset, mlops.track_serving.
 *
 * A shared hash holds one entry per (database, model, variant): calls,
 * errors, dropped prediction-log rows, the sum and maximum of the
 * latencies, the first and last call, and a fixed log-scale histogram of
 * latencies from which the percentiles are read.  The hash is requested in
 * shmem_request_hook and made in shmem_startup_hook, so it exists only
 * when mlops is in shared_preload_libraries; otherwise every function here
 * does nothing and the view is empty.
 *
 * A backend never touches shared memory per call: ServingCallBegin and
 * ServingCallEnd read the clock (the only two clock reads a call costs)
 * and add to a small local table, which is flushed at the end of each
 * statement, when a transaction aborts, at backend exit, and when a call
 * ends 100 ms or more after the last flush.  A call begun and not ended
 * when its (sub)transaction aborts is an error.  Hot standbys count their
 * own calls: nothing here writes to a table.
 *
 * Flushing takes no lock once a backend knows an entry: the counters are
 * atomics, and each local entry remembers its shared entry with the
 * hash's generation.  Removing entries (a reset) takes the hash's lock
 * exclusively, advances the generation and then waits until no backend
 * is in the middle of a lock-free flush (each backend's flushing flag, in
 * shared memory by pgprocno); a flush that starts later sees the new
 * generation and looks its entry up again under the shared lock.  Call
 * times come from the monotonic clock; they are turned into timestamps
 * with an offset to the wall clock read again every second, so a flush
 * reads no clock either (and the prediction log takes a call's time from
 * here, ServingCallTimestamp).
 *
 * The view's functions and the reset are in serving_stats_sql.c.
 *
 * Histogram: bucket b holds latencies in [2^((b-9)/4), 2^((b-8)/4)) µs
 * (bucket 0 everything below, the last everything above), so a bucket is
 * 19 % wide.  The q-quantile is the upper bound of the bucket holding the
 * ceil(q * calls)-th smallest latency, clamped to max_us.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "privileges.h"
#include "serve/serving_stats.h"
#include "serve/serving_stats_internal.h"

/* entries in shared memory: (database, model, variant) triples */
#define SERVING_MAX_ENTRIES 2000
/* entries a backend accumulates between flushes */
#define SERVING_LOCAL_ENTRIES 16
/* the longest a backend keeps counts to itself inside a statement */
#define SERVING_FLUSH_US 100000.0

bool		mlops_track_serving = true;

/*
 * A backend's counts not flushed yet, and the shared entry they go to
 * (valid while the hash's generation is still gen).
 */
typedef struct LocalEntry
{
	ServingKey	key;
	int64		project_id;
	ServingEntry *shared;		/* NULL: not looked up yet */
	uint64		gen;
	instr_time	first_end;
	instr_time	last_end;
	int			hist_lo;		/* the buckets counted in are within */
	int			hist_hi;		/* hist_lo..hist_hi */
	ServingCounters counters;	/* first_call and last_call unused */
} LocalEntry;

/* the call between ServingCallBegin and ServingCallEnd */
typedef struct PendingCall
{
	bool		active;
	int64		model_id;
	int64		project_id;
	ServingVariant variant;
	instr_time	start;
} PendingCall;

ServingShared *serving_shared = NULL;
HTAB	   *serving_hash = NULL;

/* the local entries; those with counts to flush are marked dirty */
static LocalEntry local_entries[SERVING_LOCAL_ENTRIES];
static int	nlocal = 0;
static bool dirty = false;
static PendingCall pending;
static instr_time last_flush;
static instr_time last_end;		/* of the last call counted */
static bool callbacks_registered = false;
/* the wall clock at a moment of the monotonic clock, read every second */
static instr_time clock_instr;
static TimestampTz clock_wall;
static bool clock_set = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

static const char *const variant_names[SERVING_VARIANTS] = {
	[SERVING_CHAMPION] = "champion",
	[SERVING_CHALLENGER] = "challenger",
	[SERVING_SHADOW] = "shadow",
};

/*
 * Name of a variant, as the view shows it.
 */
const char *
ServingVariantName(ServingVariant variant)
{
	return variant_names[variant];
}

/*
 * Size of the shared state besides the hash: one flushing flag per
 * backend (MaxBackends is known from shmem_request_hook on).
 */
static Size
ServingSharedSize(void)
{
	return add_size(offsetof(ServingShared, flushing),
					mul_size(sizeof(ServingFlushing), MaxBackends));
}

/*
 * Shared memory the statistics take.
 */
static Size
ServingShmemSize(void)
{
	return add_size(ServingSharedSize(),
					hash_estimate_size(SERVING_MAX_ENTRIES, sizeof(ServingEntry)));
}

/*
 * shmem_request_hook: reserve the hash and its lock.
 */
static void
ServingShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(ServingShmemSize());
	RequestNamedLWLockTranche("mlops serving stats", 1);
}

/*
 * shmem_startup_hook: create (or attach to) the shared state.
 */
static void
ServingShmemStartup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	serving_shared = ShmemInitStruct("mlops serving stats", ServingSharedSize(), &found);
	if (!found)
	{
		serving_shared->lock = &(GetNamedLWLockTranche("mlops serving stats"))->lock;
		pg_atomic_init_u64(&serving_shared->generation, 0);
		serving_shared->nflushing = MaxBackends;
		for (int i = 0; i < MaxBackends; i++)
			pg_atomic_init_u32(&serving_shared->flushing[i].flag, 0);
	}
	info.keysize = sizeof(ServingKey);
	info.entrysize = sizeof(ServingEntry);
	serving_hash = ShmemInitHash("mlops serving stats hash", SERVING_MAX_ENTRIES, SERVING_MAX_ENTRIES,
								 &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Is there shared memory to count in (mlops preloaded)?
 */
bool
ServingStatsAvailable(void)
{
	return serving_hash != NULL;
}

/*
 * Histogram bucket of a latency in microseconds: floor(4 log2(us)) + 9,
 * from the binary exponent and which quarter-octave the mantissa is in
 * (cheaper than log2 on every call).
 */
static inline int
ServingBucket(double us)
{
	int			e;
	double		m;
	int			b;

	if (!(us > 0.0))
		return 0;
	m = 2.0 * frexp(us, &e);	/* us = m 2^(e-1), m in [1, 2) */
	b = 4 * (e - 1) + 9 + (m >= 1.189207115002721) + (m >= 1.4142135623730951) + (m >= 1.6817928305074290);
	return Max(0, Min(b, SERVING_BUCKETS - 1));
}

/*
 * Upper bound of a histogram bucket in microseconds.
 */
double
ServingBucketUpper(int b)
{
	return exp2((b - 8) / 4.0);
}

/*
 * Nanoseconds of an interval of the monotonic clock.
 */
static inline uint64
InstrNanoseconds(instr_time t)
{
	return (uint64) t.tv_sec * UINT64CONST(1000000000) + (uint64) t.tv_nsec;
}

/*
 * A timestamp for a moment measured with the monotonic clock: from the
 * wall clock read at clock_instr, read again when that is a second or
 * more before t (so that the two clocks cannot drift apart by much: NTP
 * slews the wall clock by at most 0.5 ms a second).
 */
static TimestampTz
InstrToTimestamp(instr_time t)
{
	instr_time	since;

	if (clock_set)
	{
		since = t;
		INSTR_TIME_SUBTRACT(since, clock_instr);
	}
	if (!clock_set || since.tv_sec >= 1)
	{
		INSTR_TIME_SET_CURRENT(clock_instr);
		clock_wall = GetCurrentTimestamp();
		clock_set = true;
		since = t;
		INSTR_TIME_SUBTRACT(since, clock_instr);
	}
	return clock_wall + (TimestampTz) INSTR_TIME_GET_MICROSEC(since);
}

/*
 * Raise an atomic to at least v.
 */
static inline void
AtomicMax(pg_atomic_uint64 *a, uint64 v)
{
	uint64		old = pg_atomic_read_u64(a);

	while (old < v && !pg_atomic_compare_exchange_u64(a, &old, v))
		;
}

/*
 * Lower an atomic to at most v (0 counts as no value yet).
 */
static inline void
AtomicMinNonZero(pg_atomic_uint64 *a, uint64 v)
{
	uint64		old = pg_atomic_read_u64(a);

	while ((old == 0 || old > v) && !pg_atomic_compare_exchange_u64(a, &old, v))
		;
}

/*
 * Add a local entry's counts to its shared entry, and clear them.
 */
static void
EntryAdd(ServingEntry *e, LocalEntry *le)
{
	ServingCounters *c = &le->counters;

	if (c->calls > 0)
	{
		pg_atomic_fetch_add_u64(&e->calls, c->calls);
		pg_atomic_fetch_add_u64(&e->sum_ns, c->sum_ns);
		AtomicMax(&e->max_ns, c->max_ns);
		for (int b = le->hist_lo; b <= le->hist_hi; b++)
			if (c->hist[b] > 0)
			{
				pg_atomic_fetch_add_u64(&e->hist[b], c->hist[b]);
				c->hist[b] = 0;
			}
		AtomicMinNonZero(&e->first_call, (uint64) InstrToTimestamp(le->first_end));
		AtomicMax(&e->last_call, (uint64) InstrToTimestamp(le->last_end));
	}
	if (c->errors > 0)
		pg_atomic_fetch_add_u64(&e->errors, c->errors);
	if (c->dropped > 0)
		pg_atomic_fetch_add_u64(&e->dropped, c->dropped);
	c->calls = c->errors = c->dropped = 0;
	c->sum_ns = c->max_ns = 0;
	le->hist_lo = SERVING_BUCKETS;
	le->hist_hi = -1;
}

/*
 * Find (or make) the shared entry of a local entry, under the hash's lock
 * held shared, and remember it with the generation.  NULL when the hash is
 * full; the lock is held shared on return either way.
 */
static ServingEntry *
EntryLookUp(LocalEntry *le)
{
	ServingEntry *e;
	bool		found;

	e = hash_search(serving_hash, &le->key, HASH_FIND, NULL);
	if (e == NULL)
	{
		LWLockRelease(serving_shared->lock);
		LWLockAcquire(serving_shared->lock, LW_EXCLUSIVE);
		e = hash_search(serving_hash, &le->key, HASH_ENTER_NULL, &found);
		if (e != NULL && !found)
		{
			e->project_id = le->project_id;
			e->stats_reset = le->counters.calls > 0 ?
				InstrToTimestamp(le->first_end) : GetCurrentTimestamp();
			pg_atomic_init_u64(&e->calls, 0);
			pg_atomic_init_u64(&e->errors, 0);
			pg_atomic_init_u64(&e->dropped, 0);
			pg_atomic_init_u64(&e->sum_ns, 0);
			pg_atomic_init_u64(&e->max_ns, 0);
			pg_atomic_init_u64(&e->first_call, 0);
			pg_atomic_init_u64(&e->last_call, 0);
			for (int b = 0; b < SERVING_BUCKETS; b++)
				pg_atomic_init_u64(&e->hist[b], 0);
		}
		LWLockRelease(serving_shared->lock);
		LWLockAcquire(serving_shared->lock, LW_SHARED);
		/* a reset may have removed it in between: counted next time */
		e = hash_search(serving_hash, &le->key, HASH_FIND, NULL);
	}
	le->shared = e;
	le->gen = pg_atomic_read_u64(&serving_shared->generation);
	return e;
}

/*
 * Move the backend's local counts to shared memory.  Entries the backend
 * knows get their counts without a lock (see the file comment); the others
 * are looked up under the shared lock.  An entry that does not fit any
 * more (the hash is full) loses its counts.  Never raises an error, so
 * that it may run while a transaction aborts.
 */
void
ServingFlush(void)
{
	pg_atomic_uint32 *flushing = NULL;
	uint64		gen;
	bool		missing = false;

	last_flush = last_end;
	if (!dirty || serving_hash == NULL)
	{
		dirty = false;
		return;
	}
	if (MyProc != NULL && MyProc->pgprocno < serving_shared->nflushing)
		flushing = &serving_shared->flushing[MyProc->pgprocno].flag;

	/* lock-free: the entries known in this generation */
	if (flushing != NULL)
	{
		pg_atomic_exchange_u32(flushing, 1);
		gen = pg_atomic_read_u64(&serving_shared->generation);
		for (int i = 0; i < nlocal; i++)
		{
			LocalEntry *le = &local_entries[i];

			if (le->shared != NULL && le->gen == gen)
				EntryAdd(le->shared, le);
		}
		pg_atomic_exchange_u32(flushing, 0);
	}

	/* the others, under the lock */
	for (int i = 0; i < nlocal; i++)
	{
		ServingCounters *c = &local_entries[i].counters;

		missing |= c->calls > 0 || c->errors > 0 || c->dropped > 0;
	}
	if (missing)
	{
		LWLockAcquire(serving_shared->lock, LW_SHARED);
		for (int i = 0; i < nlocal; i++)
		{
			LocalEntry *le = &local_entries[i];
			ServingCounters *c = &le->counters;
			ServingEntry *e;

			if (c->calls == 0 && c->errors == 0 && c->dropped == 0)
				continue;
			e = EntryLookUp(le);
			if (e != NULL)
				EntryAdd(e, le);
			else
			{
				/* the hash is full: these counts are lost */
				memset(c, 0, sizeof(ServingCounters));
				le->hist_lo = SERVING_BUCKETS;
				le->hist_hi = -1;
			}
		}
		LWLockRelease(serving_shared->lock);
	}
	dirty = false;
}

/*
 * The local entry of a model and variant, made (flushing and forgetting
 * the others when the table is full) if there is none.
 */
static LocalEntry *
LocalEntryFor(int64 model_id, int64 project_id, ServingVariant variant)
{
	LocalEntry *le;

	dirty = true;
	for (int i = 0; i < nlocal; i++)
	{
		le = &local_entries[i];
		if (le->key.model_id == model_id && le->key.variant == (int32) variant &&
			le->key.dboid == MyDatabaseId)
			return le;
	}
	if (nlocal == SERVING_LOCAL_ENTRIES)
	{
		ServingFlush();
		nlocal = 0;
		dirty = true;
	}
	le = &local_entries[nlocal++];
	memset(le, 0, sizeof(LocalEntry));
	le->key.dboid = MyDatabaseId;
	le->key.variant = (int32) variant;
	le->key.model_id = model_id;
	le->project_id = project_id;
	le->hist_lo = SERVING_BUCKETS;
	le->hist_hi = -1;
	return le;
}

/*
 * Count the pending call as an error.
 */
static void
ServingCountPendingError(void)
{
	if (!pending.active)
		return;
	pending.active = false;
	if (pending.model_id == 0)
		return;
	LocalEntryFor(pending.model_id, pending.project_id, pending.variant)->counters.errors++;
}

/*
 * Transaction callback: a call interrupted by an error is an error; the
 * counts are flushed, since the statement ends without ExecutorEnd.
 */
static void
ServingXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		ServingCountPendingError();
		ServingFlush();
	}
}

/*
 * Subtransaction callback: an error caught by an exception block or a
 * savepoint ends the call too.
 */
static void
ServingSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		ServingCountPendingError();
}

/*
 * Backend exit: flush what is left.
 */
static void
ServingExit(int code, Datum arg)
{
	pending.active = false;
	ServingFlush();
}

/*
 * ExecutorEnd hook: flush at the end of every statement that counted.
 */
static void
ServingExecutorEnd(QueryDesc *queryDesc)
{
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	if (dirty)
		ServingFlush();
}

/*
 * Register the callbacks that count errors and flush at exit, once.
 */
static void
ServingRegisterCallbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(ServingXactCallback, NULL);
	RegisterSubXactCallback(ServingSubXactCallback, NULL);
	before_shmem_exit(ServingExit, (Datum) 0);
	callbacks_registered = true;
}

/*
 * Start timing a call (before its model is looked up, so that loading it
 * counts).
 */
void
ServingCallBegin(void)
{
	if (!mlops_track_serving || serving_hash == NULL)
		return;
	ServingRegisterCallbacks();
	ServingCountPendingError();
	pending.model_id = 0;
	pending.active = true;
	INSTR_TIME_SET_CURRENT(pending.start);
	if (INSTR_TIME_IS_ZERO(last_flush))
		last_flush = pending.start;
}

/*
 * Say which model and variant the call begun last is for; until then an
 * error is not counted (there is no model to count it against).
 */
void
ServingCallModel(int64 model_id, int64 project_id, ServingVariant variant)
{
	pending.model_id = model_id;
	pending.project_id = project_id;
	pending.variant = variant;
}

/*
 * Count a call of a model that succeeded, ns nanoseconds long, ended at
 * "end"; flush when the last flush is old enough.
 */
static void
ServingCount(int64 model_id, int64 project_id, ServingVariant variant, uint64 ns,
			 instr_time end)
{
	instr_time	elapsed;
	int			b;
	LocalEntry *le;

	last_end = end;
	le = LocalEntryFor(model_id, project_id, variant);
	if (le->counters.calls == 0)
		le->first_end = end;
	le->last_end = end;
	le->counters.calls++;
	le->counters.sum_ns += ns;
	le->counters.max_ns = Max(le->counters.max_ns, ns);
	b = ServingBucket((double) ns / 1000.0);
	le->counters.hist[b]++;
	le->hist_lo = Min(le->hist_lo, b);
	le->hist_hi = Max(le->hist_hi, b);

	elapsed = end;
	INSTR_TIME_SUBTRACT(elapsed, last_flush);
	if (INSTR_TIME_GET_MICROSEC(elapsed) >= SERVING_FLUSH_US)
		ServingFlush();
}

/*
 * The call begun last succeeded: count it with its latency.
 */
void
ServingCallEnd(void)
{
	instr_time	end;
	instr_time	elapsed;

	if (!pending.active || pending.model_id == 0)
		return;
	INSTR_TIME_SET_CURRENT(end);
	elapsed = end;
	INSTR_TIME_SUBTRACT(elapsed, pending.start);
	pending.active = false;
	ServingCount(pending.model_id, pending.project_id, pending.variant,
				 InstrNanoseconds(elapsed), end);
}

/*
 * Count a row that a batch scored (batch_scan.c) as a call that succeeded:
 * its latency us is its share of the batch's time, the batch ended at
 * "end".
 */
void
ServingCountBatchRow(int64 model_id, int64 project_id, ServingVariant variant, double us,
					 instr_time end)
{
	if (!mlops_track_serving || serving_hash == NULL)
		return;
	ServingRegisterCallbacks();
	if (INSTR_TIME_IS_ZERO(last_flush))
		last_flush = end;
	ServingCount(model_id, project_id, variant, (uint64) (us * 1000.0), end);
}

/*
 * When the call being timed began, as a timestamp, without reading the
 * clock again; the wall clock when no call is timed (statistics off or
 * not preloaded).
 */
TimestampTz
ServingCallTimestamp(void)
{
	if (pending.active)
		return InstrToTimestamp(pending.start);
	return GetCurrentTimestamp();
}

/*
 * Count a prediction-log row that was dropped (the queue was full, or the
 * row could not be logged here).
 */
void
ServingCountDropped(int64 model_id, int64 project_id, ServingVariant variant)
{
	if (!mlops_track_serving || serving_hash == NULL)
		return;
	LocalEntryFor(model_id, project_id, variant)->counters.dropped++;
}

/*
 * Define mlops.track_serving; when preloading, request the shared memory
 * and install the hooks.
 */
void
ServingStatsInit(void)
{
	DefineCustomBoolVariable("mlops.track_serving",
							 "Collects serving statistics (calls, errors, latency) of predict in shared memory.",
							 "Needs mlops in shared_preload_libraries; only a superuser can change it.",
							 &mlops_track_serving,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ServingShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ServingShmemStartup;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = ServingExecutorEnd;
}
