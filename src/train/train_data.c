/*-------------------------------------------------------------------------
 *
 * train_data.c
 *	  The featurized rows a fit reads: materialized, or a block at a time.
 *
 * Linear solvers want the whole column-major matrix.  XGBoost does not:
 * it builds its quantized matrix from blocks of rows, so for it the rows
 * stay in the data set and are featurized block by block while libxgboost
 * reads them; the training never holds a featurized copy of the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "serve/model.h"

/*
 * Give td its training rows (and nval validation rows): the data set's rows
 * through the featurizer, materialized as column-major X and Xval unless
 * the algorithm streams them.  td->algorithm, n and nval are set.
 */
void
TrainDataSetRows(TrainData *td, const Featurizer *fz, const Dataset *ds,
				 const int *rows, const int *val_rows)
{
	td->fz = fz;
	td->ds = ds;
	td->rows = rows;
	td->val_rows = val_rows;
	td->p = fz->nfeatures;
	if (ModelOps(td->algorithm)->streams)
		return;
	td->X = FeaturizerMatrix(fz, ds, rows, td->n);
	if (td->nval > 0)
		td->Xval = FeaturizerMatrix(fz, ds, val_rows, td->nval);
}

/*
 * Rows start .. start + n - 1 of the training (or validation) rows,
 * featurized, row-major into out (n x p).
 */
void
TrainDataRows(const TrainData *td, bool validation, int start, int n, double *out)
{
	const double *X = validation ? td->Xval : td->X;
	int			nrows = validation ? td->nval : td->n;

	Assert(start >= 0 && n >= 0 && start + n <= nrows);
	if (X == NULL)
	{
		FeaturizerDatasetRows(td->fz, td->ds, (validation ? td->val_rows : td->rows) + start,
							  n, out);
		return;
	}
	for (int j = 0; j < td->p; j++)
	{
		const double *col = X + (size_t) j * nrows + start;

		for (int i = 0; i < n; i++)
			out[(size_t) i * td->p + j] = col[i];
	}
}

/*
 * Tell the caller that the fit will not read td's rows (X and Xval, or the
 * data set's) any more, so that it may free them before the boosting
 * rounds or the solver allocate their own memory.
 */
void
TrainDataRowsDone(const TrainData *td)
{
	if (td->rows_done != NULL)
		td->rows_done(td->rows_done_arg);
}
