/*-------------------------------------------------------------------------
 *
 * profile.c
 *	  Building the reference profile of a model (profile_read.c reads it
 *	  back, profile_stream.c builds it from blocks of rows).
 *
 * The profile is written as JSON text and stored as jsonb.  Numbers are
 * printed in the shortest form that reads back as the same double (as
 * float8out does); the value samples, which are most of a profile, are
 * binary (JsonAppendBinaryDoubles: base64 of the doubles' bytes), so they
 * never go through numeric_in and stay compact; they are kept out of the
 * text and put into the parsed jsonb (ProfileFillSamples), which the
 * parser would otherwise copy character by character.  Profiles of format
 * version 1 (before 0.2.0) hold the samples as arrays of numbers; they
 * are read as well.  Quantile edges and bin counts come from the same
 * functions as mlops.psi (stats_distance.c), so a profile's histogram is
 * exactly what mlops.psi would compute on the training values.
 *
 * The samples of all inputs together hold at most PROFILE_MAX_SAMPLE_VALUES
 * values: each input (and the predictions) samples at most
 * mlops.drift_sample_size values, and fewer when the model has so many
 * inputs that the total would pass that bound (ProfileSampleSize).
 *
 * The value sample of a numeric input is drawn without replacement by a
 * partial Fisher-Yates shuffle of the input's non-NULL values in row order,
 * with PostgreSQL's PRNG seeded from the training seed and the input's
 * position: the same rows in the same order with the same seed give the
 * same sample.  The sample is stored sorted.  Nothing else needs the
 * column sorted: the quantile edges select the few order statistics they
 * read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"

#include "jsonutil.h"
#include "serve/model.h"
#include "monitor/profile.h"
#include "monitor/profile_internal.h"
#include "monitor/stats.h"

/* mlops.drift_sample_size and its bounds */
#define DRIFT_SAMPLE_SIZE_DEFAULT	10000
#define DRIFT_SAMPLE_SIZE_MIN		100
#define DRIFT_SAMPLE_SIZE_MAX		1000000

int			mlops_drift_sample_size = DRIFT_SAMPLE_SIZE_DEFAULT;

static const char *const kind_names[] = {
	[SOURCE_NUMERIC] = "numeric",
	[SOURCE_CATEGORICAL] = "categorical",
	[SOURCE_DATETIME] = "datetime",
	[SOURCE_ARRAY] = "array",
};

/*
 * Define mlops.drift_sample_size; called from _PG_init.
 */
void
ProfileInit(void)
{
	DefineCustomIntVariable("mlops.drift_sample_size",
							"Sets how many reference values of each numeric input a model's profile keeps.",
							"Training samples this many non-NULL values (all of them when there are fewer) "
							"for the ks and wasserstein drift methods.",
							&mlops_drift_sample_size,
							DRIFT_SAMPLE_SIZE_DEFAULT, DRIFT_SAMPLE_SIZE_MIN, DRIFT_SAMPLE_SIZE_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}

/*
 * Name of a source kind.
 */
const char *
ProfileKindName(SourceKind kind)
{
	return kind_names[kind];
}

/*
 * The kind a profile names name; false when it names none.
 */
bool
ProfileKindFromName(const char *name, SourceKind *kind)
{
	for (int k = 0; k < lengthof(kind_names); k++)
		if (strcmp(name, kind_names[k]) == 0)
		{
			*kind = (SourceKind) k;
			return true;
		}
	return false;
}

/*
 * Append the members every profiled feature has: name, column, kind and
 * the row and NULL counts.
 */
void
ProfileAppendHeader(StringInfo buf, const char *name, int column, bool categorical,
					int64 rows, int64 nulls)
{
	JsonAppendKey(buf, "name", true);
	JsonAppendString(buf, name);
	JsonAppendKey(buf, "column", false);
	appendStringInfo(buf, "%d", column);
	JsonAppendKey(buf, "kind", false);
	JsonAppendString(buf, categorical ? "categorical" : "numeric");
	JsonAppendKey(buf, "rows", false);
	appendStringInfo(buf, INT64_FORMAT, rows);
	JsonAppendKey(buf, "count", false);
	appendStringInfo(buf, INT64_FORMAT, rows - nulls);
	JsonAppendKey(buf, "nulls", false);
	appendStringInfo(buf, INT64_FORMAT, nulls);
	JsonAppendKey(buf, "null_fraction", false);
	JsonAppendDouble(buf, rows > 0 ? (double) nulls / (double) rows : 0.0);
}

/*
 * The number of values each numeric input (and the predictions) of a
 * model with ninputs inputs samples: mlops.drift_sample_size, or less so
 * that all samples together hold at most PROFILE_MAX_SAMPLE_VALUES.
 */
int
ProfileSampleSize(int ninputs)
{
	return Max(1, Min(mlops_drift_sample_size, PROFILE_MAX_SAMPLE_VALUES / (ninputs + 1)));
}

/*
 * qsort comparator for ints.
 */
static int
ProfileCompareInt(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x > y) - (x < y);
}

/*
 * The positions (0 .. count - 1) of the values a numeric feature's sample
 * takes from its count non-NULL values: all of them when there are at most
 * size, otherwise the first places of a partial Fisher-Yates shuffle of the
 * positions with a PRNG seeded by seed (only the positions a swap touches
 * are kept, so this takes memory in the sample's size, not the column's).
 * Returns them ascending; *nsample receives their number.
 */
int *
ProfileSampleOrdinals(int64 count, int size, uint64 seed, int *nsample)
{
	int			k = (int) Min(count, (int64) size);
	int		   *ordinals = palloc(sizeof(int) * Max(1, k));

	if (k < count)
	{
		pg_prng_state prng;
		HASHCTL		ctl = {0};
		HTAB	   *moved;

		/* position -> the position whose value it holds after the swaps */
		ctl.keysize = sizeof(int64);
		ctl.entrysize = 2 * sizeof(int64);
		ctl.hcxt = CurrentMemoryContext;
		moved = hash_create("mlops profile sample", 2 * k, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		pg_prng_seed(&prng, seed);
		for (int i = 0; i < k; i++)
		{
			int64		j = i + (int64) pg_prng_uint64_range(&prng, 0, count - 1 - i);
			int64		pos[2] = {i, j};
			int64		val[2];
			bool		found;

			for (int t = 0; t < 2; t++)
			{
				int64	   *e = hash_search(moved, &pos[t], HASH_FIND, NULL);

				val[t] = e ? e[1] : pos[t];
			}
			for (int t = 0; t < 2; t++)
			{
				int64	   *e = hash_search(moved, &pos[t], HASH_ENTER, &found);

				e[1] = val[1 - t];
			}
		}
		for (int i = 0; i < k; i++)
		{
			int64		pos = i;
			int64	   *e = hash_search(moved, &pos, HASH_FIND, NULL);

			ordinals[i] = (int) e[1];
		}
		hash_destroy(moved);
		qsort(ordinals, k, sizeof(int), ProfileCompareInt);
	}
	else
		for (int i = 0; i < k; i++)
			ordinals[i] = i;
	*nsample = k;
	return ordinals;
}

/*
 * The sample of a numeric feature's count non-NULL values, sorted: the
 * values at ProfileSampleOrdinals's positions.  *nsample receives its
 * length.
 */
static double *
ProfileSample(const double *values, int count, int size, uint64 seed, int *nsample)
{
	int		   *ordinals = ProfileSampleOrdinals(count, size, seed, nsample);
	double	   *sample = palloc(sizeof(double) * Max(1, *nsample));

	for (int i = 0; i < *nsample; i++)
		sample[i] = values[ordinals[i]];
	pfree(ordinals);
	StatsSortDoubles(sample, *nsample);
	return sample;
}

/*
 * Append the statistics of a numeric feature with at least one non-NULL
 * value (after its header).  Its value sample is written as a placeholder,
 * the sample's index as a string, and kept apart (see ProfileFillSamples).
 */
void
ProfileAppendNumericStats(ProfileBuilder *b, const ProfileNumericStats *st)
{
	StringInfo	buf = &b->buf;
	StringInfoData text;

	JsonAppendKey(buf, "mean", false);
	JsonAppendDouble(buf, st->mean);
	JsonAppendKey(buf, "std", false);
	JsonAppendDouble(buf, st->std);
	JsonAppendKey(buf, "min", false);
	JsonAppendDouble(buf, st->min);
	JsonAppendKey(buf, "max", false);
	JsonAppendDouble(buf, st->max);
	JsonAppendKey(buf, "edges", false);
	JsonAppendDoubles(buf, st->edges, PROFILE_BINS - 1);
	JsonAppendKey(buf, "histogram", false);
	JsonAppendDoubles(buf, st->counts, PROFILE_BINS);
	JsonAppendKey(buf, "sample", false);
	appendStringInfo(buf, "\"%d\"", b->nsamples);
	initStringInfo(&text);
	JsonAppendBinaryDoubles(&text, st->sample, st->nsample);
	b->samples[b->nsamples++] = text.data;
}

/*
 * Append the statistics of a numeric feature none of whose values is
 * known (after its header).
 */
void
ProfileAppendNumericEmpty(StringInfo buf)
{
	appendStringInfoString(buf, ", \"mean\": null, \"std\": null, \"min\": null, "
						   "\"max\": null, \"edges\": [], \"histogram\": [], \"sample\": \"\"");
}

/*
 * Append the profile of a numeric feature: values holds its n values (NaN
 * for NULL) and is overwritten.  The sample of at most b->sample_size
 * values is drawn with a PRNG seeded by seed.
 */
static void
ProfileAppendNumeric(ProfileBuilder *b, const char *name, int column,
					 double *values, int n, uint64 seed)
{
	StringInfo	buf = &b->buf;
	int			count = 0;
	double		sum = 0.0,
				ss = 0.0;
	double		proportions[PROFILE_BINS];
	ProfileNumericStats st;

	CHECK_FOR_INTERRUPTS();
	for (int i = 0; i < n; i++)
		if (!isnan(values[i]))
			values[count++] = values[i];
	ProfileAppendHeader(buf, name, column, false, n, n - count);
	if (count == 0)
	{
		ProfileAppendNumericEmpty(buf);
		return;
	}

	st.sample = ProfileSample(values, count, b->sample_size, seed, &st.nsample);
	st.min = st.max = values[0];
	for (int i = 0; i < count; i++)
	{
		sum += values[i];
		st.min = Min(st.min, values[i]);
		st.max = Max(st.max, values[i]);
	}
	st.mean = sum / count;
	for (int i = 0; i < count; i++)
		ss += (values[i] - st.mean) * (values[i] - st.mean);
	st.std = sqrt(ss / count);
	StatsEqualFrequencyBins(values, count, PROFILE_BINS, st.edges, proportions);
	for (int k = 0; k < PROFILE_BINS; k++)
		st.counts[k] = rint(proportions[k] * count);
	ProfileAppendNumericStats(b, &st);
	pfree(st.sample);
}

/*
 * Append the profile of a categorical feature: codes holds its n category
 * codes (NaN for NULL), categories[code] the text of each of ncategories
 * codes.  Categories that no row has are left out.
 */
static void
ProfileAppendCategorical(StringInfo buf, const char *name, int column,
						 const double *codes, int n, char **categories, int ncategories)
{
	int64	   *counts = palloc0(sizeof(int64) * Max(1, ncategories));
	StatsCount *sorted = palloc(sizeof(StatsCount) * Max(1, ncategories));
	int64		nulls = 0;
	int			k = 0;

	CHECK_FOR_INTERRUPTS();
	for (int i = 0; i < n; i++)
	{
		if (isnan(codes[i]))
			nulls++;
		else
			counts[(int) codes[i]]++;
	}
	for (int c = 0; c < ncategories; c++)
	{
		if (counts[c] > 0)
		{
			sorted[k].text = categories[c];
			sorted[k].count = counts[c];
			k++;
		}
	}
	StatsSortCounts(sorted, k);

	ProfileAppendHeader(buf, name, column, true, n, nulls);
	JsonAppendKey(buf, "categories", false);
	appendStringInfoChar(buf, '[');
	for (int c = 0; c < k; c++)
	{
		if (c > 0)
			appendStringInfoString(buf, ", ");
		JsonAppendString(buf, sorted[c].text);
	}
	appendStringInfoChar(buf, ']');
	JsonAppendKey(buf, "counts", false);
	appendStringInfoChar(buf, '[');
	for (int c = 0; c < k; c++)
		appendStringInfo(buf, "%s" INT64_FORMAT, c > 0 ? ", " : "", sorted[c].count);
	appendStringInfoChar(buf, ']');
	pfree(counts);
	pfree(sorted);
}

/*
 * An estimate of the bytes ProfileBuild takes for nrows training rows and
 * npred predictions of ds, for mlops.max_train_memory: a copy of a column;
 * for each sampled value its bytes, their base64 text in the JSON document
 * and in the jsonb (PROFILE_SAMPLE_VALUE_BYTES); for each category about
 * 256 bytes (measured about 230), its text in the JSON document, then its
 * parsed and binary jsonb.
 */
double
ProfileBuildMemory(const Dataset *ds, int nrows, int npred)
{
	int			size = ProfileSampleSize(ds->ninputs);
	double		values = 0;
	double		categories = 0;

	for (int i = 0; i < ds->ninputs; i++)
	{
		if (ds->inputs[i].categorical)
			categories += ds->inputs[i].ncategories;
		else
			values += Min(nrows, size);
	}
	values += Min(npred, size);
	return values * PROFILE_SAMPLE_VALUE_BYTES + categories * 256 +
		sizeof(double) * (double) Max(nrows, npred);
}

/*
 * Begin the JSON text of a profile of nrows training rows of ds's columns,
 * up to the opening of its features array.
 */
ProfileBuilder *
ProfileStart(const Dataset *ds, int nrows, int seed)
{
	ProfileBuilder *b = palloc(sizeof(ProfileBuilder));
	StringInfo	buf = &b->buf;

	b->ninputs = ds->ninputs;
	b->seed = seed;
	b->sample_size = ProfileSampleSize(ds->ninputs);
	b->nsamples = 0;
	b->samples = palloc(sizeof(char *) * (ds->ninputs + 1));
	initStringInfo(buf);
	appendStringInfoChar(buf, '{');
	JsonAppendKey(buf, "version", true);
	appendStringInfo(buf, "%d", PROFILE_VERSION);
	JsonAppendKey(buf, "rows", false);
	appendStringInfo(buf, "%d", nrows);
	JsonAppendKey(buf, "seed", false);
	appendStringInfo(buf, "%d", seed);
	JsonAppendKey(buf, "sample_size", false);
	appendStringInfo(buf, "%d", b->sample_size);
	JsonAppendKey(buf, "bins", false);
	appendStringInfo(buf, "%d", PROFILE_BINS);

	JsonAppendKey(buf, "columns", false);
	appendStringInfoChar(buf, '[');
	for (int j = 0; j < ds->ncolumns; j++)
	{
		const DatasetColumn *col = &ds->columns[j];

		appendStringInfoString(buf, j > 0 ? ", {" : "{");
		JsonAppendKey(buf, "name", true);
		JsonAppendString(buf, col->name);
		JsonAppendKey(buf, "kind", false);
		JsonAppendString(buf, ProfileKindName(col->kind));
		JsonAppendKey(buf, "type", false);
		JsonAppendString(buf, format_type_be(col->typid));
		JsonAppendKey(buf, "array_length", false);
		appendStringInfo(buf, "%d", col->kind == SOURCE_ARRAY ? col->ninputs : 0);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');

	JsonAppendKey(buf, "features", false);
	appendStringInfoChar(buf, '[');
	return b;
}

/*
 * Begin the reference profile of a model: the statistics of the training
 * inputs; see ProfileBuild.
 */
ProfileBuilder *
ProfileBegin(const Dataset *ds, const int *rows, int nrows, int seed)
{
	ProfileBuilder *b = ProfileStart(ds, nrows, seed);
	StringInfo	buf = &b->buf;
	double	   *values = palloc_extended(sizeof(double) * Max(1, nrows), MCXT_ALLOC_HUGE);

	for (int i = 0; i < ds->ninputs; i++)
	{
		const DatasetInput *in = &ds->inputs[i];

		for (int r = 0; r < nrows; r++)
			values[r] = in->values[rows[r]];
		appendStringInfoString(buf, i > 0 ? ", {" : "{");
		if (in->categorical)
			ProfileAppendCategorical(buf, in->name, in->column, values, nrows,
									 in->categories, in->ncategories);
		else
			ProfileAppendNumeric(b, in->name, in->column, values, nrows,
								 ((uint64) (uint32) seed << 32) | (uint64) i);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');
	pfree(values);
	return b;
}

/*
 * The profile jb with the placeholder of each value sample replaced by the
 * sample.  The samples are most of a profile's text; jsonb_in would copy
 * them character by character, while the document without them parses
 * quickly and is rebuilt here token by token (the same jsonb as parsing
 * the whole text).
 */
static Jsonb *
ProfileFillSamples(Jsonb *jb, const ProfileBuilder *b)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbParseState *state = NULL;
	JsonbValue	v;
	JsonbValue *res = NULL;
	JsonbIteratorToken tok;
	bool		sample = false;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			sample = v.val.string.len == 6 && memcmp(v.val.string.val, "sample", 6) == 0;
		else if (tok == WJB_VALUE && sample && v.type == jbvString && v.val.string.len > 0)
		{
			int			i = atoi(pnstrdup(v.val.string.val, v.val.string.len));

			if (i < 0 || i >= b->nsamples)
				elog(ERROR, "profile sample placeholder %d out of range", i);
			/* the JSON string without its quotes (base64 needs no escapes) */
			v.val.string.val = b->samples[i] + 1;
			v.val.string.len = strlen(b->samples[i]) - 2;
		}
		res = pushJsonbValue(&state, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	}
	return JsonbValueToJsonb(res);
}

/*
 * The profile a builder holds, once its JSON text is complete: parsed, its
 * samples put in; the builder is freed.
 */
Jsonb *
ProfileFinish(ProfileBuilder *b)
{
	Jsonb	   *jb = ProfileFillSamples(JsonFromText(&b->buf), b);

	pfree(b->buf.data);
	for (int i = 0; i < b->nsamples; i++)
		pfree(b->samples[i]);
	pfree(b->samples);
	pfree(b);
	return jb;
}

/*
 * End a reference profile with the statistics of the predictions; see
 * ProfileBuild.
 */
Jsonb *
ProfileEnd(ProfileBuilder *b, const double *pred, int npred, int nout, char **labels)
{
	StringInfo	buf = &b->buf;
	double	   *values = palloc_extended(sizeof(double) * Max(1, npred), MCXT_ALLOC_HUGE);

	JsonAppendKey(buf, "prediction", false);
	if (npred == 0)
		appendStringInfoString(buf, "null");
	else if (nout == 1 && labels == NULL)
	{
		memcpy(values, pred, sizeof(double) * npred);
		appendStringInfoChar(buf, '{');
		ProfileAppendNumeric(b, PROFILE_PREDICTION, -1, values, npred,
							 ((uint64) (uint32) b->seed << 32) | (uint64) b->ninputs);
		appendStringInfoChar(buf, '}');
	}
	else
	{
		for (int r = 0; r < npred; r++)
			values[r] = ModelArgmax(pred + (Size) r * nout, nout);
		appendStringInfoChar(buf, '{');
		ProfileAppendCategorical(buf, PROFILE_PREDICTION, -1, values, npred, labels, nout);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, '}');

	pfree(values);
	return ProfileFinish(b);
}

/*
 * Build the reference profile of a model; see profile.h.
 */
Jsonb *
ProfileBuild(const Dataset *ds, const int *rows, int nrows, int seed,
			 const double *pred, int npred, int nout, char **labels)
{
	return ProfileEnd(ProfileBegin(ds, rows, nrows, seed), pred, npred, nout, labels);
}
