/*-------------------------------------------------------------------------
 *
 * train_partial.h
 *	  The partial training statistics of the aggregate mlops.train_partial
 *	  (train_partial.c), which Citus computes per shard in the worker tasks
 *	  and merges on the coordinator, and which train_distributed.c reads.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_TRAIN_PARTIAL_H
#define MLOPS_TRAIN_PARTIAL_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/expandeddatum.h"

#include "train/featurize.h"
#include "train/linear.h"
#include "train/linear_accum.h"
#include "strmap.h"

/* the passes of a distributed training run (see train_partial.c) */
typedef enum TrainPartialPass
{
	TRAIN_PASS_STATS = 's',		/* counts, fingerprint, transform statistics,
								 * a sample of the training rows */
	TRAIN_PASS_FIT = 'f',		/* least squares' statistics */
	TRAIN_PASS_EVAL = 'e',		/* the held-out rows' targets and outputs */
	TRAIN_PASS_NEWTON = 'n'		/* logistic loss, gradient and Hessian at
								 * given coefficients */
} TrainPartialPass;

/* largest sample of training rows a state keeps, and its values */
#define TRAIN_PARTIAL_MAX_SAMPLE 1000000
#define TRAIN_PARTIAL_MAX_SAMPLE_VALUES 4000000

struct TrainPartialReader;

/* the categories of a categorical input's training rows, with their counts */
typedef struct TrainPartialCats
{
	int			n;
	int			capacity;
	char	  **texts;
	int64	   *counts;
	double	   *ysums;			/* regression: the sum of the target over
								 * each category's training rows */
	double		null_ysum;		/* ... and over its NULLs' */
	StrMap	   *map;			/* text -> index */
} TrainPartialCats;

/* the transition state: an expanded bytea */
typedef struct TrainPartial
{
	ExpandedObjectHeader hdr;
	char		pass;			/* TrainPartialPass */
	int			ninputs;		/* model inputs (a date or timestamp column has
								 * several) */
	int			nout;			/* eval: outputs per row */
	int64		rows;			/* rows with a target */
	int64		null_targets;	/* rows skipped for a NULL target */
	int64		ntrain;
	int64		ntest;
	/* stats */
	uint64		fingerprint;	/* DatasetFingerprint of every row with a
								 * target */
	double		ymin;			/* the training rows' targets */
	double		ymax;
	NumericSummary *summaries;	/* per input, over the training rows (of a
								 * categorical input only its count and
								 * NULLs) */
	bool	   *categorical;	/* per input */
	TrainPartialCats *cats;		/* per input: a categorical input's
								 * categories */
	int			sample_size;
	int			nsample;
	int64	   *sample_keys;	/* a max-heap of the rows of smallest key */
	double	   *sample_rows;	/* per sampled row: target, then the inputs
								 * (a category as its index in cats) */
	int			nlabels;		/* classification: the labels seen */
	char	  **label_texts;
	int64	   *label_rows;		/* per label: rows */
	int64	   *label_train;	/* per label: training rows */
	int			label_capacity;
	StrMap	   *label_map;		/* text -> index */
	/* fit */
	LinearAccum *acc;
	/* newton */
	int			m;				/* unknowns */
	bool		derivatives;	/* with the gradient and Hessian */
	double		loss;
	double	   *grad;			/* m */
	double	   *hess;			/* m x m, upper triangle */
	LogisticAccum *lacc;		/* the rows added here, not yet taken */
	/* eval */
	int64		capacity;
	double	   *held;			/* per held-out row: target, then the outputs */
	struct TrainPartialReader *reader;	/* NULL until a row is added */
	StringInfoData flat;		/* serialized by get_flat_size */
} TrainPartial;

/*
 * Is the row of this key held out at this test_size?  The key's top 53
 * bits as a fraction of 2^53, below test_size.
 */
static inline bool
TrainPartialHeldOut(int64 key, double test_size)
{
	return (double) ((uint64) key >> 11) * (1.0 / 9007199254740992.0) < test_size;
}

extern TrainPartial *TrainPartialFromBytea(bytea *flat, MemoryContext parent);

#endif							/* MLOPS_TRAIN_PARTIAL_H */
