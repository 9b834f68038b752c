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
 * mlops.deploy(project, strategy, model_id): deploy a model of the project
 * chosen by strategy (best_score by the policy's metric, archived models
 * never chosen); returns what was deployed, or the deploy request made
 * when the policy requires an approval.
 */
Datum
mlops_deploy(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *project;
	char	   *strategy;
	int64		given = 0;
	RegistryProject *proj;
	int64		current;
	int64		model_id;
	StringInfoData detail;
	Policy		policy;
	const char *metric;
	int64		request_id;
	GovernanceOutcome outcome;
	Datum		values[6];
	bool		nulls[6] = {0};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and strategy must not be NULL")));
	project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	strategy = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(2))
		given = PG_GETARG_INT64(2);

	if (strcmp(strategy, "best_score") != 0 && strcmp(strategy, "most_recent") != 0 &&
		strcmp(strategy, "rollback") != 0 && strcmp(strategy, "specific") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown deployment strategy \"%s\"", strategy),
				 errhint("Valid strategies are \"best_score\", \"most_recent\", \"rollback\" and \"specific\".")));
	if ((strcmp(strategy, "specific") == 0) != (given != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model_id goes with strategy \"specific\", and only with it")));

	proj = RegistryGetProject(project, false);
	PrivilegeCheck(proj->id, proj->name, PRIV_DEPLOY);
	RegistryLockProject(proj);
	PolicyForProject(proj->name, NULL, &policy);
	metric = PolicyMetric(&policy, proj->task);
	current = RegistryDeployedModel(proj->id);
	model_id = RegistryChooseModel(proj->id, metric, PolicyLowerIsBetter(metric), strategy,
								   strcmp(strategy, "specific") == 0 ? given : current);
	if (model_id == 0)
	{
		if (strcmp(strategy, "specific") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model " INT64_FORMAT " does not exist in project \"%s\"", given, project)));
		else if (strcmp(strategy, "rollback") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("project \"%s\" has no earlier deployment to roll back to", project)));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no model to deploy with strategy \"%s\"", project, strategy),
				 strcmp(strategy, "best_score") == 0 ?
				 errdetail("No model that is not archived has the metric \"%s\" in its held-out metrics.",
						   metric) : 0));
	}

	outcome = GovernanceDeploy(proj, &policy, model_id, strategy,
							   psprintf("mlops.deploy with strategy %s", strategy), true, &request_id);
	if (outcome == GOVERNANCE_DEPLOYED)
	{
		initStringInfo(&detail);
		appendStringInfo(&detail, "{\"strategy\": \"%s\", \"previous_model_id\": ", strategy);
		if (current)
			appendStringInfo(&detail, INT64_FORMAT "}", current);
		else
			appendStringInfoString(&detail, "null}");
		RegistryLogEvent(strcmp(strategy, "rollback") == 0 ? "rollback" : "deploy",
						 project, model_id, detail.data);
	}
	PopActiveSnapshot();

	values[0] = CStringGetTextDatum(project);
	values[1] = Int64GetDatum(model_id);
	values[2] = Int32GetDatum(RegistryModelVersion(model_id));
	values[3] = CStringGetTextDatum(strategy);
	values[4] = CStringGetTextDatum(outcome == GOVERNANCE_DEPLOYED ? "deployed" : "pending");
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
	m = ModelCacheGet(PG_ARGISNULL(2) ? ModelCacheDeployed(project) : PG_GETARG_INT64(2));
	if (m->project_id != proj->id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model " INT64_FORMAT " belongs to project \"%s\", not \"%s\"",
						m->id, m->project, project)));

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
	RegistryDropProject(proj->id);
	RegistryLogEvent("drop_project", project, 0, NULL);
	PopActiveSnapshot();
	PG_RETURN_VOID();
}
