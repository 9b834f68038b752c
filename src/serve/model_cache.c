/*-------------------------------------------------------------------------
 *
 * model_cache.c
 *	  Per-backend cache of loaded models and of each project's deployed
 *	  model.
 *
 * With the deployed model comes the project's running experiment
 * (canary or shadow, ops/experiment.c), which predict routes by.
 *
 * Loading a model (reading its row, parsing the frozen transform,
 * deserializing the algorithm's state) happens once per backend; predict
 * then costs a hash lookup.  Each loaded model lives in its own memory
 * context, so evicting it frees everything (tree models hold no libxgboost
 * memory once loaded: they are compiled to a native form).  At most
 * mlops.model_cache_size models are kept; the least recently used one goes
 * first.
 *
 * Invalidation is transactional: deploy, drop and the experiment
 * strategies send a relcache invalidation for mlops.deployments or
 * mlops.models, which is delivered at
 * commit to every backend (and replayed on hot standbys).  The callback only
 * marks the cache stale; it is emptied at the next lookup, never while a
 * caller may hold a model.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "jsonutil.h"
#include "ops/experiment.h"
#include "serve/model_cache.h"
#include "registry.h"
#include "strmap.h"

typedef struct ModelEntry
{
	int64		id;				/* hash key */
	MlopsModel *model;
	uint64		last_used;
} ModelEntry;

typedef struct DeployedEntry
{
	char		project[NAMEDATALEN];	/* hash key */
	ModelDeployment deployment;
} DeployedEntry;

static MemoryContext cache_cxt = NULL;
static HTAB *models = NULL;
static HTAB *deployed = NULL;
static uint64 use_clock = 0;
static Oid	models_relid = InvalidOid;
static Oid	deployments_relid = InvalidOid;
static bool models_stale = false;
static bool deployed_stale = false;
static uint64 generation = 1;	/* changes whenever a cached model may go */

/*
 * The entries of the last lookups, so that a statement that serves the same
 * project as the previous one (a prepared statement meets the cache anew at
 * each execution) skips hashing: hash entries stay where they are until
 * removed, which changes the generation.
 */
static ModelEntry *last_model = NULL;
static DeployedEntry *last_deployed = NULL;
static uint64 last_generation = 0;	/* the generation both were found in */

/* mlops.model_cache_size and its bounds */
#define MODEL_CACHE_SIZE_DEFAULT	64
#define MODEL_CACHE_SIZE_MAX		100000

int			mlops_model_cache_size = MODEL_CACHE_SIZE_DEFAULT;

/*
 * Define mlops.model_cache_size; called from _PG_init.
 */
void
ModelCacheInit(void)
{
	DefineCustomIntVariable("mlops.model_cache_size",
							"Sets how many loaded models each backend keeps in its cache.",
							"The least recently used model is evicted first.",
							&mlops_model_cache_size,
							MODEL_CACHE_SIZE_DEFAULT, 1, MODEL_CACHE_SIZE_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}

/*
 * Relcache callback: a change to mlops.models or mlops.deployments was
 * committed (or everything was reset).
 */
static void
ModelCacheInvalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == models_relid)
		models_stale = deployed_stale = true;
	if (relid == InvalidOid || relid == deployments_relid)
		deployed_stale = true;
}

/*
 * Create the hash tables on first use and empty whatever went stale.
 */
static void
ModelCacheSync(void)
{
	HASHCTL		ctl;

	if (cache_cxt == NULL)
	{
		cache_cxt = AllocSetContextCreate(CacheMemoryContext, "mlops model cache",
										  ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(ModelCacheInvalidate, (Datum) 0);
		models_stale = deployed_stale = true;
	}
	if (models_stale && models != NULL)
	{
		HASH_SEQ_STATUS seq;
		ModelEntry *e;

		hash_seq_init(&seq, models);
		while ((e = hash_seq_search(&seq)) != NULL)
			MemoryContextDelete(e->model->mcxt);
		hash_destroy(models);
		models = NULL;
	}
	if (deployed_stale && deployed != NULL)
	{
		hash_destroy(deployed);
		deployed = NULL;
	}
	if (models_stale || deployed_stale)
	{
		generation++;
		/* the extension may have been dropped and created again */
		models_relid = RegistryTableOid("models");
		deployments_relid = RegistryTableOid("deployments");
		models_stale = deployed_stale = false;
	}
	if (models == NULL)
	{
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(ModelEntry);
		ctl.hcxt = cache_cxt;
		models = hash_create("mlops models", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (deployed == NULL)
	{
		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(DeployedEntry);
		ctl.hcxt = cache_cxt;
		deployed = hash_create("mlops deployed models", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
}

/*
 * Error context callback of ModelLoad: name the model whose stored form
 * is being read.
 */
static void
ModelLoadErrorContext(void *arg)
{
	errcontext("loading model " INT64_FORMAT, *(int64 *) arg);
}

static void ModelCorrupted(int64 model_id, const char *detail) pg_attribute_noreturn();

/*
 * Report a model's stored row as damaged; detail says what is wrong.
 */
static void
ModelCorrupted(int64 model_id, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored model " INT64_FORMAT " is corrupted", model_id),
			 errdetail("%s", detail)));
}

/*
 * Read a classification model's labels (mlops.models.labels) and their
 * values: at least two, distinct, none NULL, in a one-dimensional array;
 * when the training record says they are numeric, each a finite number
 * (or true or false).
 */
static void
ModelLabelsFromRow(MlopsModel *m, Datum labels, bool isnull, Jsonb *training)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	JsonbValue *numeric = JsonGet(&training->root, "labels_numeric");
	StrMap	   *seen;

	if (isnull)
		ModelCorrupted(m->id, "A classification model has no labels.");
	arr = DatumGetArrayTypeP(labels);
	if (ARR_NDIM(arr) > 1)
		ModelCorrupted(m->id, psprintf("Its labels are an array of %d dimensions.", ARR_NDIM(arr)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &m->nclasses);
	if (m->nclasses < 2)
		ModelCorrupted(m->id, psprintf("It has %d labels.", m->nclasses));
	if (numeric != NULL && numeric->type != jbvBool)
		ModelCorrupted(m->id, "Its training record's \"labels_numeric\" is not a boolean.");
	m->labels_numeric = numeric != NULL && numeric->val.boolean;
	m->labels = palloc(sizeof(char *) * m->nclasses);
	m->label_values = palloc(sizeof(double) * m->nclasses);
	seen = StrMapCreate(CurrentMemoryContext, m->nclasses);
	for (int k = 0; k < m->nclasses; k++)
	{
		char	   *end;

		if (nulls[k])
			ModelCorrupted(m->id, psprintf("Label %d is NULL.", k + 1));
		m->labels[k] = TextDatumGetCString(elems[k]);
		if (StrMapGet(seen, m->labels[k]) >= 0)
			ModelCorrupted(m->id, psprintf("Label \"%s\" appears twice.", m->labels[k]));
		StrMapPut(seen, m->labels[k], k);
		if (strcmp(m->labels[k], "true") == 0)
			m->label_values[k] = 1.0;
		else if (strcmp(m->labels[k], "false") == 0)
			m->label_values[k] = 0.0;
		else if (!m->labels_numeric)
			m->label_values[k] = k;
		else
		{
			m->label_values[k] = strtod(m->labels[k], &end);
			if (end == m->labels[k] || *end != '\0' || !isfinite(m->label_values[k]))
				ModelCorrupted(m->id, psprintf("Label \"%s\" of a model with numeric labels is not a finite number.",
											   m->labels[k]));
		}
	}
}

/*
 * Read a model's row and build its loaded form in a new memory context
 * under "parent".  The row is read as the extension owner (only it may
 * read the stored transform and model): callers check the user's privilege
 * on the model's project before they hand out anything derived from it.
 * Everything read back is checked (an error names the model, in its
 * context): a damaged row is an error, never a crash.
 */
static MlopsModel *
ModelLoad(int64 model_id, MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "mlops model", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	MlopsModel *m;
	bool		isnull;
	bytea	   *blob;
	int			format;
	ErrorContextCallback errcallback;

	SPI_connect();
	RegistryReadModelAsOwner("SELECT m.algorithm, p.task, m.features, m.labels, m.training, "
							 "m.format, m.model, p.id AS project_id, p.name AS project FROM mlops.models m "
							 "JOIN mlops.projects p ON p.id OPERATOR(pg_catalog.=) m.project_id "
							 "WHERE m.id OPERATOR(pg_catalog.=) $1", model_id);

	errcallback.callback = ModelLoadErrorContext;
	errcallback.arg = &model_id;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	old = MemoryContextSwitchTo(cxt);
	m = palloc0(sizeof(MlopsModel));
	m->id = model_id;
	m->mcxt = cxt;
	m->project_id = RegistryResultInt64(0, "project_id");
	m->project = RegistryResultText(0, "project", cxt);
	m->algorithm = MlopsAlgorithmFromName(RegistryResultText(0, "algorithm", cxt));
	m->task = MlopsTaskFromName(RegistryResultText(0, "task", cxt));
	m->fz = FeaturizerFromJson(RegistryResultJsonb(0, "features", cxt));
	m->all_numeric = FeaturizerAllNumeric(m->fz);
	for (int k = 0; k < m->fz->ninputs; k++)
		m->has_categories |= m->fz->inputs[k].categorical;
	if (m->task == TASK_CLASSIFICATION)
	{
		bool		labels_null;
		Datum		labels = RegistryResultDatum(0, "labels", &labels_null);
		Jsonb	   *training = RegistryResultJsonb(0, "training", cxt);

		ModelLabelsFromRow(m, labels, labels_null, training);
	}
	format = (int) RegistryResultInt64(0, "format");
	if (format != ModelFormat(m->algorithm))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model " INT64_FORMAT " has unknown format version %d", model_id, format),
				 errhint("The model was written by another version of mlops; retrain it.")));
	blob = DatumGetByteaPCopy(RegistryResultDatum(0, "model", &isnull));
	m->ops = ModelOps(m->algorithm);
	m->impl = m->ops->load(blob, m->fz->nfeatures, m->task == TASK_CLASSIFICATION ? m->nclasses : 0);
	pfree(blob);
	MemoryContextSwitchTo(old);
	error_context_stack = errcallback.previous;
	SPI_finish();
	return m;
}

/*
 * Evict the least recently used model when the cache is full.
 */
static void
EvictIfFull(void)
{
	HASH_SEQ_STATUS seq;
	ModelEntry *e,
			   *oldest = NULL;

	if (hash_get_num_entries(models) < mlops_model_cache_size)
		return;
	hash_seq_init(&seq, models);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (oldest == NULL || e->last_used < oldest->last_used)
			oldest = e;
	if (oldest != NULL)
	{
		generation++;
		MemoryContextDelete(oldest->model->mcxt);
		hash_search(models, &oldest->id, HASH_REMOVE, NULL);
	}
}

/*
 * Remember the entry of a lookup (the other one's stays while the
 * generation does).
 */
static void
ModelCacheRemember(ModelEntry *model, DeployedEntry *deployment)
{
	if (last_generation != generation)
	{
		last_model = NULL;
		last_deployed = NULL;
		last_generation = generation;
	}
	if (model != NULL)
		last_model = model;
	if (deployment != NULL)
		last_deployed = deployment;
}

/*
 * A loaded model by id, from the cache or loaded into it.
 */
MlopsModel *
ModelCacheGet(int64 model_id)
{
	ModelEntry *e;
	MlopsModel *m;
	bool		found;

	ModelCacheSync();
	if (last_generation == generation && last_model != NULL && last_model->id == model_id)
	{
		last_model->last_used = ++use_clock;
		return last_model->model;
	}
	e = hash_search(models, &model_id, HASH_FIND, NULL);
	if (e != NULL)
	{
		ModelCacheRemember(e, NULL);
		e->last_used = ++use_clock;
		return e->model;
	}

	/* load outside the cache, so an error leaves nothing half-built */
	m = ModelLoad(model_id, CurrentMemoryContext);
	MemoryContextSetParent(m->mcxt, cache_cxt);

	/* loading read tables and may have processed invalidations */
	ModelCacheSync();
	EvictIfFull();
	e = hash_search(models, &model_id, HASH_ENTER, &found);
	if (found)
	{
		generation++;
		MemoryContextDelete(e->model->mcxt);
	}
	e->model = m;
	e->last_used = ++use_clock;
	return m;
}

/*
 * What serves a project: its deployed model and its running experiment
 * (experiment.c), which change together (both send the invalidation of
 * mlops.deployments).  model_id is 0 when the project does not exist or
 * has nothing deployed.  Nothing is checked: callers check the user's
 * privilege on the project before they hand out anything derived from it.
 */
ModelDeployment
ModelCacheDeploymentIfAny(const char *project)
{
	DeployedEntry *e;
	RegistryProject *p;
	ModelDeployment d = {0};
	Experiment	experiment;

	ModelCacheSync();
	if (last_generation == generation && last_deployed != NULL &&
		strcmp(last_deployed->project, project) == 0)
		return last_deployed->deployment;
	if (strlen(project) < NAMEDATALEN)
	{
		e = hash_search(deployed, project, HASH_FIND, NULL);
		if (e != NULL)
		{
			ModelCacheRemember(NULL, e);
			return e->deployment;
		}
	}

	p = RegistryGetProject(project, true);
	if (p == NULL)
		return d;
	d.model_id = RegistryDeployedModel(p->id);
	if (d.model_id == 0)
		return d;
	if (ExperimentRunning(p->name, &experiment))
	{
		d.challenger_id = experiment.challenger_id;
		d.fraction = experiment.fraction;
		d.shadow = experiment.kind == EXPERIMENT_SHADOW;
	}

	ModelCacheSync();
	if (strlen(project) < NAMEDATALEN)
	{
		e = hash_search(deployed, project, HASH_ENTER, NULL);
		e->deployment = d;
	}
	return d;
}

/*
 * What serves a project; an unknown project or one with nothing deployed
 * is an error.
 */
ModelDeployment
ModelCacheDeployment(const char *project)
{
	ModelDeployment d = ModelCacheDeploymentIfAny(project);

	if (d.model_id == 0)
	{
		/* an unknown project gets its own error */
		RegistryGetProject(project, false);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no deployed model", project),
				 errhint("Deploy one with mlops.deploy(), or pass a model_id.")));
	}
	return d;
}

/*
 * The id of a project's deployed model; an unknown project or one with
 * nothing deployed is an error.
 */
int64
ModelCacheDeployed(const char *project)
{
	return ModelCacheDeployment(project).model_id;
}

/*
 * The model a call on a project works with: the project's deployed model
 * when model_id is NULL, else *model_id, which must be one of the
 * project's models (the error does not name the project a model of
 * another project belongs to).
 */
MlopsModel *
ModelCacheGetOfProject(const RegistryProject *proj, const int64 *model_id)
{
	int64		owner;

	if (model_id == NULL)
		return ModelCacheGet(ModelCacheDeployed(proj->name));
	owner = RegistryModelProject(*model_id);
	if (owner != 0 && owner != proj->id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model " INT64_FORMAT " is not a model of project \"%s\"", *model_id, proj->name)));
	return ModelCacheGet(*model_id);
}

/*
 * A number that changes whenever a model the cache handed out may have
 * been freed or a project's deployed model may have changed (after taking
 * in pending invalidations): callers may keep a model pointer for as long
 * as it stays the same.
 */
uint64
ModelCacheGeneration(void)
{
	ModelCacheSync();
	return generation;
}
