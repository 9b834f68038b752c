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
 * out once per row type and kept in fn_extra with buffers sized for the
 * model, so scoring a row allocates nothing and deforms the row only up to
 * the last column the model reads.  Every form goes through the model's
 * frozen transform.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "dataset.h"
#include "jsonutil.h"
#include "model_cache.h"
#include "privileges.h"

/*
 * What a call site keeps between rows (in fn_extra): buffers sized for its
 * model, and how the last row type maps onto the model's source columns.
 */
typedef struct CallState
{
	Oid			key_type;		/* of the first argument: text or bigint */
	Oid			arg_type;		/* of the second: a row type, array or jsonb */
	int64		model_id;
	MlopsModel *model;			/* valid while generation is the cache's */
	uint64		generation;
	Oid			userid;			/* holds predict on the model's project */
	uint64		privilege_generation;	/* while this is the current one */
	text	   *project;		/* the project it was resolved from, if any */
	double	   *raw;			/* ninputs */
	double	   *x;				/* nfeatures */
	double	   *out;			/* ModelOutputs */
	/* row form */
	Oid			typid;
	int32		typmod;
	TupleDesc	desc;			/* the row type */
	int			natts;			/* attributes up to the last one read */
	Datum	   *values;
	bool	   *nulls;
	int		   *attnum;			/* per source column: 0-based attribute */
	Oid		   *atttype;		/* its base type */
} CallState;

PG_FUNCTION_INFO_V1(mlops_predict);
PG_FUNCTION_INFO_V1(mlops_predict_proba);
PG_FUNCTION_INFO_V1(mlops_predict_label);
PG_FUNCTION_INFO_V1(mlops_featurize);

/*
 * The model a call refers to: a project's deployed model or a model id.
 * The user must hold predict on its project; the call site checks again
 * when the user, the model or what roles hold may have changed.
 */
static MlopsModel *
ResolveModel(FunctionCallInfo fcinfo, uint64 *generation, uint64 *privilege_generation)
{
	CallState  *cs = (CallState *) fcinfo->flinfo->fn_extra;
	Oid			argtype = cs ? cs->key_type : get_fn_expr_argtype(fcinfo->flinfo, 0);
	uint64		gen = *generation = ModelCacheGeneration();
	uint64		privgen = *privilege_generation = PrivilegeGeneration();
	MlopsModel *m;
	int64		model_id = 0;
	text	   *project = NULL;

	if (argtype == INT8OID)
		model_id = PG_GETARG_INT64(0);
	else
		project = PG_GETARG_TEXT_PP(0);

	/* the same model as the call site's last row, still in the cache and allowed */
	if (cs != NULL && cs->generation == gen && cs->userid == GetUserId() &&
		cs->privilege_generation == privgen &&
		(project == NULL ? cs->model_id == model_id
		 : (cs->project != NULL && VARSIZE_ANY_EXHDR(project) == VARSIZE_ANY_EXHDR(cs->project) &&
			memcmp(VARDATA_ANY(project), VARDATA_ANY(cs->project), VARSIZE_ANY_EXHDR(project)) == 0)))
		return cs->model;

	if (project != NULL)
		model_id = ModelCacheDeployed(text_to_cstring(project));
	m = ModelCacheGet(model_id);
	PrivilegeCheck(m->project_id, m->project, PRIV_PREDICT);
	return m;
}

/*
 * Remember the model a call resolved to, and from which project, so the
 * next row of the call site skips the lookups while the cache keeps it.
 */
static void
RememberModel(FunctionCallInfo fcinfo, CallState *cs, MlopsModel *m, uint64 generation,
			  uint64 privilege_generation)
{
	bool		by_project = cs->key_type != INT8OID;

	cs->model = m;
	cs->generation = generation;
	cs->userid = GetUserId();
	cs->privilege_generation = privilege_generation;
	if (cs->project != NULL)
		pfree(cs->project);
	cs->project = by_project
		? (text *) MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE_ANY(PG_GETARG_TEXT_PP(0)))
		: NULL;
	if (by_project)
		memcpy(cs->project, PG_GETARG_TEXT_PP(0), VARSIZE_ANY(PG_GETARG_TEXT_PP(0)));
}

/*
 * The call state for a model, made anew when the call site meets another
 * model.
 */
static CallState *
GetCallState(FunctionCallInfo fcinfo, MlopsModel *m, uint64 generation, uint64 privilege_generation)
{
	CallState  *cs = (CallState *) fcinfo->flinfo->fn_extra;
	MemoryContext cxt = fcinfo->flinfo->fn_mcxt;

	if (cs != NULL && cs->model_id == m->id)
	{
		if (cs->model != m || cs->generation != generation || cs->userid != GetUserId() ||
			cs->privilege_generation != privilege_generation)
			RememberModel(fcinfo, cs, m, generation, privilege_generation);
		return cs;
	}
	if (cs != NULL && cs->desc != NULL)
		FreeTupleDesc(cs->desc);
	cs = MemoryContextAllocZero(cxt, sizeof(CallState));
	cs->key_type = get_fn_expr_argtype(fcinfo->flinfo, 0);
	cs->arg_type = get_fn_expr_argtype(fcinfo->flinfo, 1);
	cs->model_id = m->id;
	cs->raw = MemoryContextAlloc(cxt, sizeof(double) * Max(1, m->fz->ninputs));
	cs->x = MemoryContextAlloc(cxt, sizeof(double) * Max(1, m->fz->nfeatures));
	cs->out = MemoryContextAlloc(cxt, sizeof(double) * ModelOutputs(m));
	fcinfo->flinfo->fn_extra = cs;
	RememberModel(fcinfo, cs, m, generation, privilege_generation);
	return cs;
}

/*
 * Work out how a row type maps onto a model's source columns: by name,
 * with types that fit each column's kind.  Only the attributes up to the
 * last one the model reads are deformed.
 */
static void
MapRowType(FunctionCallInfo fcinfo, CallState *cs, const MlopsModel *m, Oid typid, int32 typmod)
{
	MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	TupleDesc	desc = lookup_rowtype_tupdesc_copy(typid, typmod);
	const Featurizer *fz = m->fz;
	int			last = 0;

	if (cs->desc != NULL)
		FreeTupleDesc(cs->desc);
	cs->typid = typid;
	cs->typmod = typmod;
	cs->attnum = palloc(sizeof(int) * Max(1, fz->nsources));
	cs->atttype = palloc(sizeof(Oid) * Max(1, fz->nsources));
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
		cs->attnum[j] = a;
		cs->atttype[j] = getBaseType(TupleDescAttr(desc, a)->atttypid);
		FeaturizerCheckSourceType(fz, j, cs->atttype[j], m->id);
		last = Max(last, a + 1);
	}
	cs->desc = desc;
	cs->natts = last;
	cs->values = palloc(sizeof(Datum) * Max(1, last));
	cs->nulls = palloc(sizeof(bool) * Max(1, last));
	MemoryContextSwitchTo(old);
}

/*
 * Extract the first natts attributes of a row datum, as heap_deform_tuple
 * does for all of them (attributes the row lacks are NULL).
 */
static void
DeformPrefix(HeapTupleHeader tup, TupleDesc desc, int natts, Datum *values, bool *isnull)
{
	bool		hasnulls = (tup->t_infomask & HEAP_HASNULL) != 0;
	int			present = Min(HeapTupleHeaderGetNatts(tup), natts);
	char	   *tp = (char *) tup + tup->t_hoff;
	bits8	   *bp = tup->t_bits;
	uint32		off = 0;
	int			a;

	for (a = 0; a < present; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (hasnulls && att_isnull(a, bp))
		{
			values[a] = (Datum) 0;
			isnull[a] = true;
			continue;
		}
		isnull[a] = false;
		if (att->attlen == -1)
			off = att_align_pointer(off, att->attalign, -1, tp + off);
		else
			off = att_align_nominal(off, att->attalign);
		values[a] = fetchatt(att, tp + off);
		off = att_addlength_pointer(off, att->attlen, tp + off);
	}
	for (; a < natts; a++)
	{
		values[a] = (Datum) 0;
		isnull[a] = true;
	}
}

/*
 * Raw inputs of the model from a row, its columns matched by name.
 */
static void
RawFromRecord(FunctionCallInfo fcinfo, CallState *cs, const MlopsModel *m)
{
	HeapTupleHeader th = PG_GETARG_HEAPTUPLEHEADER(1);
	Oid			typid = HeapTupleHeaderGetTypeId(th);
	int32		typmod = HeapTupleHeaderGetTypMod(th);

	if (cs->desc == NULL || cs->typid != typid || cs->typmod != typmod)
		MapRowType(fcinfo, cs, m, typid, typmod);
	DeformPrefix(th, cs->desc, cs->natts, cs->values, cs->nulls);

	for (int j = 0; j < m->fz->nsources; j++)
	{
		int			a = cs->attnum[j];

		FeaturizerRawFromDatum(m->fz, j, cs->values[a], cs->atttype[j], cs->nulls[a], cs->raw);
	}
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
 * The feature vector of the call's row under the model's transform, in
 * cs->x.
 */
static void
CallFeatures(FunctionCallInfo fcinfo, CallState *cs, const MlopsModel *m)
{
	if (cs->arg_type == FLOAT8ARRAYOID)
		RawFromArray(fcinfo, m, FLOAT8OID, cs->raw);
	else if (cs->arg_type == FLOAT4ARRAYOID)
		RawFromArray(fcinfo, m, FLOAT4OID, cs->raw);
	else if (cs->arg_type == JSONBOID)
		RawFromJsonb(fcinfo, m, cs->raw);
	else
		RawFromRecord(fcinfo, cs, m);
	FeaturizerApply(m->fz, cs->raw, cs->x);
}

/*
 * Score the call's row: fills out (ModelOutputs values) and returns the
 * model.
 */
static MlopsModel *
ScoreCall(FunctionCallInfo fcinfo, double **out)
{
	uint64		generation;
	uint64		privilege_generation;
	MlopsModel *m = ResolveModel(fcinfo, &generation, &privilege_generation);
	CallState  *cs = GetCallState(fcinfo, m, generation, privilege_generation);

	CallFeatures(fcinfo, cs, m);
	ModelPredictRows(m, cs->x, 1, cs->out);
	*out = cs->out;
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
	CallState  *cs;
	Datum	   *elems;
	uint64		generation;
	uint64		privilege_generation;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	m = ResolveModel(fcinfo, &generation, &privilege_generation);
	cs = GetCallState(fcinfo, m, generation, privilege_generation);
	CallFeatures(fcinfo, cs, m);
	elems = palloc(sizeof(Datum) * Max(1, m->fz->nfeatures));
	for (int k = 0; k < m->fz->nfeatures; k++)
		elems[k] = Float8GetDatum(cs->x[k]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, m->fz->nfeatures, FLOAT8OID, 8,
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
