/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  mlops.deploy, mlops.evaluate, mlops.drop_model, mlops.drop_project.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"

#include "train/dataset.h"
#include "ops/experiment.h"
#include "ops/governance.h"
#include "jsonutil.h"
#include "serve/model_cache.h"
#include "privileges.h"
#include "registry.h"
#include "train/train.h"

PG_FUNCTION_INFO_V1(mlops_deploy);
PG_FUNCTION_INFO_V1(mlops_evaluate);
PG_FUNCTION_INFO_V1(mlops_drop_model);
PG_FUNCTION_INFO_V1(mlops_drop_project);

/*
 * Check the arguments of mlops.deploy: a known strategy, model_id with the
 * strategies that name a model (and only them), fraction in (0, 1) with
 * canary (and only with it).
 */
static void
CheckDeployArguments(const char *strategy, int64 given, bool has_fraction, double fraction)
{
	static const char *const strategies[] = {"best_score", "most_recent", "rollback", "specific",
	"canary", "shadow", "promote", "abort"};
	bool		known = false;
	bool		names_model = strcmp(strategy, "specific") == 0 || strcmp(strategy, "canary") == 0 ||
		strcmp(strategy, "shadow") == 0;

	for (int i = 0; i < lengthof(strategies); i++)
		known |= strcmp(strategy, strategies[i]) == 0;
	if (!known)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown deployment strategy \"%s\"", strategy),
				 errhint("Valid strategies are \"best_score\", \"most_recent\", \"rollback\", \"specific\", "
						 "\"canary\", \"shadow\", \"promote\" and \"abort\".")));
	if (names_model != (given != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model_id goes with strategies \"specific\", \"canary\" and \"shadow\", and only with them")));
	if (strcmp(strategy, "canary") != 0)
	{
		if (has_fraction)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("fraction goes with strategy \"canary\", and only with it")));
	}
	else if (!has_fraction || !(fraction > 0.0 && fraction < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 has_fraction ? errmsg("canary fraction %g is not between 0 and 1", fraction)
				 : errmsg("strategy \"canary\" needs a fraction"),
				 errdetail("The fraction is the share of keys the challenger answers, strictly between 0 and 1."),
				 errhint("Use strategy \"shadow\" to score the challenger on every call without returning its outputs, "
						 "and \"promote\" to deploy it.")));
}

/*
 * Deploy the model strategy chooses in proj (locked by the caller): the
 * best_score by the policy's metric, archived models never chosen; for
 * promote, the running experiment's challenger.  Returns the status
 * ("deployed", or "pending" when the policy requires an approval) and
 * sets the model and the request made.
 */
static const char *
DeployChosenModel(const RegistryProject *proj, const char *strategy, int64 given,
				  int64 *model_id, int64 *request_id)
{
	Policy		policy;
	const char *metric;
	int64		current = RegistryDeployedModel(proj->id);
	StringInfoData detail;
	GovernanceOutcome outcome;

	PolicyForProject(proj->name, NULL, &policy);
	metric = PolicyMetric(&policy, proj->task);
	if (strcmp(strategy, "promote") == 0)
		*model_id = ExperimentChallenger(proj, strategy);
	else
		*model_id = RegistryChooseModel(proj->id, metric, PolicyLowerIsBetter(metric), strategy,
										strcmp(strategy, "specific") == 0 ? given : current);
	if (*model_id == 0)
	{
		if (strcmp(strategy, "specific") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model " INT64_FORMAT " does not exist in project \"%s\"", given, proj->name)));
		else if (strcmp(strategy, "rollback") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("project \"%s\" has no earlier deployment to roll back to", proj->name)));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no model to deploy with strategy \"%s\"", proj->name, strategy),
				 strcmp(strategy, "best_score") == 0 ?
				 errdetail("No model that is not archived has the metric \"%s\" in its held-out metrics.",
						   metric) : 0));
	}

	outcome = GovernanceDeploy(proj, &policy, *model_id, strategy,
							   psprintf("mlops.deploy with strategy %s", strategy), true, request_id);
	if (outcome != GOVERNANCE_DEPLOYED)
		return "pending";
	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"strategy\": \"%s\", \"previous_model_id\": ", strategy);
	if (current)
		appendStringInfo(&detail, INT64_FORMAT "}", current);
	else
		appendStringInfoString(&detail, "null}");
	RegistryLogEvent(strcmp(strategy, "rollback") == 0 ? "rollback" : "deploy",
					 proj->name, *model_id, detail.data);
	return "deployed";
}

/*
 * mlops.deploy(project, strategy, model_id, fraction): deploy a model of
 * the project chosen by strategy, or start (canary, shadow) or abort an
 * experiment (see experiment.c); returns the model deployed or compared,
 * and the status: deployed, pending (with the deploy request made when
 * the policy requires an approval), started or aborted.
 */
Datum
mlops_deploy(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *strategy;
	int64		given = 0;
	bool		has_fraction = PG_NARGS() > 3 && !PG_ARGISNULL(3);
	double		fraction = has_fraction ? PG_GETARG_FLOAT8(3) : 0.0;
	RegistryProject *proj;
	int64		model_id;
	int64		request_id = 0;
	const char *status;
	Datum		values[6];
	bool		nulls[6] = {0};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and strategy must not be NULL")));
	strategy = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(2))
		given = PG_GETARG_INT64(2);
	CheckDeployArguments(strategy, given, has_fraction, fraction);

	proj = RegistryGetProject(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	PrivilegeCheck(proj->id, proj->name, PRIV_DEPLOY);
	RegistryLockProject(proj);
	if (strcmp(strategy, "canary") == 0 || strcmp(strategy, "shadow") == 0)
	{
		model_id = given;
		ExperimentStart(proj, strcmp(strategy, "canary") == 0 ? EXPERIMENT_CANARY : EXPERIMENT_SHADOW,
						model_id, fraction);
		status = "started";
	}
	else if (strcmp(strategy, "abort") == 0)
	{
		model_id = ExperimentChallenger(proj, strategy);
		ExperimentEnd(proj->name, "aborted", "mlops.deploy with strategy abort");
		status = "aborted";
	}
	else
		status = DeployChosenModel(proj, strategy, given, &model_id, &request_id);
	PopActiveSnapshot();

	values[0] = CStringGetTextDatum(proj->name);
	values[1] = Int64GetDatum(model_id);
	values[2] = Int32GetDatum(RegistryModelVersion(model_id));
	values[3] = CStringGetTextDatum(strategy);
	values[4] = CStringGetTextDatum(status);
	values[5] = Int64GetDatum(request_id);
	nulls[5] = request_id == 0;
	SetSingleFuncCall(fcinfo, 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * mlops.evaluate(project, relation, model_id): metrics of the deployed (or
 * given) model on every labeled row of a relation.
 */
Datum
mlops_evaluate(PG_FUNCTION_ARGS)
{
	char	   *project;
	char	   *relname;
	Oid			relid;
	MlopsModel *m;
	RegistryProject *proj;
	Dataset    *ds;
	int		   *rows;
	StringInfoData metrics;
	Jsonb	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and relation must not be NULL")));
	project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	proj = RegistryGetProject(project, false);
	PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	m = ModelCacheGetOfProject(proj, PG_ARGISNULL(2) ? NULL : &(int64) {PG_GETARG_INT64(2)});

	relid = DatasetResolveRelation(text_to_cstring(PG_GETARG_TEXT_PP(1)), &relname);
	ds = DatasetRead(relid, relname, proj->target, FeaturizerSpec(m->fz), NULL,
					 m->task == TASK_CLASSIFICATION ? TARGET_KNOWN_LABELS : TARGET_REGRESSION,
					 m->labels, m->nclasses);
	FeaturizerCheckDataset(m->fz, ds);
	if (ds->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("relation %s has no rows with a non-NULL target to evaluate on", relname)));

	rows = palloc_extended(sizeof(int) * ds->nrows, MCXT_ALLOC_HUGE);
	for (int i = 0; i < ds->nrows; i++)
		rows[i] = i;
	initStringInfo(&metrics);
	appendStringInfoChar(&metrics, '{');
	ModelScoreRows(m, ds, rows, ds->nrows, &metrics, NULL);
	appendStringInfo(&metrics, ", \"rows\": %d}", ds->nrows);
	result = JsonFromText(&metrics);

	RegistryInsertEvaluation(m->id, relname, ds->nrows, result);
	RegistryLogEvent("evaluate", project, m->id, metrics.data);
	PG_RETURN_JSONB_P(result);
}

/*
 * mlops.drop_model(model_id): delete a model that is not deployed.
 */
Datum
mlops_drop_model(PG_FUNCTION_ARGS)
{
	int64		model_id = PG_GETARG_INT64(0);
	RegistryProject *proj = RegistryGetProjectById(RegistryModelProject(model_id));

	PrivilegeCheck(proj->id, proj->name, PRIV_ADMIN);
	RegistryLockProject(proj);
	/* what a concurrent operation committed meanwhile */
	if (RegistryModelVersion(model_id) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model " INT64_FORMAT " does not exist", model_id)));
	if (RegistryDeployedModel(proj->id) == model_id)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("model " INT64_FORMAT " is deployed in project \"%s\"", model_id, proj->name),
				 errhint("Deploy another model first, or drop the whole project with mlops.drop_project().")));
	ExperimentCheckNotChallenger(proj, model_id, "drop");
	RegistryDropModel(model_id);
	RegistryLogEvent("drop_model", proj->name, model_id, NULL);
	PopActiveSnapshot();
	PG_RETURN_VOID();
}

/*
 * mlops.drop_project(project): delete a project and all it holds.
 */
Datum
mlops_drop_project(PG_FUNCTION_ARGS)
{
	char	   *project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	RegistryProject *proj = RegistryGetProject(project, false);

	PrivilegeCheck(proj->id, proj->name, PRIV_ADMIN);
	RegistryLockProject(proj);
	ExperimentEnd(proj->name, "dropped", NULL);
	RegistryDropProject(proj->id);
	RegistryLogEvent("drop_project", project, 0, NULL);
	PopActiveSnapshot();
	PG_RETURN_VOID();
}
