/*-------------------------------------------------------------------------
 *
 * train.h
 *	  Scoring a model on rows and writing its metrics.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_TRAIN_H
#define MLOPS_TRAIN_H

#include "postgres.h"

#include "lib/stringinfo.h"

#include "dataset.h"
#include "model.h"

extern void TrainScoreRows(const MlopsModel *m, const Dataset *ds, const int *rows,
						   int nrows, StringInfo metrics);

#endif							/* MLOPS_TRAIN_H */
