/*-------------------------------------------------------------------------
 *
 * linear_internal.h
 *	  Functions the files of the linear solvers share (linear.c,
 *	  linear_lstsq.c, linear_enet.c, linear_logistic.c); not for other
 *	  modules, which use linear.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_LINEAR_INTERNAL_H
#define MLOPS_LINEAR_INTERNAL_H

#include "postgres.h"

#include <lapacke.h>

#include "train/linear.h"

/* linear.c */
extern double *LinearAlloc(size_t count, bool zero);
extern void LinearCheckLapack(const char *routine, lapack_int info);
extern int	LinearBlockRows(int n, int width);
extern void LinearCheckProblem(int n, int p, const LinearParams *params);
extern LinearModel *LinearNewModel(LinearKind kind, int p, int nclasses,
								   int noutputs);

/* linear_lstsq.c */
extern double *LinearCenteredCopy(const double *X, int n, int p,
								  const double *mean, int ld);
extern void LinearCenteredGram(const double *X, const double *y, int n, int p,
							   const double *xmean, double ymean,
							   double *Q, double *q, double *yy);

/* linear_enet.c */
extern void LinearFitElasticNet(const double *X, const double *y, int n, int p,
								const LinearParams *params, const double *xmean,
								double ymean, LinearModel *model);

/* linear_logistic.c */
extern double LinearSoftmax(double *z, int k, double *pref);

#endif							/* MLOPS_LINEAR_INTERNAL_H */
