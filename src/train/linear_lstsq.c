/*-------------------------------------------------------------------------
 *
 * linear_lstsq.c
 *	  The centered views of a materialized design matrix (column means, a
 *	  centered copy, the centered Gram matrix) and LinearFitRegression, the
 *	  entry point of elastic net (linear_enet.c) on such a matrix.
 *
 * Least squares and ridge do not come here: they train from rows streamed
 * into the statistics of linear_accum.c, whose file header describes their
 * solvers (the minimum-norm solution with numpy.linalg.lstsq's cutoff of
 * small singular values, and ridge as the least-squares problem
 * [X; sqrt(alpha) I] w = [y; 0]).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <cblas.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "train/linear.h"
#include "train/linear_internal.h"

/*
 * Column means of X, or zeros when no intercept is fitted.
 */
static double *
LinearColumnMeans(const double *X, int n, int p, bool fit_intercept)
{
	double	   *mean = LinearAlloc(p, true);

	if (fit_intercept)
	{
		for (int j = 0; j < p; j++)
		{
			const double *col = X + (size_t) j * n;
			double		sum = 0;

			for (int i = 0; i < n; i++)
				sum += col[i];
			mean[j] = sum / n;
		}
	}
	return mean;
}

/*
 * Copy of X minus its column means, with leading dimension ld >= n; rows n
 * to ld - 1 are zero.
 */
double *
LinearCenteredCopy(const double *X, int n, int p, const double *mean, int ld)
{
	double	   *A = LinearAlloc((size_t) ld * p, ld > n);

	for (int j = 0; j < p; j++)
	{
		const double *col = X + (size_t) j * n;
		double	   *dst = A + (size_t) j * ld;

		for (int i = 0; i < n; i++)
			dst[i] = col[i] - mean[j];
	}
	return A;
}

/*
 * Gram matrix Q = Xc'Xc (full, p x p), q = Xc'yc and yy = yc'yc of the
 * centered data, accumulated over blocks of rows.
 */
void
LinearCenteredGram(const double *X, const double *y, int n, int p,
				   const double *xmean, double ymean,
				   double *Q, double *q, double *yy)
{
	int			block = LinearBlockRows(n, p + 1);
	double	   *xb = LinearAlloc((size_t) block * p, false);
	double	   *yb = LinearAlloc(block, false);

	memset(Q, 0, sizeof(double) * p * p);
	memset(q, 0, sizeof(double) * p);
	*yy = 0;
	for (int i0 = 0; i0 < n; i0 += block)
	{
		int			b = Min(block, n - i0);

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < p; j++)
		{
			const double *col = X + (size_t) j * n + i0;

			for (int i = 0; i < b; i++)
				xb[(size_t) j * b + i] = col[i] - xmean[j];
		}
		for (int i = 0; i < b; i++)
		{
			yb[i] = y[i0 + i] - ymean;
			*yy += yb[i] * yb[i];
		}
		cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, p, b,
					1.0, xb, b, 1.0, Q, p);
		cblas_dgemv(CblasColMajor, CblasTrans, b, p,
					1.0, xb, b, yb, 1, 1.0, q, 1);
	}
	for (int j = 0; j < p; j++)
		for (int i = j + 1; i < p; i++)
			Q[(size_t) j * p + i] = Q[(size_t) i * p + j];
	pfree(xb);
	pfree(yb);
}

/*
 * Fit an elastic-net model (lasso with l1_ratio = 1) on the materialized
 * matrix X.
 */
LinearModel *
LinearFitRegression(LinearKind kind, const double *X, const double *y,
					int n, int p, const LinearParams *params)
{
	LinearModel *model;
	MemoryContext fitctx;
	MemoryContext oldctx;
	double	   *xmean;
	double		ymean = 0;

	LinearCheckProblem(n, p, params);
	if (kind != LINEAR_ELASTIC_NET)
		elog(ERROR, "linear model kind %d is not fitted on a matrix", (int) kind);

	model = LinearNewModel(kind, p, 0, 1);
	model->converged = true;

	fitctx = AllocSetContextCreate(CurrentMemoryContext, "linear model fit",
								   ALLOCSET_DEFAULT_SIZES);
	oldctx = MemoryContextSwitchTo(fitctx);

	xmean = LinearColumnMeans(X, n, p, params->fit_intercept);
	if (params->fit_intercept)
	{
		for (int i = 0; i < n; i++)
			ymean += y[i];
		ymean /= n;
	}

	LinearFitElasticNet(X, y, n, p, params, xmean, ymean, model);
	model->intercept[0] = ymean - cblas_ddot(p, xmean, 1, model->coef, 1);

	MemoryContextSwitchTo(oldctx);
	MemoryContextDelete(fitctx);
	return model;
}
