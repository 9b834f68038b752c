/*-------------------------------------------------------------------------
 *
 * featurize.h
 *	  The frozen feature transform stored with every model.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_FEATURIZE_H
#define MLOPS_FEATURIZE_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "dataset.h"

typedef enum ImputeKind
{
	IMPUTE_NONE,				/* keep NULL as a missing value (trees) */
	IMPUTE_MEAN,
	IMPUTE_MEDIAN,
	IMPUTE_MODE,
	IMPUTE_MIN,
	IMPUTE_MAX,
	IMPUTE_ZERO,
	IMPUTE_ERROR,
	IMPUTE_CONSTANT
} ImputeKind;

typedef enum ScaleKind
{
	SCALE_NONE,
	SCALE_STANDARD,
	SCALE_MIN_MAX,
	SCALE_MAX_ABS,
	SCALE_ROBUST
} ScaleKind;

/* one source column and how it becomes a feature */
typedef struct FeatureColumn
{
	char	   *name;
	Oid			typid;			/* type at training */
	ImputeKind	impute;
	double		fill;			/* replaces NULL; NaN for IMPUTE_NONE */
	ScaleKind	scale;
	double		center;			/* feature = (value - center) / scale_by */
	double		scale_by;
} FeatureColumn;

typedef struct Featurizer
{
	int			ncolumns;
	FeatureColumn *columns;
	int			nfeatures;		/* length of the feature vector */
} Featurizer;

extern Featurizer *FeaturizerFit(const Dataset *ds, const int *rows, int nrows,
								 MlopsAlgorithm alg, Jsonb *preprocess);
extern void FeaturizerToJson(const Featurizer *fz, StringInfo buf);
extern Featurizer *FeaturizerFromJson(Jsonb *jb);
extern void FeaturizerApply(const Featurizer *fz, const double *raw, double *out);
extern double *FeaturizerMatrix(const Featurizer *fz, const Dataset *ds,
								const int *rows, int nrows);

#endif							/* MLOPS_FEATURIZE_H */
