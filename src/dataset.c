/*-------------------------------------------------------------------------
 *
 * dataset.c
 *	  Reading a relation into memory for training and evaluation.
 *
 * The relation is read through SPI as the calling role, so a role that
 * cannot SELECT a table cannot train on it.  The executor hands each row
 * of the query to a DestReceiver that stores it column by column as doubles
 * (NaN marks NULL), the layout both the featurizer and the linear solvers
 * want; no row is copied on the way.
 * The memory the data takes is checked against mlops.max_train_memory as
 * it grows, and kept in the data set for the checks of the training steps
 * that follow.
 *
 * Classification labels are kept in "label order": sorted by the target
 * type's default btree ordering (false < true, 0 < 1, text in the column's
 * collation).
 *
 * DatasetFingerprint hashes the rows read, in any order, for the lineage
 * of a trained model (mlops.models.data_fingerprint).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/typcache.h"

#include "dataset.h"
#include "strmap.h"

/* tables smaller than this are not checked for id-like columns */
#define DATASET_ID_MIN_ROWS 20

#define DATASET_MIN_ROWS 1024		/* first allocation of the column arrays */
#define DATASET_BATCH_ROWS 10000	/* rows between resets of the work memory */
#define MLOPS_MAX_READ_CATEGORIES 100000	/* distinct values of one column */
#define DATASET_MAP_ENTRY_BYTES 32	/* a category's entry in its StrMap */

/* distinct labels seen so far, kept sorted by the type's ordering */
typedef struct LabelSet
{
	FmgrInfo   *cmp;
	Oid			collation;
	Oid			typid;
	bool		typbyval;
	int16		typlen;
	int			n;
	MemoryContext cxt;			/* where label values are kept */
	Datum	   *values;			/* sorted */
	int		   *ids;			/* first-seen id of each sorted value */
} LabelSet;

/*
 * RangeVarGetRelidExtended callback of DatasetResolveRelation (arg is the
 * name as given, for messages): refuse a
 * relation of the wrong kind, or one the current user may not read, before
 * any lock is taken on it (as PostgreSQL's own commands do), so that a role
 * without rights on a table cannot queue behind or block DDL on it.  SELECT
 * on the table or on any of its columns lets the read go on; the query that
 * reads the data checks the columns it names.
 */
static void
RangeVarCallbackForRead(const RangeVar *relation, Oid relid, Oid oldrelid, void *arg)
{
	char		relkind;

	if (!OidIsValid(relid))
		return;					/* does not exist: RangeVarGetRelidExtended says so */
	relkind = get_rel_relkind(relid);
	if (relkind == '\0')
		return;					/* dropped concurrently: the lookup is retried */
	if (relkind != RELKIND_RELATION && relkind != RELKIND_VIEW &&
		relkind != RELKIND_MATVIEW && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view or materialized view", (const char *) arg)));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(relid, GetUserId(), ACL_SELECT, ACLMASK_ANY) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(relkind), relation->relname);
}

/*
 * Resolve a possibly schema-qualified relation name as regclass input does,
 * checking the current user's SELECT privilege before locking it; returns
 * its OID and the quoted, qualified name for queries.
 */
Oid
DatasetResolveRelation(const char *relation, char **qualified)
{
	List	   *names = stringToQualifiedNameList(relation);
	Oid			relid = RangeVarGetRelidExtended(makeRangeVarFromNameList(names), AccessShareLock,
												 0, RangeVarCallbackForRead, (void *) relation);

	*qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											get_rel_name(relid));
	return relid;
}

const char *const datetime_part_names[DATETIME_PARTS] = {
	"epoch", "year", "month", "day", "dow", "hour"
};

/*
 * Is a type read as a plain number (integers, floats, numeric, boolean)?
 */
bool
DatasetIsNumericType(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
		case BOOLOID:
			return true;
		default:
			return false;
	}
}

/*
 * How a feature column of a (base) type becomes model inputs; any other
 * type is an error naming the column.
 */
SourceKind
DatasetSourceKind(Oid typid, const char *column)
{
	if (DatasetIsNumericType(typid))
		return SOURCE_NUMERIC;
	if (typid == TEXTOID || typid == VARCHAROID || typid == BPCHAROID ||
		typid == NAMEOID || type_is_enum(typid))
		return SOURCE_CATEGORICAL;
	if (typid == DATEOID || typid == TIMESTAMPOID || typid == TIMESTAMPTZOID)
		return SOURCE_DATETIME;
	if (typid == FLOAT4ARRAYOID || typid == FLOAT8ARRAYOID)
		return SOURCE_ARRAY;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("feature column \"%s\" has unsupported type %s", column, format_type_be(typid)),
			 errhint("Supported feature types are integer, floating-point, numeric, boolean, text, varchar, char, enum, date, timestamp, timestamptz, real[] and double precision[]; exclude the column with exclude => '{%s}'.",
					 column)));
	pg_unreachable();
}

/*
 * Do labels of this type have a numeric value predict() can return?
 */
bool
DatasetLabelsAreNumeric(Oid typid)
{
	return DatasetIsNumericType(getBaseType(typid));
}

/*
 * Is a target of this type a set of classes whatever its values (text,
 * boolean, enum)?
 */
bool
DatasetTargetIsCategorical(Oid typid)
{
	typid = getBaseType(typid);
	return typid == BOOLOID || typid == TEXTOID || typid == VARCHAROID ||
		typid == BPCHAROID || typid == NAMEOID || type_is_enum(typid);
}

/*
 * Convert a datum of a numeric type (see DatasetIsNumericType) to double.
 */
double
DatasetDatumNumber(Datum d, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		case INT8OID:
			return (double) DatumGetInt64(d);
		case FLOAT4OID:
			return DatumGetFloat4(d);
		case FLOAT8OID:
			return DatumGetFloat8(d);
		case NUMERICOID:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
		case BOOLOID:
			return DatumGetBool(d) ? 1.0 : 0.0;
		default:
			elog(ERROR, "type %u is not numeric", typid);
	}
	pg_unreachable();
}

/*
 * The inputs a new model takes from a column of a date or time type: a
 * date has no hour.
 */
int
DatasetDatetimeInputs(Oid typid)
{
	return typid == DATEOID ? DATE_PARTS : DATETIME_PARTS;
}

/*
 * The first nparts numeric parts of a date, timestamp or timestamptz (in
 * UTC): Unix epoch seconds, year, month, day of month, day of week
 * (0 = Sunday) and hour.  nparts is what the model reads (a date read for
 * an older model keeps an hour, always 0).  Infinite values are an error.
 */
void
DatasetDatetimeParts(Datum d, Oid typid, const char *column, int nparts, double *parts)
{
	Timestamp	ts;
	struct pg_tm tm;
	fsec_t		fsec;

	if (typid == DATEOID)
	{
		DateADT		date = DatumGetDateADT(d);

		if (DATE_NOT_FINITE(date))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("date column \"%s\" holds an infinite value", column),
					 errhint("Use NULL for a missing date.")));
		ts = (Timestamp) date * USECS_PER_DAY;
	}
	else
	{
		ts = DatumGetTimestamp(d);
		if (TIMESTAMP_NOT_FINITE(ts))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp column \"%s\" holds an infinite value", column),
					 errhint("Use NULL for a missing timestamp.")));
	}
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range in column \"%s\"", column)));
	parts[0] = (double) ts / USECS_PER_SEC +
		(double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	parts[1] = tm.tm_year;
	parts[2] = tm.tm_mon;
	parts[3] = tm.tm_mday;
	parts[4] = j2day(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday));
	if (nparts > DATE_PARTS)
		parts[5] = tm.tm_hour;
}

/*
 * The text of a categorical value (text, varchar, char, name or enum).
 * Trailing blanks of char(n) are removed.
 */
char *
DatasetCategoryText(Datum d, Oid typid)
{
	static Oid	cached_type = InvalidOid;
	static Oid	cached_out = InvalidOid;
	bool		isvarlena;

	char	   *s;
	int			len;

	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
			return TextDatumGetCString(d);
		case BPCHAROID:
			/* trailing blanks of char(n) are insignificant, as in comparisons */
			s = TextDatumGetCString(d);
			len = strlen(s);
			while (len > 0 && s[len - 1] == ' ')
				s[--len] = '\0';
			return s;
		case NAMEOID:
			return pstrdup(NameStr(*DatumGetName(d)));
		default:
			if (typid != cached_type)
			{
				getTypeOutputInfo(typid, &cached_out, &isvarlena);
				cached_type = typid;
			}
			return OidOutputFunctionCall(cached_out, d);
	}
}

/*
 * The elements of a float4[] or float8[] value of a column into out, which
 * must hold "expected" values; NULL elements become NaN.  Another length,
 * more than one dimension, NaN or infinity are errors naming the column.
 */
void
DatasetArrayValues(Datum d, const char *column, int expected, double *out)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);
	Oid			elem = ARR_ELEMTYPE(arr);
	int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	Datum	   *elems;
	bool	   *nulls;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("array column \"%s\" has %d dimensions", column, ARR_NDIM(arr)),
				 errdetail("Array features must be one-dimensional.")));
	if (n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("array column \"%s\" has %d elements where %d are expected", column, n, expected),
				 errdetail("Array features have a fixed length, set by the first training row.")));
	if (elem == FLOAT8OID)
		deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	else
		deconstruct_array(arr, FLOAT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		out[i] = nulls[i] ? NAN : (elem == FLOAT8OID ? DatumGetFloat8(elems[i]) : DatumGetFloat4(elems[i]));
		if (!nulls[i] && !isfinite(out[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("array column \"%s\" contains %s", column, isnan(out[i]) ? "NaN" : "an infinite value"),
					 errhint("Use NULL for missing elements.")));
	}
	pfree(elems);
	pfree(nulls);
}

/*
 * Is a name in a text[] argument?
 */
static bool
NameInArray(const char *name, char **arr, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(arr[i], name) == 0)
			return true;
	return false;
}

/*
 * Deconstruct a text[] argument into C strings; NULL elements are an error.
 */
static char **
TextArrayToCStrings(ArrayType *arr, const char *what, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", what)));
		out[i] = TextDatumGetCString(elems[i]);
	}
	return out;
}

/*
 * The feature source columns of a training run: the given features, or
 * every column except the target and the excluded ones.  Unknown names and
 * the target used as a feature are errors.
 */
char **
DatasetFeatureColumns(Oid relid, const char *target, ArrayType *features,
					  ArrayType *exclude, int *ncolumns)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	char	  **excl = NULL;
	int			nexcl = 0;
	char	  **cols;
	int			n = 0;
	bool		target_found = false;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), target) == 0)
			target_found = true;
	}
	if (!target_found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("target column \"%s\" does not exist in relation \"%s\"",
						target, RelationGetRelationName(rel))));

	if (exclude != NULL)
		excl = TextArrayToCStrings(exclude, "exclude", &nexcl);

	if (features != NULL)
	{
		int			nfeat;
		char	  **feat = TextArrayToCStrings(features, "features", &nfeat);

		cols = palloc(sizeof(char *) * Max(1, nfeat));
		for (int i = 0; i < nfeat; i++)
		{
			if (attnameAttNum(rel, feat[i], false) == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("feature column \"%s\" does not exist in relation \"%s\"",
								feat[i], RelationGetRelationName(rel))));
			if (strcmp(feat[i], target) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("target column \"%s\" cannot also be a feature", target)));
			if (NameInArray(feat[i], cols, n))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("feature column \"%s\" is listed twice", feat[i])));
			if (!NameInArray(feat[i], excl, nexcl))
				cols[n++] = feat[i];
		}
	}
	else
	{
		for (int i = 0; i < nexcl; i++)
			if (attnameAttNum(rel, excl[i], false) == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("excluded column \"%s\" does not exist in relation \"%s\"",
								excl[i], RelationGetRelationName(rel))));
		cols = palloc(sizeof(char *) * Max(1, desc->natts));
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			char	   *name = NameStr(att->attname);

			if (att->attisdropped || strcmp(name, target) == 0 ||
				NameInArray(name, excl, nexcl))
				continue;
			cols[n++] = pstrdup(name);
		}
	}

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no feature columns to train on"),
				 errdetail("Relation \"%s\" has no columns besides the target and the excluded ones.",
						   RelationGetRelationName(rel))));
	if (n > MLOPS_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many feature columns: %d", n),
				 errdetail("At most %d features are supported.", MLOPS_MAX_FEATURES)));

	table_close(rel, AccessShareLock);
	*ncolumns = n;
	return cols;
}

/*
 * Copy a datum into a memory context.
 */
static Datum
CopyDatumInto(MemoryContext cxt, Datum value, bool byval, int16 len)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Datum		copy = datumCopy(value, byval, len);

	MemoryContextSwitchTo(old);
	return copy;
}

/*
 * Find a label in the sorted set; returns its position or -(insert point)-1.
 */
static int
LabelSetFind(LabelSet *ls, Datum value)
{
	int			lo = 0,
				hi = ls->n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int32		c = DatumGetInt32(FunctionCall2Coll(ls->cmp, ls->collation,
														ls->values[mid], value));

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -lo - 1;
}

/*
 * Return the first-seen id of a label, adding it when new.  Returns -1 when
 * the set would grow past "limit".
 */
static int
LabelSetId(LabelSet *ls, Datum value, int limit)
{
	int			pos = LabelSetFind(ls, value);

	if (pos >= 0)
		return ls->ids[pos];
	if (ls->n >= limit)
		return -1;
	pos = -pos - 1;
	memmove(&ls->values[pos + 1], &ls->values[pos], sizeof(Datum) * (ls->n - pos));
	memmove(&ls->ids[pos + 1], &ls->ids[pos], sizeof(int) * (ls->n - pos));
	ls->values[pos] = CopyDatumInto(ls->cxt, value, ls->typbyval, ls->typlen);
	ls->ids[pos] = ls->n;
	return ls->n++;
}

/*
 * The text of a label: the type's output, except that booleans read
 * "false" and "true".
 */
static char *
LabelText(Datum value, Oid base_type, Oid outfunc)
{
	if (base_type == BOOLOID)
		return pstrdup(DatumGetBool(value) ? "true" : "false");
	return OidOutputFunctionCall(outfunc, value);
}

/*
 * Build the SELECT that reads the target (if any) and the source columns.
 */
static char *
BuildQuery(const char *relname, const char *target, const DatasetSpec *spec,
		   const char *order_by)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	if (target != NULL)
		appendStringInfo(&q, "%s, ", quote_identifier(target));
	for (int i = 0; i < spec->ncolumns; i++)
		appendStringInfo(&q, "%s%s", i ? ", " : "", quote_identifier(spec->names[i]));
	appendStringInfo(&q, " FROM %s", relname);
	if (order_by != NULL)
		appendStringInfo(&q, " ORDER BY %s", quote_identifier(order_by));
	return q.data;
}

/*
 * The length of an array column: given, or that of its first non-NULL
 * value (read with the caller's privileges).
 */
static int
ArrayColumnLength(const char *relname, const char *column, int given)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *q;
	int			len = 0;
	bool		isnull;

	if (given > 0)
		return given;
	q = psprintf("SELECT pg_catalog.cardinality(%s) FROM %s WHERE %s IS NOT NULL LIMIT 1",
				 quote_identifier(column), relname, quote_identifier(column));
	if (SPI_execute(q, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the length of array column \"%s\"", column);
	if (SPI_processed == 1)
		len = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	/* SPI returns to its own context; the caller allocates in cxt */
	MemoryContextSwitchTo(cxt);
	if (len < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array column \"%s\" has no non-empty value", column),
				 errhint("Array features need a fixed length of at least one element.")));
	return len;
}

/*
 * Compare two doubles for qsort.
 */
static int
CompareDouble(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * NOTICE for each integer column whose values are all present and all
 * different (an id, most likely): used as a feature it lets a model
 * memorize rows.  Tables of fewer than DATASET_ID_MIN_ROWS rows are not
 * checked.
 */
void
DatasetNoticeIdColumns(const Dataset *ds)
{
	double	   *v;

	if (ds->nrows < DATASET_ID_MIN_ROWS)
		return;
	v = palloc_extended(sizeof(double) * ds->nrows, MCXT_ALLOC_HUGE);
	for (int j = 0; j < ds->ncolumns; j++)
	{
		const DatasetColumn *c = &ds->columns[j];
		bool		unique = true;

		if (c->typid != INT2OID && c->typid != INT4OID && c->typid != INT8OID)
			continue;
		memcpy(v, ds->inputs[c->first_input].values, sizeof(double) * ds->nrows);
		qsort(v, ds->nrows, sizeof(double), CompareDouble);
		for (int i = 0; i < ds->nrows && unique; i++)
			unique = !isnan(v[i]) && (i == 0 || v[i] != v[i - 1]);
		if (unique)
			ereport(NOTICE,
					(errmsg("column \"%s\" is used as a feature and is unique on every row, like an id", c->name),
					 errhint("Unless its values carry meaning, leave it out with exclude => '{%s}'.",
							 c->name)));
	}
	pfree(v);
}

/*
 * Describe the source columns of a read and lay out their inputs.
 */
static void
LayOutColumns(Dataset *ds, Oid relid, const DatasetSpec *spec)
{
	int			ninputs = 0;

	ds->ncolumns = spec->ncolumns;
	ds->columns = palloc0(sizeof(DatasetColumn) * Max(1, spec->ncolumns));
	for (int j = 0; j < spec->ncolumns; j++)
	{
		DatasetColumn *c = &ds->columns[j];
		AttrNumber	att = get_attnum(relid, spec->names[j]);

		if (att == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("relation %s has no column \"%s\"", ds->relname, spec->names[j]),
					 errdetail("The model needs the columns it was trained on.")));
		c->name = spec->names[j];
		c->typid = getBaseType(get_atttype(relid, att));
		c->kind = DatasetSourceKind(c->typid, c->name);
		c->first_input = ninputs;
		switch (c->kind)
		{
			case SOURCE_NUMERIC:
			case SOURCE_CATEGORICAL:
				c->ninputs = 1;
				break;
			case SOURCE_DATETIME:
				c->ninputs = (spec->array_lengths && spec->array_lengths[j])
					? spec->array_lengths[j] : DatasetDatetimeInputs(c->typid);
				break;
			case SOURCE_ARRAY:
				c->ninputs = ArrayColumnLength(ds->relname, c->name,
											   spec->array_lengths ? spec->array_lengths[j] : 0);
				break;
		}
		/* compared before adding: array lengths come from the data */
		if (c->ninputs > MLOPS_MAX_FEATURES - ninputs)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many model inputs: more than %d", MLOPS_MAX_FEATURES),
					 errdetail("Column \"%s\" has %d inputs, the columns before it %d.",
							   c->name, c->ninputs, ninputs),
					 errhint("An array column has one input per element, a date column %d, a timestamp column %d; exclude columns or shorten the arrays.",
							 DATE_PARTS, DATETIME_PARTS)));
		ninputs += c->ninputs;
	}

	ds->ninputs = ninputs;
	ds->inputs = palloc0(sizeof(DatasetInput) * Max(1, ninputs));
	for (int j = 0; j < ds->ncolumns; j++)
	{
		DatasetColumn *c = &ds->columns[j];

		for (int k = 0; k < c->ninputs; k++)
		{
			DatasetInput *in = &ds->inputs[c->first_input + k];

			in->column = j;
			in->categorical = (c->kind == SOURCE_CATEGORICAL);
			if (c->kind == SOURCE_DATETIME)
				in->name = psprintf("%s.%s", c->name, datetime_part_names[k]);
			else if (c->kind == SOURCE_ARRAY)
				in->name = psprintf("%s[%d]", c->name, k + 1);
			else
				in->name = c->name;
		}
	}
}

/* per categorical column, while reading: the codes given so far */
typedef struct CategoryCodes
{
	StrMap	   *map;
	int			capacity;		/* of the input's categories array */
} CategoryCodes;

/*
 * Store the value of source column j of one row into its inputs.  Work
 * memory comes from the current (per-batch) context; category texts are
 * kept in "keep".
 */
static void
StoreColumn(Dataset *ds, int j, Datum d, bool isnull, int row,
			CategoryCodes *codes, MemoryContext keep)
{
	DatasetColumn *c = &ds->columns[j];
	DatasetInput *in = &ds->inputs[c->first_input];
	double		parts[DATETIME_PARTS];
	double		v;

	if (isnull)
	{
		for (int k = 0; k < c->ninputs; k++)
			in[k].values[row] = NAN;
		return;
	}
	switch (c->kind)
	{
		case SOURCE_NUMERIC:
			v = DatasetDatumNumber(d, c->typid);
			if (!isfinite(v))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("feature column \"%s\" contains %s", c->name,
								isnan(v) ? "NaN" : "an infinite value"),
						 errhint("Use NULL for missing values.")));
			in->values[row] = v;
			break;
		case SOURCE_CATEGORICAL:
			{
				char	   *s = DatasetCategoryText(d, c->typid);
				CategoryCodes *cc = &codes[j];
				int			code = StrMapGet(cc->map, s);

				if (code < 0)
				{
					code = in->ncategories;
					if (code >= MLOPS_MAX_READ_CATEGORIES)
						ereport(ERROR,
								(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
								 errmsg("feature column \"%s\" has more than %d distinct values",
										c->name, MLOPS_MAX_READ_CATEGORIES),
								 errhint("Exclude identifier-like columns from the features.")));
					/* the text in the map and in the input, the pointer */
					ds->bytes += 2.0 * (strlen(s) + 1) + sizeof(char *) + DATASET_MAP_ENTRY_BYTES;
					MlopsCheckTrainMemory(ds->bytes, "Reading relation %s takes %.0f kB with the %d distinct values of column \"%s\" so far.",
										  ds->relname, ceil(ds->bytes / 1024.0), code + 1, c->name);
					StrMapPut(cc->map, s, code);
					if (code >= cc->capacity)
					{
						cc->capacity = Max(16, cc->capacity * 2);
						in->categories = in->categories
							? repalloc(in->categories, sizeof(char *) * cc->capacity)
							: MemoryContextAlloc(keep, sizeof(char *) * cc->capacity);
					}
					in->categories[code] = MemoryContextStrdup(keep, s);
					in->ncategories++;
				}
				in->values[row] = code;
			}
			break;
		case SOURCE_DATETIME:
			DatasetDatetimeParts(d, c->typid, c->name, c->ninputs, parts);
			for (int k = 0; k < c->ninputs; k++)
				in[k].values[row] = parts[k];
			break;
		case SOURCE_ARRAY:
			{
				double	   *vals = palloc(sizeof(double) * c->ninputs);

				DatasetArrayValues(d, c->name, c->ninputs, vals);
				for (int k = 0; k < c->ninputs; k++)
					in[k].values[row] = vals[k];
			}
			break;
	}
}

/*
 * The state of one read: a DestReceiver the executor hands each row of the
 * query to, so rows go straight from the scan into the column arrays.
 */
typedef struct DatasetReceiver
{
	DestReceiver pub;
	Dataset    *ds;
	const char *target;			/* NULL for TARGET_NONE */
	TargetMode	mode;
	char	  **known_labels;	/* TARGET_KNOWN_LABELS */
	int			nknown;
	int			label_limit;
	LabelSet	ls;				/* labels collected so far (ls.cmp set) */
	int		   *label_ids;		/* first-seen label id of each row */
	Oid			target_base;
	Oid			outfunc;
	CategoryCodes *codes;		/* per source column */
	int64		capacity;		/* rows the arrays have room for */
	int			rows_in_batch;	/* rows since batch_cxt was reset */
	MemoryContext outer;		/* where the data set lives */
	MemoryContext batch_cxt;	/* per-row work memory, reset now and then */
} DatasetReceiver;

/*
 * Before the first row: check the target's type against the read mode and
 * prepare the label set.
 */
static void
DatasetReceiverStartup(DestReceiver *self, int operation, TupleDesc desc)
{
	DatasetReceiver *r = (DatasetReceiver *) self;
	Dataset    *ds = r->ds;
	bool		isvarlena;

	if (r->target == NULL)
		return;
	ds->target_type = TupleDescAttr(desc, 0)->atttypid;
	r->target_base = getBaseType(ds->target_type);
	getTypeOutputInfo(ds->target_type, &r->outfunc, &isvarlena);

	if (r->mode == TARGET_REGRESSION && !DatasetIsNumericType(r->target_base))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("regression target \"%s\" has type %s", r->target,
						format_type_be(ds->target_type)),
				 errhint("A regression target must be numeric or boolean.")));
	if (r->mode == TARGET_INFER && !DatasetIsNumericType(r->target_base))
		r->mode = TARGET_COLLECT_LABELS;
	if (r->mode == TARGET_INFER && r->target_base != INT2OID && r->target_base != INT4OID &&
		r->target_base != INT8OID && r->target_base != BOOLOID)
		r->mode = TARGET_REGRESSION;

	if (r->mode == TARGET_COLLECT_LABELS || r->mode == TARGET_INFER)
	{
		TypeCacheEntry *tc = lookup_type_cache(ds->target_type, TYPECACHE_CMP_PROC_FINFO);
		LabelSet   *ls = &r->ls;

		if (!OidIsValid(tc->cmp_proc_finfo.fn_oid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("classification target \"%s\" has type %s, which has no ordering",
							r->target, format_type_be(ds->target_type))));
		ls->cmp = &tc->cmp_proc_finfo;
		ls->collation = TupleDescAttr(desc, 0)->attcollation;
		if (!OidIsValid(ls->collation))
			ls->collation = get_typcollation(ds->target_type);
		ls->typid = ds->target_type;
		ls->cxt = r->outer;
		get_typlenbyval(ds->target_type, &ls->typlen, &ls->typbyval);
		ls->values = MemoryContextAlloc(r->outer, sizeof(Datum) * (MLOPS_MAX_CLASSES + 1));
		ls->ids = MemoryContextAlloc(r->outer, sizeof(int) * (MLOPS_MAX_CLASSES + 1));
	}
	r->label_limit = (r->mode == TARGET_INFER) ? MLOPS_INFER_MAX_CLASSES : MLOPS_MAX_CLASSES;
}

/*
 * Make room for at least one more row, doubling the arrays.
 */
static void
DatasetReceiverGrow(DatasetReceiver *r)
{
	Dataset    *ds = r->ds;
	MemoryContext old = MemoryContextSwitchTo(r->outer);
	int64		newcap = Max(r->capacity * 2, DATASET_MIN_ROWS);
	double		bytes;

	if (r->capacity >= INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("relation %s has more than %d rows", ds->relname, INT_MAX)));
	newcap = Min(newcap, (int64) INT_MAX);
	bytes = ds->bytes + (double) (newcap - r->capacity) *
		(sizeof(double) * (ds->ninputs + 1) + (r->ls.cmp ? sizeof(int) : 0));
	MlopsCheckTrainMemory(bytes, "Reading relation %s takes %.0f kB with room for %lld rows of %d inputs and the target.",
						  ds->relname, ceil(bytes / 1024.0), (long long) newcap, ds->ninputs);
	for (int k = 0; k < ds->ninputs; k++)
		ds->inputs[k].values = r->capacity
			? repalloc_huge(ds->inputs[k].values, sizeof(double) * newcap)
			: palloc_extended(sizeof(double) * newcap, MCXT_ALLOC_HUGE);
	ds->target = r->capacity ? repalloc_huge(ds->target, sizeof(double) * newcap)
		: palloc_extended(sizeof(double) * newcap, MCXT_ALLOC_HUGE);
	if (r->ls.cmp)
		r->label_ids = r->capacity ? repalloc_huge(r->label_ids, sizeof(int) * newcap)
			: palloc_extended(sizeof(int) * newcap, MCXT_ALLOC_HUGE);
	r->capacity = newcap;
	ds->bytes = bytes;
	MemoryContextSwitchTo(old);
}

/*
 * Store one row's target (see DatasetRead for the modes) into row "row";
 * the target is not NULL.
 */
static void
DatasetStoreTarget(DatasetReceiver *r, Datum t, int row)
{
	Dataset    *ds = r->ds;

	if (DatasetIsNumericType(r->target_base))
	{
		double		v = DatasetDatumNumber(t, r->target_base);

		if (!isfinite(v))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("target column \"%s\" contains %s", r->target,
							isnan(v) ? "NaN" : "an infinite value"),
					 errhint("Filter those rows out with a view, or set them to NULL.")));
		ds->target[row] = v;
	}
	if (r->mode == TARGET_KNOWN_LABELS)
	{
		char	   *s = LabelText(t, r->target_base, r->outfunc);
		int			k;

		for (k = 0; k < r->nknown; k++)
			if (strcmp(r->known_labels[k], s) == 0)
				break;
		if (k == r->nknown)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("label \"%s\" of target column \"%s\" was not seen in training",
							s, r->target)));
		ds->target[row] = k;
	}
	else if (r->ls.cmp != NULL)
	{
		int			id = LabelSetId(&r->ls, t, r->label_limit);

		if (id < 0 && r->mode == TARGET_INFER)
		{
			/* too many distinct values: this is a regression target */
			r->ls.cmp = NULL;
			r->mode = TARGET_REGRESSION;
		}
		else if (id < 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("target column \"%s\" has more than %d classes",
							r->target, MLOPS_MAX_CLASSES),
					 errhint("Use task => 'regression' for a numeric target.")));
		else
			r->label_ids[row] = id;
	}
}

/*
 * One row of the query: the target (attribute 1 when there is one), then
 * the source columns.  Rows with a NULL target are counted and skipped.
 */
static bool
DatasetReceiveSlot(TupleTableSlot *slot, DestReceiver *self)
{
	DatasetReceiver *r = (DatasetReceiver *) self;
	Dataset    *ds = r->ds;
	int			first = (r->target != NULL) ? 1 : 0;	/* slot index of the first column */
	MemoryContext old;

	slot_getallattrs(slot);
	if (r->target != NULL && slot->tts_isnull[0])
	{
		ds->null_targets++;
		return true;
	}
	if (ds->nrows == r->capacity)
		DatasetReceiverGrow(r);
	if (++r->rows_in_batch == DATASET_BATCH_ROWS)
	{
		MemoryContextReset(r->batch_cxt);
		r->rows_in_batch = 0;
	}

	old = MemoryContextSwitchTo(r->batch_cxt);
	if (r->target != NULL)
		DatasetStoreTarget(r, slot->tts_values[0], ds->nrows);
	for (int j = 0; j < ds->ncolumns; j++)
		StoreColumn(ds, j, slot->tts_values[j + first], slot->tts_isnull[j + first],
					ds->nrows, r->codes, r->outer);
	ds->nrows++;
	MemoryContextSwitchTo(old);
	return true;
}

/* nothing to release at the end of the query */
static void
DatasetReceiverShutdown(DestReceiver *self)
{
}

/* the receiver lives in DatasetRead's frame */
static void
DatasetReceiverDestroy(DestReceiver *self)
{
}

/*
 * Read the target and source columns of a relation as the calling role.
 *
 * mode says how the target is read (target is NULL for TARGET_NONE); for
 * TARGET_KNOWN_LABELS, rows are mapped onto known_labels (text) and an
 * unknown label is an error.  TARGET_INFER collects labels of an integer
 * target until there are more than MLOPS_INFER_MAX_CLASSES, then reads it
 * as a regression target; the caller learns which from nclasses.
 */
Dataset *
DatasetRead(Oid relid, const char *relname, const char *target,
			const DatasetSpec *spec, const char *order_by,
			TargetMode mode, char **known_labels, int nknown)
{
	Dataset    *ds = palloc0(sizeof(Dataset));
	MemoryContext outer = CurrentMemoryContext;
	DatasetReceiver r = {0};
	SPIExecuteOptions options = {0};
	SPIPlanPtr	plan;
	int			rc;

	ds->relname = pstrdup(relname);
	ds->target_name = target ? pstrdup(target) : NULL;
	if (target != NULL && get_attnum(relid, target) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("relation %s has no target column \"%s\"", relname, target),
				 errdetail("Scoring a model on labeled rows needs the project's target column next to the features.")));

	SPI_connect();
	MemoryContextSwitchTo(outer);
	LayOutColumns(ds, relid, spec);

	r.pub.receiveSlot = DatasetReceiveSlot;
	r.pub.rStartup = DatasetReceiverStartup;
	r.pub.rShutdown = DatasetReceiverShutdown;
	r.pub.rDestroy = DatasetReceiverDestroy;
	r.pub.mydest = DestNone;
	r.ds = ds;
	r.target = target;
	r.mode = mode;
	r.known_labels = known_labels;
	r.nknown = nknown;
	r.outer = outer;
	r.batch_cxt = AllocSetContextCreate(outer, "mlops read batch", ALLOCSET_DEFAULT_SIZES);
	r.codes = palloc0(sizeof(CategoryCodes) * Max(1, ds->ncolumns));
	for (int j = 0; j < ds->ncolumns; j++)
		if (ds->columns[j].kind == SOURCE_CATEGORICAL)
			r.codes[j].map = StrMapCreate(outer, 64);

	plan = SPI_prepare(BuildQuery(relname, target, spec, order_by), 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	options.read_only = true;
	options.dest = &r.pub;
	rc = SPI_execute_plan_extended(plan, &options);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan_extended failed: %s", SPI_result_code_string(rc));
	MemoryContextSwitchTo(outer);	/* SPI left us in its own context */
	MemoryContextDelete(r.batch_cxt);

	if (r.ls.cmp != NULL)
	{
		/* renumber first-seen ids into label order, and keep label texts */
		LabelSet   *ls = &r.ls;
		int		   *order = palloc(sizeof(int) * Max(1, ls->n));

		for (int k = 0; k < ls->n; k++)
			order[ls->ids[k]] = k;
		for (int i = 0; i < ds->nrows; i++)
			ds->target[i] = order[r.label_ids[i]];
		ds->nclasses = ls->n;
		ds->labels = palloc(sizeof(char *) * Max(1, ls->n));
		for (int k = 0; k < ls->n; k++)
			ds->labels[k] = LabelText(ls->values[k], r.target_base, r.outfunc);
		ds->labels_numeric = DatasetLabelsAreNumeric(ds->target_type);
	}
	else if (r.mode == TARGET_KNOWN_LABELS)
		ds->nclasses = nknown;

	SPI_finish();
	return ds;
}

/* FNV-1a over bytes, continuing from h */
static uint64
Fnv1a64(uint64 h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
	{
		h ^= p[i];
		h *= UINT64CONST(0x100000001b3);
	}
	return h;
}

/* one value of a row into its hash: a tag byte, then the value's bytes */
static uint64
FingerprintValue(uint64 h, double v, const char *text)
{
	if (text != NULL)
		return Fnv1a64(Fnv1a64(h, "t", 1), text, strlen(text) + 1);
	if (isnan(v))
		return Fnv1a64(h, "z", 1);
	else
	{
		double		d = (v == 0.0) ? 0.0 : v;	/* -0 and 0 are the same value */
		uint64		u;
		uint8		bytes[9];

		memcpy(&u, &d, sizeof(u));
		bytes[0] = 'n';
		for (int b = 0; b < 8; b++)
			bytes[b + 1] = (uint8) (u >> (8 * b));	/* little-endian */
		return Fnv1a64(h, bytes, sizeof(bytes));
	}
}

/*
 * The order-independent fingerprint of the rows of a data set: the sum
 * (modulo 2^64) over rows of splitmix64(FNV-1a 64 of the row), where a
 * row is its target (the label text for classification, else the number)
 * followed by every input of its source columns in order, each as a tag
 * byte and its bytes: 't' and the text with its terminating zero byte for
 * a label or a category, 'z' for NULL, 'n' and the IEEE 754 double in
 * little-endian byte order for a number (-0 as 0; a date or timestamp
 * column gives its DATETIME_PARTS parts).  A sum of well-mixed row hashes
 * does not depend on the order of the rows, and counts a duplicated row
 * twice.
 */
uint64
DatasetFingerprint(const Dataset *ds)
{
	uint64		sum = 0;

	for (int i = 0; i < ds->nrows; i++)
	{
		uint64		h = UINT64CONST(0xcbf29ce484222325);

		if (ds->target_name != NULL)
			h = FingerprintValue(h, ds->target[i],
								 ds->nclasses > 0 ? ds->labels[(int) ds->target[i]] : NULL);
		for (int k = 0; k < ds->ninputs; k++)
		{
			const DatasetInput *in = &ds->inputs[k];
			double		v = in->values[i];

			h = FingerprintValue(h, v, in->categorical && !isnan(v) ? in->categories[(int) v] : NULL);
		}
		/* splitmix64's finalizer */
		h ^= h >> 30;
		h *= UINT64CONST(0xbf58476d1ce4e5b9);
		h ^= h >> 27;
		h *= UINT64CONST(0x94d049bb133111eb);
		h ^= h >> 31;
		sum += h;
	}
	return sum;
}
