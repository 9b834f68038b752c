/*-------------------------------------------------------------------------
 *
 * train_stream.c
 *	  mlops.train for least squares and ridge without holding the rows: the
 *	  relation is read several times, a block of rows at a time, and only
 *	  statistics are kept, so the backend's memory does not grow with the
 *	  number of rows.
 *
 * TrainStreamApplies says when: linear or ridge, a random split (no
 * order_by, no cv), every feature column numeric, and preprocess settings
 * that need no sorting (see FeaturizerFitsByBlocks); and, with
 * mlops.stream_training = auto (the default), a relation whose heap is
 * larger than mlops.max_train_memory, so that rows that would not fit are
 * streamed and the rest keep the faster path, which reads the relation
 * once (always and never force either).  Anything else trains from the
 * rows in memory as before.  The model to compare with (deploy
 * "auto") is scored on the held-out rows in the same scans, from its own
 * columns, which are read too.
 *
 * The scans, each of the same query under the same snapshot with
 * synchronized sequential scans off (so every scan sees the same rows in
 * the same order, and row numbers mean the same rows) and JIT off (LLVM's
 * memory would be most of the run's):
 *
 * 1. count the rows and fingerprint them (DatasetFingerprint of each
 *	  block, summed as the fingerprint of the whole is); integer columns go
 *	  into tuplesorts for DatasetNoticeIdColumns's check (all present, all
 *	  different);
 * 2. the split, from the row count: SplitRandomBitmap holds out the rows
 *	  SplitRows would; then the training rows give the featurizer's
 *	  statistics (FeaturizerFitAdd) and the profile's sorts
 *	  (ProfileStreamAdd);
 * 3. the training rows, featurized, into least squares' statistics
 *	  (LsqAddRows into linear_accum.c), and the profile's sample;
 * 4. the held-out rows, scored by the stored model as predict scores them
 *	  (and by the model compared with): the metrics' first pass and the
 *	  predictions' profile;
 * 5. the held-out rows again: the metrics' second pass.
 *
 * The results are those of the in-memory path: the same split, transform,
 * coefficients (the same statistics, accumulated in the same row order),
 * metrics and profile, except the profile's std, summed in sorted order,
 * which agrees to rounding.
 *
 * Memory: one block of rows, the bitmap of held-out rows (n / 8 bytes),
 * the profile's sorts (TRAIN_STREAM_SORT_KB together, spilling to
 * temporary files beyond), the statistics; and, while the split is drawn,
 * its shuffle (SplitHeldOutRows: 52 MB for 20M rows held out at 0.25,
 * freed before the scans that follow).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/table.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_operator_d.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/bufmgr.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplesort.h"

#include "jsonutil.h"
#include "monitor/profile_stream.h"
#include "ops/progress.h"
#include "serve/model_cache.h"
#include "train/linear_accum.h"
#include "train/metrics.h"
#include "train/split.h"
#include "train/train_stream.h"

/* rows read per block */
#define TRAIN_STREAM_BLOCK_ROWS 8192

/* memory of the reference profile's sorts, together (kB) */
#define TRAIN_STREAM_SORT_KB (32 * 1024)

/* the state of the scans, handed to the block functions */
typedef struct StreamState
{
	const TrainRequest *req;
	const TrainPlan *plan;
	const DatasetSpec *spec;	/* the columns read: the new model's, then
								 * those only the compared model reads */
	MemoryContext block_cxt;	/* reset for each block */
	uint8	   *held_out;		/* bitmap of held-out rows */
	int		   *rows;			/* scratch: the block's rows of one side */
	double	   *y;				/* scratch: their targets */
	double	   *pred;			/* scratch: their predictions */
	double	   *pred2;			/* scratch: the compared model's */
	uint64		fingerprint;
	Tuplesortstate **id_sorts;	/* per source column: an integer column's
								 * values, or NULL */
	bool	   *id_nulls;		/* per source column: a NULL seen */
	FeaturizerFitState *fit;
	ProfileStream *profile;
	bool		have_first;
	double		first_target;
	bool		target_varies;
	LinearAccum *acc;
	const Featurizer *fz;
	MlopsAlgorithm algorithm;
	MlopsModel *loaded;
	MetricsRegressionState metrics;
	MlopsModel *compare;		/* the model compared with, or NULL */
	char	   *compare_problem;
	MetricsRegressionState compare_metrics;
} StreamState;

/*
 * Begin the work on a block: a fresh block context, and the block's view
 * with the new model's columns only (into own).
 */
static Dataset *
BlockBegin(StreamState *st, Dataset *ds, Dataset *own, MemoryContext *old)
{
	MemoryContextReset(st->block_cxt);
	*old = MemoryContextSwitchTo(st->block_cxt);
	*own = *ds;
	if (ds->ncolumns > st->plan->ncolumns)
	{
		own->ninputs = ds->columns[st->plan->ncolumns].first_input;
		own->ncolumns = st->plan->ncolumns;
	}
	return own;
}

/*
 * Is row number "row" held out?
 */
static inline bool
IsHeldOut(const StreamState *st, int64 row)
{
	return (st->held_out[row / 8] >> (row % 8)) & 1;
}

/*
 * The rows of a block on one side of the split, into st->rows; returns
 * their number.
 */
static int
BlockRows(StreamState *st, const Dataset *ds, int64 first, bool held_out)
{
	int			n = 0;

	for (int i = 0; i < ds->nrows; i++)
		if (IsHeldOut(st, first + i) == held_out)
			st->rows[n++] = i;
	for (int i = 0; i < n; i++)
		st->y[i] = ds->target[st->rows[i]];
	return n;
}

/*
 * Scan 1: the fingerprint.
 */
static void
StreamCount(Dataset *block, int64 first, void *arg)
{
	StreamState *st = (StreamState *) arg;
	MemoryContext old;
	Dataset		view;
	Dataset    *ds = BlockBegin(st, block, &view, &old);

	st->fingerprint += DatasetFingerprint(ds);
	for (int j = 0; j < ds->ncolumns; j++)
	{
		const double *values = ds->inputs[ds->columns[j].first_input].values;

		if (st->id_sorts[j] == NULL || st->id_nulls[j])
			continue;
		for (int i = 0; i < ds->nrows && !st->id_nulls[j]; i++)
		{
			st->id_nulls[j] = isnan(values[i]);
			tuplesort_putdatum(st->id_sorts[j], Float8GetDatum(values[i]), false);
		}
	}
	MemoryContextSwitchTo(old);
}

/*
 * Scan 2: the featurizer's statistics and the profile's sorts, over the
 * training rows; whether the target varies.
 */
static void
StreamStatistics(Dataset *block, int64 first, void *arg)
{
	StreamState *st = (StreamState *) arg;
	MemoryContext old;
	Dataset		view;
	Dataset    *ds = BlockBegin(st, block, &view, &old);
	int			n = BlockRows(st, ds, first, false);

	FeaturizerFitAdd(st->fit, ds, st->rows, n);
	ProfileStreamAdd(st->profile, ds, st->rows, n);
	for (int i = 0; i < n && !st->target_varies; i++)
	{
		if (!st->have_first)
		{
			st->first_target = st->y[i];
			st->have_first = true;
		}
		st->target_varies = st->y[i] != st->first_target;
	}
	MemoryContextSwitchTo(old);
}

/*
 * Scan 3: the training rows into least squares' statistics, and the
 * profile's sample.
 */
static void
StreamFit(Dataset *block, int64 first, void *arg)
{
	StreamState *st = (StreamState *) arg;
	MemoryContext old;
	Dataset		view;
	Dataset    *ds = BlockBegin(st, block, &view, &old);
	TrainData	td = {0};

	td.algorithm = st->algorithm;
	td.n = BlockRows(st, ds, first, false);
	td.p = st->fz->nfeatures;
	td.y = st->y;
	td.fz = st->fz;
	td.ds = ds;
	td.rows = st->rows;
	LsqAddRows(st->acc, &td);
	ProfileStreamSample(st->profile, ds, st->rows, td.n);
	MemoryContextSwitchTo(old);
}

/*
 * Scans 4 and 5: the held-out rows' predictions (the new model's, and the
 * compared model's from its own columns) into one pass of the metrics;
 * the first pass also profiles the predictions.
 */
static void
StreamEvaluateBlock(Dataset *block, int64 first, StreamState *st, bool first_pass)
{
	MemoryContext old;
	Dataset		view;
	Dataset    *ds = BlockBegin(st, block, &view, &old);
	int			n = BlockRows(st, ds, first, true);

	ModelPredictDataset(st->loaded, ds, st->rows, n, st->pred);
	if (first_pass)
	{
		MetricsRegressionPass1(&st->metrics, st->y, st->pred, n);
		ProfileStreamPredictions(st->profile, st->pred, n);
	}
	else
		MetricsRegressionPass2(&st->metrics, st->y, st->pred, n);
	if (st->compare != NULL)
	{
		char	   *problem = NULL;
		Dataset    *theirs = DatasetForModel(block, st->compare, &problem);

		if (theirs == NULL)
		{
			MemoryContextSwitchTo(old);
			st->compare_problem = MemoryContextStrdup(old, problem);
			st->compare = NULL;
			return;
		}
		ModelPredictDataset(st->compare, theirs, st->rows, n, st->pred2);
		if (first_pass)
			MetricsRegressionPass1(&st->compare_metrics, st->y, st->pred2, n);
		else
			MetricsRegressionPass2(&st->compare_metrics, st->y, st->pred2, n);
	}
	MemoryContextSwitchTo(old);
}

/*
 * Scan 4: the metrics' first pass and the predictions' profile.
 */
static void
StreamEvaluate(Dataset *block, int64 first, void *arg)
{
	StreamEvaluateBlock(block, first, (StreamState *) arg, true);
}

/*
 * Scan 5: the metrics' second pass.
 */
static void
StreamEvaluateAgain(Dataset *block, int64 first, void *arg)
{
	StreamEvaluateBlock(block, first, (StreamState *) arg, false);
}

/* mlops.stream_training */
typedef enum StreamTraining
{
	STREAM_TRAINING_AUTO,
	STREAM_TRAINING_ALWAYS,
	STREAM_TRAINING_NEVER
} StreamTraining;

static const struct config_enum_entry stream_training_options[] = {
	{"auto", STREAM_TRAINING_AUTO, false},
	{"always", STREAM_TRAINING_ALWAYS, false},
	{"never", STREAM_TRAINING_NEVER, false},
	{NULL, 0, false}
};

static int	stream_training = STREAM_TRAINING_AUTO;

/*
 * Define mlops.stream_training.
 */
void
TrainStreamInit(void)
{
	DefineCustomEnumVariable("mlops.stream_training",
							 "When linear and ridge train from blocks of rows instead of the rows in memory.",
							 "auto: when the relation's heap is larger than mlops.max_train_memory; "
							 "always; never.  Both give the same model.",
							 &stream_training,
							 STREAM_TRAINING_AUTO,
							 stream_training_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}

/*
 * Bytes of the heap of a relation, summed over the leaf partitions of a
 * partitioned table; 0 for a relation without storage (a view).  The
 * caller has checked the privilege to read it.
 */
static double
RelationHeapBytes(Oid relid)
{
	List	   *rels = find_all_inheritors(relid, AccessShareLock, NULL);
	ListCell   *lc;
	double		bytes = 0;

	foreach(lc, rels)
	{
		Relation	rel = table_open(lfirst_oid(lc), AccessShareLock);

		if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
			bytes += (double) RelationGetNumberOfBlocks(rel) * BLCKSZ;
		table_close(rel, AccessShareLock);
	}
	return bytes;
}

/*
 * Does this training run train from blocks of rows (see the file header)?
 */
bool
TrainStreamApplies(const TrainRequest *req, const TrainPlan *plan)
{
	DatasetColumn *cols;
	bool		applies;

	if ((req->algorithm != ALG_LINEAR && req->algorithm != ALG_RIDGE) ||
		req->cv > 0 || req->order_by != NULL ||
		(req->split >= 0 && req->split != SPLIT_RANDOM) ||
		plan->target_mode != TARGET_REGRESSION ||
		stream_training == STREAM_TRAINING_NEVER ||
		(stream_training == STREAM_TRAINING_AUTO &&
		 RelationHeapBytes(plan->relid) <= (double) mlops_max_train_memory_kb * 1024.0))
		return false;
	cols = palloc0(sizeof(DatasetColumn) * Max(1, plan->ncolumns));
	for (int j = 0; j < plan->ncolumns; j++)
	{
		cols[j].name = plan->columns[j];
		cols[j].typid = getBaseType(get_atttype(plan->relid, get_attnum(plan->relid, cols[j].name)));
		cols[j].kind = DatasetSourceKind(cols[j].typid, cols[j].name);
	}
	applies = FeaturizerFitsByBlocks(req->preprocess, cols, plan->ncolumns, req->algorithm);
	pfree(cols);
	return applies;
}

/*
 * After scan 1: the NOTICE of DatasetNoticeIdColumns for each integer
 * column all of whose values are present and different; the sorts end.
 */
static void
StreamNoticeIdColumns(StreamState *st, const Dataset *ds)
{
	for (int j = 0; j < ds->ncolumns; j++)
	{
		Tuplesortstate *sort = st->id_sorts[j];
		bool		unique = !st->id_nulls[j];
		bool		have_prev = false;
		double		prev = 0;
		Datum		d;
		bool		isnull;

		if (sort == NULL)
			continue;
		if (unique && DatasetChecksIdColumn(&ds->columns[j], ds->nrows))
		{
			tuplesort_performsort(sort);
			while (unique && tuplesort_getdatum(sort, true, &d, &isnull, NULL))
			{
				unique = !have_prev || DatumGetFloat8(d) != prev;
				prev = DatumGetFloat8(d);
				have_prev = true;
			}
			if (unique)
				DatasetNoticeIdColumn(ds->columns[j].name);
		}
		tuplesort_end(sort);
		st->id_sorts[j] = NULL;
	}
}

/*
 * One scan of the relation, a block at a time.
 */
static Dataset *
StreamScan(DatasetBlockFn fn, StreamState *st)
{
	return DatasetScan(st->plan->relid, st->plan->relname, st->req->target, st->spec, NULL,
					   TARGET_REGRESSION, NULL, 0, TRAIN_STREAM_BLOCK_ROWS, fn, st);
}

/*
 * Train least squares or ridge from blocks of rows; see the file header.
 * spec names the columns to read (TrainReadSpec); the model compare_id (or
 * 0) is scored on the held-out rows into res's compare members.
 */
void
TrainStreamRun(const TrainRequest *req, const TrainPlan *plan, const DatasetSpec *spec,
			   int64 compare_id, TrainStreamResult *out, TrainResult *res)
{
	StreamState st = {0};
	Dataset    *ds;
	int			guc_level = NewGUCNestLevel();
	int			ntest;
	instr_time	start,
				duration;
	MlopsModel	loaded = {0};
	double		sorts;

	/*
	 * Every scan sees the rows in the same order; and JIT does not compile
	 * the same scan five times (LLVM's memory, 10 to 25 MB, would stay).
	 */
	(void) set_config_option("synchronize_seqscans", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	st.req = req;
	st.plan = plan;
	st.spec = spec;
	st.block_cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops training block",
										 ALLOCSET_DEFAULT_SIZES);
	st.algorithm = req->algorithm;
	st.pred2 = palloc(sizeof(double) * TRAIN_STREAM_BLOCK_ROWS);
	st.rows = palloc(sizeof(int) * TRAIN_STREAM_BLOCK_ROWS);
	st.y = palloc(sizeof(double) * TRAIN_STREAM_BLOCK_ROWS);
	st.pred = palloc(sizeof(double) * TRAIN_STREAM_BLOCK_ROWS);

	elog(DEBUG1, "training from relation %s read in blocks of %d rows", plan->relname,
		 TRAIN_STREAM_BLOCK_ROWS);

	/* 1: count and fingerprint; the integer columns' values sorted */
	MlopsProgressPhase("reading", 0);
	st.id_sorts = palloc0(sizeof(Tuplesortstate *) * Max(1, plan->ncolumns));
	st.id_nulls = palloc0(sizeof(bool) * Max(1, plan->ncolumns));
	for (int j = 0; j < plan->ncolumns; j++)
	{
		Oid			typid = getBaseType(get_atttype(plan->relid,
													get_attnum(plan->relid, plan->columns[j])));

		if (typid == INT2OID || typid == INT4OID || typid == INT8OID)
			st.id_sorts[j] = tuplesort_begin_datum(FLOAT8OID, Float8LessOperator, InvalidOid,
												   false, Max(64, TRAIN_STREAM_SORT_KB / plan->ncolumns),
												   NULL, TUPLESORT_NONE);
	}
	ds = StreamScan(StreamCount, &st);
	if (ds->ncolumns > plan->ncolumns)
	{
		/* the new model sees its own columns only */
		ds->ninputs = ds->columns[plan->ncolumns].first_input;
		ds->ncolumns = plan->ncolumns;
	}
	out->ds = ds;
	out->fingerprint = st.fingerprint;
	TrainCheckRowsRead(ds);
	StreamNoticeIdColumns(&st, ds);

	/* the split; then the memory this takes, which does not grow with the rows */
	st.held_out = SplitRandomBitmap(ds->nrows, req->test_size, req->seed, &ntest);
	out->ntest = ntest;
	out->ntrain = ds->nrows - ntest;
	out->hp = HyperParamsParse(req->algorithm, TASK_REGRESSION, req->hyperparams);
	/* a sort holds 32 bytes per value until it reaches its share */
	sorts = Min(TRAIN_STREAM_SORT_KB * 1024.0, 32.0 * ds->nrows * Max(1, ds->ninputs));
	MlopsCheckTrainMemory(4.0 * ds->nrows + sorts + LinearAccumMemory(Max(1, ds->ninputs)),
						  "Training from blocks of rows takes %.0f kB for the split, %.0f kB for the reference profile's sorts and %.0f kB for the %s fit.",
						  ceil(4.0 * ds->nrows / 1024.0), ceil(sorts / 1024.0),
						  ceil(LinearAccumMemory(Max(1, ds->ninputs)) / 1024.0),
						  MlopsAlgorithmName(req->algorithm));

	/* 2: the transform's statistics and the profile's sorts */
	MlopsProgressPhase("featurizing", 0);
	st.fit = FeaturizerFitBegin(ds, req->algorithm, req->preprocess);
	st.profile = ProfileStreamBegin(ds, req->seed, TRAIN_STREAM_SORT_KB);
	(void) StreamScan(StreamStatistics, &st);
	if (!st.target_varies)
		TrainConstantTargetError(ds, TASK_REGRESSION);
	out->fz = FeaturizerFitEnd(st.fit, ds);
	st.fz = out->fz;
	ProfileStreamSortDone(st.profile);

	/* 3: the fit */
	MlopsProgressPhase("fitting", 0);
	INSTR_TIME_SET_CURRENT(start);
	MlopsSetLibraryThreads();
	st.acc = LinearAccumCreate(out->fz->nfeatures);
	(void) StreamScan(StreamFit, &st);
	initStringInfo(&out->info);
	out->importance = palloc0(sizeof(double) * out->fz->nfeatures);
	out->blob = LsqFinish(st.acc, req->algorithm, out->hp, &out->info, out->importance);
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	out->fit_seconds = INSTR_TIME_GET_DOUBLE(duration);

	/* 4, 5: the stored model on the held-out rows */
	initStringInfo(&out->metrics);
	ProfileStreamPredictionsBegin(st.profile, ntest);
	if (ntest > 0)
	{
		MlopsProgressPhase("evaluating", ntest);
		loaded.algorithm = req->algorithm;
		loaded.task = TASK_REGRESSION;
		loaded.fz = out->fz;
		loaded.ops = ModelOps(req->algorithm);
		loaded.impl = loaded.ops->load(out->blob, out->fz->nfeatures, 0);
		st.loaded = &loaded;
		if (compare_id != 0)
		{
			st.compare = ModelCacheGet(compare_id);
			res->compare_problem = CompareProblem(st.compare, TASK_REGRESSION, ntest);
			if (res->compare_problem != NULL)
				st.compare = NULL;
		}
		(void) StreamScan(StreamEvaluate, &st);
		if (st.compare != NULL)
			st.compare = ModelCacheGet(compare_id);
		(void) StreamScan(StreamEvaluateAgain, &st);
		MetricsRegressionAppend(&out->metrics, &st.metrics);
		if (st.compare_problem != NULL)
			res->compare_problem = st.compare_problem;
		else if (st.compare != NULL)
		{
			StringInfoData metrics;

			initStringInfo(&metrics);
			appendStringInfoChar(&metrics, '{');
			MetricsRegressionAppend(&metrics, &st.compare_metrics);
			appendStringInfo(&metrics, ", \"test_rows\": %d}", ntest);
			res->compare_metrics = JsonFromText(&metrics);
			res->compare_score = TrainScore(res->compare_metrics, res->metric);
		}
	}
	else if (compare_id != 0)
		res->compare_problem = CompareProblem(ModelCacheGet(compare_id), TASK_REGRESSION, 0);
	out->profile = ProfileStreamEnd(st.profile);
	AtEOXact_GUC(true, guc_level);
}
