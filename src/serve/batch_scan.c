/*-------------------------------------------------------------------------
 *
 * batch_scan.c
 *	  Batch predict: a custom scan node that scores a scan's rows many at a
 *	  time, so that the tree walks of many rows overlap.
 *
 * The planner support function (plan_support.c) rewrites a row call such
 * as mlops.predict('p', t) into its planned form,
 *
 *	CASE WHEN mlops.planned_model_current('p', 42)
 *		 THEN mlops.predict_planned(42, t.x1, t.x2, ...)
 *		 ELSE mlops.predict('p', t.*) END
 *
 * which the executor still evaluates one row at a time: featurize one row,
 * walk 100 trees, sum 100 leaves (a chain of dependent additions), then the
 * next row.  After the planner has finished (planner_hook), BatchRewrite
 * looks for a scan (sequential, index or bitmap heap) whose target list
 * holds such a CASE as a whole entry, of predict, predict_proba or
 * predict_label on a model whose inputs are all numeric (predict_proba and
 * predict_label: a classifier), and puts a "MlopsBatchPredict" custom scan
 * above it.  The node pulls up to BATCH_ROWS rows from the scan, keeping
 * references to them (an in-buffer tuple stays in its page, pinned once for
 * the page's consecutive rows; other rows are copied), featurizes them into
 * one matrix and scores it with one ModelPredictRows call, where the binned
 * walk scores up to FOREST_BATCH rows at a time, one vector lane per row
 * (forest_binned.c: still float32 additions in tree order, so every output
 * has libxgboost's bits).  Then it returns the rows
 * one by one, projecting the scan's original target list in which each
 * batched CASE is replaced by a PARAM_EXEC the node sets per row.
 *
 * A post-pass, not a path: the planned form exists only after the support
 * function ran, inside expression preprocessing, and the batch node changes
 * neither the rows nor their order, so it never competes on cost with
 * another plan.  A set_rel_pathlist or create_upper_paths hook would have
 * to find the rewritten calls in a target list that is only final after
 * setrefs, and its paths would add nothing to the choice of plan.
 *
 * The guard keeps its meaning.  For each row the node evaluates the CASE's
 * condition itself (a cached answer, see planned_model_current): when it
 * holds, the row gets the batch's result; otherwise the node evaluates the
 * CASE's ELSE, the row form, exactly as the CASE would.  The condition is
 * also asked once when a batch is read; a batch read while the model was
 * not current is not scored, and its rows for which the condition later
 * holds take the planned call itself.
 *
 * Errors at the same row.  A row the batch cannot score exactly like the
 * planned call (a NaN or infinite input, which the planned call refuses, a
 * NULL of a column imputed with "error", a model whose inputs are not all
 * numeric, predict_proba or predict_label of a regression model) is left
 * out of the batch and takes the planned call when the node returns it:
 * its error is raised when, and only when, the row form would raise it,
 * after the rows before it were returned.
 *
 * Reading ahead.  The node reads up to BATCH_ROWS - 1 rows from its scan
 * before the consumer asks for them.  Only the scan's own work runs ahead
 * (visiting tuples, evaluating its filter); every other expression of the
 * target list, and every predict error, comes with its row.  So the node is
 * not used under a LIMIT (reading ahead would be wasted work), when the
 * scan's filter holds a volatile function (the rows read ahead would run
 * it), for cursors that may scan backward (the node cannot: DECLARE
 * without NO SCROLL gets a plan without the node, as PostgreSQL lets such a
 * cursor go backward when its plan can), for statements other than SELECT
 * (CREATE TABLE AS, COPY (SELECT ...)) and INSERT ... SELECT, or with row
 * locks, or when mlops.batch_predict is off (for statements planned after
 * it changed).  It runs in parallel workers too, above their share of a
 * parallel scan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tupmacs.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parsetree.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "privileges.h"
#include "serve/batch_scan.h"
#include "serve/model_cache.h"
#include "serve/plan_support.h"
#include "serve/predict.h"
#include "serve/serving_stats.h"
#include "train/dataset.h"

/* rows a batch holds */
#define BATCH_ROWS 256

/* mlops.batch_predict */
bool		mlops_batch_predict = true;

static planner_hook_type prev_planner_hook = NULL;

/* the functions of the planned form the node recognizes */
typedef struct PlannedFunctions
{
	Oid			current;		/* planned_model_current(text, bigint) */
	Oid			planned[3];		/* by PredictKind: predict_planned, ... */
} PlannedFunctions;

/* one batched CASE of the node */
typedef struct BatchCall
{
	int			paramid;
	PredictKind kind;
	int64		model_id;
	ExprState  *when;			/* planned_model_current(...) */
	ExprState  *planned;		/* the planned call, for rows left out */
	ExprState  *fallback;		/* the row form */
	int			ncolumns;
	AttrNumber *attnums;		/* the planned call's columns in the scan's rows */
	Oid		   *types;			/* their base types */
	AttrNumber	last;			/* the last of them */
	int32	   *offsets;		/* their offsets in the data of a scan's heap
								 * tuple without NULLs, or NULL (see
								 * BatchInPlaceOffsets) */
	/* the batch read last */
	bool		scored;			/* scored (the model was current) */
	MlopsModel *model;			/* valid while generation is the cache's */
	uint64		generation;
	int			noutputs;
	double	   *X;				/* BATCH_ROWS x features, allocated with the
								 * first scored batch */
	double	   *raw;			/* inputs of one row */
	double	   *out;			/* BATCH_ROWS x noutputs */
	instr_time	scored_at;		/* when the batch was scored */
	double		row_us;			/* the batch's time per row scored */
	int			index[BATCH_ROWS];	/* per row: its row of out, or -1 */
} BatchCall;

/* the executor state of the node */
typedef struct BatchScanState
{
	CustomScanState css;
	PlanState  *child;
	int			ncalls;
	BatchCall  *calls;
	TupleTableSlot *slots[BATCH_ROWS];	/* rows kept as copies */
	TupleTableSlot *work;		/* a row kept in place is stored here to be
								 * read, when the scan's rows are buffer
								 * tuples; else NULL */
	int			worked;			/* the row work holds, or -1 */
	HeapTupleData tuples[BATCH_ROWS];	/* rows kept in place: the tuple in its
										 * page */
	Buffer		buffers[BATCH_ROWS];	/* their pages, InvalidBuffer for a copy */
	Buffer		pinned[BATCH_ROWS]; /* the batch's pins of those pages */
	int			npinned;
	int			nrows;			/* rows of the current batch */
	int			next;			/* the next one to return */
	bool		done;			/* the scan has no more rows */
} BatchScanState;

static Node *BatchCreateState(CustomScan *cscan);
static void BatchBegin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *BatchExec(CustomScanState *node);
static void BatchEnd(CustomScanState *node);
static void BatchReScan(CustomScanState *node);
static void BatchExplain(CustomScanState *node, List *ancestors, ExplainState *es);

static const CustomScanMethods batch_scan_methods = {
	.CustomName = "MlopsBatchPredict",
	.CreateCustomScanState = BatchCreateState,
};

static const CustomExecMethods batch_exec_methods = {
	.CustomName = "MlopsBatchPredict",
	.BeginCustomScan = BatchBegin,
	.ExecCustomScan = BatchExec,
	.EndCustomScan = BatchEnd,
	.ReScanCustomScan = BatchReScan,
	.ExplainCustomScan = BatchExplain,
};

/*
 * The planned form's functions, or false when the extension's schema lacks
 * them.
 */
static bool
GetPlannedFunctions(PlannedFunctions *fns)
{
	Oid			current_types[2] = {TEXTOID, INT8OID};
	Oid			planned_types[2] = {INT8OID, ANYOID};
	static const char *const names[3] = {"predict_planned", "predict_proba_planned",
	"predict_label_planned"};

	fns->current = PlanSupportFunction("planned_model_current", 2, current_types);
	if (!OidIsValid(fns->current))
		return false;
	for (int k = 0; k < 3; k++)
	{
		fns->planned[k] = PlanSupportFunction(names[k], 2, planned_types);
		if (!OidIsValid(fns->planned[k]))
			return false;
	}
	return true;
}

/*
 * Is expr a planned CASE (see the file's comment) of predict,
 * predict_proba or predict_label whose columns are those of scan relation
 * scanrelid?  Its kind in *kind.
 */
static bool
IsPlannedCase(Expr *expr, Index scanrelid, PlannedFunctions *fns, bool *looked_up,
			  PredictKind *kind)
{
	CaseExpr   *c = (CaseExpr *) expr;
	CaseWhen   *when;
	FuncExpr   *current;
	FuncExpr   *planned;
	ListCell   *lc;

	if (!IsA(expr, CaseExpr) || c->arg != NULL || list_length(c->args) != 1)
		return false;
	when = linitial(c->args);
	current = (FuncExpr *) when->expr;
	planned = (FuncExpr *) when->result;
	if (!IsA(current, FuncExpr) || !IsA(planned, FuncExpr) || list_length(planned->args) < 2)
		return false;
	if (!*looked_up)
	{
		*looked_up = true;
		if (!GetPlannedFunctions(fns))
			fns->current = InvalidOid;
	}
	if (!OidIsValid(fns->current) || current->funcid != fns->current)
		return false;
	for (*kind = PREDICT_VALUE; *kind <= PREDICT_LABEL; (*kind)++)
		if (planned->funcid == fns->planned[*kind])
			break;
	if (*kind > PREDICT_LABEL || !IsA(linitial(planned->args), Const) ||
		((Const *) linitial(planned->args))->constisnull)
		return false;
	for_each_from(lc, planned->args, 1)
	{
		Var		   *v = lfirst(lc);

		if (!IsA(v, Var) || v->varno != scanrelid || v->varlevelsup != 0 || v->varattno <= 0)
			return false;
	}
	return true;
}

/*
 * Is the model of a planned CASE of this kind one the batch scores (see
 * BatchFits)?  Asked at planning only about the project's deployed model,
 * for a user who holds predict on it (as the support function does).
 */
static bool
BatchableCase(CaseExpr *c, PredictKind kind)
{
	CaseWhen   *when = linitial(c->args);
	Const	   *project = linitial(((FuncExpr *) when->expr)->args);
	FuncExpr   *planned = (FuncExpr *) when->result;
	int64		model_id = DatumGetInt64(((Const *) linitial(planned->args))->constvalue);
	char	   *name;
	MlopsModel *m;

	if (!IsA(project, Const) || project->constisnull || project->consttype != TEXTOID)
		return false;
	name = TextDatumGetCString(project->constvalue);
	if (!PrivilegeHeldByName(name, PRIV_PREDICT) || PlanSupportModel(name) != model_id)
		return false;
	m = ModelCacheGet(model_id);
	return FeaturizerAllNumeric(m->fz) && (kind == PREDICT_VALUE || m->task == TASK_CLASSIFICATION);
}

/*
 * The scan relation's columns, in order, as a target list of Vars (a NULL
 * for a dropped column): what the scan returns below the node, so that it
 * hands over its tuples without projecting them.
 */
static List *
PhysicalTargetList(Oid relid, Index scanrelid)
{
	Relation	rel = table_open(relid, NoLock);
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *tlist = NIL;

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		Expr	   *expr;

		if (att->attisdropped)
			expr = (Expr *) makeNullConst(INT4OID, -1, InvalidOid);
		else
			expr = (Expr *) makeVar(scanrelid, a + 1, att->atttypid, att->atttypmod,
									att->attcollation, 0);
		tlist = lappend(tlist, makeTargetEntry(expr, a + 1, NULL, false));
	}
	table_close(rel, NoLock);
	return tlist;
}

/*
 * The largest plan node id of a plan tree.
 */
static int
MaxPlanNodeId(Plan *plan)
{
	int			max;
	ListCell   *lc;

	if (plan == NULL)
		return -1;
	max = Max(plan->plan_node_id, Max(MaxPlanNodeId(plan->lefttree),
									  MaxPlanNodeId(plan->righttree)));
	if (IsA(plan, Append))
		foreach(lc, ((Append *) plan)->appendplans)
			max = Max(max, MaxPlanNodeId(lfirst(lc)));
	else if (IsA(plan, MergeAppend))
		foreach(lc, ((MergeAppend *) plan)->mergeplans)
			max = Max(max, MaxPlanNodeId(lfirst(lc)));
	else if (IsA(plan, SubqueryScan))
		max = Max(max, MaxPlanNodeId(((SubqueryScan *) plan)->subplan));
	else if (IsA(plan, CustomScan))
		foreach(lc, ((CustomScan *) plan)->custom_plans)
			max = Max(max, MaxPlanNodeId(lfirst(lc)));
	return max;
}

/*
 * The scan with a batch node above it when its target list holds planned
 * CASEs the node can batch, else the scan.
 */
static Plan *
BatchScanOf(PlannedStmt *stmt, Scan *scan, PlannedFunctions *fns, bool *looked_up)
{
	RangeTblEntry *rte = rt_fetch(scan->scanrelid, stmt->rtable);
	List	   *tlist = NIL;
	List	   *cases = NIL;
	List	   *params = NIL;
	ListCell   *lc;
	CustomScan *cscan;
	ListCell   *sub;

	if (rte->rtekind != RTE_RELATION || contain_volatile_functions((Node *) scan->plan.qual))
		return (Plan *) scan;
	foreach(lc, scan->plan.targetlist)
	{
		TargetEntry *tle = flatCopyTargetEntry(lfirst(lc));
		PredictKind kind;

		if (IsPlannedCase(tle->expr, scan->scanrelid, fns, looked_up, &kind) &&
			BatchableCase((CaseExpr *) tle->expr, kind))
		{
			Param	   *p = makeNode(Param);

			p->paramkind = PARAM_EXEC;
			p->paramid = list_length(stmt->paramExecTypes);
			p->paramtype = exprType((Node *) tle->expr);
			p->paramtypmod = -1;
			p->paramcollid = exprCollation((Node *) tle->expr);
			p->location = -1;
			stmt->paramExecTypes = lappend_oid(stmt->paramExecTypes, p->paramtype);
			cases = lappend(cases, tle->expr);
			params = lappend_int(params, p->paramid);
			tle->expr = (Expr *) p;
		}
		tlist = lappend(tlist, tle);
	}
	if (cases == NIL)
		return (Plan *) scan;

	cscan = makeNode(CustomScan);
	cscan->scan.plan.startup_cost = scan->plan.startup_cost;
	cscan->scan.plan.total_cost = scan->plan.total_cost;
	cscan->scan.plan.plan_rows = scan->plan.plan_rows;
	cscan->scan.plan.plan_width = scan->plan.plan_width;
	cscan->scan.plan.parallel_safe = scan->plan.parallel_safe;
	cscan->scan.plan.extParam = bms_copy(scan->plan.extParam);
	cscan->scan.plan.allParam = bms_copy(scan->plan.allParam);
	cscan->scan.plan.plan_node_id = MaxPlanNodeId(stmt->planTree) + 1;
	foreach(sub, stmt->subplans)
		cscan->scan.plan.plan_node_id = Max(cscan->scan.plan.plan_node_id,
											MaxPlanNodeId(lfirst(sub)) + 1);
	cscan->scan.plan.targetlist = tlist;
	cscan->scan.scanrelid = 0;
	cscan->custom_plans = list_make1(scan);
	cscan->custom_exprs = cases;
	cscan->custom_private = params;
	scan->plan.targetlist = PhysicalTargetList(rte->relid, scan->scanrelid);
	cscan->custom_scan_tlist = copyObject(scan->plan.targetlist);
	cscan->methods = &batch_scan_methods;
	return (Plan *) cscan;
}

/*
 * Put batch nodes above the scans of a plan tree that can use them (not
 * under a Limit; see the file's comment).
 */
static Plan *
BatchRewrite(PlannedStmt *stmt, Plan *plan, PlannedFunctions *fns, bool *looked_up)
{
	ListCell   *lc;

	if (plan == NULL || IsA(plan, Limit))
		return plan;
	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_IndexScan:
		case T_BitmapHeapScan:
			return BatchScanOf(stmt, (Scan *) plan, fns, looked_up);
		case T_SubqueryScan:
			((SubqueryScan *) plan)->subplan = BatchRewrite(stmt, ((SubqueryScan *) plan)->subplan,
															fns, looked_up);
			break;
		case T_Append:
			foreach(lc, ((Append *) plan)->appendplans)
				lfirst(lc) = BatchRewrite(stmt, lfirst(lc), fns, looked_up);
			break;
		default:
			break;
	}
	plan->lefttree = BatchRewrite(stmt, plan->lefttree, fns, looked_up);
	plan->righttree = BatchRewrite(stmt, plan->righttree, fns, looked_up);
	return plan;
}

/*
 * planner_hook: plan as usual, then add batch nodes where they apply.
 */
static PlannedStmt *
BatchPlanner(Query *parse, const char *query_string, int cursorOptions,
			 ParamListInfo boundParams)
{
	PlannedStmt *stmt;
	PlannedFunctions fns;
	bool		looked_up = false;

	if (prev_planner_hook)
		stmt = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	else
		stmt = standard_planner(parse, query_string, cursorOptions, boundParams);
	/* a cursor goes backward if declared SCROLL, or without NO SCROLL when its plan can */
	if (mlops_batch_predict &&
		(stmt->commandType == CMD_SELECT || stmt->commandType == CMD_INSERT) &&
		stmt->rowMarks == NIL &&
		(cursorOptions & CURSOR_OPT_SCROLL) == 0 &&
		((cursorOptions & CURSOR_OPT_FAST_PLAN) == 0 || (cursorOptions & CURSOR_OPT_NO_SCROLL) != 0))
		stmt->planTree = BatchRewrite(stmt, stmt->planTree, &fns, &looked_up);
	return stmt;
}

/*
 * Define mlops.batch_predict, register the node and the planner hook;
 * called from _PG_init.
 */
void
BatchScanInit(void)
{
	DefineCustomBoolVariable("mlops.batch_predict",
							 "Scores the planned form of predict in batches of rows (the MlopsBatchPredict node).",
							 "Off, every row is scored on its own; both give the same results.",
							 &mlops_batch_predict,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	RegisterCustomScanMethods(&batch_scan_methods);
	prev_planner_hook = planner_hook;
	planner_hook = BatchPlanner;
}

/*
 * CreateCustomScanState: the node's state.
 */
static Node *
BatchCreateState(CustomScan *cscan)
{
	BatchScanState *bs = palloc0(sizeof(BatchScanState));

	NodeSetTag(bs, T_CustomScanState);
	bs->css.methods = &batch_exec_methods;
	return (Node *) bs;
}

/*
 * The offsets of the call's columns in the data of a heap tuple (of the
 * scan's row type desc) without NULLs, when they are all float8 and every
 * column up to the last of them has a fixed width, so that a row kept in
 * its page is read there without deforming it: the offsets the tuple's
 * deforming would compute (attcacheoff); else NULL.
 */
static int32 *
BatchInPlaceOffsets(const BatchCall *call, TupleDesc desc)
{
	int32	   *at = palloc(sizeof(int32) * Max(1, call->last));
	int32	   *offsets = palloc(sizeof(int32) * Max(1, call->ncolumns));
	int32		off = 0;

	for (int a = 0; a < call->last; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (att->attlen <= 0)
			return NULL;
		off = att_align_nominal(off, att->attalign);
		at[a] = off;
		off += att->attlen;
	}
	for (int j = 0; j < call->ncolumns; j++)
	{
		if (call->types[j] != FLOAT8OID ||
			getBaseType(TupleDescAttr(desc, call->attnums[j] - 1)->atttypid) != FLOAT8OID)
			return NULL;
		offsets[j] = at[call->attnums[j] - 1];
	}
	return offsets;
}

/*
 * BeginCustomScan: start the scan below, project from its tuples, and
 * prepare each batched CASE.
 */
static void
BatchBegin(CustomScanState *node, EState *estate, int eflags)
{
	BatchScanState *bs = (BatchScanState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	PlanState  *ps = &node->ss.ps;
	ListCell   *lc;
	ListCell   *lp;
	int			i = 0;
	bool		fixed;
	TupleDesc	desc;
	const TupleTableSlotOps *ops;

	bs->child = ExecInitNode(linitial(cscan->custom_plans), estate, eflags);
	node->custom_ps = list_make1(bs->child);

	/* the target list reads the scan's own tuples, whatever their kind */
	ops = ExecGetResultSlotOps(bs->child, &fixed);
	desc = ExecGetResultType(bs->child);
	ps->scanops = ops;
	ps->scanopsfixed = fixed;
	ps->scanopsset = true;
	ExecAssignScanProjectionInfoWithVarno(&node->ss, INDEX_VAR);
	for (int r = 0; r < BATCH_ROWS; r++)
		bs->slots[r] = ExecAllocTableSlot(&estate->es_tupleTable, desc, ops);
	if (ops == &TTSOpsBufferHeapTuple)
		bs->work = ExecAllocTableSlot(&estate->es_tupleTable, desc, ops);
	bs->worked = -1;

	bs->ncalls = list_length(cscan->custom_exprs);
	bs->calls = palloc0(sizeof(BatchCall) * bs->ncalls);
	forboth(lc, cscan->custom_exprs, lp, cscan->custom_private)
	{
		CaseExpr   *c = lfirst(lc);
		CaseWhen   *when = linitial(c->args);
		FuncExpr   *planned = (FuncExpr *) when->result;
		BatchCall  *call = &bs->calls[i++];
		PlannedFunctions fns;
		ListCell   *la;
		int			j = 0;

		if (!GetPlannedFunctions(&fns))
			elog(ERROR, "the functions of mlops's planned form are missing");
		for (call->kind = PREDICT_VALUE; call->kind < PREDICT_LABEL; call->kind++)
			if (planned->funcid == fns.planned[call->kind])
				break;
		call->paramid = lfirst_int(lp);
		call->model_id = DatumGetInt64(((Const *) linitial(planned->args))->constvalue);
		call->when = ExecInitExpr(when->expr, ps);
		call->planned = ExecInitExpr(when->result, ps);
		call->fallback = ExecInitExpr(c->defresult, ps);
		call->ncolumns = list_length(planned->args) - 1;
		call->attnums = palloc(sizeof(AttrNumber) * call->ncolumns);
		call->types = palloc(sizeof(Oid) * call->ncolumns);
		for_each_from(la, planned->args, 1)
		{
			Var		   *v = lfirst(la);

			call->attnums[j] = v->varattno;
			call->types[j++] = getBaseType(v->vartype);
			call->last = Max(call->last, v->varattno);
		}
		call->offsets = BatchInPlaceOffsets(call, desc);
	}
}

/*
 * Keep the scan's row (slot) as the batch's next row.  A tuple in a
 * shared buffer is kept in place: its header is copied and its page
 * pinned once for the consecutive rows of the page (a pin per row, with
 * hundreds held, costs the resource owner a hash lookup each); any other
 * row is copied into a slot of its own.
 */
static void
BatchKeep(BatchScanState *bs, TupleTableSlot *slot)
{
	int			r = bs->nrows++;

	if (bs->work != NULL && TTS_IS_BUFFERTUPLE(slot) &&
		BufferIsValid(((BufferHeapTupleTableSlot *) slot)->buffer))
	{
		BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;

		bs->tuples[r] = *bslot->base.tuple;
		bs->buffers[r] = bslot->buffer;
		if (bs->npinned == 0 || bs->pinned[bs->npinned - 1] != bslot->buffer)
		{
			IncrBufferRefCount(bslot->buffer);
			bs->pinned[bs->npinned++] = bslot->buffer;
		}
		return;
	}
	bs->buffers[r] = InvalidBuffer;
	ExecCopySlot(bs->slots[r], slot);
}

/*
 * A slot holding row r of the batch.
 */
static TupleTableSlot *
BatchRow(BatchScanState *bs, int r)
{
	if (!BufferIsValid(bs->buffers[r]))
		return bs->slots[r];
	if (bs->worked != r)
	{
		ExecStoreBufferHeapTuple(&bs->tuples[r], bs->work, bs->buffers[r]);
		bs->worked = r;
	}
	return bs->work;
}

/*
 * Let go of the batch's rows: clear their slots, unpin their pages.
 */
static void
BatchRelease(BatchScanState *bs)
{
	for (int r = 0; r < bs->nrows; r++)
		if (!BufferIsValid(bs->buffers[r]))
			ExecClearTuple(bs->slots[r]);
	if (bs->work != NULL)
		ExecClearTuple(bs->work);
	bs->worked = -1;
	for (int i = 0; i < bs->npinned; i++)
		ReleaseBuffer(bs->pinned[i]);
	bs->npinned = 0;
	bs->nrows = 0;
	bs->next = 0;
}

/*
 * Does the CASE's condition hold for the row in the expression context?
 */
static bool
BatchCurrent(BatchCall *call, ExprContext *econtext)
{
	bool		isnull;
	Datum		d = ExecEvalExprSwitchContext(call->when, econtext, &isnull);

	return !isnull && DatumGetBool(d);
}

/*
 * Can the batch score rows of the call's model as the planned call would
 * (see the file's comment)?
 */
static bool
BatchFits(const BatchCall *call, const MlopsModel *m)
{
	if (call->kind != PREDICT_VALUE && m->task != TASK_CLASSIFICATION)
		return false;
	if (!FeaturizerAllNumeric(m->fz) || m->fz->nsources != call->ncolumns)
		return false;
	for (int j = 0; j < call->ncolumns; j++)
	{
		SourceKind	kind;

		if (!DatasetSourceKindOf(call->types[j], &kind) || kind != SOURCE_NUMERIC)
			return false;
	}
	return true;
}

/*
 * The features of row r of the batch into x, or false when the batch
 * cannot score the row as the planned call would: a NaN or infinite value,
 * or a NULL where the model refuses one.  A row kept in its page without
 * NULLs is read in place when the call has offsets; any other is deformed.
 */
static bool
BatchRowFeatures(BatchScanState *bs, const BatchCall *call, const MlopsModel *m, int r, double *x)
{
	const Featurizer *fz = m->fz;
	/* an identity featurizer's inputs are the features */
	double	   *raw = fz->identity ? x : call->raw;
	HeapTuple	tuple = &bs->tuples[r];

	if (call->offsets != NULL && BufferIsValid(bs->buffers[r]) && !HeapTupleHasNulls(tuple) &&
		HeapTupleHeaderGetNatts(tuple->t_data) >= call->last)
	{
		const char *data = (const char *) tuple->t_data + tuple->t_data->t_hoff;

		for (int j = 0; j < call->ncolumns; j++)
		{
			double		v;

			memcpy(&v, data + call->offsets[j], sizeof(double));
			if (!isfinite(v))
				return false;
			raw[fz->sources[j].first_input] = v;
		}
	}
	else
	{
		TupleTableSlot *slot = BatchRow(bs, r);
		const Datum *values;
		const bool *isnull;

		slot_getsomeattrs(slot, call->last);
		values = slot->tts_values;
		isnull = slot->tts_isnull;
		for (int j = 0; j < call->ncolumns; j++)
		{
			int			a = call->attnums[j] - 1;
			int			k = fz->sources[j].first_input;
			double		v;

			if (isnull[a])
			{
				if (fz->inputs[k].impute == IMPUTE_ERROR)
					return false;
				raw[k] = NAN;
				continue;
			}
			/* float8, the usual column type, without a call */
			v = call->types[j] == FLOAT8OID ? DatumGetFloat8(values[a]) :
				DatasetDatumNumber(values[a], call->types[j]);
			if (!isfinite(v))
				return false;
			raw[k] = v;
		}
	}
	if (!fz->identity)
		FeaturizerApply(fz, raw, x);
	return true;
}

/*
 * Score the batch's rows for one call, when its model is current.
 */
static void
BatchScore(BatchScanState *bs, BatchCall *call)
{
	ExprContext *econtext = bs->css.ss.ps.ps_ExprContext;
	MlopsModel *m;
	int			n = 0;
	instr_time	start;
	instr_time	elapsed;

	call->scored = false;
	econtext->ecxt_scantuple = BatchRow(bs, 0);
	if (!BatchCurrent(call, econtext))
		return;
	m = ModelCacheGet(call->model_id);
	call->model = m;
	call->generation = ModelCacheGeneration();
	call->scored = true;
	if (call->X == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(bs->css.ss.ps.state->es_query_cxt);

		call->noutputs = ModelOutputs(m);
		call->X = palloc(sizeof(double) * BATCH_ROWS * Max(1, m->fz->nfeatures));
		call->raw = palloc(sizeof(double) * Max(1, m->fz->ninputs));
		call->out = palloc(sizeof(double) * BATCH_ROWS * call->noutputs);
		MemoryContextSwitchTo(old);
	}
	if (!BatchFits(call, m))
	{
		for (int r = 0; r < bs->nrows; r++)
			call->index[r] = -1;
		return;
	}
	INSTR_TIME_SET_CURRENT(start);
	for (int r = 0; r < bs->nrows; r++)
	{
		if (BatchRowFeatures(bs, call, m, r, call->X + (Size) n * m->fz->nfeatures))
			call->index[r] = n++;
		else
			call->index[r] = -1;
	}
	if (n > 0)
		ModelPredictRows(m, call->X, n, call->out);
	INSTR_TIME_SET_CURRENT(call->scored_at);
	elapsed = call->scored_at;
	INSTR_TIME_SUBTRACT(elapsed, start);
	call->row_us = INSTR_TIME_GET_DOUBLE(elapsed) * 1e6 / Max(n, 1);
}

/*
 * Read the next batch of rows from the scan and score them.
 */
static void
BatchFill(BatchScanState *bs)
{
	MemoryContext old;

	BatchRelease(bs);
	while (bs->nrows < BATCH_ROWS)
	{
		TupleTableSlot *slot = ExecProcNode(bs->child);

		if (TupIsNull(slot))
		{
			bs->done = true;
			break;
		}
		BatchKeep(bs, slot);
	}
	if (bs->nrows == 0)
		return;
	ResetExprContext(bs->css.ss.ps.ps_ExprContext);
	old = MemoryContextSwitchTo(bs->css.ss.ps.ps_ExprContext->ecxt_per_tuple_memory);
	for (int k = 0; k < bs->ncalls; k++)
		BatchScore(bs, &bs->calls[k]);
	MemoryContextSwitchTo(old);
}

/*
 * The value of a batched CASE for row r of the batch (the expression
 * context's scan tuple), as the CASE would give it.
 */
static Datum
BatchValue(BatchScanState *bs, BatchCall *call, int r, bool *isnull)
{
	ExprContext *econtext = bs->css.ss.ps.ps_ExprContext;
	MemoryContext old;
	Datum		d;

	if (!BatchCurrent(call, econtext))
		return ExecEvalExprSwitchContext(call->fallback, econtext, isnull);
	if (!call->scored || call->index[r] < 0)
		return ExecEvalExprSwitchContext(call->planned, econtext, isnull);

	/*
	 * a batch row is one call of the planned form in the serving statistics,
	 * its latency its share of the batch's time
	 */
	if (call->generation != ModelCacheGeneration())
	{
		call->model = ModelCacheGet(call->model_id);
		call->generation = ModelCacheGeneration();
	}
	old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
	d = PredictResult(call->kind, call->model, call->out + (Size) call->index[r] * call->noutputs);
	MemoryContextSwitchTo(old);
	ServingCountBatchRow(call->model->id, call->model->project_id, SERVING_CHAMPION, call->row_us,
						 call->scored_at);
	*isnull = false;
	return d;
}

/*
 * ExecCustomScan: the next row, its batched CASEs from the batch.
 */
static TupleTableSlot *
BatchExec(CustomScanState *node)
{
	BatchScanState *bs = (BatchScanState *) node;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	int			r;

	CHECK_FOR_INTERRUPTS();
	if (bs->next >= bs->nrows)
	{
		if (bs->done)
			return NULL;
		BatchFill(bs);
		if (bs->nrows == 0)
			return NULL;
	}
	r = bs->next++;
	ResetExprContext(econtext);
	econtext->ecxt_scantuple = BatchRow(bs, r);
	for (int k = 0; k < bs->ncalls; k++)
	{
		BatchCall  *call = &bs->calls[k];
		ParamExecData *prm = &econtext->ecxt_param_exec_vals[call->paramid];

		prm->value = BatchValue(bs, call, r, &prm->isnull);
		prm->execPlan = NULL;
	}
	return ExecProject(node->ss.ps.ps_ProjInfo);
}

/*
 * EndCustomScan: release the batch's rows, end the scan.
 */
static void
BatchEnd(CustomScanState *node)
{
	BatchScanState *bs = (BatchScanState *) node;

	BatchRelease(bs);
	ExecEndNode(bs->child);
}

/*
 * ReScanCustomScan: forget the batch and rescan the scan.
 */
static void
BatchReScan(CustomScanState *node)
{
	BatchScanState *bs = (BatchScanState *) node;

	BatchRelease(bs);
	bs->done = false;
	if (node->ss.ps.chgParam != NULL)
		UpdateChangedParamSet(bs->child, node->ss.ps.chgParam);
	if (bs->child->chgParam == NULL)
		ExecReScan(bs->child);
}

/*
 * ExplainCustomScan: the batch size, and (VERBOSE) which CASE each
 * parameter of the target list stands for.
 */
static void
BatchExplain(CustomScanState *node, List *ancestors, ExplainState *es)
{
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	ListCell   *lc;
	ListCell   *lp;

	ExplainPropertyInteger("Batch Rows", NULL, BATCH_ROWS, es);
	if (!es->verbose)
		return;
	forboth(lc, cscan->custom_exprs, lp, cscan->custom_private)
	{
		List	   *context = set_deparse_context_plan(es->deparse_cxt, &cscan->scan.plan,
													   ancestors);
		char	   *label = psprintf("Batched $%d", lfirst_int(lp));

		ExplainPropertyText(label, deparse_expression(lfirst(lc), context, true, false), es);
	}
}
