/*-------------------------------------------------------------------------
 *
 * entity_key.h
 *	  The entity key of a predict input: the value of the column (row
 *	  form) or JSON key (jsonb form) that policy "key" names.
 *
 * A call's input is wrapped once in an EntityInput (JSON text is parsed
 * there, once per call); EntityInputKey(in, key) reads the key the first
 * time it is asked for and returns the same value after, so routing and
 * the prediction log share one extraction.  The key's value is
 * text (a JSON string without its quotes, any other JSON value as JSON
 * text, a column through its type's output function), or NULL when the
 * value is SQL NULL or JSON null, or when the input is an array of raw
 * features (arrays carry no names).  A row without that column or an
 * object without that key is an error naming the key.  Canary routing
 * hashes the value (routing.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_ENTITY_KEY_H
#define MLOPS_ENTITY_KEY_H

#include "postgres.h"

#include "utils/jsonb.h"

/* a predict input, with its entity key once read */
typedef struct EntityInput
{
	Datum		value;			/* the input; JSON text parsed as jsonb */
	Oid			type;			/* a row type, jsonb, or an array type */
	bool		key_read;		/* key holds the entity key's value */
	char	   *key;
} EntityInput;

extern void EntityInputInit(EntityInput *in, Datum value, Oid type);
extern const char *EntityInputKey(EntityInput *in, const char *key);
extern char *EntityKeyFromRow(HeapTupleHeader row, const char *key);
extern char *EntityKeyFromJsonb(Jsonb *jb, const char *key);

#endif							/* MLOPS_ENTITY_KEY_H */
