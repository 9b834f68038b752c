/*-------------------------------------------------------------------------
 *
 * linear_logistic.c
 *	  Binary and multinomial logistic regression by Newton's method.
 *
 * Logistic regression minimizes C * sum(w_i log loss_i) + ||W||^2 / 2
 * (no penalty when C = 0; intercepts are never penalized; the row
 * weights w_i are those of the rows' classes, 1 by default, as
 * scikit-learn's sample_weight) with Newton's
 * method and a backtracking line search.  Binary and multinomial models
 * share one formulation: the probabilities are a softmax over the model's
 * scores, and a binary model adds a reference class whose score is 0, so
 * that its single row of coefficients gives sigmoid probabilities.  The
 * multinomial loss is unchanged when the same vector is added to every
 * class's coefficients; those directions, which make the Hessian
 * singular, are filled in before the Cholesky solve, leaving the Newton
 * step unchanged (the gradient has no component along them).  Newton
 * stops when a full step changes no coefficient by more than tol relative
 * to the largest coefficient; quadratic convergence then leaves an error
 * of about tol^2.
 *
 * A Newton iteration whose full step is accepted takes one pass over the
 * rows: the pass that checks the step also computes the gradient and
 * Hessian of the next iteration.  A pass over the rows is a function
 * (LogisticPassFn): over the rows in memory (LinearFitLogistic), or over
 * rows held elsewhere, such as the shards of a distributed table
 * (LinearFitLogisticPasses, whose passes add the sums LogisticAccum
 * computes from the same block code).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include <cblas.h>
#include <lapacke.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "train/linear.h"
#include "train/linear_internal.h"
#include "ops/progress.h"

/* Newton's method */
#define LINEAR_ARMIJO			1e-4	/* sufficient decrease of a step */
#define LINEAR_MAX_HALVINGS		60	/* backtracking steps of a line search */
#define LINEAR_MAX_SHIFTS		6	/* ridge retries of a singular Hessian */

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
	LogisticPassFn pass;		/* the sums over the rows */
	void	   *pass_arg;
} LogisticProblem;

/*
 * Replace the scores z[0 .. k - 1] by their softmax probabilities and
 * return log(sum(exp(z))).  With pref, the model is binary: z[0] (k = 1) is
 * the score of the second class against a reference class whose score is
 * 0, and *pref receives the probability of the reference class.
 */
double
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
 * Add the rows i0 .. i0 + b - 1 of prob->X (leading dimension prob->n) to
 * the sums over rows of the weighted loss at theta and, when asked for, of
 * its gradient and (upper triangle of the) Hessian.  theta holds for each
 * output its p coefficients then its intercept.
 */
static void
LogisticAddBlock(LogisticProblem *prob, const double *theta, int i0, int b,
				 double *lossp, double *grad, double *hess)
{
	int			p = prob->p;
	int			K = prob->noutputs;
	int			stride = prob->stride;
	const double *xb = prob->X + i0;
	double		loss = *lossp;

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
	*lossp = loss;
}

/*
 * The sums over the rows of the data set in memory (LogisticPassFn): a
 * block of rows at a time.
 */
static void
LogisticRowsPass(void *arg, const double *theta, double *loss, double *grad, double *hess)
{
	LogisticProblem *prob = (LogisticProblem *) arg;

	for (int i0 = 0; i0 < prob->n; i0 += prob->block)
	{
		CHECK_FOR_INTERRUPTS();
		LogisticAddBlock(prob, theta, i0, Min(prob->block, prob->n - i0), loss, grad, hess);
	}
}

/*
 * Objective of logistic regression at theta and, when asked for, its
 * gradient and (upper triangle of the) Hessian, from one pass over the
 * rows (prob->pass).  theta holds for each output its p coefficients then
 * its intercept.
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
	prob->pass(prob->pass_arg, theta, &loss, grad, hess);

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
 * Set up the problem of p features and nclasses classes (checking its
 * size), without rows.
 */
static void
LogisticSetUp(LogisticProblem *prob, int p, int nclasses, const double *class_weight,
			  const LinearParams *params)
{
	if (nclasses < 2)
		elog(ERROR, "logistic regression needs at least 2 classes, got %d",
			 nclasses);
	memset(prob, 0, sizeof(LogisticProblem));
	prob->class_weight = class_weight;
	prob->p = p;
	prob->reference = (nclasses == 2);
	prob->noutputs = prob->reference ? 1 : nclasses;
	prob->intercept = params->fit_intercept;
	prob->stride = p + (prob->intercept ? 1 : 0);
	if ((int64) prob->noutputs * prob->stride > LINEAR_MAX_NEWTON_COEFS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("logistic regression with %lld coefficients is too large",
						(long long) prob->noutputs * prob->stride),
				 errdetail("The limit is %d coefficients, counting one row of features and intercept per class (one row for two classes).",
						   LINEAR_MAX_NEWTON_COEFS),
				 errhint("Reduce the number of features or categories, or use algorithm \"xgboost\".")));
	prob->m = prob->noutputs * prob->stride;
	prob->weight = (params->C > 0) ? params->C : 1.0;
	prob->penalty = (params->C > 0) ? 1.0 : 0.0;
}

/*
 * The working memory of a block of "block" rows, in CurrentMemoryContext.
 */
static void
LogisticAllocBlock(LogisticProblem *prob, int block)
{
	int			vwidth = prob->reference ? 0 : prob->m;

	prob->block = block;
	prob->prob = LinearAlloc((size_t) block * prob->noutputs, false);
	prob->pref = LinearAlloc(block, true);
	prob->scale = LinearAlloc(block, false);
	prob->wx = LinearAlloc((size_t) block * prob->stride, false);
	prob->v = LinearAlloc((size_t) block * vwidth, false);
}

/*
 * The rows of a block's working set: its rows of X, wx, prob, pref, scale
 * and v.
 */
static int
LogisticBlockWidth(const LogisticProblem *prob)
{
	return prob->p + prob->stride + prob->noutputs + 2 + (prob->reference ? 0 : prob->m);
}

/*
 * Newton's method on a set-up problem, into a new model.
 */
static LinearModel *
LogisticFit(LogisticProblem *prob, int nclasses, const LinearParams *params, int block)
{
	LinearModel *model = LinearNewModel(LINEAR_LOGISTIC, prob->p, nclasses, prob->noutputs);
	MemoryContext fitctx = AllocSetContextCreate(CurrentMemoryContext, "linear model fit",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldctx = MemoryContextSwitchTo(fitctx);
	double	   *theta;

	if (block > 0)
		LogisticAllocBlock(prob, block);
	theta = LogisticNewton(prob, params, &model->iterations, &model->converged);
	for (int k = 0; k < prob->noutputs; k++)
	{
		memcpy(model->coef + (size_t) k * prob->p, theta + (size_t) k * prob->stride,
			   sizeof(double) * prob->p);
		model->intercept[k] = prob->intercept ? theta[(size_t) k * prob->stride + prob->p] : 0;
	}
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

	LinearCheckProblem(n, p, params);
	if (nclasses < 2)
		elog(ERROR, "logistic regression needs at least 2 classes, got %d",
			 nclasses);
	for (int i = 0; i < n; i++)
		if (y[i] < 0 || y[i] >= nclasses)
			elog(ERROR, "class index %d out of range 0 .. %d", y[i],
				 nclasses - 1);
	LogisticSetUp(&prob, p, nclasses, class_weight, params);
	prob.X = X;
	prob.y = y;
	prob.n = n;
	prob.pass = LogisticRowsPass;
	prob.pass_arg = &prob;
	return LogisticFit(&prob, nclasses, params, LinearBlockRows(n, LogisticBlockWidth(&prob)));
}

/*
 * Fit a binary or multinomial logistic regression whose rows are
 * elsewhere: every pass over them is a call of "pass" (a distributed
 * fit's aggregate over the shards), which adds the sums of LogisticAccum
 * at the unknowns theta; grad and hess are NULL when only the loss is
 * needed.  The unknowns are, per output, the p coefficients then the
 * intercept (LinearLogisticUnknowns of them).
 */
LinearModel *
LinearFitLogisticPasses(int p, int nclasses, const LinearParams *params,
						LogisticPassFn pass, void *arg)
{
	LogisticProblem prob;

	LinearCheckProblem(1, p, params);
	LogisticSetUp(&prob, p, nclasses, NULL, params);
	prob.pass = pass;
	prob.pass_arg = arg;
	return LogisticFit(&prob, nclasses, params, 0);
}

/*
 * The number of unknowns of a logistic regression (LinearFitLogisticPasses).
 */
int
LinearLogisticUnknowns(int p, int nclasses, bool fit_intercept)
{
	return (nclasses == 2 ? 1 : nclasses) * (p + (fit_intercept ? 1 : 0));
}

/* the sums of a pass over rows added one at a time (see linear.h) */
struct LogisticAccum
{
	LogisticProblem prob;		/* X and y: the block of rows buffered */
	double	   *theta;
	bool		derivatives;
	int			pending;		/* rows buffered */
	double		loss;
	double	   *grad;
	double	   *hess;			/* m x m, upper triangle */
};

/*
 * A new accumulator of the sums at theta (m unknowns) of p features and
 * nclasses classes, the rows of class k weighing class_weight[k] (NULL: 1);
 * with derivatives, of the gradient and Hessian too.  In
 * CurrentMemoryContext.
 */
LogisticAccum *
LogisticAccumCreate(int p, int nclasses, bool fit_intercept, const double *class_weight,
					const double *theta, bool derivatives)
{
	LogisticAccum *acc = palloc0(sizeof(LogisticAccum));
	LinearParams params = {0};
	int			block;

	params.fit_intercept = fit_intercept;
	LogisticSetUp(&acc->prob, p, nclasses, NULL, &params);
	if (class_weight != NULL)
	{
		double	   *w = palloc(sizeof(double) * nclasses);

		memcpy(w, class_weight, sizeof(double) * nclasses);
		acc->prob.class_weight = w;
	}
	block = LinearBlockRows(INT_MAX, LogisticBlockWidth(&acc->prob));
	LogisticAllocBlock(&acc->prob, block);
	acc->prob.n = block;
	acc->prob.X = LinearAlloc((size_t) block * p, false);
	acc->prob.y = palloc(sizeof(int) * block);
	acc->theta = LinearAlloc(acc->prob.m, false);
	memcpy(acc->theta, theta, sizeof(double) * acc->prob.m);
	acc->derivatives = derivatives;
	acc->grad = derivatives ? LinearAlloc(acc->prob.m, true) : NULL;
	acc->hess = derivatives ? LinearAlloc((size_t) acc->prob.m * acc->prob.m, true) : NULL;
	return acc;
}

/*
 * Add the buffered rows to the sums.
 */
static void
LogisticAccumFlush(LogisticAccum *acc)
{
	if (acc->pending == 0)
		return;
	LogisticAddBlock(&acc->prob, acc->theta, 0, acc->pending, &acc->loss, acc->grad, acc->hess);
	acc->pending = 0;
}

/*
 * Add one row: p feature values (finite) and its class index.
 */
void
LogisticAccumAddRow(LogisticAccum *acc, const double *x, int y)
{
	double	   *X = (double *) acc->prob.X;
	int		   *Y = (int *) acc->prob.y;

	if (y < 0 || y >= (acc->prob.reference ? 2 : acc->prob.noutputs))
		elog(ERROR, "class index %d out of range", y);
	for (int j = 0; j < acc->prob.p; j++)
		X[(size_t) j * acc->prob.n + acc->pending] = x[j];
	Y[acc->pending++] = y;
	if (acc->pending == acc->prob.block)
		LogisticAccumFlush(acc);
}

/*
 * Add the sums so far to loss, grad and hess (grad and hess only with
 * derivatives; hess's upper triangle), and start again from zero.
 */
void
LogisticAccumTake(LogisticAccum *acc, double *loss, double *grad, double *hess)
{
	int			m = acc->prob.m;

	LogisticAccumFlush(acc);
	*loss += acc->loss;
	acc->loss = 0;
	if (!acc->derivatives)
		return;
	for (int u = 0; u < m; u++)
		grad[u] += acc->grad[u];
	for (int j = 0; j < m; j++)
		for (int i = 0; i <= j; i++)
			hess[(size_t) j * m + i] += acc->hess[(size_t) j * m + i];
	memset(acc->grad, 0, sizeof(double) * m);
	memset(acc->hess, 0, sizeof(double) * m * m);
}
