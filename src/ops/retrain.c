/*-------------------------------------------------------------------------
 *
 * retrain.c
 *	  mlops.retrain: re-run a project's last training settings, gated by
 *	  drift and by a comparison with the deployed model on the same rows.
 *
 * The decision follows the policy (policy.c).  With "retrain": "on_drift"
 * (the default) and no force, mlops.drift checks the relation against the
 * deployed model's reference profile first, and nothing is trained unless
 * at least drift_share of the source columns drifted, or (with
 * "on_prediction_drift", the default) the predictions did.  A new model is
 * trained with the settings (algorithm, complete hyperparameters, preprocess,
 * columns, split, seed) of the deployed model, of the model the caller
 * names, or of the newest model when none is deployed, and never deployed
 * by the training itself: the deployed model is scored on the new model's
 * held-out rows, reading its own columns from the relation, and the new
 * model is deployed only when its primary metric is at least the deployed
 * model's plus min_improvement on those same rows.  When the deployed
 * model cannot be scored on them (the relation lacks a column it reads),
 * nothing is deployed and the reason says why.  Every decision, with its
 * reason and the compared metrics, is written to mlops.events.  An empty
 * relation (a quiet day of a "new rows since yesterday" view) is skipped
 * with the reason "no rows".  With "min_new_rows", a relation that holds
 * fewer than that many more labeled rows than the deployed model was
 * trained on is skipped too; with "on_degradation", a degraded latest
 * mlops.monitor window of the deployed model is a reason to retrain by
 * itself (no drift check then).  force skips both gates.  Works without
 * the background worker, so pg_cron can call it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"

#include "ops/governance.h"
#include "jsonutil.h"
#include "monitor/performance.h"
#include "ops/policy.h"
#include "privileges.h"
#include "registry.h"
#include "ops/retrain.h"
#include "train/split.h"
#include "train/train.h"

PG_FUNCTION_INFO_V1(mlops_retrain);

/* the training settings of a model */
typedef struct LastSettings
{
	int64		model_id;
	MlopsAlgorithm algorithm;
	Jsonb	   *hyperparams;
	Jsonb	   *preprocess;
	/* from its training record */
	char	   *relation;
	ArrayType  *columns;
	double		test_size;
	SplitKind	split;
	char	   *order_by;		/* NULL when not ordered */
	int			seed;
} LastSettings;

/* the outcome of a drift check */
typedef struct DriftCheck
{
	int			checked;		/* source columns */
	int			drifted;
	double		share;
	int			prediction;		/* predictions drifted: 1, did not: 0, no
								 * prediction profile: -1 */
} DriftCheck;

/*
 * Error context callback of SettingsFromTraining: name the model whose
 * settings are read.
 */
static void
SettingsErrorContext(void *arg)
{
	errcontext("reading the training settings of model " INT64_FORMAT, *(const int64 *) arg);
}

static void SettingsCorrupted(int64 model_id, const char *detail) pg_attribute_noreturn();

/*
 * Report a model's stored training settings as damaged; detail says what
 * is wrong.
 */
static void
SettingsCorrupted(int64 model_id, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored training settings of model " INT64_FORMAT " are corrupted", model_id),
			 errdetail("%s", detail)));
}

/*
 * Read the settings a model was trained with from its training record
 * (relation, columns, split, seed), checking their types: a damaged record
 * is an error naming the model.  The values themselves are checked again
 * by training, as a caller's would be.
 */
static void
SettingsFromTraining(LastSettings *last, Jsonb *training)
{
	ErrorContextCallback errcallback;
	JsonbContainer *root = &training->root;
	JsonbContainer *cols;
	JsonbValue *v;
	Datum	   *elems;
	int			n;

	errcallback.callback = SettingsErrorContext;
	errcallback.arg = &last->model_id;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	if (!JB_ROOT_IS_OBJECT(last->hyperparams) || !JB_ROOT_IS_OBJECT(last->preprocess))
		SettingsCorrupted(last->model_id, "Its hyperparams and preprocess must be JSON objects.");
	last->relation = JsonGetString(root, "relation");
	cols = JsonGetContainer(root, "columns");
	if (!JsonContainerIsArray(cols))
		SettingsCorrupted(last->model_id, "Its feature columns are not an array.");
	n = JsonContainerSize(cols);
	elems = palloc(sizeof(Datum) * Max(1, n));
	for (int i = 0; i < n; i++)
	{
		char	   *s = JsonValueToCString(JsonArrayElement(cols, i));

		if (s == NULL)
			SettingsCorrupted(last->model_id, "A feature column name is not a string.");
		elems[i] = CStringGetTextDatum(s);
	}
	last->columns = construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
	last->test_size = JsonGetDouble(root, "test_size");
	last->split = SplitKindFromName(JsonGetString(root, "split"));
	v = JsonGet(root, "order_by");
	last->order_by = (v && v->type == jbvString) ? JsonValueToCString(v) : NULL;
	last->seed = JsonGetInt(root, "seed");

	error_context_stack = errcallback.previous;
}

/*
 * Read the training settings of a model of a project: model_id, or the
 * newest model when model_id is 0.
 */
static void
ReadLastSettings(const RegistryProject *proj, int64 model_id, LastSettings *last)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(proj->id), Int64GetDatum(model_id)};
	Jsonb	   *training;

	SPI_connect();
	if (SPI_execute_with_args("SELECT id, algorithm, hyperparams, preprocess, training "
							  "FROM mlops.models WHERE project_id OPERATOR(pg_catalog.=) $1 "
							  "AND (id OPERATOR(pg_catalog.=) $2 OR $2 OPERATOR(pg_catalog.=) 0) "
							  "ORDER BY version DESC LIMIT 1",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the models of project \"%s\"", proj->name);
	if (SPI_processed != 1 && model_id != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" has no model " INT64_FORMAT, proj->name, model_id),
				 errhint("mlops.models lists the models of each project.")));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no model to retrain", proj->name),
				 errhint("Train one with mlops.train() first.")));
	last->model_id = RegistryResultInt64(0, "id");
	last->algorithm = MlopsAlgorithmFromName(RegistryResultText(0, "algorithm", cxt));
	last->hyperparams = RegistryResultJsonb(0, "hyperparams", cxt);
	last->preprocess = RegistryResultJsonb(0, "preprocess", cxt);
	training = RegistryResultJsonb(0, "training", cxt);
	SPI_finish();
	SettingsFromTraining(last, training);
}

/*
 * Run mlops.drift on the relation (as the caller) and read the column
 * counts and the prediction drift of the report it recorded.
 */
static void
CheckDrift(const char *project, const char *relation, DriftCheck *dc)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	Datum		prediction;

	values[0] = CStringGetTextDatum(project);
	values[1] = CStringGetTextDatum(relation);
	SPI_connect();
	if (SPI_execute_with_args("SELECT pg_catalog.count(*) FROM mlops.drift($1, $2)",
							  2, types, values, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_execute_with_args("SELECT r.features, r.drifted, r.prediction_drift FROM mlops.drift_reports r "
							  "JOIN mlops.projects p ON p.id OPERATOR(pg_catalog.=) r.project_id "
							  "WHERE p.name OPERATOR(pg_catalog.=) $1 ORDER BY r.id DESC LIMIT 1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not check drift of project \"%s\"", project);
	dc->checked = (int) RegistryResultInt64(0, "features");
	dc->drifted = (int) RegistryResultInt64(0, "drifted");
	prediction = RegistryResultDatum(0, "prediction_drift", &isnull);
	dc->prediction = isnull ? -1 : DatumGetBool(prediction) ? 1 : 0;
	SPI_finish();
	dc->share = dc->checked > 0 ? (double) dc->drifted / dc->checked : 0.0;
}

/*
 * What a drift check found, for a decision's reason: the columns that
 * drifted, and the predictions.
 */
static char *
DescribeDrift(const DriftCheck *dc, const Policy *policy)
{
	const char *pred;

	if (dc->prediction < 0)
		pred = "predictions not checked (the model held out no rows)";
	else if (dc->prediction == 0)
		pred = "predictions did not drift";
	else if (policy->on_prediction_drift)
		pred = "predictions drifted";
	else
		pred = "predictions drifted (on_prediction_drift is false)";
	return psprintf("%d of %d columns drifted, %s", dc->drifted, dc->checked, pred);
}

/*
 * Does a relation have a row (that the caller may read)?
 */
static bool
RelationHasRows(const char *relname)
{
	bool		found;

	SPI_connect();
	if (SPI_execute(psprintf("SELECT 1 FROM %s LIMIT 1", relname), true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read relation %s", relname);
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

/*
 * How many rows with a non-NULL target a relation holds (that the caller
 * may read).
 */
static int64
RelationLabeledRows(const char *relname, const char *target)
{
	int64		n;
	bool		isnull;

	SPI_connect();
	if (SPI_execute(psprintf("SELECT pg_catalog.count(*) FROM %s WHERE %s IS NOT NULL",
							 relname, quote_identifier(target)), true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count the rows of relation %s", relname);
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return n;
}

/*
 * How many rows (with a non-NULL target) a model was trained on, from its
 * training record; 0 when it does not say (an imported model).
 */
static int64
ModelTrainedRows(int64 model_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	int64		n = 0;

	SPI_connect();
	RegistryReadAsOwner("SELECT CASE WHEN pg_catalog.jsonb_typeof(m.training OPERATOR(pg_catalog.->) 'rows') "
						"OPERATOR(pg_catalog.=) 'number' "
						"THEN (m.training OPERATOR(pg_catalog.->>) 'rows')::pg_catalog.numeric::pg_catalog.int8 END "
						"FROM mlops.models m WHERE m.id OPERATOR(pg_catalog.=) $1",
						1, types, values, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		n = isnull ? 0 : DatumGetInt64(d);
	}
	SPI_finish();
	return n;
}

/*
 * Whether the latest mlops.monitor window of a model is degraded; what it
 * found goes to *why.
 */
static bool
LatestWindowDegraded(const char *project, int64 model_id, char **why)
{
	PerformanceWindow w;

	if (!PerformanceLatestWindow(project, model_id, &w) || w.degraded != 1)
		return false;
	*why = psprintf("the latest monitor window of model " INT64_FORMAT " is degraded (%s %.4f, held-out %.4f)",
					model_id, w.metric, w.value, w.held_out);
	return true;
}

/*
 * Append the detail of a retrain decision as JSON.
 */
static void
AppendDecision(StringInfo buf, const char *action, const char *reason, const char *relation,
			   const Policy *policy, const DriftCheck *dc, const TrainResult *res)
{
	appendStringInfo(buf, "{\"action\": \"%s\", \"reason\": ", action);
	JsonAppendString(buf, reason);
	appendStringInfoString(buf, ", \"relation\": ");
	JsonAppendString(buf, relation);
	appendStringInfoString(buf, ", \"policy\": ");
	PolicyToJson(policy, buf);
	if (dc != NULL)
	{
		appendStringInfo(buf, ", \"drift\": {\"checked\": %d, \"drifted\": %d, \"share\": ",
						 dc->checked, dc->drifted);
		JsonAppendDouble(buf, dc->share);
		appendStringInfo(buf, ", \"prediction_drift\": %s}",
						 dc->prediction < 0 ? "null" : dc->prediction ? "true" : "false");
	}
	if (res != NULL)
	{
		char	   *m = JsonbToCString(NULL, &res->metrics->root, VARSIZE(res->metrics));

		appendStringInfo(buf, ", \"new_metrics\": %s", m);
		if (res->compare_metrics != NULL)
			appendStringInfo(buf, ", \"deployed_metrics_same_rows\": %s",
							 JsonbToCString(NULL, &res->compare_metrics->root, VARSIZE(res->compare_metrics)));
	}
	appendStringInfoChar(buf, '}');
}

/*
 * The training request that re-runs a model's settings on a relation,
 * scoring compare_model (0: none) on the same held-out rows and deploying
 * nothing itself.
 */
static void
RetrainRequest(const RegistryProject *proj, const LastSettings *last, char *relation,
			   int64 compare_model, TrainRequest *req)
{
	req->project = proj->name;
	req->relation = relation;
	req->target = proj->target;
	req->algorithm = last->algorithm;
	req->task = proj->task;
	req->hyperparams = last->hyperparams;
	req->preprocess = last->preprocess;
	req->features = last->columns;
	req->test_size = last->test_size;
	req->split = last->split;
	req->order_by = last->order_by;
	req->seed = last->seed;
	req->deploy = "never";
	req->compare_model = compare_model;
	req->parent_model_id = last->model_id;
}

/*
 * Check, without reading a row, that a project's retraining settings (those
 * of its deployed model, else its newest) can run on a relation (NULL: the
 * relation they were trained on), as mlops.retrain does before its drift
 * check; mlops.schedule calls it so that a schedule that could never run is
 * refused when it is made.
 */
void
RetrainCheckSettings(const RegistryProject *proj, const char *relation)
{
	LastSettings last;
	TrainRequest req = {0};
	TrainPlan	plan;

	ReadLastSettings(proj, RegistryDeployedModel(proj->id), &last);
	RetrainRequest(proj, &last, relation ? pstrdup(relation) : last.relation, 0, &req);
	TrainCheck(&req, &plan);
}

/*
 * mlops.retrain(project, relation, force, policy, model_id)
 */
Datum
mlops_retrain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *project;
	char	   *relation;
	bool		force;
	Policy		policy;
	Jsonb	   *overrides;
	int64		request_id = 0;
	RegistryProject *proj;
	LastSettings last;
	int64		current;
	DriftCheck	dc = {0};
	bool		drift_checked = false;
	char	   *degraded = NULL;
	TrainRequest req = {0};
	TrainPlan	plan;
	TrainResult res = {0};
	const char *metric;
	char	   *reason;
	const char *action;
	bool		deploy = false;
	StringInfoData detail;
	Datum		values[7];
	bool		nulls[7] = {0};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project must not be NULL")));
	project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	force = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	overrides = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	PolicyParse(overrides, &policy);

	proj = RegistryGetProject(project, false);
	PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	/* the project's policy, the call's (or schedule's) keys overriding it */
	PolicyForProject(proj->name, overrides, &policy);
	if (policy.deploy)
		PrivilegeCheck(proj->id, proj->name, PRIV_DEPLOY);
	current = RegistryDeployedModel(proj->id);
	ReadLastSettings(proj, PG_ARGISNULL(4) ? current : PG_GETARG_INT64(4), &last);
	relation = PG_ARGISNULL(1) ? last.relation : text_to_cstring(PG_GETARG_TEXT_PP(1));
	metric = PolicyMetric(&policy, proj->task);

	/* every setting is checked before the drift check reads a row */
	RetrainRequest(proj, &last, relation, current, &req);
	req.policy = overrides;
	TrainCheck(&req, &plan);

	/* a quiet day of a "new rows since yesterday" view: nothing to do */
	if (!RelationHasRows(plan.relname))
	{
		reason = pstrdup("no rows");
		action = "skipped";
		goto done;
	}

	/* enough new rows? */
	if (policy.min_new_rows > 0 && !force && current != 0)
	{
		int64		have = RelationLabeledRows(plan.relname, proj->target);
		int64		trained = ModelTrainedRows(current);

		if (have - trained < policy.min_new_rows)
		{
			reason = psprintf("too few new rows: " INT64_FORMAT " labeled rows, " INT64_FORMAT
							  " more than deployed model " INT64_FORMAT " was trained on (min_new_rows "
							  INT64_FORMAT ")", have, have - trained, current, policy.min_new_rows);
			action = "skipped";
			goto done;
		}
	}

	/* is there a reason to retrain? */
	if (policy.on_drift && !force && current != 0 &&
		!(policy.on_degradation && LatestWindowDegraded(project, current, &degraded)))
	{
		CheckDrift(project, relation, &dc);
		drift_checked = true;
		if (dc.share < policy.drift_share &&
			!(policy.on_prediction_drift && dc.prediction == 1))
		{
			reason = psprintf("no drift: %s (share %.3g < %.3g)",
							  DescribeDrift(&dc, &policy), dc.share, policy.drift_share);
			action = "skipped";
			goto done;
		}
	}

	/* train with the chosen model's settings; deploying is decided here */
	TrainRun(&req, &res);
	action = "retrained";

	if (!policy.deploy)
		reason = pstrdup("the policy says \"deploy\": \"never\"");
	else if (current == 0)
	{
		deploy = true;
		reason = pstrdup("no model was deployed");
	}
	else if (isnan(res.score))
		reason = psprintf("the new model has no %s: no rows were held out", metric);
	else if (res.compare_metrics == NULL)
		reason = psprintf("not deployed: deployed model " INT64_FORMAT
						  " cannot be scored on the new model's held-out rows, since %s",
						  current, res.compare_problem);
	else if (isnan(res.compare_score))
	{
		deploy = true;
		reason = psprintf("new %s %.4f on the same %d held-out rows, where deployed model "
						  INT64_FORMAT " has none",
						  metric, res.score, JsonGetInt(&res.metrics->root, "test_rows"), current);
	}
	else
	{
		bool		lower = PolicyLowerIsBetter(metric);

		deploy = PolicyBetter(metric, res.score, res.compare_score, policy.min_improvement);
		reason = psprintf("new %s %.4f %s deployed %.4f %s min_improvement %g on the same %d held-out rows",
						  metric, res.score, lower ? (deploy ? "<=" : ">") : (deploy ? ">=" : "<"),
						  res.compare_score, lower ? "-" : "+", policy.min_improvement,
						  JsonGetInt(&res.metrics->root, "test_rows"));
	}
	if (drift_checked)
		reason = psprintf("%s; %s", reason, DescribeDrift(&dc, &policy));
	else if (force)
		reason = psprintf("%s; forced", reason);
	else if (degraded)
		reason = psprintf("%s; %s", reason, degraded);
	if (deploy)
	{
		/* the decision holds only if no one deployed meanwhile */
		RegistryLockProject(proj);
		if (RegistryDeployedModel(proj->id) != current)
		{
			deploy = false;
			reason = psprintf("%s; not deployed: the deployed model changed while retraining", reason);
		}
		else if (GovernanceDeploy(proj, &policy, res.model_id, "retrain", reason, false,
								  &request_id) != GOVERNANCE_DEPLOYED)
		{
			deploy = false;
			reason = request_id ?
				psprintf("%s; deploy request " INT64_FORMAT " waits for an approval", reason, request_id) :
				psprintf("%s; not deployed: the project's policy refused it", reason);
		}
		else
		{
			RegistryLogEvent("deploy", project, res.model_id,
							 current ? psprintf("{\"strategy\": \"retrain\", \"previous_model_id\": " INT64_FORMAT "}", current)
							 : "{\"strategy\": \"retrain\", \"previous_model_id\": null}");
		}
		PopActiveSnapshot();
	}

done:
	initStringInfo(&detail);
	AppendDecision(&detail, action, reason, plan.relname, &policy, drift_checked ? &dc : NULL,
				   res.model_id ? &res : NULL);
	RegistryLogEvent("retrain", project, res.model_id ? res.model_id : current, detail.data);

	values[0] = CStringGetTextDatum(project);
	values[1] = CStringGetTextDatum(action);
	values[2] = CStringGetTextDatum(reason);
	values[3] = Int64GetDatum(current);
	nulls[3] = (current == 0);
	values[4] = Int64GetDatum(res.model_id);
	nulls[4] = (res.model_id == 0);
	values[5] = BoolGetDatum(deploy);
	values[6] = res.metrics ? JsonbPGetDatum(res.metrics) : (Datum) 0;
	nulls[6] = (res.metrics == NULL);
	SetSingleFuncCall(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
