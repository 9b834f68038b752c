/*-------------------------------------------------------------------------
 *
 * linear_lstsq.c
 *	  Least squares and ridge regression in closed form, and
 *	  LinearFitRegression, the entry point of the regressions (elastic net
 *	  in linear_enet.c).
 *
 * - Least squares (LinearRegression) centers X and y when an intercept is
 *	 fitted and takes the minimum-norm solution from LAPACK's dgelsd.
 *	 Singular values below max(n, p) * machine epsilon times the largest
 *	 are taken as zero, the default rcond of numpy.linalg.lstsq: on a
 *	 rank-deficient design (duplicate or constant columns, one-hot groups
 *	 that sum to a constant or to a numeric column, more features than
 *	 rows) the directions that rounding leaves a little above zero would
 *	 otherwise be kept with huge coefficients that depend on the order of
 *	 the rows.  scikit-learn (scipy.linalg.lstsq, rcond = epsilon) keeps
 *	 them; numpy's cutoff gives the stable minimum-norm solution.
 *
 * - Ridge solves the centered normal equations (X'X + alpha I) w = X'y by
 *	 Cholesky (dposv), or the kernel form (XX' + alpha I) a = y, w = X'a when
 *	 there are more features than rows, as scikit-learn's cholesky solver
 *	 does.  Should Cholesky fail on a numerically singular matrix, the same
 *	 problem is solved as the least-squares problem [X; sqrt(alpha) I] w =
 *	 [y; 0], which with alpha = 0 is ordinary least squares.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include <cblas.h>
#include <lapacke.h>

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
 * Minimum-norm solution of the centered least-squares problem, with the
 * rows sqrt(alpha) I appended when alpha > 0 (ridge), by LAPACK dgelsd
 * with numpy.linalg.lstsq's cutoff of small singular values (see the file
 * header).
 */
static void
LinearFitLeastSquares(const double *X, const double *y, int n, int p,
					  double alpha, const double *xmean, double ymean,
					  double *w)
{
	int			m = (alpha > 0) ? n + p : n;
	int			ldb = Max(m, p);
	double	   *A = LinearCenteredCopy(X, n, p, xmean, m);
	double	   *b = LinearAlloc(ldb, true);
	double	   *sv = LinearAlloc(Min(m, p), false);
	lapack_int	rank;

	if (alpha > 0)
		for (int j = 0; j < p; j++)
			A[(size_t) j * m + n + j] = sqrt(alpha);
	for (int i = 0; i < n; i++)
		b[i] = y[i] - ymean;

	LinearCheckLapack("dgelsd",
					  LAPACKE_dgelsd(LAPACK_COL_MAJOR, m, p, 1, A, m, b, ldb,
									 sv, Max(m, p) * DBL_EPSILON, &rank));
	memcpy(w, b, sizeof(double) * p);
	pfree(A);
	pfree(b);
	pfree(sv);
}

/*
 * Ridge regression by Cholesky on the normal equations (p <= n) or on the
 * kernel matrix (p > n); least squares when alpha = 0 or when the matrix is
 * numerically singular.
 */
static void
LinearFitRidge(const double *X, const double *y, int n, int p, double alpha,
			   const double *xmean, double ymean, double *w)
{
	lapack_int	info;

	if (alpha == 0)
	{
		LinearFitLeastSquares(X, y, n, p, 0, xmean, ymean, w);
		return;
	}

	if (p <= n)
	{
		double	   *Q = LinearAlloc((size_t) p * p, false);
		double	   *q = LinearAlloc(p, false);
		double		yy;

		LinearCenteredGram(X, y, n, p, xmean, ymean, Q, q, &yy);
		for (int j = 0; j < p; j++)
			Q[(size_t) j * p + j] += alpha;
		info = LAPACKE_dposv(LAPACK_COL_MAJOR, 'U', p, 1, Q, p, q, p);
		if (info == 0)
			memcpy(w, q, sizeof(double) * p);
		pfree(Q);
		pfree(q);
	}
	else
	{
		double	   *Xc = LinearCenteredCopy(X, n, p, xmean, n);
		double	   *K = LinearAlloc((size_t) n * n, false);
		double	   *a = LinearAlloc(n, false);

		cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, n, p,
					1.0, Xc, n, 0.0, K, n);
		for (int i = 0; i < n; i++)
		{
			K[(size_t) i * n + i] += alpha;
			a[i] = y[i] - ymean;
		}
		info = LAPACKE_dposv(LAPACK_COL_MAJOR, 'U', n, 1, K, n, a, n);
		if (info == 0)
			cblas_dgemv(CblasColMajor, CblasTrans, n, p,
						1.0, Xc, n, a, 1, 0.0, w, 1);
		pfree(Xc);
		pfree(K);
		pfree(a);
	}

	if (info > 0)
		LinearFitLeastSquares(X, y, n, p, alpha, xmean, ymean, w);
	else
		LinearCheckLapack("dposv", info);
}

/*
 * Fit a least-squares, ridge or elastic-net model; see the file header.
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
	if (kind != LINEAR_OLS && kind != LINEAR_RIDGE &&
		kind != LINEAR_ELASTIC_NET)
		elog(ERROR, "linear model kind %d is not a regression", (int) kind);

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

	switch (kind)
	{
		case LINEAR_OLS:
			LinearFitLeastSquares(X, y, n, p, 0, xmean, ymean, model->coef);
			break;
		case LINEAR_RIDGE:
			LinearFitRidge(X, y, n, p, params->alpha, xmean, ymean,
						   model->coef);
			break;
		default:
			LinearFitElasticNet(X, y, n, p, params, xmean, ymean, model);
			break;
	}
	model->intercept[0] = ymean - cblas_ddot(p, xmean, 1, model->coef, 1);

	MemoryContextSwitchTo(oldctx);
	MemoryContextDelete(fitctx);
	return model;
}
