/*-------------------------------------------------------------------------
 *
 * model.h
 *	  A trained model: the algorithm interface and the loaded form used by
 *	  predict.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_MODEL_H
#define MLOPS_MODEL_H

#include "postgres.h"

#include "lib/stringinfo.h"

#include "train/featurize.h"
#include "train/hyperparams.h"
#include "mlops.h"

/* featurized rows an algorithm trains on */
typedef struct TrainData
{
	MlopsAlgorithm algorithm;
	int			n;
	int			p;
	const double *X;			/* column-major, n x p */
	const double *y;			/* value, or class index */
	int			nclasses;		/* 0 for regression */
	const double *class_weight; /* weight of each class's rows, or NULL */
	int			nval;			/* validation rows for early stopping */
	const double *Xval;
	const double *yval;
	int			seed;
	void	   *dtrain;			/* xgboost: a DMatrixHandle of the rows, labels
								 * and weights set, that fit uses instead of
								 * building one from X; NULL: build it */
	void	   *dval;			/* the same for the validation rows */
} TrainData;

/*
 * What every algorithm provides.  "fit" returns the serialized model,
 * appends JSON members describing the fit to "info" (each preceded by
 * ", ") and fills importance[p] (zeroed by the caller) with each feature's
 * importance: XGBoost's average gain, or for linear models the absolute
 * coefficient times the feature's standard deviation.  "load" builds the in-memory form in CurrentMemoryContext and
 * registers a reset callback there for any foreign memory.  "predict"
 * scores n row-major rows of p featurized values into out: one value per
 * row for regression, nclasses probabilities per row for classification.
 * "fit_memory" estimates the bytes "fit" allocates besides td's arrays
 * (td->X is not needed), for mlops.max_train_memory.
 */
typedef struct AlgorithmOps
{
	bytea	   *(*fit) (const TrainData *td, const HyperParams *hp, StringInfo info,
						double *importance);
	double		(*fit_memory) (const TrainData *td, const HyperParams *hp);
	void	   *(*load) (const bytea *blob, int nfeatures, int nclasses);
	void		(*predict) (void *impl, const double *X, int n, int p, double *out);
} AlgorithmOps;

extern const AlgorithmOps xgboost_ops;
extern const AlgorithmOps linear_ops;
extern void *XgbMatrixCreate(const double *X, const double *y, int n, int p);
extern void *XgbMatrixSlice(void *full, const int *rows, int nrows, const float *weights);
extern bytea *XgbConvertModel(const char *data, size_t len, const char *format,
							  const char *what);

#define MODEL_FORMAT_XGBOOST	1	/* XGBoost UBJSON */
#define MODEL_FORMAT_LINEAR		1	/* mlops linear binary format */

/* a model loaded for prediction, owned by its memory context */
typedef struct MlopsModel
{
	int64		id;
	int64		project_id;
	char	   *project;
	MlopsAlgorithm algorithm;
	MlopsTask	task;
	Featurizer *fz;
	int			nclasses;
	char	  **labels;			/* label texts, in label order */
	double	   *label_values;	/* numeric value of each label */
	bool		labels_numeric;
	const AlgorithmOps *ops;
	void	   *impl;
	MemoryContext mcxt;
} MlopsModel;

extern const AlgorithmOps *ModelOps(MlopsAlgorithm alg);
extern int	ModelFormat(MlopsAlgorithm alg);
extern int	ModelOutputs(const MlopsModel *m);
extern void ModelPredictRows(const MlopsModel *m, const double *X, int n, double *out);
extern void ModelPredictDataset(const MlopsModel *m, const Dataset *ds,
								const int *rows, int nrows, double *out);
extern double ModelPredictValue(const MlopsModel *m, const double *out);
extern int	ModelArgmax(const double *proba, int k);

#endif							/* MLOPS_MODEL_H */
