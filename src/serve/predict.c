/*-------------------------------------------------------------------------
 *
 * predict.c
 *	  mlops.predict, predict_proba, predict_label and featurize.
 *
 * One C function per result kind serves every overload: the first
 * argument is a project name (its deployed model) or a model id (that
 * model), the second a row, a float8[] or float4[] of raw features in the
 * model's column order, a numeric[] (what ARRAY[5.1, 3.5] is), or a jsonb
 * object, also as text (an untyped literal resolves to the text form, as
 * a web application sends JSON); in the planned form the planner rewrites
 * row calls into (plan_support.c), a model id and that model's columns one
 * by one.  Rows and objects are matched to
 * the model's columns by name; how a row type maps onto a model is worked
 * out once per row type and kept in fn_extra with buffers sized for the
 * model, so scoring a row allocates nothing and deforms the row only up to
 * the last column the model reads.  A call site keeps this for the last
 * few models it met, each in a memory context reused for the next model,
 * so a query whose rows switch models stays flat in memory.  Every form
 * goes through the model's frozen transform.  The user's predict privilege
 * on the model's project is checked when a call state is made, and again
 * only when the user or the privilege cache's generation changes (SET ROLE,
 * a grant or revoke, a change of role membership): no per-row catalog work.
 * A new call site (each execution of a prepared statement makes one) takes
 * the backend's last resolution of the same project or model id, privilege
 * check included, while none of those and the model cache's generation
 * changed.
 * While a project runs a canary or a shadow (experiment.c), the call state
 * of its deployed model also holds one for the challenger, made with it
 * (so whether an experiment runs is known once per call state, not per
 * row): a canary scores each row with the model routing.c picks, a shadow
 * scores the challenger too and returns the champion's outputs.
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

#include "train/dataset.h"
#include "jsonutil.h"
#include "serve/model_cache.h"
#include "serve/entity_key.h"
#include "serve/plan_support.h"
#include "serve/predict.h"
#include "serve/prediction_log.h"
#include "serve/serving_stats.h"
#include "privileges.h"
#include "serve/routing.h"

/* models a call site keeps buffers and row mappings for */
#define CALL_SITE_MODELS 8

/*
 * What a call site keeps for one model between rows: buffers sized for the
 * model, and how the last row type maps onto the model's source columns.
 * The first model a slot gets lives in the call site's own memory context
 * (most statements meet one model, and a context of their own would cost a
 * malloc and a free per statement); a slot given to another model gets a
 * memory context of its own, reset at each later change.
 */
typedef struct CallState
{
	MemoryContext cxt;			/* fn_mcxt, or own_cxt */
	MemoryContext own_cxt;		/* the slot's own context, once it changed
								 * model; else NULL */
	MemoryContext map_cxt;		/* the row mapping, a child of cxt */
	int64		model_id;
	MlopsModel *model;			/* valid while generation is the cache's */
	uint64		generation;
	Oid			userid;			/* holds predict on the model's project */
	uint64		privilege_generation;	/* while this is the current one */
	uint64		last_used;
	struct CallState *challenger;	/* of the project's running experiment */
	double		fraction;		/* a canary's */
	bool		shadow;
	text	   *project;		/* the project it was resolved from, if any */
	double	   *raw;			/* ninputs */
	double	   *x;				/* nfeatures */
	double	   *out;			/* ModelOutputs */
	JsonbValue *jvalues;		/* jsonb form: nsources values looked up */
	/* row form */
	Oid			typid;
	int32		typmod;
	TupleDesc	desc;			/* the row type */
	int			natts;			/* attributes up to the last one read */
	Datum	   *values;
	bool	   *nulls;
	int		   *attnum;			/* per source column: 0-based attribute */
	Oid		   *atttype;		/* its base type */
	Oid		   *argtypes;		/* planned form: base type of each column */
} CallState;

/*
 * What a call site keeps in fn_extra: its argument types, and the call
 * states of the last few models it met, so a query whose rows switch
 * between models neither rebuilds nor accumulates them.
 */
typedef struct CallSite
{
	Oid			key_type;		/* of the first argument: text or bigint */
	Oid			arg_type;		/* of the second: a row type, array, jsonb or text */
	bool		planned;		/* the planned form (see plan_support.c) */
	bool		unseen_noticed; /* an unseen category was reported */
	CallState  *last;			/* the state of the previous row */
	uint64		use_clock;
	int			nstates;
	CallState  *states[CALL_SITE_MODELS];	/* made as models come */
} CallSite;

PG_FUNCTION_INFO_V1(mlops_predict);
PG_FUNCTION_INFO_V1(mlops_predict_proba);
PG_FUNCTION_INFO_V1(mlops_predict_label);
PG_FUNCTION_INFO_V1(mlops_featurize);
PG_FUNCTION_INFO_V1(mlops_variant);

/*
 * The call site's state in fn_extra, made on its first row.
 */
static CallSite *
GetCallSite(FunctionCallInfo fcinfo)
{
	CallSite   *site = (CallSite *) fcinfo->flinfo->fn_extra;

	if (site == NULL)
	{
		/* with the state of its first model */
		site = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallSite) + sizeof(CallState));
		site->states[0] = (CallState *) (site + 1);
		site->key_type = get_fn_expr_argtype(fcinfo->flinfo, 0);
		site->arg_type = get_fn_expr_argtype(fcinfo->flinfo, 1);
		site->planned = PlannedCall(fcinfo);
		fcinfo->flinfo->fn_extra = site;
	}
	return site;
}

/*
 * Does a call state serve the model named by the call's first argument
 * (a model id, or the project it was resolved from)?
 */
static inline bool
StateMatches(const CallState *cs, const CallSite *site, FunctionCallInfo fcinfo)
{
	text	   *project;

	if (site->key_type == INT8OID)
		return cs->model_id == PG_GETARG_INT64(0);
	project = PG_GETARG_TEXT_PP(0);
	return cs->project != NULL && VARSIZE_ANY_EXHDR(project) == VARSIZE_ANY_EXHDR(cs->project) &&
		memcmp(VARDATA_ANY(project), VARDATA_ANY(cs->project), VARSIZE_ANY_EXHDR(project)) == 0;
}

/*
 * Size a call state's buffers for model m, in its memory context.
 */
static void
SizeCallState(FunctionCallInfo fcinfo, CallSite *site, CallState *cs, MlopsModel *m,
			  uint64 generation)
{
	int			nraw;
	int			nx;

	cs->map_cxt = NULL;
	cs->desc = NULL;
	cs->argtypes = NULL;
	cs->model_id = m->id;
	cs->model = m;
	cs->generation = generation;
	cs->userid = InvalidOid;
	cs->project = NULL;
	if (site->key_type != INT8OID)
	{
		text	   *project = PG_GETARG_TEXT_PP(0);

		cs->project = MemoryContextAlloc(cs->cxt, VARSIZE_ANY(project));
		memcpy(cs->project, project, VARSIZE_ANY(project));
	}
	/* the buffers in one chunk: doubles first, then the jsonb values */
	nraw = Max(1, m->fz->ninputs);
	nx = Max(1, m->fz->nfeatures);
	cs->raw = MemoryContextAlloc(cs->cxt, sizeof(double) * (nraw + nx + ModelOutputs(m)) +
								 sizeof(JsonbValue) * Max(1, m->fz->nsources));
	cs->x = cs->raw + nraw;
	cs->out = cs->x + nx;
	cs->jvalues = (JsonbValue *) (cs->out + ModelOutputs(m));
	cs->challenger = NULL;
}

/*
 * Give a call state to model m (resolved from the call's first argument):
 * free what it held for another model and size its buffers for m.
 */
static void
InitCallState(FunctionCallInfo fcinfo, CallSite *site, CallState *cs, MlopsModel *m,
			  uint64 generation)
{
	if (cs->cxt == NULL)
		cs->cxt = fcinfo->flinfo->fn_mcxt;
	else if (cs->own_cxt == NULL)
	{
		/* what the first model held stays until the statement ends */
		cs->own_cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "mlops predict call state",
											ALLOCSET_SMALL_SIZES);
		cs->cxt = cs->own_cxt;
	}
	else
		MemoryContextReset(cs->own_cxt);
	SizeCallState(fcinfo, site, cs, m, generation);
}

/*
 * Give the call state of a project's deployed model the state of its
 * running experiment's challenger c, in the same memory context (freed
 * with it, and no context of its own to make for every statement).
 */
static void
InitChallenger(FunctionCallInfo fcinfo, CallSite *site, CallState *cs, MlopsModel *c,
			   const ModelDeployment *d)
{
	CallState  *ch = MemoryContextAllocZero(cs->cxt, sizeof(CallState));

	ch->cxt = cs->cxt;
	SizeCallState(fcinfo, site, ch, c, cs->generation);
	cs->challenger = ch;
	cs->fraction = d->fraction;
	cs->shadow = d->shadow;
}

/*
 * What served the model (or project) the backend's last call state was
 * made for, so that the next statement's call site (each execution of a
 * prepared statement has a new one) neither looks the project up nor
 * checks the privilege again: valid while the model cache's generation (a
 * deploy, an experiment, an eviction), the user and the privilege
 * generation stay the same.
 */
typedef struct Resolved
{
	uint64		generation;		/* 0 when nothing was resolved */
	Oid			userid;			/* holds predict on the project */
	uint64		privilege_generation;
	int64		key_id;			/* the call's model id, or */
	int			key_len;		/* the project's name, -1 with a model id */
	char		key_name[NAMEDATALEN];
	ModelDeployment d;
} Resolved;

static Resolved last_resolved;

/*
 * Was the call's model (its first argument) the last one resolved, with
 * nothing changed since?
 */
static bool
ResolvedAgain(FunctionCallInfo fcinfo, const CallSite *site, uint64 generation)
{
	const Resolved *r = &last_resolved;
	text	   *project;

	if (r->generation != generation || r->userid != GetUserId() ||
		r->privilege_generation != PrivilegeGeneration())
		return false;
	if (site->key_type == INT8OID)
		return r->key_len < 0 && r->key_id == PG_GETARG_INT64(0);
	project = PG_GETARG_TEXT_PP(0);
	return r->key_len == VARSIZE_ANY_EXHDR(project) &&
		memcmp(r->key_name, VARDATA_ANY(project), r->key_len) == 0;
}

/*
 * Remember what serves the call's model, once the user's privilege on its
 * project was checked in privilege_generation.
 */
static void
RememberResolved(FunctionCallInfo fcinfo, const CallSite *site, const ModelDeployment *d,
				 uint64 generation, uint64 privilege_generation)
{
	Resolved   *r = &last_resolved;

	r->generation = 0;
	if (site->key_type == INT8OID)
	{
		r->key_len = -1;
		r->key_id = PG_GETARG_INT64(0);
	}
	else
	{
		text	   *project = PG_GETARG_TEXT_PP(0);

		if (VARSIZE_ANY_EXHDR(project) >= NAMEDATALEN)
			return;
		r->key_len = VARSIZE_ANY_EXHDR(project);
		memcpy(r->key_name, VARDATA_ANY(project), r->key_len);
	}
	r->d = *d;
	r->userid = GetUserId();
	r->privilege_generation = privilege_generation;
	r->generation = generation;
}

/*
 * The call state of the call's model, with the model: the previous row's
 * when the call names the same model and the cache still holds it, else
 * one of the call site's other states, else a free or the least recently
 * used state made over for the model.  A state whose model the cache may
 * have freed (another generation) is made over too, since the model may
 * have been reloaded with another shape.
 */
static CallState *
GetCallState(FunctionCallInfo fcinfo, MlopsModel **model)
{
	CallSite   *site = GetCallSite(fcinfo);
	uint64		generation = ModelCacheGeneration();
	CallState  *cs = site->last;
	MlopsModel *m;
	MlopsModel *c = NULL;
	ModelDeployment d = {0};
	bool		found = false;
	bool		resolved;

	if (cs != NULL && cs->generation == generation && cs->userid == GetUserId() &&
		cs->privilege_generation == PrivilegeGeneration() && StateMatches(cs, site, fcinfo))
	{
		*model = cs->model;
		return cs;
	}

	resolved = ResolvedAgain(fcinfo, site, generation);
	if (resolved)
		d = last_resolved.d;
	else if (site->key_type == INT8OID)
		d.model_id = PG_GETARG_INT64(0);
	else
		d = ModelCacheDeployment(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	m = ModelCacheGet(d.model_id);
	if (d.challenger_id != 0)
	{
		/*
		 * Loading the challenger may evict the least recently used model,
		 * which is not the deployed one just used unless the cache holds a
		 * single model: then getting it again reloads it.  (When nothing
		 * was evicted, the deployed model is still the one got.)
		 */
		generation = ModelCacheGeneration();
		c = ModelCacheGet(d.challenger_id);
		if (ModelCacheGeneration() != generation)
		{
			generation = ModelCacheGeneration();
			m = ModelCacheGet(d.model_id);
		}
		if (ModelCacheGeneration() != generation)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("mlops.model_cache_size must be at least 2 to serve the experiment of project \"%s\"",
							m->project),
					 errdetail("The deployed model and the challenger are both loaded to serve it.")));
	}
	generation = ModelCacheGeneration();

	cs = NULL;
	for (int i = 0; i < site->nstates; i++)
	{
		CallState  *s = site->states[i];

		if (s->generation == generation && s->model == m && StateMatches(s, site, fcinfo))
		{
			found = true;
			cs = s;
			break;
		}
		if (cs == NULL || s->last_used < cs->last_used)
			cs = s;
	}
	if (!found)
	{
		if (site->nstates < CALL_SITE_MODELS)
		{
			if (site->states[site->nstates] == NULL)
				site->states[site->nstates] = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
																	 sizeof(CallState));
			cs = site->states[site->nstates++];
		}
		InitCallState(fcinfo, site, cs, m, generation);
		if (c != NULL)
			InitChallenger(fcinfo, site, cs, c, &d);
	}
	/*
	 * The user must hold predict on the model's project: checked again when
	 * the user or what roles hold may have changed (a model resolved again
	 * was checked for the same user in the same privilege generation).
	 */
	if (!found || cs->userid != GetUserId() || cs->privilege_generation != PrivilegeGeneration())
	{
		uint64		privilege_generation = PrivilegeGeneration();

		if (!resolved)
			PrivilegeCheck(m->project_id, m->project, PRIV_PREDICT);
		cs->userid = GetUserId();
		cs->privilege_generation = privilege_generation;
		RememberResolved(fcinfo, site, &d, generation, privilege_generation);
	}
	cs->last_used = ++site->use_clock;
	site->last = cs;
	*model = m;
	return cs;
}

/*
 * Work out how a row type maps onto a model's source columns: by name,
 * with types that fit each column's kind.  Only the attributes up to the
 * last one the model reads are deformed.
 */
static void
MapRowType(CallState *cs, const MlopsModel *m, Oid typid, int32 typmod)
{
	MemoryContext old;
	TupleDesc	desc;
	const Featurizer *fz = m->fz;
	int			last = 0;

	if (cs->map_cxt == NULL)
		cs->map_cxt = AllocSetContextCreate(cs->cxt, "mlops predict row mapping",
											ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(cs->map_cxt);
	cs->desc = NULL;
	old = MemoryContextSwitchTo(cs->map_cxt);
	desc = lookup_rowtype_tupdesc_copy(typid, typmod);
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
	cs->values = palloc(sizeof(Datum) * Max(1, last));
	cs->nulls = palloc(sizeof(bool) * Max(1, last));
	cs->typid = typid;
	cs->typmod = typmod;
	cs->natts = last;
	cs->desc = desc;
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
		MapRowType(cs, m, typid, typmod);
	DeformPrefix(th, cs->desc, cs->natts, cs->values, cs->nulls);

	for (int j = 0; j < m->fz->nsources; j++)
	{
		int			a = cs->attnum[j];

		FeaturizerRawFromDatum(m->fz, j, cs->values[a], cs->atttype[j], cs->nulls[a], cs->raw);
	}
}

/*
 * Raw inputs of the model from a jsonb object, matched by key, each looked
 * up into the call state's buffer (nothing allocated per row).  Every
 * missing key is named in one error, before any value is converted.
 */
static void
RawFromJsonb(Jsonb *jb, CallState *cs, const MlopsModel *m)
{
	bool		missing = false;

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must be a JSON object")));
	for (int j = 0; j < m->fz->nsources; j++)
	{
		const char *name = m->fz->sources[j].name;

		if (getKeyJsonValueFromContainer(&jb->root, name, strlen(name), &cs->jvalues[j]) == NULL)
		{
			cs->jvalues[j].type = jbvBinary;
			cs->jvalues[j].val.binary.data = NULL;
			missing = true;
		}
	}
	if (missing)
	{
		StringInfoData names;
		int			nmissing = 0;

		initStringInfo(&names);
		for (int j = 0; j < m->fz->nsources; j++)
			if (cs->jvalues[j].type == jbvBinary && cs->jvalues[j].val.binary.data == NULL)
				appendStringInfo(&names, "%s\"%s\"", nmissing++ > 0 ? ", " : "",
								 m->fz->sources[j].name);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg_plural("features have no key %s, which model " INT64_FORMAT " needs",
							   "features have no keys %s, which model " INT64_FORMAT " needs",
							   nmissing, names.data, m->id),
				 errhint("Send every column the model was trained on; use null for a missing value.")));
	}
	for (int j = 0; j < m->fz->nsources; j++)
		FeaturizerRawFromJson(m->fz, j, &cs->jvalues[j], m->id, cs->raw);
}

static void ArrayElementNotFinite(const MlopsModel *m, int j, double value) pg_attribute_noreturn();

/*
 * Report element j of a features array as NaN or infinite.
 */
static void
ArrayElementNotFinite(const MlopsModel *m, int j, double value)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("feature \"%s\" is %s", m->fz->sources[j].name, isnan(value) ? "NaN" : "infinite"),
			 errhint("Use NULL for a missing value.")));
}

/*
 * Raw inputs from a float8[], float4[] or numeric[] in the model's column
 * order; only for models whose columns are all numeric.  Nothing is copied
 * or allocated per row for floats: a flat array's are read in place, an
 * expanded one's (a PL/pgSQL variable) from its element values.
 */
static void
RawFromArray(FunctionCallInfo fcinfo, const MlopsModel *m, Oid elemtype, double *raw)
{
	AnyArrayType *arr = PG_GETARG_ANY_ARRAY_P(1);
	int			n = ArrayGetNItems(AARR_NDIM(arr), AARR_DIMS(arr));
	Datum	   *elems = NULL;	/* the elements as Datums, or else */
	bool	   *nulls = NULL;
	const bits8 *bitmap = NULL; /* those of a flat array */
	const char *data = NULL;

	if (!m->all_numeric)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model " INT64_FORMAT " has non-numeric features and cannot score an array", m->id),
				 errhint("Pass the row itself, or a jsonb object, so its columns are matched by name.")));
	if (AARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features must be a one-dimensional array")));
	if (n != m->fz->ninputs)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("model " INT64_FORMAT " expects %d features, got an array of %d",
						m->id, m->fz->ninputs, n),
				 errhint("Pass the raw features in the model's column order, or pass the row itself.")));
	if (VARATT_IS_EXPANDED_HEADER(arr) && arr->xpn.dvalues != NULL)
	{
		elems = arr->xpn.dvalues;
		nulls = arr->xpn.dnulls;
	}
	else
	{
		ArrayType  *flat = VARATT_IS_EXPANDED_HEADER(arr) ? arr->xpn.fvalue : &arr->flt;

		bitmap = ARR_NULLBITMAP(flat);
		data = ARR_DATA_PTR(flat);
		if (elemtype == FLOAT8OID && bitmap == NULL)
		{
			/* the common case: the doubles as they are */
			memcpy(raw, data, sizeof(double) * n);
			for (int j = 0; j < n; j++)
				if (!isfinite(raw[j]))
					ArrayElementNotFinite(m, j, raw[j]);
			return;
		}
		if (elemtype == NUMERICOID)
			deconstruct_array(flat, NUMERICOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	}
	for (int j = 0; j < n; j++)
	{
		/* a NULL element of a flat array takes no space in its data */
		if (elems != NULL ? nulls != NULL && nulls[j]
			: bitmap != NULL && (bitmap[j / 8] & (1 << (j % 8))) == 0)
		{
			raw[j] = NAN;
			continue;
		}
		if (elems == NULL && elemtype == FLOAT8OID)
		{
			raw[j] = *(const float8 *) data;
			data += sizeof(float8);
		}
		else if (elems == NULL)
		{
			raw[j] = *(const float4 *) data;
			data += sizeof(float4);
		}
		else if (elemtype == FLOAT8OID)
			raw[j] = DatumGetFloat8(elems[j]);
		else if (elemtype == FLOAT4OID)
			raw[j] = DatumGetFloat4(elems[j]);
		else
			raw[j] = DatumGetFloat8(DirectFunctionCall1(numeric_float8, elems[j]));
		if (!isfinite(raw[j]))
			ArrayElementNotFinite(m, j, raw[j]);
	}
}

/*
 * Report, once per call site, a category the model did not see in
 * training (raw value -1): it is scored as an unknown category.
 */
static void
NoticeUnseenCategory(CallSite *site, const MlopsModel *m, const double *raw)
{
	for (int k = 0; k < m->fz->ninputs; k++)
	{
		const FeatureInput *in = &m->fz->inputs[k];

		if (in->categorical && raw[k] == -1.0)
		{
			ereport(NOTICE,
					(errmsg("column \"%s\" holds a category that model " INT64_FORMAT " did not see in training",
							m->fz->sources[in->source].name, m->id),
					 errdetail("It is scored as an unknown category.  This notice is given once per call site.")));
			site->unseen_noticed = true;
			return;
		}
	}
}

/*
 * The raw inputs of the model from the call's row, in cs->raw; in is the
 * call's input (CallInput), unused in the planned form.
 */
static void
CallRaw(FunctionCallInfo fcinfo, CallState *cs, const MlopsModel *m, const EntityInput *in)
{
	CallSite   *site = (CallSite *) fcinfo->flinfo->fn_extra;

	if (site->planned)
	{
		if (cs->argtypes == NULL)
			cs->argtypes = PlannedArgTypes(fcinfo, m, cs->cxt);
		PlannedRaw(fcinfo, m, cs->argtypes, cs->raw);
	}
	else if (site->arg_type == FLOAT8ARRAYOID)
		RawFromArray(fcinfo, m, FLOAT8OID, cs->raw);
	else if (site->arg_type == FLOAT4ARRAYOID)
		RawFromArray(fcinfo, m, FLOAT4OID, cs->raw);
	else if (site->arg_type == NUMERICARRAYOID)
		RawFromArray(fcinfo, m, NUMERICOID, cs->raw);
	else if (in->type == JSONBOID)
		RawFromJsonb(DatumGetJsonbP(in->value), cs, m);
	else
		RawFromRecord(fcinfo, cs, m);
	if (m->has_categories && !site->unseen_noticed)
		NoticeUnseenCategory(site, m, cs->raw);
}

/*
 * The call's input (its second argument), JSON text parsed once; nothing
 * in the planned form, whose inputs are the columns themselves.
 */
static void
CallInput(FunctionCallInfo fcinfo, EntityInput *in)
{
	CallSite   *site = GetCallSite(fcinfo);

	if (site->planned)
		EntityInputInit(in, (Datum) 0, InvalidOid);
	else
		EntityInputInit(in, PG_GETARG_DATUM(1), site->arg_type);
}

/*
 * Does a canary route the call's row (its raw inputs in cs->raw, the
 * deployed model's) to the challenger?  By the hash of the entity key
 * when the project's policy names one, else of the raw inputs.
 */
static bool
RoutesToChallenger(const CallState *cs, const MlopsModel *m, EntityInput *in)
{
	const char *key;

	if (cs->challenger == NULL || cs->shadow)
		return false;
	key = EntityInputKey(in, PredictionLogKey(m));
	return RoutingToChallenger(cs->fraction, cs->raw, m->fz->ninputs,
							   key, key ? (int) strlen(key) : 0);
}

/*
 * Score the call's row with the state's model: fills cs->out.
 */
static void
ScoreState(FunctionCallInfo fcinfo, CallState *cs, MlopsModel *m, const EntityInput *in)
{
	CallRaw(fcinfo, cs, m, in);
	FeaturizerApply(m->fz, cs->raw, cs->x);
	ModelPredictRows(m, cs->x, 1, cs->out);
}

/*
 * Is the call's result NULL whatever the model: a NULL model or project,
 * or a NULL row (in the planned form, a NULL column is a missing value).
 */
static bool
NullCall(FunctionCallInfo fcinfo)
{
	return PG_ARGISNULL(0) || (PG_ARGISNULL(1) && !GetCallSite(fcinfo)->planned);
}

/*
 * The call's model and its row (the call's second argument, any form
 * predict takes): the raw inputs and the features, valid until the next
 * row.  For other functions of the same arguments (mlops.explain, which
 * explains the deployed model, also while a canary runs); fn_extra is the
 * call site's.
 */
MlopsModel *
PredictCallRow(FunctionCallInfo fcinfo, const double **raw, const double **x)
{
	MlopsModel *m;
	CallState  *cs = GetCallState(fcinfo, &m);
	EntityInput in;

	CallInput(fcinfo, &in);
	CallRaw(fcinfo, cs, m, &in);
	FeaturizerApply(m->fz, cs->raw, cs->x);
	*raw = cs->raw;
	*x = cs->x;
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
 * Score the call's row: fills out (ModelOutputs values) and returns the
 * model, the challenger when a canary routes the row to it.  classifier_fn
 * names the calling function when it needs a classification model.  The
 * call is counted in the serving statistics under its variant (an error
 * after the model is known as an error) and handed to the prediction log;
 * a shadow's challenger is scored too and only logged.  Planned calls
 * (their projects neither log nor route) are counted, not logged.
 */
static MlopsModel *
ScoreCall(FunctionCallInfo fcinfo, double **out, const char *classifier_fn)
{
	MlopsModel *m;
	CallState  *cs;
	CallSite   *site;
	ServingVariant variant = SERVING_CHAMPION;
	EntityInput in;

	ServingCallBegin();
	cs = GetCallState(fcinfo, &m);
	site = (CallSite *) fcinfo->flinfo->fn_extra;
	ServingCallModel(m->id, m->project_id, variant);
	CallInput(fcinfo, &in);
	CallRaw(fcinfo, cs, m, &in);
	if (cs->challenger != NULL)
	{
		if (cs->shadow)
			ScoreState(fcinfo, cs->challenger, cs->challenger->model, &in);
		else if (RoutesToChallenger(cs, m, &in))
		{
			cs = cs->challenger;
			m = cs->model;
			variant = SERVING_CHALLENGER;
			ServingCallModel(m->id, m->project_id, variant);
			CallRaw(fcinfo, cs, m, &in);
		}
	}
	if (classifier_fn != NULL)
		RequireClassifier(m, classifier_fn);
	FeaturizerApply(m->fz, cs->raw, cs->x);
	ModelPredictRows(m, cs->x, 1, cs->out);
	if (!site->planned)
	{
		/* the champion's row first: a shadow's row follows its sampling */
		PredictionLogRow(m, variant, &in, cs->out);
		if (cs->challenger != NULL && cs->shadow)
			PredictionLogRow(cs->challenger->model, SERVING_SHADOW, &in, cs->challenger->out);
	}
	ServingCallEnd();
	*out = cs->out;
	return m;
}

/*
 * The result of a predict function of this kind for a row's outputs
 * (ModelOutputs values of model m).
 */
Datum
PredictResult(PredictKind kind, const MlopsModel *m, const double *out)
{
	Datum	   *elems;

	switch (kind)
	{
		case PREDICT_VALUE:
			break;
		case PREDICT_PROBA:
			elems = palloc(sizeof(Datum) * m->nclasses);
			for (int k = 0; k < m->nclasses; k++)
				elems[k] = Float8GetDatum(out[k]);
			return PointerGetDatum(construct_array(elems, m->nclasses, FLOAT8OID, 8,
												   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		case PREDICT_LABEL:
			return PointerGetDatum(cstring_to_text(m->labels[ModelArgmax(out, m->nclasses)]));
	}
	return Float8GetDatum(ModelPredictValue(m, out));
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

	if (NullCall(fcinfo))
		PG_RETURN_NULL();
	m = ScoreCall(fcinfo, &out, NULL);
	return PredictResult(PREDICT_VALUE, m, out);
}

/*
 * mlops.predict_proba: class probabilities in label order.
 */
Datum
mlops_predict_proba(PG_FUNCTION_ARGS)
{
	MlopsModel *m;
	double	   *out;

	if (NullCall(fcinfo))
		PG_RETURN_NULL();
	m = ScoreCall(fcinfo, &out, "mlops.predict_proba()");
	return PredictResult(PREDICT_PROBA, m, out);
}

/*
 * mlops.predict_label: the predicted class label as text.
 */
Datum
mlops_predict_label(PG_FUNCTION_ARGS)
{
	MlopsModel *m;
	double	   *out;

	if (NullCall(fcinfo))
		PG_RETURN_NULL();
	m = ScoreCall(fcinfo, &out, "mlops.predict_label()");
	return PredictResult(PREDICT_LABEL, m, out);
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
	EntityInput in;

	if (NullCall(fcinfo))
		PG_RETURN_NULL();
	cs = GetCallState(fcinfo, &m);
	CallInput(fcinfo, &in);
	CallRaw(fcinfo, cs, m, &in);
	FeaturizerApply(m->fz, cs->raw, cs->x);
	elems = palloc(sizeof(Datum) * Max(1, m->fz->nfeatures));
	for (int k = 0; k < m->fz->nfeatures; k++)
		elems[k] = Float8GetDatum(cs->x[k]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, m->fz->nfeatures, FLOAT8OID, 8,
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * mlops.variant: which model of the project's canary answers a row,
 * "champion" or "challenger" (always "champion" without a canary).
 */
Datum
mlops_variant(PG_FUNCTION_ARGS)
{
	MlopsModel *m;
	CallState  *cs;
	EntityInput in;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	cs = GetCallState(fcinfo, &m);
	CallInput(fcinfo, &in);
	CallRaw(fcinfo, cs, m, &in);
	PG_RETURN_TEXT_P(cstring_to_text(RoutesToChallenger(cs, m, &in) ? "challenger" : "champion"));
}
