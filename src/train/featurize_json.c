/*-------------------------------------------------------------------------
 *
 * featurize_json.c
 *	  The stored feature transform (mlops.models.features): its writer, its
 *	  reader, which checks every value predict relies on, and the names of
 *	  the options it shares with the preprocess settings.
 *
 * The transform as a whole is described in featurize.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"

#include "train/featurize.h"
#include "train/featurize_internal.h"
#include "jsonutil.h"

#define FEATURIZER_FORMAT 1

const char *const featurizer_impute_names[] = {
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

const char *const featurizer_scale_names[] = {
	[SCALE_NONE] = "none",
	[SCALE_STANDARD] = "standard",
	[SCALE_MIN_MAX] = "min_max",
	[SCALE_MAX_ABS] = "max_abs",
	[SCALE_ROBUST] = "robust",
};

const char *const featurizer_encode_names[] = {
	[ENCODE_ONE_HOT] = "one_hot",
	[ENCODE_ORDINAL] = "ordinal",
	[ENCODE_TARGET] = "target",
};

const char *const featurizer_source_kind_names[] = {
	[SOURCE_NUMERIC] = "numeric",
	[SOURCE_CATEGORICAL] = "categorical",
	[SOURCE_DATETIME] = "datetime",
	[SOURCE_ARRAY] = "array",
};

/*
 * Look a name up in one of the option tables above; -1 when unknown.
 */
int
FeaturizerLookupName(const char *const *names, int n, const char *name)
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
		appendStringInfo(buf, ", \"kind\": \"%s\", \"inputs\": %d}", featurizer_source_kind_names[src->kind], src->ninputs);
	}
	appendStringInfoString(buf, "], \"inputs\": [");
	for (int k = 0; k < fz->ninputs; k++)
	{
		const FeatureInput *in = &fz->inputs[k];

		appendStringInfoString(buf, k ? ", {\"name\": " : "{\"name\": ");
		JsonAppendString(buf, in->name);
		appendStringInfo(buf, ", \"column\": %d, \"kind\": \"%s\", \"impute\": \"%s\"",
						 in->source, in->categorical ? "categorical" : "numeric", featurizer_impute_names[in->impute]);
		if (!in->categorical)
		{
			appendStringInfoString(buf, ", \"fill\": ");
			JsonAppendDouble(buf, in->fill);
			appendStringInfo(buf, ", \"scale\": \"%s\", \"center\": ", featurizer_scale_names[in->scale]);
			JsonAppendDouble(buf, in->center);
			appendStringInfoString(buf, ", \"scale_by\": ");
			JsonAppendDouble(buf, in->scale_by);
		}
		else
		{
			appendStringInfo(buf, ", \"encode\": \"%s\", \"categories\": ", featurizer_encode_names[in->encode]);
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
	int			k = FeaturizerLookupName(names, n, JsonGetString(c, key));

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
	src->kind = (SourceKind) StoredName(featurizer_source_kind_names, lengthof(featurizer_source_kind_names), c, "kind");
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

	in->encode = (EncodeKind) StoredName(featurizer_encode_names, lengthof(featurizer_encode_names), c, "encode");
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
	FeaturizerBuildLookup(in);
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
		in->impute = (ImputeKind) StoredName(featurizer_impute_names, lengthof(featurizer_impute_names), c, "impute");
		in->nfeatures = JsonContainerSize(StoredArray(c, "features"));
		if (in->nfeatures > MLOPS_MAX_FEATURES - fz->nfeatures)
			TransformCorrupted(psprintf("more than %d features", MLOPS_MAX_FEATURES));
		in->first_feature = fz->nfeatures;
		fz->nfeatures += in->nfeatures;
		if (!in->categorical)
		{
			in->fill = JsonGetDouble(c, "fill");
			in->scale = (ScaleKind) StoredName(featurizer_scale_names, lengthof(featurizer_scale_names), c, "scale");
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
	fz->identity = FeaturizerIdentity(fz);
	return fz;
}
