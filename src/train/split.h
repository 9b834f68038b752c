/*-------------------------------------------------------------------------
 *
 * split.h
 *	  Deterministic train/test splits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_SPLIT_H
#define MLOPS_SPLIT_H

#include "postgres.h"

#include "train/dataset.h"

/* the share of the training rows early stopping validates on (SplitHoldOut) */
#define EARLY_STOPPING_FRACTION 0.1

typedef enum SplitKind
{
	SPLIT_RANDOM,
	SPLIT_STRATIFIED,
	SPLIT_LAST
} SplitKind;

typedef struct Split
{
	int			ntrain;
	int			ntest;
	int		   *train;			/* row numbers, ascending */
	int		   *test;			/* row numbers, ascending */
} Split;

extern SplitKind SplitKindFromName(const char *name);
extern const char *SplitKindName(SplitKind kind);
extern Split *SplitRows(const Dataset *ds, SplitKind kind, double test_size, int seed);
extern uint8 *SplitRandomBitmap(int n, double test_size, int seed, int *ntest);
extern void SplitHoldOut(int *rows, int *nrows, int **held, int *nheld, double fraction, int seed);

#endif							/* MLOPS_SPLIT_H */
