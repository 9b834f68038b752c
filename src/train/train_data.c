/*-------------------------------------------------------------------------
 *
 * train_data.c
 *	  The featurized rows a fit reads: materialized, or a block at a time.
 *
 * Linear solvers want the whole column-major matrix.  XGBoost does not:
 * it builds its quantized matrix from blocks of rows, so for it the rows
 * stay in the data set and are featurized block by block while libxgboost
 * reads them; the training never holds a featurized copy of the table.
 * When the caller can give the data set's columns up one at a time (a
 * training run, which keeps only the held-out rows), the rows move
 * instead into columns of floats, the values libxgboost receives: each
 * column of doubles is freed as soon as its floats are written, so the
 * fit's peak holds half the bytes of the training rows, and libxgboost's
 * passes over the rows copy floats instead of featurizing again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "serve/model.h"

/* rows of a block copied from the float columns at a time */
#define TRAIN_DATA_TILE_ROWS 16
/* rows of a block featurized from the data set at a time */
#define TRAIN_DATA_CHUNK_ROWS 256

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
	{
		td->cols = palloc0(sizeof(float *) * Max(1, td->p));
		return;
	}
	td->X = FeaturizerMatrix(fz, ds, rows, td->n);
	if (td->nval > 0)
		td->Xval = FeaturizerMatrix(fz, ds, val_rows, td->nval);
}

/*
 * For a streaming fit whose caller releases the data set's columns
 * (input_done set): featurize the training and validation rows into
 * td->cols, input by input, telling the caller after each input that its
 * column is no longer read, then that no row of the data set is (the
 * rows_done callback).  Nothing to do otherwise, nor when the floats would
 * take more bytes than the doubles they replace (one-hot encoded
 * categories): the rows are then featurized from the data set as they are
 * read.
 */
void
TrainDataFloatColumns(const TrainData *td)
{
	const Featurizer *fz = td->fz;
	float	  **cols = td->cols;

	if (td->X != NULL || td->input_done == NULL || cols == NULL || cols[0] != NULL ||
		(double) fz->nfeatures * sizeof(float) > (double) fz->ninputs * sizeof(double))
		return;
	for (int k = 0; k < fz->ninputs; k++)
	{
		const FeatureInput *in = &fz->inputs[k];
		float	  **mine = cols + in->first_feature;

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < in->nfeatures; j++)
			mine[j] = palloc_extended(sizeof(float) * Max(1, td->n + td->nval), MCXT_ALLOC_HUGE);
		FeaturizerInputColumns(fz, td->ds, k, td->rows, td->n, mine);
		if (td->nval > 0)
		{
			float	  **val = palloc(sizeof(float *) * in->nfeatures);

			for (int j = 0; j < in->nfeatures; j++)
				val[j] = mine[j] + td->n;
			FeaturizerInputColumns(fz, td->ds, k, td->val_rows, td->nval, val);
			pfree(val);
		}
		td->input_done(td->rows_done_arg, k);
	}
	if (td->rows_done != NULL)
		td->rows_done(td->rows_done_arg);
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
 * TrainDataRows as floats (each the float of the double): from the float
 * columns once TrainDataFloatColumns has made them, else converted.
 */
void
TrainDataFloatRows(const TrainData *td, bool validation, int start, int n, float *out)
{
	int			p = td->p;

	Assert(start >= 0 && n >= 0 && start + n <= (validation ? td->nval : td->n));
	if (td->cols != NULL && td->cols[0] != NULL)
	{
		int			first = start + (validation ? td->n : 0);

		/* a tile of rows at a time, so that both sides stay in cache */
		for (int i0 = 0; i0 < n; i0 += TRAIN_DATA_TILE_ROWS)
		{
			int			m = Min(TRAIN_DATA_TILE_ROWS, n - i0);

			for (int j = 0; j < p; j++)
			{
				const float *col = td->cols[j] + first + i0;
				float	   *o = out + (size_t) i0 * p + j;

				for (int i = 0; i < m; i++)
					o[(size_t) i * p] = col[i];
			}
		}
	}
	else
	{
		double	   *block = palloc(sizeof(double) * TRAIN_DATA_CHUNK_ROWS * Max(1, p));

		for (int i0 = 0; i0 < n; i0 += TRAIN_DATA_CHUNK_ROWS)
		{
			int			m = Min(TRAIN_DATA_CHUNK_ROWS, n - i0);

			TrainDataRows(td, validation, start + i0, m, block);
			for (size_t k = 0; k < (size_t) m * p; k++)
				out[(size_t) i0 * p + k] = (float) block[k];
		}
		pfree(block);
	}
}

/*
 * Tell the caller that the fit will not read td's rows (X and Xval, or the
 * data set's) any more, so that it may free them before the boosting
 * rounds or the solver allocate their own memory; the float columns are
 * freed here.
 */
void
TrainDataRowsDone(const TrainData *td)
{
	for (int j = 0; td->cols != NULL && j < td->p && td->cols[j] != NULL; j++)
	{
		pfree(td->cols[j]);
		td->cols[j] = NULL;
	}
	if (td->rows_done != NULL)
		td->rows_done(td->rows_done_arg);
}
