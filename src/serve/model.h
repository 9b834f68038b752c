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

/*
 * Featurized rows an algorithm trains on.  They are either materialized
 * (X and Xval, column-major) or, for an algorithm whose ops "stream", left
 * in the data set: X and Xval are NULL and TrainDataRows featurizes a block
 * of rows at a time through fz from ds's rows and val_rows, so the fit never
 * holds a second copy of the data.  When the caller can release the data
 * set's columns one at a time (input_done), TrainDataFloatColumns moves the
 * rows into "cols", the features of the training then validation rows as
 * floats (what libxgboost keeps of them), freeing each column of the data
 * set as it goes: half the memory of the doubles they replace.
 */
typedef struct TrainData
{
	MlopsAlgorithm algorithm;
	int			n;
	int			p;
	const double *X;			/* column-major, n x p, or NULL */
	const double *y;			/* value, or class index */
	int			nclasses;		/* 0 for regression */
	const double *class_weight; /* weight of each class's rows, or NULL */
	int			nval;			/* validation rows for early stopping */
	const double *Xval;			/* column-major, nval x p, or NULL */
	const double *yval;
	int			seed;
	const Featurizer *fz;		/* with X NULL: the rows' source */
	const Dataset *ds;
	const int  *rows;			/* n rows of ds */
	const int  *val_rows;		/* nval rows of ds */
	void		(*rows_done) (void *arg);	/* see TrainDataRowsDone, or NULL;
											 * may be called again */
	void		(*input_done) (void *arg, int input);	/* the fit no longer
														 * reads this input of
														 * ds, or NULL */
	void	   *rows_done_arg;	/* the argument of both */
	float	  **cols;			/* streaming: p columns of n + nval floats,
								 * NULL until TrainDataFloatColumns */
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
 * "fit" calls TrainDataRowsDone once it has read the rows for the last time
 * (the caller may then free them).
 * "fit_memory" estimates the bytes "fit" allocates besides td's arrays
 * (td->X is not needed), for mlops.max_train_memory.  "streams" says that
 * "fit" reads the rows through TrainDataRows, so the caller may leave X
 * and Xval NULL and pass the data set instead.
 */
typedef struct AlgorithmOps
{
	bytea	   *(*fit) (const TrainData *td, const HyperParams *hp, StringInfo info,
						double *importance);
	double		(*fit_memory) (const TrainData *td, const HyperParams *hp);
	void	   *(*load) (const bytea *blob, int nfeatures, int nclasses);
	void		(*predict) (void *impl, const double *X, int n, int p, double *out);
	bool		streams;
} AlgorithmOps;

/* train/train_data.c */
extern void TrainDataRows(const TrainData *td, bool validation, int start, int n,
						  double *out);
extern void TrainDataFloatRows(const TrainData *td, bool validation, int start, int n,
							   float *out);
extern void TrainDataFloatColumns(const TrainData *td);
extern void TrainDataSetRows(TrainData *td, const Featurizer *fz, const Dataset *ds,
							 const int *rows, const int *val_rows);
extern void TrainDataRowsDone(const TrainData *td);

/* train/linear_model.c: least squares and ridge from rows in blocks */
struct LinearAccum;
extern void LsqAddRows(struct LinearAccum *acc, const TrainData *td);
extern bytea *LsqFinish(struct LinearAccum *acc, MlopsAlgorithm algorithm, const HyperParams *hp,
						StringInfo info, double *importance);

extern const AlgorithmOps xgboost_ops;
extern const AlgorithmOps linear_ops;
extern const AlgorithmOps lstsq_ops;
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
	bool		all_numeric;	/* every source column a number, so arrays can
								 * be scored (set by the model cache) */
	bool		has_categories; /* an input is categorical (likewise) */
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
extern void ModelScoreRows(const MlopsModel *m, const Dataset *ds, const int *rows,
						   int nrows, StringInfo metrics, double **pred);
extern double ModelPredictValue(const MlopsModel *m, const double *out);
extern int	ModelArgmax(const double *proba, int k);

#endif							/* MLOPS_MODEL_H */
