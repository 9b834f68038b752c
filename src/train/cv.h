/*-------------------------------------------------------------------------
 *
 * cv.h
 *	  k-fold cross-validation of a training run (mlops.train's cv).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_CV_H
#define MLOPS_CV_H

#include "postgres.h"

#include "train/dataset.h"
#include "train/hyperparams.h"
#include "mlops.h"

#define CV_MAX_FOLDS	100

extern int *CvAssignFolds(const Dataset *ds, const int *rows, int n, bool stratified, int k,
						  int seed);
extern char *CrossValidate(const Dataset *ds, const int *rows, int nrows, MlopsTask task,
						   MlopsAlgorithm alg, const HyperParams *hp, Jsonb *preprocess,
						   int k, int seed);

#endif							/* MLOPS_CV_H */
