/*-------------------------------------------------------------------------
 *
 * tune.c
 *	  mlops.tune and mlops.tune_async: hyperparameter search on
 *	  cross-validation folds of the training rows, every trial recorded in
 *	  mlops.trials, the best candidate refitted and registered.
 *
 * A tune checks everything mlops.train checks, plus the search, before a
 * row is read.  It reads the relation once, splits it as mlops.train does
 * (the held-out rows never take part in the search), deals the training
 * rows into the stratified, seeded folds of train's cv (cv.c), fits the
 * feature transform once on all training rows and builds the feature
 * matrix once.  (Fitting the transform once is what a scikit-learn search
 * over a transformed matrix does: for trees it only numbers the
 * categories; linear models' scaling statistics see the validation fold's
 * inputs, not its targets.)  XGBoost and random forests: libxgboost gets
 * one matrix of the training rows, and each fold's rows are sliced out of
 * it once per rung (XGDMatrixSliceDMatrix); libxgboost keeps a matrix's
 * quantized form with it, so every candidate trains on already quantized
 * folds, and the fits equal fits on matrices built from the fold's rows
 * (the quantile sketch sees the same rows).  When class_weight is searched,
 * the rows' weights change per candidate and each fit builds its own
 * matrix, as linear models' fits do from the fold's rows of the feature
 * matrix.
 *
 * Searches: "grid" runs every point of the grid (tune_space.c) and ignores
 * trials; "random" draws trials candidates; "halving" draws trials
 * candidates and runs successive halving with the training rows as the
 * resource and factor 3: rung r trains on a seeded subset of
 * 3^-(R-1-r) of the training rows (the same nested subsets for every
 * candidate; every fold still scores all its rows), and the best third of
 * the candidates (at least one) go on to the next rung; the last rung trains
 * on all rows.  A trial's score is the mean over the folds of the selection
 * metric: the project's policy metric, else the metric argument, else f1
 * (classification) or r2; log_loss, mse, rmse and mae are lower-is-better.
 * Ties go to the earlier trial; a trial whose score is undefined (roc_auc
 * with a class missing from a fold) ranks last.
 *
 * The best candidate is refitted by mlops.train's own path (TrainRun): the
 * relation is read again, the same split, the hyperparameters merged with
 * the best parameters, so the registered model is exactly what
 * mlops.train(hyperparams => best_params) makes; the model's training
 * record names the tune, its parent is the model deployed before, and it is
 * deployed by train's rules.  Cancelling works between the fits of the
 * trials and between boosting rounds; the phase in mlops.job_progress
 * names the trial and fold.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "jsonutil.h"
#include "ops/policy.h"
#include "ops/progress.h"
#include "registry.h"
#include "serve/model.h"
#include "train/cv.h"
#include "train/featurize.h"
#include "train/hyperparams.h"
#include "train/metrics.h"
#include "train/tune.h"

PG_FUNCTION_INFO_V1(mlops_tune);

/* the parameters of mlops.tune, in order (mlops.train's from TUNE_ARG_TASK) */
enum
{
	TUNE_ARG_PROJECT,
	TUNE_ARG_RELATION,
	TUNE_ARG_TARGET,
	TUNE_ARG_ALGORITHM,
	TUNE_ARG_SPACE,
	TUNE_ARG_SEARCH,
	TUNE_ARG_TRIALS,
	TUNE_ARG_CV,
	TUNE_ARG_METRIC,
	TUNE_ARG_TASK,
	TUNE_NARGS = TUNE_ARG_TASK + 10
};

/* the position of each of mlops.train's parameters among tune's */
static const int train_arg_position[] = {
	TUNE_ARG_PROJECT, TUNE_ARG_RELATION, TUNE_ARG_TARGET, TUNE_ARG_ALGORITHM,
	TUNE_ARG_TASK, TUNE_ARG_TASK + 1, TUNE_ARG_TASK + 2, TUNE_ARG_TASK + 3,
	TUNE_ARG_TASK + 4, TUNE_ARG_TASK + 5, TUNE_ARG_TASK + 6, TUNE_ARG_TASK + 7,
	TUNE_ARG_TASK + 8, TUNE_ARG_TASK + 9, -1	/* cv: none for the refit */
};

/* metric keys by task */
static const char *const classification_metrics[] = {
	"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "mcc", NULL
};
static const char *const regression_metrics[] = {
	"r2", "mae", "mse", "rmse", "explained_variance", NULL
};

/* a candidate of the search */
typedef struct TuneCandidate
{
	Jsonb	   *params;			/* the searched hyperparameters */
	double	   *scores;			/* per fold, at its last rung */
	double		mean;
	double		std;
	double		seconds;
	int			train_rows;		/* the rows its last rung trained on */
	bool		pruned;
} TuneCandidate;

/* what every fit of a search shares */
typedef struct TuneState
{
	const TuneRequest *req;
	const Dataset *ds;
	MlopsTask	task;
	const char *metric;
	int			n;				/* training rows */
	const int  *rows;			/* their row numbers */
	const int  *fold;			/* per training row */
	int			k;
	int			p;
	const double *X;			/* n x p, column-major */
	void	   *full;			/* xgboost: the libxgboost matrix of X whose
								 * slices every fit trains on, or NULL */
	int			ntrials;		/* for the progress phase */
} TuneState;

/* the rows of a fold at a rung (positions among the training rows) */
typedef struct TuneFold
{
	int			ntrain;
	int		   *train;
	int			nval;			/* early stopping's validation rows */
	int		   *val;
	int			ntest;
	int		   *test;
	double	   *y;				/* the targets of train */
	double	   *class_weight;	/* fixed class_weight's weights, or NULL */
	void	   *dtrain;			/* slices of TuneState.full, or NULL */
	void	   *dval;
} TuneFold;

/*
 * Is name one of a NULL-terminated list?
 */
static bool
InList(const char *name, const char *const *list)
{
	for (int i = 0; list[i] != NULL; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/*
 * Check a selection metric for a task (-1: not known yet).
 */
static void
CheckMetric(const char *metric, int task)
{
	if ((task != TASK_REGRESSION && InList(metric, classification_metrics)) ||
		(task != TASK_CLASSIFICATION && InList(metric, regression_metrics)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown metric \"%s\" for %s", metric,
					task < 0 ? "tuning" : psprintf("a %s project", MlopsTaskName(task))),
			 errhint("Classification metrics are accuracy, precision, recall, f1, roc_auc, log_loss and mcc; regression metrics are r2, mae, mse, rmse and explained_variance.")));
}

/*
 * Fill a tune request from the arguments of mlops.tune (and of
 * mlops.tune_async, which has the same parameters): train's parameters as
 * mlops.train reads them, then the search's.
 */
void
TuneRequestFromArgs(FunctionCallInfo fcinfo, TuneRequest *req)
{
	LOCAL_FCINFO(train_fcinfo, lengthof(train_arg_position));

	InitFunctionCallInfoData(*train_fcinfo, NULL, lengthof(train_arg_position), InvalidOid,
							 NULL, NULL);
	for (int i = 0; i < lengthof(train_arg_position); i++)
	{
		int			from = train_arg_position[i];

		train_fcinfo->args[i].value = from >= 0 ? fcinfo->args[from].value : (Datum) 0;
		train_fcinfo->args[i].isnull = from >= 0 ? fcinfo->args[from].isnull : true;
	}
	TrainRequestFromArgs(train_fcinfo, &req->train);

	for (int i = TUNE_ARG_SEARCH; i <= TUNE_ARG_CV; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL",
							i == TUNE_ARG_SEARCH ? "search" : i == TUNE_ARG_TRIALS ? "trials" : "cv")));
	req->search_space = PG_ARGISNULL(TUNE_ARG_SPACE) ? NULL : PG_GETARG_JSONB_P(TUNE_ARG_SPACE);
	req->search = TuneSearchFromName(text_to_cstring(PG_GETARG_TEXT_PP(TUNE_ARG_SEARCH)));
	req->trials = PG_GETARG_INT32(TUNE_ARG_TRIALS);
	req->cv = PG_GETARG_INT32(TUNE_ARG_CV);
	req->metric = PG_ARGISNULL(TUNE_ARG_METRIC) ? NULL
		: text_to_cstring(PG_GETARG_TEXT_PP(TUNE_ARG_METRIC));
	if (req->trials < 1 || req->trials > TUNE_MAX_TRIALS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trials is out of range: %d", req->trials),
				 errdetail("A search runs 1 to %d trials.", TUNE_MAX_TRIALS)));
	if (req->cv < 2 || req->cv > CV_MAX_FOLDS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cv is out of range: %d", req->cv),
				 errdetail("A search cross-validates with 2 to %d folds.", CV_MAX_FOLDS)));
}

/*
 * Check a tune request before a row is read: mlops.train's checks (the
 * train privilege, and deploy's unless deploy => 'never'), the metric and
 * the search space.
 */
void
TuneCheck(const TuneRequest *req, TrainPlan *plan)
{
	TuneSpace  *space;

	TrainCheck(&req->train, plan);
	if (req->metric != NULL)
		CheckMetric(req->metric, plan->task);
	space = TuneSpaceParse(req->search_space, req->train.algorithm,
						   plan->task < 0 ? TASK_CLASSIFICATION : plan->task,
						   req->train.hyperparams);
	if (req->search == TUNE_GRID && TuneSpaceGridSize(space) > TUNE_MAX_TRIALS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the grid has more than %d points", TUNE_MAX_TRIALS),
				 errhint("Give fewer values, or use search => 'random' with a number of trials.")));
}

/*
 * Is training row i in the seeded subset of a share of the rows?  The
 * subsets of growing shares are nested.
 */
static bool
InSubset(int i, double share, int seed)
{
	uint64		h = hash_bytes_uint32_extended((uint32) i, (uint64) (uint32) seed);

	return share >= 1.0 || (double) (h >> 11) * (1.0 / 9007199254740992.0) < share;
}

/*
 * The targets of the training rows at some positions.
 */
static double *
TuneTargets(const TuneState *st, const int *pos, int n)
{
	double	   *y = palloc_extended(sizeof(double) * Max(1, n), MCXT_ALLOC_HUGE);

	for (int i = 0; i < n; i++)
		y[i] = st->ds->target[st->rows[pos[i]]];
	return y;
}

/*
 * A column-major copy of the feature matrix's rows at some positions.
 */
static double *
TuneGather(const TuneState *st, const int *pos, int n)
{
	double	   *X = palloc_extended(sizeof(double) * Max(1, n) * Max(1, st->p), MCXT_ALLOC_HUGE);

	for (int j = 0; j < st->p; j++)
		for (int i = 0; i < n; i++)
			X[(size_t) j * n + i] = st->X[(size_t) j * st->n + pos[i]];
	return X;
}

/*
 * The per-row weights (as floats) of rows given their classes' weights.
 */
static float *
TuneRowWeights(const double *class_weight, const double *y, int n)
{
	float	   *w;

	if (class_weight == NULL)
		return NULL;
	w = palloc_extended(sizeof(float) * Max(1, n), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
		w[i] = (float) class_weight[(int) y[i]];
	return w;
}

/*
 * Deal the training rows of each fold at a rung (those in the subset of a
 * share of the rows), hold out early stopping's validation rows, and, when
 * the search shares one libxgboost matrix, slice each fold's matrices out
 * of it: every candidate of the rung then trains on the same, already
 * quantized, matrices.  hp holds the fixed hyperparameters (early
 * stopping, class_weight).
 */
static TuneFold *
TunePrepareFolds(const TuneState *st, const HyperParams *hp, double share)
{
	TuneFold   *folds = palloc0(sizeof(TuneFold) * st->k);
	const Dataset *ds = st->ds;

	for (int f = 0; f < st->k; f++)
	{
		TuneFold   *fd = &folds[f];

		fd->train = palloc_extended(sizeof(int) * st->n, MCXT_ALLOC_HUGE);
		fd->test = palloc_extended(sizeof(int) * st->n, MCXT_ALLOC_HUGE);
		for (int i = 0; i < st->n; i++)
		{
			if (st->fold[i] == f)
				fd->test[fd->ntest++] = i;
			else if (InSubset(i, share, st->req->train.seed))
				fd->train[fd->ntrain++] = i;
		}
		if (fd->ntrain < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("too few training rows to tune: fold %d has %d", f + 1, fd->ntrain)));
		if (hp->applies[HP_EARLY_STOPPING_ROUNDS] && hp->v[HP_EARLY_STOPPING_ROUNDS] > 0)
			SplitHoldOut(fd->train, &fd->ntrain, &fd->val, &fd->nval, EARLY_STOPPING_FRACTION,
						 st->req->train.seed);
		fd->y = TuneTargets(st, fd->train, fd->ntrain);
		if (st->full != NULL)
		{
			fd->class_weight = HyperParamsClassWeights(hp, ds->labels, ds->nclasses, fd->y, fd->ntrain);
			fd->dtrain = XgbMatrixSlice(st->full, fd->train, fd->ntrain,
										TuneRowWeights(fd->class_weight, fd->y, fd->ntrain));
			if (fd->nval > 0)
				fd->dval = XgbMatrixSlice(st->full, fd->val, fd->nval,
										  TuneRowWeights(fd->class_weight,
														 TuneTargets(st, fd->val, fd->nval),
														 fd->nval));
		}
	}
	return folds;
}

/*
 * Fit a candidate on a fold's training rows and return its score on the
 * fold's rows.
 */
static double
TuneFoldScore(const TuneState *st, const HyperParams *hp, const TuneFold *fd)
{
	const Dataset *ds = st->ds;
	const AlgorithmOps *ops = ModelOps(st->req->train.algorithm);
	TrainData	td = {0};
	double	   *X,
			   *out;
	bytea	   *blob;
	void	   *impl;
	StringInfoData buf;

	td.algorithm = st->req->train.algorithm;
	td.n = fd->ntrain;
	td.p = st->p;
	td.nclasses = ds->nclasses;
	td.seed = st->req->train.seed;
	td.y = fd->y;
	td.nval = fd->nval;
	/* class_weight searched: this candidate's weights */
	td.class_weight = st->full != NULL ? fd->class_weight
		: HyperParamsClassWeights(hp, ds->labels, ds->nclasses, fd->y, fd->ntrain);
	td.dtrain = fd->dtrain;
	td.dval = fd->dval;
	if (fd->dtrain == NULL)
	{
		td.X = TuneGather(st, fd->train, fd->ntrain);
		if (fd->nval > 0)
		{
			td.Xval = TuneGather(st, fd->val, fd->nval);
			td.yval = TuneTargets(st, fd->val, fd->nval);
		}
	}

	initStringInfo(&buf);
	blob = ops->fit(&td, hp, &buf, palloc0(sizeof(double) * Max(1, st->p)));
	impl = ops->load(blob, st->p, ds->nclasses);

	/* score the fold's rows (row-major) */
	X = palloc_extended(sizeof(double) * Max(1, fd->ntest) * Max(1, st->p), MCXT_ALLOC_HUGE);
	for (int i = 0; i < fd->ntest; i++)
		for (int j = 0; j < st->p; j++)
			X[(size_t) i * st->p + j] = st->X[(size_t) j * st->n + fd->test[i]];
	out = palloc_extended(sizeof(double) * Max(1, fd->ntest) * Max(1, ds->nclasses),
						  MCXT_ALLOC_HUGE);
	ops->predict(impl, X, fd->ntest, st->p, out);
	resetStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	MetricsOfOutputs(&buf, TuneTargets(st, fd->test, fd->ntest), out, fd->ntest,
					 st->task == TASK_CLASSIFICATION ? ds->nclasses : 0);
	appendStringInfoChar(&buf, '}');
	return TrainScore(JsonFromText(&buf), st->metric);
}

/*
 * Evaluate candidate number c (of the trials) on every fold of a rung.
 */
static void
TuneEvaluate(const TuneState *st, const TuneFold *folds, TuneCandidate *cand, int c)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops tune trial",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext fold_cxt = AllocSetContextCreate(cxt, "mlops tune fold",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	HyperParams *hp = HyperParamsParse(st->req->train.algorithm, st->task,
									   PolicyMerge(st->req->train.hyperparams, cand->params));
	instr_time	start,
				duration;
	double		sum = 0,
				var = 0;
	int			trained = 0;

	INSTR_TIME_SET_CURRENT(start);
	MemoryContextSwitchTo(fold_cxt);
	for (int f = 0; f < st->k; f++)
	{
		CHECK_FOR_INTERRUPTS();
		MlopsProgressPhase(psprintf("tuning: trial %d of %d, fold %d of %d",
									c + 1, st->ntrials, f + 1, st->k),
						   hp->applies[HP_N_ESTIMATORS] ? (int64) hp->v[HP_N_ESTIMATORS] : 0);
		cand->scores[f] = TuneFoldScore(st, hp, &folds[f]);
		trained += folds[f].ntrain;
		MemoryContextReset(fold_cxt);
	}
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);

	for (int f = 0; f < st->k; f++)
		sum += cand->scores[f];
	cand->mean = sum / st->k;
	for (int f = 0; f < st->k; f++)
		var += (cand->scores[f] - cand->mean) * (cand->scores[f] - cand->mean);
	cand->std = sqrt(var / st->k);
	cand->seconds += INSTR_TIME_GET_DOUBLE(duration);
	cand->train_rows = (int) lround((double) trained / st->k);
}

/*
 * Is candidate a better than candidate b?  Undefined scores rank last.
 */
static bool
TuneBetter(const char *metric, const TuneCandidate *a, const TuneCandidate *b)
{
	if (isnan(a->mean))
		return false;
	if (isnan(b->mean))
		return true;
	return PolicyLowerIsBetter(metric) ? a->mean < b->mean : a->mean > b->mean;
}

/*
 * qsort comparator of candidate numbers.
 */
static int
CompareInt(const void *a, const void *b)
{
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;

	return (ia > ib) - (ia < ib);
}

/*
 * Run the search: evaluate the candidates (successive halving: on growing
 * shares of the rows, keeping the best third at each rung).
 */
static void
TuneSearchRun(const TuneState *st, TuneCandidate *cands, int ncands)
{
	int		   *alive = palloc(sizeof(int) * ncands);
	int			nalive = ncands;
	int			rungs = 1;
	HyperParams *hp = HyperParamsParse(st->req->train.algorithm, st->task,
									   st->req->train.hyperparams);

	for (int c = 0; c < ncands; c++)
		alive[c] = c;
	if (st->req->search == TUNE_HALVING)
		for (int c = ncands; c > TUNE_HALVING_FACTOR; c = (c + TUNE_HALVING_FACTOR - 1) / TUNE_HALVING_FACTOR)
			rungs++;

	for (int r = 0; r < rungs; r++)
	{
		MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops tune rung",
												  ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		double		share = pow(TUNE_HALVING_FACTOR, -(rungs - 1 - r));
		TuneFold   *folds;
		int			keep;

		share = Min(1.0, Max(share, (double) TUNE_MIN_RUNG_ROWS * st->k / Max(1, st->n)));
		MlopsProgressPhase("tuning: slicing the folds", 0);
		folds = TunePrepareFolds(st, hp, share);
		MemoryContextSwitchTo(old);
		for (int i = 0; i < nalive; i++)
			TuneEvaluate(st, folds, &cands[alive[i]], alive[i]);
		MemoryContextDelete(cxt);
		if (r == rungs - 1)
			break;
		/* keep the best third: insertion sort by score, earlier first on ties */
		for (int i = 1; i < nalive; i++)
		{
			int			c = alive[i],
						j = i;

			while (j > 0 && TuneBetter(st->metric, &cands[c], &cands[alive[j - 1]]))
			{
				alive[j] = alive[j - 1];
				j--;
			}
			alive[j] = c;
		}
		keep = (nalive + TUNE_HALVING_FACTOR - 1) / TUNE_HALVING_FACTOR;
		for (int i = keep; i < nalive; i++)
			cands[alive[i]].pruned = true;
		nalive = keep;
		/* in trial order again */
		qsort(alive, nalive, sizeof(int), CompareInt);
	}
	pfree(alive);
}

/*
 * The candidates of a search: the grid's points, or trials seeded draws.
 */
static TuneCandidate *
TuneCandidates(const TuneRequest *req, const TuneSpace *space, int k, int *ncands)
{
	TuneCandidate *cands;
	pg_prng_state rng;
	int			n = req->search == TUNE_GRID ? (int) TuneSpaceGridSize(space) : req->trials;

	cands = palloc0(sizeof(TuneCandidate) * n);
	pg_prng_seed(&rng, (uint64) (int64) req->train.seed ^ UINT64CONST(0x5851f42d4c957f2d));
	for (int c = 0; c < n; c++)
	{
		cands[c].params = req->search == TUNE_GRID ? TuneSpaceGridPoint(space, c)
			: TuneSpaceSample(space, &rng);
		cands[c].scores = palloc(sizeof(double) * k);
	}
	*ncands = n;
	return cands;
}

/*
 * A new tune id.
 */
static int64
TuneNewId(void)
{
	int64		id;
	bool		isnull;

	SPI_connect();
	RegistryWriteAsOwner("SELECT pg_catalog.nextval('mlops.tune_ids'::pg_catalog.regclass)",
						 0, NULL, NULL, NULL);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return id;
}

/*
 * Record the trials of a search in mlops.trials.
 */
static void
TuneRecordTrials(int64 tune_id, const char *project, const TuneCandidate *cands, int ncands,
				 int k)
{
	Oid			types[10] = {INT8OID, TEXTOID, INT4OID, JSONBOID, FLOAT8ARRAYOID,
	FLOAT8OID, FLOAT8OID, FLOAT8OID, TEXTOID, INT4OID};
	Datum		values[10];
	char		nulls[10];
	Datum	   *scores = palloc(sizeof(Datum) * k);

	SPI_connect();
	for (int c = 0; c < ncands; c++)
	{
		bool		undefined = isnan(cands[c].mean);

		for (int f = 0; f < k; f++)
			scores[f] = Float8GetDatum(cands[c].scores[f]);
		memset(nulls, ' ', sizeof(nulls));
		values[0] = Int64GetDatum(tune_id);
		values[1] = CStringGetTextDatum(project);
		values[2] = Int32GetDatum(c + 1);
		values[3] = JsonbPGetDatum(cands[c].params);
		values[4] = PointerGetDatum(construct_array(scores, k, FLOAT8OID, sizeof(float8),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[5] = Float8GetDatum(cands[c].mean);
		values[6] = Float8GetDatum(cands[c].std);
		values[7] = Float8GetDatum(cands[c].seconds);
		values[8] = CStringGetTextDatum(cands[c].pruned ? "pruned" : "complete");
		values[9] = Int32GetDatum(cands[c].train_rows);
		if (undefined)
			nulls[5] = nulls[6] = 'n';
		RegistryWriteAsOwner("INSERT INTO mlops.trials (tune_id, project, trial, params, scores, "
							 "mean, std, seconds, status, train_rows) "
							 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
							 10, types, values, nulls);
	}
	SPI_finish();
}

/*
 * Refuse a search whose memory would exceed mlops.max_train_memory, before
 * the feature matrix is built: the data read, the feature matrix of the
 * training rows, a fit's copy of a fold of it and the fit itself; with a
 * shared libxgboost matrix, that matrix (an index and a float per value)
 * and its slices for the folds with their quantized form (a byte per
 * value), instead of the fit's copy.
 */
static void
CheckTuneMemory(const TuneState *st, bool share_matrix)
{
	TrainData	sizing = {0};
	double		matrix = (double) st->n * (st->p + 1.0) * sizeof(double);
	double		xgb = share_matrix ? (double) st->n * st->p * (8.0 + 9.0 * (st->k - 1)) : matrix;
	double		fit;

	sizing.algorithm = st->req->train.algorithm;
	sizing.n = st->n;
	sizing.p = st->p;
	sizing.nclasses = st->ds->nclasses;
	fit = ModelOps(sizing.algorithm)->fit_memory(&sizing,
												 HyperParamsParse(sizing.algorithm, st->task,
																  st->req->train.hyperparams));
	MlopsCheckTrainMemory(st->ds->bytes + matrix + xgb + fit,
						  "Reading the data takes %.0f kB; the %d x %d feature matrix of the training rows %.0f kB, the folds' matrices %.0f kB and a fit %.0f kB.",
						  ceil(st->ds->bytes / 1024.0), st->n, st->p, ceil(matrix / 1024.0),
						  ceil(xgb / 1024.0), ceil(fit / 1024.0));
}

/*
 * Run a tune: check, read, search, record the trials, refit the best
 * candidate through mlops.train's path.  Fills res as TrainRun does, and
 * the tune's id, best parameters and their cross-validated score.
 */
static void
TuneRun(const TuneRequest *req, TrainResult *res, int64 *tune_id, Jsonb **best_params,
		double *cv_score)
{
	TrainPlan	plan;
	Policy		policy;
	const char *metric;
	DatasetSpec spec;
	Dataset    *ds;
	Split	   *split;
	TuneSpace  *space;
	Featurizer *fz;
	TuneState	st = {0};
	TuneCandidate *cands;
	int			ncands;
	int			best = -1;
	bool		share_matrix;
	MemoryContext search_cxt,
				old;
	TrainRequest refit;
	StringInfoData buf;

	TuneCheck(req, &plan);
	if (plan.proj != NULL)
		PolicyForProject(plan.proj->name, NULL, &policy);
	else
		PolicyParse(NULL, &policy);
	if (policy.metric != NULL && req->metric != NULL && strcmp(policy.metric, req->metric) != 0)
		ereport(NOTICE,
				(errmsg("tuning by the project's policy metric \"%s\", not \"%s\"",
						policy.metric, req->metric),
				 errdetail("The policy's metric chooses between models of the project.")));

	/* read the rows once; everything the search holds goes with search_cxt */
	search_cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops tune search",
									   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(search_cxt);
	MlopsProgressPhase("reading", 0);
	spec.ncolumns = plan.ncolumns;
	spec.names = plan.columns;
	spec.array_lengths = palloc0(sizeof(int) * Max(1, plan.ncolumns));
	ds = DatasetRead(plan.relid, plan.relname, req->train.target, &spec, req->train.order_by,
					 plan.target_mode, NULL, 0);
	if (ds->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("relation %s has no rows with a non-NULL target to tune on", plan.relname)));
	st.task = ds->nclasses > 0 ? TASK_CLASSIFICATION : TASK_REGRESSION;
	metric = policy.metric ? policy.metric : req->metric ? req->metric : PolicyMetric(&policy, st.task);
	CheckMetric(metric, st.task);
	space = TuneSpaceParse(req->search_space, req->train.algorithm, st.task, req->train.hyperparams);
	split = SplitRows(ds, TrainChooseSplit(&req->train, st.task), req->train.test_size,
					  req->train.seed);
	TrainCheckTargetVaries(ds, split, st.task);

	/* folds, the transform, the feature matrix and libxgboost's, once */
	MlopsProgressPhase("featurizing", 0);
	st.req = req;
	st.ds = ds;
	st.metric = metric;
	st.n = split->ntrain;
	st.rows = split->train;
	st.k = req->cv;
	st.fold = CvAssignFolds(ds, split->train, split->ntrain, st.task == TASK_CLASSIFICATION,
							req->cv, req->train.seed);
	fz = FeaturizerFit(ds, split->train, split->ntrain, req->train.algorithm, req->train.preprocess);
	st.p = fz->nfeatures;
	/* per-candidate class weights change the matrices' weights: no sharing */
	share_matrix = ALG_IS_TREE(req->train.algorithm) && !TuneSpaceHas(space, "class_weight");
	CheckTuneMemory(&st, share_matrix);
	st.X = FeaturizerMatrix(fz, ds, split->train, split->ntrain);
	if (share_matrix)
	{
		double	   *y = palloc_extended(sizeof(double) * st.n, MCXT_ALLOC_HUGE);

		for (int i = 0; i < st.n; i++)
			y[i] = ds->target[st.rows[i]];
		st.full = XgbMatrixCreate(st.X, y, st.n, st.p);
		pfree(y);
	}

	/* search */
	cands = TuneCandidates(req, space, st.k, &ncands);
	st.ntrials = ncands;
	TuneSearchRun(&st, cands, ncands);
	for (int c = 0; c < ncands; c++)
		if (!cands[c].pruned && (best < 0 || TuneBetter(metric, &cands[c], &cands[best])))
			best = c;
	if (isnan(cands[best].mean))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no trial has a defined %s on every fold", metric),
				 errhint("Choose another metric, or fewer folds.")));

	MemoryContextSwitchTo(old);
	*tune_id = TuneNewId();
	TuneRecordTrials(*tune_id, req->train.project, cands, ncands, st.k);
	*best_params = (Jsonb *) PG_DETOAST_DATUM_COPY(JsonbPGetDatum(cands[best].params));
	*cv_score = cands[best].mean;
	metric = pstrdup(metric);
	MemoryContextDelete(search_cxt);

	/* refit the best on all training rows, as mlops.train would */
	refit = req->train;
	refit.hyperparams = PolicyMerge(req->train.hyperparams, *best_params);
	refit.tune_id = *tune_id;
	refit.parent_model_id = plan.proj ? RegistryDeployedModel(plan.proj->id) : 0;
	if (policy.metric == NULL && req->metric != NULL)
	{
		initStringInfo(&buf);
		appendStringInfoString(&buf, "{\"metric\": ");
		JsonAppendString(&buf, req->metric);
		appendStringInfoChar(&buf, '}');
		refit.policy = JsonFromText(&buf);
	}
	TrainRun(&refit, res);

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"tune_id\": " INT64_FORMAT ", \"search\": \"%s\", \"trials\": %d, "
					 "\"cv\": %d, \"metric\": ", *tune_id, TuneSearchName(req->search), ncands, st.k);
	JsonAppendString(&buf, metric);
	appendStringInfo(&buf, ", \"cv_score\": ");
	JsonAppendDouble(&buf, *cv_score);
	appendStringInfo(&buf, ", \"best_params\": %s}",
					 JsonbToCString(NULL, &(*best_params)->root, VARSIZE(*best_params)));
	RegistryLogEvent("tune", req->train.project, res->model_id, buf.data);
}

/*
 * mlops.tune(project, relation, target, algorithm, search_space, search,
 * trials, cv, metric, task, hyperparams, preprocess, features, exclude,
 * test_size, split, order_by, seed, deploy)
 */
Datum
mlops_tune(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TuneRequest req = {0};
	TrainResult res = {0};
	int64		tune_id;
	Jsonb	   *best_params;
	double		cv_score;
	Datum		result[10];
	bool		nulls[10] = {0};

	TuneRequestFromArgs(fcinfo, &req);
	TuneRun(&req, &res, &tune_id, &best_params, &cv_score);

	result[0] = CStringGetTextDatum(req.train.project);
	result[1] = Int64GetDatum(res.model_id);
	result[2] = Int32GetDatum(res.version);
	result[3] = CStringGetTextDatum(MlopsAlgorithmName(req.train.algorithm));
	result[4] = CStringGetTextDatum(MlopsTaskName(res.task));
	result[5] = JsonbPGetDatum(res.metrics);
	result[6] = BoolGetDatum(res.deployed);
	result[7] = Int64GetDatum(tune_id);
	result[8] = JsonbPGetDatum(best_params);
	result[9] = Float8GetDatum(cv_score);
	SetSingleFuncCall(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, result, nulls);
	return (Datum) 0;
}
