/*-------------------------------------------------------------------------
 *
 * jsonutil.h
 *	  Reading jsonb values and writing JSON text from C.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_JSONUTIL_H
#define MLOPS_JSONUTIL_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* one key/value pair of a jsonb object, in storage order */
typedef struct JsonPair
{
	char	   *key;
	JsonbValue	value;
} JsonPair;

extern JsonbValue *JsonGet(JsonbContainer *obj, const char *key);
extern JsonPair *JsonObjectPairs(Jsonb *jb, const char *what, int *npairs);
extern bool JsonValueNumber(const JsonbValue *v, double *out);
extern char *JsonValueToCString(const JsonbValue *v);
extern double JsonGetDouble(JsonbContainer *obj, const char *key);
extern int	JsonGetInt(JsonbContainer *obj, const char *key);
extern char *JsonGetString(JsonbContainer *obj, const char *key);
extern JsonbContainer *JsonGetContainer(JsonbContainer *obj, const char *key);
extern JsonbValue *JsonArrayElement(JsonbContainer *arr, int i);
extern const char *JsonTypeName(const JsonbValue *v);
extern char *JsonValueDisplay(const JsonbValue *v);

extern void JsonAppendString(StringInfo buf, const char *str);
extern void JsonAppendDouble(StringInfo buf, double v);
extern void JsonAppendDoubles(StringInfo buf, const double *v, int n);
extern void JsonAppendStrings(StringInfo buf, char **v, int n);
extern void JsonAppendBinaryDoubles(StringInfo buf, const double *v, int n);
extern double *JsonBinaryDoubles(const char *str, int len, int *n);
extern void JsonAppendKey(StringInfo buf, const char *key, bool first);
extern Jsonb *JsonFromText(StringInfo buf);

#endif							/* MLOPS_JSONUTIL_H */
