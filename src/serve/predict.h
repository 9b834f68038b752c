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

extern MlopsModel *PredictCallRow(FunctionCallInfo fcinfo, const double **raw, const double **x);

#endif							/* MLOPS_PREDICT_H */
