/*-------------------------------------------------------------------------
 *
 * profile_read.c
 *	  Reading a stored reference profile (profile.c builds it), checking
 *	  everything drift relies on: a damaged profile is an ERROR.
 *
 * Profiles of format version 1 (before 0.2.0) hold the value samples as
 * arrays of numbers, later ones as binary doubles (base64); both are read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"

#include "jsonutil.h"
#include "serve/model.h"
#include "monitor/profile.h"

/*
 * Report a stored profile as damaged.
 */
static void
ProfileCorrupted(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored reference profile is corrupted"),
			 errdetail("%s", what)));
}

/*
 * A JSON array of numbers of a stored profile as doubles (null reads as
 * NaN); *n receives its length.
 */
static double *
ProfileGetDoubles(JsonbContainer *obj, const char *key, int *n)
{
	JsonbContainer *arr = JsonGetContainer(obj, key);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	double	   *out;
	int			k = 0;

	if (!JsonContainerIsArray(arr))
		ProfileCorrupted(psprintf("Key \"%s\" is not an array.", key));
	*n = JsonContainerSize(arr);
	out = palloc(sizeof(double) * Max(1, *n));
	it = JsonbIteratorInit(arr);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (v.type == jbvNull)
			out[k++] = NAN;
		else if (!JsonValueNumber(&v, &out[k++]))
			ProfileCorrupted(psprintf("Key \"%s\" holds a %s.", key, JsonTypeName(&v)));
	}
	return out;
}

/*
 * The value sample of a stored numeric feature: a binary string (format
 * version 2), or an array of numbers (version 1); *n receives its length.
 */
static double *
ProfileGetSample(JsonbContainer *obj, int version, int *n)
{
	JsonbValue *v;
	double	   *out;

	if (version == PROFILE_VERSION_NUMBER_SAMPLES)
		return ProfileGetDoubles(obj, "sample", n);
	v = JsonGet(obj, "sample");
	if (v == NULL || v->type != jbvString)
		ProfileCorrupted("Key \"sample\" is not a string.");
	out = JsonBinaryDoubles(v->val.string.val, v->val.string.len, n);
	if (out == NULL)
		ProfileCorrupted("Key \"sample\" does not hold binary doubles.");
	return out;
}

/*
 * Parse one profiled feature (an input, or the predictions) of a profile
 * of format "version".
 */
static void
ProfileFeatureFromJson(JsonbContainer *obj, int version, ProfileFeature *f)
{
	char	   *kind = JsonGetString(obj, "kind");

	f->name = JsonGetString(obj, "name");
	f->column = JsonGetInt(obj, "column");
	f->rows = JsonGetInt(obj, "rows");
	f->count = JsonGetInt(obj, "count");
	f->nulls = JsonGetInt(obj, "nulls");
	if (f->count < 0 || f->nulls < 0 || f->count + f->nulls != f->rows)
		ProfileCorrupted(psprintf("Feature \"%s\" has %d rows, %d values and %d NULLs.",
								  f->name, (int) f->rows, (int) f->count, (int) f->nulls));
	if (strcmp(kind, "numeric") == 0)
	{
		int			nedges,
					nbins;

		f->categorical = false;
		f->mean = JsonGetDouble(obj, "mean");
		f->std = JsonGetDouble(obj, "std");
		f->min = JsonGetDouble(obj, "min");
		f->max = JsonGetDouble(obj, "max");
		f->edges = ProfileGetDoubles(obj, "edges", &nedges);
		f->histogram = ProfileGetDoubles(obj, "histogram", &nbins);
		f->sample = ProfileGetSample(obj, version, &f->nsample);
		if (f->count == 0)
		{
			f->edges = f->histogram = NULL;
			return;
		}
		if (nedges != PROFILE_BINS - 1 || nbins != PROFILE_BINS || f->nsample == 0)
			ProfileCorrupted(psprintf("Feature \"%s\" has %d edges, %d bins and %d sampled values.",
									  f->name, nedges, nbins, f->nsample));
		if (!isfinite(f->mean) || !(f->std >= 0) || !isfinite(f->std) ||
			!isfinite(f->min) || !isfinite(f->max) || f->min > f->max)
			ProfileCorrupted(psprintf("Feature \"%s\" has a mean, std, min or max out of range.", f->name));
		for (int b = 0; b < PROFILE_BINS - 1; b++)
			if (!isfinite(f->edges[b]) || (b > 0 && f->edges[b] < f->edges[b - 1]))
				ProfileCorrupted(psprintf("The bin edges of feature \"%s\" are not ascending finite numbers.",
										  f->name));
		for (int b = 0; b < PROFILE_BINS; b++)
			if (!(f->histogram[b] >= 0) || f->histogram[b] > f->count)
				ProfileCorrupted(psprintf("A bin count of feature \"%s\" is out of range.", f->name));
		for (int i = 0; i < f->nsample; i++)
			if (!isfinite(f->sample[i]) || (i > 0 && f->sample[i] < f->sample[i - 1]))
				ProfileCorrupted(psprintf("The sample of feature \"%s\" is not ascending finite numbers.",
										  f->name));
	}
	else if (strcmp(kind, "categorical") == 0)
	{
		JsonbContainer *cats = JsonGetContainer(obj, "categories");
		int			ncounts;

		if (!JsonContainerIsArray(cats))
			ProfileCorrupted("Key \"categories\" is not an array.");
		f->categorical = true;
		f->counts = ProfileGetDoubles(obj, "counts", &ncounts);
		f->ncategories = JsonContainerSize(cats);
		if (ncounts != f->ncategories)
			ProfileCorrupted(psprintf("Feature \"%s\" has %d categories but %d counts.",
									  f->name, f->ncategories, ncounts));
		f->categories = palloc(sizeof(char *) * Max(1, f->ncategories));
		for (int c = 0; c < f->ncategories; c++)
		{
			f->categories[c] = JsonValueToCString(JsonArrayElement(cats, c));
			if (f->categories[c] == NULL)
				ProfileCorrupted(psprintf("A category of feature \"%s\" is not a string.", f->name));
			if (!(f->counts[c] > 0) || f->counts[c] > f->count)
				ProfileCorrupted(psprintf("The count of category \"%s\" of feature \"%s\" is out of range.",
										  f->categories[c], f->name));
		}
	}
	else
		ProfileCorrupted(psprintf("Feature kind \"%s\" is unknown.", kind));
}

/*
 * Element i of a stored profile's array, which must be an object.
 */
static JsonbContainer *
ProfileObject(JsonbContainer *arr, int i, const char *what)
{
	JsonbValue *v = JsonArrayElement(arr, i);

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ProfileCorrupted(psprintf("%s is not an object.", what));
	return v->val.binary.data;
}

/*
 * A required array of a stored profile.
 */
static JsonbContainer *
ProfileArray(JsonbContainer *obj, const char *key)
{
	JsonbContainer *arr = JsonGetContainer(obj, key);

	if (!JsonContainerIsArray(arr))
		ProfileCorrupted(psprintf("Key \"%s\" is not an array.", key));
	return arr;
}

/*
 * Error context callback of ProfileFromJson: name the model whose profile
 * is being read.
 */
static void
ProfileErrorContext(void *arg)
{
	errcontext("reading the reference profile of model " INT64_FORMAT, *(const int64 *) arg);
}

/*
 * Parse the stored profile of model m, checking it against the model: one
 * column per source column, one feature per input, predictions of the
 * model's kind.
 */
Profile *
ProfileFromJson(Jsonb *jb, const MlopsModel *m)
{
	Profile    *p = palloc0(sizeof(Profile));
	JsonbContainer *root = &jb->root;
	JsonbContainer *columns;
	JsonbContainer *features;
	JsonbValue *pred;
	int			version;
	ErrorContextCallback errcallback;

	/* mlops.import_xgboost stores none until mlops.set_reference */
	if (JsonContainerIsObject(root) && JsonContainerSize(root) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model " INT64_FORMAT " has no reference profile", m->id),
				 errhint("Build one with mlops.set_reference(" INT64_FORMAT ", relation).", m->id)));

	errcallback.callback = ProfileErrorContext;
	errcallback.arg = (void *) &m->id;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	version = JsonGetInt(root, "version");
	if (version != PROFILE_VERSION && version != PROFILE_VERSION_NUMBER_SAMPLES)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("reference profile has unknown format version %d", version),
				 errhint("The model was trained by another version of mlops; retrain it.")));
	p->rows = JsonGetInt(root, "rows");

	columns = ProfileArray(root, "columns");
	p->ncolumns = JsonContainerSize(columns);
	if (p->ncolumns != m->fz->nsources)
		ProfileCorrupted(psprintf("It has %d columns, the model %d.", p->ncolumns, m->fz->nsources));
	p->columns = palloc0(sizeof(ProfileColumn) * Max(1, p->ncolumns));
	for (int j = 0; j < p->ncolumns; j++)
	{
		JsonbContainer *obj = ProfileObject(columns, j, "A column");
		ProfileColumn *col = &p->columns[j];
		char	   *kind;

		col->name = JsonGetString(obj, "name");
		col->type = JsonGetString(obj, "type");
		col->array_length = JsonGetInt(obj, "array_length");
		kind = JsonGetString(obj, "kind");
		if (!ProfileKindFromName(kind, &col->kind))
			ProfileCorrupted(psprintf("Column kind \"%s\" is unknown.", kind));
		if (col->kind == SOURCE_ARRAY ? col->array_length < 1 || col->array_length > MLOPS_MAX_FEATURES
			: col->array_length != 0)
			ProfileCorrupted(psprintf("Column \"%s\" has array length %d.", col->name, col->array_length));
	}

	features = ProfileArray(root, "features");
	p->nfeatures = JsonContainerSize(features);
	if (p->nfeatures != m->fz->ninputs)
		ProfileCorrupted(psprintf("It has %d features, the model %d inputs.", p->nfeatures, m->fz->ninputs));
	p->features = palloc0(sizeof(ProfileFeature) * Max(1, p->nfeatures));
	for (int i = 0; i < p->nfeatures; i++)
	{
		ProfileFeatureFromJson(ProfileObject(features, i, "A feature"), version, &p->features[i]);
		if (p->features[i].column < 0 || p->features[i].column >= p->ncolumns)
			ProfileCorrupted(psprintf("Feature \"%s\" names column %d.",
									  p->features[i].name, p->features[i].column));
	}

	pred = JsonGet(root, "prediction");
	if (pred == NULL)
		ProfileCorrupted("Key \"prediction\" is missing.");
	if (pred->type == jbvBinary && JsonContainerIsObject(pred->val.binary.data))
	{
		p->prediction = palloc0(sizeof(ProfileFeature));
		ProfileFeatureFromJson(pred->val.binary.data, version, p->prediction);
		if (p->prediction->categorical != (m->task == TASK_CLASSIFICATION))
			ProfileCorrupted(psprintf("Its predictions are %s, but model " INT64_FORMAT " is a %s model.",
									  p->prediction->categorical ? "categorical" : "numeric", m->id,
									  MlopsTaskName(m->task)));
	}
	else if (pred->type != jbvNull)
		ProfileCorrupted("Key \"prediction\" is neither an object nor null.");
	error_context_stack = errcallback.previous;
	return p;
}

/*
 * The source columns of a profile, to read a relation with DatasetRead.
 */
DatasetSpec *
ProfileSpec(const Profile *profile)
{
	DatasetSpec *spec = palloc(sizeof(DatasetSpec));

	spec->ncolumns = profile->ncolumns;
	spec->names = palloc(sizeof(char *) * Max(1, profile->ncolumns));
	spec->array_lengths = palloc(sizeof(int) * Max(1, profile->ncolumns));
	for (int j = 0; j < profile->ncolumns; j++)
	{
		spec->names[j] = profile->columns[j].name;
		spec->array_lengths[j] = profile->columns[j].array_length;
		/* a date's inputs: five, or six for a model older than 0.2.0 */
		if (profile->columns[j].kind == SOURCE_DATETIME)
			for (int i = 0; i < profile->nfeatures; i++)
				spec->array_lengths[j] += (profile->features[i].column == j);
	}
	return spec;
}
