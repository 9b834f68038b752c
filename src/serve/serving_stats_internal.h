/*-------------------------------------------------------------------------
 *
 * serving_stats_internal.h
 *	  The shared memory of serving statistics, which serving_stats.c counts
 *	  into and serving_stats_sql.c reads and resets; not for other modules,
 *	  which use serving_stats.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_SERVING_STATS_INTERNAL_H
#define MLOPS_SERVING_STATS_INTERNAL_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/hsearch.h"

#include "serve/serving_stats.h"

/* histogram buckets; see serving_stats.c */
#define SERVING_BUCKETS 128
/* entries a backend counts in before it folds them into the hash */
#define SERVING_SLOT_ENTRIES 16

typedef struct ServingKey
{
	Oid			dboid;
	int32		variant;
	int64		model_id;
} ServingKey;

/* what one entry counts */
typedef struct ServingCounters
{
	int64		calls;
	int64		errors;
	int64		dropped;
	uint64		sum_ns;
	uint64		max_ns;
	TimestampTz first_call;		/* 0: no call yet */
	TimestampTz last_call;
	int64		hist[SERVING_BUCKETS];
} ServingCounters;

/*
 * An entry of the shared hash: the counts of backends that have exited or
 * folded their slot.  Changed only under the lock held exclusively.
 */
typedef struct ServingEntry
{
	ServingKey	key;			/* hash key */
	int64		project_id;
	TimestampTz stats_reset;	/* when counting began */
	ServingCounters counters;
} ServingEntry;

/*
 * An entry of a backend's slot.  Times are of the monotonic clock in
 * nanoseconds (a reader turns them into timestamps).  The counts are void
 * when reset_count has moved past counted_reset: a reset, which cannot
 * write counts another backend is adding to, advances reset_count, and
 * the owner clears the counts at its next use of the entry.
 */
typedef struct ServingSlotEntry
{
	ServingKey	key;
	int64		project_id;
	pg_atomic_uint32 reset_count;	/* advanced by a reset of the entry */
	uint32		counted_reset;	/* reset_count the counts began at */
	uint64		since_ns;		/* when counting began; 0: no counts */
	uint64		first_ns;		/* the first and last call's end */
	uint64		last_ns;
	int64		calls;
	int64		errors;
	int64		dropped;
	uint64		sum_ns;
	uint64		max_ns;
	int64		hist[SERVING_BUCKETS];
} ServingSlotEntry;

/*
 * A backend's own counts, by pgprocno.  Only the owner writes them,
 * making changecount odd while it does (the pattern of PgBackendStatus's
 * st_changecount); readers copy them until they see the same even count
 * before and after.
 */
typedef struct ServingSlot
{
	pg_atomic_uint32 changecount;
	int			nentries;
	ServingSlotEntry entries[SERVING_SLOT_ENTRIES];
} ServingSlot;

typedef struct ServingShared
{
	LWLock	   *lock;			/* shared to read, exclusive to change the
								 * hash or to remove a slot's entries */
	int			nslots;
	ServingSlot slots[FLEXIBLE_ARRAY_MEMBER];
} ServingShared;

extern ServingShared *serving_shared;
extern HTAB *serving_hash;

extern double ServingBucketUpper(int b);
extern TimestampTz ServingNanosecondsToTimestamp(uint64 ns);
extern bool ServingSlotEntryVoid(const ServingSlotEntry *e);
extern void ServingCopySlot(ServingSlot *slot, ServingSlotEntry *copy, int *n);
extern void ServingAddSlotEntry(ServingCounters *c, TimestampTz *stats_reset,
								const ServingSlotEntry *se);

#endif							/* MLOPS_SERVING_STATS_INTERNAL_H */
