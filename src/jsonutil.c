/*-------------------------------------------------------------------------
 *
 * jsonutil.c
 *	  Reading jsonb values and writing JSON text from C.
 *
 * The registry stores hyperparameters, frozen transforms and metrics as
 * jsonb.  Models are read once per backend (then cached), so the reading
 * side favours clear errors over speed: every accessor that finds a value
 * of the wrong shape reports the stored model as corrupted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "common/base64.h"
#include "common/shortest_dec.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/numeric.h"

#include "jsonutil.h"

/*
 * Look up a key of a jsonb object; NULL when absent.
 */
JsonbValue *
JsonGet(JsonbContainer *obj, const char *key)
{
	JsonbValue	k;

	if (obj == NULL || !JsonContainerIsObject(obj))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
}

/*
 * The top-level pairs of a jsonb object; anything but an object is a user
 * error naming "what" (the parameter).
 */
JsonPair *
JsonObjectPairs(Jsonb *jb, const char *what, int *npairs)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonPair   *pairs;
	int			n = 0;

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", what)));

	pairs = palloc0(sizeof(JsonPair) * Max(1, JB_ROOT_COUNT(jb)));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			pairs[n].key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
			pairs[n++].value = v;
	}
	*npairs = n;
	return pairs;
}

/*
 * Convert a numeric or boolean jsonb value to double; false for other types.
 */
bool
JsonValueNumber(const JsonbValue *v, double *out)
{
	if (v->type == jbvNumeric)
	{
		*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
												  NumericGetDatum(v->val.numeric)));
		return true;
	}
	if (v->type == jbvBool)
	{
		*out = v->val.boolean ? 1.0 : 0.0;
		return true;
	}
	return false;
}

/*
 * A string jsonb value as a C string; NULL for other types.
 */
char *
JsonValueToCString(const JsonbValue *v)
{
	if (v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * Name of a jsonb value's type with its article, for error messages.
 */
const char *
JsonTypeName(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "an unknown value";
	}
}

/*
 * A jsonb value as a user wrote it, for error messages that name an
 * offending setting: a string as itself, anything else as JSON text.
 */
char *
JsonValueDisplay(const JsonbValue *v)
{
	Jsonb	   *jb;

	if (v->type == jbvString)
		return JsonValueToCString(v);
	jb = JsonbValueToJsonb((JsonbValue *) v);
	return JsonbToCString(NULL, &jb->root, VARSIZE_ANY_EXHDR(jb));
}

/*
 * Report a stored JSON document (a frozen transform or model) as damaged.
 */
static void
JsonCorrupted(const char *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored model metadata is corrupted"),
			 errdetail("Key \"%s\" is missing or has the wrong type.", key)));
}

/*
 * A required number of a stored JSON object (null reads as NaN).
 */
double
JsonGetDouble(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = JsonGet(obj, key);
	double		d;

	if (v != NULL && v->type == jbvNull)
		return NAN;
	if (v == NULL || !JsonValueNumber(v, &d))
		JsonCorrupted(key);
	return d;
}

/*
 * A required integer of a stored JSON object.
 */
int
JsonGetInt(JsonbContainer *obj, const char *key)
{
	double		d = JsonGetDouble(obj, key);

	if (isnan(d) || d < INT_MIN || d > INT_MAX || d != floor(d))
		JsonCorrupted(key);
	return (int) d;
}

/*
 * A required string of a stored JSON object.
 */
char *
JsonGetString(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = JsonGet(obj, key);

	if (v == NULL || v->type != jbvString)
		JsonCorrupted(key);
	return JsonValueToCString(v);
}

/*
 * A required array or object of a stored JSON object.
 */
JsonbContainer *
JsonGetContainer(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = JsonGet(obj, key);

	if (v == NULL || v->type != jbvBinary)
		JsonCorrupted(key);
	return v->val.binary.data;
}

/*
 * Element i of a stored JSON array (an object in its place is corrupted).
 */
JsonbValue *
JsonArrayElement(JsonbContainer *arr, int i)
{
	JsonbValue *v = JsonContainerIsArray(arr) ? getIthJsonbValueFromContainer(arr, i) : NULL;

	if (v == NULL)
		JsonCorrupted("array element");
	return v;
}

/*
 * Append a JSON string literal.
 */
void
JsonAppendString(StringInfo buf, const char *str)
{
	escape_json(buf, str);
}

/*
 * Append a JSON number in the shortest form that reads back as the same
 * double; NaN and infinities become null.
 */
void
JsonAppendDouble(StringInfo buf, double v)
{
	char		num[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (!isfinite(v))
	{
		appendStringInfoString(buf, "null");
		return;
	}
	double_to_shortest_decimal_buf(v, num);
	appendStringInfoString(buf, num);
}

/*
 * Append a JSON array of doubles (NaN and infinities as null).
 */
void
JsonAppendDoubles(StringInfo buf, const double *v, int n)
{
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		JsonAppendDouble(buf, v[i]);
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Append a JSON array of strings.
 */
void
JsonAppendStrings(StringInfo buf, char **v, int n)
{
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		escape_json(buf, v[i]);
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Append an object key with its separator.
 */
void
JsonAppendKey(StringInfo buf, const char *key, bool first)
{
	if (!first)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
}

/*
 * Parse JSON text built in a StringInfo into a jsonb value.
 */
Jsonb *
JsonFromText(StringInfo buf)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data)));
}

/*
 * Append a JSON string holding n doubles in binary: their IEEE 754 bytes,
 * little-endian, in base64.  A large array of numbers stays compact and
 * never goes through numeric_in when the document becomes jsonb (a JSON
 * number of jsonb is a numeric); JsonBinaryDoubles reads it back exactly.
 */
void
JsonAppendBinaryDoubles(StringInfo buf, const double *v, int n)
{
	int			len = (int) sizeof(double) * n;
	char	   *bytes = palloc(Max(1, len));
	int			enclen = pg_b64_enc_len(len);

	for (int i = 0; i < n; i++)
	{
		uint64		u;

		memcpy(&u, &v[i], sizeof(u));
#ifdef WORDS_BIGENDIAN
		u = pg_bswap64(u);
#endif
		memcpy(bytes + (size_t) i * sizeof(u), &u, sizeof(u));
	}
	appendStringInfoChar(buf, '"');
	enlargeStringInfo(buf, enclen + 2);
	enclen = pg_b64_encode(bytes, len, buf->data + buf->len, enclen);
	if (enclen < 0)
		elog(ERROR, "could not encode %d doubles in base64", n);
	buf->len += enclen;
	buf->data[buf->len] = '\0';
	appendStringInfoChar(buf, '"');
	pfree(bytes);
}

/*
 * The doubles of a string written by JsonAppendBinaryDoubles; NULL when
 * it is not one.  *n receives their number.
 */
double *
JsonBinaryDoubles(const char *str, int len, int *n)
{
	int			maxlen = pg_b64_dec_len(len);
	char	   *bytes = palloc(Max(1, maxlen));
	int			declen = pg_b64_decode(str, len, bytes, maxlen);
	double	   *out;

	if (declen < 0 || declen % sizeof(double) != 0)
		return NULL;
	*n = declen / (int) sizeof(double);
	out = palloc(sizeof(double) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		uint64		u;

		memcpy(&u, bytes + (size_t) i * sizeof(u), sizeof(u));
#ifdef WORDS_BIGENDIAN
		u = pg_bswap64(u);
#endif
		memcpy(&out[i], &u, sizeof(u));
	}
	pfree(bytes);
	return out;
}
