/*-------------------------------------------------------------------------
 *
 * linear.c
 *	  Numeric core of the linear algorithms: least squares, ridge, elastic
 *	  net (lasso) and logistic regression.
 *
 * Every solver reproduces the scikit-learn 1.2 estimator of the same name,
 * so that a model trained here has the coefficients a data scientist gets
 * in Python:
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
 * - Elastic net runs scikit-learn's cyclic coordinate descent from w = 0,
 *	 with its stopping rule: the duality gap is computed when the largest
 *	 coordinate change of a sweep falls below tol relative to the largest
 *	 coefficient, and the descent stops when the gap is below tol * ||y||^2.
 *	 When there are more rows than features the sweeps use the Gram matrix
 *	 X'X (scikit-learn's "precompute"), otherwise the residual vector; both
 *	 make the same updates, so they stop after the same sweep.
 *
 * - Logistic regression minimizes C * sum(w_i log loss_i) + ||W||^2 / 2
 *	 (no penalty when C = 0; intercepts are never penalized; the row
 *	 weights w_i are those of the rows' classes, 1 by default, as
 *	 scikit-learn's sample_weight) with Newton's
 *	 method and a backtracking line search.  Binary and multinomial models
 *	 share one formulation: the probabilities are a softmax over the model's
 *	 scores, and a binary model adds a reference class whose score is 0, so
 *	 that its single row of coefficients gives sigmoid probabilities.  The
 *	 multinomial loss is unchanged when the same vector is added to every
 *	 class's coefficients; those directions, which make the Hessian
 *	 singular, are filled in before the Cholesky solve, leaving the Newton
 *	 step unchanged (the gradient has no component along them).  Newton
 *	 stops when a full step changes no coefficient by more than tol relative
 *	 to the largest coefficient; quadratic convergence then leaves an error
 *	 of about tol^2.
 *
 * Passes over the rows work on blocks of rows, so that their working
 * memory stays small whatever the number of rows, and products of blocks
 * are done by BLAS.  A Newton iteration whose full step is accepted takes
 * one pass: the pass that checks the step also computes the gradient and
 * Hessian of the next iteration.  Nothing is random: the same data give
 * the same model.
 *
 * Models are serialized into a bytea: the magic "MLLIN", a format version,
 * the kind, a flags byte, four int32 sizes and the coefficients and
 * intercepts as float8, in the byte order of the server.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include <cblas.h>
#include <lapacke.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "linear.h"
#include "progress.h"

/* serialized form */
#define LINEAR_MAGIC			"MLLIN"
#define LINEAR_MAGIC_LEN		5
#define LINEAR_FORMAT_VERSION	1
#define LINEAR_HEADER_SIZE		24	/* magic, version, kind, flags, 4 int32 */
#define LINEAR_FLAG_CONVERGED	0x01

/* doubles of working memory for one block of rows in a pass (256 kB) */
#define LINEAR_BLOCK_DOUBLES	(1 << 15)
#define LINEAR_MIN_BLOCK_ROWS	64

/* Newton's method */
#define LINEAR_ARMIJO			1e-4	/* sufficient decrease of a step */
#define LINEAR_MAX_HALVINGS		60	/* backtracking steps of a line search */
#define LINEAR_MAX_SHIFTS		6	/* ridge retries of a singular Hessian */

/*
 * Coordinate descent problem, in residual or Gram form.
 */
typedef struct EnetProblem
{
	int			n;				/* rows; 0 in Gram form */
	int			p;
	const double *xc;			/* centered X, n x p (residual form) */
	const double *yc;			/* centered y (residual form) */
	double	   *resid;			/* y - Xw (residual form) */
	const double *gram;			/* X'X, p x p (Gram form) */
	const double *xty;			/* X'y (Gram form) */
	double	   *xtxw;			/* X'Xw (Gram form) */
	double		yy;				/* y'y */
	double	   *colnorm;		/* squared norms of the columns of X */
	double	   *xtr;			/* scratch: X'(y - Xw) */
} EnetProblem;

/*
 * Logistic regression problem and the working memory of its row passes.
 */
typedef struct LogisticProblem
{
	const double *X;
	const int  *y;
	const double *class_weight; /* weight of each class's rows, or NULL */
	int			n;
	int			p;
	int			noutputs;		/* rows of coefficients */
	bool		reference;		/* binary: class 0 is a reference with score 0 */
	bool		intercept;
	int			stride;			/* unknowns per output: p (+ 1 intercept) */
	int			m;				/* unknowns: noutputs * stride */
	double		weight;			/* C, or 1 without penalty */
	double		penalty;		/* 1, or 0 without penalty */
	int			block;			/* rows per block of a pass */
	double	   *prob;			/* block x noutputs, row after row */
	double	   *pref;			/* block: probability of the reference class
								 * (0 without one) */
	double	   *scale;			/* block: factors of the rows */
	double	   *wx;				/* block x stride, column-major: scaled rows
								 * of [X 1] */
	double	   *v;				/* block x m, column-major (multinomial) */
} LogisticProblem;

/*
 * Allocate an array of doubles in CurrentMemoryContext, beyond 1 GB if
 * needed, optionally zeroed.
 */
static double *
LinearAlloc(size_t count, bool zero)
{
	if (count > MaxAllocHugeSize / sizeof(double))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("linear model needs too much memory"),
				 errdetail("An array of %zu values was requested.", count)));
	return (double *) MemoryContextAllocExtended(CurrentMemoryContext,
												 Max(count, 1) * sizeof(double),
												 MCXT_ALLOC_HUGE |
												 (zero ? MCXT_ALLOC_ZERO : 0));
}

/*
 * Raise an error for a failed LAPACK call.
 */
static void
LinearCheckLapack(const char *routine, lapack_int info)
{
	if (info != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("linear algebra routine failed while fitting a linear model"),
				 errdetail("LAPACK routine %s returned info = %d.",
						   routine, (int) info)));
}

/*
 * Rows per block for a pass whose working set is "width" doubles per row.
 */
static int
LinearBlockRows(int n, int width)
{
	int			rows = Max(LINEAR_BLOCK_DOUBLES / Max(width, 1),
						   LINEAR_MIN_BLOCK_ROWS);

	return Min(rows, n);
}

/*
 * Check the sizes and parameters handed over by the caller, which has
 * validated user input already.
 */
static void
LinearCheckProblem(int n, int p, const LinearParams *params)
{
	if (n < 1 || p < 1)
		elog(ERROR, "linear model needs at least one row and one feature, got %d x %d",
			 n, p);
	if (n > INT_MAX - p)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("linear model of %d rows and %d features is too large", n, p),
				 errdetail("Rows and features together must stay below %d.", INT_MAX)));
	if (!(params->alpha >= 0) || !isfinite(params->alpha) ||
		!(params->l1_ratio >= 0 && params->l1_ratio <= 1) ||
		!(params->C >= 0) || !isfinite(params->C) ||
		params->max_iter < 1 || !(params->tol > 0) || !isfinite(params->tol))
		elog(ERROR, "invalid linear model parameters: alpha %g, l1_ratio %g, C %g, max_iter %d, tol %g",
			 params->alpha, params->l1_ratio, params->C, params->max_iter,
			 params->tol);
}

/*
 * An estimate of the bytes a fit of n rows and p features allocates besides
 * X and y, for mlops.max_train_memory: the copies of X, the Gram or kernel
 * matrix, the blocks of rows, LAPACK's workspace (dgelsd's is about 256
 * values per unit of the smaller dimension), Newton's Hessians and the
 * labels as integers.  Ridge counts the least-squares problem it falls back
 * to on a singular matrix, after freeing its own.
 */
double
LinearFitMemory(LinearKind kind, int n, int p, int nclasses, bool fit_intercept)
{
	double		dn = n,
				dp = p;
	double		block = Max(LINEAR_BLOCK_DOUBLES, (double) LINEAR_MIN_BLOCK_ROWS * (dp + 1));
	double		lstsq_work = 256 * Min(dn, dp) + 1024;
	double		doubles = 0;

	switch (kind)
	{
		case LINEAR_OLS:
			doubles = dn * dp + dn + dp + lstsq_work;
			break;
		case LINEAR_RIDGE:
			doubles = (p <= n) ? dp * dp + dp + block : dn * dp + dn * dn + dn;
			doubles = Max(doubles, (dn + dp) * dp + dn + 2 * dp + lstsq_work);
			break;
		case LINEAR_ELASTIC_NET:
			doubles = 2 * dp + ((n > p) ? dp * dp + 2 * dp + block : dn * dp + 2 * dn);
			break;
		case LINEAR_LOGISTIC:
			{
				double		noutputs = (nclasses == 2) ? 1 : nclasses;
				double		stride = dp + (fit_intercept ? 1 : 0);
				double		m = noutputs * stride;
				double		width = dp + stride + noutputs + 2 + ((nclasses == 2) ? 0 : m);
				double		rows = Min(dn, Max(LINEAR_BLOCK_DOUBLES / width, LINEAR_MIN_BLOCK_ROWS));

				doubles = 2 * m * m + 4 * m + rows * width + dn * sizeof(int) / sizeof(double);
			}
			break;
	}
	return (doubles + dp) * sizeof(double);
}

/*
 * Allocate an empty model in CurrentMemoryContext.
 */
static LinearModel *
LinearNewModel(LinearKind kind, int p, int nclasses, int noutputs)
{
	LinearModel *model = palloc0(sizeof(LinearModel));

	model->kind = kind;
	model->nfeatures = p;
	model->nclasses = nclasses;
	model->noutputs = noutputs;
	model->coef = LinearAlloc((size_t) noutputs * p, true);
	model->intercept = LinearAlloc(noutputs, true);
	return model;
}

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
static double *
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
static void
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
 * Add a * X_j to the fitted values Xw of a coordinate descent problem.
 */
static void
EnetAddFit(EnetProblem *prob, int j, double a)
{
	if (prob->gram)
		cblas_daxpy(prob->p, a, prob->gram + (size_t) j * prob->p, 1,
					prob->xtxw, 1);
	else
		cblas_daxpy(prob->n, -a, prob->xc + (size_t) j * prob->n, 1,
					prob->resid, 1);
}

/*
 * Correlation X_j'(y - Xw) of feature j with the current residual.
 */
static double
EnetCorrelation(const EnetProblem *prob, int j)
{
	if (prob->gram)
		return prob->xty[j] - prob->xtxw[j];
	return cblas_ddot(prob->n, prob->xc + (size_t) j * prob->n, 1,
					  prob->resid, 1);
}

/*
 * Duality gap of the elastic net at w, as scikit-learn computes it; l1 and
 * l2 are the penalties scaled by the number of rows.
 */
static double
EnetDualityGap(EnetProblem *prob, const double *w, double l1, double l2)
{
	int			p = prob->p;
	double		rnorm2;
	double		ry;
	double		dual = 0;
	double		c;
	double		gap;

	if (prob->gram)
	{
		double		qw = cblas_ddot(p, prob->xty, 1, w, 1);

		for (int j = 0; j < p; j++)
			prob->xtr[j] = prob->xty[j] - prob->xtxw[j];
		rnorm2 = prob->yy + cblas_ddot(p, w, 1, prob->xtxw, 1) - 2.0 * qw;
		ry = prob->yy - qw;
	}
	else
	{
		cblas_dgemv(CblasColMajor, CblasTrans, prob->n, p, 1.0, prob->xc,
					prob->n, prob->resid, 1, 0.0, prob->xtr, 1);
		rnorm2 = cblas_ddot(prob->n, prob->resid, 1, prob->resid, 1);
		ry = cblas_ddot(prob->n, prob->resid, 1, prob->yc, 1);
	}

	for (int j = 0; j < p; j++)
		dual = fmax(dual, fabs(prob->xtr[j] - l2 * w[j]));
	if (dual > l1)
	{
		c = l1 / dual;
		gap = 0.5 * rnorm2 * (1.0 + c * c);
	}
	else
	{
		c = 1.0;
		gap = rnorm2;
	}
	gap += l1 * cblas_dasum(p, w, 1) - c * ry +
		0.5 * l2 * (1.0 + c * c) * cblas_ddot(p, w, 1, w, 1);
	return gap;
}

/*
 * Elastic net by cyclic coordinate descent from w = 0, stopping on
 * scikit-learn's duality-gap rule.  Fills model->coef, iterations and
 * converged.
 */
static void
LinearFitElasticNet(const double *X, const double *y, int n, int p,
					const LinearParams *params, const double *xmean,
					double ymean, LinearModel *model)
{
	EnetProblem prob;
	double	   *w = model->coef;
	double		l1 = params->alpha * params->l1_ratio * n;
	double		l2 = params->alpha * (1.0 - params->l1_ratio) * n;
	double		gaptol;
	int			iter;

	memset(&prob, 0, sizeof(prob));
	prob.p = p;
	prob.colnorm = LinearAlloc(p, false);
	prob.xtr = LinearAlloc(p, false);
	if (n > p)
	{
		double	   *Q = LinearAlloc((size_t) p * p, false);
		double	   *q = LinearAlloc(p, false);

		LinearCenteredGram(X, y, n, p, xmean, ymean, Q, q, &prob.yy);
		prob.gram = Q;
		prob.xty = q;
		prob.xtxw = LinearAlloc(p, true);
		for (int j = 0; j < p; j++)
			prob.colnorm[j] = Q[(size_t) j * p + j];
	}
	else
	{
		double	   *yc = LinearAlloc(n, false);

		for (int i = 0; i < n; i++)
			yc[i] = y[i] - ymean;
		prob.n = n;
		prob.xc = LinearCenteredCopy(X, n, p, xmean, n);
		prob.yc = yc;
		prob.resid = LinearAlloc(n, false);
		memcpy(prob.resid, yc, sizeof(double) * n);
		prob.yy = cblas_ddot(n, yc, 1, yc, 1);
		for (int j = 0; j < p; j++)
			prob.colnorm[j] = cblas_ddot(n, prob.xc + (size_t) j * n, 1,
										 prob.xc + (size_t) j * n, 1);
	}

	/*
	 * scikit-learn stops on gap < tol * ||y||^2; "<=" only differs when y is
	 * constant, where w = 0 is exact and the gap is 0.
	 */
	gaptol = params->tol * prob.yy;
	model->converged = false;
	MlopsProgressPhase("fitting", params->max_iter);
	for (iter = 0; iter < params->max_iter; iter++)
	{
		double		wmax = 0;
		double		dwmax = 0;

		CHECK_FOR_INTERRUPTS();
		MlopsProgressAdvance(iter);
		for (int j = 0; j < p; j++)
		{
			double		wold = w[j];
			double		corr;

			if (prob.colnorm[j] == 0)
				continue;
			if (wold != 0)
				EnetAddFit(&prob, j, -wold);
			corr = EnetCorrelation(&prob, j);
			w[j] = copysign(fmax(fabs(corr) - l1, 0), corr) /
				(prob.colnorm[j] + l2);
			if (w[j] != 0)
				EnetAddFit(&prob, j, w[j]);
			dwmax = fmax(dwmax, fabs(w[j] - wold));
			wmax = fmax(wmax, fabs(w[j]));
		}
		if ((wmax == 0 || dwmax / wmax < params->tol ||
			 iter == params->max_iter - 1) &&
			EnetDualityGap(&prob, w, l1, l2) <= gaptol)
		{
			model->converged = true;
			break;
		}
	}
	model->iterations = model->converged ? iter + 1 : params->max_iter;
}

/*
 * Replace the scores z[0 .. k - 1] by their softmax probabilities and
 * return log(sum(exp(z))).  With pref, the model is binary: z[0] (k = 1) is
 * the score of the second class against a reference class whose score is
 * 0, and *pref receives the probability of the reference class.
 */
static double
LinearSoftmax(double *z, int k, double *pref)
{
	double		zmax = -INFINITY;
	double		sum = 0;

	if (pref)
	{
		/*
		 * With e = exp(-|z|), log(1 + exp(z)) = max(z, 0) + log(1 + e).  Not
		 * log1p(e): as in the softmax, a row fitted to machine precision has
		 * a loss of 0, so that on separable data, which has no optimum
		 * without penalty, the objective reaches a minimum and Newton's
		 * method stops.
		 */
		bool		positive = (z[0] > 0);
		double		e = exp(-fabs(z[0]));
		double		large = 1.0 / (1.0 + e);
		double		small = e * large;
		double		lse = (positive ? z[0] : 0) + log(1.0 + e);

		*pref = positive ? small : large;
		z[0] = positive ? large : small;
		return lse;
	}

	for (int l = 0; l < k; l++)
		zmax = Max(zmax, z[l]);
	for (int l = 0; l < k; l++)
	{
		z[l] = exp(z[l] - zmax);
		sum += z[l];
	}
	for (int l = 0; l < k; l++)
		z[l] /= sum;
	return zmax + log(sum);
}

/*
 * The weight of row i in the loss: its class's weight.
 */
static inline double
LogisticRowWeight(const LogisticProblem *prob, int i)
{
	return prob->class_weight ? prob->class_weight[prob->y[i]] : 1.0;
}

/*
 * Rows of the block [xb 1] (b rows, the intercept column only when one is
 * fitted) multiplied by the factors s[0 .. b - 1], into out (b x stride,
 * column-major).
 */
static void
LogisticScaleRows(const LogisticProblem *prob, const double *xb, int b,
				  const double *s, double *out)
{
	for (int j = 0; j < prob->p; j++)
	{
		const double *col = xb + (size_t) j * prob->n;
		double	   *dst = out + (size_t) j * b;

		for (int i = 0; i < b; i++)
			dst[i] = s[i] * col[i];
	}
	if (prob->intercept)
		memcpy(out + (size_t) prob->p * b, s, sizeof(double) * b);
}

/*
 * Add one block of b rows, starting at row i0, to the upper triangle of the
 * Hessian of the loss, sum over rows of w (diag(P) - P P') (x) [x 1] [x 1]'
 * (w the row's weight).  The upper triangle of a diagonal block
 * [X 1]' diag(W_k) [X 1] is X' times the rows scaled by
 * W_k = w P_k (1 - P_k), and sum(W_k) in the intercept's corner;
 * 1 - P_k is summed from the other probabilities (the reference class's
 * included), so that a model that fits some rows almost perfectly still
 * has an accurate, semidefinite Hessian.  The off-diagonal blocks (l, k)
 * are -V_l'V_k, where row i of V_k is sqrt(w_i) P_ik [x_i 1].
 */
static void
LogisticAccumulateHessian(LogisticProblem *prob, const double *xb, int i0,
						  int b, double *hess)
{
	int			p = prob->p;
	int			K = prob->noutputs;
	int			stride = prob->stride;
	int			m = prob->m;

	for (int k = 0; k < K; k++)
	{
		size_t		corner = (size_t) k * stride * m + (size_t) k * stride;
		double	   *vk = prob->v + (size_t) k * stride * b;
		double		wsum = 0;

		for (int i = 0; i < b; i++)
		{
			const double *pi = prob->prob + (size_t) i * K;
			double		rest = prob->pref[i];

			for (int l = 0; l < K; l++)
				if (l != k)
					rest += pi[l];
			prob->scale[i] = LogisticRowWeight(prob, i0 + i) * pi[k] * rest;
			wsum += prob->scale[i];
		}
		LogisticScaleRows(prob, xb, b, prob->scale, prob->wx);
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, p, stride, b,
					1.0, xb, prob->n, prob->wx, b, 1.0, hess + corner, m);
		if (prob->intercept)
			hess[corner + (size_t) p * m + p] += wsum;
		if (K == 1)
			continue;

		for (int i = 0; i < b; i++)
			prob->scale[i] = sqrt(LogisticRowWeight(prob, i0 + i)) *
				prob->prob[(size_t) i * K + k];
		LogisticScaleRows(prob, xb, b, prob->scale, vk);
		for (int l = 0; l < k; l++)
			cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans,
						stride, stride, b,
						-1.0, prob->v + (size_t) l * stride * b, b, vk, b,
						1.0, hess + corner - (size_t) (k - l) * stride, m);
	}
}

/*
 * Objective of logistic regression at theta and, when asked for, its
 * gradient and (upper triangle of the) Hessian, in one pass over the rows.
 * theta holds for each output its p coefficients then its intercept.
 */
static double
LogisticEvaluate(LogisticProblem *prob, const double *theta, double *grad,
				 double *hess)
{
	int			p = prob->p;
	int			K = prob->noutputs;
	int			stride = prob->stride;
	int			m = prob->m;
	double		loss = 0;
	double		penalty = 0;

	if (grad)
		memset(grad, 0, sizeof(double) * m);
	if (hess)
		memset(hess, 0, sizeof(double) * m * m);

	for (int i0 = 0; i0 < prob->n; i0 += prob->block)
	{
		int			b = Min(prob->block, prob->n - i0);
		const double *xb = prob->X + i0;

		CHECK_FOR_INTERRUPTS();

		/* scores, K per row: prob = coef' * xb' */
		cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, K, b, p,
					1.0, theta, stride, xb, prob->n, 0.0, prob->prob, K);
		for (int i = 0; i < b; i++)
		{
			double	   *z = prob->prob + (size_t) i * K;
			int			out = prob->y[i0 + i] - (prob->reference ? 1 : 0);
			double	   *pref = prob->reference ? prob->pref + i : NULL;
			double		zy = 0;

			for (int k = 0; k < K; k++)
			{
				if (prob->intercept)
					z[k] += theta[(size_t) k * stride + p];
				zy += (k == out) ? z[k] : 0;
			}
			loss += LogisticRowWeight(prob, i0 + i) * (LinearSoftmax(z, K, pref) - zy);
		}
		if (hess)
			LogisticAccumulateHessian(prob, xb, i0, b, hess);

		/* gradient of the loss: sum over rows of w (P - Y) (x) x */
		if (grad)
		{
			for (int i = 0; i < b; i++)
			{
				int			out = prob->y[i0 + i] - (prob->reference ? 1 : 0);
				double		w = LogisticRowWeight(prob, i0 + i);

				for (int k = 0; k < K; k++)
				{
					double	   *pk = prob->prob + (size_t) i * K + k;

					*pk = w * (*pk - ((k == out) ? 1.0 : 0));
				}
			}
			cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, p, K, b,
						1.0, xb, prob->n, prob->prob, K, 1.0, grad, stride);
			if (prob->intercept)
			{
				for (int k = 0; k < K; k++)
				{
					double		sum = 0;

					for (int i = 0; i < b; i++)
						sum += prob->prob[(size_t) i * K + k];
					grad[(size_t) k * stride + p] += sum;
				}
			}
		}
	}

	/* weight the loss and add the penalty on the coefficients */
	if (hess)
		cblas_dscal(m * m, prob->weight, hess, 1);
	for (int k = 0; k < K; k++)
	{
		for (int j = 0; j < p; j++)
		{
			size_t		u = (size_t) k * stride + j;

			penalty += theta[u] * theta[u];
			if (grad)
				grad[u] = prob->weight * grad[u] + prob->penalty * theta[u];
			if (hess)
				hess[u * m + u] += prob->penalty;
		}
		if (grad && prob->intercept)
			grad[(size_t) k * stride + p] *= prob->weight;
	}
	return prob->weight * loss + 0.5 * prob->penalty * penalty;
}

/*
 * Make the multinomial Hessian definite along the directions that leave
 * the loss unchanged: the same shift of every intercept and, without
 * penalty, the same vector added to every class's coefficients.  Adding
 * s u u' for those unit vectors u does not change the Newton step, as the
 * gradient is orthogonal to them.
 */
static void
LogisticFillNullSpace(const LogisticProblem *prob, double *hess)
{
	int			m = prob->m;
	int			K = prob->noutputs;
	double		s = 0;

	if (prob->reference)
		return;
	for (int u = 0; u < m; u++)
		s = fmax(s, hess[(size_t) u * m + u]);
	s = (s > 0 ? s : 1.0) / K;

	for (int j = 0; j < prob->stride; j++)
	{
		if (j < prob->p && prob->penalty > 0)
			continue;
		for (int k = 0; k < K; k++)
			for (int l = k; l < K; l++)
				hess[((size_t) l * prob->stride + j) * m + (size_t) k * prob->stride + j] += s;
	}
}

/*
 * Newton direction: solve hess * step = grad by Cholesky, adding a growing
 * multiple of the identity when hess is numerically singular (an
 * unpenalized model on collinear features).
 */
static void
LogisticNewtonStep(const LogisticProblem *prob, const double *hess,
				   const double *grad, double *work, double *step)
{
	int			m = prob->m;
	double		maxdiag = 0;
	double		shift = 0;
	lapack_int	info;

	for (int u = 0; u < m; u++)
		maxdiag = fmax(maxdiag, hess[(size_t) u * m + u]);
	if (maxdiag == 0)
		maxdiag = 1.0;

	for (int attempt = 0;; attempt++)
	{
		memcpy(work, hess, sizeof(double) * m * m);
		memcpy(step, grad, sizeof(double) * m);
		for (int u = 0; u < m; u++)
			work[(size_t) u * m + u] += shift;
		info = LAPACKE_dposv(LAPACK_COL_MAJOR, 'U', m, 1, work, m, step, m);
		if (info <= 0 || attempt == LINEAR_MAX_SHIFTS)
			break;
		shift = (shift == 0) ? 1e-12 * maxdiag : shift * 100;
	}
	LinearCheckLapack("dposv", info);
}

/*
 * Objective at trial = theta - t * step, with its gradient and Hessian into
 * grad and hess unless they are NULL.
 */
static double
LogisticTrial(LogisticProblem *prob, const double *theta, const double *step,
			  double t, double *trial, double *grad, double *hess)
{
	memcpy(trial, theta, sizeof(double) * prob->m);
	cblas_daxpy(prob->m, -t, step, 1, trial, 1);
	return LogisticEvaluate(prob, trial, grad, hess);
}

/*
 * Newton's method with a backtracking line search from theta = 0.  Returns
 * the unknowns (see LogisticEvaluate) and sets the iteration count and
 * whether it converged.
 */
static double *
LogisticNewton(LogisticProblem *prob, const LinearParams *params,
			   int *iterations, bool *converged)
{
	int			m = prob->m;
	double	   *theta = LinearAlloc(m, true);
	double	   *trial = LinearAlloc(m, false);
	double	   *grad = LinearAlloc(m, false);
	double	   *step = LinearAlloc(m, false);
	double	   *hess = LinearAlloc((size_t) m * m, false);
	double	   *work = LinearAlloc((size_t) m * m, false);
	double		f = 0;
	bool		evaluated = false;	/* grad and hess are those of theta */

	*converged = false;
	*iterations = 0;
	MlopsProgressPhase("fitting", params->max_iter);
	while (*iterations < params->max_iter)
	{
		double		decrease;
		double		ftrial;
		double		t = 1.0;
		double		stepmax = 0;
		double		thetamax = 0;
		bool		more;
		bool		accepted = false;
		double	   *swap;

		CHECK_FOR_INTERRUPTS();
		MlopsProgressAdvance(*iterations);
		if (!evaluated)
			f = LogisticEvaluate(prob, theta, grad, hess);
		LogisticFillNullSpace(prob, hess);
		LogisticNewtonStep(prob, hess, grad, work, step);
		(*iterations)++;

		for (int u = 0; u < m; u++)
		{
			stepmax = fmax(stepmax, fabs(step[u]));
			thetamax = fmax(thetamax, fabs(theta[u]));
		}
		if (stepmax <= params->tol * fmax(1.0, thetamax))
		{
			cblas_daxpy(m, -1.0, step, 1, theta, 1);
			*converged = true;
			break;
		}

		/*
		 * The full step is evaluated with its gradient and Hessian, into
		 * grad and hess, which this iteration no longer needs: accepted, as
		 * it usually is, it is the next iteration's point and the pass is
		 * not repeated.  Shorter steps are evaluated for the objective only.
		 */
		decrease = cblas_ddot(m, grad, 1, step, 1);
		more = (*iterations < params->max_iter);
		for (int h = 0; !accepted && h <= LINEAR_MAX_HALVINGS; h++, t *= 0.5)
		{
			evaluated = (h == 0 && more);
			ftrial = LogisticTrial(prob, theta, step, t, trial,
								   evaluated ? grad : NULL,
								   evaluated ? hess : NULL);
			accepted = (ftrial <= f - LINEAR_ARMIJO * t * decrease);
		}

		/*
		 * No step along a descent direction lowers the objective by a
		 * representable amount: theta is optimal to machine precision.
		 */
		if (!accepted)
		{
			*converged = true;
			break;
		}
		swap = theta;
		theta = trial;
		trial = swap;
		f = ftrial;
	}
	return theta;
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

/*
 * Fit a binary (nclasses = 2) or multinomial logistic regression; see the
 * file header.
 */
LinearModel *
LinearFitLogistic(const double *X, const int *y, int n, int p, int nclasses,
				  const double *class_weight, const LinearParams *params)
{
	LogisticProblem prob;
	LinearModel *model;
	MemoryContext fitctx;
	MemoryContext oldctx;
	double	   *theta;
	int			vwidth;

	LinearCheckProblem(n, p, params);
	if (nclasses < 2)
		elog(ERROR, "logistic regression needs at least 2 classes, got %d",
			 nclasses);
	for (int i = 0; i < n; i++)
		if (y[i] < 0 || y[i] >= nclasses)
			elog(ERROR, "class index %d out of range 0 .. %d", y[i],
				 nclasses - 1);

	memset(&prob, 0, sizeof(prob));
	prob.X = X;
	prob.y = y;
	prob.class_weight = class_weight;
	prob.n = n;
	prob.p = p;
	prob.reference = (nclasses == 2);
	prob.noutputs = prob.reference ? 1 : nclasses;
	prob.intercept = params->fit_intercept;
	prob.stride = p + (prob.intercept ? 1 : 0);
	if ((int64) prob.noutputs * prob.stride > LINEAR_MAX_NEWTON_COEFS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("logistic regression with %lld coefficients is too large",
						(long long) prob.noutputs * prob.stride),
				 errdetail("The limit is %d coefficients, counting one row of features and intercept per class (one row for two classes).",
						   LINEAR_MAX_NEWTON_COEFS),
				 errhint("Reduce the number of features or categories, or use algorithm \"xgboost\".")));
	prob.m = prob.noutputs * prob.stride;
	prob.weight = (params->C > 0) ? params->C : 1.0;
	prob.penalty = (params->C > 0) ? 1.0 : 0.0;

	model = LinearNewModel(LINEAR_LOGISTIC, p, nclasses, prob.noutputs);

	fitctx = AllocSetContextCreate(CurrentMemoryContext, "linear model fit",
								   ALLOCSET_DEFAULT_SIZES);
	oldctx = MemoryContextSwitchTo(fitctx);

	/* a block's working set: its rows of X, wx, prob, pref, scale and v */
	vwidth = prob.reference ? 0 : prob.m;
	prob.block = LinearBlockRows(n, p + prob.stride + prob.noutputs + 2 +
								 vwidth);
	prob.prob = LinearAlloc((size_t) prob.block * prob.noutputs, false);
	prob.pref = LinearAlloc(prob.block, true);
	prob.scale = LinearAlloc(prob.block, false);
	prob.wx = LinearAlloc((size_t) prob.block * prob.stride, false);
	prob.v = LinearAlloc((size_t) prob.block * vwidth, false);

	theta = LogisticNewton(&prob, params, &model->iterations,
						   &model->converged);
	for (int k = 0; k < prob.noutputs; k++)
	{
		memcpy(model->coef + (size_t) k * p, theta + (size_t) k * prob.stride,
			   sizeof(double) * p);
		model->intercept[k] = prob.intercept ? theta[(size_t) k * prob.stride + p] : 0;
	}

	MemoryContextSwitchTo(oldctx);
	MemoryContextDelete(fitctx);
	return model;
}

/*
 * Predict one row: the regression value, or the probability of each class.
 */
void
LinearPredictRow(const LinearModel *model, const double *x, double *out)
{
	int			p = model->nfeatures;
	bool		reference = (model->kind == LINEAR_LOGISTIC &&
							 model->nclasses == 2);
	double	   *z = out + (reference ? 1 : 0);

	for (int k = 0; k < model->noutputs; k++)
		z[k] = model->intercept[k] +
			cblas_ddot(p, model->coef + (size_t) k * p, 1, x, 1);
	if (model->kind == LINEAR_LOGISTIC)
		LinearSoftmax(z, model->noutputs, reference ? out : NULL);
}

/*
 * Serialize a model into a bytea; see the file header for the format.
 */
bytea *
LinearSerialize(const LinearModel *model)
{
	size_t		ncoef = (size_t) model->noutputs * model->nfeatures;
	size_t		len = LINEAR_HEADER_SIZE + sizeof(double) * (ncoef + model->noutputs);
	bytea	   *blob = palloc(VARHDRSZ + len);
	char	   *dst = VARDATA(blob);
	int32		sizes[4];

	SET_VARSIZE(blob, VARHDRSZ + len);
	memcpy(dst, LINEAR_MAGIC, LINEAR_MAGIC_LEN);
	dst[5] = LINEAR_FORMAT_VERSION;
	dst[6] = (char) model->kind;
	dst[7] = model->converged ? LINEAR_FLAG_CONVERGED : 0;
	sizes[0] = model->nfeatures;
	sizes[1] = model->nclasses;
	sizes[2] = model->noutputs;
	sizes[3] = model->iterations;
	memcpy(dst + 8, sizes, sizeof(sizes));
	memcpy(dst + LINEAR_HEADER_SIZE, model->coef, sizeof(double) * ncoef);
	memcpy(dst + LINEAR_HEADER_SIZE + sizeof(double) * ncoef,
		   model->intercept, sizeof(double) * model->noutputs);
	return blob;
}

/*
 * Report a stored model that fails validation.
 */
static void
LinearCorrupted(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored linear model is corrupted"),
			 errdetail_internal("%s", detail)));
}

/*
 * Read a model back from LinearSerialize's bytea, validating every field.
 */
LinearModel *
LinearDeserialize(const bytea *blob)
{
	const char *src = VARDATA_ANY(blob);
	size_t		len = VARSIZE_ANY_EXHDR(blob);
	int32		sizes[4];
	uint8		version;
	uint8		kind;
	uint8		flags;
	uint64		ncoef;
	LinearModel *model;

	if (len < LINEAR_HEADER_SIZE || memcmp(src, LINEAR_MAGIC, LINEAR_MAGIC_LEN) != 0)
		LinearCorrupted("The data does not start with the linear model header.");
	version = (uint8) src[5];
	kind = (uint8) src[6];
	flags = (uint8) src[7];
	if (version != LINEAR_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stored linear model has unsupported format version %d",
						version),
				 errdetail("This version of mlops reads format version %d.",
						   LINEAR_FORMAT_VERSION),
				 errhint("Retrain the model with this version of mlops.")));
	memcpy(sizes, src + 8, sizeof(sizes));

	if (kind > LINEAR_LOGISTIC)
		LinearCorrupted("The model kind is unknown.");
	if ((flags & ~LINEAR_FLAG_CONVERGED) != 0)
		LinearCorrupted("The flags hold unknown bits.");
	if (sizes[0] < 1 || sizes[2] < 1 || sizes[3] < 0)
		LinearCorrupted("A size is out of range.");
	if (kind == LINEAR_LOGISTIC
		? (sizes[1] < 2 || sizes[2] != (sizes[1] == 2 ? 1 : sizes[1]))
		: (sizes[1] != 0 || sizes[2] != 1))
		LinearCorrupted("The number of classes does not match the number of outputs.");
	ncoef = (uint64) sizes[2] * (uint64) sizes[0];
	if ((len - LINEAR_HEADER_SIZE) % sizeof(double) != 0 ||
		(len - LINEAR_HEADER_SIZE) / sizeof(double) != ncoef + (uint64) sizes[2])
		LinearCorrupted("The length does not match the sizes.");

	model = LinearNewModel((LinearKind) kind, sizes[0], sizes[1], sizes[2]);
	model->iterations = sizes[3];
	model->converged = (flags & LINEAR_FLAG_CONVERGED) != 0;
	memcpy(model->coef, src + LINEAR_HEADER_SIZE, sizeof(double) * ncoef);
	memcpy(model->intercept, src + LINEAR_HEADER_SIZE + sizeof(double) * ncoef,
		   sizeof(double) * sizes[2]);
	for (uint64 u = 0; u < ncoef; u++)
		if (!isfinite(model->coef[u]))
			LinearCorrupted("A coefficient is not finite.");
	for (int k = 0; k < model->noutputs; k++)
		if (!isfinite(model->intercept[k]))
			LinearCorrupted("An intercept is not finite.");
	return model;
}
