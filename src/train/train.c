/*-------------------------------------------------------------------------
 *
 * train.c
 *	  mlops.train: read, split, featurize, fit, evaluate, register, deploy.
 *
 * Every setting is checked before a row is read (TrainCheck, which
 * mlops.train_async, mlops.retrain and mlops.schedule call too, so a typo
 * fails at once and never after minutes of reading).
 * The relation is read as the calling role.  Featurization statistics are
 * fitted on the training rows only.  Metrics are computed by loading the
 * serialized model exactly as predict will, and scoring the held-out rows
 * through the same path, so the stored metrics describe the stored model.
 * The reference profile of the training inputs is built before the fit;
 * once the fit has read the training rows (TrainDataRowsDone; for XGBoost
 * column by column, as it moves them into floats) only the held-out rows
 * of the data set are kept, so the fit's own memory (for XGBoost the
 * quantized matrix and the boosting state) does not add to a full copy of
 * the table.
 * Least squares and ridge with a random split on numeric columns do not
 * hold the rows at all: train_stream.c reads them in blocks, several
 * times, and hands back what registration needs (TrainStreamApplies says
 * when).  On a distributed Citus table linear, ridge and logistic train
 * through aggregates pushed down to the shards (train_distributed.c,
 * TrainDistributedApplies says when), and hand back the same.
 * The registry writes happen last, as the extension owner; an error before
 * then leaves nothing behind (all memory, libxgboost's included, belongs to
 * the call's memory contexts).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/lsyscache.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "train/curves.h"
#include "train/cv.h"
#include "train/dataset.h"
#include "train/featurize.h"
#include "train/hyperparams.h"
#include "jsonutil.h"
#include "train/metrics.h"
#include "serve/model.h"
#include "ops/governance.h"
#include "serve/model_cache.h"
#include "monitor/profile.h"
#include "ops/progress.h"
#include "ops/policy.h"
#include "privileges.h"
#include "registry.h"
#include "train/split.h"
#include "train/train.h"
#include "train/train_distributed.h"
#include "train/train_stream.h"

PG_FUNCTION_INFO_V1(mlops_train);

/*
 * An argument that must not be NULL.
 */
static void
RequireArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
}

/*
 * The task of a training run: given, fixed by the project, implied by the
 * algorithm, or -1 to be inferred from the target.
 */
static int
ChooseTask(int task, const RegistryProject *proj, MlopsAlgorithm alg)
{
	if (proj != NULL)
	{
		if (task >= 0 && task != (int) proj->task)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("project \"%s\" is a %s project", proj->name, MlopsTaskName(proj->task)),
					 errdetail("The first training run of a project fixes its task.")));
		task = proj->task;
	}
	if (task < 0 && alg == ALG_LOGISTIC)
		task = TASK_CLASSIFICATION;
	else if (task < 0 && !ALG_IS_TREE(alg))
		task = TASK_REGRESSION;

	if (task == TASK_CLASSIFICATION && !ALG_IS_TREE(alg) && alg != ALG_LOGISTIC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("algorithm \"%s\" is for regression", MlopsAlgorithmName(alg)),
				 errhint("Use \"logistic\", \"xgboost\" or \"random_forest\" for classification.")));
	if (task == TASK_REGRESSION && alg == ALG_LOGISTIC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("algorithm \"logistic\" is for classification")));
	return task;
}

/*
 * How to read the target, given the task (or -1) and the target's type.
 */
static TargetMode
ChooseTargetMode(int task, Oid target_type)
{
	Oid			base = getBaseType(target_type);

	if (task == TASK_REGRESSION)
		return TARGET_REGRESSION;
	if (task == TASK_CLASSIFICATION && !DatasetTargetIsCategorical(base) &&
		base != INT2OID && base != INT4OID && base != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("classification target has type %s", format_type_be(target_type)),
				 errhint("A classification target must be boolean, integer, text or an enum; cast it in a view.")));
	if (task == TASK_CLASSIFICATION || DatasetTargetIsCategorical(base))
		return TARGET_COLLECT_LABELS;
	if (base == INT2OID || base == INT4OID || base == INT8OID)
		return TARGET_INFER;
	return TARGET_REGRESSION;
}

/*
 * Refuse a training run whose memory would exceed mlops.max_train_memory,
 * before the feature matrix is built.  The data read and the split are held
 * to the end; the fit phase adds the feature matrices of the training and
 * validation rows with their targets (one-hot encoding makes them wider
 * than the data; an algorithm that streams its rows has none: XGBoost's
 * float columns are never wider than the doubles they replace) and what the
 * algorithm allocates besides (libxgboost's quantized matrix, the linear
 * solvers' working matrices); after the fit, the reference profile (see
 * ProfileBuildMemory) takes their place.
 */
static void
CheckTrainMemory(const Dataset *ds, const Split *split, const TrainData *td,
				 const HyperParams *hp)
{
	double		held = ds->bytes + 2.0 * sizeof(int) * ds->nrows;
	double		matrix = ((double) td->n + td->nval) *
		(ModelOps(td->algorithm)->streams ? 1.0 : td->p + 1.0) * sizeof(double);
	double		fit = ModelOps(td->algorithm)->fit_memory(td, hp);
	double		profile = ProfileBuildMemory(ds, split->ntrain, split->ntest);

	MlopsCheckTrainMemory(held + Max(matrix + fit, profile),
						  "Reading the data takes %.0f kB; then the %d x %d feature matrix takes %.0f kB and the %s fit %.0f kB; then the reference profile %.0f kB.",
						  ceil(held / 1024.0), td->n + td->nval, td->p, ceil(matrix / 1024.0),
						  MlopsAlgorithmName(td->algorithm), ceil(fit / 1024.0), ceil(profile / 1024.0));
}

/* the data set of a training run and its split, for TrainKeepHeldOut */
typedef struct HeldOutRows
{
	Dataset    *ds;				/* the new model's columns */
	Dataset    *both;			/* with the compared model's columns */
	Split	   *split;
	int			inputs_kept;	/* inputs 0 .. inputs_kept - 1 of both hold
								 * only the held-out rows */
	bool		done;
} HeldOutRows;

/*
 * The fit no longer reads input "input" of the training rows (it reads
 * them in order): keep only its held-out rows (see TrainKeepHeldOut).
 */
static void
TrainKeepHeldOutInput(void *arg, int input)
{
	HeldOutRows *h = (HeldOutRows *) arg;

	Assert(!h->done && input == h->inputs_kept);
	DatasetKeepInputRows(h->both, input, h->split->test, h->split->ntest);
	h->inputs_kept = input + 1;
}

/*
 * The fit no longer reads the training rows (TrainDataRowsDone): keep only
 * the held-out rows of the data set, renumbered 0 .. ntest - 1, for the
 * metrics and the comparison; the training rows' columns are freed before
 * the fit allocates its own memory.  The reference profile of the training
 * rows is built before.
 */
static void
TrainKeepHeldOut(void *arg)
{
	HeldOutRows *h = (HeldOutRows *) arg;

	if (h->done)
		return;
	h->done = true;
	DatasetKeepRows(h->both, h->split->test, h->split->ntest, h->inputs_kept);
	h->ds->target = h->both->target;
	h->ds->nrows = h->both->nrows;
	h->ds->bytes = h->both->bytes;
	for (int i = 0; i < h->split->ntest; i++)
		h->split->test[i] = i;
	h->split->train = NULL;
}

/*
 * Refuse targets that cannot be learned: one class, or a constant value.
 */
void
TrainCheckTargetVaries(const Dataset *ds, const Split *s, MlopsTask task)
{
	double		first = ds->target[s->train[0]];

	for (int i = 1; i < s->ntrain; i++)
		if (ds->target[s->train[i]] != first)
			return;
	TrainConstantTargetError(ds, task);
}

/*
 * The error of a target that is constant (one class) in the training rows.
 */
void
TrainConstantTargetError(const Dataset *ds, MlopsTask task)
{
	if (task == TASK_CLASSIFICATION)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("target column \"%s\" has a single class in the training rows", ds->target_name),
				 errdetail("Classification needs at least two classes.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("target column \"%s\" is constant in the training rows", ds->target_name)));
}

/*
 * Refuse a relation without a row to train on, and say how many rows a
 * NULL target left out.
 */
void
TrainCheckRowsRead(const Dataset *ds)
{
	if (ds->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("relation %s has no rows with a non-NULL target to train on", ds->relname)));
	if (ds->null_targets > 0)
		ereport(NOTICE,
				(errmsg("skipped " INT64_FORMAT " rows whose target is NULL", ds->null_targets)));
}

/*
 * The split of a training run, given its task (-1 while the target is not
 * read yet); a setting that cannot work is an error.
 */
SplitKind
TrainChooseSplit(const TrainRequest *req, int task)
{
	SplitKind	kind;

	if (req->split >= 0)
		kind = (SplitKind) req->split;
	else if (req->order_by != NULL)
		kind = SPLIT_LAST;
	else
		kind = task == TASK_CLASSIFICATION ? SPLIT_STRATIFIED : SPLIT_RANDOM;
	if (kind == SPLIT_LAST && req->order_by == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("split \"last\" needs order_by"),
				 errhint("Name the column that orders the rows in time, e.g. order_by => 'created_at'.")));
	if (kind == SPLIT_STRATIFIED && task == TASK_REGRESSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("split \"stratified\" applies only to classification")));
	return kind;
}

/*
 * Check every setting of a training request before a row is read: the
 * project, test_size and deploy, the relation and its columns (target,
 * features, exclude, order_by), the task the target allows, the split,
 * the hyperparameters of the algorithm, and the preprocess settings
 * against the feature columns' names and types.  What the check learned
 * goes to plan.  Only what depends on the values (an integer target that
 * turns out to be a regression target, a constant target) is left for
 * after the read.
 */
void
TrainCheck(const TrainRequest *req, TrainPlan *plan)
{
	DatasetColumn *cols;

	RegistryCheckProjectName(req->project);
	if (!(req->test_size >= 0.0 && req->test_size < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_size must be at least 0 and less than 1"),
				 errdetail("test_size is %g.", req->test_size)));
	if (strcmp(req->deploy, "auto") != 0 && strcmp(req->deploy, "always") != 0 &&
		strcmp(req->deploy, "never") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown deploy setting \"%s\"", req->deploy),
				 errhint("Valid settings are \"auto\", \"always\" and \"never\".")));

	plan->proj = RegistryGetProject(req->project, true);
	if (plan->proj != NULL)
	{
		PrivilegeCheck(plan->proj->id, plan->proj->name, PRIV_TRAIN);
		if (strcmp(req->deploy, "never") != 0)
			PrivilegeCheck(plan->proj->id, plan->proj->name, PRIV_DEPLOY);
		if (strcmp(plan->proj->target, req->target) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("project \"%s\" has target \"%s\", not \"%s\"",
							req->project, plan->proj->target, req->target),
					 errdetail("The first training run of a project fixes its target.")));
	}
	plan->task = ChooseTask(req->task, plan->proj, req->algorithm);

	plan->relid = DatasetResolveRelation(req->relation, &plan->relname);
	plan->columns = DatasetFeatureColumns(plan->relid, req->target, req->features, req->exclude,
										  &plan->ncolumns);
	if (req->order_by != NULL && get_attnum(plan->relid, req->order_by) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("order_by column \"%s\" does not exist in relation %s",
						req->order_by, plan->relname)));
	plan->target_mode = ChooseTargetMode(plan->task,
										 get_atttype(plan->relid, get_attnum(plan->relid, req->target)));
	if (plan->target_mode == TARGET_REGRESSION)
		plan->task = TASK_REGRESSION;
	else if (plan->target_mode == TARGET_COLLECT_LABELS)
		plan->task = TASK_CLASSIFICATION;

	(void) TrainChooseSplit(req, plan->task);
	/* while the task is unknown, only scale_pos_weight waits for the read */
	(void) HyperParamsParse(req->algorithm, plan->task < 0 ? TASK_CLASSIFICATION : plan->task,
							req->hyperparams);

	cols = palloc0(sizeof(DatasetColumn) * Max(1, plan->ncolumns));
	for (int j = 0; j < plan->ncolumns; j++)
	{
		cols[j].name = plan->columns[j];
		cols[j].typid = getBaseType(get_atttype(plan->relid, get_attnum(plan->relid, cols[j].name)));
		cols[j].kind = DatasetSourceKind(cols[j].typid, cols[j].name);
	}
	FeaturizerCheckPreprocess(req->preprocess, cols, plan->ncolumns);
	pfree(cols);
}

/*
 * Train, evaluate, register and (per req->deploy) deploy a model.
 */
void
TrainRun(const TrainRequest *req, TrainResult *res)
{
	TrainPlan	plan;
	RegistryProject *proj;
	int			task;
	char	   *relname;
	Oid			relid;
	char	  **columns;
	int			ncolumns;
	DatasetSpec spec;
	Dataset    *ds;
	Dataset		both;
	int64		compare_id;
	SplitKind	split_kind;
	Split	   *split;
	HyperParams *hp;
	Featurizer *fz;
	TrainData	td = {0};
	int		   *val_rows = NULL;
	StringInfoData info,
				buf,
				metrics,
				training;
	bytea	   *blob;
	instr_time	start,
				duration;
	double		fit_seconds;
	MlopsModel	loaded = {0};
	MemoryContext score_cxt;
	MemoryContext old;
	RegistryModelRow row = {0};
	double	   *pred = NULL;
	double	   *importance;
	double		old_score;
	bool		same_rows;
	Policy		policy;
	CurveSet   *curves = NULL;
	char	   *cv = NULL;
	int			nrows;
	HeldOutRows held_out = {0};
	ProfileBuilder *profile;
	bool		streamed;
	bool		distributed;

	TrainCheck(req, &plan);
	proj = plan.proj;
	/* the project's policy, with a retrain's own keys, picks the metric */
	if (proj != NULL)
		PolicyForProject(proj->name, req->policy, &policy);
	else
		PolicyParse(req->policy, &policy);
	/* deploy "auto" compares with the deployed model on the same rows */
	compare_id = req->compare_model;
	if (compare_id == 0 && proj != NULL && strcmp(req->deploy, "auto") == 0)
		compare_id = RegistryDeployedModel(proj->id);
	relid = plan.relid;
	relname = plan.relname;
	columns = plan.columns;
	ncolumns = plan.ncolumns;

	/*
	 * linear and ridge on numeric columns train from blocks of rows; on a
	 * distributed table linear, ridge and logistic through partial
	 * aggregates
	 */
	res->compare_score = NAN;
	distributed = TrainDistributedApplies(req, &plan);
	streamed = distributed || TrainStreamApplies(req, &plan);
	if (streamed)
	{
		TrainStreamResult sr = {0};

		task = distributed ? plan.task : TASK_REGRESSION;
		res->metric = PolicyMetric(&policy, task);
		if (distributed)
			TrainDistributedRun(req, &plan, compare_id, &sr, res);
		else
		{
			TrainReadSpec(&plan, compare_id ? ModelCacheGet(compare_id) : NULL, &spec);
			TrainStreamRun(req, &plan, &spec, compare_id, &sr, res);
		}
		ds = sr.ds;
		nrows = ds->nrows;
		row.data_fingerprint = psprintf("%d:%016" INT64_MODIFIER "x", nrows, sr.fingerprint);
		split_kind = SPLIT_RANDOM;
		split = palloc0(sizeof(Split));
		split->ntrain = sr.ntrain;
		split->ntest = sr.ntest;
		hp = sr.hp;
		fz = sr.fz;
		blob = sr.blob;
		importance = sr.importance;
		info = sr.info;
		fit_seconds = sr.fit_seconds;
		row.profile = sr.profile;
		curves = sr.curves;
		initStringInfo(&metrics);
		appendStringInfo(&metrics, "{%s%s", sr.metrics.data, sr.ntest > 0 ? ", " : "");
		goto evaluated;
	}

	/* read, with the columns of the model to compare with */
	MlopsProgressPhase("reading", 0);
	TrainReadSpec(&plan, compare_id ? ModelCacheGet(compare_id) : NULL, &spec);
	ds = DatasetRead(relid, relname, req->target, &spec, req->order_by, plan.target_mode, NULL, 0);
	both = *ds;
	if (ds->ncolumns > ncolumns)
	{
		/* the new model sees its own columns only */
		ds->ninputs = ds->columns[ncolumns].first_input;
		ds->ncolumns = ncolumns;
	}
	nrows = ds->nrows;
	row.data_fingerprint = psprintf("%d:%016" INT64_MODIFIER "x", ds->nrows,
									DatasetFingerprint(ds));
	TrainCheckRowsRead(ds);
	DatasetNoticeIdColumns(ds);
	task = ds->nclasses > 0 ? TASK_CLASSIFICATION : TASK_REGRESSION;
	res->metric = PolicyMetric(&policy, task);

	/* split */
	split_kind = TrainChooseSplit(req, task);
	split = SplitRows(ds, split_kind, req->test_size, req->seed);
	TrainCheckTargetVaries(ds, split, task);

	/* featurize and fit */
	MlopsProgressPhase("featurizing", 0);
	hp = HyperParamsParse(req->algorithm, task, req->hyperparams);
	td.algorithm = req->algorithm;
	if (hp->applies[HP_EARLY_STOPPING_ROUNDS] && hp->v[HP_EARLY_STOPPING_ROUNDS] > 0)
		SplitHoldOut(split->train, &split->ntrain, &val_rows, &td.nval,
					 EARLY_STOPPING_FRACTION, req->seed);
	fz = FeaturizerFit(ds, split->train, split->ntrain, req->algorithm, req->preprocess);

	td.n = split->ntrain;
	td.p = fz->nfeatures;
	td.nclasses = ds->nclasses;
	td.seed = req->seed;
	CheckTrainMemory(ds, split, &td, hp);
	if (req->cv > 0)
		cv = CrossValidate(ds, split->train, split->ntrain, task, req->algorithm, hp,
						   req->preprocess, req->cv, req->seed);
	TrainDataSetRows(&td, fz, ds, split->train, val_rows);
	td.y = DatasetTargets(ds, split->train, split->ntrain);
	td.class_weight = HyperParamsClassWeights(hp, ds->labels, ds->nclasses, td.y, td.n);
	if (td.nval > 0)
		td.yval = DatasetTargets(ds, val_rows, td.nval);

	/* the reference profile for drift: the training inputs now, while they are here */
	profile = ProfileBegin(ds, split->train, split->ntrain, req->seed);
	held_out.ds = ds;
	held_out.both = &both;
	held_out.split = split;
	td.rows_done = TrainKeepHeldOut;
	td.input_done = TrainKeepHeldOutInput;
	td.rows_done_arg = &held_out;

	initStringInfo(&info);
	MlopsProgressPhase("fitting", hp->applies[HP_N_ESTIMATORS] ? (int64) hp->v[HP_N_ESTIMATORS] : 0);
	INSTR_TIME_SET_CURRENT(start);
	importance = palloc0(sizeof(double) * Max(1, td.p));
	blob = ModelOps(req->algorithm)->fit(&td, hp, &info, importance);
	TrainKeepHeldOut(&held_out);
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	fit_seconds = INSTR_TIME_GET_DOUBLE(duration);
	if (td.X != NULL)
		pfree((void *) td.X);

	/* evaluate the stored form on the held-out rows */
	MlopsProgressPhase("evaluating", split->ntest);
	initStringInfo(&metrics);
	appendStringInfoChar(&metrics, '{');
	score_cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops scoring", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(score_cxt);
	loaded.algorithm = req->algorithm;
	loaded.task = task;
	loaded.fz = fz;
	loaded.nclasses = ds->nclasses;
	loaded.ops = ModelOps(req->algorithm);
	loaded.impl = loaded.ops->load(blob, fz->nfeatures, ds->nclasses);
	if (split->ntest > 0)
	{
		ModelScoreRows(&loaded, ds, split->test, split->ntest, &metrics, &pred);
		appendStringInfoString(&metrics, ", ");
	}
	MemoryContextSwitchTo(old);

	/* the reference profile ends with the held-out predictions */
	row.profile = ProfileEnd(profile, pred, split->ntest, ModelOutputs(&loaded),
							 task == TASK_CLASSIFICATION ? ds->labels : NULL);
	if (task == TASK_CLASSIFICATION && split->ntest > 0)
		curves = CurvesHeldOut(pred, DatasetTargets(ds, split->test, split->ntest), split->ntest,
							   ds->nclasses, ds->labels);
	MemoryContextDelete(score_cxt);

evaluated:
	if (cv != NULL)
		appendStringInfo(&metrics, "\"cv\": %s, ", cv);
	appendStringInfo(&metrics, "\"train_rows\": %d, \"test_rows\": %d, \"fit_seconds\": %.6f}",
					 split->ntrain, split->ntest, fit_seconds);

	/* the deployed model on the same held-out rows */
	if (compare_id != 0 && !streamed)
		CompareOnHeldOut(compare_id, task, &both, split, res);

	/* the training record */
	initStringInfo(&training);
	appendStringInfoString(&training, "{\"relation\": ");
	JsonAppendString(&training, relname);
	appendStringInfoString(&training, ", \"target\": ");
	JsonAppendString(&training, req->target);
	appendStringInfoString(&training, ", \"target_type\": ");
	JsonAppendString(&training, format_type_be(ds->target_type));
	appendStringInfo(&training, ", \"labels_numeric\": %s", ds->labels_numeric ? "true" : "false");
	appendStringInfoString(&training, ", \"columns\": ");
	JsonAppendStrings(&training, columns, ncolumns);
	appendStringInfo(&training, ", \"rows\": %d, \"null_target_rows\": " INT64_FORMAT
					 ", \"train_rows\": %d, \"test_rows\": %d, \"validation_rows\": %d"
					 ", \"test_size\": ",
					 nrows, ds->null_targets, split->ntrain, split->ntest, td.nval);
	JsonAppendDouble(&training, req->test_size);
	appendStringInfo(&training, ", \"split\": \"%s\", \"order_by\": ", SplitKindName(split_kind));
	if (req->order_by)
		JsonAppendString(&training, req->order_by);
	else
		appendStringInfoString(&training, "null");
	if (req->tune_id != 0)
		appendStringInfo(&training, ", \"tune_id\": " INT64_FORMAT, req->tune_id);
	appendStringInfo(&training, ", \"seed\": %d, \"threads\": %d, \"fit_seconds\": %.6f%s}",
					 req->seed, mlops_threads, fit_seconds, info.data);

	/* register */
	MlopsProgressPhase("registering", 0);
	if (proj == NULL)
	{
		proj = palloc0(sizeof(RegistryProject));
		proj->id = RegistryCreateProject(req->project, task, req->target);
		proj->name = req->project;
		proj->task = task;
		RegistryLogEvent("create_project", req->project, 0, NULL);
	}
	initStringInfo(&buf);
	HyperParamsToJson(hp, &buf);
	row.project_id = proj->id;
	row.algorithm = req->algorithm;
	row.hyperparams = JsonFromText(&buf);
	row.preprocess = req->preprocess;
	resetStringInfo(&buf);
	FeaturizerToJson(fz, &buf);
	row.features = JsonFromText(&buf);
	row.labels = ds->labels;
	row.nlabels = ds->nclasses;
	row.metrics = JsonFromText(&metrics);
	row.training = JsonFromText(&training);
	resetStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int j = 0; j < fz->nfeatures; j++)
	{
		JsonAppendKey(&buf, fz->feature_names[j], j == 0);
		JsonAppendDouble(&buf, importance[j]);
	}
	appendStringInfoChar(&buf, '}');
	row.importance = JsonFromText(&buf);
	row.format = ModelFormat(req->algorithm);
	row.model = blob;
	row.parent_model_id = req->parent_model_id;
	res->model_id = RegistryInsertModel(&row, &res->version);
	if (curves != NULL)
		CurvesStore(res->model_id, curves);
	res->task = task;
	res->metrics = row.metrics;
	res->score = TrainScore(row.metrics, res->metric);

	resetStringInfo(&buf);
	appendStringInfo(&buf, "{\"version\": %d, \"algorithm\": \"%s\", \"metrics\": %s}",
					 res->version, MlopsAlgorithmName(req->algorithm), metrics.data);
	RegistryLogEvent("train", req->project, res->model_id, buf.data);

	/*
	 * deploy, under the project's lock like every lifecycle operation: a
	 * deploy or drop that committed while this run trained is seen here
	 */
	RegistryLockProject(proj);
	res->previous = RegistryDeployedModel(proj->id);
	same_rows = res->previous != 0 && res->previous == compare_id && res->compare_metrics != NULL;
	if (same_rows)
		old_score = res->compare_score;
	else
		old_score = res->previous ? RegistryModelScore(res->previous, res->metric) : NAN;
	res->deployed = DecideDeploy(req->deploy, res->metric, res->previous, res->score, old_score);
	if (!res->deployed && strcmp(req->deploy, "auto") == 0)
		ReportNotDeployed(req->project, res, old_score, same_rows);
	if (res->deployed)
		res->deployed = GovernanceDeploy(proj, &policy, res->model_id,
										 req->deploy,
										 psprintf("mlops.train with deploy => %s", req->deploy), false,
										 &res->request_id) == GOVERNANCE_DEPLOYED;
	if (res->deployed)
	{
		resetStringInfo(&buf);
		appendStringInfo(&buf, "{\"strategy\": \"train_%s\", \"previous_model_id\": ", req->deploy);
		if (res->previous)
			appendStringInfo(&buf, INT64_FORMAT "}", res->previous);
		else
			appendStringInfoString(&buf, "null}");
		RegistryLogEvent("deploy", req->project, res->model_id, buf.data);
	}
	PopActiveSnapshot();
}

/*
 * Fill a training request from the arguments of mlops.train (and of
 * mlops.train_async, which has the same parameters): required arguments
 * must not be NULL, names (algorithm, task, split) must be known.
 */
void
TrainRequestFromArgs(FunctionCallInfo fcinfo, TrainRequest *req)
{
	RequireArg(fcinfo, 0, "project");
	RequireArg(fcinfo, 1, "relation");
	RequireArg(fcinfo, 2, "target");
	RequireArg(fcinfo, 3, "algorithm");
	RequireArg(fcinfo, 5, "hyperparams");
	RequireArg(fcinfo, 6, "preprocess");
	RequireArg(fcinfo, 9, "test_size");
	RequireArg(fcinfo, 12, "seed");
	RequireArg(fcinfo, 13, "deploy");
	req->project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	req->relation = text_to_cstring(PG_GETARG_TEXT_PP(1));
	req->target = text_to_cstring(PG_GETARG_TEXT_PP(2));
	req->algorithm = MlopsAlgorithmFromName(text_to_cstring(PG_GETARG_TEXT_PP(3)));
	req->task = PG_ARGISNULL(4) ? -1 : (int) MlopsTaskFromName(text_to_cstring(PG_GETARG_TEXT_PP(4)));
	req->hyperparams = PG_GETARG_JSONB_P(5);
	req->preprocess = PG_GETARG_JSONB_P(6);
	req->features = PG_ARGISNULL(7) ? NULL : PG_GETARG_ARRAYTYPE_P(7);
	req->exclude = PG_ARGISNULL(8) ? NULL : PG_GETARG_ARRAYTYPE_P(8);
	req->test_size = PG_GETARG_FLOAT8(9);
	req->split = PG_ARGISNULL(10) ? -1 : (int) SplitKindFromName(text_to_cstring(PG_GETARG_TEXT_PP(10)));
	req->order_by = PG_ARGISNULL(11) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(11));
	req->seed = PG_GETARG_INT32(12);
	req->deploy = text_to_cstring(PG_GETARG_TEXT_PP(13));
	req->cv = PG_ARGISNULL(14) ? 0 : PG_GETARG_INT32(14);
	if (!PG_ARGISNULL(14) && (req->cv < 2 || req->cv > CV_MAX_FOLDS))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cv is out of range: %d", PG_GETARG_INT32(14)),
				 errdetail("Cross-validation takes 2 to %d folds; NULL skips it.", CV_MAX_FOLDS)));
}

/*
 * mlops.train(project, relation, target, algorithm, task, hyperparams,
 * preprocess, features, exclude, test_size, split, order_by, seed, deploy,
 * cv)
 */
Datum
mlops_train(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TrainRequest req = {0};
	TrainResult res = {0};
	Datum		result[7];
	bool		nulls[7] = {0};

	TrainRequestFromArgs(fcinfo, &req);
	TrainRun(&req, &res);

	result[0] = CStringGetTextDatum(req.project);
	result[1] = Int64GetDatum(res.model_id);
	result[2] = Int32GetDatum(res.version);
	result[3] = CStringGetTextDatum(MlopsAlgorithmName(req.algorithm));
	result[4] = CStringGetTextDatum(MlopsTaskName(res.task));
	result[5] = JsonbPGetDatum(res.metrics);
	result[6] = BoolGetDatum(res.deployed);
	SetSingleFuncCall(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, result, nulls);
	return (Datum) 0;
}
