/*-------------------------------------------------------------------------
 *
 * strmap.h
 *	  A hash map from strings to small integers (category codes).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_STRMAP_H
#define MLOPS_STRMAP_H

#include "postgres.h"

typedef struct StrMap StrMap;

extern StrMap *StrMapCreate(MemoryContext cxt, int size);
extern int	StrMapGet(StrMap *map, const char *key);
extern void StrMapPut(StrMap *map, const char *key, int value);

#endif							/* MLOPS_STRMAP_H */
