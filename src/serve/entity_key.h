/*-------------------------------------------------------------------------
 *
 * entity_key.h
 *	  The entity key of a predict input: the value of the column (row
 *	  form) or JSON key (jsonb form) that policy "key" names.
 *
 * EntityKeyFromInput(features, argtype, key) returns the key's value as
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

extern char *EntityKeyFromInput(Datum features, Oid argtype, const char *key);
extern char *EntityKeyFromRow(HeapTupleHeader row, const char *key);
extern char *EntityKeyFromJsonb(Jsonb *jb, const char *key);

#endif							/* MLOPS_ENTITY_KEY_H */
