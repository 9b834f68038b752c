/*-------------------------------------------------------------------------
 *
 * plan_support.h
 *	  The planner support function of the row forms of predict,
 *	  predict_proba, predict_label and featurize, and the planned form it
 *	  rewrites them into: the model id the call was planned for and only the
 *	  columns that model reads.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PLAN_SUPPORT_H
#define MLOPS_PLAN_SUPPORT_H

#include "postgres.h"

#include "fmgr.h"

#include "serve/model.h"

extern Oid	PlanSupportFunction(const char *name, int nargs, Oid *argtypes);
extern int64 PlanSupportModel(const char *project);
extern bool PlannedCall(FunctionCallInfo fcinfo);
extern Oid *PlannedArgTypes(FunctionCallInfo fcinfo, const MlopsModel *m, MemoryContext cxt);
extern void PlannedRaw(FunctionCallInfo fcinfo, const MlopsModel *m, const Oid *types,
					   double *raw);

#endif							/* MLOPS_PLAN_SUPPORT_H */
