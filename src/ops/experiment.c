/*-------------------------------------------------------------------------
 *
 * experiment.c
 *	  Canary and shadow experiments: their state in mlops.experiments and
 *	  the deploy strategies that start and end them.
 *
 * mlops.deploy(project, 'canary', model_id, fraction) starts a canary: the
 * challenger answers the fraction of the keys that routing.c sends to it;
 * 'shadow' scores the challenger on every call and never returns its
 * outputs.  The deployed model stays the champion throughout.  A project
 * runs at most one experiment (a partial unique index); starting one with
 * the running experiment's challenger changes its kind or fraction (a
 * ramp: 5 %, then 20 %...), with another challenger it is an error.
 *
 * An experiment ends by
 *   - 'promote': the challenger is deployed through the normal deploy
 *	   path (governance.c: policy floors, approval, window), and the deploy
 *	   ends the experiment as "promoted"; while a promote waits for its
 *	   approval the experiment keeps running;
 *   - 'abort' (mlops.deploy, or a guardrail through ExperimentEnd):
 *	   "aborted", and the project's promote requests still waiting are
 *	   superseded;
 *   - any other deploy of the project, since the champion changes:
 *	   "rolled_back" by a rollback, else "promoted" when it deploys the
 *	   challenger (specific), else "replaced" (a retrain, best_score...);
 *   - dropping the project: "dropped".
 * While it runs, its challenger can be neither dropped nor archived.
 * Starting, changing and ending send the same relcache invalidation as a
 * deploy, so every backend's model cache (and predict's call states)
 * learn of it at commit; every change is in mlops.events.  Starting needs
 * no approval and ignores the deploy window: promote is the gated step.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"

#include "jsonutil.h"
#include "ops/experiment.h"
#include "monitor/profile.h"
#include "serve/model_cache.h"

/*
 * Read the project's running experiment into e; false when it runs none
 * (also before ALTER EXTENSION mlops UPDATE made the table).
 */
bool
ExperimentRunning(const char *project, Experiment *e)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		found = false;

	memset(e, 0, sizeof(Experiment));
	if (!OidIsValid(RegistryTableOid("experiments")))
		return false;
	values[0] = CStringGetTextDatum(project);
	SPI_connect();
	RegistryReadAsOwner("SELECT e.id, e.kind OPERATOR(pg_catalog.=) 'shadow' AS shadow, e.champion_model_id, "
						"e.challenger_model_id, e.fraction FROM mlops.experiments e "
						"WHERE e.project OPERATOR(pg_catalog.=) $1 AND e.ended_at IS NULL",
						1, types, values, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		fraction;

		found = true;
		e->id = RegistryResultInt64(0, "id");
		e->kind = DatumGetBool(RegistryResultDatum(0, "shadow", &isnull)) ? EXPERIMENT_SHADOW : EXPERIMENT_CANARY;
		e->champion_id = RegistryResultInt64(0, "champion_model_id");
		e->challenger_id = RegistryResultInt64(0, "challenger_model_id");
		fraction = RegistryResultDatum(0, "fraction", &isnull);
		e->fraction = isnull ? 0.0 : DatumGetFloat8(fraction);
	}
	SPI_finish();
	return found;
}

/*
 * The name of an experiment kind.
 */
static const char *
KindName(ExperimentKind kind)
{
	return kind == EXPERIMENT_SHADOW ? "shadow" : "canary";
}

/*
 * The stage of a model.
 */
static char *
ModelStage(int64 model_id)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *stage;

	SPI_connect();
	RegistryReadModelAsOwner("SELECT m.stage FROM mlops.models m WHERE m.id OPERATOR(pg_catalog.=) $1",
							 model_id);
	stage = RegistryResultText(0, "stage", cxt);
	SPI_finish();
	return stage;
}

/*
 * Start a canary (fraction in (0, 1)) or a shadow of model_id against the
 * deployed model of proj, which the caller checked the deploy privilege
 * on and locked; with the running experiment's challenger, change its
 * kind or fraction.  Returns the experiment's id.
 */
/*
 * Refuse a challenger that reads a column the deployed model does not read,
 * or reads one as another kind: callers pass the rows the deployed model
 * reads, and a shadow's error would fail their statements.
 */
static void
CheckChallengerColumns(int64 champion_id, int64 challenger_id)
{
	/* copied out: the second ModelCacheGet may evict the first model */
	const Featurizer *fz = ModelCacheGet(champion_id)->fz;
	int			n = fz->nsources;
	FeatureSource *champion = palloc(sizeof(FeatureSource) * Max(1, n));

	memcpy(champion, fz->sources, sizeof(FeatureSource) * n);
	for (int j = 0; j < n; j++)
		champion[j].name = pstrdup(fz->sources[j].name);
	fz = ModelCacheGet(challenger_id)->fz;
	for (int j = 0; j < fz->nsources; j++)
	{
		const FeatureSource *c = &fz->sources[j];
		const FeatureSource *d = NULL;

		for (int k = 0; k < n && d == NULL; k++)
			if (strcmp(champion[k].name, c->name) == 0)
				d = &champion[k];
		if (d == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model " INT64_FORMAT " reads column \"%s\", which the deployed model " INT64_FORMAT " does not read",
							challenger_id, c->name, champion_id),
					 errdetail("Predict is called with the rows the deployed model reads, so the challenger may read only its columns, as it reads them.")));
		if (d->kind != c->kind || d->ninputs != c->ninputs)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model " INT64_FORMAT " reads column \"%s\" as a %s input, the deployed model " INT64_FORMAT " as a %s input",
							challenger_id, c->name, ProfileKindName(c->kind), champion_id, ProfileKindName(d->kind)),
					 errdetail("Predict is called with the rows the deployed model reads, so the challenger may read only its columns, as it reads them.")));
	}
}

int64
ExperimentStart(const RegistryProject *proj, ExperimentKind kind, int64 model_id, double fraction)
{
	int64		deployed = RegistryDeployedModel(proj->id);
	Experiment	running;
	Oid			types[6] = {TEXTOID, TEXTOID, INT8OID, INT8OID, FLOAT8OID, REGROLEOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	StringInfoData detail;
	int64		id;

	if (deployed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no deployed model to compare model " INT64_FORMAT " with",
						proj->name, model_id),
				 errhint("Deploy the champion first with mlops.deploy().")));
	if (RegistryModelProject(model_id) != proj->id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model " INT64_FORMAT " is not a model of project \"%s\"", model_id, proj->name),
				 errdetail("A %s compares two models of the same project.", KindName(kind))));
	if (model_id == deployed)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model " INT64_FORMAT " is the deployed model of project \"%s\"", model_id, proj->name),
				 errdetail("A %s compares another model of the project with the deployed one.", KindName(kind))));
	if (strcmp(ModelStage(model_id), "archived") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model " INT64_FORMAT " is archived", model_id),
				 errhint("Move it back to staging with mlops.set_stage() first.")));
	CheckChallengerColumns(deployed, model_id);

	values[0] = CStringGetTextDatum(proj->name);
	values[1] = CStringGetTextDatum(KindName(kind));
	values[2] = Int64GetDatum(deployed);
	values[3] = Int64GetDatum(model_id);
	values[4] = Float8GetDatum(fraction);
	nulls[4] = kind == EXPERIMENT_SHADOW ? 'n' : ' ';
	values[5] = ObjectIdGetDatum(GetUserId());
	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"kind\": \"%s\", \"champion_model_id\": " INT64_FORMAT ", \"fraction\": ",
					 KindName(kind), deployed);
	if (kind == EXPERIMENT_CANARY)
		JsonAppendDouble(&detail, fraction);
	else
		appendStringInfoString(&detail, "null");

	if (ExperimentRunning(proj->name, &running))
	{
		if (running.challenger_id != model_id)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("project \"%s\" already runs a %s of model " INT64_FORMAT,
							proj->name, KindName(running.kind), running.challenger_id),
					 errhint("End it with mlops.deploy('%s', 'promote') or mlops.deploy('%s', 'abort') first.",
							 proj->name, proj->name)));
		id = running.id;
		values[0] = Int64GetDatum(id);
		types[0] = INT8OID;
		SPI_connect();
		RegistryWriteAsOwner("UPDATE mlops.experiments e SET kind = $2, fraction = $5 "
							 "WHERE e.id OPERATOR(pg_catalog.=) $1", 5, types, values, nulls);
		SPI_finish();
		appendStringInfo(&detail, ", \"experiment_id\": " INT64_FORMAT ", \"previous_kind\": \"%s\", "
						 "\"previous_fraction\": ", id, KindName(running.kind));
		if (running.kind == EXPERIMENT_CANARY)
			JsonAppendDouble(&detail, running.fraction);
		else
			appendStringInfoString(&detail, "null");
	}
	else
	{
		SPI_connect();
		RegistryWriteAsOwner("INSERT INTO mlops.experiments (project, kind, champion_model_id, "
							 "challenger_model_id, fraction, started_by) VALUES ($1, $2, $3, $4, $5, $6) "
							 "RETURNING id", 6, types, values, nulls);
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool) {false}));
		SPI_finish();
		appendStringInfo(&detail, ", \"experiment_id\": " INT64_FORMAT, id);
	}
	appendStringInfoChar(&detail, '}');
	CacheInvalidateRelcacheByRelid(RegistryTableOid("deployments"));
	RegistryLogEvent(KindName(kind), proj->name, model_id, detail.data);
	return id;
}

/*
 * The challenger of the project's running experiment, for a strategy
 * that needs one (promote, abort); none is an error.
 */
int64
ExperimentChallenger(const RegistryProject *proj, const char *strategy)
{
	Experiment	e;

	if (!ExperimentRunning(proj->name, &e))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no running experiment to %s", proj->name, strategy),
				 errhint("Start one with mlops.deploy('%s', 'canary', model_id, fraction) or "
						 "mlops.deploy('%s', 'shadow', model_id).", proj->name, proj->name)));
	return e.challenger_id;
}

/*
 * End the project's running experiment with an outcome ("aborted",
 * "promoted", "rolled_back", "replaced" or "dropped") and a reason (NULL:
 * none), recorded in mlops.events; the project's promote requests still
 * waiting are superseded.  Returns the challenger's id, 0 when the project
 * runs no experiment.  The caller holds the project's lock (the
 * guardrails of the background worker call this to abort a canary).
 */
int64
ExperimentEnd(const char *project, const char *outcome, const char *reason)
{
	Experiment	e;
	Oid			types[4] = {INT8OID, TEXTOID, REGROLEOID, TEXTOID};
	Datum		values[4];
	StringInfoData detail;

	if (!ExperimentRunning(project, &e))
		return 0;
	values[0] = Int64GetDatum(e.id);
	values[1] = CStringGetTextDatum(outcome);
	values[2] = ObjectIdGetDatum(GetUserId());
	values[3] = CStringGetTextDatum(project);
	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.experiments e SET ended_at = pg_catalog.clock_timestamp(), "
						 "ended_by = $3, outcome = $2 WHERE e.id OPERATOR(pg_catalog.=) $1",
						 3, types, values, NULL);
	RegistryWriteAsOwner("UPDATE mlops.deploy_requests r SET status = 'superseded', "
						 "decided_at = pg_catalog.clock_timestamp() "
						 "WHERE r.project OPERATOR(pg_catalog.=) $4 AND r.strategy OPERATOR(pg_catalog.=) 'promote' "
						 "AND (r.status OPERATOR(pg_catalog.=) 'pending' "
						 "OR (r.status OPERATOR(pg_catalog.=) 'approved' AND r.deployed_at IS NULL))",
						 4, types, values, NULL);
	SPI_finish();
	CacheInvalidateRelcacheByRelid(RegistryTableOid("deployments"));

	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"experiment_id\": " INT64_FORMAT ", \"kind\": \"%s\", \"outcome\": \"%s\", "
					 "\"champion_model_id\": " INT64_FORMAT ", \"reason\": ",
					 e.id, KindName(e.kind), outcome, e.champion_id);
	if (reason != NULL)
		JsonAppendString(&detail, reason);
	else
		appendStringInfoString(&detail, "null");
	appendStringInfoChar(&detail, '}');
	RegistryLogEvent("experiment_end", project, e.challenger_id, detail.data);
	return e.challenger_id;
}

/*
 * A deploy of model_id in the project (any path: mlops.deploy, an
 * approval, the worker, train, retrain, import) ends its running
 * experiment: "rolled_back" by a rollback (whichever model it goes back
 * to), else "promoted" when the challenger is deployed, else "replaced".
 */
void
ExperimentEndByDeploy(int64 project_id, int64 model_id, const char *strategy)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(project_id)};
	char	   *project = NULL;
	Experiment	e;

	if (!OidIsValid(RegistryTableOid("experiments")))
		return;
	/* (a project created by this statement, which the snapshot misses, runs none) */
	SPI_connect();
	RegistryReadAsOwner("SELECT p.name FROM mlops.projects p JOIN mlops.experiments e "
						"ON e.project OPERATOR(pg_catalog.=) p.name AND e.ended_at IS NULL "
						"WHERE p.id OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	if (SPI_processed == 1)
		project = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	if (project == NULL || !ExperimentRunning(project, &e))
		return;
	ExperimentEnd(project, strcmp(strategy, "rollback") == 0 ? "rolled_back" :
				  e.challenger_id == model_id ? "promoted" : "replaced",
				  psprintf("deploy of model " INT64_FORMAT " with strategy %s", model_id, strategy));
}

/*
 * Refuse to drop or archive (what) the challenger of the project's
 * running experiment, which serves calls.
 */
void
ExperimentCheckNotChallenger(const RegistryProject *proj, int64 model_id, const char *what)
{
	Experiment	e;

	if (ExperimentRunning(proj->name, &e) && e.challenger_id == model_id)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot %s model " INT64_FORMAT ", the challenger of a running %s in project \"%s\"",
						what, model_id, KindName(e.kind), proj->name),
				 errhint("End the experiment with mlops.deploy('%s', 'abort') or promote it first.", proj->name)));
}
