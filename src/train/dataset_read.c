/*-------------------------------------------------------------------------
 *
 * dataset_read.c
 *	  Reading a relation into memory for training and evaluation.
 *
 * The relation is read through SPI as the calling role, so a role that
 * cannot SELECT a table cannot train on it.  The executor hands each row
 * of the query to a DestReceiver that stores it column by column as doubles
 * (NaN marks NULL), the layout both the featurizer and the linear solvers
 * want; no row is copied on the way.
 * The memory the data takes is checked against mlops.max_train_memory as
 * it grows, and kept in the data set for the checks of the training steps
 * that follow.
 *
 * Classification labels are kept in "label order": sorted by the target
 * type's default btree ordering (false < true, 0 < 1, text in the column's
 * collation).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "train/dataset.h"
#include "strmap.h"

#define DATASET_MIN_ROWS 1024		/* first allocation of the column arrays */
#define DATASET_BATCH_ROWS 10000	/* rows between resets of the work memory */
#define DATASET_STAGE_ROWS 64		/* rows gathered before they go to the columns */
#define MLOPS_MAX_READ_CATEGORIES 100000	/* distinct values of one column */
#define DATASET_MAP_ENTRY_BYTES 32	/* a category's entry in its StrMap */

/* distinct labels seen so far, kept sorted by the type's ordering */
typedef struct LabelSet
{
	FmgrInfo   *cmp;
	Oid			collation;
	Oid			typid;
	bool		typbyval;
	int16		typlen;
	int			n;
	MemoryContext cxt;			/* where label values are kept */
	Datum	   *values;			/* sorted */
	int		   *ids;			/* first-seen id of each sorted value */
} LabelSet;

/*
 * Copy a datum into a memory context.
 */
static Datum
CopyDatumInto(MemoryContext cxt, Datum value, bool byval, int16 len)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Datum		copy = datumCopy(value, byval, len);

	MemoryContextSwitchTo(old);
	return copy;
}

/*
 * Find a label in the sorted set; returns its position or -(insert point)-1.
 */
static int
LabelSetFind(LabelSet *ls, Datum value)
{
	int			lo = 0,
				hi = ls->n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int32		c = DatumGetInt32(FunctionCall2Coll(ls->cmp, ls->collation,
														ls->values[mid], value));

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -lo - 1;
}

/*
 * Return the first-seen id of a label, adding it when new.  Returns -1 when
 * the set would grow past "limit".
 */
static int
LabelSetId(LabelSet *ls, Datum value, int limit)
{
	int			pos = LabelSetFind(ls, value);

	if (pos >= 0)
		return ls->ids[pos];
	if (ls->n >= limit)
		return -1;
	pos = -pos - 1;
	memmove(&ls->values[pos + 1], &ls->values[pos], sizeof(Datum) * (ls->n - pos));
	memmove(&ls->ids[pos + 1], &ls->ids[pos], sizeof(int) * (ls->n - pos));
	ls->values[pos] = CopyDatumInto(ls->cxt, value, ls->typbyval, ls->typlen);
	ls->ids[pos] = ls->n;
	return ls->n++;
}

/*
 * The text of a label: the type's output, except that booleans read
 * "false" and "true".
 */
static char *
LabelText(Datum value, Oid base_type, Oid outfunc)
{
	if (base_type == BOOLOID)
		return pstrdup(DatumGetBool(value) ? "true" : "false");
	return OidOutputFunctionCall(outfunc, value);
}

/*
 * Build the SELECT that reads the target (if any) and the source columns.
 */
static char *
BuildQuery(const char *relname, const char *target, const DatasetSpec *spec,
		   const char *order_by)
{
	StringInfoData q;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	if (target != NULL)
		appendStringInfo(&q, "%s, ", quote_identifier(target));
	for (int i = 0; i < spec->ncolumns; i++)
		appendStringInfo(&q, "%s%s", i ? ", " : "", quote_identifier(spec->names[i]));
	appendStringInfo(&q, " FROM %s", relname);
	if (order_by != NULL)
		appendStringInfo(&q, " ORDER BY %s", quote_identifier(order_by));
	return q.data;
}

/*
 * The length of an array column: given, or that of its first non-NULL
 * value (read with the caller's privileges, in a connected SPI).
 */
int
DatasetArrayColumnLength(const char *relname, const char *column, int given)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *q;
	int			len = 0;
	bool		isnull;

	if (given > 0)
		return given;
	q = psprintf("SELECT pg_catalog.cardinality(%s) FROM %s WHERE %s IS NOT NULL LIMIT 1",
				 quote_identifier(column), relname, quote_identifier(column));
	if (SPI_execute(q, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the length of array column \"%s\"", column);
	if (SPI_processed == 1)
		len = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	/* SPI returns to its own context; the caller allocates in cxt */
	MemoryContextSwitchTo(cxt);
	if (len < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array column \"%s\" has no non-empty value", column),
				 errhint("Array features need a fixed length of at least one element.")));
	return len;
}

/*
 * Describe the source columns of a read and lay out their inputs.
 */
static void
LayOutColumns(Dataset *ds, Oid relid, const DatasetSpec *spec)
{
	int			ninputs = 0;

	ds->ncolumns = spec->ncolumns;
	ds->columns = palloc0(sizeof(DatasetColumn) * Max(1, spec->ncolumns));
	for (int j = 0; j < spec->ncolumns; j++)
	{
		DatasetColumn *c = &ds->columns[j];
		AttrNumber	att = get_attnum(relid, spec->names[j]);

		if (att == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("relation %s has no column \"%s\"", ds->relname, spec->names[j]),
					 errdetail("The model needs the columns it was trained on.")));
		c->name = spec->names[j];
		c->typid = getBaseType(get_atttype(relid, att));
		c->kind = DatasetSourceKind(c->typid, c->name);
		c->first_input = ninputs;
		switch (c->kind)
		{
			case SOURCE_NUMERIC:
			case SOURCE_CATEGORICAL:
				c->ninputs = 1;
				break;
			case SOURCE_DATETIME:
				c->ninputs = (spec->array_lengths && spec->array_lengths[j])
					? spec->array_lengths[j] : DatasetDatetimeInputs(c->typid);
				break;
			case SOURCE_ARRAY:
				c->ninputs = DatasetArrayColumnLength(ds->relname, c->name,
											   spec->array_lengths ? spec->array_lengths[j] : 0);
				break;
		}
		/* compared before adding: array lengths come from the data */
		if (c->ninputs > MLOPS_MAX_FEATURES - ninputs)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many model inputs: more than %d", MLOPS_MAX_FEATURES),
					 errdetail("Column \"%s\" has %d inputs, the columns before it %d.",
							   c->name, c->ninputs, ninputs),
					 errhint("An array column has one input per element, a date column %d, a timestamp column %d; exclude columns or shorten the arrays.",
							 DATE_PARTS, DATETIME_PARTS)));
		ninputs += c->ninputs;
	}

	ds->ninputs = ninputs;
	ds->inputs = palloc0(sizeof(DatasetInput) * Max(1, ninputs));
	for (int j = 0; j < ds->ncolumns; j++)
	{
		DatasetColumn *c = &ds->columns[j];

		for (int k = 0; k < c->ninputs; k++)
		{
			DatasetInput *in = &ds->inputs[c->first_input + k];

			in->column = j;
			in->categorical = (c->kind == SOURCE_CATEGORICAL);
			if (c->kind == SOURCE_DATETIME)
				in->name = psprintf("%s.%s", c->name, datetime_part_names[k]);
			else if (c->kind == SOURCE_ARRAY)
				in->name = psprintf("%s[%d]", c->name, k + 1);
			else
				in->name = c->name;
		}
	}
}

/* per categorical column, while reading: the codes given so far */
typedef struct CategoryCodes
{
	StrMap	   *map;
	int			capacity;		/* of the input's categories array */
} CategoryCodes;

/*
 * Store the value of source column j of one row into its inputs' places
 * of out, the row's inputs.  Work memory comes from the current
 * (per-batch) context; category texts are kept in "keep".
 */
static void
StoreColumn(Dataset *ds, int j, Datum d, bool isnull, double *out,
			CategoryCodes *codes, MemoryContext keep)
{
	DatasetColumn *c = &ds->columns[j];
	DatasetInput *in = &ds->inputs[c->first_input];
	double	   *o = out + c->first_input;
	double		v;

	if (isnull)
	{
		for (int k = 0; k < c->ninputs; k++)
			o[k] = NAN;
		return;
	}
	switch (c->kind)
	{
		case SOURCE_NUMERIC:
			v = DatasetDatumNumber(d, c->typid);
			if (!isfinite(v))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("feature column \"%s\" contains %s", c->name,
								isnan(v) ? "NaN" : "an infinite value"),
						 errhint("Use NULL for missing values.")));
			o[0] = v;
			break;
		case SOURCE_CATEGORICAL:
			{
				char	   *s = DatasetCategoryText(d, c->typid);
				CategoryCodes *cc = &codes[j];
				int			code = StrMapGet(cc->map, s);

				if (code < 0)
				{
					code = in->ncategories;
					if (code >= MLOPS_MAX_READ_CATEGORIES)
						ereport(ERROR,
								(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
								 errmsg("feature column \"%s\" has more than %d distinct values",
										c->name, MLOPS_MAX_READ_CATEGORIES),
								 errhint("Exclude identifier-like columns from the features.")));
					/* the text in the map and in the input, the pointer */
					ds->bytes += 2.0 * (strlen(s) + 1) + sizeof(char *) + DATASET_MAP_ENTRY_BYTES;
					MlopsCheckTrainMemory(ds->bytes, "Reading relation %s takes %.0f kB with the %d distinct values of column \"%s\" so far.",
										  ds->relname, ceil(ds->bytes / 1024.0), code + 1, c->name);
					StrMapPut(cc->map, s, code);
					if (code >= cc->capacity)
					{
						cc->capacity = Max(16, cc->capacity * 2);
						in->categories = in->categories
							? repalloc(in->categories, sizeof(char *) * cc->capacity)
							: MemoryContextAlloc(keep, sizeof(char *) * cc->capacity);
					}
					in->categories[code] = MemoryContextStrdup(keep, s);
					in->ncategories++;
				}
				o[0] = code;
			}
			break;
		case SOURCE_DATETIME:
			DatasetDatetimeParts(d, c->typid, c->name, c->ninputs, o);
			break;
		case SOURCE_ARRAY:
			DatasetArrayValues(d, c->name, c->ninputs, o);
			break;
	}
}

/*
 * The state of one read: a DestReceiver the executor hands each row of the
 * query to, so rows go straight from the scan into the column arrays.
 */
typedef struct DatasetReceiver
{
	DestReceiver pub;
	Dataset    *ds;
	const char *target;			/* NULL for TARGET_NONE */
	TargetMode	mode;
	char	  **known_labels;	/* TARGET_KNOWN_LABELS */
	int			nknown;
	int			label_limit;
	LabelSet	ls;				/* labels collected so far (ls.cmp set) */
	int		   *label_ids;		/* first-seen label id of each row */
	Oid			target_base;
	Oid			outfunc;
	CategoryCodes *codes;		/* per source column */
	double	   *stage;			/* DATASET_STAGE_ROWS rows of inputs, row-major */
	int			staged;			/* the last rows read, still in stage */
	int64		capacity;		/* rows the arrays have room for */
	int			block_rows;		/* DatasetScan: rows per block, else 0 */
	DatasetBlockFn block_fn;
	void	   *block_arg;
	int64		block_first;	/* row number of the block's first row */
	int			rows_in_batch;	/* rows since batch_cxt was reset */
	MemoryContext outer;		/* where the data set lives */
	MemoryContext batch_cxt;	/* per-row work memory, reset now and then */
} DatasetReceiver;

/*
 * Before the first row: check the target's type against the read mode and
 * prepare the label set.
 */
static void
DatasetReceiverStartup(DestReceiver *self, int operation, TupleDesc desc)
{
	DatasetReceiver *r = (DatasetReceiver *) self;
	Dataset    *ds = r->ds;
	bool		isvarlena;

	if (r->target == NULL)
		return;
	ds->target_type = TupleDescAttr(desc, 0)->atttypid;
	r->target_base = getBaseType(ds->target_type);
	getTypeOutputInfo(ds->target_type, &r->outfunc, &isvarlena);

	if (r->mode == TARGET_REGRESSION && !DatasetIsNumericType(r->target_base))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("regression target \"%s\" has type %s", r->target,
						format_type_be(ds->target_type)),
				 errhint("A regression target must be numeric or boolean.")));
	if (r->mode == TARGET_INFER && !DatasetIsNumericType(r->target_base))
		r->mode = TARGET_COLLECT_LABELS;
	if (r->mode == TARGET_INFER && r->target_base != INT2OID && r->target_base != INT4OID &&
		r->target_base != INT8OID && r->target_base != BOOLOID)
		r->mode = TARGET_REGRESSION;

	if (r->mode == TARGET_COLLECT_LABELS || r->mode == TARGET_INFER)
	{
		TypeCacheEntry *tc = lookup_type_cache(ds->target_type, TYPECACHE_CMP_PROC_FINFO);
		LabelSet   *ls = &r->ls;

		if (!OidIsValid(tc->cmp_proc_finfo.fn_oid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("classification target \"%s\" has type %s, which has no ordering",
							r->target, format_type_be(ds->target_type))));
		ls->cmp = &tc->cmp_proc_finfo;
		ls->collation = TupleDescAttr(desc, 0)->attcollation;
		if (!OidIsValid(ls->collation))
			ls->collation = get_typcollation(ds->target_type);
		ls->typid = ds->target_type;
		ls->cxt = r->outer;
		get_typlenbyval(ds->target_type, &ls->typlen, &ls->typbyval);
		ls->values = MemoryContextAlloc(r->outer, sizeof(Datum) * (MLOPS_MAX_CLASSES + 1));
		ls->ids = MemoryContextAlloc(r->outer, sizeof(int) * (MLOPS_MAX_CLASSES + 1));
	}
	r->label_limit = (r->mode == TARGET_INFER) ? MLOPS_INFER_MAX_CLASSES : MLOPS_MAX_CLASSES;
}

/*
 * Make room for at least one more row, doubling the arrays.
 */
static void
DatasetReceiverGrow(DatasetReceiver *r)
{
	Dataset    *ds = r->ds;
	MemoryContext old = MemoryContextSwitchTo(r->outer);
	int64		newcap = r->block_rows > 0 ? r->block_rows : Max(r->capacity * 2, DATASET_MIN_ROWS);
	double		bytes;

	if (r->capacity >= INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("relation %s has more than %d rows", ds->relname, INT_MAX)));
	newcap = Min(newcap, (int64) INT_MAX);
	bytes = ds->bytes + (double) (newcap - r->capacity) *
		(sizeof(double) * (ds->ninputs + 1) + (r->ls.cmp ? sizeof(int) : 0));
	MlopsCheckTrainMemory(bytes, "Reading relation %s takes %.0f kB with room for %lld rows of %d inputs and the target.",
						  ds->relname, ceil(bytes / 1024.0), (long long) newcap, ds->ninputs);
	for (int k = 0; k < ds->ninputs; k++)
		ds->inputs[k].values = r->capacity
			? repalloc_huge(ds->inputs[k].values, sizeof(double) * newcap)
			: palloc_extended(sizeof(double) * newcap, MCXT_ALLOC_HUGE);
	ds->target = r->capacity ? repalloc_huge(ds->target, sizeof(double) * newcap)
		: palloc_extended(sizeof(double) * newcap, MCXT_ALLOC_HUGE);
	if (r->ls.cmp)
		r->label_ids = r->capacity ? repalloc_huge(r->label_ids, sizeof(int) * newcap)
			: palloc_extended(sizeof(int) * newcap, MCXT_ALLOC_HUGE);
	r->capacity = newcap;
	ds->bytes = bytes;
	MemoryContextSwitchTo(old);
}

/*
 * Store one row's target (see DatasetRead for the modes) into row "row";
 * the target is not NULL.
 */
static void
DatasetStoreTarget(DatasetReceiver *r, Datum t, int row)
{
	Dataset    *ds = r->ds;

	if (DatasetIsNumericType(r->target_base))
	{
		double		v = DatasetDatumNumber(t, r->target_base);

		if (!isfinite(v))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("target column \"%s\" contains %s", r->target,
							isnan(v) ? "NaN" : "an infinite value"),
					 errhint("Filter those rows out with a view, or set them to NULL.")));
		ds->target[row] = v;
	}
	if (r->mode == TARGET_KNOWN_LABELS)
	{
		char	   *s = LabelText(t, r->target_base, r->outfunc);
		int			k;

		for (k = 0; k < r->nknown; k++)
			if (strcmp(r->known_labels[k], s) == 0)
				break;
		if (k == r->nknown)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("label \"%s\" of target column \"%s\" was not seen in training",
							s, r->target)));
		ds->target[row] = k;
	}
	else if (r->ls.cmp != NULL)
	{
		int			id = LabelSetId(&r->ls, t, r->label_limit);

		if (id < 0 && r->mode == TARGET_INFER)
		{
			/* too many distinct values: this is a regression target */
			r->ls.cmp = NULL;
			r->mode = TARGET_REGRESSION;
		}
		else if (id < 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("target column \"%s\" has more than %d classes",
							r->target, MLOPS_MAX_CLASSES),
					 errhint("Use task => 'regression' for a numeric target.")));
		else
			r->label_ids[row] = id;
	}
}

/*
 * Move the staged rows, the last "staged" rows read, into the column
 * arrays: a wide row's inputs go to as many arrays, far apart, so rows are
 * gathered row by row and moved a block at a time, each array getting a
 * run of consecutive values.
 */
static void
DatasetReceiverFlush(DatasetReceiver *r)
{
	Dataset    *ds = r->ds;
	const double *stage = r->stage;
	int			ninputs = ds->ninputs;
	int			staged = r->staged;
	int			first = ds->nrows - staged;

	for (int k = 0; k < ninputs; k++)
	{
		double	   *restrict values = ds->inputs[k].values + first;

		for (int i = 0; i < staged; i++)
			values[i] = stage[(size_t) i * ninputs + k];
	}
	r->staged = 0;
}

/*
 * DatasetScan: hand the rows read so far (staged rows moved in first) to
 * the block function and start the next block.
 */
static void
DatasetReceiverHandBlock(DatasetReceiver *r)
{
	DatasetReceiverFlush(r);
	r->block_fn(r->ds, r->block_first, r->block_arg);
	r->block_first += r->ds->nrows;
	r->ds->nrows = 0;
}

/*
 * One row of the query: the target (attribute 1 when there is one), then
 * the source columns.  Rows with a NULL target are counted and skipped.
 */
static bool
DatasetReceiveSlot(TupleTableSlot *slot, DestReceiver *self)
{
	DatasetReceiver *r = (DatasetReceiver *) self;
	Dataset    *ds = r->ds;
	int			first = (r->target != NULL) ? 1 : 0;	/* slot index of the first column */
	MemoryContext old;

	slot_getallattrs(slot);
	if (r->target != NULL && slot->tts_isnull[0])
	{
		ds->null_targets++;
		return true;
	}
	if (ds->nrows == r->capacity && r->block_rows > 0 && ds->nrows > 0)
		DatasetReceiverHandBlock(r);
	else if (ds->nrows == r->capacity)
		DatasetReceiverGrow(r);
	if (++r->rows_in_batch == DATASET_BATCH_ROWS)
	{
		MemoryContextReset(r->batch_cxt);
		r->rows_in_batch = 0;
	}

	old = MemoryContextSwitchTo(r->batch_cxt);
	if (r->target != NULL)
		DatasetStoreTarget(r, slot->tts_values[0], ds->nrows);
	for (int j = 0; j < ds->ncolumns; j++)
		StoreColumn(ds, j, slot->tts_values[j + first], slot->tts_isnull[j + first],
					r->stage + (size_t) r->staged * ds->ninputs, r->codes, r->outer);
	ds->nrows++;
	if (++r->staged == DATASET_STAGE_ROWS)
		DatasetReceiverFlush(r);
	MemoryContextSwitchTo(old);
	return true;
}

/* nothing to release at the end of the query */
static void
DatasetReceiverShutdown(DestReceiver *self)
{
}

/* the receiver lives in DatasetRead's frame */
static void
DatasetReceiverDestroy(DestReceiver *self)
{
}

/*
 * Read the target and source columns of a relation as the calling role.
 *
 * mode says how the target is read (target is NULL for TARGET_NONE); for
 * TARGET_KNOWN_LABELS, rows are mapped onto known_labels (text) and an
 * unknown label is an error.  TARGET_INFER collects labels of an integer
 * target until there are more than MLOPS_INFER_MAX_CLASSES, then reads it
 * as a regression target; the caller learns which from nclasses.
 */
Dataset *
DatasetRead(Oid relid, const char *relname, const char *target,
			const DatasetSpec *spec, const char *order_by,
			TargetMode mode, char **known_labels, int nknown)
{
	return DatasetScan(relid, relname, target, spec, order_by, mode, known_labels, nknown,
					   0, NULL, NULL);
}

/*
 * Read as DatasetRead does, block_rows rows at a time when block_rows > 0:
 * the data set's arrays hold one block, and fn(ds, first, arg) is called
 * with each full block and the last one (ds->nrows rows, row numbers
 * first .. first + ds->nrows - 1 of the query).  Category codes stay the
 * same across blocks.  The data set returned has the columns and the
 * target's description, nrows the number of rows read and no rows (its
 * values and target are NULL).
 * Labels are collected only in DatasetRead: a scan reads a regression
 * target or none.
 */
Dataset *
DatasetScan(Oid relid, const char *relname, const char *target,
			const DatasetSpec *spec, const char *order_by,
			TargetMode mode, char **known_labels, int nknown,
			int block_rows, DatasetBlockFn fn, void *arg)
{
	Dataset    *ds = palloc0(sizeof(Dataset));
	MemoryContext outer = CurrentMemoryContext;
	DatasetReceiver r = {0};
	SPIExecuteOptions options = {0};
	SPIPlanPtr	plan;
	int			rc;

	ds->relname = pstrdup(relname);
	ds->target_name = target ? pstrdup(target) : NULL;
	if (target != NULL && get_attnum(relid, target) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("relation %s has no target column \"%s\"", relname, target),
				 errdetail("Scoring a model on labeled rows needs the project's target column next to the features.")));

	SPI_connect();
	MemoryContextSwitchTo(outer);
	LayOutColumns(ds, relid, spec);

	r.pub.receiveSlot = DatasetReceiveSlot;
	r.pub.rStartup = DatasetReceiverStartup;
	r.pub.rShutdown = DatasetReceiverShutdown;
	r.pub.rDestroy = DatasetReceiverDestroy;
	r.pub.mydest = DestNone;
	r.ds = ds;
	r.target = target;
	r.mode = mode;
	r.known_labels = known_labels;
	r.nknown = nknown;
	r.outer = outer;
	r.block_rows = block_rows;
	r.block_fn = fn;
	r.block_arg = arg;
	if (block_rows > 0 && mode != TARGET_REGRESSION && mode != TARGET_NONE)
		elog(ERROR, "a scan by blocks reads a regression target or none");
	r.batch_cxt = AllocSetContextCreate(outer, "mlops read batch", ALLOCSET_DEFAULT_SIZES);
	r.codes = palloc0(sizeof(CategoryCodes) * Max(1, ds->ncolumns));
	r.stage = palloc(sizeof(double) * DATASET_STAGE_ROWS * Max(1, ds->ninputs));
	for (int j = 0; j < ds->ncolumns; j++)
		if (ds->columns[j].kind == SOURCE_CATEGORICAL)
			r.codes[j].map = StrMapCreate(outer, 64);

	plan = SPI_prepare(BuildQuery(relname, target, spec, order_by), 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	options.read_only = true;
	options.dest = &r.pub;
	rc = SPI_execute_plan_extended(plan, &options);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan_extended failed: %s", SPI_result_code_string(rc));
	MemoryContextSwitchTo(outer);	/* SPI left us in its own context */
	MemoryContextDelete(r.batch_cxt);
	DatasetReceiverFlush(&r);
	pfree(r.stage);
	if (block_rows > 0)
	{
		/* the rows were the blocks' */
		if (ds->nrows > 0)
			DatasetReceiverHandBlock(&r);
		ds->nrows = (int) r.block_first;
		for (int k = 0; k < ds->ninputs && r.capacity > 0; k++)
		{
			pfree(ds->inputs[k].values);
			ds->inputs[k].values = NULL;
		}
		if (ds->target != NULL)
			pfree(ds->target);
		ds->target = NULL;
		ds->bytes = 0;
	}

	if (r.ls.cmp != NULL)
	{
		/* renumber first-seen ids into label order, and keep label texts */
		LabelSet   *ls = &r.ls;
		int		   *order = palloc(sizeof(int) * Max(1, ls->n));

		for (int k = 0; k < ls->n; k++)
			order[ls->ids[k]] = k;
		for (int i = 0; i < ds->nrows; i++)
			ds->target[i] = order[r.label_ids[i]];
		ds->nclasses = ls->n;
		ds->labels = palloc(sizeof(char *) * Max(1, ls->n));
		for (int k = 0; k < ls->n; k++)
			ds->labels[k] = LabelText(ls->values[k], r.target_base, r.outfunc);
		ds->labels_numeric = DatasetLabelsAreNumeric(ds->target_type);
	}
	else if (r.mode == TARGET_KNOWN_LABELS)
		ds->nclasses = nknown;

	SPI_finish();
	return ds;
}

/*
 * Keep only rows rows[0 .. n - 1] of one input of a data set, in that
 * order, and free the others' values: training releases the columns one
 * at a time as the fit stops reading them (see DatasetKeepRows).
 */
void
DatasetKeepInputRows(Dataset *ds, int input, const int *rows, int n)
{
	double	   *old = ds->inputs[input].values;
	double	   *kept = MemoryContextAllocExtended(GetMemoryChunkContext(old),
												  sizeof(double) * Max(1, n), MCXT_ALLOC_HUGE);

	for (int i = 0; i < n; i++)
		kept[i] = old[rows[i]];
	ds->inputs[input].values = kept;
	pfree(old);
}

/*
 * Keep only rows rows[0 .. n - 1] of a data set, in that order (row i
 * becomes what row rows[i] was), and free the columns of the others:
 * training drops the training rows once the fit no longer reads them and
 * keeps the held-out rows for the metrics.  Inputs before first_input
 * already hold only those rows (DatasetKeepInputRows).
 */
void
DatasetKeepRows(Dataset *ds, const int *rows, int n, int first_input)
{
	for (int k = first_input; k < ds->ninputs; k++)
		DatasetKeepInputRows(ds, k, rows, n);
	if (ds->target != NULL)
	{
		double	   *old = ds->target;
		double	   *kept = MemoryContextAllocExtended(GetMemoryChunkContext(old),
													  sizeof(double) * Max(1, n), MCXT_ALLOC_HUGE);

		for (int i = 0; i < n; i++)
			kept[i] = old[rows[i]];
		ds->target = kept;
		pfree(old);
	}
	ds->bytes -= (double) (ds->nrows - n) * sizeof(double) * (ds->ninputs + 1);
	ds->nrows = n;
}

/*
 * The targets of some rows of a dataset, in a new array.
 */
double *
DatasetTargets(const Dataset *ds, const int *rows, int n)
{
	double	   *y = palloc_extended(sizeof(double) * Max(1, n), MCXT_ALLOC_HUGE);

	for (int i = 0; i < n; i++)
		y[i] = ds->target[rows[i]];
	return y;
}
