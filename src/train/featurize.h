/*-------------------------------------------------------------------------
 *
 * featurize.h
 *	  The frozen feature transform stored with every model.
 *
 * A featurizer turns the source columns of a row into the vector a model
 * sees, in two steps.  Source columns become inputs: a number or a
 * category is one input, a timestamp six (epoch seconds, year, month,
 * day, day of week, hour, in UTC), a date five (no hour; models trained
 * before 0.2.0 have the hour of a date too, always 0, and keep it), a
 * fixed-length float array one per element.  Inputs become features: numeric inputs are imputed, then
 * scaled; categorical inputs are encoded (one-hot, ordinal or target).
 *
 * The transform is fitted on the training rows only (never the held-out
 * rows), stored as JSON in mlops.models.features, and applied by every
 * predict path, so training and serving cannot disagree.  Scaling
 * statistics are computed on imputed values, as a scikit-learn
 * Pipeline(SimpleImputer, Scaler) does.  Defaults depend on the algorithm:
 * trees keep NULL as a missing value, are not scaled and encode categories
 * as ordinals; linear models impute the mean, standardize and one-hot
 * encode.
 *
 * Categories are kept sorted by their text (byte order, as Python sorts
 * them).  With max_categories only the most frequent are kept; one-hot
 * encoding then gets an "other" slot for the rest and for values never
 * seen, which otherwise encode as all zeros (scikit-learn's
 * handle_unknown='ignore').  NULL is a category of its own (one-hot,
 * target) unless imputed; ordinal encoding maps NULL and unknown values to
 * a missing value (trees) or -1 (linear models).  Target encoding replaces
 * a category by the smoothed mean of the target over its training rows
 * (per class for multiclass), (sum + m * prior) / (count + m) with
 * m = TARGET_SMOOTHING; unknown values get the prior.
 *
 * The code is in featurize_fit.c (fitting), featurize_apply.c (applying)
 * and featurize_json.c (storing and reading back).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_FEATURIZE_H
#define MLOPS_FEATURIZE_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "train/dataset.h"
#include "strmap.h"

typedef enum ImputeKind
{
	IMPUTE_NONE,				/* keep NULL: missing value, or its own category */
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

typedef enum EncodeKind
{
	ENCODE_ONE_HOT,
	ENCODE_ORDINAL,
	ENCODE_TARGET
} EncodeKind;

/* a source column as the model knows it */
typedef struct FeatureSource
{
	char	   *name;
	char	   *type;			/* type name at training */
	SourceKind	kind;
	Oid			datetime_type;	/* DATEOID, TIMESTAMPOID or TIMESTAMPTZOID */
	int			first_input;
	int			ninputs;
} FeatureSource;

/*
 * A model input and how it becomes features.  At predict time a
 * categorical input's raw value is the index of its category (-1 for a
 * value not among them, NaN for NULL).
 */
typedef struct FeatureInput
{
	char	   *name;
	int			source;
	bool		categorical;
	int			first_feature;
	int			nfeatures;
	ImputeKind	impute;
	/* numeric */
	double		fill;			/* replaces NULL; NaN when not imputed */
	ScaleKind	scale;
	double		center;			/* feature = (value - center) / scale_by */
	double		scale_by;
	/* categorical */
	EncodeKind	encode;
	int			ncategories;	/* the known categories, sorted */
	char	  **categories;
	bool		null_category;	/* NULL is a category of its own */
	int			fill_index;		/* imputed NULL: its category, or -1 */
	bool		has_other;		/* one_hot: a slot for dropped categories */
	double		unknown_value;	/* ordinal: value of NULL and unknown values */
	int			ntarget;		/* target encoding: values per category */
	double	   *target_values;	/* (ncategories + 2) x ntarget: categories,
								 * NULL, unknown */
	StrMap	   *lookup;			/* category text -> index */
} FeatureInput;

typedef struct Featurizer
{
	int			nsources;
	FeatureSource *sources;
	int			ninputs;
	FeatureInput *inputs;
	int			nfeatures;
	char	  **feature_names;
	bool		identity;		/* the features are the raw inputs (see
								 * FeaturizerIdentity) */
} Featurizer;

extern void FeaturizerCheckPreprocess(Jsonb *preprocess, const DatasetColumn *columns,
									  int ncolumns);
typedef struct FeaturizerFitState FeaturizerFitState;

/*
 * The running statistics of a numeric input's training values, for the
 * settings that need no sorting: every impute but "median" and "mode",
 * every scale but "robust".  Both the in-memory fit and a fit over blocks
 * of rows (FeaturizerFitAdd) accumulate them row by row, so the two give
 * the same transform; a distributed fit merges them per shard.
 */
typedef struct NumericSummary
{
	int64		count;			/* non-NULL values */
	int64		nnull;
	double		sum;			/* in row order, as the mean imputation sums */
	double		min;
	double		max;
	double		mean;			/* Welford's running mean and sum of squared
								 * deviations */
	double		m2;
} NumericSummary;

extern void NumericSummaryAdd(NumericSummary *s, double x);
extern void NumericSummaryMerge(NumericSummary *s, const NumericSummary *o);
extern NumericSummary *FeaturizerFitSummaries(FeaturizerFitState *st);
extern bool FeaturizerFitsByCounts(Jsonb *preprocess, const DatasetColumn *columns,
								   int ncolumns, MlopsAlgorithm alg);
extern void FeaturizerFitCategories(FeaturizerFitState *st, int input, char **texts,
									const int64 *counts, const double *ysums, int n,
									int64 nnull, double null_ysum, int64 ntrain);

extern bool FeaturizerFitsByBlocks(Jsonb *preprocess, const DatasetColumn *columns,
								   int ncolumns, MlopsAlgorithm alg);
extern FeaturizerFitState *FeaturizerFitBegin(const Dataset *ds, MlopsAlgorithm alg,
											  Jsonb *preprocess);
extern void FeaturizerFitAdd(FeaturizerFitState *st, const Dataset *ds, const int *rows,
							 int nrows);
extern Featurizer *FeaturizerFitEnd(FeaturizerFitState *st, const Dataset *ds);
extern Featurizer *FeaturizerFit(const Dataset *ds, const int *rows, int nrows,
								 MlopsAlgorithm alg, Jsonb *preprocess);
extern void FeaturizerToJson(const Featurizer *fz, StringInfo buf);
extern Featurizer *FeaturizerFromJson(Jsonb *jb);
extern void FeaturizerCheckDataset(const Featurizer *fz, const Dataset *ds);
extern DatasetSpec *FeaturizerSpec(const Featurizer *fz);
extern bool FeaturizerAllNumeric(const Featurizer *fz);
extern bool FeaturizerIdentity(const Featurizer *fz);
extern void FeaturizerApply(const Featurizer *fz, const double *raw, double *out);
extern void FeaturizerDatasetRows(const Featurizer *fz, const Dataset *ds, const int *rows,
								  int nrows, double *out);
extern void FeaturizerInputColumns(const Featurizer *fz, const Dataset *ds, int input,
								   const int *rows, int nrows, float **cols);
extern double *FeaturizerMatrix(const Featurizer *fz, const Dataset *ds,
								const int *rows, int nrows);
extern void FeaturizerCheckSourceType(const Featurizer *fz, int source, Oid typid,
									  int64 model_id);
extern void FeaturizerRawFromDatum(const Featurizer *fz, int source, Datum d, Oid typid,
								   bool isnull, double *raw);
extern void FeaturizerRawFromJson(const Featurizer *fz, int source, JsonbValue *v,
								  int64 model_id, double *raw);

#endif							/* MLOPS_FEATURIZE_H */
