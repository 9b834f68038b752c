/*-------------------------------------------------------------------------
 *
 * reference.c
 *	  mlops.set_reference: (re)build the drift reference profile of a model
 *	  from a relation.
 *
 * Training builds a model's reference profile from its training rows and
 * held-out predictions.  A model that was not trained here (an
 * mlops.import_xgboost booster) has none, and a model may be better
 * compared with another period than the one it was trained on: the profile
 * is then built from every row of a relation, inputs and the model's
 * predictions on them alike.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "train/dataset.h"
#include "jsonutil.h"
#include "serve/model_cache.h"
#include "privileges.h"
#include "monitor/profile.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_set_reference);

/* the seed of the value samples of a profile built here */
#define REFERENCE_SEED 42

/*
 * mlops.set_reference(model_id, relation): replace a model's reference
 * profile with one built from the relation's rows.  Needs train.
 */
Datum
mlops_set_reference(PG_FUNCTION_ARGS)
{
	int64		model_id;
	RegistryProject *proj;
	MlopsModel *m;
	Oid			relid;
	char	   *relname;
	Dataset    *ds;
	int		   *rows;
	double	   *pred;
	int			nout;
	Jsonb	   *profile;
	Oid			types[2] = {INT8OID, JSONBOID};
	Datum		values[2];
	StringInfoData detail;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model_id and relation must not be NULL")));
	model_id = PG_GETARG_INT64(0);
	proj = RegistryGetProjectById(RegistryModelProject(model_id));
	PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	m = ModelCacheGet(model_id);

	relid = DatasetResolveRelation(text_to_cstring(PG_GETARG_TEXT_PP(1)), &relname);
	ds = DatasetRead(relid, relname, NULL, FeaturizerSpec(m->fz), NULL, TARGET_NONE, NULL, 0);
	FeaturizerCheckDataset(m->fz, ds);
	if (ds->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("relation %s has no rows to build a reference profile from", relname)));
	nout = ModelOutputs(m);
	MlopsCheckTrainMemory(ds->bytes + sizeof(double) * (double) ds->nrows * (nout + 1) +
						  ProfileBuildMemory(ds, ds->nrows, ds->nrows),
						  "Building a reference profile from the %d rows of relation %s.",
						  ds->nrows, relname);

	rows = palloc_extended(sizeof(int) * ds->nrows, MCXT_ALLOC_HUGE);
	for (int i = 0; i < ds->nrows; i++)
		rows[i] = i;
	pred = palloc_extended(sizeof(double) * ds->nrows * (size_t) nout, MCXT_ALLOC_HUGE);
	ModelPredictDataset(m, ds, rows, ds->nrows, pred);
	profile = ProfileBuild(ds, rows, ds->nrows, REFERENCE_SEED, pred, ds->nrows, nout,
						   m->task == TASK_CLASSIFICATION ? m->labels : NULL);
	ProfileFromJson(profile, m);

	values[0] = Int64GetDatum(model_id);
	values[1] = JsonbPGetDatum(profile);
	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.models SET profile = $2 WHERE id OPERATOR(pg_catalog.=) $1",
						 2, types, values, NULL);
	SPI_finish();

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"relation\": ");
	JsonAppendString(&detail, relname);
	appendStringInfo(&detail, ", \"rows\": %d}", ds->nrows);
	RegistryLogEvent("set_reference", proj->name, model_id, detail.data);
	PG_RETURN_VOID();
}
