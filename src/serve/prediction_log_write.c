/*-------------------------------------------------------------------------
 *
 * prediction_log_write.c
 *	  Writing the prediction log to mlops.predictions the way COPY does:
 *	  each row routed to its day's partition, heap multi-inserts through a
 *	  bulk-insert state, each run's index entries through the executor, no
 *	  SQL statement per batch.
 *
 * The worker takes rows out of the shared-memory queue with their values
 * already made (text, float8[], jsonb), so writing a row is filling a
 * virtual slot: the id comes from the sequence the table owns (its
 * column's default, called directly: the worker writes the table without
 * privilege checks, so it skips the sequence's too), the project's name
 * from a cache of the worker's lifetime, filled with one query per batch
 * that meets an unknown project id and emptied at the next batch after
 * mlops.projects changes (drop_project and create_project send a relcache
 * invalidation, taken in when the worker locks mlops.predictions).  A row
 * whose project was dropped before the worker wrote it is discarded, as
 * the join of the former INSERT ... SELECT did.  The executor's partition
 * routing (ExecFindPartition, as COPY uses it) finds each row's partition
 * (prediction_log_partitions.c makes them); a batch's consecutive rows of
 * one partition, usually all of them, are written together.  The
 * partitions have no triggers and no constraints besides NOT NULL
 * columns, which the worker always fills; their indexes (a BRIN index on
 * predicted_at, and (project, key) where key is not NULL; no primary key)
 * are maintained with ExecInsertIndexTuples.  Each row's heap tuple is
 * formed once from the virtual slot's values and inserted from a heap
 * tuple slot (a virtual slot would be copied into its own memory first);
 * the index entries are made from the virtual slot, whose values need no
 * deforming.  The batch's slots are made on a copy of the table's tuple
 * descriptor, which they need not pin one by one; a partition whose
 * columns lie otherwise than the table's (made after a column was
 * dropped) gets its rows converted into slots of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/execPartition.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "registry.h"
#include "serve/prediction_log_write.h"

/* the columns of mlops.predictions the worker writes, in this order */
enum
{
	COL_ID,
	COL_PROJECT,
	COL_MODEL_ID,
	COL_VARIANT,
	COL_KEY,
	COL_PREDICTED_AT,
	COL_FEATURES,
	COL_PREDICTION,
	COL_PROBA,
	NCOLS
};

static const char *const column_names[NCOLS] = {
	"id", "project", "model_id", "variant", "key", "predicted_at", "features", "prediction", "proba"
};

/* a project's name, as the rows need it */
typedef struct ProjectName
{
	int64		project_id;		/* hash key */
	Datum		name;			/* text, or 0: the project is gone */
} ProjectName;

struct LogWriter
{
	MemoryContext cxt;			/* what lives for the pass */
	Relation	rel;
	TupleDesc	desc;			/* a copy of rel's: slots need no pin */
	EState	   *estate;
	ResultRelInfo *rri;			/* mlops.predictions' */
	ModifyTableState *mtstate;	/* what partition routing needs of one */
	PartitionTupleRouting *proute;
	Relation	last_rel;		/* the partition bistate last wrote */
	BulkInsertState bistate;
	CommandId	cid;
	AttrNumber	attnum[NCOLS];	/* 0-based */
	Oid			id_seq;			/* the sequence of column id */
	/* made as needed: the rows' values, and their heap tuples */
	TupleTableSlot *slots[LOG_WRITE_BATCH];
	TupleTableSlot *tuples[LOG_WRITE_BATCH];
	int			nslots;
	Datum		variant_names[SERVING_VARIANTS];
};

/* the project names cache, and the relation whose changes empty it */
static HTAB *project_names = NULL;
static MemoryContext project_names_cxt = NULL;
static Oid	projects_relid = InvalidOid;
static bool project_names_stale = false;

/*
 * Relcache callback: mlops.projects changed (or everything is reset), so
 * the names cached may be stale.  It only marks them stale; they are
 * dropped at the next batch, never while a batch uses them.
 */
static void
LogWriterInvalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == projects_relid)
		project_names_stale = true;
}

/*
 * The project names cache, emptied first when it is stale.
 */
static HTAB *
ProjectNames(void)
{
	HASHCTL		ctl;

	if (project_names_stale && project_names != NULL)
	{
		MemoryContextReset(project_names_cxt);
		project_names = NULL;
	}
	project_names_stale = false;

	if (project_names_cxt == NULL)
	{
		project_names_cxt = AllocSetContextCreate(TopMemoryContext, "mlops prediction log projects",
												  ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(LogWriterInvalidate, (Datum) 0);
	}
	if (project_names == NULL)
	{
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(ProjectName);
		ctl.hcxt = project_names_cxt;
		project_names = hash_create("mlops prediction log projects", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	return project_names;
}

/*
 * Open mlops.predictions, its partition routing and a bulk-insert state
 * for one pass of the worker.
 */
LogWriter *
LogWriterBegin(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops prediction log writer",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	LogWriter  *w = palloc0(sizeof(LogWriter));
	TupleDesc	desc;
	List	   *seqs;

	w->cxt = cxt;
	projects_relid = RegistryTableOid("projects");
	w->rel = table_open(RegistryTableOid("predictions"), RowExclusiveLock);
	desc = w->desc = CreateTupleDescCopy(RelationGetDescr(w->rel));
	for (int c = 0; c < NCOLS; c++)
	{
		int			a;

		for (a = 0; a < desc->natts; a++)
			if (!TupleDescAttr(desc, a)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, a)->attname), column_names[c]) == 0)
				break;
		if (a == desc->natts)
			elog(ERROR, "mlops.predictions has no column \"%s\"", column_names[c]);
		w->attnum[c] = a;
	}

	w->estate = CreateExecutorState();
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, w->rel, 1, NULL, 0);
	w->mtstate = makeNode(ModifyTableState);
	w->mtstate->ps.state = w->estate;
	w->mtstate->operation = CMD_INSERT;
	w->mtstate->mt_nrels = 1;
	w->mtstate->resultRelInfo = w->rri;
	w->mtstate->rootResultRelInfo = w->rri;
	w->proute = ExecSetupPartitionTupleRouting(w->estate, w->rel);
	w->bistate = GetBulkInsertState();
	w->cid = GetCurrentCommandId(true);
	seqs = getOwnedSequences(RelationGetRelid(w->rel));
	if (list_length(seqs) != 1)
		elog(ERROR, "mlops.predictions does not own exactly one sequence");
	w->id_seq = linitial_oid(seqs);
	for (int v = 0; v < SERVING_VARIANTS; v++)
		w->variant_names[v] = CStringGetTextDatum(ServingVariantName((ServingVariant) v));
	MemoryContextSwitchTo(old);
	return w;
}

/*
 * Learn the names of the projects of rows that the cache does not know,
 * with one query; a project that no longer exists gets no name.
 */
static void
LogWriterLearnProjects(HTAB *names, const LoggedRow *rows, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * n);
	int			nids = 0;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];

	for (int i = 0; i < n; i++)
	{
		bool		found;
		ProjectName *p;

		if (i > 0 && rows[i].project_id == rows[i - 1].project_id)
			continue;			/* a run of one project's rows: looked up */
		p = hash_search(names, &rows[i].project_id, HASH_ENTER, &found);
		if (!found)
		{
			p->name = (Datum) 0;
			ids[nids++] = Int64GetDatum(rows[i].project_id);
		}
	}
	if (nids == 0)
		return;
	values[0] = PointerGetDatum(construct_array(ids, nids, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	/* a snapshot of now: a project dropped since the pass began is gone */
	PushActiveSnapshot(GetTransactionSnapshot());
	RegistryReadAsOwner("SELECT id, name FROM mlops.projects "
						"WHERE id OPERATOR(pg_catalog.=) ANY ($1)", 1, types, values, NULL);
	PopActiveSnapshot();
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		int64		id = RegistryResultInt64(r, "id");
		ProjectName *p = hash_search(names, &id, HASH_FIND, NULL);
		MemoryContext old = MemoryContextSwitchTo(project_names_cxt);

		if (p != NULL)
			p->name = CStringGetTextDatum(RegistryResultText(r, "name", project_names_cxt));
		MemoryContextSwitchTo(old);
	}
}

/*
 * Write rows from..to-1 of the batch, which go to partition leaf: one heap
 * multi-insert, then their index entries.
 */
static void
LogWriterFlush(LogWriter *w, ResultRelInfo *leaf, int from, int to)
{
	TupleConversionMap *map = leaf->ri_RootToPartitionMap;
	TupleDesc	desc = w->desc;
	TupleTableSlot **values = &w->slots[from];
	TupleTableSlot **tuples = &w->tuples[from];
	int			n = to - from;

	if (map != NULL)
	{
		/* the partition's own slots, in the batch's memory */
		desc = CreateTupleDescCopy(RelationGetDescr(leaf->ri_RelationDesc));
		values = palloc(sizeof(TupleTableSlot *) * n);
		tuples = palloc(sizeof(TupleTableSlot *) * n);
		for (int i = 0; i < n; i++)
		{
			values[i] = execute_attr_map_slot(map->attrMap, w->slots[from + i],
											  MakeSingleTupleTableSlot(desc, &TTSOpsVirtual));
			tuples[i] = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
		}
	}
	for (int i = 0; i < n; i++)
		ExecStoreHeapTuple(heap_form_tuple(desc, values[i]->tts_values, values[i]->tts_isnull),
						   tuples[i], true);
	if (leaf->ri_RelationDesc != w->last_rel)
		ReleaseBulkInsertStatePin(w->bistate);
	w->last_rel = leaf->ri_RelationDesc;
	table_multi_insert(leaf->ri_RelationDesc, tuples, n, w->cid, 0, w->bistate);
	for (int i = 0; i < n; i++)
	{
		List	   *recheck;

		values[i]->tts_tid = tuples[i]->tts_tid;
		recheck = ExecInsertIndexTuples(leaf, values[i], w->estate, false, false, NULL, NIL);
		list_free(recheck);
		ResetPerTupleExprContext(w->estate);
		ExecClearTuple(tuples[i]);
	}
}

/*
 * Write up to LOG_WRITE_BATCH rows, each run of rows of one partition
 * together.  What the batch needs (its tuples) is made in the caller's
 * memory context, which the caller resets between batches.
 */
void
LogWriterInsert(LogWriter *w, const LoggedRow *rows, int n)
{
	HTAB	   *names;
	ProjectName *p = NULL;
	ResultRelInfo *leaf = NULL;
	int			nslots = 0;
	int			run = 0;

	Assert(n <= LOG_WRITE_BATCH);
	names = ProjectNames();
	LogWriterLearnProjects(names, rows, n);
	for (int i = 0; i < n; i++)
	{
		const LoggedRow *r = &rows[i];
		TupleTableSlot *slot;
		ResultRelInfo *part;
		Datum	   *values;
		bool	   *isnull;

		/* a run of one project's rows looks its name up once */
		if (i == 0 || r->project_id != rows[i - 1].project_id)
			p = hash_search(names, &r->project_id, HASH_FIND, NULL);
		if (p == NULL || p->name == (Datum) 0)
			continue;			/* the project was dropped */
		if (nslots == w->nslots)
		{
			MemoryContext cxt = MemoryContextSwitchTo(w->cxt);

			w->slots[w->nslots] = MakeSingleTupleTableSlot(w->desc, &TTSOpsVirtual);
			w->tuples[w->nslots++] = MakeSingleTupleTableSlot(w->desc, &TTSOpsHeapTuple);
			MemoryContextSwitchTo(cxt);
		}
		slot = w->slots[nslots];
		ExecClearTuple(slot);
		values = slot->tts_values;
		isnull = slot->tts_isnull;
		memset(isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
		values[w->attnum[COL_ID]] = Int64GetDatum(nextval_internal(w->id_seq, false));
		values[w->attnum[COL_PROJECT]] = p->name;
		values[w->attnum[COL_MODEL_ID]] = Int64GetDatum(r->model_id);
		values[w->attnum[COL_VARIANT]] = w->variant_names[r->variant];
		values[w->attnum[COL_KEY]] = r->key;
		values[w->attnum[COL_PREDICTED_AT]] = TimestampTzGetDatum(r->predicted_at);
		values[w->attnum[COL_FEATURES]] = r->features;
		values[w->attnum[COL_PREDICTION]] = Float8GetDatum(r->prediction);
		values[w->attnum[COL_PROBA]] = r->proba;
		isnull[w->attnum[COL_ID]] = false;
		isnull[w->attnum[COL_PROJECT]] = false;
		isnull[w->attnum[COL_MODEL_ID]] = false;
		isnull[w->attnum[COL_VARIANT]] = false;
		isnull[w->attnum[COL_KEY]] = r->key == (Datum) 0;
		isnull[w->attnum[COL_PREDICTED_AT]] = false;
		isnull[w->attnum[COL_FEATURES]] = r->features == (Datum) 0;
		isnull[w->attnum[COL_PREDICTION]] = false;
		isnull[w->attnum[COL_PROBA]] = r->proba == (Datum) 0;
		ExecStoreVirtualTuple(slot);
		part = ExecFindPartition(w->mtstate, w->rri, w->proute, slot, w->estate);
		ResetPerTupleExprContext(w->estate);
		if (leaf != NULL && part != leaf)
		{
			LogWriterFlush(w, leaf, run, nslots);
			run = nslots;
		}
		leaf = part;
		nslots++;
	}
	if (nslots > run)
		LogWriterFlush(w, leaf, run, nslots);
}

/*
 * Finish the pass: close the partitions, their indexes and the table (the
 * rows are the transaction's, committed with it).
 */
void
LogWriterEnd(LogWriter *w)
{
	for (int i = 0; i < w->nslots; i++)
	{
		ExecDropSingleTupleTableSlot(w->slots[i]);
		ExecDropSingleTupleTableSlot(w->tuples[i]);
	}
	FreeBulkInsertState(w->bistate);
	ExecCleanupTupleRouting(w->mtstate, w->proute);
	FreeExecutorState(w->estate);
	table_close(w->rel, NoLock);
	MemoryContextDelete(w->cxt);
}
