/*-------------------------------------------------------------------------
 *
 * hyperparams.h
 *	  Validation and defaults of algorithm hyperparameters.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_HYPERPARAMS_H
#define MLOPS_HYPERPARAMS_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "mlops.h"

typedef enum HpKey
{
	HP_N_ESTIMATORS,
	HP_MAX_DEPTH,
	HP_LEARNING_RATE,
	HP_SUBSAMPLE,
	HP_COLSAMPLE_BYTREE,
	HP_COLSAMPLE_BYNODE,
	HP_MIN_CHILD_WEIGHT,
	HP_REG_LAMBDA,
	HP_REG_ALPHA,
	HP_GAMMA,
	HP_MAX_BIN,
	HP_SCALE_POS_WEIGHT,
	HP_EARLY_STOPPING_ROUNDS,
	HP_ALPHA,
	HP_L1_RATIO,
	HP_C,
	HP_PENALTY,					/* 1 = l2, 0 = none */
	HP_MAX_ITER,
	HP_TOL,
	HP_FIT_INTERCEPT,
	HP_COUNT
} HpKey;

/* class_weight: none, "balanced" or weights given per label */
typedef enum ClassWeightKind
{
	CLASS_WEIGHT_NONE,
	CLASS_WEIGHT_BALANCED,
	CLASS_WEIGHT_LABELS
} ClassWeightKind;

typedef struct HyperParams
{
	double		v[HP_COUNT];	/* value of every key that applies */
	bool		applies[HP_COUNT];
	bool		class_weight_applies;
	ClassWeightKind class_weight;
	int			nweights;		/* CLASS_WEIGHT_LABELS: the given pairs */
	char	  **weight_labels;
	double	   *weights;
} HyperParams;

extern HyperParams *HyperParamsParse(MlopsAlgorithm alg, MlopsTask task, Jsonb *given);
extern void HyperParamsToJson(const HyperParams *hp, StringInfo buf);
extern double *HyperParamsClassWeights(const HyperParams *hp, char **labels, int nclasses,
									   const double *y, int n);

#endif							/* MLOPS_HYPERPARAMS_H */
