/*-------------------------------------------------------------------------
 *
 * linear_enet.c
 *	  Elastic net (lasso) regression by coordinate descent.
 *
 * Elastic net runs scikit-learn's cyclic coordinate descent from w = 0,
 * with its stopping rule: the duality gap is computed when the largest
 * coordinate change of a sweep falls below tol relative to the largest
 * coefficient, and the descent stops when the gap is below tol * ||y||^2.
 * When there are more rows than features the sweeps use the Gram matrix
 * X'X (scikit-learn's "precompute"), otherwise the residual vector; both
 * make the same updates, so they stop after the same sweep.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <cblas.h>

#include "miscadmin.h"

#include "train/linear.h"
#include "train/linear_internal.h"
#include "ops/progress.h"

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
void
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
