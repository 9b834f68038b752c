/*-------------------------------------------------------------------------
 *
 * featurize.c
 *	  The frozen feature transform stored with every model.
 *
 * A featurizer turns the source columns of a row into the vector a model
 * sees, in two steps.  Source columns become inputs: a number or a
 * category is one input, a timestamp six (epoch seconds, year, month,
 * day, day of week, hour, in UTC), a date five (no hour; models trained
 * before 0.2.0 have the hour of a date too, always 0, and keep it), a
 * fixed-length float array one per element.  Inputs become features: numeric inputs are imputed, then
 * scaled; categorical inputs are encoded (one-hot, ordinal or target).
 *
 * The transform is fitted on the training rows only (never the held-out
 * rows), stored as JSON in mlops.models.features, and applied by every
 * predict path, so training and serving cannot disagree.  Scaling
 * statistics are computed on imputed values, as a scikit-learn
 * Pipeline(SimpleImputer, Scaler) does.  Defaults depend on the algorithm:
 * trees keep NULL as a missing value, are not scaled and encode categories
 * as ordinals; linear models impute the mean, standardize and one-hot
 * encode.
 *
 * Categories are kept sorted by their text (byte order, as Python sorts
 * them).  With max_categories only the most frequent are kept; one-hot
 * encoding then gets an "other" slot for the rest and for values never
 * seen, which otherwise encode as all zeros (scikit-learn's
 * handle_unknown='ignore').  NULL is a category of its own (one-hot,
 * target) unless imputed; ordinal encoding maps NULL and unknown values to
 * a missing value (trees) or -1 (linear models).  Target encoding replaces
 * a category by the smoothed mean of the target over its training rows
 * (per class for multiclass), (sum + m * prior) / (count + m) with
 * m = TARGET_SMOOTHING; unknown values get the prior.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "featurize.h"
#include "jsonutil.h"
#include "stats.h"

#define FEATURIZER_FORMAT 1
#define MLOPS_MAX_CATEGORIES 1000	/* distinct values kept without
									 * max_categories */
#define TARGET_SMOOTHING 10.0
#define FEATURIZE_BLOCK 1024		/* rows transformed at a time */

static const char *const impute_names[] = {
	[IMPUTE_NONE] = "none",
	[IMPUTE_MEAN] = "mean",
	[IMPUTE_MEDIAN] = "median",
	[IMPUTE_MODE] = "mode",
	[IMPUTE_MIN] = "min",
	[IMPUTE_MAX] = "max",
	[IMPUTE_ZERO] = "zero",
	[IMPUTE_ERROR] = "error",
	[IMPUTE_CONSTANT] = "constant",
};

static const char *const scale_names[] = {
	[SCALE_NONE] = "none",
	[SCALE_STANDARD] = "standard",
	[SCALE_MIN_MAX] = "min_max",
	[SCALE_MAX_ABS] = "max_abs",
	[SCALE_ROBUST] = "robust",
};

static const char *const encode_names[] = {
	[ENCODE_ONE_HOT] = "one_hot",
	[ENCODE_ORDINAL] = "ordinal",
	[ENCODE_TARGET] = "target",
};

static const char *const source_kind_names[] = {
	[SOURCE_NUMERIC] = "numeric",
	[SOURCE_CATEGORICAL] = "categorical",
	[SOURCE_DATETIME] = "datetime",
	[SOURCE_ARRAY] = "array",
};

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
 * Look a name up in one of the option tables above; -1 when unknown.
 */
static int
LookupName(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (name != NULL && strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/*
 * Report a stored transform as damaged.
 */
static void
TransformCorrupted(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored model metadata is corrupted"),
			 errdetail("The feature transform has %s.", what)));
}

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
			k = LookupName(impute_names, lengthof(impute_names), s);
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
			k = LookupName(scale_names, lengthof(scale_names), s);
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
								source_kind_names[col->kind], col->name),
						 errdetail("Only categorical (text, varchar, char, enum) columns are encoded.")));
			if (key[0] == 'e')
			{
				k = LookupName(encode_names, lengthof(encode_names), s);
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
	in->nfeatures = 1;
}

/*
 * Build the lookup from category text to index.
 */
static void
BuildLookup(FeatureInput *in)
{
	in->lookup = StrMapCreate(CurrentMemoryContext, in->ncategories);
	for (int k = 0; k < in->ncategories; k++)
		StrMapPut(in->lookup, in->categories[k], k);
}

/*
 * The category slot of a categorical input's raw value: its index, the
 * NULL category (ncategories), or -1 for unknown.
 */
static inline int
CategorySlot(const FeatureInput *in, double r)
{
	if (!isnan(r))
		return (int) r;
	if (in->impute == IMPUTE_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("feature column \"%s\" is NULL", in->name),
				 errdetail("The model was trained with \"impute\": \"error\" for this column.")));
	if (in->impute != IMPUTE_NONE)
		return in->fill_index;
	return in->null_category ? in->ncategories : -1;
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
	for (int t = 0; t < nt; t++)
		prior[t] /= nrows;

	in->target_values = palloc(sizeof(double) * nslots * nt);
	for (int s = 0; s < nslots; s++)
		for (int t = 0; t < nt; t++)
			in->target_values[s * nt + t] = (s == nslots - 1) ? prior[t]
				: (sum[s * nt + t] + TARGET_SMOOTHING * prior[t]) / (count[s] + TARGET_SMOOTHING);
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
	int			nnull = 0,
				ndistinct = 0,
				nkeep;

	in->encode = o->encode_set ? o->encode : (ALG_IS_TREE(alg) ? ENCODE_ORDINAL : ENCODE_ONE_HOT);
	for (int c = 0; c < din->ncategories; c++)
		counts[c].text = din->categories[c];
	for (int i = 0; i < nrows; i++)
	{
		double		x = din->values[rows[i]];

		if (isnan(x))
			nnull++;
		else if (counts[(int) x].count++ == 0)
			ndistinct++;
	}
	if (in->impute == IMPUTE_ERROR && nnull > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column \"%s\" has %d NULL values in the training rows", in->name, nnull),
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
	StatsSortCounts(counts, din->ncategories);
	nkeep = (o->max_categories > 0) ? Min(o->max_categories, ndistinct) : ndistinct;
	in->ncategories = nkeep;
	in->categories = palloc(sizeof(char *) * Max(1, nkeep));
	for (int k = 0; k < nkeep; k++)
		in->categories[k] = pstrdup(counts[k].text);
	qsort(in->categories, nkeep, sizeof(char *), CompareString);
	BuildLookup(in);

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
			in->ntarget = ds->nclasses > 2 ? ds->nclasses : 1;
			in->nfeatures = in->ntarget;
			for (int c = 0; c < din->ncategories; c++)
				remap[c] = StrMapGet(in->lookup, din->categories[c]);
			FitTargetEncoding(in, ds, din, rows, nrows, remap);
			break;
	}
	if (in->nfeatures == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column \"%s\" is NULL in every training row", in->name),
				 errhint("Exclude the column, or impute a constant.")));
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
 * Fit the transform of every input on the training rows.
 */
Featurizer *
FeaturizerFit(const Dataset *ds, const int *rows, int nrows,
			  MlopsAlgorithm alg, Jsonb *preprocess)
{
	Featurizer *fz = palloc0(sizeof(Featurizer));
	double	   *buf = palloc_extended(sizeof(double) * Max(1, nrows), MCXT_ALLOC_HUGE);
	int			npairs;
	JsonPair   *pairs = JsonObjectPairs(preprocess, "preprocess", &npairs);
	bool		is_tree = ALG_IS_TREE(alg);

	FeaturizerCheckPreprocess(preprocess, ds->columns, ds->ncolumns);

	fz->nsources = ds->ncolumns;
	fz->sources = palloc0(sizeof(FeatureSource) * Max(1, ds->ncolumns));
	fz->ninputs = ds->ninputs;
	fz->inputs = palloc0(sizeof(FeatureInput) * Max(1, ds->ninputs));
	for (int j = 0; j < ds->ncolumns; j++)
	{
		const DatasetColumn *col = &ds->columns[j];
		FeatureSource *src = &fz->sources[j];
		ColumnOptions o = {0};

		src->name = col->name;
		src->type = format_type_be(col->typid);
		src->kind = col->kind;
		src->datetime_type = (col->kind == SOURCE_DATETIME) ? col->typid : InvalidOid;
		src->first_input = col->first_input;
		src->ninputs = col->ninputs;

		o.impute = (is_tree || col->kind == SOURCE_CATEGORICAL) ? IMPUTE_NONE : IMPUTE_MEAN;
		o.scale = is_tree ? SCALE_NONE : SCALE_STANDARD;
		for (int i = 0; i < npairs; i++)
			if (strcmp(pairs[i].key, col->name) == 0)
				ParseColumnOptions(&o, col, &pairs[i].value);
		if (!is_tree && col->kind != SOURCE_CATEGORICAL && o.impute == IMPUTE_NONE)
			o.impute = IMPUTE_MEAN;

		for (int k = 0; k < col->ninputs; k++)
		{
			const DatasetInput *din = &ds->inputs[col->first_input + k];
			FeatureInput *in = &fz->inputs[col->first_input + k];

			CHECK_FOR_INTERRUPTS();
			in->name = din->name;
			in->source = j;
			in->categorical = din->categorical;
			in->impute = o.impute;
			in->scale = o.scale;
			in->fill = NAN;
			in->scale_by = 1.0;
			in->unknown_value = NAN;
			in->fill_index = -1;
			if (in->categorical)
				FitCategorical(in, &o, ds, din, rows, nrows, alg);
			else
				FitNumeric(in, &o, din, rows, nrows, buf);
		}
	}

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
	pfree(buf);
	return fz;
}

/*
 * Transform one row of raw inputs into features.
 */
void
FeaturizerApply(const Featurizer *fz, const double *raw, double *out)
{
	for (int k = 0; k < fz->ninputs; k++)
	{
		const FeatureInput *in = &fz->inputs[k];
		double	   *o = out + in->first_feature;
		double		x = raw[k];
		int			slot;

		if (!in->categorical)
		{
			if (isnan(x))
			{
				if (in->impute == IMPUTE_ERROR)
					ereport(ERROR,
							(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							 errmsg("feature column \"%s\" is NULL", in->name),
							 errdetail("The model was trained with \"impute\": \"error\" for this column.")));
				x = in->fill;
			}
			o[0] = (x - in->center) / in->scale_by;
			continue;
		}
		slot = CategorySlot(in, x);
		switch (in->encode)
		{
			case ENCODE_ONE_HOT:
				memset(o, 0, sizeof(double) * in->nfeatures);
				if (slot >= 0 && (slot < in->ncategories || in->null_category))
					o[slot] = 1.0;
				else if (in->has_other)
					o[in->nfeatures - 1] = 1.0;
				break;
			case ENCODE_ORDINAL:
				o[0] = (slot >= 0 && slot < in->ncategories) ? slot : in->unknown_value;
				break;
			case ENCODE_TARGET:
				if (slot < 0 || (slot == in->ncategories && !in->null_category))
					slot = in->ncategories + 1;
				memcpy(o, in->target_values + (size_t) slot * in->ntarget, sizeof(double) * in->ntarget);
				break;
		}
	}
}

/*
 * Check that a dataset read for a model has the model's inputs: each
 * source column of the same kind (array columns of the same length).
 */
void
FeaturizerCheckDataset(const Featurizer *fz, const Dataset *ds)
{
	for (int j = 0; j < fz->nsources; j++)
	{
		const FeatureSource *src = &fz->sources[j];
		const DatasetColumn *col = &ds->columns[j];

		if (col->kind != src->kind || col->ninputs != src->ninputs)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" has type %s, but the model was trained on type %s",
							src->name, format_type_be(col->typid), src->type)));
	}
}

/*
 * The source columns to read for a model.
 */
DatasetSpec *
FeaturizerSpec(const Featurizer *fz)
{
	DatasetSpec *spec = palloc(sizeof(DatasetSpec));

	spec->ncolumns = fz->nsources;
	spec->names = palloc(sizeof(char *) * Max(1, fz->nsources));
	spec->array_lengths = palloc0(sizeof(int) * Max(1, fz->nsources));
	for (int j = 0; j < fz->nsources; j++)
	{
		spec->names[j] = fz->sources[j].name;
		if (fz->sources[j].kind == SOURCE_ARRAY || fz->sources[j].kind == SOURCE_DATETIME)
			spec->array_lengths[j] = fz->sources[j].ninputs;
	}
	return spec;
}

/*
 * Are all source columns plain numbers (so raw arrays can be scored)?
 */
bool
FeaturizerAllNumeric(const Featurizer *fz)
{
	for (int j = 0; j < fz->nsources; j++)
		if (fz->sources[j].kind != SOURCE_NUMERIC)
			return false;
	return true;
}

/*
 * For each categorical input, the category index of each of a dataset's
 * category codes (-1 when not a known category).
 */
static int **
DatasetRemap(const Featurizer *fz, const Dataset *ds)
{
	int		  **remap = palloc0(sizeof(int *) * Max(1, fz->ninputs));

	for (int k = 0; k < fz->ninputs; k++)
	{
		const DatasetInput *din = &ds->inputs[k];

		if (!fz->inputs[k].categorical)
			continue;
		remap[k] = palloc(sizeof(int) * Max(1, din->ncategories));
		for (int c = 0; c < din->ncategories; c++)
			remap[k][c] = StrMapGet(fz->inputs[k].lookup, din->categories[c]);
	}
	return remap;
}

/*
 * The raw inputs of one dataset row, categories as model indices.
 */
static inline void
DatasetRaw(const Featurizer *fz, const Dataset *ds, int **remap, int row, double *raw)
{
	for (int k = 0; k < fz->ninputs; k++)
	{
		double		x = ds->inputs[k].values[row];

		raw[k] = (remap[k] != NULL && !isnan(x)) ? remap[k][(int) x] : x;
	}
}

/*
 * The features of dataset rows, row-major (nrows x nfeatures) into out.
 */
void
FeaturizerDatasetRows(const Featurizer *fz, const Dataset *ds, const int *rows,
					  int nrows, double *out)
{
	int		  **remap = DatasetRemap(fz, ds);
	double	   *raw = palloc(sizeof(double) * Max(1, fz->ninputs));

	for (int i = 0; i < nrows; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		DatasetRaw(fz, ds, remap, rows[i], raw);
		FeaturizerApply(fz, raw, out + (size_t) i * fz->nfeatures);
	}
	pfree(raw);
}

/*
 * The features of training rows as a column-major matrix of nrows x
 * nfeatures doubles, as the algorithms take them.
 */
double *
FeaturizerMatrix(const Featurizer *fz, const Dataset *ds, const int *rows, int nrows)
{
	int			p = fz->nfeatures;
	double	   *X = palloc_extended(sizeof(double) * Max(1, nrows) * p, MCXT_ALLOC_HUGE);
	double	   *block = palloc(sizeof(double) * FEATURIZE_BLOCK * Max(1, p));

	for (int start = 0; start < nrows; start += FEATURIZE_BLOCK)
	{
		int			n = Min(FEATURIZE_BLOCK, nrows - start);

		FeaturizerDatasetRows(fz, ds, rows + start, n, block);
		for (int i = 0; i < n; i++)
			for (int f = 0; f < p; f++)
				X[(size_t) f * nrows + start + i] = block[(size_t) i * p + f];
	}
	pfree(block);
	return X;
}

/*
 * What a source kind expects, for error messages.
 */
static const char *
ExpectedType(const FeatureSource *src)
{
	switch (src->kind)
	{
		case SOURCE_NUMERIC:
			return "a number";
		case SOURCE_CATEGORICAL:
			return "text or an enum";
		case SOURCE_DATETIME:
			return "a date or timestamp";
		case SOURCE_ARRAY:
			return psprintf("a real[] or double precision[] of %d elements", src->ninputs);
	}
	return "";
}

/*
 * A JSON string sent for a number column, as forms and query strings
 * send numbers: accepted when it holds a number ("42", " 4.2e1 "), else an
 * error saying how to send it.
 */
static void
JsonStringNumber(const JsonbValue *v, const char *name, int64 model_id, double *out)
{
	char	   *s = JsonValueToCString(v);
	char	   *end;

	errno = 0;
	*out = strtod(s, &end);
	while (*end == ' ')
		end++;
	if (end == s || *end != '\0' || errno == ERANGE)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("key \"%s\" is the string \"%s\", but model " INT64_FORMAT " expects a number",
						name, s, model_id),
				 errhint("Send a JSON number ({\"%s\": 42}), a string holding one ({\"%s\": \"42\"}), or null.",
						 name, name)));
}

/*
 * Store a category's text as the raw value of a categorical input.
 */
static inline void
RawCategory(const FeatureInput *in, const char *text, double *raw)
{
	*raw = StrMapGet(in->lookup, text);
}

/*
 * Check that a row column of base type typid can feed source column
 * "source"; otherwise an error naming the column and both types.
 */
void
FeaturizerCheckSourceType(const Featurizer *fz, int source, Oid typid, int64 model_id)
{
	const FeatureSource *src = &fz->sources[source];

	if (DatasetSourceKind(typid, src->name) != src->kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" has type %s, but model " INT64_FORMAT " expects %s",
						src->name, format_type_be(typid), model_id, ExpectedType(src)),
				 errdetail("The model was trained on type %s.", src->type)));
}

/*
 * The raw inputs of source column "source" from a datum of base type typid
 * (a row's column at predict time, checked by FeaturizerCheckSourceType).
 */
void
FeaturizerRawFromDatum(const Featurizer *fz, int source, Datum d, Oid typid,
					   bool isnull, double *raw)
{
	const FeatureSource *src = &fz->sources[source];
	double	   *r = raw + src->first_input;
	double		v;

	if (isnull)
	{
		for (int k = 0; k < src->ninputs; k++)
			r[k] = NAN;
		return;
	}
	switch (src->kind)
	{
		case SOURCE_NUMERIC:
			v = DatasetDatumNumber(d, typid);
			if (!isfinite(v))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("feature \"%s\" is %s", src->name, isnan(v) ? "NaN" : "infinite"),
						 errhint("Use NULL for a missing value.")));
			r[0] = v;
			break;
		case SOURCE_CATEGORICAL:
			RawCategory(&fz->inputs[src->first_input], DatasetCategoryText(d, typid), r);
			break;
		case SOURCE_DATETIME:
			DatasetDatetimeParts(d, typid, src->name, src->ninputs, r);
			break;
		case SOURCE_ARRAY:
			DatasetArrayValues(d, src->name, src->ninputs, r);
			break;
	}
}

/*
 * The raw inputs of source column "source" from a jsonb value (a key of a
 * jsonb row at predict time): numbers, strings for categories and dates,
 * arrays of numbers; null is NULL.
 */
void
FeaturizerRawFromJson(const Featurizer *fz, int source, JsonbValue *v,
					  int64 model_id, double *raw)
{
	const FeatureSource *src = &fz->sources[source];
	double	   *r = raw + src->first_input;
	char	   *s;

	if (v->type == jbvNull)
	{
		for (int k = 0; k < src->ninputs; k++)
			r[k] = NAN;
		return;
	}
	switch (src->kind)
	{
		case SOURCE_NUMERIC:
			if (v->type == jbvString)
				JsonStringNumber(v, src->name, model_id, r);
			else if (!JsonValueNumber(v, r))
				break;
			if (!isfinite(r[0]))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("feature \"%s\" is %s", src->name, isnan(r[0]) ? "NaN" : "infinite")));
			return;
		case SOURCE_CATEGORICAL:
			if (v->type == jbvString)
				s = JsonValueToCString(v);
			else if (v->type == jbvBool)
				s = pstrdup(v->val.boolean ? "true" : "false");
			else if (v->type == jbvNumeric)
				s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
			else
				break;
			RawCategory(&fz->inputs[src->first_input], s, r);
			return;
		case SOURCE_DATETIME:
			if (v->type != jbvString)
				break;
			{
				Oid			typinput,
							typioparam;

				getTypeInputInfo(src->datetime_type, &typinput, &typioparam);
				DatasetDatetimeParts(OidInputFunctionCall(typinput, JsonValueToCString(v), typioparam, -1),
									 src->datetime_type, src->name, src->ninputs, r);
			}
			return;
		case SOURCE_ARRAY:
			if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
				break;
			if ((int) JsonContainerSize(v->val.binary.data) != src->ninputs)
				ereport(ERROR,
						(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						 errmsg("key \"%s\" has %d elements where %d are expected", src->name,
								(int) JsonContainerSize(v->val.binary.data), src->ninputs)));
			for (int k = 0; k < src->ninputs; k++)
			{
				JsonbValue *e = getIthJsonbValueFromContainer(v->val.binary.data, k);

				if (e->type == jbvNull)
					r[k] = NAN;
				else if (!JsonValueNumber(e, &r[k]) || !isfinite(r[k]))
					ereport(ERROR,
							(errcode(ERRCODE_DATATYPE_MISMATCH),
							 errmsg("key \"%s\" must hold finite numbers or nulls", src->name)));
			}
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("key \"%s\" is %s, but model " INT64_FORMAT " expects %s",
					src->name, JsonTypeName(v), model_id, ExpectedType(src))));
}

/*
 * Write the frozen transform as JSON (mlops.models.features).
 */
void
FeaturizerToJson(const Featurizer *fz, StringInfo buf)
{
	appendStringInfo(buf, "{\"format\": %d, \"columns\": [", FEATURIZER_FORMAT);
	for (int j = 0; j < fz->nsources; j++)
	{
		const FeatureSource *src = &fz->sources[j];

		appendStringInfoString(buf, j ? ", {\"name\": " : "{\"name\": ");
		JsonAppendString(buf, src->name);
		appendStringInfoString(buf, ", \"type\": ");
		JsonAppendString(buf, src->type);
		appendStringInfo(buf, ", \"kind\": \"%s\", \"inputs\": %d}", source_kind_names[src->kind], src->ninputs);
	}
	appendStringInfoString(buf, "], \"inputs\": [");
	for (int k = 0; k < fz->ninputs; k++)
	{
		const FeatureInput *in = &fz->inputs[k];

		appendStringInfoString(buf, k ? ", {\"name\": " : "{\"name\": ");
		JsonAppendString(buf, in->name);
		appendStringInfo(buf, ", \"column\": %d, \"kind\": \"%s\", \"impute\": \"%s\"",
						 in->source, in->categorical ? "categorical" : "numeric", impute_names[in->impute]);
		if (!in->categorical)
		{
			appendStringInfoString(buf, ", \"fill\": ");
			JsonAppendDouble(buf, in->fill);
			appendStringInfo(buf, ", \"scale\": \"%s\", \"center\": ", scale_names[in->scale]);
			JsonAppendDouble(buf, in->center);
			appendStringInfoString(buf, ", \"scale_by\": ");
			JsonAppendDouble(buf, in->scale_by);
		}
		else
		{
			appendStringInfo(buf, ", \"encode\": \"%s\", \"categories\": ", encode_names[in->encode]);
			JsonAppendStrings(buf, in->categories, in->ncategories);
			appendStringInfo(buf, ", \"null_category\": %s, \"other\": %s, \"fill_index\": %d, \"unknown_value\": ",
							 in->null_category ? "true" : "false", in->has_other ? "true" : "false",
							 in->fill_index);
			JsonAppendDouble(buf, in->unknown_value);
			if (in->encode == ENCODE_TARGET)
			{
				appendStringInfo(buf, ", \"target_values\": ");
				JsonAppendDoubles(buf, in->target_values, (in->ncategories + 2) * in->ntarget);
			}
		}
		appendStringInfoString(buf, ", \"features\": ");
		JsonAppendStrings(buf, fz->feature_names + in->first_feature, in->nfeatures);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfo(buf, "], \"nfeatures\": %d}", fz->nfeatures);
}

/*
 * Read an option name of a stored transform.
 */
static int
StoredName(const char *const *names, int n, JsonbContainer *c, const char *key)
{
	int			k = LookupName(names, n, JsonGetString(c, key));

	if (k < 0)
		TransformCorrupted(psprintf("an unknown \"%s\"", key));
	return k;
}

/*
 * Read a required JSON array of a stored transform.
 */
static JsonbContainer *
StoredArray(JsonbContainer *c, const char *key)
{
	JsonbContainer *arr = JsonGetContainer(c, key);

	if (!JsonContainerIsArray(arr))
		TransformCorrupted(psprintf("a \"%s\" that is not an array", key));
	return arr;
}

/*
 * Read a required JSON object that is element i of a stored array.
 */
static JsonbContainer *
StoredObject(JsonbContainer *arr, int i, const char *what)
{
	JsonbValue *v = JsonArrayElement(arr, i);

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		TransformCorrupted(psprintf("%s that is not an object", what));
	return v->val.binary.data;
}

/*
 * Read a stored source column: its name, type, kind and number of inputs,
 * which must fit the kind and the inputs left.
 */
static void
SourceFromJson(JsonbContainer *c, FeatureSource *src, int first_input, int ninputs)
{
	src->name = JsonGetString(c, "name");
	src->type = JsonGetString(c, "type");
	src->kind = (SourceKind) StoredName(source_kind_names, lengthof(source_kind_names), c, "kind");
	src->ninputs = JsonGetInt(c, "inputs");
	src->first_input = first_input;
	if (src->kind == SOURCE_DATETIME)
	{
		if (strcmp(src->type, "date") == 0)
			src->datetime_type = DATEOID;
		else if (strcmp(src->type, "timestamp with time zone") == 0)
			src->datetime_type = TIMESTAMPTZOID;
		else if (strcmp(src->type, "timestamp without time zone") == 0)
			src->datetime_type = TIMESTAMPOID;
		else
			TransformCorrupted(psprintf("date column \"%s\" of type \"%s\"", src->name, src->type));
	}
	if (src->ninputs < 1 || src->ninputs > ninputs - first_input ||
		(src->kind == SOURCE_DATETIME && src->ninputs != DATETIME_PARTS &&
		 !(src->datetime_type == DATEOID && src->ninputs == DATE_PARTS)) ||
		(src->kind != SOURCE_DATETIME && src->kind != SOURCE_ARRAY && src->ninputs != 1))
		TransformCorrupted(psprintf("column \"%s\" with the wrong number of inputs", src->name));
}

/*
 * Read the encoding of a stored categorical input: its categories and the
 * slots and values they map to, consistent with its number of features.
 */
static void
CategoricalFromJson(JsonbContainer *c, FeatureInput *in)
{
	JsonbContainer *cats = StoredArray(c, "categories");
	JsonbValue *nv;
	int			expect;

	in->encode = (EncodeKind) StoredName(encode_names, lengthof(encode_names), c, "encode");
	in->ncategories = JsonContainerSize(cats);
	if (in->ncategories > MLOPS_MAX_CATEGORIES)
		TransformCorrupted(psprintf("%d categories for \"%s\", more than a model keeps",
									in->ncategories, in->name));
	in->categories = palloc(sizeof(char *) * Max(1, in->ncategories));
	for (int i = 0; i < in->ncategories; i++)
	{
		in->categories[i] = JsonValueToCString(JsonArrayElement(cats, i));
		if (in->categories[i] == NULL)
			TransformCorrupted(psprintf("a category of \"%s\" that is not a string", in->name));
	}
	nv = JsonGet(c, "null_category");
	in->null_category = nv && nv->type == jbvBool && nv->val.boolean;
	nv = JsonGet(c, "other");
	in->has_other = nv && nv->type == jbvBool && nv->val.boolean;
	in->fill_index = JsonGetInt(c, "fill_index");
	in->unknown_value = JsonGetDouble(c, "unknown_value");
	if (in->fill_index < -1 || in->fill_index >= in->ncategories)
		TransformCorrupted(psprintf("an imputed category of \"%s\" out of range", in->name));
	if (in->encode == ENCODE_ONE_HOT)
		expect = in->ncategories + in->null_category + in->has_other;
	else if (in->encode == ENCODE_ORDINAL)
		expect = 1;
	else
		expect = in->nfeatures;
	if (in->nfeatures != expect || in->nfeatures < 1)
		TransformCorrupted(psprintf("the wrong number of features for \"%s\"", in->name));
	if (in->encode == ENCODE_TARGET)
	{
		JsonbContainer *tv = StoredArray(c, "target_values");
		int64		nvalues = ((int64) in->ncategories + 2) * in->nfeatures;

		in->ntarget = in->nfeatures;
		if ((int64) JsonContainerSize(tv) != nvalues)
			TransformCorrupted(psprintf("target encoding values of \"%s\" of the wrong size", in->name));
		in->target_values = palloc(sizeof(double) * nvalues);
		for (int i = 0; i < nvalues; i++)
			if (!JsonValueNumber(JsonArrayElement(tv, i), &in->target_values[i]))
				TransformCorrupted(psprintf("a target encoding value of \"%s\" that is not a number",
											in->name));
	}
	BuildLookup(in);
}

/*
 * Read a frozen transform back from mlops.models.features, checking every
 * value predict relies on (types, ranges, indices and counts), so a
 * damaged transform is an ERRCODE_DATA_CORRUPTED error, never a crash.
 */
Featurizer *
FeaturizerFromJson(Jsonb *jb)
{
	Featurizer *fz = palloc0(sizeof(Featurizer));
	JsonbContainer *root = &jb->root;
	JsonbContainer *cols;
	JsonbContainer *inputs;
	int			format = JsonGetInt(root, "format");
	int			next_input = 0;

	if (format != FEATURIZER_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unknown feature transform format %d", format),
				 errhint("The model was written by another version of mlops; retrain it.")));
	cols = StoredArray(root, "columns");
	inputs = StoredArray(root, "inputs");
	fz->nsources = JsonContainerSize(cols);
	fz->ninputs = JsonContainerSize(inputs);
	if (fz->ninputs > MLOPS_MAX_FEATURES)
		TransformCorrupted(psprintf("%d inputs", fz->ninputs));
	fz->sources = palloc0(sizeof(FeatureSource) * Max(1, fz->nsources));
	fz->inputs = palloc0(sizeof(FeatureInput) * Max(1, fz->ninputs));

	for (int j = 0; j < fz->nsources; j++)
	{
		SourceFromJson(StoredObject(cols, j, "a column"), &fz->sources[j], next_input, fz->ninputs);
		next_input += fz->sources[j].ninputs;
	}
	if (next_input != fz->ninputs)
		TransformCorrupted("inputs that do not match its columns");

	for (int k = 0; k < fz->ninputs; k++)
	{
		JsonbContainer *c = StoredObject(inputs, k, "an input");
		FeatureInput *in = &fz->inputs[k];
		const FeatureSource *src;
		const char *kind;

		in->name = JsonGetString(c, "name");
		in->source = JsonGetInt(c, "column");
		if (in->source < 0 || in->source >= fz->nsources ||
			k < fz->sources[in->source].first_input ||
			k >= fz->sources[in->source].first_input + fz->sources[in->source].ninputs)
			TransformCorrupted(psprintf("input \"%s\" of an unknown column", in->name));
		src = &fz->sources[in->source];
		kind = JsonGetString(c, "kind");
		if (strcmp(kind, "categorical") != 0 && strcmp(kind, "numeric") != 0)
			TransformCorrupted(psprintf("input \"%s\" of unknown kind \"%s\"", in->name, kind));
		in->categorical = strcmp(kind, "categorical") == 0;
		if (in->categorical != (src->kind == SOURCE_CATEGORICAL))
			TransformCorrupted(psprintf("input \"%s\" of the wrong kind", in->name));
		in->impute = (ImputeKind) StoredName(impute_names, lengthof(impute_names), c, "impute");
		in->nfeatures = JsonContainerSize(StoredArray(c, "features"));
		if (in->nfeatures > MLOPS_MAX_FEATURES - fz->nfeatures)
			TransformCorrupted(psprintf("more than %d features", MLOPS_MAX_FEATURES));
		in->first_feature = fz->nfeatures;
		fz->nfeatures += in->nfeatures;
		if (!in->categorical)
		{
			in->fill = JsonGetDouble(c, "fill");
			in->scale = (ScaleKind) StoredName(scale_names, lengthof(scale_names), c, "scale");
			in->center = JsonGetDouble(c, "center");
			in->scale_by = JsonGetDouble(c, "scale_by");
			if (!isfinite(in->center) || !isfinite(in->scale_by) || in->scale_by == 0 || in->nfeatures != 1)
				TransformCorrupted(psprintf("invalid scaling for \"%s\"", in->name));
		}
		else
			CategoricalFromJson(c, in);
	}
	if (fz->nfeatures != JsonGetInt(root, "nfeatures") || fz->nfeatures < 1)
		TransformCorrupted("a feature count that does not match its inputs");

	fz->feature_names = palloc(sizeof(char *) * fz->nfeatures);
	for (int k = 0; k < fz->ninputs; k++)
	{
		JsonbContainer *names = StoredArray(StoredObject(inputs, k, "an input"), "features");

		for (int f = 0; f < fz->inputs[k].nfeatures; f++)
		{
			char	   *name = JsonValueToCString(JsonArrayElement(names, f));

			if (name == NULL)
				TransformCorrupted(psprintf("a feature name of \"%s\" that is not a string",
											fz->inputs[k].name));
			fz->feature_names[fz->inputs[k].first_feature + f] = name;
		}
	}
	return fz;
}
