/*-------------------------------------------------------------------------
 *
 * featurize_fit.c
 *	  Fitting the feature transform on the training rows: the preprocess
 *	  settings, imputation, scaling statistics, the categories kept and
 *	  their encoding (one-hot, ordinal, target), and the feature names.
 *
 * The transform as a whole is described in featurize.h; applying it is in
 * featurize_apply.c, storing and reading it in featurize_json.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "train/featurize.h"
#include "train/featurize_internal.h"
#include "jsonutil.h"
#include "monitor/stats.h"

#define TARGET_SMOOTHING 10.0

/* the preprocess settings of one source column */
typedef struct ColumnOptions
{
	ImputeKind	impute;
	bool		impute_set;
	double		fill_number;	/* constant imputation of numbers */
	char	   *fill_text;		/* constant imputation of categories */
	ScaleKind	scale;
	bool		scale_set;
	EncodeKind	encode;
	bool		encode_set;
	int			max_categories; /* 0 = all */
} ColumnOptions;

/*
 * qsort comparator for C strings.
 */
static int
CompareString(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Smallest and largest of n values.
 */
static void
MinMax(const double *v, int n, double *min, double *max)
{
	*min = *max = v[0];
	for (int i = 1; i < n; i++)
	{
		*min = Min(*min, v[i]);
		*max = Max(*max, v[i]);
	}
}

/*
 * A scale of zero (a constant column) would divide by zero; scikit-learn
 * replaces it by one, and so do we.
 */
static double
NonZeroScale(double s)
{
	return (s < 10 * DBL_EPSILON) ? 1.0 : s;
}

/*
 * Parse the preprocess settings of one source column.
 */
static void
ParseColumnOptions(ColumnOptions *o, const DatasetColumn *col, JsonbValue *opts)
{
	bool		categorical = (col->kind == SOURCE_CATEGORICAL);
	int			npairs;
	JsonPair   *pairs;

	if (opts->type != jbvBinary || !JsonContainerIsObject(opts->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("preprocess settings of column \"%s\" must be a JSON object", col->name)));
	pairs = JsonObjectPairs(JsonbValueToJsonb(opts), "preprocess", &npairs);

	for (int i = 0; i < npairs; i++)
	{
		const char *key = pairs[i].key;
		JsonbValue *v = &pairs[i].value;
		char	   *s = JsonValueToCString(v);
		int			k;

		if (strcmp(key, "impute") == 0)
		{
			JsonbValue *c = (v->type == jbvBinary) ? JsonGet(v->val.binary.data, "constant") : NULL;

			o->impute_set = true;
			if (c != NULL)
			{
				o->impute = IMPUTE_CONSTANT;
				if (categorical && c->type == jbvString)
					o->fill_text = JsonValueToCString(c);
				else if (categorical || !JsonValueNumber(c, &o->fill_number) || !isfinite(o->fill_number))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid constant imputation value \"%s\" for column \"%s\"",
									JsonValueDisplay(c), col->name),
							 errdetail("The constant of a %s column must be a %s.",
									   categorical ? "categorical" : "numeric",
									   categorical ? "string" : "finite number")));
				continue;
			}
			k = FeaturizerLookupName(featurizer_impute_names, lengthof(featurizer_impute_names), s);
			if (k <= IMPUTE_NONE || k == IMPUTE_CONSTANT)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid impute setting \"%s\" for column \"%s\"", JsonValueDisplay(v), col->name),
						 errhint("Valid settings are \"mean\", \"median\", \"mode\", \"min\", \"max\", \"zero\", \"error\" and {\"constant\": x}.")));
			if (categorical && k != IMPUTE_MODE && k != IMPUTE_ERROR)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("impute \"%s\" does not apply to categorical column \"%s\"", s, col->name),
						 errhint("Categorical columns take \"mode\", \"error\" or {\"constant\": \"text\"}.")));
			o->impute = (ImputeKind) k;
		}
		else if (strcmp(key, "scale") == 0)
		{
			if (categorical)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"scale\" does not apply to categorical column \"%s\"", col->name),
						 errhint("Categorical columns are encoded, not scaled.")));
			k = FeaturizerLookupName(featurizer_scale_names, lengthof(featurizer_scale_names), s);
			if (k < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid scale setting \"%s\" for column \"%s\"", JsonValueDisplay(v), col->name),
						 errhint("Valid settings are \"none\", \"standard\", \"min_max\", \"max_abs\" and \"robust\".")));
			o->scale = (ScaleKind) k;
			o->scale_set = true;
		}
		else if (strcmp(key, "encode") == 0 || strcmp(key, "max_categories") == 0)
		{
			double		d;

			if (!categorical)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" does not apply to %s column \"%s\"", key,
								featurizer_source_kind_names[col->kind], col->name),
						 errdetail("Only categorical (text, varchar, char, enum) columns are encoded.")));
			if (key[0] == 'e')
			{
				k = FeaturizerLookupName(featurizer_encode_names, lengthof(featurizer_encode_names), s);
				if (k < 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid encode setting \"%s\" for column \"%s\"", JsonValueDisplay(v), col->name),
							 errhint("Valid settings are \"one_hot\", \"ordinal\" and \"target\".")));
				o->encode = (EncodeKind) k;
				o->encode_set = true;
			}
			else if (v->type != jbvNumeric || !JsonValueNumber(v, &d) || d != floor(d) ||
					 d < 1 || d > MLOPS_MAX_CATEGORIES)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid max_categories \"%s\" for column \"%s\"", JsonValueDisplay(v), col->name),
						 errdetail("max_categories is an integer between 1 and %d.", MLOPS_MAX_CATEGORIES)));
			else
				o->max_categories = (int) d;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown preprocess option \"%s\" for column \"%s\"", key, col->name),
					 errhint("Valid options are \"impute\", \"scale\", \"encode\" and \"max_categories\".")));
	}
}

/*
 * The value replacing NULL in a numeric input, computed on its training
 * values v (n values, NULLs removed), which the median and the mode
 * rearrange.
 */
static double
ImputeValue(const FeatureInput *in, const ColumnOptions *o, double *v, int n, int nnull)
{
	static const double half = 0.5;
	double		sum = 0;
	double		median,
				lo,
				hi,
				best;
	int			bestrun;

	switch (in->impute)
	{
		case IMPUTE_NONE:
			return NAN;
		case IMPUTE_CONSTANT:
			return o->fill_number;
		case IMPUTE_ZERO:
			return 0.0;
		case IMPUTE_ERROR:
			if (nnull > 0)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("column \"%s\" has %d NULL values in the training rows", in->name, nnull),
						 errdetail("Its preprocess setting is \"impute\": \"error\".")));
			return NAN;
		default:
			break;
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column \"%s\" is NULL in every training row", in->name),
				 errhint("Exclude the column, or impute a constant.")));
	switch (in->impute)
	{
		case IMPUTE_MEAN:
			for (int i = 0; i < n; i++)
				sum += v[i];
			return sum / n;
		case IMPUTE_MEDIAN:
			StatsQuantiles(v, n, &half, 1, &median);
			return median;
		case IMPUTE_MIN:
			MinMax(v, n, &lo, &hi);
			return lo;
		case IMPUTE_MAX:
			MinMax(v, n, &lo, &hi);
			return hi;
		case IMPUTE_MODE:
			/* most frequent value; the smallest one on ties (scikit-learn) */
			StatsSortDoubles(v, n);
			best = v[0];
			bestrun = 0;
			for (int i = 0; i < n;)
			{
				int			j = i;

				while (j < n && v[j] == v[i])
					j++;
				if (j - i > bestrun)
				{
					bestrun = j - i;
					best = v[i];
				}
				i = j;
			}
			return best;
		default:
			elog(ERROR, "unexpected imputation kind %d", in->impute);
	}
	pg_unreachable();
}

/*
 * Compute the scaling statistics of a numeric input from its imputed
 * training values v (n values, missing ones removed), which robust scaling
 * rearranges.
 */
static void
FitScale(FeatureInput *in, double *v, int n)
{
	static const double quartiles[] = {0.25, 0.5, 0.75};
	double		mean = 0,
				var = 0,
				lo,
				hi,
				q[lengthof(quartiles)];

	in->center = 0.0;
	in->scale_by = 1.0;
	if (in->scale == SCALE_NONE || n == 0)
		return;
	switch (in->scale)
	{
		case SCALE_STANDARD:
			for (int i = 0; i < n; i++)
				mean += v[i];
			mean /= n;
			for (int i = 0; i < n; i++)
				var += (v[i] - mean) * (v[i] - mean);
			in->center = mean;
			in->scale_by = NonZeroScale(sqrt(var / n));
			break;
		case SCALE_MIN_MAX:
			MinMax(v, n, &lo, &hi);
			in->center = lo;
			in->scale_by = NonZeroScale(hi - lo);
			break;
		case SCALE_MAX_ABS:
			MinMax(v, n, &lo, &hi);
			in->scale_by = NonZeroScale(Max(fabs(lo), fabs(hi)));
			break;
		case SCALE_ROBUST:
			StatsQuantiles(v, n, quartiles, lengthof(quartiles), q);
			in->center = q[1];
			in->scale_by = NonZeroScale(q[2] - q[0]);
			break;
		case SCALE_NONE:
			break;
	}
}

/*
 * Fit a numeric input on the training rows.
 */
static void
FitNumeric(FeatureInput *in, const ColumnOptions *o, const DatasetInput *din,
		   const int *rows, int nrows, double *buf)
{
	int			n = 0,
				nnull = 0;

	in->nfeatures = 1;
	if (in->impute == IMPUTE_NONE && in->scale == SCALE_NONE)
	{
		/* the trees' default learns nothing from the values */
		in->fill = NAN;
		FitScale(in, buf, 0);
		return;
	}
	for (int i = 0; i < nrows; i++)
	{
		double		x = din->values[rows[i]];

		if (isnan(x))
			nnull++;
		else
			buf[n++] = x;
	}
	in->fill = ImputeValue(in, o, buf, n, nnull);

	/* scaling statistics see the imputed values */
	if (!isnan(in->fill) && nnull > 0)
		for (int i = 0; i < nnull; i++)
			buf[n++] = in->fill;
	FitScale(in, buf, n);
}


/*
 * Can a numeric input with these settings be fitted from its summary?
 */
static bool
SummaryFits(const ColumnOptions *o)
{
	return o->impute != IMPUTE_MEDIAN && o->impute != IMPUTE_MODE && o->scale != SCALE_ROBUST;
}

/*
 * Add one value (NaN for NULL) to a summary.
 */
void
NumericSummaryAdd(NumericSummary *s, double x)
{
	double		delta;

	if (isnan(x))
	{
		s->nnull++;
		return;
	}
	s->min = (s->count == 0 || x < s->min) ? x : s->min;
	s->max = (s->count == 0 || x > s->max) ? x : s->max;
	s->count++;
	s->sum += x;
	delta = x - s->mean;
	s->mean += delta / s->count;
	s->m2 += delta * (x - s->mean);
}

/*
 * Add the values another summary has seen (Chan's formula for the sum of
 * squared deviations): what a distributed fit merges from the summaries of
 * its shards.  The result agrees with adding the values one by one to
 * rounding.
 */
void
NumericSummaryMerge(NumericSummary *s, const NumericSummary *o)
{
	int64		n = s->count + o->count;

	s->nnull += o->nnull;
	if (o->count == 0)
		return;
	if (s->count == 0)
	{
		int64		nnull = s->nnull;

		*s = *o;
		s->nnull = nnull;
		return;
	}
	{
		double		delta = o->mean - s->mean;

		s->m2 += o->m2 + delta * delta * ((double) s->count * o->count / n);
		s->mean += delta * ((double) o->count / n);
	}
	s->min = Min(s->min, o->min);
	s->max = Max(s->max, o->max);
	s->sum += o->sum;
	s->count = n;
}

/*
 * Fit a numeric input from the summary of its training values: the value
 * imputed (as ImputeValue), then the scaling statistics of the imputed
 * values (as FitScale: the fill counts once per NULL).  The mean sums in
 * the same order as FitScale; the variance combines Welford's sum of
 * squares of the non-NULL values with the fills' (Chan's formula), which
 * agrees with FitScale's two passes to rounding.
 */
static void
FitNumericSummary(FeatureInput *in, const ColumnOptions *o, const NumericSummary *s)
{
	int64		nfill;
	int64		n;
	double		lo,
				hi,
				mean;

	switch (in->impute)
	{
		case IMPUTE_NONE:
			in->fill = NAN;
			break;
		case IMPUTE_CONSTANT:
			in->fill = o->fill_number;
			break;
		case IMPUTE_ZERO:
			in->fill = 0.0;
			break;
		case IMPUTE_ERROR:
			if (s->nnull > 0)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("column \"%s\" has " INT64_FORMAT " NULL values in the training rows",
								in->name, s->nnull),
						 errdetail("Its preprocess setting is \"impute\": \"error\".")));
			in->fill = NAN;
			break;
		default:
			if (s->count == 0)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("column \"%s\" is NULL in every training row", in->name),
						 errhint("Exclude the column, or impute a constant.")));
			in->fill = in->impute == IMPUTE_MEAN ? s->sum / s->count
				: in->impute == IMPUTE_MIN ? s->min : s->max;
			break;
	}

	in->nfeatures = 1;
	in->center = 0.0;
	in->scale_by = 1.0;
	nfill = isnan(in->fill) ? 0 : s->nnull;
	n = s->count + nfill;
	if (in->scale == SCALE_NONE || n == 0)
		return;
	lo = s->count > 0 ? s->min : in->fill;
	hi = s->count > 0 ? s->max : in->fill;
	if (nfill > 0)
	{
		lo = Min(lo, in->fill);
		hi = Max(hi, in->fill);
	}
	switch (in->scale)
	{
		case SCALE_STANDARD:
			mean = s->sum;
			for (int64 i = 0; i < nfill; i++)
				mean += in->fill;
			mean /= n;
			{
				double		delta = in->fill - s->mean;
				double		m2 = s->m2;

				if (nfill > 0 && s->count > 0)
					m2 += delta * delta * ((double) s->count * nfill / n);
				in->center = mean;
				in->scale_by = NonZeroScale(sqrt(m2 / n));
			}
			break;
		case SCALE_MIN_MAX:
			in->center = lo;
			in->scale_by = NonZeroScale(hi - lo);
			break;
		case SCALE_MAX_ABS:
			in->scale_by = NonZeroScale(Max(fabs(lo), fabs(hi)));
			break;
		default:
			elog(ERROR, "scaling %d needs the values sorted", in->scale);
	}
}

/*
 * Build the lookup from category text to index.
 */
void
FeaturizerBuildLookup(FeatureInput *in)
{
	in->lookup = StrMapCreate(CurrentMemoryContext, in->ncategories);
	for (int k = 0; k < in->ncategories; k++)
		StrMapPut(in->lookup, in->categories[k], k);
}

/*
 * The target encoding of a categorical input from the sums of the target
 * per slot (nslots = ncategories + 2: the categories, NULL, unknown
 * values), their rows and the sums over all nrows rows (prior): per slot
 * the smoothed mean of the target, the prior for unknown values.
 */
static void
TargetEncodingFromSums(FeatureInput *in, const double *sum, const double *count, double *prior,
					   int64 nrows)
{
	int			nt = in->ntarget;
	int			nslots = in->ncategories + 2;

	for (int t = 0; t < nt; t++)
		prior[t] /= nrows;

	in->target_values = palloc(sizeof(double) * nslots * nt);
	for (int s = 0; s < nslots; s++)
		for (int t = 0; t < nt; t++)
			in->target_values[s * nt + t] = (s == nslots - 1) ? prior[t]
				: (sum[s * nt + t] + TARGET_SMOOTHING * prior[t]) / (count[s] + TARGET_SMOOTHING);
}

/*
 * Fit the target encoding of a categorical input: per category (then
 * NULL, then unknown values), the smoothed mean of the target.
 */
static void
FitTargetEncoding(FeatureInput *in, const Dataset *ds, const DatasetInput *din,
				  const int *rows, int nrows, const int *remap)
{
	int			nt = in->ntarget;
	int			nslots = in->ncategories + 2;
	double	   *sum = palloc0(sizeof(double) * nslots * nt);
	double	   *count = palloc0(sizeof(double) * nslots);
	double	   *prior = palloc0(sizeof(double) * nt);

	for (int i = 0; i < nrows; i++)
	{
		double		x = din->values[rows[i]];
		double		y = ds->target[rows[i]];
		int			slot = CategorySlot(in, isnan(x) ? x : remap[(int) x]);

		if (slot < 0)
			slot = in->ncategories + 1;
		count[slot] += 1;
		for (int t = 0; t < nt; t++)
		{
			/* regression: the value; binary: y == 1; multiclass: y == t */
			double		v = ds->nclasses == 0 ? y : (ds->nclasses == 2 ? (y == 1) : (y == t));

			sum[slot * nt + t] += v;
			prior[t] += v;
		}
	}
	TargetEncodingFromSums(in, sum, count, prior, nrows);
}

/*
 * Fit a categorical input from the counts of its training values (ncounts
 * categories, counts[c].count of them zero when the category was not seen
 * in the training rows; rearranged here) and its NULLs: the categories
 * kept, the imputation, the encoding and the number of features.  A target
 * encoding's values are the caller's to fit.
 */
static void
FitCategoricalCounts(FeatureInput *in, const ColumnOptions *o, StatsCount *counts, int ncounts,
					 int64 nnull, int nclasses, MlopsAlgorithm alg)
{
	int			ndistinct = 0,
				nkeep;

	for (int c = 0; c < ncounts; c++)
		ndistinct += counts[c].count > 0;
	in->encode = o->encode_set ? o->encode : (ALG_IS_TREE(alg) ? ENCODE_ORDINAL : ENCODE_ONE_HOT);
	if (in->impute == IMPUTE_ERROR && nnull > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column \"%s\" has " INT64_FORMAT " NULL values in the training rows", in->name, nnull),
				 errdetail("Its preprocess setting is \"impute\": \"error\".")));
	if (ndistinct > MLOPS_MAX_CATEGORIES && o->max_categories == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("categorical column \"%s\" has %d distinct values in the training rows",
						in->name, ndistinct),
				 errdetail("At most %d categories are kept unless max_categories is set.", MLOPS_MAX_CATEGORIES),
				 errhint("Set {\"%s\": {\"max_categories\": 100}} in preprocess, or exclude the column.", in->name)));
	if (ndistinct == 0 && in->impute == IMPUTE_MODE)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column \"%s\" is NULL in every training row", in->name),
				 errhint("Exclude the column, or impute a constant.")));

	/* keep the most frequent categories, then sort them by text */
	StatsSortCounts(counts, ncounts);
	nkeep = (o->max_categories > 0) ? Min(o->max_categories, ndistinct) : ndistinct;
	in->ncategories = nkeep;
	in->categories = palloc(sizeof(char *) * Max(1, nkeep));
	for (int k = 0; k < nkeep; k++)
		in->categories[k] = pstrdup(counts[k].text);
	qsort(in->categories, nkeep, sizeof(char *), CompareString);
	FeaturizerBuildLookup(in);

	in->null_category = (in->impute == IMPUTE_NONE && in->encode != ENCODE_ORDINAL && nnull > 0);
	in->has_other = (in->encode == ENCODE_ONE_HOT && nkeep < ndistinct);
	in->unknown_value = ALG_IS_TREE(alg) ? NAN : -1.0;
	in->fill_index = -1;
	if (in->impute == IMPUTE_MODE)
		in->fill_index = StrMapGet(in->lookup, counts[0].text);
	else if (in->impute == IMPUTE_CONSTANT)
		in->fill_index = StrMapGet(in->lookup, o->fill_text);

	switch (in->encode)
	{
		case ENCODE_ONE_HOT:
			in->nfeatures = nkeep + (in->null_category ? 1 : 0) + (in->has_other ? 1 : 0);
			break;
		case ENCODE_ORDINAL:
			in->nfeatures = 1;
			break;
		case ENCODE_TARGET:
			in->ntarget = nclasses > 2 ? nclasses : 1;
			in->nfeatures = in->ntarget;
			break;
	}
	if (in->nfeatures == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column \"%s\" is NULL in every training row", in->name),
				 errhint("Exclude the column, or impute a constant.")));
}

/*
 * Fit a categorical input on the training rows.
 */
static void
FitCategorical(FeatureInput *in, const ColumnOptions *o, const Dataset *ds,
			   const DatasetInput *din, const int *rows, int nrows, MlopsAlgorithm alg)
{
	StatsCount *counts = palloc0(sizeof(StatsCount) * Max(1, din->ncategories));
	int		   *remap = palloc(sizeof(int) * Max(1, din->ncategories));
	int			nnull = 0;

	for (int c = 0; c < din->ncategories; c++)
		counts[c].text = din->categories[c];
	for (int i = 0; i < nrows; i++)
	{
		double		x = din->values[rows[i]];

		if (isnan(x))
			nnull++;
		else
			counts[(int) x].count++;
	}
	FitCategoricalCounts(in, o, counts, din->ncategories, nnull, ds->nclasses, alg);
	if (in->encode == ENCODE_TARGET)
	{
		for (int c = 0; c < din->ncategories; c++)
			remap[c] = StrMapGet(in->lookup, din->categories[c]);
		FitTargetEncoding(in, ds, din, rows, nrows, remap);
	}
}

/*
 * Name the features of an input.
 */
static void
NameFeatures(const FeatureInput *in, char **names, char **labels, int nclasses)
{
	int			f = 0;

	if (!in->categorical || in->encode == ENCODE_ORDINAL ||
		(in->encode == ENCODE_TARGET && in->ntarget == 1))
	{
		names[0] = pstrdup(in->name);
		return;
	}
	if (in->encode == ENCODE_TARGET)
	{
		for (int t = 0; t < nclasses; t++)
			names[t] = psprintf("%s=%s", in->name, labels[t]);
		return;
	}
	for (int k = 0; k < in->ncategories; k++)
		names[f++] = psprintf("%s=%s", in->name, in->categories[k]);
	if (in->null_category)
		names[f++] = psprintf("%s=NULL", in->name);
	if (in->has_other)
		names[f++] = psprintf("%s=(other)", in->name);
}

/*
 * Check preprocess settings against the feature source columns, whose
 * names and kinds are all it takes, so that mlops.train can do it before
 * reading a row: every key must name a column, every option must fit the
 * column's kind.
 */
void
FeaturizerCheckPreprocess(Jsonb *preprocess, const DatasetColumn *columns, int ncolumns)
{
	int			npairs;
	JsonPair   *pairs = JsonObjectPairs(preprocess, "preprocess", &npairs);

	for (int i = 0; i < npairs; i++)
	{
		ColumnOptions o = {0};
		int			j;

		for (j = 0; j < ncolumns; j++)
			if (strcmp(pairs[i].key, columns[j].name) == 0)
				break;
		if (j == ncolumns)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("preprocess names column \"%s\", which is not a feature", pairs[i].key)));
		ParseColumnOptions(&o, &columns[j], &pairs[i].value);
	}
}

/*
 * The settings of a source column: the defaults of the algorithm, then the
 * column's preprocess entry.
 */
static void
ColumnOptionsFor(ColumnOptions *o, const DatasetColumn *col, bool is_tree,
				 JsonPair *pairs, int npairs)
{
	memset(o, 0, sizeof(ColumnOptions));
	o->impute = (is_tree || col->kind == SOURCE_CATEGORICAL) ? IMPUTE_NONE : IMPUTE_MEAN;
	o->scale = is_tree ? SCALE_NONE : SCALE_STANDARD;
	for (int i = 0; i < npairs; i++)
		if (strcmp(pairs[i].key, col->name) == 0)
			ParseColumnOptions(o, col, &pairs[i].value);
	if (!is_tree && col->kind != SOURCE_CATEGORICAL && o->impute == IMPUTE_NONE)
		o->impute = IMPUTE_MEAN;
}

/*
 * Can the transform of these columns be fitted from blocks of rows
 * (FeaturizerFitAdd alone)?  Yes when every input is numeric and no
 * setting needs the values sorted.
 */
bool
FeaturizerFitsByBlocks(Jsonb *preprocess, const DatasetColumn *columns, int ncolumns,
					   MlopsAlgorithm alg)
{
	int			npairs;
	JsonPair   *pairs = JsonObjectPairs(preprocess, "preprocess", &npairs);

	for (int j = 0; j < ncolumns; j++)
	{
		ColumnOptions o;

		if (columns[j].kind == SOURCE_CATEGORICAL)
			return false;
		ColumnOptionsFor(&o, &columns[j], ALG_IS_TREE(alg), pairs, npairs);
		if (!SummaryFits(&o))
			return false;
	}
	return true;
}

/*
 * Can the transform of these columns be fitted from statistics that merge
 * (a distributed fit: FeaturizerFitSummaries, FeaturizerFitCategories)?
 * Yes when every column is numeric, a date, a timestamp or an array (its
 * parts or elements are numbers) without a setting that needs the values sorted, or categorical
 * (target encoding only for a regression: its sums of the target per
 * category merge; a classifier's per class are not gathered).
 */
bool
FeaturizerFitsByCounts(Jsonb *preprocess, const DatasetColumn *columns, int ncolumns,
					   MlopsAlgorithm alg)
{
	int			npairs;
	JsonPair   *pairs = JsonObjectPairs(preprocess, "preprocess", &npairs);

	for (int j = 0; j < ncolumns; j++)
	{
		ColumnOptions o;

		ColumnOptionsFor(&o, &columns[j], ALG_IS_TREE(alg), pairs, npairs);
		if (columns[j].kind == SOURCE_CATEGORICAL ? (o.encode_set && o.encode == ENCODE_TARGET && alg == ALG_LOGISTIC)
			: !SummaryFits(&o))
			return false;
	}
	return true;
}

/* a transform being fitted */
struct FeaturizerFitState
{
	Featurizer *fz;
	MlopsAlgorithm alg;
	ColumnOptions *options;		/* per source column */
	NumericSummary *summaries;	/* per input */
	bool	   *summarized;		/* per input: fitted from its summary */
};

/*
 * Begin fitting the transform of the columns of ds (whose rows are not
 * read here): the settings of every input.
 */
FeaturizerFitState *
FeaturizerFitBegin(const Dataset *ds, MlopsAlgorithm alg, Jsonb *preprocess)
{
	FeaturizerFitState *st = palloc0(sizeof(FeaturizerFitState));
	Featurizer *fz = palloc0(sizeof(Featurizer));
	int			npairs;
	JsonPair   *pairs = JsonObjectPairs(preprocess, "preprocess", &npairs);

	FeaturizerCheckPreprocess(preprocess, ds->columns, ds->ncolumns);
	st->fz = fz;
	st->alg = alg;
	st->options = palloc0(sizeof(ColumnOptions) * Max(1, ds->ncolumns));
	st->summaries = palloc0(sizeof(NumericSummary) * Max(1, ds->ninputs));
	st->summarized = palloc0(sizeof(bool) * Max(1, ds->ninputs));
	fz->nsources = ds->ncolumns;
	fz->sources = palloc0(sizeof(FeatureSource) * Max(1, ds->ncolumns));
	fz->ninputs = ds->ninputs;
	fz->inputs = palloc0(sizeof(FeatureInput) * Max(1, ds->ninputs));
	for (int j = 0; j < ds->ncolumns; j++)
	{
		const DatasetColumn *col = &ds->columns[j];
		FeatureSource *src = &fz->sources[j];
		ColumnOptions *o = &st->options[j];

		src->name = col->name;
		src->type = format_type_be(col->typid);
		src->kind = col->kind;
		src->datetime_type = (col->kind == SOURCE_DATETIME) ? col->typid : InvalidOid;
		src->first_input = col->first_input;
		src->ninputs = col->ninputs;
		ColumnOptionsFor(o, col, ALG_IS_TREE(alg), pairs, npairs);

		for (int k = 0; k < col->ninputs; k++)
		{
			const DatasetInput *din = &ds->inputs[col->first_input + k];
			FeatureInput *in = &fz->inputs[col->first_input + k];

			in->name = din->name;
			in->source = j;
			in->categorical = din->categorical;
			in->impute = o->impute;
			in->scale = o->scale;
			in->fill = NAN;
			in->scale_by = 1.0;
			in->unknown_value = NAN;
			in->fill_index = -1;
			st->summarized[col->first_input + k] = !in->categorical && SummaryFits(o);
		}
	}
	return st;
}

/*
 * Add training rows rows[0 .. nrows - 1] of ds to the summaries of the
 * inputs fitted from one.
 */
void
FeaturizerFitAdd(FeaturizerFitState *st, const Dataset *ds, const int *rows, int nrows)
{
	for (int k = 0; k < ds->ninputs; k++)
	{
		const double *values = ds->inputs[k].values;
		NumericSummary *sum = &st->summaries[k];

		if (!st->summarized[k])
			continue;
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < nrows; i++)
			NumericSummaryAdd(sum, values[rows[i]]);
	}
}

/*
 * The summaries of the inputs being fitted, one per input, for a caller
 * that merges them from elsewhere (a distributed fit) instead of
 * FeaturizerFitAdd.  Only the inputs FeaturizerFitsByBlocks allows are
 * read from them.
 */
NumericSummary *
FeaturizerFitSummaries(FeaturizerFitState *st)
{
	return st->summaries;
}

/*
 * Fit categorical input "input" of a regression from the counts of its
 * training values (n distinct texts) and NULLs, and the sums of the target
 * over their rows (ysums, null_ysum; read only by a target encoding),
 * gathered elsewhere (a distributed fit's shards), as the in-memory fit
 * fits it from its rows; before FeaturizerFitEnd.  ntrain counts the
 * training rows.
 */
void
FeaturizerFitCategories(FeaturizerFitState *st, int input, char **texts, const int64 *counts,
						const double *ysums, int n, int64 nnull, double null_ysum, int64 ntrain)
{
	FeatureInput *in = &st->fz->inputs[input];
	StatsCount *sc = palloc(sizeof(StatsCount) * Max(1, n));

	Assert(in->categorical);
	for (int c = 0; c < n; c++)
	{
		sc[c].text = texts[c];
		sc[c].count = counts[c];
	}
	FitCategoricalCounts(in, &st->options[in->source], sc, n, nnull, 0, st->alg);
	if (in->encode == ENCODE_TARGET)
	{
		int			nslots = in->ncategories + 2;
		double	   *sum = palloc0(sizeof(double) * nslots);
		double	   *count = palloc0(sizeof(double) * nslots);
		double		prior = null_ysum;
		int			slot;

		/* the slots as FitTargetEncoding finds them: a category not kept is unknown */
		for (int c = 0; c < n; c++)
		{
			slot = StrMapGet(in->lookup, texts[c]);
			if (slot < 0)
				slot = in->ncategories + 1;
			count[slot] += counts[c];
			sum[slot] += ysums[c];
			prior += ysums[c];
		}
		if (nnull > 0)
		{
			slot = CategorySlot(in, NAN);
			if (slot < 0)
				slot = in->ncategories + 1;
			count[slot] += nnull;
			sum[slot] += null_ysum;
		}
		TargetEncodingFromSums(in, sum, count, &prior, ntrain);
	}
	pfree(sc);
}

/*
 * End the fit: the inputs fitted from their summaries, then the features'
 * positions and names (ds gives the labels a target encoding names).
 */
Featurizer *
FeaturizerFitEnd(FeaturizerFitState *st, const Dataset *ds)
{
	Featurizer *fz = st->fz;

	for (int k = 0; k < fz->ninputs; k++)
		if (st->summarized[k])
			FitNumericSummary(&fz->inputs[k], &st->options[fz->inputs[k].source],
							  &st->summaries[k]);
	for (int k = 0; k < fz->ninputs; k++)
	{
		fz->inputs[k].first_feature = fz->nfeatures;
		fz->nfeatures += fz->inputs[k].nfeatures;
	}
	if (fz->nfeatures > MLOPS_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many features: %d", fz->nfeatures),
				 errdetail("At most %d are supported; lower max_categories or use ordinal encoding.",
						   MLOPS_MAX_FEATURES)));
	fz->feature_names = palloc(sizeof(char *) * Max(1, fz->nfeatures));
	for (int k = 0; k < fz->ninputs; k++)
		NameFeatures(&fz->inputs[k], fz->feature_names + fz->inputs[k].first_feature,
					 ds->labels, ds->nclasses);
	fz->identity = FeaturizerIdentity(fz);
	return fz;
}

/*
 * Fit the transform of every input on the training rows held in ds: the
 * summaries of FeaturizerFitAdd, and the inputs that need their values
 * gathered (categories, medians, modes, robust scaling) one by one.
 */
Featurizer *
FeaturizerFit(const Dataset *ds, const int *rows, int nrows,
			  MlopsAlgorithm alg, Jsonb *preprocess)
{
	FeaturizerFitState *st = FeaturizerFitBegin(ds, alg, preprocess);
	double	   *buf = NULL;

	FeaturizerFitAdd(st, ds, rows, nrows);
	for (int k = 0; k < ds->ninputs; k++)
	{
		FeatureInput *in = &st->fz->inputs[k];
		const ColumnOptions *o = &st->options[in->source];

		CHECK_FOR_INTERRUPTS();
		if (st->summarized[k])
			continue;
		if (in->categorical)
			FitCategorical(in, o, ds, &ds->inputs[k], rows, nrows, alg);
		else
		{
			if (buf == NULL)
				buf = palloc_extended(sizeof(double) * Max(1, nrows), MCXT_ALLOC_HUGE);
			FitNumeric(in, o, &ds->inputs[k], rows, nrows, buf);
		}
	}
	if (buf != NULL)
		pfree(buf);
	return FeaturizerFitEnd(st, ds);
}
