/*-------------------------------------------------------------------------
 *
 * mlops.h
 *	  Shared definitions of the mlops extension: settings, limits and the
 *	  small vocabulary (tasks, algorithms) every module speaks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_H
#define MLOPS_H

#include "postgres.h"

/* Training resource settings (GUCs), defined in mlops.c */
extern int	mlops_threads;
extern int	mlops_max_train_memory_kb;

/* Limits */
#define MLOPS_MAX_CLASSES		1000	/* distinct labels of a classifier */
#define MLOPS_MAX_FEATURES		10000	/* features of one model */
#define MLOPS_INFER_MAX_CLASSES 20		/* integer targets with at most this many
										 * distinct values are classes */

typedef enum MlopsTask
{
	TASK_CLASSIFICATION,
	TASK_REGRESSION
} MlopsTask;

typedef enum MlopsAlgorithm
{
	ALG_XGBOOST,
	ALG_RANDOM_FOREST,
	ALG_LINEAR,
	ALG_RIDGE,
	ALG_LASSO,
	ALG_ELASTIC_NET,
	ALG_LOGISTIC
} MlopsAlgorithm;

#define ALG_IS_TREE(a) ((a) == ALG_XGBOOST || (a) == ALG_RANDOM_FOREST)

extern const char *MlopsTaskName(MlopsTask task);
extern MlopsTask MlopsTaskFromName(const char *name);
extern const char *MlopsAlgorithmName(MlopsAlgorithm alg);
extern MlopsAlgorithm MlopsAlgorithmFromName(const char *name);
extern void MlopsSetLibraryThreads(void);
extern void MlopsCheckTrainMemory(double bytes, const char *detail_fmt,...) pg_attribute_printf(2, 3);

#endif							/* MLOPS_H */
