/*-------------------------------------------------------------------------
 *
 * dataset_values.c
 *	  How a column's type and values become model inputs.
 *
 * The kind of a source column by its type (number, category, date or
 * time, fixed-length array), and the conversion of one value of each kind
 * to doubles or to category text.  The reader (dataset_read.c) uses them
 * for every row read, and predict and drift for the rows they score.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"

#include "train/dataset.h"

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
 * Can a column of a (base) type be a feature column?  If so, *kind says
 * how it becomes model inputs.
 */
bool
DatasetSourceKindOf(Oid typid, SourceKind *kind)
{
	if (DatasetIsNumericType(typid))
		*kind = SOURCE_NUMERIC;
	else if (typid == TEXTOID || typid == VARCHAROID || typid == BPCHAROID ||
			 typid == NAMEOID || type_is_enum(typid))
		*kind = SOURCE_CATEGORICAL;
	else if (typid == DATEOID || typid == TIMESTAMPOID || typid == TIMESTAMPTZOID)
		*kind = SOURCE_DATETIME;
	else if (typid == FLOAT4ARRAYOID || typid == FLOAT8ARRAYOID)
		*kind = SOURCE_ARRAY;
	else
		return false;
	return true;
}

/*
 * How a feature column of a (base) type becomes model inputs; any other
 * type is an error naming the column.
 */
SourceKind
DatasetSourceKind(Oid typid, const char *column)
{
	SourceKind	kind;

	if (DatasetSourceKindOf(typid, &kind))
		return kind;
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
	if (!ARR_HASNULL(arr))
	{
		/* without NULLs, the elements are one aligned C array */
		const float4 *f4 = (const float4 *) ARR_DATA_PTR(arr);
		const float8 *f8 = (const float8 *) ARR_DATA_PTR(arr);
		bool		finite = true;

		for (int i = 0; i < n; i++)
		{
			out[i] = elem == FLOAT8OID ? f8[i] : f4[i];
			finite &= isfinite(out[i]);
		}
		if (finite)
			return;
	}
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
	/* a wide array's detoasted copy would pile up until the batch is reset */
	if ((Pointer) arr != DatumGetPointer(d))
		pfree(arr);
}
