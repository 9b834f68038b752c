/*-------------------------------------------------------------------------
 *
 * owner_sql.h
 *	  Running the registry's SQL as the extension owner, and reading SPI
 *	  results by column name.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_OWNER_SQL_H
#define MLOPS_OWNER_SQL_H

#include "utils/jsonb.h"

/* columns of the last SPI result, by name */
extern Datum RegistryResultDatum(uint64 row, const char *column, bool *isnull);
extern int64 RegistryResultInt64(uint64 row, const char *column);
extern Oid	RegistryResultOid(uint64 row, const char *column);
extern char *RegistryResultText(uint64 row, const char *column, MemoryContext cxt);
extern Jsonb *RegistryResultJsonb(uint64 row, const char *column, MemoryContext cxt);

extern int	RegistryWriteAsOwner(const char *sql, int nargs, Oid *types, Datum *values,
								 const char *nulls);
extern int	RegistryReadAsOwner(const char *sql, int nargs, Oid *types, Datum *values,
								const char *nulls);
extern void RegistryReadModelAsOwner(const char *sql, int64 model_id);

#endif							/* MLOPS_OWNER_SQL_H */
