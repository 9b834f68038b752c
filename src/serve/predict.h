/*-------------------------------------------------------------------------
 *
 * predict.h
 *	  The row handling of mlops.predict, for the functions that take the
 *	  same arguments.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PREDICT_H
#define MLOPS_PREDICT_H

#include "postgres.h"

#include "fmgr.h"

#include "serve/model.h"

/* what a predict function returns for a row's outputs */
typedef enum PredictKind
{
	PREDICT_VALUE,				/* mlops.predict */
	PREDICT_PROBA,				/* mlops.predict_proba */
	PREDICT_LABEL				/* mlops.predict_label */
} PredictKind;

extern Datum PredictResult(PredictKind kind, const MlopsModel *m, const double *out);
extern MlopsModel *PredictCallRow(FunctionCallInfo fcinfo, const double **raw, const double **x);

#endif							/* MLOPS_PREDICT_H */
