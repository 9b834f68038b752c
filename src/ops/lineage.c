/*-------------------------------------------------------------------------
 *
 * lineage.c
 *	  mlops.annotate: a model's description and tags.
 *
 * The rest of a model's lineage is written where models are made: the data
 * fingerprint by training (DatasetFingerprint), the parent by retrain and
 * import; the view mlops.lineage reads it.
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
#include "ops/lineage.h"
#include "privileges.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_annotate);

/*
 * Check a model's tags: a JSON object whose values are strings, numbers,
 * booleans or null (labels, not documents).
 */
void
LineageCheckTags(Jsonb *tags)
{
	int			n;
	JsonPair   *pairs;

	if (!JB_ROOT_IS_OBJECT(tags))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tags must be a JSON object, not %s",
						JB_ROOT_IS_SCALAR(tags) ? "a scalar" : "an array"),
				 errhint("Pass tags such as '{\"team\": \"risk\", \"reviewed\": true}'.")));
	pairs = JsonObjectPairs(tags, "tags", &n);
	for (int i = 0; i < n; i++)
		if (pairs[i].value.type == jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tag \"%s\" is %s", pairs[i].key, JsonTypeName(&pairs[i].value)),
					 errdetail("A tag's value is a string, a number, a boolean or null.")));
}

/*
 * mlops.annotate(model_id, description, tags): set a model's description
 * and tags (which replace the tags); a NULL argument leaves its field as it
 * is.  Needs the train privilege.
 */
Datum
mlops_annotate(PG_FUNCTION_ARGS)
{
	Oid			types[3] = {INT8OID, TEXTOID, JSONBOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	RegistryProject *proj;
	int64		model_id;
	StringInfoData detail;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model_id must not be NULL")));
	model_id = PG_GETARG_INT64(0);
	proj = RegistryGetProjectById(RegistryModelProject(model_id));
	PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);

	values[0] = Int64GetDatum(model_id);
	values[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	values[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	if (!PG_ARGISNULL(2))
		LineageCheckTags(PG_GETARG_JSONB_P(2));

	SPI_connect();
	RegistryWriteAsOwner("UPDATE mlops.models SET "
						 "description = COALESCE($2, description), tags = COALESCE($3, tags) "
						 "WHERE id OPERATOR(pg_catalog.=) $1",
						 3, types, values, nulls);
	SPI_finish();

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"description\": ");
	if (PG_ARGISNULL(1))
		appendStringInfoString(&detail, "null");
	else
		JsonAppendString(&detail, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	appendStringInfo(&detail, ", \"tags\": %s}",
					 PG_ARGISNULL(2) ? "null"
					 : JsonbToCString(NULL, &PG_GETARG_JSONB_P(2)->root, VARSIZE(PG_GETARG_JSONB_P(2))));
	RegistryLogEvent("annotate", proj->name, model_id, detail.data);
	PG_RETURN_VOID();
}
