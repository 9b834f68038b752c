/*-------------------------------------------------------------------------
 *
 * owner_sql.c
 *	  Running the registry's SQL as the extension owner, and reading SPI
 *	  results by column name.
 *
 * The owner's statements run in a security-restricted operation with
 * search_path pinned to pg_catalog, pg_temp, the context PostgreSQL's own
 * maintenance commands use for a table owner's code.  They must still name
 * every table, function, operator and type schema-qualified.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "owner_sql.h"

/*
 * Run a statement with arguments; returns SPI's result code.  The caller
 * has connected to SPI.
 */
static int
RegistryExec(const char *sql, int nargs, Oid *types, Datum *values,
			 const char *nulls, bool read_only)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s: %s", SPI_result_code_string(rc), sql);
	return rc;
}

/*
 * OID of the role that owns the mlops extension, read from pg_extension
 * with a catalog scan (no SQL, so nothing the caller defined can answer).
 */
static Oid
ExtensionOwner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("mlops"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"mlops\" is not installed in this database")));
	return owner;
}

/*
 * Run a statement as the extension owner, which bypasses the registry's
 * row-level security and may read every column, in the locked-down context
 * PostgreSQL's own maintenance commands use for a table owner's code: a
 * security-restricted operation with search_path pinned to pg_catalog,
 * pg_temp for the duration (a GUC nest level).  The statement must name
 * every table, function, operator and type schema-qualified all the same.
 * An error needs no cleanup here: the abort of the (sub)transaction
 * restores both the user and the settings.
 */
static int
RegistryExecAsOwner(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
					bool read_only)
{
	Oid			owner = ExtensionOwner();
	Oid			save_uid;
	int			save_sec;
	int			save_nestlevel;
	int			rc;

	GetUserIdAndSecContext(&save_uid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	rc = RegistryExec(sql, nargs, types, values, nulls, read_only);
	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_uid, save_sec);
	return rc;
}

/*
 * Run a writing statement as the extension owner.
 */
int
RegistryWriteAsOwner(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	return RegistryExecAsOwner(sql, nargs, types, values, nulls, false);
}

/*
 * Run a reading statement as the extension owner, after the caller's
 * privilege on the project was checked (or to check it).
 */
int
RegistryReadAsOwner(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	return RegistryExecAsOwner(sql, nargs, types, values, nulls, true);
}

/*
 * Read one model's row: run sql, whose one parameter $1 is the model's id,
 * as RegistryReadAsOwner does; a model id that matches no row is an error.
 * Called inside SPI.
 */
void
RegistryReadModelAsOwner(const char *sql, int64 model_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};

	RegistryReadAsOwner(sql, 1, types, values, NULL);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model " INT64_FORMAT " does not exist", model_id)));
}

/*
 * The number of column "column" of the last SPI result.  A name the query
 * does not return is a bug in the query.
 */
static int
ResultColumn(const char *column)
{
	int			col = SPI_fnumber(SPI_tuptable->tupdesc, column);

	if (col <= 0)
		elog(ERROR, "column \"%s\" is not in the result", column);
	return col;
}

/*
 * The value of column "column" (by name) of row "row" of the last SPI
 * result.
 */
Datum
RegistryResultDatum(uint64 row, const char *column, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 ResultColumn(column), isnull);
}

/*
 * An int8 (or int4) column of row "row" of the last SPI result; 0 for NULL.
 */
int64
RegistryResultInt64(uint64 row, const char *column)
{
	bool		isnull;
	Datum		d = RegistryResultDatum(row, column, &isnull);

	if (isnull)
		return 0;
	if (SPI_gettypeid(SPI_tuptable->tupdesc, ResultColumn(column)) == INT4OID)
		return DatumGetInt32(d);
	return DatumGetInt64(d);
}

/*
 * An oid (or regrole) column of row "row" of the last SPI result;
 * InvalidOid for NULL.
 */
Oid
RegistryResultOid(uint64 row, const char *column)
{
	bool		isnull;
	Datum		d = RegistryResultDatum(row, column, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * A column of row "row" of the last SPI result in its text form, copied
 * into cxt; NULL for NULL.
 */
char *
RegistryResultText(uint64 row, const char *column, MemoryContext cxt)
{
	char	   *s = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
									 ResultColumn(column));

	return s ? MemoryContextStrdup(cxt, s) : NULL;
}

/*
 * A jsonb column of row "row" of the last SPI result, copied into cxt;
 * NULL for NULL.
 */
Jsonb *
RegistryResultJsonb(uint64 row, const char *column, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = RegistryResultDatum(row, column, &isnull);
	MemoryContext old;
	Jsonb	   *jb;

	if (isnull)
		return NULL;
	old = MemoryContextSwitchTo(cxt);
	jb = DatumGetJsonbPCopy(d);
	MemoryContextSwitchTo(old);
	return jb;
}
