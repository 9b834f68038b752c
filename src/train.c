/*-------------------------------------------------------------------------
 *
 * train.c
 *	  mlops.train: read, split, featurize, fit, evaluate, register, deploy.
 *
 * The relation is read as the calling role.  Featurization statistics are
 * fitted on the training rows only.  Metrics are computed by loading the
 * serialized model exactly as predict will, and scoring the held-out rows
 * through the same path, so the stored metrics describe the stored model.
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
#include "utils/lsyscache.h"
#include "utils/jsonb.h"

#include "dataset.h"
#include "featurize.h"
#include "hyperparams.h"
#include "jsonutil.h"
#include "metrics.h"
#include "model.h"
#include "registry.h"
#include "split.h"
#include "train.h"

#define EARLY_STOPPING_FRACTION 0.1

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
 * Score rows of a dataset with a loaded model and append the metrics (JSON
 * object members, no braces) to "metrics".
 */
void
TrainScoreRows(const MlopsModel *m, const Dataset *ds, const int *rows, int nrows,
			   StringInfo metrics)
{
	int			nout = ModelOutputs(m);
	double	   *out = palloc_extended(sizeof(double) * (size_t) nrows * nout, MCXT_ALLOC_HUGE);
	double	   *y = palloc_extended(sizeof(double) * nrows, MCXT_ALLOC_HUGE);

	for (int i = 0; i < nrows; i++)
		y[i] = ds->target[rows[i]];
	ModelPredictDataset(m, ds, rows, nrows, out);

	if (m->task == TASK_CLASSIFICATION)
	{
		int		   *yi = palloc_extended(sizeof(int) * nrows, MCXT_ALLOC_HUGE);

		for (int i = 0; i < nrows; i++)
			yi[i] = (int) y[i];
		MetricsClassification(metrics, yi, out, nrows, m->nclasses);
		pfree(yi);
	}
	else
		MetricsRegression(metrics, y, out, nrows);
	pfree(out);
	pfree(y);
}

/*
 * The task of a training run: given, fixed by the project, implied by the
 * algorithm, or -1 to be inferred from the target.
 */
static int
ChooseTask(FunctionCallInfo fcinfo, const RegistryProject *proj, MlopsAlgorithm alg)
{
	int			task = -1;

	if (!PG_ARGISNULL(4))
		task = MlopsTaskFromName(text_to_cstring(PG_GETARG_TEXT_PP(4)));
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
 * The targets of some rows.
 */
static double *
GatherTargets(const Dataset *ds, const int *rows, int n)
{
	double	   *y = palloc_extended(sizeof(double) * Max(1, n), MCXT_ALLOC_HUGE);

	for (int i = 0; i < n; i++)
		y[i] = ds->target[rows[i]];
	return y;
}

/*
 * Refuse targets that cannot be learned: one class, or a constant value.
 */
static void
CheckTargetVaries(const Dataset *ds, const Split *s, MlopsTask task)
{
	double		first = ds->target[s->train[0]];

	for (int i = 1; i < s->ntrain; i++)
		if (ds->target[s->train[i]] != first)
			return;
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
 * Append a JSON array of strings.
 */
static void
AppendStringArray(StringInfo buf, char **items, int n)
{
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		JsonAppendString(buf, items[i]);
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Should the new model replace the deployed one?
 */
static bool
DecideDeploy(const char *deploy, int64 current, double new_score, MlopsTask task)
{
	double		old_score;

	if (strcmp(deploy, "always") == 0)
		return true;
	if (strcmp(deploy, "never") == 0)
		return false;
	if (current == 0)
		return true;
	old_score = RegistryModelScore(current, task);
	if (isnan(new_score))
		return false;
	return isnan(old_score) || new_score >= old_score;
}

/*
 * mlops.train(project, relation, target, algorithm, task, hyperparams,
 * preprocess, features, exclude, test_size, split, order_by, seed, deploy)
 */
Datum
mlops_train(PG_FUNCTION_ARGS)
{
	char	   *project;
	char	   *relation;
	char	   *target;
	MlopsAlgorithm alg;
	Jsonb	   *hyperparams;
	Jsonb	   *preprocess;
	double		test_size;
	SplitKind	split_kind;
	char	   *order_by = NULL;
	int			seed;
	char	   *deploy;
	RegistryProject *proj;
	int			task;
	char	   *relname;
	Oid			relid;
	char	  **columns;
	int			ncolumns;
	DatasetSpec spec;
	Dataset    *ds;
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
	int64		model_id;
	int			version;
	int64		current;
	bool		deployed;
	double		score;
	Datum		result[7];
	bool		nulls[7] = {0};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	/* arguments */
	RequireArg(fcinfo, 0, "project");
	RequireArg(fcinfo, 1, "relation");
	RequireArg(fcinfo, 2, "target");
	RequireArg(fcinfo, 3, "algorithm");
	RequireArg(fcinfo, 5, "hyperparams");
	RequireArg(fcinfo, 6, "preprocess");
	RequireArg(fcinfo, 9, "test_size");
	RequireArg(fcinfo, 12, "seed");
	RequireArg(fcinfo, 13, "deploy");
	project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	relation = text_to_cstring(PG_GETARG_TEXT_PP(1));
	target = text_to_cstring(PG_GETARG_TEXT_PP(2));
	alg = MlopsAlgorithmFromName(text_to_cstring(PG_GETARG_TEXT_PP(3)));
	hyperparams = PG_GETARG_JSONB_P(5);
	preprocess = PG_GETARG_JSONB_P(6);
	test_size = PG_GETARG_FLOAT8(9);
	seed = PG_GETARG_INT32(12);
	deploy = text_to_cstring(PG_GETARG_TEXT_PP(13));

	RegistryCheckProjectName(project);
	if (!(test_size >= 0.0 && test_size < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_size must be at least 0 and less than 1")));
	if (strcmp(deploy, "auto") != 0 && strcmp(deploy, "always") != 0 && strcmp(deploy, "never") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown deploy setting \"%s\"", deploy),
				 errhint("Valid settings are \"auto\", \"always\" and \"never\".")));
	if (!PG_ARGISNULL(11))
		order_by = text_to_cstring(PG_GETARG_TEXT_PP(11));

	proj = RegistryGetProject(project, true);
	if (proj != NULL)
	{
		RegistryCheckProjectOwner(proj);
		if (strcmp(proj->target, target) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("project \"%s\" has target \"%s\", not \"%s\"", project, proj->target, target),
					 errdetail("The first training run of a project fixes its target.")));
	}
	task = ChooseTask(fcinfo, proj, alg);

	/* read */
	relid = DatasetResolveRelation(relation, &relname);
	columns = DatasetFeatureColumns(relid, target,
									PG_ARGISNULL(7) ? NULL : PG_GETARG_ARRAYTYPE_P(7),
									PG_ARGISNULL(8) ? NULL : PG_GETARG_ARRAYTYPE_P(8),
									&ncolumns);
	if (order_by != NULL && get_attnum(relid, order_by) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("order_by column \"%s\" does not exist in relation %s", order_by, relname)));
	spec.ncolumns = ncolumns;
	spec.names = columns;
	spec.array_lengths = NULL;
	ds = DatasetRead(relid, relname, target, &spec, order_by,
					 ChooseTargetMode(task, get_atttype(relid, get_attnum(relid, target))),
					 NULL, 0);
	if (ds->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("relation %s has no rows with a non-NULL target to train on", relname)));
	if (ds->null_targets > 0)
		ereport(NOTICE,
				(errmsg("skipped " INT64_FORMAT " rows whose target is NULL", ds->null_targets)));
	task = ds->nclasses > 0 ? TASK_CLASSIFICATION : TASK_REGRESSION;

	/* split */
	if (!PG_ARGISNULL(10))
		split_kind = SplitKindFromName(text_to_cstring(PG_GETARG_TEXT_PP(10)));
	else if (order_by != NULL)
		split_kind = SPLIT_LAST;
	else
		split_kind = task == TASK_CLASSIFICATION ? SPLIT_STRATIFIED : SPLIT_RANDOM;
	if (split_kind == SPLIT_LAST && order_by == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("split \"last\" needs order_by"),
				 errhint("Name the column that orders the rows in time, e.g. order_by => 'created_at'.")));
	if (split_kind == SPLIT_STRATIFIED && task != TASK_CLASSIFICATION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("split \"stratified\" applies only to classification")));
	split = SplitRows(ds, split_kind, test_size, seed);
	CheckTargetVaries(ds, split, task);

	/* featurize and fit */
	hp = HyperParamsParse(alg, task, hyperparams);
	td.algorithm = alg;
	if (hp->applies[HP_EARLY_STOPPING_ROUNDS] && hp->v[HP_EARLY_STOPPING_ROUNDS] > 0)
		SplitHoldOut(split->train, &split->ntrain, &val_rows, &td.nval,
					 EARLY_STOPPING_FRACTION, seed);
	fz = FeaturizerFit(ds, split->train, split->ntrain, alg, preprocess);

	td.n = split->ntrain;
	td.p = fz->nfeatures;
	td.X = FeaturizerMatrix(fz, ds, split->train, split->ntrain);
	td.y = GatherTargets(ds, split->train, split->ntrain);
	td.nclasses = ds->nclasses;
	td.seed = seed;
	if (td.nval > 0)
	{
		td.Xval = FeaturizerMatrix(fz, ds, val_rows, td.nval);
		td.yval = GatherTargets(ds, val_rows, td.nval);
	}

	initStringInfo(&info);
	INSTR_TIME_SET_CURRENT(start);
	blob = ModelOps(alg)->fit(&td, hp, &info);
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	fit_seconds = INSTR_TIME_GET_DOUBLE(duration);
	pfree((void *) td.X);

	/* evaluate the stored form on the held-out rows */
	initStringInfo(&metrics);
	appendStringInfoChar(&metrics, '{');
	score_cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops scoring", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(score_cxt);
	loaded.algorithm = alg;
	loaded.task = task;
	loaded.fz = fz;
	loaded.nclasses = ds->nclasses;
	loaded.ops = ModelOps(alg);
	loaded.impl = loaded.ops->load(blob, fz->nfeatures, ds->nclasses);
	if (split->ntest > 0)
	{
		TrainScoreRows(&loaded, ds, split->test, split->ntest, &metrics);
		appendStringInfoString(&metrics, ", ");
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(score_cxt);
	appendStringInfo(&metrics, "\"train_rows\": %d, \"test_rows\": %d, \"fit_seconds\": %.6f}",
					 split->ntrain, split->ntest, fit_seconds);

	/* the training record */
	initStringInfo(&training);
	appendStringInfoString(&training, "{\"relation\": ");
	JsonAppendString(&training, relname);
	appendStringInfoString(&training, ", \"target\": ");
	JsonAppendString(&training, target);
	appendStringInfoString(&training, ", \"target_type\": ");
	JsonAppendString(&training, format_type_be(ds->target_type));
	appendStringInfo(&training, ", \"labels_numeric\": %s", ds->labels_numeric ? "true" : "false");
	appendStringInfoString(&training, ", \"columns\": ");
	AppendStringArray(&training, columns, ncolumns);
	appendStringInfo(&training, ", \"rows\": %d, \"null_target_rows\": " INT64_FORMAT
					 ", \"train_rows\": %d, \"test_rows\": %d, \"validation_rows\": %d"
					 ", \"test_size\": %.17g, \"split\": \"%s\", \"order_by\": ",
					 ds->nrows, ds->null_targets, split->ntrain, split->ntest, td.nval,
					 test_size, SplitKindName(split_kind));
	if (order_by)
		JsonAppendString(&training, order_by);
	else
		appendStringInfoString(&training, "null");
	appendStringInfo(&training, ", \"seed\": %d, \"threads\": %d, \"fit_seconds\": %.6f%s}",
					 seed, mlops_threads, fit_seconds, info.data);

	/* register */
	if (proj == NULL)
	{
		proj = palloc0(sizeof(RegistryProject));
		proj->id = RegistryCreateProject(project, task, target);
		proj->name = project;
		proj->task = task;
		RegistryLogEvent("create_project", project, 0, NULL);
	}
	initStringInfo(&buf);
	HyperParamsToJson(hp, &buf);
	row.project_id = proj->id;
	row.algorithm = alg;
	row.hyperparams = JsonFromText(&buf);
	row.preprocess = preprocess;
	resetStringInfo(&buf);
	FeaturizerToJson(fz, &buf);
	row.features = JsonFromText(&buf);
	row.labels = ds->labels;
	row.nlabels = ds->nclasses;
	row.metrics = JsonFromText(&metrics);
	row.training = JsonFromText(&training);
	row.format = ModelFormat(alg);
	row.model = blob;
	model_id = RegistryInsertModel(&row, &version);

	resetStringInfo(&buf);
	appendStringInfo(&buf, "{\"version\": %d, \"algorithm\": \"%s\", \"metrics\": %s}",
					 version, MlopsAlgorithmName(alg), metrics.data);
	RegistryLogEvent("train", project, model_id, buf.data);

	/* deploy */
	current = RegistryDeployedModel(proj->id);
	score = JsonGet(&row.metrics->root, task == TASK_CLASSIFICATION ? "f1" : "r2") ?
		JsonGetDouble(&row.metrics->root, task == TASK_CLASSIFICATION ? "f1" : "r2") : NAN;
	deployed = DecideDeploy(deploy, current, score, task);
	if (deployed)
	{
		RegistryDeploy(proj->id, model_id, deploy);
		resetStringInfo(&buf);
		appendStringInfo(&buf, "{\"strategy\": \"train_%s\", \"previous_model_id\": ", deploy);
		if (current)
			appendStringInfo(&buf, INT64_FORMAT "}", current);
		else
			appendStringInfoString(&buf, "null}");
		RegistryLogEvent("deploy", project, model_id, buf.data);
	}

	result[0] = CStringGetTextDatum(project);
	result[1] = Int64GetDatum(model_id);
	result[2] = Int32GetDatum(version);
	result[3] = CStringGetTextDatum(MlopsAlgorithmName(alg));
	result[4] = CStringGetTextDatum(MlopsTaskName(task));
	result[5] = JsonbPGetDatum(row.metrics);
	result[6] = BoolGetDatum(deployed);
	SetSingleFuncCall(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, result, nulls);
	return (Datum) 0;
}
