/*-------------------------------------------------------------------------
 *
 * linear_accum.h
 *	  Sufficient statistics of least squares and ridge regression,
 *	  accumulated a row or a block of rows at a time, mergeable, serializable
 *	  and solvable: what lets `linear` and `ridge` train without holding the
 *	  rows, and what a distributed fit combines from partial states.
 *
 * The state is the upper-triangular factor R of the QR decomposition of
 * the k = p + 2 columns [1 | x | y] of every row seen (a streaming, "tall
 * and skinny" QR): R'R equals the Gram matrix of those columns, and R's
 * singular values are those of the data, so solving from R keeps the
 * accuracy and the singular-value cutoff of a solver run on the rows
 * themselves.  The order of rows and merges changes R only by rounding.
 *
 * Stable API (other modules and a distributed aggregate's transition,
 * combine, serialize and final functions build on it):
 *
 *	 acc = LinearAccumCreate(p);			   in CurrentMemoryContext
 *	 LinearAccumAddRow(acc, x, y);			   x: p finite values
 *	 LinearAccumAddRows(acc, X, y, n);		   X: n x p, row-major
 *	 LinearAccumMerge(acc, other);			   acc += other's rows
 *	 blob = LinearAccumSerialize(acc);		   bytea, see linear_accum.c
 *	 acc = LinearAccumDeserialize(blob);	   validated
 *	 model = LinearAccumSolve(acc, LINEAR_OLS or LINEAR_RIDGE, &params);
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_LINEAR_ACCUM_H
#define MLOPS_LINEAR_ACCUM_H

#include "postgres.h"

#include "train/linear.h"

/* largest p an accumulator takes (its state is (p + 2)^2 values) */
#define LINEAR_ACCUM_MAX_FEATURES 16384

typedef struct LinearAccum LinearAccum;

extern LinearAccum *LinearAccumCreate(int nfeatures);
extern void LinearAccumAddRow(LinearAccum *acc, const double *x, double y);
extern void LinearAccumAddRows(LinearAccum *acc, const double *X, const double *y,
							   int n);
extern void LinearAccumMerge(LinearAccum *acc, const LinearAccum *other);
extern bytea *LinearAccumSerialize(LinearAccum *acc);
extern LinearAccum *LinearAccumDeserialize(const bytea *blob);
extern int	LinearAccumFeatures(const LinearAccum *acc);
extern int64 LinearAccumRows(const LinearAccum *acc);
extern void LinearAccumStddev(LinearAccum *acc, double *stddev);
extern LinearModel *LinearAccumSolve(LinearAccum *acc, LinearKind kind,
									 const LinearParams *params);
extern double LinearAccumMemory(int nfeatures);

#endif							/* MLOPS_LINEAR_ACCUM_H */
