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
 * ServingCallEnd read the clock and add to a small local table, which is
 * flushed (a shared lock on the hash, a spinlock per entry) at the end of
 * each statement, when a transaction aborts, at backend exit, and when a
 * call ends 100 ms or more after the last flush.  A call begun and not
 * ended when its (sub)transaction aborts is an error.  Hot standbys count
 * their own calls: nothing here writes to a table.
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
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "privileges.h"
#include "serve/serving_stats.h"

/* entries in shared memory: (database, model, variant) triples */
#define SERVING_MAX_ENTRIES 2000
/* histogram buckets; see the file comment */
#define SERVING_BUCKETS 128
/* entries a backend accumulates between flushes */
#define SERVING_LOCAL_ENTRIES 16
/* the longest a backend keeps counts to itself inside a statement */
#define SERVING_FLUSH_US 100000.0

bool		mlops_track_serving = true;

typedef struct ServingKey
{
	Oid			dboid;
	int32		variant;
	int64		model_id;
} ServingKey;

/* what one entry counts; the same in shared and local memory */
typedef struct ServingCounters
{
	int64		calls;
	int64		errors;
	int64		dropped;
	double		sum_us;
	double		max_us;
	TimestampTz first_call;		/* 0: no call yet */
	TimestampTz last_call;
	int64		hist[SERVING_BUCKETS];
} ServingCounters;

typedef struct ServingEntry
{
	ServingKey	key;			/* hash key */
	int64		project_id;
	TimestampTz stats_reset;	/* when counting began: the entry's first
								 * call since start-up or a reset */
	slock_t		mutex;			/* protects counters */
	ServingCounters counters;
} ServingEntry;

typedef struct ServingShared
{
	LWLock	   *lock;			/* the hash's shape: shared to add counts */
} ServingShared;

/* a backend's counts not flushed yet; call times as instr_time */
typedef struct LocalEntry
{
	ServingKey	key;
	int64		project_id;
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

static ServingShared *serving_shared = NULL;
static HTAB *serving_hash = NULL;

static LocalEntry local_entries[SERVING_LOCAL_ENTRIES];
static int	nlocal = 0;
static PendingCall pending;
static instr_time last_flush;
static bool callbacks_registered = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

static const char *const variant_names[SERVING_VARIANTS] = {
	[SERVING_CHAMPION] = "champion",
	[SERVING_CHALLENGER] = "challenger",
	[SERVING_SHADOW] = "shadow",
};

PG_FUNCTION_INFO_V1(mlops_serving_stats_entries);
PG_FUNCTION_INFO_V1(mlops_serving_histogram_entries);
PG_FUNCTION_INFO_V1(mlops_serving_stats_reset);

/*
 * Name of a variant, as the view shows it.
 */
const char *
ServingVariantName(ServingVariant variant)
{
	return variant_names[variant];
}

/*
 * Shared memory the statistics take.
 */
static Size
ServingShmemSize(void)
{
	return add_size(MAXALIGN(sizeof(ServingShared)),
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
	serving_shared = ShmemInitStruct("mlops serving stats", sizeof(ServingShared), &found);
	if (!found)
		serving_shared->lock = &(GetNamedLWLockTranche("mlops serving stats"))->lock;
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
static inline double
ServingBucketUpper(int b)
{
	return exp2((b - 8) / 4.0);
}

/*
 * Add one set of counters to another (times are added by the caller);
 * only the histogram buckets lo..hi of from may be non-zero.
 */
static void
CountersAdd(ServingCounters *to, const ServingCounters *from, int lo, int hi)
{
	to->calls += from->calls;
	to->errors += from->errors;
	to->dropped += from->dropped;
	to->sum_us += from->sum_us;
	to->max_us = Max(to->max_us, from->max_us);
	for (int b = lo; b <= hi; b++)
		to->hist[b] += from->hist[b];
}

/*
 * A timestamp for a moment measured with the monotonic clock, given now
 * in both clocks.
 */
static TimestampTz
InstrToTimestamp(instr_time t, instr_time now_instr, TimestampTz now)
{
	instr_time	ago = now_instr;

	INSTR_TIME_SUBTRACT(ago, t);
	return now - (TimestampTz) INSTR_TIME_GET_MICROSEC(ago);
}

/*
 * Move the backend's local counts to shared memory.  An entry that does
 * not fit any more (the hash is full) loses its counts.  Never raises an
 * error, so that it may run while a transaction aborts.
 */
static void
ServingFlush(void)
{
	TimestampTz now;
	instr_time	now_instr;

	INSTR_TIME_SET_CURRENT(now_instr);
	last_flush = now_instr;
	if (nlocal == 0 || serving_hash == NULL)
	{
		nlocal = 0;
		return;
	}
	now = GetCurrentTimestamp();
	for (int i = 0; i < nlocal; i++)
	{
		LocalEntry *le = &local_entries[i];
		ServingEntry *e;
		bool		found;

		LWLockAcquire(serving_shared->lock, LW_SHARED);
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
					InstrToTimestamp(le->first_end, now_instr, now) : now;
				SpinLockInit(&e->mutex);
				memset(&e->counters, 0, sizeof(ServingCounters));
			}
		}
		if (e != NULL)
		{
			volatile ServingEntry *ve = e;

			SpinLockAcquire(&ve->mutex);
			CountersAdd(&e->counters, &le->counters, le->hist_lo, le->hist_hi);
			if (le->counters.calls > 0)
			{
				TimestampTz first = InstrToTimestamp(le->first_end, now_instr, now);

				if (e->counters.first_call == 0 || first < e->counters.first_call)
					e->counters.first_call = first;
				e->counters.last_call = Max(e->counters.last_call,
											InstrToTimestamp(le->last_end, now_instr, now));
			}
			SpinLockRelease(&ve->mutex);
		}
		LWLockRelease(serving_shared->lock);
	}
	nlocal = 0;
}

/*
 * The local entry of a model and variant, made (flushing the others when
 * the table is full) if there is none.
 */
static LocalEntry *
LocalEntryFor(int64 model_id, int64 project_id, ServingVariant variant)
{
	LocalEntry *le;

	for (int i = 0; i < nlocal; i++)
	{
		le = &local_entries[i];
		if (le->key.model_id == model_id && le->key.variant == (int32) variant)
			return le;
	}
	if (nlocal == SERVING_LOCAL_ENTRIES)
		ServingFlush();
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
	if (nlocal > 0)
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
	INSTR_TIME_SET_CURRENT(last_flush);
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
 * Count a call of a model that succeeded, us microseconds long, ended at
 * "end"; flush when the last flush is old enough.
 */
static void
ServingCount(int64 model_id, int64 project_id, ServingVariant variant, double us,
			 instr_time end)
{
	instr_time	elapsed;
	int			b;
	LocalEntry *le;

	le = LocalEntryFor(model_id, project_id, variant);
	if (le->counters.calls == 0)
		le->first_end = end;
	le->last_end = end;
	le->counters.calls++;
	le->counters.sum_us += us;
	le->counters.max_us = Max(le->counters.max_us, us);
	b = ServingBucket(us);
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
				 INSTR_TIME_GET_DOUBLE(elapsed) * 1e6, end);
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
	ServingCount(model_id, project_id, variant, us, end);
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
 * The q-quantile of a histogram of n latencies, clamped to max_us.
 */
static double
ServingQuantile(const int64 *hist, int64 n, double q, double max_us)
{
	int64		rank = (int64) ceil(q * (double) n);
	int64		seen = 0;

	rank = Max(rank, 1);
	for (int b = 0; b < SERVING_BUCKETS; b++)
	{
		seen += hist[b];
		if (seen >= rank)
			return Min(ServingBucketUpper(b), max_us);
	}
	return max_us;
}

/*
 * Copies of this database's entries on whose project the caller holds a
 * privilege, after flushing the caller's own counts.
 */
static ServingEntry *
ServingVisibleEntries(int *n)
{
	HASH_SEQ_STATUS seq;
	ServingEntry *e;
	ServingEntry *copies;
	int			ncopies = 0;
	int			nvisible = 0;

	ServingFlush();
	/* copy the entries out under the lock, then check privileges outside it */
	LWLockAcquire(serving_shared->lock, LW_SHARED);
	copies = palloc(sizeof(ServingEntry) * Max(1, hash_get_num_entries(serving_hash)));
	hash_seq_init(&seq, serving_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		volatile ServingEntry *ve = e;

		if (e->key.dboid != MyDatabaseId)
			continue;
		SpinLockAcquire(&ve->mutex);
		copies[ncopies++] = *e;
		SpinLockRelease(&ve->mutex);
	}
	LWLockRelease(serving_shared->lock);
	for (int i = 0; i < ncopies; i++)
		if (PrivilegeHeld(copies[i].project_id, PRIV_ALL))
			copies[nvisible++] = copies[i];
	*n = nvisible;
	return copies;
}

/*
 * mlops.serving_stats_entries(): the entries of this database on whose
 * project the caller holds a privilege, with model ids; the view
 * mlops.serving_stats names the project and version.
 */
Datum
mlops_serving_stats_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ServingEntry *entries;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (serving_hash == NULL)
		return (Datum) 0;
	entries = ServingVisibleEntries(&n);
	for (int i = 0; i < n; i++)
	{
		ServingEntry *c = &entries[i];
		const ServingCounters *k = &c->counters;
		Datum		values[13];
		bool		nulls[13] = {0};

		values[0] = Int64GetDatum(c->key.model_id);
		values[1] = CStringGetTextDatum(ServingVariantName((ServingVariant) c->key.variant));
		values[2] = Int64GetDatum(k->calls);
		values[3] = Int64GetDatum(k->errors);
		values[4] = Int64GetDatum(k->dropped);
		if (k->calls > 0)
		{
			values[5] = Float8GetDatum(k->sum_us / (double) k->calls);
			values[6] = Float8GetDatum(ServingQuantile(k->hist, k->calls, 0.50, k->max_us));
			values[7] = Float8GetDatum(ServingQuantile(k->hist, k->calls, 0.95, k->max_us));
			values[8] = Float8GetDatum(ServingQuantile(k->hist, k->calls, 0.99, k->max_us));
			values[9] = Float8GetDatum(k->max_us);
			values[10] = TimestampTzGetDatum(k->first_call);
			values[11] = TimestampTzGetDatum(k->last_call);
		}
		else
			for (int j = 5; j <= 11; j++)
				nulls[j] = true;
		values[12] = TimestampTzGetDatum(c->stats_reset);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * mlops.serving_histogram_entries(): the non-empty latency histogram
 * buckets of the same entries: model id, variant, the bucket's upper
 * bound in microseconds (le_us) and its calls.
 */
Datum
mlops_serving_histogram_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ServingEntry *entries;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (serving_hash == NULL)
		return (Datum) 0;
	entries = ServingVisibleEntries(&n);
	for (int i = 0; i < n; i++)
	{
		ServingEntry *c = &entries[i];

		for (int b = 0; b < SERVING_BUCKETS; b++)
		{
			Datum		values[4];
			bool		nulls[4] = {0};

			if (c->counters.hist[b] == 0)
				continue;
			values[0] = Int64GetDatum(c->key.model_id);
			values[1] = CStringGetTextDatum(ServingVariantName((ServingVariant) c->key.variant));
			values[2] = Float8GetDatum(ServingBucketUpper(b));
			values[3] = Int64GetDatum(c->counters.hist[b]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/*
 * mlops.serving_stats_reset(): forget the statistics of this database's
 * models whose project the caller administers (a superuser: all of them).
 */
Datum
mlops_serving_stats_reset(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS seq;
	ServingEntry *e;
	int64	   *projects;
	bool	   *allowed;
	int			nprojects = 0;

	if (serving_hash == NULL)
		PG_RETURN_VOID();
	ServingFlush();

	/* decide per project first: privilege checks may read tables */
	LWLockAcquire(serving_shared->lock, LW_SHARED);
	projects = palloc(sizeof(int64) * Max(1, hash_get_num_entries(serving_hash)));
	hash_seq_init(&seq, serving_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (e->key.dboid == MyDatabaseId)
			projects[nprojects++] = e->project_id;
	LWLockRelease(serving_shared->lock);
	allowed = palloc(sizeof(bool) * Max(1, nprojects));
	for (int i = 0; i < nprojects; i++)
		allowed[i] = superuser() || PrivilegeHeld(projects[i], PRIV_ADMIN);

	LWLockAcquire(serving_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, serving_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->key.dboid != MyDatabaseId)
			continue;
		for (int i = 0; i < nprojects; i++)
			if (projects[i] == e->project_id && allowed[i])
			{
				hash_search(serving_hash, &e->key, HASH_REMOVE, NULL);
				break;
			}
	}
	LWLockRelease(serving_shared->lock);
	PG_RETURN_VOID();
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
