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

/* a copy of a shared entry, read out of its atomics */
typedef struct ServingCopy
{
	ServingKey	key;
	int64		project_id;
	TimestampTz stats_reset;
	ServingCounters counters;
} ServingCopy;

/*
 * Copies of this database's entries on whose project the caller holds a
 * privilege, after flushing the caller's own counts.  Calls are the sum
 * of the histogram read, so that the percentiles and calls agree even
 * while other backends flush.
 */
static ServingCopy *
ServingVisibleEntries(int *n)
{
	HASH_SEQ_STATUS seq;
	ServingEntry *e;
	ServingCopy *copies;
	int			ncopies = 0;
	int			nvisible = 0;

	ServingFlush();
	/* copy the entries out under the lock, then check privileges outside it */
	LWLockAcquire(serving_shared->lock, LW_SHARED);
	copies = palloc(sizeof(ServingCopy) * Max(1, hash_get_num_entries(serving_hash)));
	hash_seq_init(&seq, serving_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		ServingCopy *c;
		ServingCounters *k;

		if (e->key.dboid != MyDatabaseId)
			continue;
		c = &copies[ncopies++];
		k = &c->counters;
		c->key = e->key;
		c->project_id = e->project_id;
		c->stats_reset = e->stats_reset;
		k->calls = 0;
		for (int b = 0; b < SERVING_BUCKETS; b++)
		{
			k->hist[b] = (int64) pg_atomic_read_u64(&e->hist[b]);
			k->calls += k->hist[b];
		}
		k->errors = (int64) pg_atomic_read_u64(&e->errors);
		k->dropped = (int64) pg_atomic_read_u64(&e->dropped);
		k->sum_ns = pg_atomic_read_u64(&e->sum_ns);
		k->max_ns = pg_atomic_read_u64(&e->max_ns);
		k->first_call = (TimestampTz) pg_atomic_read_u64(&e->first_call);
		k->last_call = (TimestampTz) pg_atomic_read_u64(&e->last_call);
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
 * Before entries are removed (the hash's lock held exclusively): advance
 * the generation, so that no flush starting from now on uses an entry it
 * remembers, and wait for the flushes that started before, which may
 * still be adding to one.  A flush holds its flag for a few atomic
 * additions, so this waits a few microseconds at most (more only when
 * such a backend is descheduled).
 */
static void
ServingRetireEntries(void)
{
	pg_atomic_fetch_add_u64(&serving_shared->generation, 1);
	for (int i = 0; i < serving_shared->nflushing; i++)
		while (pg_atomic_read_u32(&serving_shared->flushing[i].flag) != 0)
			pg_usleep(10);
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
	ServingRetireEntries();
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
