/*-------------------------------------------------------------------------
 *
 * predict.c
 *	  mlops.predict, predict_proba, predict_label and featurize.
 *
 * One C function per result kind serves every overload: the first
 * argument is a project name (its deployed model) or a model id (that
 * model), the second a row, a float8[] or float4[] of raw features in the
 * model's column order, or a jsonb object.  Rows and objects are matched to
 * the model's columns by name; how a row type maps onto a model is worked
 * out once per row type and kept in fn_extra.  Every form goes through the
 * model's frozen transform.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "dataset.h"
#include "jsonutil.h"
#include "model_cache.h"

/* how the columns of one row type map onto a model's source columns */
typedef struct RowMap
{
	Oid			typid;
	int32		typmod;
	int64		model_id;
	int		   *attnum;			/* per source column: 0-based attribute */
	Oid		   *atttype;		/* its base type */
} RowMap;

PG_FUNCTION_INFO_V1(mlops_predict);
PG_FUNCTION_INFO_V1(mlops_predict_proba);
PG_FUNCTION_INFO_V1(mlops_predict_label);
PG_FUNCTION_INFO_V1(mlops_featurize);

/*
 * The model a call refers to: a project's deployed model or a model id.
 */
static MlopsModel *
ResolveModel(FunctionCallInfo fcinfo)
{
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 0);
	int64		model_id;

	if (argtype == INT8OID)
		model_id = PG_GETARG_INT64(0);
	else
		model_id = ModelCacheDeployed(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	return ModelCacheGet(model_id);
}

/*
 * Work out how a row type maps onto a model's source columns: by name,
 * with types that fit each column's kind.
 */
static RowMap *
BuildRowMap(FunctionCallInfo fcinfo, const MlopsModel *m, Oid typid, int32 typmod)
{
	TupleDesc	desc = lookup_rowtype_tupdesc(typid, typmod);
	RowMap	   *map = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(RowMap));
	const Featurizer *fz = m->fz;

	map->typid = typid;
	map->typmod = typmod;
	map->model_id = m->id;
	map->attnum = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(int) * Max(1, fz->nsources));
	map->atttype = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(Oid) * Max(1, fz->nsources));
	for (int j = 0; j < fz->nsources; j++)
	{
		const char *name = fz->sources[j].name;
		int			a;

		for (a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);

			if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
				break;
		}
		if (a == desc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("row has no column \"%s\", which model " INT64_FORMAT " needs", name, m->id)));
		map->attnum[j] = a;
		map->atttype[j] = getBaseType(TupleDescAttr(desc, a)->atttypid);
		FeaturizerCheckSourceType(fz, j, map->atttype[j], m->id);
	}
	ReleaseTupleDesc(desc);
	return map;
}

/*
 * Raw inputs of the model from a row, its columns matched by name.
 */
static void
RawFromRecord(FunctionCallInfo fcinfo, const MlopsModel *m, double *raw)
{
	HeapTupleHeader th = PG_GETARG_HEAPTUPLEHEADER(1);
	Oid			typid = HeapTupleHeaderGetTypeId(th);
	int32		typmod = HeapTupleHeaderGetTypMod(th);
	RowMap	   *map = (RowMap *) fcinfo->flinfo->fn_extra;
	HeapTupleData tuple;
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;

	if (map == NULL || map->typid != typid || map->typmod != typmod || map->model_id != m->id)
	{
		map = BuildRowMap(fcinfo, m, typid, typmod);
		fcinfo->flinfo->fn_extra = map;
	}

	desc = lookup_rowtype_tupdesc(typid, typmod);
	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(&tuple, desc, values, nulls);
	ReleaseTupleDesc(desc);

	for (int j = 0; j < m->fz->nsources; j++)
	{
		int			a = map->attnum[j];

		FeaturizerRawFromDatum(m->fz, j, values[a], map->atttype[j], nulls[a], raw);
	}
	pfree(values);
	pfree(nulls);
}

/*
 * Raw inputs of the model from a jsonb object, matched by key.
 */
static void
RawFromJsonb(FunctionCallInfo fcinfo, const MlopsModel *m, double *raw)
{
	Jsonb	   *jb = PG_GETARG_JSONB_P(1);

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must be a JSON object")));
	for (int j = 0; j < m->fz->nsources; j++)
	{
		const char *name = m->fz->sources[j].name;
		JsonbValue *v = JsonGet(&jb->root, name);

		if (v == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("features have no key \"%s\", which model " INT64_FORMAT " needs", name, m->id)));
		FeaturizerRawFromJson(m->fz, j, v, m->id, raw);
	}
}

/*
 * Raw inputs from a float8[] or float4[] in the model's column order; only
 * for models whose columns are all numeric.
 */
static void
RawFromArray(FunctionCallInfo fcinfo, const MlopsModel *m, Oid elemtype, double *raw)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	Datum	   *elems;
	bool	   *nulls;

	if (!FeaturizerAllNumeric(m->fz))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model " INT64_FORMAT " has non-numeric features and cannot score an array", m->id),
				 errhint("Pass the row itself, or a jsonb object, so its columns are matched by name.")));
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features must be a one-dimensional array")));
	if (n != m->fz->ninputs)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("model " INT64_FORMAT " expects %d features, got an array of %d",
						m->id, m->fz->ninputs, n),
				 errhint("Pass the raw features in the model's column order, or pass the row itself.")));
	if (elemtype == FLOAT8OID)
		deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	else
		deconstruct_array(arr, FLOAT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	for (int j = 0; j < n; j++)
	{
		raw[j] = nulls[j] ? NAN : (elemtype == FLOAT8OID ? DatumGetFloat8(elems[j]) : DatumGetFloat4(elems[j]));
		if (!nulls[j] && !isfinite(raw[j]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("feature \"%s\" is %s", m->fz->sources[j].name, isnan(raw[j]) ? "NaN" : "infinite"),
					 errhint("Use NULL for a missing value.")));
	}
}

/*
 * The feature vector of the call's row under the model's transform.
 */
static double *
CallFeatures(FunctionCallInfo fcinfo, const MlopsModel *m)
{
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	double	   *raw = palloc(sizeof(double) * Max(1, m->fz->ninputs));
	double	   *x = palloc(sizeof(double) * Max(1, m->fz->nfeatures));

	if (argtype == FLOAT8ARRAYOID)
		RawFromArray(fcinfo, m, FLOAT8OID, raw);
	else if (argtype == FLOAT4ARRAYOID)
		RawFromArray(fcinfo, m, FLOAT4OID, raw);
	else if (argtype == JSONBOID)
		RawFromJsonb(fcinfo, m, raw);
	else
		RawFromRecord(fcinfo, m, raw);
	FeaturizerApply(m->fz, raw, x);
	pfree(raw);
	return x;
}

/*
 * Score the call's row: fills out (ModelOutputs values) and returns the
 * model.
 */
static MlopsModel *
ScoreCall(FunctionCallInfo fcinfo, double **out)
{
	MlopsModel *m = ResolveModel(fcinfo);
	double	   *x = CallFeatures(fcinfo, m);

	*out = palloc(sizeof(double) * ModelOutputs(m));
	ModelPredictRows(m, x, 1, *out);
	pfree(x);
	return m;
}

/*
 * A classification-only function called on a regression model.
 */
static void
RequireClassifier(const MlopsModel *m, const char *fn)
{
	if (m->task != TASK_CLASSIFICATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s needs a classification model, and model " INT64_FORMAT " is a regression model",
						fn, m->id),
				 errhint("Use mlops.predict() for regression.")));
}

/*
 * mlops.predict: the regression value, the predicted label when labels are
 * numeric or boolean, or its index in label order when they are text.
 */
Datum
mlops_predict(PG_FUNCTION_ARGS)
{
	MlopsModel *m;
	double	   *out;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	m = ScoreCall(fcinfo, &out);
	PG_RETURN_FLOAT8(ModelPredictValue(m, out));
}

/*
 * mlops.predict_proba: class probabilities in label order.
 */
Datum
mlops_predict_proba(PG_FUNCTION_ARGS)
{
	MlopsModel *m;
	double	   *out;
	Datum	   *elems;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	m = ScoreCall(fcinfo, &out);
	RequireClassifier(m, "mlops.predict_proba()");
	elems = palloc(sizeof(Datum) * m->nclasses);
	for (int k = 0; k < m->nclasses; k++)
		elems[k] = Float8GetDatum(out[k]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, m->nclasses, FLOAT8OID, 8,
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * mlops.predict_label: the predicted class label as text.
 */
Datum
mlops_predict_label(PG_FUNCTION_ARGS)
{
	MlopsModel *m;
	double	   *out;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	m = ScoreCall(fcinfo, &out);
	RequireClassifier(m, "mlops.predict_label()");
	PG_RETURN_TEXT_P(cstring_to_text(m->labels[ModelArgmax(out, m->nclasses)]));
}

/*
 * mlops.featurize: the feature vector the model sees for a row.
 */
Datum
mlops_featurize(PG_FUNCTION_ARGS)
{
	MlopsModel *m;
	double	   *x;
	Datum	   *elems;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	m = ResolveModel(fcinfo);
	x = CallFeatures(fcinfo, m);
	elems = palloc(sizeof(Datum) * Max(1, m->fz->nfeatures));
	for (int k = 0; k < m->fz->nfeatures; k++)
		elems[k] = Float8GetDatum(x[k]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, m->fz->nfeatures, FLOAT8OID, 8,
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
