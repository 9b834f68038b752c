/*-------------------------------------------------------------------------
 *
 * profile_internal.h
 *	  What building a profile from blocks of rows (profile_stream.c) shares
 *	  with building it from rows in memory (profile.c); not for other
 *	  modules, which use profile.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PROFILE_INTERNAL_H
#define MLOPS_PROFILE_INTERNAL_H

#include "postgres.h"

#include "lib/stringinfo.h"

#include "monitor/profile.h"

/*
 * A profile being built: the JSON text so far, with each value sample
 * written as a placeholder, the sample's index as a string, and kept
 * apart (see ProfileFillSamples).
 */
struct ProfileBuilder
{
	StringInfoData buf;
	int			ninputs;
	int			seed;
	int			sample_size;
	int			nsamples;
	char	  **samples;		/* each a JSON string, quotes included */
};

/* the statistics of a numeric feature with at least one non-NULL value */
typedef struct ProfileNumericStats
{
	double		mean;
	double		std;
	double		min;
	double		max;
	double		edges[PROFILE_BINS - 1];
	double		counts[PROFILE_BINS];
	double	   *sample;			/* sorted */
	int			nsample;
} ProfileNumericStats;

extern ProfileBuilder *ProfileStart(const Dataset *ds, int nrows, int seed);
extern int	ProfileSampleSize(int ninputs);
extern int *ProfileSampleOrdinals(int64 count, int size, uint64 seed, int *nsample);
extern void ProfileAppendHeader(StringInfo buf, const char *name, int column, bool categorical,
								int64 rows, int64 nulls);
extern void ProfileAppendNumericStats(ProfileBuilder *b, const ProfileNumericStats *st);
extern void ProfileAppendNumericEmpty(StringInfo buf);
extern Jsonb *ProfileFinish(ProfileBuilder *b);

#endif							/* MLOPS_PROFILE_INTERNAL_H */
