/*-------------------------------------------------------------------------
 *
 * entity_key.c
 *	  The entity key of a predict input (policy "key"): which column or
 *	  JSON key identifies an entity, for the prediction log and for
 *	  routing by entity.
 *
 * The row form looks the column up by name once per row type (the last
 * one is remembered with its output function), so a query scoring rows of
 * one type pays a deform of the row up to that column per call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "jsonutil.h"
#include "serve/entity_key.h"

/* the row type last looked up, and where its key column is */
static struct
{
	Oid			typid;
	int32		typmod;
	char		key[NAMEDATALEN];
	AttrNumber	attnum;
	FmgrInfo	output;
} last_row = {InvalidOid};

/*
 * The entity key of a row: the value of its column named key.
 */
char *
EntityKeyFromRow(HeapTupleHeader row, const char *key)
{
	Oid			typid = HeapTupleHeaderGetTypeId(row);
	int32		typmod = HeapTupleHeaderGetTypMod(row);
	HeapTupleData tuple;
	TupleDesc	desc;
	Datum		value;
	bool		isnull;

	desc = lookup_rowtype_tupdesc(typid, typmod);
	if (last_row.typid != typid || last_row.typmod != typmod || strcmp(last_row.key, key) != 0 ||
		typid == RECORDOID)
	{
		AttrNumber	attnum = InvalidAttrNumber;
		Oid			output;
		bool		varlena;

		for (int a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);

			if (!att->attisdropped && strcmp(NameStr(att->attname), key) == 0)
			{
				attnum = a + 1;
				break;
			}
		}
		if (attnum == InvalidAttrNumber)
		{
			ReleaseTupleDesc(desc);
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("row has no column \"%s\", which policy \"key\" names", key),
					 errhint("Pass a row with that column, or change \"key\" with mlops.set_policy().")));
		}
		last_row.typid = InvalidOid;
		getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &output, &varlena);
		fmgr_info_cxt(output, &last_row.output, TopMemoryContext);
		strlcpy(last_row.key, key, NAMEDATALEN);
		last_row.attnum = attnum;
		last_row.typid = typid;
		last_row.typmod = typmod;
	}
	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	value = heap_getattr(&tuple, last_row.attnum, desc, &isnull);
	ReleaseTupleDesc(desc);
	return isnull ? NULL : OutputFunctionCall(&last_row.output, value);
}

/*
 * The entity key of a jsonb object: the value of its key.
 */
char *
EntityKeyFromJsonb(Jsonb *jb, const char *key)
{
	JsonbValue *v;

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must be a JSON object")));
	v = JsonGet(&jb->root, key);
	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("features have no key \"%s\", which policy \"key\" names", key),
				 errhint("Send the entity key with the features, or change \"key\" with mlops.set_policy().")));
	return v->type == jbvNull ? NULL : JsonValueDisplay(v);
}

/*
 * The entity key of a predict input of type argtype (a row type, jsonb,
 * JSON as text, or an array of raw features: no key).
 */
static char *
EntityKeyFromInput(Datum features, Oid argtype, const char *key)
{
	if (argtype == JSONBOID)
		return EntityKeyFromJsonb(DatumGetJsonbP(features), key);
	if (argtype == TEXTOID)
		return EntityKeyFromJsonb(DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	 CStringGetDatum(TextDatumGetCString(features)))),
								  key);
	if (argtype == FLOAT8ARRAYOID || argtype == FLOAT4ARRAYOID || argtype == NUMERICARRAYOID)
		return NULL;
	return EntityKeyFromRow(DatumGetHeapTupleHeader(features), key);
}

/*
 * Wrap a predict input of type type: JSON text is parsed as jsonb here,
 * once.
 */
void
EntityInputInit(EntityInput *in, Datum value, Oid type)
{
	in->value = value;
	in->type = type;
	if (type == TEXTOID)
	{
		in->value = DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(value)));
		in->type = JSONBOID;
	}
	in->key_read = false;
	in->key = NULL;
}

/*
 * The entity key of an input (policy "key" names key; NULL without one),
 * read on the first call and remembered.
 */
const char *
EntityInputKey(EntityInput *in, const char *key)
{
	if (key == NULL)
		return NULL;
	if (!in->key_read)
	{
		in->key = EntityKeyFromInput(in->value, in->type, key);
		in->key_read = true;
	}
	return in->key;
}
