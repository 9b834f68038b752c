/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The model registry: projects, models, deployments, evaluations and
 *	  events, read and written through SPI.
 *
 * PUBLIC may read the registry tables (the rows of the projects it holds a
 * privilege on, see privileges.c) but not write them.  The functions here
 * read and write as the extension's owner (as pg_cron does, through
 * owner_sql.c), after the caller's privilege on the project was checked;
 * every statement here names its tables, functions, operators and types
 * schema-qualified, so no function, operator, aggregate or cast the caller
 * defined ever runs as the owner.
 *
 * A deployment or a drop sends a relcache invalidation for the table it
 * changes; it is delivered at commit (and not at all on rollback), also to
 * hot standbys, and tells every backend's model cache to reload.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "ops/experiment.h"
#include "registry.h"

/*
 * Project names must be non-empty and fit the model cache's keys.
 */
void
RegistryCheckProjectName(const char *name)
{
	if (name[0] == '\0' || strlen(name) > MLOPS_MAX_PROJECT_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid project name \"%s\"", name),
				 errdetail("A project name has between 1 and %d bytes.", MLOPS_MAX_PROJECT_NAME)));
}

/*
 * The project whose column (name or id) equals value, of type "type";
 * NULL when there is none.
 */
static RegistryProject *
RegistryFetchProject(const char *column, Oid type, Datum value)
{
	MemoryContext cxt = CurrentMemoryContext;
	RegistryProject *p = NULL;
	Oid			types[1] = {type};
	Datum		values[1] = {value};

	SPI_connect();
	RegistryReadAsOwner(psprintf("SELECT p.id, p.name, p.task, p.target, p.created_by "
								 "FROM mlops.projects p WHERE p.%s OPERATOR(pg_catalog.=) $1", column),
						1, types, values, NULL);
	if (SPI_processed == 1)
	{
		p = MemoryContextAllocZero(cxt, sizeof(RegistryProject));
		p->id = RegistryResultInt64(0, "id");
		p->name = RegistryResultText(0, "name", cxt);
		p->task = MlopsTaskFromName(RegistryResultText(0, "task", cxt));
		p->target = RegistryResultText(0, "target", cxt);
		p->owner = RegistryResultOid(0, "created_by");
	}
	SPI_finish();
	return p;
}

/*
 * Look up a project by name; unknown projects are an error unless
 * missing_ok, in which case NULL is returned.
 */
RegistryProject *
RegistryGetProject(const char *name, bool missing_ok)
{
	RegistryProject *p = RegistryFetchProject("name", TEXTOID, CStringGetTextDatum(name));

	if (p == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" does not exist", name)));
	return p;
}

/*
 * Look up a project by id (of one of its models); it must exist.
 */
RegistryProject *
RegistryGetProjectById(int64 project_id)
{
	RegistryProject *p = RegistryFetchProject("id", INT8OID, Int64GetDatum(project_id));

	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project " INT64_FORMAT " does not exist", project_id)));
	return p;
}

/*
 * Create a project; returns its id.  The privilege caches of every backend
 * learn of it at commit.
 */
int64
RegistryCreateProject(const char *name, MlopsTask task, const char *target)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, REGROLEOID};
	Datum		values[4];
	int64		id;

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(MlopsTaskName(task));
	values[2] = CStringGetTextDatum(target);
	values[3] = ObjectIdGetDatum(GetUserId());
	SPI_connect();
	RegistryWriteAsOwner("INSERT INTO mlops.projects (name, task, target, created_by) "
				  "VALUES ($1, $2, $3, $4) RETURNING id",
				  4, types, values, NULL);
	id = RegistryResultInt64(0, "id");
	SPI_finish();
	CacheInvalidateRelcacheByRelid(RegistryTableOid("projects"));
	return id;
}

/*
 * Insert a model with the next version of its project; returns its id.
 */
int64
RegistryInsertModel(const RegistryModelRow *row, int *version)
{
	Oid			types[15] = {INT8OID, TEXTOID, JSONBOID, JSONBOID, JSONBOID,
		TEXTARRAYOID, JSONBOID, JSONBOID, INT4OID, BYTEAOID, REGROLEOID, JSONBOID, JSONBOID,
	INT8OID, TEXTOID};
	Datum		values[15];
	char		nulls[15];
	int64		id;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(row->project_id);
	values[1] = CStringGetTextDatum(MlopsAlgorithmName(row->algorithm));
	values[2] = JsonbPGetDatum(row->hyperparams);
	values[3] = JsonbPGetDatum(row->preprocess);
	values[4] = JsonbPGetDatum(row->features);
	if (row->labels != NULL)
	{
		Datum	   *elems = palloc(sizeof(Datum) * row->nlabels);

		for (int i = 0; i < row->nlabels; i++)
			elems[i] = CStringGetTextDatum(row->labels[i]);
		values[5] = PointerGetDatum(construct_array(elems, row->nlabels, TEXTOID, -1, false, TYPALIGN_INT));
	}
	else
		nulls[5] = 'n';
	values[6] = JsonbPGetDatum(row->metrics);
	values[7] = JsonbPGetDatum(row->training);
	values[8] = Int32GetDatum(row->format);
	values[9] = PointerGetDatum(row->model);
	values[10] = ObjectIdGetDatum(GetUserId());
	values[11] = JsonbPGetDatum(row->profile);
	values[12] = JsonbPGetDatum(row->importance);
	values[13] = Int64GetDatum(row->parent_model_id);
	nulls[13] = row->parent_model_id != 0 ? ' ' : 'n';
	values[14] = row->data_fingerprint ? CStringGetTextDatum(row->data_fingerprint) : (Datum) 0;
	nulls[14] = row->data_fingerprint ? ' ' : 'n';

	SPI_connect();
	/* serialize versions of one project */
	RegistryWriteAsOwner("SELECT 1 FROM mlops.projects WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				  1, types, values, nulls);
	RegistryWriteAsOwner("INSERT INTO mlops.models (project_id, version, algorithm, hyperparams, "
				  "preprocess, features, labels, metrics, training, format, model, created_by, profile, "
				  "importance, parent_model_id, data_fingerprint) "
				  "SELECT $1, COALESCE(pg_catalog.max(version), 0) OPERATOR(pg_catalog.+) 1, "
				  "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 "
				  "FROM mlops.models WHERE project_id OPERATOR(pg_catalog.=) $1 RETURNING id, version",
				  15, types, values, nulls);
	id = RegistryResultInt64(0, "id");
	*version = (int) RegistryResultInt64(0, "version");
	SPI_finish();
	return id;
}

/*
 * The deployed model of a project (its latest deployment); 0 when none.
 */
int64
RegistryDeployedModel(int64 project_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(project_id)};
	int64		id = 0;

	SPI_connect();
	RegistryReadAsOwner("SELECT d.model_id FROM mlops.deployments d "
						"WHERE d.project_id OPERATOR(pg_catalog.=) $1 ORDER BY d.id DESC LIMIT 1",
						1, types, values, NULL);
	if (SPI_processed == 1)
		id = RegistryResultInt64(0, "model_id");
	SPI_finish();
	return id;
}

/*
 * A metric of a stored model; NaN when it has none.
 */
double
RegistryModelScore(int64 model_id, const char *metric)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	double		score = get_float8_nan();

	values[0] = Int64GetDatum(model_id);
	values[1] = CStringGetTextDatum(metric);
	SPI_connect();
	RegistryReadAsOwner("SELECT CASE WHEN pg_catalog.jsonb_typeof(m.metrics OPERATOR(pg_catalog.->) $2) "
						"OPERATOR(pg_catalog.=) 'number' "
						"THEN (m.metrics OPERATOR(pg_catalog.->>) $2)::pg_catalog.float8 END AS score "
						"FROM mlops.models m WHERE m.id OPERATOR(pg_catalog.=) $1",
						2, types, values, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = RegistryResultDatum(0, "score", &isnull);

		if (!isnull)
			score = DatumGetFloat8(d);
	}
	SPI_finish();
	return score;
}

/*
 * OID of a registry table; InvalidOid while the extension is not there.
 */
Oid
RegistryTableOid(const char *name)
{
	Oid			nsp = get_namespace_oid("mlops", true);

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/*
 * Record a deployment and tell every backend at commit.  The deployed
 * model's stage becomes production, the one it replaces goes back to
 * staging; the project's running experiment ends (experiment.c).
 */
void
RegistryDeploy(int64 project_id, int64 model_id, const char *strategy)
{
	Oid			types[4] = {INT8OID, INT8OID, TEXTOID, REGROLEOID};
	Datum		values[4];

	values[0] = Int64GetDatum(project_id);
	values[1] = Int64GetDatum(model_id);
	values[2] = CStringGetTextDatum(strategy);
	values[3] = ObjectIdGetDatum(GetUserId());
	SPI_connect();
	RegistryWriteAsOwner("INSERT INTO mlops.deployments (project_id, model_id, strategy, deployed_by) "
				  "VALUES ($1, $2, $3, $4)",
				  4, types, values, NULL);
	RegistryWriteAsOwner("UPDATE mlops.models m SET stage = CASE WHEN m.id OPERATOR(pg_catalog.=) $2 "
						 "THEN 'production' ELSE 'staging' END "
						 "WHERE m.project_id OPERATOR(pg_catalog.=) $1 AND (m.id OPERATOR(pg_catalog.=) $2 "
						 "OR m.stage OPERATOR(pg_catalog.=) 'production')",
						 2, types, values, NULL);
	SPI_finish();
	ExperimentEndByDeploy(project_id, model_id, strategy);
	CacheInvalidateRelcacheByRelid(RegistryTableOid("deployments"));
}

/*
 * Append a row to mlops.events.
 */
void
RegistryLogEvent(const char *action, const char *project, int64 model_id,
				 const char *detail_json)
{
	Oid			types[5] = {TEXTOID, TEXTOID, INT8OID, JSONBOID, REGROLEOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(action);
	values[1] = project ? CStringGetTextDatum(project) : (Datum) 0;
	nulls[1] = project ? ' ' : 'n';
	values[2] = Int64GetDatum(model_id);
	nulls[2] = model_id ? ' ' : 'n';
	values[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(detail_json ? detail_json : "{}"));
	values[4] = ObjectIdGetDatum(GetUserId());
	SPI_connect();
	RegistryWriteAsOwner("INSERT INTO mlops.events (action, project, model_id, detail, actor) "
				  "VALUES ($1, $2, $3, $4, $5)",
				  5, types, values, nulls);
	SPI_finish();
}

/*
 * Record the result of mlops.evaluate().
 */
void
RegistryInsertEvaluation(int64 model_id, const char *relation, int64 rows, Jsonb *metrics)
{
	Oid			types[5] = {INT8OID, TEXTOID, INT8OID, JSONBOID, REGROLEOID};
	Datum		values[5];

	values[0] = Int64GetDatum(model_id);
	values[1] = CStringGetTextDatum(relation);
	values[2] = Int64GetDatum(rows);
	values[3] = JsonbPGetDatum(metrics);
	values[4] = ObjectIdGetDatum(GetUserId());
	SPI_connect();
	RegistryWriteAsOwner("INSERT INTO mlops.evaluations (model_id, relation, rows, metrics, evaluated_by) "
				  "VALUES ($1, $2, $3, $4, $5)",
				  5, types, values, NULL);
	SPI_finish();
}

/*
 * The target of a rollback, walking back through the project's deployment
 * history (read in SPI, rows in id order): the history is replayed as a
 * stack, where a deployment pushes its model and a rollback pops back to
 * the model it deployed.  The target is the model below the current one on
 * the stack (models equal to the current one, and archived models,
 * skipped): a second rollback goes one more step back instead of
 * returning.  0 when there is none.
 */
static int64
RollbackTarget(void)
{
	int			n = (int) SPI_processed;
	int64	   *stack = palloc(sizeof(int64) * Max(1, n));
	bool	   *archived = palloc(sizeof(bool) * Max(1, n));
	int			top = 0;

	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		int64		model = RegistryResultInt64(i, "model_id");
		char	   *strategy = RegistryResultText(i, "strategy", CurrentMemoryContext);
		bool		is_archived = DatumGetBool(RegistryResultDatum(i, "archived", &isnull));

		if (strategy != NULL && strcmp(strategy, "rollback") == 0 && top > 0)
		{
			/* back to the entry the rollback deployed, or a fresh stack */
			top--;
			while (top > 0 && stack[top - 1] != model)
				top--;
			if (top > 0)
				continue;
		}
		archived[top] = is_archived;
		stack[top++] = model;
	}
	if (top == 0)
		return 0;
	for (int i = top - 2; i >= 0; i--)
		if (stack[i] != stack[top - 1] && !archived[i])
			return stack[i];
	return 0;
}

/*
 * Pick the model a deployment strategy names: best_score (best value of
 * metric, the newest on ties; lower_is_better says which way), most_recent,
 * rollback (see RollbackTarget) or specific (model_id, which must belong to
 * the project).  Archived models are never chosen but by specific (which
 * the deploy then refuses).  Returns 0 when there is none.
 */
int64
RegistryChooseModel(int64 project_id, const char *metric, bool lower_is_better,
					const char *strategy, int64 model_id)
{
	Oid			types[3] = {INT8OID, INT8OID, TEXTOID};
	Datum		values[3];
	const char *sql;
	int64		id = 0;

	values[0] = Int64GetDatum(project_id);
	values[1] = Int64GetDatum(model_id);
	values[2] = CStringGetTextDatum(metric);
	if (strcmp(strategy, "best_score") == 0)
		sql = psprintf("SELECT m.id FROM mlops.models m WHERE m.project_id OPERATOR(pg_catalog.=) $1 "
					   "AND m.stage OPERATOR(pg_catalog.<>) 'archived' "
					   "AND pg_catalog.jsonb_typeof(m.metrics OPERATOR(pg_catalog.->) $3) "
					   "OPERATOR(pg_catalog.=) 'number' "
					   "ORDER BY (m.metrics OPERATOR(pg_catalog.->>) $3)::pg_catalog.float8 %s, "
					   "m.id DESC LIMIT 1", lower_is_better ? "ASC" : "DESC");
	else if (strcmp(strategy, "most_recent") == 0)
		sql = "SELECT m.id FROM mlops.models m WHERE m.project_id OPERATOR(pg_catalog.=) $1 "
			"AND m.stage OPERATOR(pg_catalog.<>) 'archived' "
			"ORDER BY m.version DESC LIMIT 1";
	else if (strcmp(strategy, "rollback") == 0)
		sql = "SELECT d.model_id, d.strategy, m.stage OPERATOR(pg_catalog.=) 'archived' AS archived "
			"FROM mlops.deployments d JOIN mlops.models m ON m.id OPERATOR(pg_catalog.=) d.model_id "
			"WHERE d.project_id OPERATOR(pg_catalog.=) $1 ORDER BY d.id";
	else
		sql = "SELECT m.id FROM mlops.models m WHERE m.project_id OPERATOR(pg_catalog.=) $1 "
			"AND m.id OPERATOR(pg_catalog.=) $2";

	SPI_connect();
	RegistryReadAsOwner(sql, 3, types, values, NULL);
	if (strcmp(strategy, "rollback") == 0)
		id = RollbackTarget();
	else if (SPI_processed == 1)
		id = RegistryResultInt64(0, "id");
	SPI_finish();
	return id;
}

/*
 * The version of a model.
 */
int
RegistryModelVersion(int64 model_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	int			version = 0;

	SPI_connect();
	RegistryReadAsOwner("SELECT m.version::pg_catalog.int8 FROM mlops.models m "
						"WHERE m.id OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	if (SPI_processed == 1)
		version = (int) RegistryResultInt64(0, "version");
	SPI_finish();
	return version;
}

/*
 * The project of a model; an unknown model is an error.
 */
int64
RegistryModelProject(int64 model_id)
{
	int64		project_id;

	SPI_connect();
	RegistryReadModelAsOwner("SELECT m.project_id FROM mlops.models m WHERE m.id OPERATOR(pg_catalog.=) $1",
							 model_id);
	project_id = RegistryResultInt64(0, "project_id");
	SPI_finish();
	return project_id;
}

/*
 * Serialize the lifecycle operations of a project (deploy, drop_model,
 * drop_project, retrain's deploy): lock its row by updating it, as the
 * owner, before the operation checks anything.  An operation that comes
 * second waits for the first to end; then, under READ COMMITTED, the new
 * snapshot pushed here shows the checks what the first one committed,
 * and under REPEATABLE READ or SERIALIZABLE the update fails with a
 * serialization failure (the row changed after the snapshot).  The
 * caller pops the snapshot with PopActiveSnapshot() when done.  A project
 * dropped meanwhile is an error.
 */
void
RegistryLockProject(const RegistryProject *p)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(p->id)};
	uint64		locked;

	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.projects p SET id = p.id WHERE p.id OPERATOR(pg_catalog.=) $1",
						 1, types, values, NULL);
	locked = SPI_processed;
	SPI_finish();
	if (locked != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" does not exist", p->name),
				 errdetail("It was dropped while the operation waited for it.")));
	PushActiveSnapshot(GetTransactionSnapshot());
}

/*
 * Delete a model (its evaluations and past deployment rows go with it);
 * the deploy requests waiting for it expire.
 */
void
RegistryDropModel(int64 model_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};

	SPI_connect();
	RegistryWriteAsOwner("DELETE FROM mlops.models WHERE id OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	RegistryWriteAsOwner("UPDATE mlops.deploy_requests r SET status = 'expired', "
						 "decided_at = pg_catalog.clock_timestamp() "
						 "WHERE r.model_id OPERATOR(pg_catalog.=) $1 AND (r.status OPERATOR(pg_catalog.=) 'pending' "
						 "OR (r.status OPERATOR(pg_catalog.=) 'approved' AND r.deployed_at IS NULL))",
						 1, types, values, NULL);
	SPI_finish();
	CacheInvalidateRelcacheByRelid(RegistryTableOid("models"));
}

/*
 * Delete a project with everything that belongs to it; its policy goes
 * too, and its waiting deploy requests expire (their rows, by project
 * name, stay as a record).
 */
void
RegistryDropProject(int64 project_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(project_id)};

	SPI_connect();
	RegistryWriteAsOwner("WITH p AS (DELETE FROM mlops.projects WHERE id OPERATOR(pg_catalog.=) $1 RETURNING name), "
						 "pol AS (DELETE FROM mlops.policies x USING p WHERE x.project OPERATOR(pg_catalog.=) p.name), "
						 "tri AS (DELETE FROM mlops.trials x USING p WHERE x.project OPERATOR(pg_catalog.=) p.name) "
						 "UPDATE mlops.deploy_requests r SET status = 'expired', "
						 "decided_at = pg_catalog.clock_timestamp() FROM p "
						 "WHERE r.project OPERATOR(pg_catalog.=) p.name AND (r.status OPERATOR(pg_catalog.=) 'pending' "
						 "OR (r.status OPERATOR(pg_catalog.=) 'approved' AND r.deployed_at IS NULL))",
						 1, types, values, NULL);
	SPI_finish();
	CacheInvalidateRelcacheByRelid(RegistryTableOid("models"));
	CacheInvalidateRelcacheByRelid(RegistryTableOid("deployments"));
	CacheInvalidateRelcacheByRelid(RegistryTableOid("projects"));
}

/*
 * The reference profile stored with a model, which must exist.
 */
Jsonb *
RegistryModelProfile(int64 model_id)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	Jsonb	   *profile;

	SPI_connect();
	RegistryReadAsOwner("SELECT m.profile FROM mlops.models m WHERE m.id OPERATOR(pg_catalog.=) $1",
						1, types, values, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "model " INT64_FORMAT " does not exist", model_id);
	profile = RegistryResultJsonb(0, "profile", cxt);
	SPI_finish();
	return profile;
}

/*
 * A float8[] of the double at "offset" in each of n drift results, NaN
 * becoming NULL.
 */
static Datum
RegistryFloatArray(const RegistryDriftResult *results, int n, size_t offset)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(1, n));
	bool	   *nulls = palloc(sizeof(bool) * Max(1, n));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		double		v = *(const double *) ((const char *) &results[i] + offset);

		nulls[i] = isnan(v);
		elems[i] = Float8GetDatum(nulls[i] ? 0.0 : v);
	}
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, FLOAT8OID,
											  sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * A text[] of the string at "offset" in each of n drift results.
 */
static Datum
RegistryTextArray(const RegistryDriftResult *results, int n, size_t offset)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(1, n));

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(*(const char *const *) ((const char *) &results[i] + offset));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Record a drift report and its per-feature results; returns the report's
 * id.
 */
int64
RegistryInsertDriftReport(const RegistryDriftReport *report)
{
	const RegistryDriftResult *res = report->results;
	int			n = report->nresults;
	Oid			rtypes[12] = {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID, FLOAT8OID,
	INT4OID, INT4OID, FLOAT8OID, BOOLOID, BOOLOID, REGROLEOID};
	Datum		rvalues[12];
	char		rnulls[12];
	Oid			ftypes[12] = {INT8OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, BOOLARRAYOID,
	FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID};
	Datum		fvalues[12];
	Datum	   *drifted = palloc(sizeof(Datum) * Max(1, n));
	int64		id;

	memset(rnulls, ' ', sizeof(rnulls));
	rvalues[0] = Int64GetDatum(report->project_id);
	rvalues[1] = Int64GetDatum(report->model_id);
	rvalues[2] = CStringGetTextDatum(report->relation);
	rvalues[3] = Int64GetDatum(report->rows);
	rvalues[4] = CStringGetTextDatum(report->method);
	rvalues[5] = Float8GetDatum(report->threshold);
	rnulls[5] = isnan(report->threshold) ? 'n' : ' ';
	rvalues[6] = Int32GetDatum(report->features);
	rvalues[7] = Int32GetDatum(report->drifted);
	rvalues[8] = Float8GetDatum(report->drift_share);
	rvalues[9] = BoolGetDatum(report->dataset_drift);
	rvalues[10] = BoolGetDatum(report->prediction_drift > 0);
	rnulls[10] = report->prediction_drift < 0 ? 'n' : ' ';
	rvalues[11] = ObjectIdGetDatum(GetUserId());

	for (int i = 0; i < n; i++)
		drifted[i] = BoolGetDatum(res[i].drifted);
	fvalues[1] = RegistryTextArray(res, n, offsetof(RegistryDriftResult, feature));
	fvalues[2] = RegistryTextArray(res, n, offsetof(RegistryDriftResult, kind));
	fvalues[3] = RegistryTextArray(res, n, offsetof(RegistryDriftResult, method));
	fvalues[4] = RegistryFloatArray(res, n, offsetof(RegistryDriftResult, statistic));
	fvalues[5] = RegistryFloatArray(res, n, offsetof(RegistryDriftResult, p_value));
	fvalues[6] = RegistryFloatArray(res, n, offsetof(RegistryDriftResult, threshold));
	fvalues[7] = PointerGetDatum(construct_array(drifted, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	fvalues[8] = RegistryFloatArray(res, n, offsetof(RegistryDriftResult, null_share));
	fvalues[9] = RegistryFloatArray(res, n, offsetof(RegistryDriftResult, out_of_range_share));
	fvalues[10] = RegistryFloatArray(res, n, offsetof(RegistryDriftResult, unseen_share));
	fvalues[11] = RegistryFloatArray(res, n, offsetof(RegistryDriftResult, raw_statistic));

	SPI_connect();
	RegistryWriteAsOwner("INSERT INTO mlops.drift_reports (project_id, model_id, relation, rows, "
				  "method, threshold, features, drifted, drift_share, dataset_drift, "
				  "prediction_drift, checked_by) "
				  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
				  12, rtypes, rvalues, rnulls);
	id = RegistryResultInt64(0, "id");
	fvalues[0] = Int64GetDatum(id);
	RegistryWriteAsOwner("INSERT INTO mlops.drift_results (report_id, position, feature, kind, method, "
				  "statistic, p_value, threshold, drifted, null_share, out_of_range_share, "
				  "unseen_share, raw_statistic) "
				  "SELECT $1, u.position, u.feature, u.kind, u.method, u.statistic, u.p_value, "
				  "u.threshold, u.drifted, u.null_share, u.out_of_range_share, u.unseen_share, "
				  "u.raw_statistic FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), "
				  "pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), "
				  "pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9), "
				  "pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12)) "
				  "WITH ORDINALITY AS u (feature, kind, method, statistic, p_value, threshold, "
				  "drifted, null_share, out_of_range_share, unseen_share, raw_statistic, position)",
				  12, ftypes, fvalues, NULL);
	SPI_finish();
	return id;
}

