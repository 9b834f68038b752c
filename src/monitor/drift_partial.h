/*-------------------------------------------------------------------------
 *
 * drift_partial.h
 *	  What mlops.drift compares with a reference profile: a summary of the
 *	  current values of each model input, and the partial profiles that
 *	  build it per shard of a distributed table.
 *
 * drift.c compares a DriftSummary with a ProfileFeature; it builds the
 * summaries from a relation it reads itself (every non-NULL value in the
 * sample), or, for a distributed Citus table, gets them from
 * DriftPartialRead: the aggregate mlops.drift_profile computed in the
 * worker tasks and merged on the coordinator (drift_partial.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DRIFT_PARTIAL_H
#define MLOPS_DRIFT_PARTIAL_H

#include "postgres.h"

#include "monitor/profile.h"

/*
 * The current values of one model input (or of the predictions), as drift
 * compares them with the input's reference statistics.
 */
typedef struct DriftSummary
{
	int64		rows;			/* rows read */
	int64		nulls;			/* NULL (or NaN) values among them */
	/* numeric */
	int64		histogram[PROFILE_BINS];	/* non-NULL values per bin of the
											 * reference's edges (zero when
											 * it has none) */
	int64		outside;		/* non-NULL values outside the reference's
								 * [min, max] */
	int			nsample;
	double	   *sample;			/* sorted ascending: the values ks and
								 * wasserstein compare */
	/* categorical */
	int			ncategories;	/* distinct non-NULL values, in no order */
	char	  **categories;
	int64	   *counts;			/* per category, each > 0 */
} DriftSummary;

/*
 * Whether drift reads relid through partial profiles: a distributed
 * (sharded) Citus table.
 */
extern bool DriftPartialApplies(Oid relid);

/*
 * The summaries of the profile's inputs and, when it has them, of the
 * model's predictions (the last one), merged from the partial profiles of
 * relid's shards (relname, quoted), read as the calling role.  sample_size
 * bounds each sample (0: none).  Returns NULL when the relation has no
 * rows.
 */
extern DriftSummary *DriftPartialRead(Oid relid, const char *relname, int64 model_id,
									  const Profile *profile, int sample_size);

#endif							/* MLOPS_DRIFT_PARTIAL_H */
