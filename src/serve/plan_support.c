/*-------------------------------------------------------------------------
 *
 * plan_support.c
 *	  Planner support for the row forms of predict, predict_proba,
 *	  predict_label and featurize: score a table's rows from its columns,
 *	  without building a whole-row value per row.
 *
 * mlops.predict('p', t) hands the function a whole row: the executor
 * deforms every column of the scanned tuple and forms a new tuple of them
 * (ExecEvalWholeRowVar), which predict then deforms again.  When the
 * planner meets such a call with a constant project and the row of the
 * query's only relation, and the planning user holds predict on the
 * project, the support function (SupportRequestSimplify) looks up the
 * project's deployed model and rewrites the call into
 *
 *	CASE WHEN mlops.planned_model_current('p', 42)
 *		 THEN mlops.predict_planned(42, t.x1, t.x2, ...)
 *		 ELSE mlops.predict('p', t.*) END
 *
 * predict_planned takes the model id the call was planned for and, in the
 * model's source order, only the columns that model reads, which the
 * executor takes straight from the scan slot.  The CASE keeps the call
 * correct whatever happens between planning and execution (a prepared
 * statement, a cached plan, a deploy in the same transaction, another
 * role): planned_model_current is true only while 42 is still the
 * project's deployed model and the current user holds predict on the
 * project; otherwise the row form runs, unchanged, with its own results
 * and errors.  The plan also depends on mlops.deployments, so the plan
 * cache replans it after a deploy.  Every other call keeps the row form:
 * a project given by an expression, a row that is not a table's (a join's
 * whole-row values are built below the join whatever the call does), a
 * model that reads more than FUNC_MAX_ARGS - 1 columns, a column the table
 * lacks or whose type the model cannot read (the row form reports it), a
 * user without predict on the project (the row form reports that too, so
 * whether a call was rewritten tells nothing a user could not see).
 *
 * The planned functions share predict.c's entry points and call states:
 * PlannedCall tells a call site of the planned form, PlannedArgTypes checks
 * its columns against the model once per call state, and PlannedRaw reads
 * a row's raw inputs from them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "privileges.h"
#include "registry.h"
#include "serve/model_cache.h"
#include "serve/plan_support.h"
#include "serve/prediction_log.h"
#include "train/dataset.h"

/* what a planned_model_current call site remembers of its last answer */
typedef struct CurrentCheck
{
	text	   *project;
	int64		model_id;
	uint64		generation;		/* of the model cache */
	uint64		privilege_generation;
	Oid			userid;
	bool		current;
} CurrentCheck;

PG_FUNCTION_INFO_V1(mlops_predict_support);
PG_FUNCTION_INFO_V1(mlops_planned_model_current);

/*
 * The function mlops.<name>(argument types), or InvalidOid.
 */
Oid
PlanSupportFunction(const char *name, int nargs, Oid *argtypes)
{
	return LookupFuncName(list_make2(makeString("mlops"), makeString(pstrdup(name))),
						  nargs, argtypes, true);
}

/*
 * Is relation rti the only item of the query's FROM list?
 */
static bool
OnlyRelation(PlannerInfo *root, Index rti)
{
	List	   *from = root->parse->jointree ? root->parse->jointree->fromlist : NIL;
	Node	   *item = list_length(from) == 1 ? linitial(from) : NULL;

	return item != NULL && IsA(item, RangeTblRef) && ((RangeTblRef *) item)->rtindex == rti;
}

/*
 * A Var of relation rti (table relid) for the model's source column
 * "src", or NULL when the table has no such column or its type is not one
 * the model reads as that source (the row form reports either).
 */
static Var *
SourceColumn(Oid relid, Index rti, const FeatureSource *src)
{
	AttrNumber	attnum = get_attnum(relid, src->name);
	Oid			typid;
	int32		typmod;
	Oid			collid;
	SourceKind	kind;

	if (attnum <= 0)
		return NULL;
	get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &collid);
	if (!DatasetSourceKindOf(getBaseType(typid), &kind) || kind != src->kind)
		return NULL;
	return makeVar(rti, attnum, typid, typmod, collid, 0);
}

/*
 * The model a call of a project's predict may be planned for: its deployed
 * model, or 0 when there is none, when an experiment (canary or shadow)
 * runs (rows are routed across two models), or when the project's policy
 * logs predictions or names an entity key (both read the whole input):
 * only the row form serves those.
 */
int64
PlanSupportModel(const char *project)
{
	ModelDeployment d = ModelCacheDeploymentIfAny(project);

	if (d.model_id == 0 || d.challenger_id != 0 ||
		PredictionLogNeedsInput(ModelCacheGet(d.model_id)))
		return 0;
	return d.model_id;
}

/*
 * The rewritten form of a row-form call (see the file's comment), or NULL
 * to keep the call as it is.
 */
static Node *
PlanRowCall(PlannerInfo *root, FuncExpr *call)
{
	Const	   *project;
	Var		   *row;
	RangeTblEntry *rte;
	char	   *name;
	char	   *planned_name;
	Oid			planned_types[2] = {INT8OID, ANYOID};
	Oid			current_types[2] = {TEXTOID, INT8OID};
	Oid			planned_fn;
	Oid			current_fn;
	int64		model_id;
	MlopsModel *m;
	Const	   *id;
	List	   *args;
	FuncExpr   *planned;
	CaseWhen   *when;
	CaseExpr   *rewritten;

	if (root == NULL || list_length(call->args) != 2)
		return NULL;
	project = linitial(call->args);
	row = lsecond(call->args);
	if (!IsA(project, Const) || project->constisnull || project->consttype != TEXTOID ||
		!IsA(row, Var) || row->varattno != InvalidAttrNumber || row->varlevelsup != 0 ||
		!OnlyRelation(root, row->varno))
		return NULL;
	rte = planner_rt_fetch(row->varno, root);
	if (rte->rtekind != RTE_RELATION)
		return NULL;

	planned_name = psprintf("%s_planned", get_func_name(call->funcid));
	planned_fn = PlanSupportFunction(planned_name, 2, planned_types);
	current_fn = PlanSupportFunction("planned_model_current", 2, current_types);
	if (!OidIsValid(planned_fn) || !OidIsValid(current_fn))
		return NULL;

	/* nothing is read about a project the user may not score with */
	name = TextDatumGetCString(project->constvalue);
	if (!PrivilegeHeldByName(name, PRIV_PREDICT))
		return NULL;
	model_id = PlanSupportModel(name);
	if (model_id == 0)
		return NULL;
	m = ModelCacheGet(model_id);
	if (m->fz->nsources + 1 > FUNC_MAX_ARGS)
		return NULL;

	id = makeConst(INT8OID, -1, InvalidOid, sizeof(int64), Int64GetDatum(model_id), false,
				   FLOAT8PASSBYVAL);
	args = list_make1(id);
	for (int j = 0; j < m->fz->nsources; j++)
	{
		Var		   *column = SourceColumn(rte->relid, row->varno, &m->fz->sources[j]);

		if (column == NULL)
			return NULL;
		args = lappend(args, column);
	}

	planned = makeFuncExpr(planned_fn, call->funcresulttype, args, call->funccollid,
						   InvalidOid, COERCE_EXPLICIT_CALL);
	planned->location = call->location;
	when = makeNode(CaseWhen);
	when->expr = (Expr *) makeFuncExpr(current_fn, BOOLOID,
									   list_make2(copyObject(project), copyObject(id)),
									   InvalidOid, call->inputcollid, COERCE_EXPLICIT_CALL);
	when->result = (Expr *) planned;
	when->location = -1;
	rewritten = makeNode(CaseExpr);
	rewritten->casetype = call->funcresulttype;
	rewritten->casecollid = call->funccollid;
	rewritten->args = list_make1(when);
	rewritten->defresult = (Expr *) copyObject(call);
	rewritten->location = call->location;

	/* a deploy (or the extension's re-creation) invalidates the plan */
	root->glob->relationOids = lappend_oid(root->glob->relationOids,
										   RegistryTableOid("deployments"));
	return (Node *) rewritten;
}

/*
 * mlops.predict_support(internal): the planner support function of the
 * row forms (project text, features record) of predict, predict_proba,
 * predict_label and featurize.  It answers SupportRequestSimplify only.
 */
Datum
mlops_predict_support(PG_FUNCTION_ARGS)
{
	Node	   *req = (Node *) PG_GETARG_POINTER(0);

	if (!IsA(req, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	PG_RETURN_POINTER(PlanRowCall(((SupportRequestSimplify *) req)->root,
								  ((SupportRequestSimplify *) req)->fcall));
}

/*
 * mlops.planned_model_current(project text, model_id bigint): is model_id
 * the project's deployed model, and does the current user hold predict on
 * the project?  False for a project that does not exist or that the user
 * may not score with, so the answer tells nothing more than
 * mlops.has_project_privilege.  A call site keeps its last answer while
 * the arguments, the user, the model cache and the privilege cache stay
 * the same: no per-row catalog work.
 */
Datum
mlops_planned_model_current(PG_FUNCTION_ARGS)
{
	text	   *project = PG_GETARG_TEXT_PP(0);
	int64		model_id = PG_GETARG_INT64(1);
	CurrentCheck *c = (CurrentCheck *) fcinfo->flinfo->fn_extra;
	uint64		generation = ModelCacheGeneration();
	uint64		privilege_generation = PrivilegeGeneration();
	char	   *name;

	if (c != NULL && c->model_id == model_id && c->generation == generation &&
		c->privilege_generation == privilege_generation && c->userid == GetUserId() &&
		VARSIZE_ANY_EXHDR(project) == VARSIZE_ANY_EXHDR(c->project) &&
		memcmp(VARDATA_ANY(project), VARDATA_ANY(c->project), VARSIZE_ANY_EXHDR(project)) == 0)
		PG_RETURN_BOOL(c->current);

	if (c == NULL)
		c = fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
															   sizeof(CurrentCheck));
	else
		pfree(c->project);
	name = text_to_cstring(project);
	c->current = PrivilegeHeldByName(name, PRIV_PREDICT) &&
		PlanSupportModel(name) == model_id;
	c->project = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE_ANY(project));
	memcpy(c->project, project, VARSIZE_ANY(project));
	c->model_id = model_id;
	/* the lookups may have taken in invalidations */
	c->generation = ModelCacheGeneration();
	c->privilege_generation = PrivilegeGeneration();
	c->userid = GetUserId();
	PG_RETURN_BOOL(c->current);
}

/* the function PlannedCall last looked up, and its answer */
static Oid	planned_fn = InvalidOid;
static bool planned_fn_is;

/*
 * Syscache callback: pg_proc changed, the function may be another.
 */
static void
PlannedCallInvalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	planned_fn = InvalidOid;
}

/*
 * Is the call one of the planned form, (model_id bigint, VARIADIC "any"):
 * the model id it was planned for and the model's columns?  The answer for
 * the last function asked about is kept (each execution of a prepared
 * statement asks again) until pg_proc changes.
 */
bool
PlannedCall(FunctionCallInfo fcinfo)
{
	static bool registered = false;
	Oid			fn = fcinfo->flinfo->fn_oid;

	if (fn != planned_fn)
	{
		if (!registered)
		{
			CacheRegisterSyscacheCallback(PROCOID, PlannedCallInvalidate, (Datum) 0);
			registered = true;
		}
		planned_fn_is = get_func_variadictype(fn) == ANYOID;
		planned_fn = fn;
	}
	return planned_fn_is;
}

/*
 * Check a planned call's columns against its model (one per source
 * column, in the model's order, of types the model reads): the base type
 * of each, allocated in cxt.
 */
Oid *
PlannedArgTypes(FunctionCallInfo fcinfo, const MlopsModel *m, MemoryContext cxt)
{
	int			ncolumns = PG_NARGS() - 1;
	Oid		   *types;

	if (get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot take its columns as a VARIADIC array",
						get_func_name(fcinfo->flinfo->fn_oid)),
				 errhint("Pass each column as an argument of its own, or call the row form.")));
	if (ncolumns != m->fz->nsources)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model " INT64_FORMAT " reads %d columns, got %d", m->id,
						m->fz->nsources, ncolumns),
				 errhint("The planned form takes the model's columns in its order; call the row form, as in mlops.predict('project', t).")));
	types = MemoryContextAlloc(cxt, sizeof(Oid) * Max(1, ncolumns));
	for (int j = 0; j < ncolumns; j++)
	{
		Oid			type = get_fn_expr_argtype(fcinfo->flinfo, j + 1);

		if (!OidIsValid(type))
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine the type of column %d of the planned call", j + 1)));
		types[j] = getBaseType(type);
		FeaturizerCheckSourceType(m->fz, j, types[j], m->id);
	}
	return types;
}

/*
 * The raw inputs of a planned call's row, from its columns.
 */
void
PlannedRaw(FunctionCallInfo fcinfo, const MlopsModel *m, const Oid *types, double *raw)
{
	for (int j = 0; j < m->fz->nsources; j++)
		FeaturizerRawFromDatum(m->fz, j, PG_GETARG_DATUM(j + 1), types[j],
							   PG_ARGISNULL(j + 1), raw);
}
