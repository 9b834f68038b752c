/*-------------------------------------------------------------------------
 *
 * export.c
 *	  mlops.export_model: a model as one JSON document that
 *	  mlops.import_model (import.c) reads back in another database.
 *
 * An exported model is one JSON document (format "mlops-model", format
 * version 1): the project's task and target, the model row's algorithm,
 * hyperparameters, preprocessing, labels, frozen transform, training
 * record, metrics, importance and reference profile as stored, its lineage
 * and annotations, and the model itself: XGBoost's JSON model for tree
 * models (converted from the stored UBJSON by libxgboost), or the
 * coefficients of a linear model with every double printed with 17
 * significant digits, so that it reads back bit for bit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "jsonutil.h"
#include "ops/export.h"
#include "train/linear.h"
#include "serve/model.h"
#include "serve/model_cache.h"
#include "privileges.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_export_model);

/*
 * The linear model of an exported document as JSON: its kind, sizes and
 * solver record, and the coefficients (one array per output) and
 * intercepts.
 */
static void
LinearToJson(const bytea *blob, StringInfo buf)
{
	LinearModel *lm = LinearDeserialize(blob);

	appendStringInfo(buf, "{\"kind\": %d, \"nfeatures\": %d, \"nclasses\": %d, \"noutputs\": %d, "
					 "\"iterations\": %d, \"converged\": %s, \"coefficients\": [",
					 (int) lm->kind, lm->nfeatures, lm->nclasses, lm->noutputs,
					 lm->iterations, lm->converged ? "true" : "false");
	for (int k = 0; k < lm->noutputs; k++)
	{
		if (k > 0)
			appendStringInfoString(buf, ", ");
		JsonAppendDoubles(buf, lm->coef + (size_t) k * lm->nfeatures, lm->nfeatures);
	}
	appendStringInfoString(buf, "], \"intercepts\": ");
	JsonAppendDoubles(buf, lm->intercept, lm->noutputs);
	appendStringInfoChar(buf, '}');
}

/*
 * mlops.export_model(model_id): the model as a versioned JSON document.
 * Needs admin: the document holds the training data statistics and the
 * category vocabularies.
 */
Datum
mlops_export_model(PG_FUNCTION_ARGS)
{
	int64		model_id;
	RegistryProject *proj;
	bool		isnull;
	Jsonb	   *doc;
	char	   *algorithm;
	bytea	   *blob;
	StringInfoData buf;
	MemoryContext outer = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model_id must not be NULL")));
	model_id = PG_GETARG_INT64(0);
	proj = RegistryGetProjectById(RegistryModelProject(model_id));
	PrivilegeCheck(proj->id, proj->name, PRIV_ADMIN);
	/* the loaders check the stored row first: a damaged model is not exported */
	ModelCacheGet(model_id);

	SPI_connect();
	RegistryReadModelAsOwner("SELECT pg_catalog.jsonb_build_object("
							 "'format', '" EXPORT_FORMAT "'::pg_catalog.text, "
							 "'format_version', 1, "
							 "'project', pg_catalog.jsonb_build_object('name', p.name, 'task', p.task, 'target', p.target), "
							 "'algorithm', m.algorithm, 'hyperparams', m.hyperparams, 'preprocess', m.preprocess, "
							 "'labels', pg_catalog.to_jsonb(m.labels), 'features', m.features, "
							 "'training', m.training, 'metrics', m.metrics, 'importance', m.importance, "
							 "'profile', m.profile, 'model_format', m.format, "
							 "'lineage', pg_catalog.jsonb_build_object('model_id', m.id, 'version', m.version, "
							 "'parent_model_id', m.parent_model_id, 'data_fingerprint', m.data_fingerprint, "
							 "'created_at', m.created_at, 'created_by', m.created_by::pg_catalog.text), "
							 "'annotations', pg_catalog.jsonb_build_object('description', m.description, 'tags', m.tags)) AS doc, "
							 "m.algorithm, m.model "
							 "FROM mlops.models m JOIN mlops.projects p ON p.id OPERATOR(pg_catalog.=) m.project_id "
							 "WHERE m.id OPERATOR(pg_catalog.=) $1", model_id);
	doc = RegistryResultJsonb(0, "doc", outer);
	algorithm = RegistryResultText(0, "algorithm", outer);
	MemoryContextSwitchTo(outer);
	blob = DatumGetByteaPCopy(RegistryResultDatum(0, "model", &isnull));
	SPI_finish();

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"model\": ");
	if (ALG_IS_TREE(MlopsAlgorithmFromName(algorithm)))
	{
		bytea	   *json = XgbConvertModel(VARDATA_ANY(blob), VARSIZE_ANY_EXHDR(blob), "json",
										   psprintf("stored model " INT64_FORMAT, model_id));

		appendBinaryStringInfo(&buf, VARDATA(json), VARSIZE(json) - VARHDRSZ);
	}
	else
		LinearToJson(blob, &buf);
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(doc),
										JsonbPGetDatum(JsonFromText(&buf))));
}
