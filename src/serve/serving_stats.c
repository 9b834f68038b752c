/*-------------------------------------------------------------------------
 *
 * serving_stats.c
 *	  Serving statistics in shared memory: counting calls, errors and
 *	  dropped prediction-log rows with their latencies, per database, model
 *	  and variant; mlops.track_serving.
 *
 * Each backend counts in a slot of its own in shared memory (by
 * pgprocno): up to SERVING_SLOT_ENTRIES entries of calls, errors, dropped
 * log rows, the sum and maximum of the latencies, the first and last
 * call, and a fixed log-scale histogram of latencies from which the
 * percentiles are read.  Only the owner writes its slot, without a lock or
 * an atomic operation: it makes the slot's change count odd while it
 * writes, and readers copy a slot until they see the same even count
 * before and after (PgBackendStatus's st_changecount pattern).  So a call
 * costs two clock reads and a few stores to memory no other backend
 * writes, nothing is flushed at the end of a statement, and what a
 * backend counted is visible to the views at once.
 *
 * A shared hash holds the counts of the slots that were folded into it:
 * at backend exit, and when a backend needs a new entry in a full slot.
 * Folding takes the hash's lock exclusively; readers take it shared, so
 * that a slot's counts are seen either in the slot or in the hash, never
 * in both.  A reset (serving_stats_sql.c) removes hash entries and, since
 * it must not write counts an owner is adding to, advances the
 * reset_count of the slot entries it resets: those counts are void from
 * then on, and the owner clears them when it next uses the entry.
 *
 * The slots and the hash are requested in shmem_request_hook and made in
 * shmem_startup_hook, so they exist only when mlops is in
 * shared_preload_libraries; otherwise every function here does nothing
 * and the views are empty.  A call begun and not ended when its
 * (sub)transaction aborts is an error.  Hot standbys count their own
 * calls: nothing here writes to a table.  Call times come from the
 * monotonic clock; a reader turns them into timestamps through an offset
 * to the wall clock that it reads again every second (and the prediction
 * log takes a call's time from here, ServingCallTimestamp).
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
#include "miscadmin.h"
#include "port/atomics.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "serve/serving_stats.h"
#include "serve/serving_stats_internal.h"

/* entries in the shared hash: (database, model, variant) triples */
#define SERVING_MAX_ENTRIES 2000

bool		mlops_track_serving = true;

/* the call between ServingCallBegin and ServingCallEnd */
typedef struct PendingCall
{
	bool		active;
	int64		model_id;
	int64		project_id;
	ServingVariant variant;
	uint64		start_ns;
} PendingCall;

ServingShared *serving_shared = NULL;
HTAB	   *serving_hash = NULL;

/* this backend's slot; NULL until its first call, or when it has none */
static ServingSlot *my_slot = NULL;
static PendingCall pending;
static bool callbacks_registered = false;
/* the wall clock at a moment of the monotonic clock, read every second */
static uint64 clock_ns;
static TimestampTz clock_wall;
static bool clock_set = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

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
 * Size of the shared state besides the hash: a slot per backend
 * (MaxBackends is known from shmem_request_hook on).
 */
static Size
ServingSharedSize(void)
{
	return add_size(offsetof(ServingShared, slots),
					mul_size(sizeof(ServingSlot), MaxBackends));
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
 * shmem_request_hook: reserve the slots, the hash and its lock.
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
		serving_shared->nslots = MaxBackends;
		for (int i = 0; i < MaxBackends; i++)
		{
			pg_atomic_init_u32(&serving_shared->slots[i].changecount, 0);
			serving_shared->slots[i].nentries = 0;
		}
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
 * Nanoseconds of a reading of the monotonic clock.
 */
static inline uint64
InstrNanoseconds(instr_time t)
{
	return (uint64) t.tv_sec * UINT64CONST(1000000000) + (uint64) t.tv_nsec;
}

/*
 * The monotonic clock now, in nanoseconds.
 */
static inline uint64
NowNanoseconds(void)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	return InstrNanoseconds(now);
}

/*
 * A timestamp for a moment of the monotonic clock (in nanoseconds): from
 * the wall clock read at clock_ns, read again when that is a second or
 * more away (so that the two clocks cannot drift apart by much: NTP slews
 * the wall clock by at most 0.5 ms a second).  The monotonic clock is the
 * whole system's, so any backend can convert another one's times.
 */
TimestampTz
ServingNanosecondsToTimestamp(uint64 ns)
{
	int64		since = (int64) (ns - clock_ns);

	if (!clock_set || since >= INT64CONST(1000000000) || since <= -INT64CONST(1000000000))
	{
		clock_ns = NowNanoseconds();
		clock_wall = GetCurrentTimestamp();
		clock_set = true;
		since = (int64) (ns - clock_ns);
	}
	return clock_wall + since / 1000;
}

/*
 * Are a slot entry's counts void (reset since they began)?
 */
bool
ServingSlotEntryVoid(const ServingSlotEntry *e)
{
	return pg_atomic_read_u32(unconstify(pg_atomic_uint32 *, &e->reset_count)) != e->counted_reset;
}

/*
 * Copy a slot's entries (into copy, SERVING_SLOT_ENTRIES long) as they
 * were between two of its owner's writes.
 */
void
ServingCopySlot(ServingSlot *slot, ServingSlotEntry *copy, int *n)
{
	for (;;)
	{
		uint32		before = pg_atomic_read_u32(&slot->changecount);

		pg_read_barrier();
		*n = ((volatile ServingSlot *) slot)->nentries;
		memcpy(copy, slot->entries, sizeof(ServingSlotEntry) * *n);
		pg_read_barrier();
		if (before % 2 == 0 && pg_atomic_read_u32(&slot->changecount) == before)
			return;
		/* the owner was writing (for nanoseconds, unless descheduled) */
		pg_usleep(1);
	}
}

/*
 * Begin and end a change of this backend's slot.
 */
static inline void
SlotBeginWrite(void)
{
	pg_atomic_write_u32(&my_slot->changecount, pg_atomic_read_u32(&my_slot->changecount) + 1);
	pg_write_barrier();
}

static inline void
SlotEndWrite(void)
{
	pg_write_barrier();
	pg_atomic_write_u32(&my_slot->changecount, pg_atomic_read_u32(&my_slot->changecount) + 1);
}

/*
 * Add a slot entry's counts to counters c, whose counting began at
 * *stats_reset (DT_NOEND: no counts yet): for the fold into the shared
 * hash and for the views' copies alike.
 */
void
ServingAddSlotEntry(ServingCounters *c, TimestampTz *stats_reset, const ServingSlotEntry *se)
{
	*stats_reset = Min(*stats_reset, ServingNanosecondsToTimestamp(se->since_ns));
	if (se->calls > 0)
	{
		TimestampTz first = ServingNanosecondsToTimestamp(se->first_ns);
		TimestampTz last = ServingNanosecondsToTimestamp(se->last_ns);

		c->first_call = c->calls > 0 ? Min(c->first_call, first) : first;
		c->last_call = c->calls > 0 ? Max(c->last_call, last) : last;
		c->calls += se->calls;
		c->sum_ns += se->sum_ns;
		c->max_ns = Max(c->max_ns, se->max_ns);
		for (int b = 0; b < SERVING_BUCKETS; b++)
			c->hist[b] += se->hist[b];
	}
	c->errors += se->errors;
	c->dropped += se->dropped;
}

/*
 * Add a slot entry's counts to the shared hash (the lock held
 * exclusively).  An entry that does not fit any more (the hash is full)
 * loses its counts.
 */
static void
FoldEntry(const ServingSlotEntry *se)
{
	ServingEntry *e;
	bool		found;

	e = hash_search(serving_hash, &se->key, HASH_ENTER_NULL, &found);
	if (e == NULL)
		return;
	if (!found)
	{
		e->project_id = se->project_id;
		e->stats_reset = DT_NOEND;
		memset(&e->counters, 0, sizeof(ServingCounters));
	}
	ServingAddSlotEntry(&e->counters, &e->stats_reset, se);
}

/*
 * Move this backend's slot into the shared hash and empty it.
 */
static void
FoldSlot(void)
{
	LWLockAcquire(serving_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < my_slot->nentries; i++)
	{
		ServingSlotEntry *se = &my_slot->entries[i];

		if (se->since_ns != 0 && !ServingSlotEntryVoid(se))
			FoldEntry(se);
	}
	SlotBeginWrite();
	my_slot->nentries = 0;
	SlotEndWrite();
	LWLockRelease(serving_shared->lock);
}

/*
 * The slot entry of a model and variant, made (folding the slot into the
 * hash when it is full) if there is none, with a write of the slot begun
 * and the counts of a reset cleared.
 */
static ServingSlotEntry *
SlotEntryBeginWrite(int64 model_id, int64 project_id, ServingVariant variant)
{
	ServingSlotEntry *e;
	uint32		reset_count;

	for (int i = 0; i < my_slot->nentries; i++)
	{
		e = &my_slot->entries[i];
		if (e->key.model_id == model_id && e->key.variant == (int32) variant)
		{
			SlotBeginWrite();
			reset_count = pg_atomic_read_u32(&e->reset_count);
			if (reset_count != e->counted_reset)
			{
				memset(&e->since_ns, 0, sizeof(ServingSlotEntry) - offsetof(ServingSlotEntry, since_ns));
				e->counted_reset = reset_count;
			}
			return e;
		}
	}
	if (my_slot->nentries == SERVING_SLOT_ENTRIES)
		FoldSlot();
	SlotBeginWrite();
	e = &my_slot->entries[my_slot->nentries];
	memset(e, 0, sizeof(ServingSlotEntry));
	e->key.dboid = MyDatabaseId;
	e->key.variant = (int32) variant;
	e->key.model_id = model_id;
	e->project_id = project_id;
	pg_atomic_init_u32(&e->reset_count, 0);
	pg_write_barrier();			/* a reset may see the entry from now on */
	my_slot->nentries++;
	return e;
}

/*
 * Count the pending call as an error.
 */
static void
ServingCountPendingError(void)
{
	ServingSlotEntry *e;

	if (!pending.active)
		return;
	pending.active = false;
	if (pending.model_id == 0)
		return;
	e = SlotEntryBeginWrite(pending.model_id, pending.project_id, pending.variant);
	if (e->since_ns == 0)
		e->since_ns = NowNanoseconds();
	e->errors++;
	SlotEndWrite();
}

/*
 * Transaction callback: a call interrupted by an error is an error.
 */
static void
ServingXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		ServingCountPendingError();
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
 * Backend exit: the slot's counts go to the shared hash, and the slot is
 * left empty for the next backend with this pgprocno.
 */
static void
ServingExit(int code, Datum arg)
{
	pending.active = false;
	FoldSlot();
}

/*
 * Find this backend's slot and register the callbacks that count errors
 * and fold the slot at exit, once.  False when the backend has no slot
 * (only processes that cannot run SQL lack one).
 */
static bool
ServingAttach(void)
{
	if (callbacks_registered)
		return my_slot != NULL;
	callbacks_registered = true;
	if (MyProc == NULL || MyProc->pgprocno >= serving_shared->nslots)
		return false;
	my_slot = &serving_shared->slots[MyProc->pgprocno];
	RegisterXactCallback(ServingXactCallback, NULL);
	RegisterSubXactCallback(ServingSubXactCallback, NULL);
	before_shmem_exit(ServingExit, (Datum) 0);
	return true;
}

/*
 * Start timing a call (before its model is looked up, so that loading it
 * counts).
 */
void
ServingCallBegin(void)
{
	if (!mlops_track_serving || serving_hash == NULL || !ServingAttach())
		return;
	ServingCountPendingError();
	pending.model_id = 0;
	pending.active = true;
	pending.start_ns = NowNanoseconds();
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
 * end_ns.
 */
static void
ServingCount(int64 model_id, int64 project_id, ServingVariant variant, uint64 ns,
			 uint64 end_ns)
{
	ServingSlotEntry *e = SlotEntryBeginWrite(model_id, project_id, variant);

	if (e->since_ns == 0)
		e->since_ns = end_ns;
	if (e->calls == 0)
		e->first_ns = end_ns;
	e->last_ns = end_ns;
	e->calls++;
	e->sum_ns += ns;
	e->max_ns = Max(e->max_ns, ns);
	e->hist[ServingBucket((double) ns / 1000.0)]++;
	SlotEndWrite();
}

/*
 * The call begun last succeeded: count it with its latency.
 */
void
ServingCallEnd(void)
{
	uint64		end_ns;

	if (!pending.active || pending.model_id == 0)
		return;
	end_ns = NowNanoseconds();
	pending.active = false;
	ServingCount(pending.model_id, pending.project_id, pending.variant,
				 end_ns - pending.start_ns, end_ns);
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
	if (!mlops_track_serving || serving_hash == NULL || !ServingAttach())
		return;
	ServingCount(model_id, project_id, variant, (uint64) (us * 1000.0), InstrNanoseconds(end));
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
		return ServingNanosecondsToTimestamp(pending.start_ns);
	return GetCurrentTimestamp();
}

/*
 * Count a prediction-log row that was dropped (the queue was full, or the
 * row could not be logged here).
 */
void
ServingCountDropped(int64 model_id, int64 project_id, ServingVariant variant)
{
	ServingSlotEntry *e;

	if (!mlops_track_serving || serving_hash == NULL || !ServingAttach())
		return;
	e = SlotEntryBeginWrite(model_id, project_id, variant);
	if (e->since_ns == 0)
		e->since_ns = pending.active ? pending.start_ns : NowNanoseconds();
	e->dropped++;
	SlotEndWrite();
}

/*
 * Define mlops.track_serving; when preloading, request the shared memory.
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
}
