/*-------------------------------------------------------------------------
 *
 * serving_stats_sql.c
 *	  The SQL side of serving statistics: mlops.serving_stats_entries and
 *	  mlops.serving_histogram_entries (under the views mlops.serving_stats
 *	  and mlops.serving_latency_histogram), and mlops.serving_stats_reset.
 *	  serving_stats.c counts.
 *
 * Every function shows or resets only the entries of the current database
 * whose project the caller holds a privilege on (admin, for a reset), and
 * does nothing when mlops is not preloaded (there is no shared memory).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "privileges.h"
#include "serve/serving_stats.h"
#include "serve/serving_stats_internal.h"

PG_FUNCTION_INFO_V1(mlops_serving_stats_entries);
PG_FUNCTION_INFO_V1(mlops_serving_histogram_entries);
PG_FUNCTION_INFO_V1(mlops_serving_stats_reset);

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

/* an entry's counts as the views show them: the hash's and every slot's */
typedef struct ServingCopy
{
	ServingKey	key;
	int64		project_id;
	TimestampTz stats_reset;
	ServingCounters counters;
} ServingCopy;

/*
 * The copy of a key in a local hash of copies, made if there is none.
 */
static ServingCopy *
CopyFor(HTAB *copies, const ServingKey *key, int64 project_id)
{
	bool		found;
	ServingCopy *c = hash_search(copies, key, HASH_ENTER, &found);

	if (!found)
	{
		c->project_id = project_id;
		c->stats_reset = DT_NOEND;
		memset(&c->counters, 0, sizeof(ServingCounters));
	}
	return c;
}

/*
 * Copies of this database's entries: the shared hash's counts plus those
 * of every backend's slot, read under the lock held shared so that no
 * slot is folded into the hash meanwhile (its counts would be seen twice,
 * or not at all).  Returns a local hash of ServingCopy.
 */
static HTAB *
ServingCollect(void)
{
	HASHCTL		info;
	HTAB	   *copies;
	HASH_SEQ_STATUS seq;
	ServingEntry *e;
	ServingCopy *c;
	ServingSlotEntry *slot = palloc(sizeof(ServingSlotEntry) * SERVING_SLOT_ENTRIES);

	info.keysize = sizeof(ServingKey);
	info.entrysize = sizeof(ServingCopy);
	info.hcxt = CurrentMemoryContext;
	copies = hash_create("mlops serving stats copies", 64, &info,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	LWLockAcquire(serving_shared->lock, LW_SHARED);
	hash_seq_init(&seq, serving_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->key.dboid != MyDatabaseId)
			continue;
		c = CopyFor(copies, &e->key, e->project_id);
		c->stats_reset = e->stats_reset;
		c->counters = e->counters;
	}
	for (int i = 0; i < serving_shared->nslots; i++)
	{
		int			nentries;

		ServingCopySlot(&serving_shared->slots[i], slot, &nentries);
		for (int j = 0; j < nentries; j++)
		{
			ServingSlotEntry *se = &slot[j];

			if (se->key.dboid != MyDatabaseId || se->since_ns == 0 || ServingSlotEntryVoid(se))
				continue;
			c = CopyFor(copies, &se->key, se->project_id);
			ServingAddSlotEntry(&c->counters, &c->stats_reset, se);
		}
	}
	LWLockRelease(serving_shared->lock);
	pfree(slot);
	return copies;
}

/*
 * Copies of this database's entries on whose project the caller holds a
 * privilege (checked outside the lock: checks may read tables).
 */
static ServingCopy *
ServingVisibleEntries(int *n)
{
	HTAB	   *copies = ServingCollect();
	HASH_SEQ_STATUS seq;
	ServingCopy *c;
	ServingCopy *visible = palloc(sizeof(ServingCopy) * Max(1, hash_get_num_entries(copies)));
	int			nvisible = 0;

	hash_seq_init(&seq, copies);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (PrivilegeHeld(c->project_id, PRIV_ALL))
			visible[nvisible++] = *c;
	hash_destroy(copies);
	*n = nvisible;
	return visible;
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
	ServingCopy *entries;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (serving_hash == NULL)
		return (Datum) 0;
	entries = ServingVisibleEntries(&n);
	for (int i = 0; i < n; i++)
	{
		ServingCopy *c = &entries[i];
		const ServingCounters *k = &c->counters;
		double		max_us = (double) k->max_ns / 1000.0;
		Datum		values[13];
		bool		nulls[13] = {0};

		values[0] = Int64GetDatum(c->key.model_id);
		values[1] = CStringGetTextDatum(ServingVariantName((ServingVariant) c->key.variant));
		values[2] = Int64GetDatum(k->calls);
		values[3] = Int64GetDatum(k->errors);
		values[4] = Int64GetDatum(k->dropped);
		if (k->calls > 0)
		{
			values[5] = Float8GetDatum((double) k->sum_ns / 1000.0 / (double) k->calls);
			values[6] = Float8GetDatum(ServingQuantile(k->hist, k->calls, 0.50, max_us));
			values[7] = Float8GetDatum(ServingQuantile(k->hist, k->calls, 0.95, max_us));
			values[8] = Float8GetDatum(ServingQuantile(k->hist, k->calls, 0.99, max_us));
			values[9] = Float8GetDatum(max_us);
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
	ServingCopy *entries;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (serving_hash == NULL)
		return (Datum) 0;
	entries = ServingVisibleEntries(&n);
	for (int i = 0; i < n; i++)
	{
		ServingCopy *c = &entries[i];

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
 * Is a project among n projects?
 */
static bool
ProjectIn(int64 project_id, const int64 *projects, int n)
{
	for (int i = 0; i < n; i++)
		if (projects[i] == project_id)
			return true;
	return false;
}

/*
 * mlops.serving_stats_reset(): forget the statistics of this database's
 * models whose project the caller administers (a superuser: all of them):
 * remove their entries of the shared hash and void those of every
 * backend's slot (see serving_stats.c).
 */
Datum
mlops_serving_stats_reset(PG_FUNCTION_ARGS)
{
	HTAB	   *copies;
	ServingCopy *c;
	int64	   *allowed;
	int			nallowed = 0;
	HASH_SEQ_STATUS seq;
	ServingEntry *e;

	if (serving_hash == NULL)
		PG_RETURN_VOID();

	/* decide per project first: privilege checks may read tables */
	copies = ServingCollect();
	allowed = palloc(sizeof(int64) * Max(1, hash_get_num_entries(copies)));
	hash_seq_init(&seq, copies);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (superuser() || PrivilegeHeld(c->project_id, PRIV_ADMIN))
			allowed[nallowed++] = c->project_id;

	LWLockAcquire(serving_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, serving_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (e->key.dboid == MyDatabaseId && ProjectIn(e->project_id, allowed, nallowed))
			hash_search(serving_hash, &e->key, HASH_REMOVE, NULL);
	for (int i = 0; i < serving_shared->nslots; i++)
	{
		ServingSlot *slot = &serving_shared->slots[i];
		int			nentries = ((volatile ServingSlot *) slot)->nentries;

		/* an entry's key is written before it is counted in nentries */
		pg_read_barrier();
		for (int j = 0; j < nentries; j++)
		{
			ServingSlotEntry *se = &slot->entries[j];

			if (se->key.dboid == MyDatabaseId && ProjectIn(se->project_id, allowed, nallowed))
				pg_atomic_fetch_add_u32(&se->reset_count, 1);
		}
	}
	LWLockRelease(serving_shared->lock);
	PG_RETURN_VOID();
}
