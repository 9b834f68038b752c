/*-------------------------------------------------------------------------
 *
 * profile_stream.c
 *	  The reference profile of a model built from blocks of rows, for a
 *	  training run that does not hold its rows (train_stream.c).
 *
 * The profile is the one profile.c builds from rows in memory, for
 * numeric inputs (and numeric predictions):
 *
 * - edges and histogram: exact.  Each input's non-NULL training values go
 *	 into a tuplesort (PostgreSQL's external sort, within its share of the
 *	 memory given); the edges are read at their ranks from the sorted
 *	 values with the interpolation of StatsQuantiles, then the values are
 *	 read again to count the bins.
 * - sample: the same values.  ProfileSampleOrdinals gives the positions the
 *	 in-memory sample takes among the non-NULL values in row order; a
 *	 second pass over the rows picks the values at those positions.
 * - count, NULLs, min, max and mean: exact (the mean sums in row order).
 * - std: the spread around the mean is summed in sorted order instead of
 *	 row order, so it agrees with the in-memory profile to rounding.
 *
 * Passes: ProfileStreamAdd over the training rows, ProfileStreamSortDone,
 * ProfileStreamSample over the same rows in the same order, then the
 * predictions (ProfileStreamPredictions, after ProfileStreamPredictionsBegin
 * gives their number), ProfileStreamEnd.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_operator_d.h"
#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "utils/tuplesort.h"

#include "jsonutil.h"
#include "monitor/profile.h"
#include "monitor/profile_internal.h"
#include "monitor/profile_stream.h"
#include "monitor/stats.h"

/* the statistics of one numeric feature being built */
typedef struct NumericStream
{
	Tuplesortstate *sort;		/* non-NULL values, until sorted */
	int64		rows;
	int64		nnull;
	int64		count;			/* non-NULL values */
	double		sum;
	ProfileNumericStats st;		/* once sorted, without the sample */
	int		   *ordinals;		/* positions of the sample's values */
	int			nsample;
	int			next;			/* ordinals[next] is the next to pick */
	int64		seen;			/* non-NULL values passed while sampling */
} NumericStream;

struct ProfileStream
{
	const Dataset *ds;			/* the columns and inputs */
	int			seed;
	int			sample_size;
	int			sort_kb;		/* memory of each tuplesort */
	int64		nrows;			/* training rows */
	NumericStream *inputs;
	NumericStream pred;
	bool		has_pred;
};

/*
 * Start the statistics of a feature.
 */
static void
StreamInit(NumericStream *ns, int sort_kb)
{
	memset(ns, 0, sizeof(NumericStream));
	ns->sort = tuplesort_begin_datum(FLOAT8OID, Float8LessOperator, InvalidOid, false,
									 sort_kb, NULL, TUPLESORT_RANDOMACCESS);
}

/*
 * One value (NaN for NULL) of the first pass.
 */
static inline void
StreamAdd(NumericStream *ns, double v)
{
	ns->rows++;
	if (isnan(v))
	{
		ns->nnull++;
		return;
	}
	ns->st.min = (ns->count == 0 || v < ns->st.min) ? v : ns->st.min;
	ns->st.max = (ns->count == 0 || v > ns->st.max) ? v : ns->st.max;
	ns->count++;
	ns->sum += v;
	tuplesort_putdatum(ns->sort, Float8GetDatum(v), false);
}

/*
 * The sorted value at the sort's current position, going forward.
 */
static double
StreamNext(NumericStream *ns)
{
	Datum		d;
	bool		isnull;

	if (!tuplesort_getdatum(ns->sort, true, &d, &isnull, NULL))
		elog(ERROR, "profile sort ended early");
	return DatumGetFloat8(d);
}

/*
 * Sort the values and compute mean, std, edges and histogram (as
 * ProfileAppendNumeric), then free the sort.
 */
static void
StreamSortDone(NumericStream *ns)
{
	int			n = (int) ns->count;
	int			lo[PROFILE_BINS - 1];
	double		a[PROFILE_BINS - 1];
	double		b[PROFILE_BINS - 1];
	int64		counts[PROFILE_BINS] = {0};
	double		ss = 0,
				last = 0;

	if (ns->count > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a profiled input has more than %d values", INT_MAX)));
	if (n == 0)
	{
		tuplesort_end(ns->sort);
		ns->sort = NULL;
		return;
	}
	tuplesort_performsort(ns->sort);
	ns->st.mean = ns->sum / n;
	for (int k = 1; k < PROFILE_BINS; k++)
		lo[k - 1] = StatsQuantileRank(n, (double) k / PROFILE_BINS);
	for (int i = 0; i < n; i++)
	{
		double		v = StreamNext(ns);

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		ss += (v - ns->st.mean) * (v - ns->st.mean);
		for (int k = 0; k < PROFILE_BINS - 1; k++)
		{
			if (i == lo[k])
				a[k] = v;
			if (i == lo[k] + 1)
				b[k] = v;
		}
		last = v;
	}
	ns->st.std = sqrt(ss / n);
	for (int k = 1; k < PROFILE_BINS; k++)
	{
		double		q = (double) k / PROFILE_BINS;

		ns->st.edges[k - 1] = ((double) (n - 1) * q >= (double) (n - 1)) ? last
			: StatsQuantileValue(n, q, a[k - 1], b[k - 1]);
	}

	/* the bin of x is the number of edges not greater than x */
	tuplesort_rescan(ns->sort);
	for (int i = 0; i < n; i++)
	{
		double		v = StreamNext(ns);
		int			bin = 0;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		while (bin < PROFILE_BINS - 1 && ns->st.edges[bin] <= v)
			bin++;
		counts[bin]++;
	}
	for (int k = 0; k < PROFILE_BINS; k++)
		ns->st.counts[k] = rint((double) counts[k] / (double) n * n);
	tuplesort_end(ns->sort);
	ns->sort = NULL;
}

/*
 * Choose the sample's positions among count non-NULL values.
 */
static void
StreamSampleBegin(NumericStream *ns, int64 count, int size, uint64 seed)
{
	ns->ordinals = ProfileSampleOrdinals(count, size, seed, &ns->nsample);
	ns->st.sample = palloc(sizeof(double) * Max(1, ns->nsample));
	ns->next = 0;
	ns->seen = 0;
}

/*
 * One value (NaN for NULL) of the sampling pass.
 */
static inline void
StreamSample(NumericStream *ns, double v)
{
	if (isnan(v))
		return;
	if (ns->next < ns->nsample && ns->ordinals[ns->next] == ns->seen)
		ns->st.sample[ns->next++] = v;
	ns->seen++;
}

/*
 * Append a feature's profile.
 */
static void
StreamAppend(ProfileBuilder *b, const char *name, int column, NumericStream *ns)
{
	StringInfo	buf = &b->buf;

	ProfileAppendHeader(buf, name, column, false, ns->rows, ns->nnull);
	if (ns->count == 0)
	{
		ProfileAppendNumericEmpty(buf);
		return;
	}
	if (ns->next != ns->nsample)
		elog(ERROR, "profile sample found %d of its %d values", ns->next, ns->nsample);
	ns->st.nsample = ns->nsample;
	StatsSortDoubles(ns->st.sample, ns->nsample);
	ProfileAppendNumericStats(b, &ns->st);
}

/*
 * Begin the profile of the numeric inputs of ds (a data set's columns;
 * rows come later), with sort_kb kB for the sorts together.
 */
ProfileStream *
ProfileStreamBegin(const Dataset *ds, int seed, int sort_kb)
{
	ProfileStream *ps = palloc0(sizeof(ProfileStream));

	ps->ds = ds;
	ps->seed = seed;
	ps->sample_size = ProfileSampleSize(ds->ninputs);
	ps->sort_kb = Max(64, sort_kb / Max(1, ds->ninputs));
	ps->inputs = palloc(sizeof(NumericStream) * Max(1, ds->ninputs));
	for (int i = 0; i < ds->ninputs; i++)
	{
		if (ds->inputs[i].categorical)
			elog(ERROR, "a profile built from blocks has numeric inputs only");
		StreamInit(&ps->inputs[i], ps->sort_kb);
	}
	return ps;
}

/*
 * First pass: training rows rows[0 .. n - 1] of a block.
 */
void
ProfileStreamAdd(ProfileStream *ps, const Dataset *block, const int *rows, int n)
{
	ps->nrows += n;
	for (int i = 0; i < block->ninputs; i++)
	{
		const double *values = block->inputs[i].values;

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < n; r++)
			StreamAdd(&ps->inputs[i], values[rows[r]]);
	}
}

/*
 * After the first pass: sort each input's values for its statistics, and
 * choose its sample.
 */
void
ProfileStreamSortDone(ProfileStream *ps)
{
	for (int i = 0; i < ps->ds->ninputs; i++)
	{
		NumericStream *ns = &ps->inputs[i];

		StreamSortDone(ns);
		StreamSampleBegin(ns, ns->count, ps->sample_size,
						  ((uint64) (uint32) ps->seed << 32) | (uint64) i);
	}
}

/*
 * Second pass: the same training rows, in the same order.
 */
void
ProfileStreamSample(ProfileStream *ps, const Dataset *block, const int *rows, int n)
{
	for (int i = 0; i < block->ninputs; i++)
	{
		const double *values = block->inputs[i].values;

		for (int r = 0; r < n; r++)
			StreamSample(&ps->inputs[i], values[rows[r]]);
	}
}

/*
 * Begin the statistics of npred numeric predictions (none: the profile's
 * prediction is null).
 */
void
ProfileStreamPredictionsBegin(ProfileStream *ps, int64 npred)
{
	ps->has_pred = npred > 0;
	if (!ps->has_pred)
		return;
	StreamInit(&ps->pred, ps->sort_kb);
	StreamSampleBegin(&ps->pred, npred, ps->sample_size,
					  ((uint64) (uint32) ps->seed << 32) | (uint64) ps->ds->ninputs);
}

/*
 * n predictions, in the order of the held-out rows.
 */
void
ProfileStreamPredictions(ProfileStream *ps, const double *pred, int n)
{
	for (int i = 0; i < n; i++)
	{
		StreamAdd(&ps->pred, pred[i]);
		StreamSample(&ps->pred, pred[i]);
	}
}

/*
 * The profile.
 */
Jsonb *
ProfileStreamEnd(ProfileStream *ps)
{
	const Dataset *ds = ps->ds;
	ProfileBuilder *b = ProfileStart(ds, (int) ps->nrows, ps->seed);
	StringInfo	buf = &b->buf;

	for (int i = 0; i < ds->ninputs; i++)
	{
		appendStringInfoString(buf, i > 0 ? ", {" : "{");
		StreamAppend(b, ds->inputs[i].name, ds->inputs[i].column, &ps->inputs[i]);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');
	JsonAppendKey(buf, "prediction", false);
	if (!ps->has_pred)
		appendStringInfoString(buf, "null");
	else
	{
		StreamSortDone(&ps->pred);
		appendStringInfoChar(buf, '{');
		StreamAppend(b, PROFILE_PREDICTION, -1, &ps->pred);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, '}');
	return ProfileFinish(b);
}
