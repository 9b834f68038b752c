/*-------------------------------------------------------------------------
 *
 * model_eval.h
 *	  Scoring models on the rows of a relation read for several consumers
 *	  (mlops.compare, mlops.fairness).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_MODEL_EVAL_H
#define MLOPS_MODEL_EVAL_H

#include "postgres.h"

#include "train/dataset.h"
#include "serve/model.h"

extern DatasetSpec *EvalModelSpec(const MlopsModel *m);
extern double *EvalScoreRows(int64 model_id, const Dataset *ds, const DatasetSpec *spec);

#endif							/* MLOPS_MODEL_EVAL_H */
