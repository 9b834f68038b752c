/*-------------------------------------------------------------------------
 *
 * serving_stats_internal.h
 *	  The shared-memory entries of serving statistics, which
 *	  serving_stats.c counts into and serving_stats_sql.c reads and
 *	  resets; not for other modules, which use serving_stats.h.
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

typedef struct ServingKey
{
	Oid			dboid;
	int32		variant;
	int64		model_id;
} ServingKey;

/* what one entry counts, in local memory and in copies of shared entries */
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

/* an entry of the shared hash; every counter an atomic */
typedef struct ServingEntry
{
	ServingKey	key;			/* hash key */
	int64		project_id;
	TimestampTz stats_reset;	/* when counting began: the entry's first
								 * call since start-up or a reset */
	pg_atomic_uint64 calls;
	pg_atomic_uint64 errors;
	pg_atomic_uint64 dropped;
	pg_atomic_uint64 sum_ns;
	pg_atomic_uint64 max_ns;
	pg_atomic_uint64 first_call;	/* a TimestampTz; 0: no call yet */
	pg_atomic_uint64 last_call;
	pg_atomic_uint64 hist[SERVING_BUCKETS];
} ServingEntry;

/* a backend's flag, on a cache line of its own */
typedef union ServingFlushing
{
	pg_atomic_uint32 flag;		/* 1 while flushing without the lock */
	char		pad[PG_CACHE_LINE_SIZE];
} ServingFlushing;

typedef struct ServingShared
{
	LWLock	   *lock;			/* the hash's shape: shared to look up or
								 * add, exclusive to remove */
	pg_atomic_uint64 generation;	/* advanced before entries are removed */
	int			nflushing;
	ServingFlushing flushing[FLEXIBLE_ARRAY_MEMBER];	/* by pgprocno */
} ServingShared;

extern ServingShared *serving_shared;
extern HTAB *serving_hash;

extern void ServingFlush(void);
extern double ServingBucketUpper(int b);

#endif							/* MLOPS_SERVING_STATS_INTERNAL_H */
