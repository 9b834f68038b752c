/*-------------------------------------------------------------------------
 *
 * train.h
 *	  Training runs: checking a request and training.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_TRAIN_H
#define MLOPS_TRAIN_H

#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "train/dataset.h"
#include "train/split.h"
#include "serve/model.h"
#include "registry.h"

/* what to train: the parameters of mlops.train */
typedef struct TrainRequest
{
	char	   *project;
	char	   *relation;
	char	   *target;
	MlopsAlgorithm algorithm;
	int			task;			/* MlopsTask, or -1 to infer */
	Jsonb	   *hyperparams;
	Jsonb	   *preprocess;
	ArrayType  *features;		/* NULL: every column but target and exclude */
	ArrayType  *exclude;
	double		test_size;
	int			split;			/* SplitKind, or -1 for the default */
	char	   *order_by;
	int			seed;
	char	   *deploy;			/* "auto", "always" or "never" */
	int			cv;				/* folds of cross-validation, 0 for none */
	int64		compare_model;	/* also score this model on the held-out rows */
	Jsonb	   *policy;			/* overrides of the project's policy, or NULL */
	int64		parent_model_id;	/* the model whose settings this re-runs, or 0 */
	int64		tune_id;		/* the mlops.tune whose best this refits, or 0 */
} TrainRequest;

/* what TrainCheck learned about a request before reading a row */
typedef struct TrainPlan
{
	RegistryProject *proj;		/* NULL while the project does not exist */
	int			task;			/* MlopsTask, or -1 until the target is read */
	Oid			relid;
	char	   *relname;		/* quoted, schema-qualified */
	char	  **columns;		/* the feature source columns */
	int			ncolumns;
	TargetMode	target_mode;
} TrainPlan;

/* what a training run did */
typedef struct TrainResult
{
	int64		model_id;
	int			version;
	MlopsTask	task;
	Jsonb	   *metrics;
	const char *metric;			/* the selection metric */
	double		score;			/* its value; NaN without held-out rows */
	bool		deployed;
	int64		request_id;		/* the deploy request made instead, or 0 */
	int64		previous;		/* the model deployed before, or 0 */
	Jsonb	   *compare_metrics;	/* compare_model on the same rows, or NULL */
	double		compare_score;
	char	   *compare_problem;	/* why compare_model could not be scored */
} TrainResult;

extern void TrainRequestFromArgs(FunctionCallInfo fcinfo, TrainRequest *req);
extern void TrainCheck(const TrainRequest *req, TrainPlan *plan);
extern SplitKind TrainChooseSplit(const TrainRequest *req, int task);
extern void TrainCheckTargetVaries(const Dataset *ds, const Split *s, MlopsTask task);
extern void TrainConstantTargetError(const Dataset *ds, MlopsTask task) pg_attribute_noreturn();
extern void TrainCheckRowsRead(const Dataset *ds);
/* train_compare.c */
extern bool DecideDeploy(const char *deploy, const char *metric, int64 current, double new_score,
						 double old_score);
extern void ReportNotDeployed(const char *project, const TrainResult *res, double old_score,
							  bool same_rows);
extern void TrainReadSpec(const TrainPlan *plan, const MlopsModel *m, DatasetSpec *spec);
extern void CompareOnHeldOut(int64 model_id, MlopsTask task, const Dataset *ds, const Split *split,
							 TrainResult *res);
extern char *CompareProblem(const MlopsModel *m, MlopsTask task, int ntest);
extern Dataset *DatasetForModel(const Dataset *ds, const MlopsModel *m, char **problem);
extern void TrainRun(const TrainRequest *req, TrainResult *res);
extern double TrainScore(Jsonb *metrics, const char *metric);

#endif							/* MLOPS_TRAIN_H */
