/*-------------------------------------------------------------------------
 *
 * featurize_apply.c
 *	  Applying the feature transform: the features of a row of raw inputs,
 *	  of dataset rows and of a training matrix; the source columns a model
 *	  reads; and the raw inputs of a row at predict time, from datums or
 *	  from jsonb.
 *
 * The transform as a whole is described in featurize.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "train/featurize.h"
#include "train/featurize_internal.h"
#include "jsonutil.h"

#define FEATURIZE_BLOCK 1024		/* rows transformed at a time */
#define FEATURIZE_RAW_ROWS 64		/* rows gathered from the columns at a time */

/*
 * Are a transform's features its raw inputs, in order?  True when every
 * input is numeric, one feature, neither imputed (NULL stays missing) nor
 * scaled: (x - 0) / 1 is x, -0 and NaN included, so FeaturizerApply may
 * copy the row (for a 2048-bit fingerprint, most of its time otherwise).
 */
bool
FeaturizerIdentity(const Featurizer *fz)
{
	if (fz->nfeatures != fz->ninputs)
		return false;
	for (int k = 0; k < fz->ninputs; k++)
	{
		const FeatureInput *in = &fz->inputs[k];

		if (in->categorical || in->first_feature != k || in->nfeatures != 1 ||
			in->impute != IMPUTE_NONE || !isnan(in->fill) || in->center != 0.0 ||
			in->scale_by != 1.0)
			return false;
	}
	return true;
}

/*
 * Transform the raw value x of one input into its features at o.
 */
static inline void
ApplyInput(const FeatureInput *in, double x, double *o)
{
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
		return;
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

/*
 * Transform one row of raw inputs into features.
 */
void
FeaturizerApply(const Featurizer *fz, const double *raw, double *out)
{
	if (fz->identity)
	{
		memcpy(out, raw, sizeof(double) * fz->ninputs);
		return;
	}
	for (int k = 0; k < fz->ninputs; k++)
		ApplyInput(&fz->inputs[k], raw[k], out + fz->inputs[k].first_feature);
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
 * For a categorical input, the category index of each of a dataset's
 * category codes (-1 when not a known category); NULL for a numeric input.
 */
static int *
InputRemap(const Featurizer *fz, const Dataset *ds, int k)
{
	const DatasetInput *din = &ds->inputs[k];
	int		   *remap;

	if (!fz->inputs[k].categorical)
		return NULL;
	remap = palloc(sizeof(int) * Max(1, din->ncategories));
	for (int c = 0; c < din->ncategories; c++)
		remap[c] = StrMapGet(fz->inputs[k].lookup, din->categories[c]);
	return remap;
}

/*
 * InputRemap of every input.
 */
static int **
DatasetRemap(const Featurizer *fz, const Dataset *ds)
{
	int		  **remap = palloc0(sizeof(int *) * Max(1, fz->ninputs));

	for (int k = 0; k < fz->ninputs; k++)
		remap[k] = InputRemap(fz, ds, k);
	return remap;
}

/*
 * The raw inputs of n dataset rows, row-major into raw (n x ninputs),
 * categories as model indices.  Read input by input: a wide data set's
 * columns are far apart, and a few rows of each stay in cache.
 */
static inline void
DatasetRaw(const Featurizer *fz, const Dataset *ds, int **remap, const int *rows, int n,
		   double *raw)
{
	int			ninputs = fz->ninputs;

	for (int k = 0; k < ninputs; k++)
	{
		const double *values = ds->inputs[k].values;

		for (int i = 0; i < n; i++)
		{
			double		x = values[rows[i]];

			raw[(size_t) i * ninputs + k] = (remap[k] != NULL && !isnan(x)) ? remap[k][(int) x] : x;
		}
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
	double	   *raw = palloc(sizeof(double) * FEATURIZE_RAW_ROWS * Max(1, fz->ninputs));

	for (int start = 0; start < nrows; start += FEATURIZE_RAW_ROWS)
	{
		int			n = Min(FEATURIZE_RAW_ROWS, nrows - start);

		if ((start & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		DatasetRaw(fz, ds, remap, rows + start, n, raw);
		for (int i = 0; i < n; i++)
			FeaturizerApply(fz, raw + (size_t) i * fz->ninputs,
							out + (size_t) (start + i) * fz->nfeatures);
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
 * The features of one input of dataset rows, as floats: feature
 * first_feature + j of rows[i] into cols[j][i] for each of the input's
 * features, each value the float of the double FeaturizerDatasetRows
 * gives (what libxgboost makes of it).
 */
void
FeaturizerInputColumns(const Featurizer *fz, const Dataset *ds, int input,
					   const int *rows, int nrows, float **cols)
{
	const FeatureInput *in = &fz->inputs[input];
	const double *values = ds->inputs[input].values;
	int		   *remap = InputRemap(fz, ds, input);
	double	   *o = palloc(sizeof(double) * Max(1, in->nfeatures));

	for (int i = 0; i < nrows; i++)
	{
		double		x = values[rows[i]];

		if (remap != NULL && !isnan(x))
			x = remap[(int) x];
		if (fz->identity)
			o[0] = x;
		else
			ApplyInput(in, x, o);
		for (int j = 0; j < in->nfeatures; j++)
			cols[j][i] = (float) o[j];
	}
	pfree(o);
	if (remap != NULL)
		pfree(remap);
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
