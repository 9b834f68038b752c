/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  mlops on a Citus cluster: the registry replicated to every worker,
 *	  inside the coordinator's distributed transaction.
 *
 * Citus propagates CREATE EXTENSION mlops from the coordinator to its
 * workers, so each worker has its own (empty) registry tables.  Predict,
 * featurize and the privilege checks pushed down into worker tasks read
 * them like on a single node; this module keeps them equal to the
 * coordinator's.
 *
 * The registry tables that serving reads (projects, models, deployments,
 * project_grants) carry a BEFORE row trigger, mlops.registry_capture.  On the
 * coordinator of a cluster set up by mlops.citus_setup(), it turns every
 * row change into one row inserted into mlops.registry_changes, a Citus
 * reference table: Citus sends that INSERT to every node's placement in
 * the coordinator's transaction and commits it with two-phase commit.  A
 * BEFORE INSERT trigger on the placements, mlops.registry_apply, applies
 * the change to the worker's own registry table and returns NULL, so the
 * reference table never stores a row.  A committed deploy therefore
 * reaches every worker at the same commit, a rolled-back one never, and a
 * dropped project goes everywhere.  The apply sends the same relcache
 * invalidations as a local write, delivered when the worker's prepared
 * transaction commits, so every worker backend's model and privilege
 * caches reload at its next statement.
 *
 * Rows travel as to_jsonb of the row: regrole columns as role names, so a
 * project's owner and grantees are the same roles (which Citus propagates)
 * under the worker's own OIDs.  Row-level security and column privileges
 * are the worker's own registry's, as on a single node.
 *
 * Why not make the registry tables themselves reference tables: Citus
 * converts every local table in their foreign-key graph to a Citus local
 * table, which means dropping and recreating the extension's views; and a
 * function pushed down into a worker task may not run a Citus query
 * ("cannot execute a distributed query from a query on a shard"), so
 * predict could not read them there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "ops/citus.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_registry_capture);
PG_FUNCTION_INFO_V1(mlops_registry_apply);
PG_FUNCTION_INFO_V1(mlops_citus_setup);

/* a replicated registry table and its key */
typedef struct ReplicatedTable
{
	const char *name;
	const char *key[3];			/* NULL-terminated */
} ReplicatedTable;

/* in foreign-key order: a full copy inserts them in this order */
static const ReplicatedTable replicated_tables[] = {
	{"projects", {"id", NULL}},
	{"models", {"id", NULL}},
	{"deployments", {"id", NULL}},
	{"project_grants", {"project_id", "grantee", "privilege"}},
};

#define NUM_REPLICATED_TABLES lengthof(replicated_tables)

/* true while mlops.registry_apply writes this worker's registry */
static bool applying = false;

/*
 * Error unless the function was called as a trigger.
 */
static TriggerData *
TriggerContext(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s can only be called as a trigger", name)));
	return (TriggerData *) fcinfo->context;
}

/*
 * The replicated table of that name; NULL when it is none.
 */
static const ReplicatedTable *
FindReplicatedTable(const char *name)
{
	for (int i = 0; i < NUM_REPLICATED_TABLES; i++)
		if (strcmp(replicated_tables[i].name, name) == 0)
			return &replicated_tables[i];
	return NULL;
}

/* what this node is in a Citus cluster */
typedef enum CitusRole
{
	CITUS_NONE,					/* no Citus, or not part of a cluster */
	CITUS_COORDINATOR,			/* in pg_dist_node as group 0 */
	CITUS_WORKER,
} CitusRole;

/*
 * What this node is: without the citus extension, none; else the
 * coordinator when citus_is_coordinator() says so, a worker when its
 * local group is not the coordinator's 0 (citus_add_node set it).
 */
static CitusRole
CitusNodeRole(void)
{
	CitusRole	role = CITUS_NONE;
	bool		isnull;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return CITUS_NONE;
	SPI_connect();
	RegistryReadAsOwner("SELECT CASE WHEN pg_catalog.citus_is_coordinator() THEN 1"
						" WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_dist_local_group"
						"   WHERE groupid OPERATOR(pg_catalog.<>) 0) THEN 2 ELSE 0 END",
						0, NULL, NULL, NULL);
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			role = (CitusRole) DatumGetInt32(d);
	}
	SPI_finish();
	return role;
}

/*
 * Whether mlops.registry_changes is a Citus table (mlops.citus_setup ran).
 * The caller has connected to SPI and knows Citus is installed.
 */
static bool
RegistryChangesDistributed(void)
{
	RegistryReadAsOwner("SELECT 1 FROM pg_catalog.pg_dist_partition"
						" WHERE logicalrelid OPERATOR(pg_catalog.=) 'mlops.registry_changes'::pg_catalog.regclass",
						0, NULL, NULL, NULL);
	return SPI_processed > 0;
}

/*
 * On a coordinator not set up by mlops.citus_setup(), warn (once per
 * transaction) that registry changes do not reach the workers, if it has
 * any.  The caller has connected to SPI.
 */
static void
WarnNotSetUp(void)
{
	static LocalTransactionId warned = InvalidLocalTransactionId;

	if (warned == MyProc->lxid)
		return;
	RegistryReadAsOwner("SELECT 1 FROM pg_catalog.pg_dist_node"
						" WHERE groupid OPERATOR(pg_catalog.<>) 0 LIMIT 1",
						0, NULL, NULL, NULL);
	if (SPI_processed == 0)
		return;
	warned = MyProc->lxid;
	ereport(WARNING,
			(errmsg("this change of the mlops registry does not reach the Citus worker nodes"),
			 errdetail("mlops.citus_setup() has not run on this coordinator, so predict in worker tasks does not know this project."),
			 errhint("Run SELECT mlops.citus_setup() on the coordinator.")));
}

/*
 * Send one change to every node: insert it into mlops.registry_changes.
 * The caller has connected to SPI.
 */
static void
SendChange(const char *table, const char *op, Datum row, Oid rowtype)
{
	Oid			types[3] = {TEXTOID, TEXTOID, rowtype};
	Datum		values[3] = {CStringGetTextDatum(table), CStringGetTextDatum(op), row};
	char		nulls[3] = {' ', ' ', row == (Datum) 0 ? 'n' : ' '};

	RegistryWriteAsOwner("INSERT INTO mlops.registry_changes (relation, op, \"row\")"
						 " VALUES ($1, $2, pg_catalog.to_jsonb($3))",
						 3, types, values, nulls);
}

/*
 * mlops.registry_capture(): BEFORE row trigger on the replicated registry
 * tables (before, so that a refused write fails with its own error, not a
 * key collision).  On the coordinator of a set-up cluster it sends the row
 * change to every worker; if the write fails after all, the transaction
 * and the change roll back together.  On a worker only the coordinator's
 * changes may write the registry (a project made there would collide with
 * the coordinator's ids).  Without Citus it does nothing.
 */
Datum
mlops_registry_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = TriggerContext(fcinfo, "mlops.registry_capture()");
	Relation	rel = td->tg_relation;
	HeapTuple	tuple;
	const char *op;
	CitusRole	role;

	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "mlops.registry_capture() must be a BEFORE row trigger");
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		op = "INSERT", tuple = td->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		op = "UPDATE", tuple = td->tg_newtuple;
	else
		op = "DELETE", tuple = td->tg_trigtuple;
	if (applying)
		return PointerGetDatum(tuple);
	role = CitusNodeRole();
	if (role == CITUS_WORKER)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change the mlops registry on a Citus worker node"),
				 errdetail("The workers' registry is a copy of the coordinator's."),
				 errhint("Train, deploy, grant and drop on the coordinator.")));
	if (role != CITUS_COORDINATOR)
		return PointerGetDatum(tuple);
	SPI_connect();
	if (!RegistryChangesDistributed())
		WarnNotSetUp();
	else
		SendChange(RelationGetRelationName(rel), op,
				   heap_copy_tuple_as_datum(tuple, RelationGetDescr(rel)),
				   RelationGetForm(rel)->reltype);
	SPI_finish();
	return PointerGetDatum(tuple);
}

/*
 * The statement that applies a change of op to a row of table t (the row
 * is $1, a jsonb): every column of the worker's table is taken from it by
 * name, the key columns find the row.
 */
static char *
ApplyStatement(const ReplicatedTable *t, const char *op)
{
	Oid			relid = RegistryTableOid(t->name);
	TupleDesc	desc;
	StringInfoData cols;
	StringInfoData sql;
	StringInfoData match;

	if (!OidIsValid(relid))
		elog(ERROR, "registry table mlops.%s is missing", t->name);
	desc = lookup_rowtype_tupdesc(get_rel_type_id(relid), -1);
	initStringInfo(&cols);
	initStringInfo(&match);
	initStringInfo(&sql);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *col = quote_identifier(NameStr(att->attname));

		if (att->attisdropped)
			continue;
		if (strcmp(op, "UPDATE") == 0)
			appendStringInfo(&cols, "%s%s = r.%s", cols.len ? ", " : "", col, col);
		else
			appendStringInfo(&cols, "%sr.%s", cols.len ? ", " : "", col);
	}
	ReleaseTupleDesc(desc);
	for (int k = 0; t->key[k] != NULL; k++)
		appendStringInfo(&match, "%st.%s OPERATOR(pg_catalog.=) r.%s", k ? " AND " : "",
						 t->key[k], t->key[k]);
	if (strcmp(op, "INSERT") == 0)
		appendStringInfo(&sql, "INSERT INTO mlops.%s SELECT %s"
						 " FROM pg_catalog.jsonb_populate_record(NULL::mlops.%s, $1) AS r",
						 t->name, cols.data, t->name);
	else if (strcmp(op, "UPDATE") == 0)
		appendStringInfo(&sql, "UPDATE mlops.%s AS t SET %s"
						 " FROM pg_catalog.jsonb_populate_record(NULL::mlops.%s, $1) AS r WHERE %s",
						 t->name, cols.data, t->name, match.data);
	else
		appendStringInfo(&sql, "DELETE FROM mlops.%s AS t"
						 " USING pg_catalog.jsonb_populate_record(NULL::mlops.%s, $1) AS r WHERE %s",
						 t->name, t->name, match.data);
	return sql.data;
}

/*
 * Tell every backend of this node, at commit, that the replicated tables
 * changed (the model cache and the privilege cache reload).
 */
static void
InvalidateReplicatedTables(void)
{
	for (int i = 0; i < NUM_REPLICATED_TABLES; i++)
		CacheInvalidateRelcacheByRelid(RegistryTableOid(replicated_tables[i].name));
}

/*
 * mlops.registry_apply(): BEFORE INSERT row trigger on the placements of
 * mlops.registry_changes.  On a Citus worker it applies the change to the
 * worker's registry; elsewhere (the coordinator, whose registry made the
 * change, or a node without Citus) it does nothing.  It never lets the row
 * be stored.
 */
Datum
mlops_registry_apply(PG_FUNCTION_ARGS)
{
	TriggerData *td = TriggerContext(fcinfo, "mlops.registry_apply()");
	HeapTuple	tuple = td->tg_trigtuple;
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	bool		isnull[3];
	Datum		table,
				op,
				row;

	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(td->tg_event) || desc->natts != 3)
		elog(ERROR, "mlops.registry_apply() must be a BEFORE INSERT row trigger of mlops.registry_changes");
	if (CitusNodeRole() != CITUS_WORKER)
		return PointerGetDatum(NULL);
	table = heap_getattr(tuple, 1, desc, &isnull[0]);
	op = heap_getattr(tuple, 2, desc, &isnull[1]);
	row = heap_getattr(tuple, 3, desc, &isnull[2]);
	if (isnull[0] || isnull[1])
		elog(ERROR, "a registry change names no table or operation");

	SPI_connect();
	applying = true;
	PG_TRY();
	{
		if (strcmp(TextDatumGetCString(op), "RESET") == 0)
		{
			/* a full copy follows: start from an empty registry */
			for (int i = NUM_REPLICATED_TABLES - 1; i >= 0; i--)
				RegistryWriteAsOwner(psprintf("DELETE FROM mlops.%s", replicated_tables[i].name),
									 0, NULL, NULL, NULL);
		}
		else
		{
			const ReplicatedTable *t = FindReplicatedTable(TextDatumGetCString(table));
			const char *opname = TextDatumGetCString(op);
			Oid			type = JSONBOID;

			if (t == NULL || isnull[2] ||
				(strcmp(opname, "INSERT") != 0 && strcmp(opname, "UPDATE") != 0 &&
				 strcmp(opname, "DELETE") != 0))
				elog(ERROR, "malformed registry change: %s of table \"%s\"",
					 opname, TextDatumGetCString(table));
			RegistryWriteAsOwner(ApplyStatement(t, opname), 1, &type, &row, NULL);
		}
	}
	PG_FINALLY();
	{
		applying = false;
	}
	PG_END_TRY();
	SPI_finish();
	InvalidateReplicatedTables();
	return PointerGetDatum(NULL);
}

/*
 * Error unless every worker node has mlops installed at this node's
 * version, naming the first node that has not.  The caller has connected
 * to SPI.
 */
static void
CheckWorkersHaveMlops(void)
{
	RegistryReadAsOwner("SELECT w.nodename OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) w.nodeport AS node,"
						"       w.success, w.result, e.extversion"
						"  FROM pg_catalog.run_command_on_workers("
						"         'SELECT COALESCE(pg_catalog.max(extversion), ''none'')"
						"            FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) ''mlops''') AS w,"
						"       pg_catalog.pg_extension AS e"
						" WHERE e.extname OPERATOR(pg_catalog.=) 'mlops'"
						"   AND (NOT w.success OR w.result OPERATOR(pg_catalog.<>) e.extversion)"
						" ORDER BY 1 LIMIT 1",
						0, NULL, NULL, NULL);
	if (SPI_processed > 0)
	{
		char	   *node = RegistryResultText(0, "node", CurrentMemoryContext);
		char	   *result = RegistryResultText(0, "result", CurrentMemoryContext);

		if (strcmp(RegistryResultText(0, "success", CurrentMemoryContext), "t") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("cannot check mlops on worker node %s", node),
					 errdetail("The node answered: %s", result)));
		if (strcmp(result, "none") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("mlops is not installed on worker node %s", node),
					 errhint("Install the mlops package on that node; CREATE EXTENSION mlops on the coordinator creates it on every worker when it commits, so run mlops.citus_setup() in a later transaction.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("worker node %s has mlops %s, the coordinator %s",
						node, result, RegistryResultText(0, "extversion", CurrentMemoryContext)),
				 errhint("Run ALTER EXTENSION mlops UPDATE on the coordinator.")));
	}
}

/*
 * Error unless every worker node has mlops at this node's version and
 * mlops.citus_setup() has copied the registry to them (for the modules
 * that push work using the registry down to the workers).
 */
void
CitusCheckWorkers(void)
{
	SPI_connect();
	CheckWorkersHaveMlops();
	if (!RegistryChangesDistributed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the mlops registry has not been copied to the Citus worker nodes"),
				 errhint("Run SELECT mlops.citus_setup() on the coordinator.")));
	SPI_finish();
}

/*
 * Whether relid is a distributed Citus table: in pg_dist_partition with a
 * distribution method other than 'n' (reference and local tables), so that
 * a query over it runs as tasks on its shards.
 */
bool
CitusIsDistributedTable(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		distributed;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return false;
	SPI_connect();
	RegistryReadAsOwner("SELECT 1 FROM pg_catalog.pg_dist_partition"
						" WHERE logicalrelid OPERATOR(pg_catalog.=) $1"
						"   AND partmethod OPERATOR(pg_catalog.<>) 'n'",
						1, types, values, NULL);
	distributed = SPI_processed > 0;
	SPI_finish();
	return distributed;
}

/*
 * mlops.citus_setup(): on a Citus coordinator, make mlops.registry_changes
 * a reference table (once), give every node a placement of it (Citus's
 * replicate_reference_tables, which also places the cluster's other
 * reference tables on nodes added since) and copy the whole serving
 * registry to every worker, replacing what they hold.  Run it after CREATE EXTENSION mlops
 * and after adding worker nodes.  Returns the number of worker nodes.
 * Superuser only: it writes every node's registry.
 */
Datum
mlops_citus_setup(PG_FUNCTION_ARGS)
{
	int			save_nestlevel;
	int64		workers;
	bool		isnull;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function mlops.citus_setup"),
				 errdetail("Only a superuser can replicate the registry to the worker nodes.")));
	if (CitusNodeRole() != CITUS_COORDINATOR)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node is not the coordinator of a Citus cluster"),
				 errhint("Run mlops.citus_setup() on the coordinator after citus_set_coordinator_host and citus_add_node.")));

	SPI_connect();
	CheckWorkersHaveMlops();
	if (!RegistryChangesDistributed())
	{
		save_nestlevel = NewGUCNestLevel();
		(void) set_config_option("citus.enable_unsafe_triggers", "on", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		RegistryWriteAsOwner("SELECT pg_catalog.create_reference_table('mlops.registry_changes')",
							 0, NULL, NULL, NULL);
		AtEOXact_GUC(true, save_nestlevel);
	}
	/* a node added since the first setup gets its placement */
	RegistryWriteAsOwner("SELECT pg_catalog.replicate_reference_tables('block_writes')",
						 0, NULL, NULL, NULL);
	SendChange("", "RESET", (Datum) 0, JSONBOID);
	for (int i = 0; i < NUM_REPLICATED_TABLES; i++)
		RegistryWriteAsOwner(psprintf("INSERT INTO mlops.registry_changes (relation, op, \"row\")"
									  " SELECT '%s', 'INSERT', pg_catalog.to_jsonb(t)"
									  "   FROM mlops.%s AS t ORDER BY %s",
									  replicated_tables[i].name, replicated_tables[i].name,
									  replicated_tables[i].key[0]),
							 0, NULL, NULL, NULL);
	RegistryReadAsOwner("SELECT pg_catalog.count(*) FROM pg_catalog.pg_dist_node"
						" WHERE groupid OPERATOR(pg_catalog.<>) 0 AND isactive AND noderole OPERATOR(pg_catalog.=) 'primary'",
						0, NULL, NULL, NULL);
	workers = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT32((int32) workers);
}
