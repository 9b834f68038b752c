/*-------------------------------------------------------------------------
 *
 * featurize.c
 *	  The frozen feature transform stored with every model.
 *
 * A featurizer turns the raw values of a row's source columns into the
 * vector a model sees.  It is fitted on the training rows only (never the
 * held-out rows), stored as JSON in mlops.models.features, and applied by
 * every predict path, so training and serving can never disagree.
 *
 * Per column: imputation first (its statistic computed on the training
 * rows), then scaling, whose statistics are computed on the imputed values,
 * as a scikit-learn Pipeline(SimpleImputer, Scaler) would.  Defaults depend
 * on the algorithm: trees keep NULL as a missing value and are not scaled;
 * linear models impute the mean and standardize.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "featurize.h"
#include "jsonutil.h"

#define FEATURIZER_FORMAT 1

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

/*
 * Look a name up in one of the option tables above; -1 when unknown.
 */
static int
LookupName(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/*
 * qsort comparator for doubles.
 */
static int
CompareDouble(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * Quantile q of sorted values with linear interpolation (numpy's default).
 */
static double
SortedQuantile(const double *v, int n, double q)
{
	double		pos = q * (n - 1);
	int			lo = (int) floor(pos);
	int			hi = Min(lo + 1, n - 1);

	return v[lo] + (v[hi] - v[lo]) * (pos - lo);
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
 * Parse the preprocess settings of one column into fc.
 */
static void
ParseColumnOptions(FeatureColumn *fc, JsonbValue *opts, MlopsAlgorithm alg)
{
	int			npairs;
	JsonPair   *pairs;
	Jsonb	   *jb;

	if (opts->type != jbvBinary || !JsonContainerIsObject(opts->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("preprocess settings of column \"%s\" must be a JSON object", fc->name)));
	jb = JsonbValueToJsonb(opts);
	pairs = JsonObjectPairs(jb, "preprocess", &npairs);

	for (int i = 0; i < npairs; i++)
	{
		const char *key = pairs[i].key;
		JsonbValue *v = &pairs[i].value;
		char	   *s = JsonValueToCString(v);
		int			k;

		if (strcmp(key, "impute") == 0)
		{
			if (v->type == jbvBinary && JsonGet(v->val.binary.data, "constant") != NULL)
			{
				JsonbValue *c = JsonGet(v->val.binary.data, "constant");

				if (!JsonValueToDouble(c, &fc->fill) || !isfinite(fc->fill))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("constant imputation value of column \"%s\" must be a finite number", fc->name)));
				fc->impute = IMPUTE_CONSTANT;
				continue;
			}
			k = s ? LookupName(impute_names, lengthof(impute_names), s) : -1;
			if (k <= IMPUTE_NONE || k == IMPUTE_CONSTANT)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid impute setting for column \"%s\"", fc->name),
						 errhint("Valid settings are \"mean\", \"median\", \"mode\", \"min\", \"max\", \"zero\", \"error\" and {\"constant\": x}.")));
			fc->impute = (ImputeKind) k;
		}
		else if (strcmp(key, "scale") == 0)
		{
			k = s ? LookupName(scale_names, lengthof(scale_names), s) : -1;
			if (k < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid scale setting for column \"%s\"", fc->name),
						 errhint("Valid settings are \"none\", \"standard\", \"min_max\", \"max_abs\" and \"robust\".")));
			fc->scale = (ScaleKind) k;
		}
		else if (strcmp(key, "encode") == 0 || strcmp(key, "max_categories") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" does not apply to numeric column \"%s\"", key, fc->name),
					 errdetail("Only categorical (text, boolean, enum) columns are encoded.")));
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown preprocess option \"%s\" for column \"%s\"", key, fc->name),
					 errhint("Valid options are \"impute\", \"scale\", \"encode\" and \"max_categories\".")));
	}
	if (!ALG_IS_TREE(alg) && fc->impute == IMPUTE_NONE)
		fc->impute = IMPUTE_MEAN;
}

/*
 * The value replacing NULL, computed on the column's training values v
 * (n values, NULLs removed, sorted).
 */
static double
ImputeValue(const FeatureColumn *fc, const double *v, int n, int nnull)
{
	double		sum = 0;
	double		best;
	int			bestrun;

	switch (fc->impute)
	{
		case IMPUTE_NONE:
			return NAN;
		case IMPUTE_CONSTANT:
			return fc->fill;
		case IMPUTE_ZERO:
			return 0.0;
		case IMPUTE_ERROR:
			if (nnull > 0)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("column \"%s\" has %d NULL values in the training rows", fc->name, nnull),
						 errdetail("Its preprocess setting is \"impute\": \"error\".")));
			return NAN;
		default:
			break;
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column \"%s\" is NULL in every training row", fc->name),
				 errhint("Exclude the column, or impute a constant.")));
	switch (fc->impute)
	{
		case IMPUTE_MEAN:
			for (int i = 0; i < n; i++)
				sum += v[i];
			return sum / n;
		case IMPUTE_MEDIAN:
			return SortedQuantile(v, n, 0.5);
		case IMPUTE_MIN:
			return v[0];
		case IMPUTE_MAX:
			return v[n - 1];
		case IMPUTE_MODE:
			/* most frequent value; the smallest one on ties (scikit-learn) */
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
			elog(ERROR, "unexpected imputation kind %d", fc->impute);
	}
	pg_unreachable();
}

/*
 * Compute the scaling statistics of a column from its imputed training
 * values v (n values, missing ones removed, sorted).
 */
static void
FitScale(FeatureColumn *fc, const double *v, int n)
{
	double		mean = 0,
				var = 0;

	fc->center = 0.0;
	fc->scale_by = 1.0;
	if (fc->scale == SCALE_NONE || n == 0)
		return;
	switch (fc->scale)
	{
		case SCALE_STANDARD:
			for (int i = 0; i < n; i++)
				mean += v[i];
			mean /= n;
			for (int i = 0; i < n; i++)
				var += (v[i] - mean) * (v[i] - mean);
			fc->center = mean;
			fc->scale_by = NonZeroScale(sqrt(var / n));
			break;
		case SCALE_MIN_MAX:
			fc->center = v[0];
			fc->scale_by = NonZeroScale(v[n - 1] - v[0]);
			break;
		case SCALE_MAX_ABS:
			fc->scale_by = NonZeroScale(Max(fabs(v[0]), fabs(v[n - 1])));
			break;
		case SCALE_ROBUST:
			fc->center = SortedQuantile(v, n, 0.5);
			fc->scale_by = NonZeroScale(SortedQuantile(v, n, 0.75) - SortedQuantile(v, n, 0.25));
			break;
		case SCALE_NONE:
			break;
	}
}

/*
 * Fit the transform of every feature column on the training rows.
 */
Featurizer *
FeaturizerFit(const Dataset *ds, const int *rows, int nrows,
			  MlopsAlgorithm alg, Jsonb *preprocess)
{
	Featurizer *fz = palloc0(sizeof(Featurizer));
	double	   *buf = palloc_extended(sizeof(double) * Max(1, nrows), MCXT_ALLOC_HUGE);
	int			npairs;
	JsonPair   *pairs = JsonObjectPairs(preprocess, "preprocess", &npairs);

	fz->ncolumns = ds->ncolumns;
	fz->columns = palloc0(sizeof(FeatureColumn) * ds->ncolumns);
	fz->nfeatures = ds->ncolumns;

	/* every preprocess key must name a feature column */
	for (int i = 0; i < npairs; i++)
	{
		int			j;

		for (j = 0; j < ds->ncolumns; j++)
			if (strcmp(pairs[i].key, ds->names[j]) == 0)
				break;
		if (j == ds->ncolumns)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("preprocess names column \"%s\", which is not a feature", pairs[i].key)));
	}

	for (int j = 0; j < ds->ncolumns; j++)
	{
		FeatureColumn *fc = &fz->columns[j];
		bool		is_tree = ALG_IS_TREE(alg);
		int			n = 0,
					nnull = 0;

		CHECK_FOR_INTERRUPTS();
		fc->name = ds->names[j];
		fc->typid = ds->types[j];
		fc->impute = is_tree ? IMPUTE_NONE : IMPUTE_MEAN;
		fc->scale = is_tree ? SCALE_NONE : SCALE_STANDARD;
		for (int i = 0; i < npairs; i++)
			if (strcmp(pairs[i].key, fc->name) == 0)
				ParseColumnOptions(fc, &pairs[i].value, alg);

		for (int i = 0; i < nrows; i++)
		{
			double		x = ds->values[j][rows[i]];

			if (isnan(x))
				nnull++;
			else
				buf[n++] = x;
		}
		qsort(buf, n, sizeof(double), CompareDouble);
		fc->fill = ImputeValue(fc, buf, n, nnull);

		/* scaling statistics see the imputed values */
		if (!isnan(fc->fill))
		{
			for (int i = 0; i < nnull; i++)
				buf[n++] = fc->fill;
			if (nnull > 0)
				qsort(buf, n, sizeof(double), CompareDouble);
		}
		FitScale(fc, buf, n);
	}
	pfree(buf);
	return fz;
}

/*
 * Transform one row of raw source values (NaN = NULL) into features.
 */
void
FeaturizerApply(const Featurizer *fz, const double *raw, double *out)
{
	for (int j = 0; j < fz->ncolumns; j++)
	{
		const FeatureColumn *fc = &fz->columns[j];
		double		x = raw[j];

		if (isnan(x))
		{
			if (fc->impute == IMPUTE_ERROR)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("feature column \"%s\" is NULL", fc->name),
						 errdetail("The model was trained with \"impute\": \"error\" for this column.")));
			x = fc->fill;
		}
		out[j] = (x - fc->center) / fc->scale_by;
	}
}

/*
 * The featurized training (or held-out) rows as a column-major matrix of
 * nrows x nfeatures doubles.
 */
double *
FeaturizerMatrix(const Featurizer *fz, const Dataset *ds, const int *rows, int nrows)
{
	double	   *X = palloc_extended(sizeof(double) * Max(1, nrows) * fz->nfeatures,
									MCXT_ALLOC_HUGE);

	for (int j = 0; j < fz->ncolumns; j++)
	{
		const FeatureColumn *fc = &fz->columns[j];
		double	   *col = X + (size_t) j * nrows;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < nrows; i++)
		{
			double		x = ds->values[j][rows[i]];

			if (isnan(x))
				x = fc->fill;
			col[i] = (x - fc->center) / fc->scale_by;
		}
	}
	return X;
}

/*
 * Write the frozen transform as JSON (mlops.models.features).
 */
void
FeaturizerToJson(const Featurizer *fz, StringInfo buf)
{
	appendStringInfo(buf, "{\"format\": %d, \"columns\": [", FEATURIZER_FORMAT);
	for (int j = 0; j < fz->ncolumns; j++)
	{
		const FeatureColumn *fc = &fz->columns[j];

		if (j > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfoString(buf, "{\"name\": ");
		JsonAppendString(buf, fc->name);
		appendStringInfoString(buf, ", \"type\": ");
		JsonAppendString(buf, format_type_be(fc->typid));
		appendStringInfo(buf, ", \"kind\": \"numeric\", \"impute\": \"%s\", \"fill\": ",
						 impute_names[fc->impute]);
		JsonAppendDouble(buf, fc->fill);
		appendStringInfo(buf, ", \"scale\": \"%s\", \"center\": ", scale_names[fc->scale]);
		JsonAppendDouble(buf, fc->center);
		appendStringInfoString(buf, ", \"scale_by\": ");
		JsonAppendDouble(buf, fc->scale_by);
		appendStringInfoString(buf, ", \"features\": [");
		JsonAppendString(buf, fc->name);
		appendStringInfoString(buf, "]}");
	}
	appendStringInfo(buf, "], \"nfeatures\": %d}", fz->nfeatures);
}

/*
 * Read a frozen transform back from mlops.models.features.
 */
Featurizer *
FeaturizerFromJson(Jsonb *jb)
{
	Featurizer *fz = palloc0(sizeof(Featurizer));
	JsonbContainer *root = &jb->root;
	JsonbContainer *cols;
	int			format = JsonGetInt(root, "format");

	if (format != FEATURIZER_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unknown feature transform format %d", format),
				 errhint("The model was written by another version of mlops; retrain it.")));
	cols = JsonGetContainer(root, "columns");
	fz->ncolumns = JsonContainerSize(cols);
	fz->nfeatures = JsonGetInt(root, "nfeatures");
	fz->columns = palloc0(sizeof(FeatureColumn) * Max(1, fz->ncolumns));
	for (int j = 0; j < fz->ncolumns; j++)
	{
		JsonbValue *v = JsonArrayElement(cols, j);
		JsonbContainer *c;
		FeatureColumn *fc = &fz->columns[j];
		int			k;

		if (v->type != jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("stored model metadata is corrupted"),
					 errdetail("Feature column %d is not an object.", j + 1)));
		c = v->val.binary.data;
		fc->name = JsonGetString(c, "name");
		fc->typid = InvalidOid;
		k = LookupName(impute_names, lengthof(impute_names), JsonGetString(c, "impute"));
		fc->impute = (ImputeKind) Max(k, 0);
		fc->fill = JsonGetDouble(c, "fill");
		k = LookupName(scale_names, lengthof(scale_names), JsonGetString(c, "scale"));
		fc->scale = (ScaleKind) Max(k, 0);
		fc->center = JsonGetDouble(c, "center");
		fc->scale_by = JsonGetDouble(c, "scale_by");
		if (isnan(fc->center) || isnan(fc->scale_by) || fc->scale_by == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("stored model metadata is corrupted"),
					 errdetail("Feature column \"%s\" has invalid scaling.", fc->name)));
	}
	if (fz->nfeatures != fz->ncolumns)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model metadata is corrupted"),
				 errdetail("It has %d features for %d columns.", fz->nfeatures, fz->ncolumns)));
	return fz;
}
