/*-------------------------------------------------------------------------
 *
 * strmap.c
 *	  A hash map from strings to small integers (category codes).
 *
 * Built on PostgreSQL's simplehash.  Keys are copied into the map's memory
 * context; the map is used to number the categories of a column while
 * reading training data, and to find a category's slot at predict time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"

#include "strmap.h"

typedef struct StrMapEntry
{
	const char *key;
	int			value;
	char		status;
} StrMapEntry;

#define SH_PREFIX		strmap
#define SH_ELEMENT_TYPE StrMapEntry
#define SH_KEY_TYPE		const char *
#define SH_KEY			key
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) (k), strlen(k))
#define SH_EQUAL(tb, a, b) (strcmp(a, b) == 0)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

struct StrMap
{
	strmap_hash *hash;
	MemoryContext cxt;
};

/*
 * Create an empty map in cxt, sized for about "size" keys.
 */
StrMap *
StrMapCreate(MemoryContext cxt, int size)
{
	StrMap	   *map = MemoryContextAlloc(cxt, sizeof(StrMap));

	map->cxt = cxt;
	map->hash = strmap_create(cxt, Max(size, 8), NULL);
	return map;
}

/*
 * The value of a key; -1 when absent.
 */
int
StrMapGet(StrMap *map, const char *key)
{
	StrMapEntry *e = strmap_lookup(map->hash, key);

	return e ? e->value : -1;
}

/*
 * Set the value of a key, copying the key when it is new.
 */
void
StrMapPut(StrMap *map, const char *key, int value)
{
	bool		found;
	StrMapEntry *e = strmap_insert(map->hash, key, &found);

	if (!found)
		e->key = MemoryContextStrdup(map->cxt, key);
	e->value = value;
}
