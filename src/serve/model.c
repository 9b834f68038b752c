/*-------------------------------------------------------------------------
 *
 * model.c
 *	  Dispatch to the algorithms and interpretation of their outputs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "serve/model.h"
#include "train/metrics.h"

#define PREDICT_BLOCK 1024		/* rows scored at a time */

/*
 * The implementation of an algorithm.
 */
const AlgorithmOps *
ModelOps(MlopsAlgorithm alg)
{
	if (ALG_IS_TREE(alg))
		return &xgboost_ops;
	return (alg == ALG_LINEAR || alg == ALG_RIDGE) ? &lstsq_ops : &linear_ops;
}

/*
 * The serialization format version written for an algorithm.
 */
int
ModelFormat(MlopsAlgorithm alg)
{
	return ALG_IS_TREE(alg) ? MODEL_FORMAT_XGBOOST : MODEL_FORMAT_LINEAR;
}

/*
 * Number of outputs per row: class probabilities, or one value.
 */
int
ModelOutputs(const MlopsModel *m)
{
	return m->task == TASK_CLASSIFICATION ? m->nclasses : 1;
}

/*
 * Score n featurized row-major rows.
 */
void
ModelPredictRows(const MlopsModel *m, const double *X, int n, double *out)
{
	m->ops->predict(m->impl, X, n, m->fz->nfeatures, out);
}

/*
 * Index of the most probable class; the first one on ties.
 */
int
ModelArgmax(const double *proba, int k)
{
	int			best = 0;

	for (int c = 1; c < k; c++)
		if (proba[c] > proba[best])
			best = c;
	return best;
}

/*
 * The value predict() returns for one row's outputs: the regression value,
 * the predicted label's value when labels are numeric or boolean, or its
 * index in label order when they are text.
 */
double
ModelPredictValue(const MlopsModel *m, const double *out)
{
	int			c;

	if (m->task == TASK_REGRESSION)
		return out[0];
	c = ModelArgmax(out, m->nclasses);
	return m->labels_numeric ? m->label_values[c] : (double) c;
}

/*
 * Score rows of a dataset read for the model: out receives nrows x
 * ModelOutputs(m) values.  Rows are featurized and scored in blocks.
 */
void
ModelPredictDataset(const MlopsModel *m, const Dataset *ds, const int *rows,
					int nrows, double *out)
{
	int			p = m->fz->nfeatures;
	double	   *block = palloc(sizeof(double) * PREDICT_BLOCK * p);

	for (int start = 0; start < nrows; start += PREDICT_BLOCK)
	{
		int			n = Min(PREDICT_BLOCK, nrows - start);

		FeaturizerDatasetRows(m->fz, ds, rows + start, n, block);
		ModelPredictRows(m, block, n, out + (size_t) start * ModelOutputs(m));
	}
	pfree(block);
}

/*
 * Score rows of a dataset with a loaded model and append the metrics (JSON
 * object members, no braces) to "metrics".  When pred is not NULL, it
 * receives the model's outputs (nrows x ModelOutputs).
 */
void
ModelScoreRows(const MlopsModel *m, const Dataset *ds, const int *rows, int nrows,
			   StringInfo metrics, double **pred)
{
	int			nout = ModelOutputs(m);
	double	   *out = palloc_extended(sizeof(double) * (size_t) nrows * nout, MCXT_ALLOC_HUGE);
	double	   *y = DatasetTargets(ds, rows, nrows);

	ModelPredictDataset(m, ds, rows, nrows, out);
	MetricsOfOutputs(metrics, y, out, nrows,
					 m->task == TASK_CLASSIFICATION ? m->nclasses : 0);
	if (pred != NULL)
		*pred = out;
	else
		pfree(out);
	pfree(y);
}
