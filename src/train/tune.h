/*-------------------------------------------------------------------------
 *
 * tune.h
 *	  Hyperparameter search: mlops.tune, mlops.tune_async, mlops.trials.
 *
 * tune_space.c reads a search space (or the default one of an algorithm)
 * and draws candidates from it; tune.c runs the trials on cross-validation
 * folds of the training rows, records them and refits the best candidate
 * through mlops.train's own path.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_TUNE_H
#define MLOPS_TUNE_H

#include "postgres.h"

#include "common/pg_prng.h"
#include "fmgr.h"
#include "utils/jsonb.h"

#include "train/train.h"

/* the most candidates one search evaluates (trials, or a grid's size) */
#define TUNE_MAX_TRIALS 1000

/* halving keeps the best third of the candidates at each rung */
#define TUNE_HALVING_FACTOR 3

/* a halving rung trains on at least this many rows per fold */
#define TUNE_MIN_RUNG_ROWS 20

typedef enum TuneSearch
{
	TUNE_GRID,
	TUNE_RANDOM,
	TUNE_HALVING
} TuneSearch;

/* one hyperparameter of a search space */
typedef struct TuneDimension
{
	char	   *name;
	int			nvalues;		/* a list: its values (JSON texts); 0 for a range */
	char	  **values;
	double		min;			/* a range */
	double		max;
	bool		log;			/* drawn uniformly in log space */
	bool		integer;		/* rounded down to an integer */
} TuneDimension;

typedef struct TuneSpace
{
	int			ndims;
	TuneDimension *dims;
} TuneSpace;

/* the parameters of mlops.tune */
typedef struct TuneRequest
{
	TrainRequest train;			/* train's parameters; train.cv is 0 */
	Jsonb	   *search_space;	/* NULL: the algorithm's default space */
	TuneSearch	search;
	int			trials;
	int			cv;
	char	   *metric;			/* NULL: the policy's, else the task's default */
} TuneRequest;

/* tune_space.c */
extern TuneSearch TuneSearchFromName(const char *name);
extern const char *TuneSearchName(TuneSearch search);
extern TuneSpace *TuneSpaceParse(Jsonb *space, MlopsAlgorithm alg, MlopsTask task,
								 Jsonb *base);
extern bool TuneSpaceHas(const TuneSpace *space, const char *name);
extern int64 TuneSpaceGridSize(const TuneSpace *space);
extern Jsonb *TuneSpaceGridPoint(const TuneSpace *space, int64 index);
extern Jsonb *TuneSpaceSample(const TuneSpace *space, pg_prng_state *rng);

/* tune.c */
extern void TuneRequestFromArgs(FunctionCallInfo fcinfo, TuneRequest *req);
extern void TuneCheck(const TuneRequest *req, TrainPlan *plan);

#endif							/* MLOPS_TUNE_H */
