/*-------------------------------------------------------------------------
 *
 * retrain.c
 *	  mlops.retrain: re-run a project's last training settings, gated by
 *	  drift and by a comparison with the deployed model on the same rows.
 *
 * The decision follows the policy (policy.c).  With "retrain": "on_drift"
 * (the default) and no force, mlops.drift checks the relation against the
 * deployed model's reference profile first, and nothing is trained unless
 * at least drift_share of the features drifted.  A new model is trained
 * with the settings of the project's newest model (algorithm, complete
 * hyperparameters, preprocess, columns, split, seed) and never deployed by
 * the training itself: the deployed model is scored on the new model's
 * held-out rows, and the new model is deployed only when its primary
 * metric is at least the deployed model's plus min_improvement on those
 * same rows.  Every decision, with its reason and the compared metrics, is
 * written to mlops.events.  Works without the background worker, so
 * pg_cron can call it.
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

#include "jsonutil.h"
#include "policy.h"
#include "privileges.h"
#include "registry.h"
#include "split.h"
#include "train.h"

PG_FUNCTION_INFO_V1(mlops_retrain);

/* the settings of a project's newest model */
typedef struct LastSettings
{
	int64		model_id;
	MlopsAlgorithm algorithm;
	Jsonb	   *hyperparams;
	Jsonb	   *preprocess;
	Jsonb	   *training;
} LastSettings;

/* the outcome of a drift check */
typedef struct DriftCheck
{
	int			checked;
	int			drifted;
	double		share;
} DriftCheck;

/*
 * Read the settings of the newest model of a project.
 */
static void
ReadLastSettings(const RegistryProject *proj, LastSettings *last)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(proj->id)};
	bool		isnull;
	TupleDesc	desc;
	HeapTuple	tup;

	SPI_connect();
	if (SPI_execute_with_args("SELECT id, algorithm, hyperparams, preprocess, training "
							  "FROM mlops.models WHERE project_id = $1 ORDER BY version DESC LIMIT 1",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the models of project \"%s\"", proj->name);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no model to retrain", proj->name),
				 errhint("Train one with mlops.train() first.")));
	desc = SPI_tuptable->tupdesc;
	tup = SPI_tuptable->vals[0];
	MemoryContextSwitchTo(cxt);
	last->model_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	last->algorithm = MlopsAlgorithmFromName(TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull)));
	last->hyperparams = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 3, &isnull));
	last->preprocess = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 4, &isnull));
	last->training = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 5, &isnull));
	SPI_finish();
}

/*
 * Run mlops.drift on the relation (as the caller) and read the feature
 * counts of the report it recorded (the prediction is not a feature).
 */
static void
CheckDrift(const char *project, const char *relation, DriftCheck *dc)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		isnull;

	values[0] = CStringGetTextDatum(project);
	values[1] = CStringGetTextDatum(relation);
	SPI_connect();
	if (SPI_execute_with_args("SELECT count(*) FROM mlops.drift($1, $2)",
							  2, types, values, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_execute_with_args("SELECT r.features, r.drifted FROM mlops.drift_reports r "
							  "JOIN mlops.projects p ON p.id = r.project_id "
							  "WHERE p.name = $1 ORDER BY r.id DESC LIMIT 1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not check drift of project \"%s\"", project);
	dc->checked = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	dc->drifted = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	dc->share = dc->checked > 0 ? (double) dc->drifted / dc->checked : 0.0;
}

/*
 * The stored feature columns of a model as a text[].
 */
static ArrayType *
StoredColumns(Jsonb *training)
{
	JsonbContainer *cols = JsonGetContainer(&training->root, "columns");
	int			n = JsonContainerSize(cols);
	Datum	   *elems = palloc(sizeof(Datum) * Max(1, n));

	for (int i = 0; i < n; i++)
	{
		char	   *s = JsonValueToCString(JsonArrayElement(cols, i));

		if (s == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("stored training record is corrupted"),
					 errdetail("A feature column name is not a string.")));
		elems[i] = CStringGetTextDatum(s);
	}
	return construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * Append the detail of a retrain decision as JSON.
 */
static void
AppendDecision(StringInfo buf, const char *action, const char *reason,
			   const RetrainPolicy *policy, const DriftCheck *dc, const TrainResult *res)
{
	appendStringInfo(buf, "{\"action\": \"%s\", \"reason\": ", action);
	JsonAppendString(buf, reason);
	appendStringInfoString(buf, ", \"policy\": ");
	PolicyToJson(policy, buf);
	if (dc != NULL)
	{
		appendStringInfo(buf, ", \"drift\": {\"checked\": %d, \"drifted\": %d, \"share\": ",
						 dc->checked, dc->drifted);
		JsonAppendDouble(buf, dc->share);
		appendStringInfoChar(buf, '}');
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
 * mlops.retrain(project, relation, force, policy)
 */
Datum
mlops_retrain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *project;
	char	   *relation;
	bool		force;
	RetrainPolicy policy;
	RegistryProject *proj;
	LastSettings last;
	int64		current;
	DriftCheck	dc = {0};
	bool		drift_checked = false;
	TrainRequest req = {0};
	TrainResult res = {0};
	JsonbValue *v;
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
	PolicyParse(PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3), &policy);

	proj = RegistryGetProject(project, false);
	PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	if (policy.deploy)
		PrivilegeCheck(proj->id, proj->name, PRIV_DEPLOY);
	ReadLastSettings(proj, &last);
	relation = PG_ARGISNULL(1) ? JsonGetString(&last.training->root, "relation")
		: text_to_cstring(PG_GETARG_TEXT_PP(1));
	current = RegistryDeployedModel(proj->id);
	metric = proj->task == TASK_CLASSIFICATION ? "f1" : "r2";

	/* is there a reason to retrain? */
	if (policy.on_drift && !force && current != 0)
	{
		CheckDrift(project, relation, &dc);
		drift_checked = true;
		if (dc.share < policy.drift_share)
		{
			reason = psprintf("no drift: %d of %d features drifted (share %.3g < %.3g)",
							  dc.drifted, dc.checked, dc.share, policy.drift_share);
			action = "skipped";
			goto done;
		}
	}

	/* train with the newest model's settings; deploying is decided here */
	req.project = project;
	req.relation = relation;
	req.target = proj->target;
	req.algorithm = last.algorithm;
	req.task = proj->task;
	req.hyperparams = last.hyperparams;
	req.preprocess = last.preprocess;
	req.features = StoredColumns(last.training);
	req.test_size = JsonGetDouble(&last.training->root, "test_size");
	req.split = SplitKindFromName(JsonGetString(&last.training->root, "split"));
	v = JsonGet(&last.training->root, "order_by");
	req.order_by = (v && v->type == jbvString) ? JsonValueToCString(v) : NULL;
	req.seed = JsonGetInt(&last.training->root, "seed");
	req.deploy = "never";
	req.compare_model = current;
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
	else
	{
		double		old_score = res.compare_metrics ? res.compare_score
			: RegistryModelScore(current, proj->task);
		const char *basis = res.compare_metrics
			? psprintf("on the same %d held-out rows", JsonGetInt(&res.metrics->root, "test_rows"))
			: psprintf("by stored metrics, since %s", res.compare_problem);

		deploy = !isnan(old_score) ? res.score >= old_score + policy.min_improvement : true;
		reason = psprintf("new %s %.4f %s deployed %.4f + min_improvement %g %s",
						  metric, res.score, deploy ? ">=" : "<", old_score,
						  policy.min_improvement, basis);
	}
	if (drift_checked)
		reason = psprintf("%s; %d of %d features drifted", reason, dc.drifted, dc.checked);
	else if (force)
		reason = psprintf("%s; forced", reason);
	if (deploy)
	{
		/* the decision holds only if no one deployed meanwhile */
		RegistryLockProject(proj);
		if (RegistryDeployedModel(proj->id) != current)
		{
			deploy = false;
			reason = psprintf("%s; not deployed: the deployed model changed while retraining", reason);
		}
		else
		{
			RegistryDeploy(proj->id, res.model_id, "retrain");
			RegistryLogEvent("deploy", project, res.model_id,
							 current ? psprintf("{\"strategy\": \"retrain\", \"previous_model_id\": " INT64_FORMAT "}", current)
							 : "{\"strategy\": \"retrain\", \"previous_model_id\": null}");
		}
		PopActiveSnapshot();
	}

done:
	initStringInfo(&detail);
	AppendDecision(&detail, action, reason, &policy, drift_checked ? &dc : NULL,
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
