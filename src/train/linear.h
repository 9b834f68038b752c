/*-------------------------------------------------------------------------
 *
 * linear.h
 *	  Linear models: least squares, ridge, elastic net (lasso) and logistic
 *	  regression, fitted on a dense column-major design matrix.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_LINEAR_H
#define MLOPS_LINEAR_H

#include "postgres.h"

/*
 * Largest number of unknowns (outputs times features plus intercepts) the
 * Newton solver of logistic regression accepts: its Hessian and the
 * Cholesky factor are dense square matrices of that order (4096 unknowns =
 * 2 x 128 MB).
 */
#define LINEAR_MAX_NEWTON_COEFS 4096

typedef enum LinearKind
{
	LINEAR_OLS,					/* 'linear': least squares */
	LINEAR_RIDGE,				/* 'ridge' */
	LINEAR_ELASTIC_NET,			/* 'lasso' (l1_ratio = 1) and 'elastic_net' */
	LINEAR_LOGISTIC				/* 'logistic': binary or multinomial */
} LinearKind;

typedef struct LinearParams
{
	double		alpha;			/* ridge / lasso / elastic-net penalty,
								 * scikit-learn's alpha */
	double		l1_ratio;		/* elastic-net mixing, 1 = lasso */
	double		C;				/* logistic: inverse regularization strength;
								 * 0 = no penalty */
	int			max_iter;
	double		tol;
	bool		fit_intercept;
} LinearParams;

typedef struct LinearModel
{
	LinearKind	kind;
	int			nfeatures;		/* p */
	int			nclasses;		/* 0 for regression, K >= 2 for logistic */
	int			noutputs;		/* 1 for regression and binary logistic, K
								 * for multinomial */
	double	   *coef;			/* noutputs x nfeatures, row-major */
	double	   *intercept;		/* noutputs */
	int			iterations;		/* solver iterations used (0 for closed
								 * forms) */
	bool		converged;
} LinearModel;

/*
 * X is n x p, column-major (X[j * n + i] is row i, feature j), dense and
 * finite.  Logistic labels y are class indices 0 .. nclasses - 1, and the
 * rows of class k weigh class_weight[k] in the loss (NULL: 1).  The model
 * is allocated in CurrentMemoryContext.
 */
extern LinearModel *LinearFitRegression(LinearKind kind, const double *X,
										const double *y, int n, int p,
										const LinearParams *params);
extern LinearModel *LinearFitLogistic(const double *X, const int *y, int n,
									  int p, int nclasses,
									  const double *class_weight,
									  const LinearParams *params);

/*
 * A pass over rows held elsewhere (a distributed fit): add to *loss the
 * sum over rows of the weighted log loss at the unknowns theta and, unless
 * they are NULL, to grad and hess (m x m, upper triangle, column-major)
 * its gradient and Hessian (LogisticAccum computes them).
 */
typedef void (*LogisticPassFn) (void *arg, const double *theta, double *loss,
								double *grad, double *hess);

extern LinearModel *LinearFitLogisticPasses(int p, int nclasses,
											const LinearParams *params,
											LogisticPassFn pass, void *arg);
extern int	LinearLogisticUnknowns(int p, int nclasses, bool fit_intercept);

/* the sums of LogisticPassFn, from rows added one at a time */
typedef struct LogisticAccum LogisticAccum;

extern LogisticAccum *LogisticAccumCreate(int p, int nclasses, bool fit_intercept,
										  const double *class_weight,
										  const double *theta, bool derivatives);
extern void LogisticAccumAddRow(LogisticAccum *acc, const double *x, int y);
extern void LogisticAccumTake(LogisticAccum *acc, double *loss, double *grad,
							  double *hess);

extern double LinearFitMemory(LinearKind kind, int n, int p, int nclasses,
							  bool fit_intercept);

/* x: one row of p values; out: 1 value for regression, nclasses probabilities for logistic */
extern void LinearPredictRow(const LinearModel *model, const double *x,
							 double *out);

/* blob must be detoasted */
extern bytea *LinearSerialize(const LinearModel *model);
extern LinearModel *LinearDeserialize(const bytea *blob);

#endif							/* MLOPS_LINEAR_H */
