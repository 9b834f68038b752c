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
 * matrix once; each fit of a trial gathers its fold's rows from that
 * matrix.  (Fitting the transform once is what a scikit-learn search over a
 * transformed matrix does: for trees it only numbers the categories; linear
 * models' scaling statistics see the validation fold's inputs, not its
 * targets.)
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
	int			ntrials;		/* for the progress phase */
} TuneState;

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
 * Fit a candidate on the training rows outside fold f (those of the subset
 * of a share of the rows) and return its score on fold f.
 */
static double
TuneFoldScore(const TuneState *st, const HyperParams *hp, int f, double share, int *ntrained)
{
	const Dataset *ds = st->ds;
	const AlgorithmOps *ops = ModelOps(st->req->train.algorithm);
	int		   *train = palloc_extended(sizeof(int) * st->n, MCXT_ALLOC_HUGE);
	int		   *test = palloc_extended(sizeof(int) * st->n, MCXT_ALLOC_HUGE);
	int			ntrain = 0,
				ntest = 0;
	int		   *val = NULL;
	TrainData	td = {0};
	double	   *X,
			   *y,
			   *out;
	bytea	   *blob;
	void	   *impl;
	StringInfoData buf;

	for (int i = 0; i < st->n; i++)
	{
		if (st->fold[i] == f)
			test[ntest++] = i;
		else if (InSubset(i, share, st->req->train.seed))
			train[ntrain++] = i;
	}
	if (ntrain < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too few training rows to tune: fold %d has %d", f + 1, ntrain)));
	td.algorithm = st->req->train.algorithm;
	if (hp->applies[HP_EARLY_STOPPING_ROUNDS] && hp->v[HP_EARLY_STOPPING_ROUNDS] > 0)
		SplitHoldOut(train, &ntrain, &val, &td.nval, EARLY_STOPPING_FRACTION,
					 st->req->train.seed);
	*ntrained = ntrain;

	/* the fold's rows from the shared matrix (column-major) */
	td.n = ntrain;
	td.p = st->p;
	td.nclasses = ds->nclasses;
	td.seed = st->req->train.seed;
	X = palloc_extended(sizeof(double) * Max(1, ntrain) * Max(1, st->p), MCXT_ALLOC_HUGE);
	y = palloc_extended(sizeof(double) * Max(1, ntrain), MCXT_ALLOC_HUGE);
	for (int j = 0; j < st->p; j++)
		for (int i = 0; i < ntrain; i++)
			X[(size_t) j * ntrain + i] = st->X[(size_t) j * st->n + train[i]];
	for (int i = 0; i < ntrain; i++)
		y[i] = ds->target[st->rows[train[i]]];
	td.X = X;
	td.y = y;
	td.class_weight = HyperParamsClassWeights(hp, ds->labels, ds->nclasses, y, ntrain);
	if (td.nval > 0)
	{
		double	   *Xv = palloc_extended(sizeof(double) * td.nval * Max(1, st->p), MCXT_ALLOC_HUGE);
		double	   *yv = palloc(sizeof(double) * td.nval);

		for (int j = 0; j < st->p; j++)
			for (int i = 0; i < td.nval; i++)
				Xv[(size_t) j * td.nval + i] = st->X[(size_t) j * st->n + val[i]];
		for (int i = 0; i < td.nval; i++)
			yv[i] = ds->target[st->rows[val[i]]];
		td.Xval = Xv;
		td.yval = yv;
	}

	initStringInfo(&buf);
	blob = ops->fit(&td, hp, &buf, palloc0(sizeof(double) * Max(1, st->p)));
	pfree(X);
	impl = ops->load(blob, st->p, ds->nclasses);

	/* score the fold's rows (row-major) */
	X = palloc_extended(sizeof(double) * Max(1, ntest) * Max(1, st->p), MCXT_ALLOC_HUGE);
	for (int i = 0; i < ntest; i++)
		for (int j = 0; j < st->p; j++)
			X[(size_t) i * st->p + j] = st->X[(size_t) j * st->n + test[i]];
	out = palloc_extended(sizeof(double) * Max(1, ntest) * Max(1, ds->nclasses),
						  MCXT_ALLOC_HUGE);
	ops->predict(impl, X, ntest, st->p, out);
	resetStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (st->task == TASK_CLASSIFICATION)
	{
		int		   *yi = palloc(sizeof(int) * Max(1, ntest));

		for (int i = 0; i < ntest; i++)
			yi[i] = (int) ds->target[st->rows[test[i]]];
		MetricsClassification(&buf, yi, out, ntest, ds->nclasses);
	}
	else
	{
		double	   *yt = palloc(sizeof(double) * Max(1, ntest));

		for (int i = 0; i < ntest; i++)
			yt[i] = ds->target[st->rows[test[i]]];
		MetricsRegression(&buf, yt, out, ntest);
	}
	appendStringInfoChar(&buf, '}');
	return TrainScore(JsonFromText(&buf), st->metric);
}

/*
 * Evaluate candidate number c (of the trials) on every fold, training on a
 * share of the rows.
 */
static void
TuneEvaluate(const TuneState *st, TuneCandidate *cand, int c, double share)
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
		int			ntrained;

		CHECK_FOR_INTERRUPTS();
		MlopsProgressPhase(psprintf("tuning: trial %d of %d, fold %d of %d",
									c + 1, st->ntrials, f + 1, st->k),
						   hp->applies[HP_N_ESTIMATORS] ? (int64) hp->v[HP_N_ESTIMATORS] : 0);
		cand->scores[f] = TuneFoldScore(st, hp, f, share, &ntrained);
		trained += ntrained;
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

	for (int c = 0; c < ncands; c++)
		alive[c] = c;
	if (st->req->search == TUNE_HALVING)
		for (int c = ncands; c > TUNE_HALVING_FACTOR; c = (c + TUNE_HALVING_FACTOR - 1) / TUNE_HALVING_FACTOR)
			rungs++;

	for (int r = 0; r < rungs; r++)
	{
		double		share = pow(TUNE_HALVING_FACTOR, -(rungs - 1 - r));
		int			keep;

		/* at least 20 rows per fold to train on */
		share = Min(1.0, Max(share, 20.0 * st->k / Max(1, st->n)));
		for (int i = 0; i < nalive; i++)
			TuneEvaluate(st, &cands[alive[i]], alive[i], share);
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
	double		matrix,
				fit;
	TrainData	sizing = {0};
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

	/* read the rows once */
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

	/* folds, the transform and the feature matrix, once */
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
	matrix = (double) st.n * (st.p + 1.0) * sizeof(double);
	sizing.algorithm = req->train.algorithm;
	sizing.n = st.n;
	sizing.p = st.p;
	sizing.nclasses = ds->nclasses;
	fit = ModelOps(req->train.algorithm)->fit_memory(&sizing,
													 HyperParamsParse(req->train.algorithm, st.task,
																	  req->train.hyperparams));
	MlopsCheckTrainMemory(ds->bytes + 2.0 * matrix + fit,
						  "Reading the data takes %.0f kB; the %d x %d feature matrix of the training rows and a fold's copy of it take %.0f kB, a fit %.0f kB.",
						  ceil(ds->bytes / 1024.0), st.n, st.p, ceil(2.0 * matrix / 1024.0),
						  ceil(fit / 1024.0));
	st.X = FeaturizerMatrix(fz, ds, split->train, split->ntrain);

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
	pfree((void *) st.X);

	*tune_id = TuneNewId();
	TuneRecordTrials(*tune_id, req->train.project, cands, ncands, st.k);
	*best_params = cands[best].params;
	*cv_score = cands[best].mean;

	/* refit the best on all training rows, as mlops.train would */
	refit = req->train;
	refit.hyperparams = PolicyMerge(req->train.hyperparams, cands[best].params);
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
					 JsonbToCString(NULL, &cands[best].params->root, VARSIZE(cands[best].params)));
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
