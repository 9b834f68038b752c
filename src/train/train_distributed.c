/*-------------------------------------------------------------------------
 *
 * train_distributed.c
 *	  mlops.train on a distributed (hash-sharded) Citus table through
 *	  pushed-down partial aggregates: the workers read their shards, the
 *	  coordinator merges statistics and never holds the rows.
 *
 * TrainDistributedApplies says when: a distributed table, algorithm
 * linear, ridge or logistic, no cv, no order_by, no explicit split, any
 * feature columns (a date, timestamp or array gives the numbers reading a
 * relation gives: its parts, its elements) and preprocess
 * settings whose statistics merge (for numbers every impute but median and
 * mode, every scale but robust; for categories every encoding, target
 * encoding only for linear and ridge: FeaturizerFitsByCounts).
 * Otherwise a distributed table is read through the coordinator as any
 * relation, with a NOTICE saying why.
 *
 * The split.  Rows of a distributed table have no global order, so the
 * split cannot shuffle row positions (SplitRows).  A row is held out when
 * the top 53 bits of hash_record_extended(ROW(t.target, t.c1, ...), seed),
 * as a fraction of 2^53, fall below test_size (TrainPartialHeldOut): the
 * same on every node, whatever the shard placement and the order of the
 * rows.  The held-out share is about test_size, not exactly
 * ceil(test_size * n); rows equal in the target and every feature go to
 * the same side.
 *
 * The passes, each one query SELECT mlops.train_partial(params, model,
 * key, ROW(...)) FROM relation t, which Citus runs as worker_partial_agg in
 * every shard's task and coord_combine_agg on the coordinator (see
 * train_partial.c; DEBUG1 shows the query):
 *
 * 1. stats: the rows and NULL targets, the fingerprint, the training rows'
 *	  targets' range (a constant target is refused) or labels (sorted here
 *	  by the target type's order; a single class is refused), the transform's
 *	  statistics (NumericSummary per numeric input, category counts per
 *	  categorical input, merged) and a sample of the
 *	  training rows (those of smallest key) for the reference profile;
 * 2. fit: the featurized training rows into least squares' statistics
 *	  (the streaming QR of linear_accum.c, merged), solved as the
 *	  single-node fit solves them (LsqFinish); for logistic they give the
 *	  features' spread (the importance), and the single-node Newton solver
 *	  runs on the coordinator with every pass over the rows one aggregate
 *	  over the shards at its coefficients (LinearFitLogisticPasses): the
 *	  loss, and the gradient and Hessian when it needs them;
 * 3. eval: the held-out rows' targets and outputs by the stored model,
 *	  brought to the coordinator (8 bytes a value), whose metrics (and
 *	  curves) are those of the single-node code on them (MetricsOfOutputs).
 *
 * deploy "auto" scores the deployed model, which the registry has copied
 * to the workers, on the same held-out rows: SELECT t.target,
 * mlops.predict(model, t) FROM relation t WHERE (the held-out rule),
 * pushed down like any predict (predict_proba for a classifier with the
 * same labels).
 *
 * The reference profile is built from the training rows of the sample
 * (the mlops.drift_sample_size rows of smallest key), and the
 * held-out predictions: with at most that many training rows it is the
 * single-node profile; with more, its bins and quantiles are those of the
 * sample.
 *
 * Memory on the coordinator: the merged statistics, the sample and the
 * held-out rows' (target, prediction) pairs, checked against
 * mlops.max_train_memory.  Each pass is a statement of its own: under READ
 * COMMITTED, rows written between them make the passes disagree (an
 * error says so); REPEATABLE READ gives every pass the same rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "jsonutil.h"
#include "monitor/profile.h"
#include "ops/citus.h"
#include "ops/progress.h"
#include "serve/model.h"
#include "serve/model_cache.h"
#include "train/curves.h"
#include "train/hyperparams.h"
#include "train/linear_accum.h"
#include "train/metrics.h"
#include "train/train_distributed.h"
#include "train/train_partial.h"

/* rows fetched at a time when the deployed model scores the held-out rows */
#define DIST_COMPARE_BATCH 10000

/* a distributed training run in progress */
typedef struct DistRun
{
	const TrainRequest *req;
	const TrainPlan *plan;
	const Dataset *ds;			/* the columns */
	char	   *row;			/* ROW(t.target, t.c1, ...) */
	char	   *query;			/* the pass query */
} DistRun;

/*
 * Why a training run on the distributed table cannot use partial
 * aggregates, or NULL when it can.
 */
static char *
NotPushedDownReason(const TrainRequest *req, const TrainPlan *plan)
{
	DatasetColumn *cols;
	bool		fits;

	if (req->algorithm != ALG_LINEAR && req->algorithm != ALG_RIDGE && req->algorithm != ALG_LOGISTIC)
		return psprintf("Algorithm \"%s\" does not train through partial aggregates; linear, ridge and logistic do.",
						MlopsAlgorithmName(req->algorithm));
	if (req->cv > 0)
		return pstrdup("Cross-validation needs the rows of every fold.");
	if (req->order_by != NULL)
		return pstrdup("order_by splits the rows in time order, which needs them in one place.");
	if (req->split >= 0)
		return psprintf("split \"%s\" needs the rows in one place; without a split a distributed table is split by a hash of each row.",
						SplitKindName((SplitKind) req->split));
	if (req->algorithm != ALG_LOGISTIC && plan->target_mode != TARGET_REGRESSION)
		return pstrdup("The target is not a regression target.");
	cols = palloc0(sizeof(DatasetColumn) * Max(1, plan->ncolumns));
	for (int j = 0; j < plan->ncolumns; j++)
	{
		cols[j].name = plan->columns[j];
		cols[j].typid = getBaseType(get_atttype(plan->relid, get_attnum(plan->relid, cols[j].name)));
		cols[j].kind = DatasetSourceKind(cols[j].typid, cols[j].name);
	}
	fits = FeaturizerFitsByCounts(req->preprocess, cols, plan->ncolumns, req->algorithm);
	pfree(cols);
	if (!fits)
		return pstrdup("A preprocess setting (impute median or mode of a number or date, scale robust, encode target of a classifier) does not merge from the shards' statistics.");
	return NULL;
}

/*
 * Does this training run read a distributed table through partial
 * aggregates (see the file header)?  A distributed table that does not is
 * read through the coordinator, with a NOTICE saying why.
 */
bool
TrainDistributedApplies(const TrainRequest *req, const TrainPlan *plan)
{
	char	   *reason;

	if (!CitusIsDistributedTable(plan->relid))
		return false;
	reason = NotPushedDownReason(req, plan);
	if (reason == NULL)
		return true;
	ereport(NOTICE,
			(errmsg("mlops.train reads the distributed table %s through the coordinator", plan->relname),
			 errdetail_internal("%s", reason)));
	return false;
}

/*
 * The data set of the run without rows: its columns, inputs and target.
 * A date, timestamp or array column has the inputs reading a relation
 * gives it, named as it names them (an array's length is that of a
 * non-NULL value, DatasetArrayColumnLength).
 */
static Dataset *
DistDataset(const TrainRequest *req, const TrainPlan *plan)
{
	Dataset    *ds = palloc0(sizeof(Dataset));

	ds->relname = plan->relname;
	ds->ncolumns = plan->ncolumns;
	ds->columns = palloc0(sizeof(DatasetColumn) * Max(1, plan->ncolumns));
	ds->inputs = palloc0(sizeof(DatasetInput) * MLOPS_MAX_FEATURES);
	for (int j = 0; j < plan->ncolumns; j++)
	{
		DatasetColumn *c = &ds->columns[j];

		c->name = plan->columns[j];
		c->typid = getBaseType(get_atttype(plan->relid, get_attnum(plan->relid, c->name)));
		c->kind = DatasetSourceKind(c->typid, c->name);
		c->first_input = ds->ninputs;
		c->ninputs = c->kind == SOURCE_DATETIME ? DatasetDatetimeInputs(c->typid) : 1;
		if (c->kind == SOURCE_ARRAY)
		{
			SPI_connect();
			c->ninputs = DatasetArrayColumnLength(ds->relname, c->name, 0);
			SPI_finish();
		}
		if (c->ninputs > MLOPS_MAX_FEATURES - ds->ninputs)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many model inputs: more than %d", MLOPS_MAX_FEATURES),
					 errdetail("Column \"%s\" has %d inputs, the columns before it %d.",
							   c->name, c->ninputs, ds->ninputs)));
		for (int k = 0; k < c->ninputs; k++)
		{
			DatasetInput *in = &ds->inputs[ds->ninputs++];

			in->name = c->kind == SOURCE_DATETIME ? psprintf("%s.%s", c->name, datetime_part_names[k]) :
				c->kind == SOURCE_ARRAY ? psprintf("%s[%d]", c->name, k + 1) : c->name;
			in->column = j;
			in->categorical = c->kind == SOURCE_CATEGORICAL;
		}
	}
	ds->target_name = req->target;
	ds->target_type = get_atttype(plan->relid, get_attnum(plan->relid, req->target));
	return ds;
}

/*
 * The params of a pass (see train_partial.c): the pass, the split, the
 * columns, and what the pass adds (members, or "").
 */
static Jsonb *
DistParams(const DistRun *run, const char *pass, const char *members)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"pass\": \"%s\", \"test_size\": ", pass);
	JsonAppendDouble(&buf, run->req->test_size);
	appendStringInfoString(&buf, ", \"target\": ");
	JsonAppendString(&buf, run->req->target);
	appendStringInfoString(&buf, ", \"columns\": ");
	JsonAppendStrings(&buf, run->plan->columns, run->plan->ncolumns);
	appendStringInfoString(&buf, ", \"parts\": [");
	for (int j = 0; j < run->ds->ncolumns; j++)
		appendStringInfo(&buf, "%s%d", j > 0 ? ", " : "", run->ds->columns[j].ninputs);
	appendStringInfo(&buf, "]%s}", members);
	return JsonFromText(&buf);
}

/*
 * The error of passes that read different rows.
 */
static void
DistRowsChanged(const DistRun *run, const char *pass, int64 read, int64 expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("the rows of distributed table %s changed while training", run->plan->relname),
			 errdetail("%s read " INT64_FORMAT " rows, the first pass " INT64_FORMAT ".", pass, read, expected),
			 errhint("Train in a REPEATABLE READ transaction, which reads the same rows in every pass.")));
}

/*
 * Run one pass: its merged state, in the caller's memory context.
 */
static TrainPartial *
DistPass(const DistRun *run, Jsonb *params, bytea *model)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[3] = {JSONBOID, BYTEAOID, INT8OID};
	Datum		values[3] = {JsonbPGetDatum(params), PointerGetDatum(model),
	Int64GetDatum(run->req->seed)};
	char		nulls[3] = {' ', model == NULL ? 'n' : ' ', ' '};
	TrainPartial *st;
	bool		isnull;
	Datum		d;
	int			ret;

	SPI_connect();
	ret = SPI_execute_with_args(run->query, 3, types, values, nulls, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the partial training statistics of %s failed: %s", run->plan->relname,
			 SPI_result_code_string(ret));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	st = isnull ? NULL : TrainPartialFromBytea(DatumGetByteaPP(d), cxt);
	SPI_finish();
	return st;
}

/*
 * The held-out rule of the split in SQL, for a query of the relation as t.
 */
static char *
DistHeldOutSql(const DistRun *run)
{
	return psprintf("((pg_catalog.hash_record_extended(%s, %d) OPERATOR(pg_catalog.>>) 11)"
					" OPERATOR(pg_catalog.&) 9007199254740991)::pg_catalog.float8"
					" OPERATOR(pg_catalog./) 9007199254740992.0 OPERATOR(pg_catalog.<) %s",
					run->row, run->req->seed, float8out_internal(run->req->test_size));
}

/*
 * The labels of a classification run, from the stats pass's label texts:
 * sorted by the target type's order, as reading a relation sorts them
 * (each text is read back by the type's input function); a single class
 * in the training rows is refused.
 */
static void
DistLabels(const DistRun *run, Dataset *ds, const TrainPartial *stats)
{
	Oid			base = getBaseType(ds->target_type);
	TypeCacheEntry *tc = lookup_type_cache(base, TYPECACHE_CMP_PROC_FINFO);
	Oid			typinput,
				typioparam,
				typid,
				collation;
	int32		typmod;
	int			n = stats->nlabels;
	Datum	   *values = palloc(sizeof(Datum) * Max(1, n));
	int		   *order = palloc(sizeof(int) * Max(1, n));
	int			trained = 0;

	get_atttypetypmodcoll(run->plan->relid, get_attnum(run->plan->relid, run->req->target),
						  &typid, &typmod, &collation);
	if (!OidIsValid(collation))
		collation = get_typcollation(base);
	getTypeInputInfo(base, &typinput, &typioparam);
	for (int c = 0; c < n; c++)
	{
		values[c] = OidInputFunctionCall(typinput, stats->label_texts[c], typioparam, -1);
		order[c] = c;
	}
	/* insertion sort: at most MLOPS_MAX_CLASSES labels */
	for (int i = 1; i < n; i++)
	{
		int			c = order[i];
		int			j = i;

		while (j > 0 && DatumGetInt32(FunctionCall2Coll(&tc->cmp_proc_finfo, collation,
														values[order[j - 1]], values[c])) > 0)
		{
			order[j] = order[j - 1];
			j--;
		}
		order[j] = c;
	}
	ds->nclasses = n;
	ds->labels = palloc(sizeof(char *) * Max(1, n));
	ds->labels_numeric = DatasetLabelsAreNumeric(ds->target_type);
	for (int i = 0; i < n; i++)
	{
		ds->labels[i] = stats->label_texts[order[i]];
		trained += stats->label_train[order[i]] > 0;
	}
	if (trained < 2)
		TrainConstantTargetError(ds, TASK_CLASSIFICATION);
}

/* what a Newton pass over the shards needs */
typedef struct DistNewton
{
	const DistRun *run;
	const char *members;		/* features, labels, classes, intercept,
								 * class weights */
	int			m;
	int64		ntrain;
} DistNewton;

/*
 * One pass of Newton's method over the shards (LogisticPassFn): the
 * aggregate's newton pass at theta, added to loss, grad and hess.
 */
static void
DistNewtonPass(void *arg, const double *theta, double *loss, double *grad, double *hess)
{
	DistNewton *nt = (DistNewton *) arg;
	bytea	   *coef = palloc(VARHDRSZ + sizeof(double) * nt->m);
	TrainPartial *st;

	SET_VARSIZE(coef, VARHDRSZ + sizeof(double) * nt->m);
	memcpy(VARDATA(coef), theta, sizeof(double) * nt->m);
	st = DistPass(nt->run, DistParams(nt->run, "newton",
									  psprintf("%s, \"unknowns\": %d, \"derivatives\": %s", nt->members,
											   nt->m, grad != NULL ? "true" : "false")),
				  coef);
	if (st == NULL || st->ntrain != nt->ntrain || st->m != nt->m)
		DistRowsChanged(nt->run, "A Newton iteration", st ? st->ntrain : 0, nt->ntrain);
	*loss += st->loss;
	for (int u = 0; grad != NULL && u < nt->m; u++)
		grad[u] += st->grad[u];
	for (int j = 0; hess != NULL && j < nt->m; j++)
		for (int i = 0; i <= j; i++)
			hess[(Size) j * nt->m + i] += st->hess[(Size) j * nt->m + i];
	pfree(coef);
}

/*
 * Fit logistic regression by Newton's method, each pass over the rows one
 * aggregate over the shards; returns the serialized model.  acc holds the
 * featurized training rows' statistics (their standard deviations weigh
 * the importance, as for a single node).
 */
static bytea *
DistLogistic(const DistRun *run, const Dataset *ds, TrainStreamResult *out, const char *members,
			 LinearAccum *acc, int64 ntrain, const int64 *class_rows)
{
	const HyperParams *hp = out->hp;
	LinearParams params = {0};
	DistNewton nt = {run};
	StringInfoData buf;
	double	   *y = palloc_extended(sizeof(double) * ntrain, MCXT_ALLOC_HUGE);
	double	   *w;
	double	   *stddev = palloc(sizeof(double) * out->fz->nfeatures);
	LinearModel *m;
	int64		i = 0;

	params.C = (hp->applies[HP_C] && hp->v[HP_PENALTY] != 0) ? hp->v[HP_C] : 0.0;
	params.max_iter = hp->applies[HP_MAX_ITER] ? (int) hp->v[HP_MAX_ITER] : 1000;
	params.tol = hp->applies[HP_TOL] ? hp->v[HP_TOL] : 1e-4;
	params.fit_intercept = hp->v[HP_FIT_INTERCEPT] != 0;
	/* the class weights count the training rows' classes */
	for (int c = 0; c < ds->nclasses; c++)
		for (int64 r = 0; r < class_rows[c]; r++)
			y[i++] = c;
	w = HyperParamsClassWeights(hp, ds->labels, ds->nclasses, y, (int) ntrain);
	pfree(y);

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s, \"nclasses\": %d, \"fit_intercept\": %s, \"class_weight\": ", members,
					 ds->nclasses, params.fit_intercept ? "true" : "false");
	if (w != NULL)
		JsonAppendDoubles(&buf, w, ds->nclasses);
	else
		appendStringInfoString(&buf, "null");
	nt.members = buf.data;
	nt.m = LinearLogisticUnknowns(out->fz->nfeatures, ds->nclasses, params.fit_intercept);
	nt.ntrain = ntrain;
	MlopsSetLibraryThreads();
	m = LinearFitLogisticPasses(out->fz->nfeatures, ds->nclasses, &params, DistNewtonPass, &nt);
	if (!m->converged)
		ereport(WARNING,
				(errmsg("logistic solver did not converge in %d iterations", m->iterations),
				 errhint("Raise max_iter or tol in hyperparams.")));
	appendStringInfo(&out->info, ", \"iterations\": %d, \"converged\": %s",
					 m->iterations, m->converged ? "true" : "false");
	LinearAccumStddev(acc, stddev);
	for (int j = 0; j < m->nfeatures; j++)
	{
		double		sum = 0;

		for (int k = 0; k < m->noutputs; k++)
			sum += fabs(m->coef[(size_t) k * m->nfeatures + j]);
		out->importance[j] = sum / m->noutputs * stddev[j];
	}
	return LinearSerialize(m);
}

/*
 * Score the deployed model compare_id on the held-out rows, pushed down as
 * any predict over the distributed table (mlops.predict, or for a
 * classifier with the same labels mlops.predict_proba), into res's compare
 * members.
 */
static void
DistCompare(const DistRun *run, const Dataset *ds, int64 compare_id, int64 ntest, TrainResult *res)
{
	MlopsModel *m = ModelCacheGet(compare_id);
	MlopsTask	task = ds->nclasses > 0 ? TASK_CLASSIFICATION : TASK_REGRESSION;
	int			nout = ds->nclasses > 0 ? ds->nclasses : 1;
	char	   *query;
	double	   *y;
	double	   *pred;
	StringInfoData metrics;
	MemoryContext cxt = CurrentMemoryContext;
	SPIPlanPtr	plan;
	Portal		portal;
	int64		n;

	res->compare_problem = CompareProblem(m, task, (int) ntest);
	if (res->compare_problem != NULL)
		return;
	for (int c = 0; c < ds->nclasses; c++)
		if (m->nclasses != ds->nclasses || strcmp(m->labels[c], ds->labels[c]) != 0)
		{
			res->compare_problem = psprintf("model " INT64_FORMAT " has other labels", compare_id);
			return;
		}
	for (int j = 0; j < m->fz->nsources; j++)
		if (get_attnum(run->plan->relid, m->fz->sources[j].name) == InvalidAttrNumber)
		{
			res->compare_problem = psprintf("relation %s has no column \"%s\", which model " INT64_FORMAT " needs",
											run->plan->relname, m->fz->sources[j].name, compare_id);
			return;
		}
	query = psprintf("SELECT t.%s::pg_catalog.%s, mlops.%s(" INT64_FORMAT "::pg_catalog.int8, t)"
					 " FROM %s AS t WHERE t.%s IS NOT NULL AND %s",
					 quote_identifier(run->req->target), task == TASK_CLASSIFICATION ? "text" : "float8",
					 task == TASK_CLASSIFICATION ? "predict_proba" : "predict", compare_id,
					 run->plan->relname, quote_identifier(run->req->target), DistHeldOutSql(run));
	elog(DEBUG1, "mlops.train scores the deployed model on the held-out rows of %s: %s",
		 run->plan->relname, query);
	/* a cursor, so that only a batch of rows is held besides y and pred */
	y = MemoryContextAllocHuge(cxt, sizeof(double) * Max(1, ntest));
	pred = MemoryContextAllocHuge(cxt, sizeof(double) * nout * (Size) Max(1, ntest));
	n = 0;
	SPI_connect();
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "scoring model " INT64_FORMAT " on the held-out rows failed: %s",
			 compare_id, SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, DIST_COMPARE_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed && res->compare_problem == NULL; r++, n++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			bool		isnull;
			Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull);

			if (n >= ntest)
			{
				res->compare_problem = MemoryContextStrdup(cxt, "the held-out rows changed while training (more rows than counted)");
				break;
			}
			if (task == TASK_REGRESSION)
			{
				y[n] = DatumGetFloat8(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
				pred[n] = DatumGetFloat8(d);
				continue;
			}
			{
				char	   *label = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
				ArrayType  *arr = DatumGetArrayTypeP(d);

				y[n] = -1;
				for (int c = 0; c < ds->nclasses && y[n] < 0; c++)
					if (strcmp(ds->labels[c], label) == 0)
						y[n] = c;
				if (y[n] < 0 || ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_DIMS(arr)[0] != nout)
					res->compare_problem = MemoryContextStrdup(cxt, "the held-out rows changed while training");
				else
					memcpy(pred + (Size) n * nout, ARR_DATA_PTR(arr), sizeof(double) * nout);
			}
		}
		SPI_freetuptable(SPI_tuptable);
		if (res->compare_problem != NULL)
			break;
	}
	SPI_cursor_close(portal);
	SPI_finish();
	if (res->compare_problem != NULL)
		return;
	if (n != ntest)
	{
		res->compare_problem = psprintf("the held-out rows changed while training (" INT64_FORMAT " rows, not " INT64_FORMAT ")",
										n, ntest);
		return;
	}
	initStringInfo(&metrics);
	appendStringInfoChar(&metrics, '{');
	MetricsOfOutputs(&metrics, y, pred, (int) n, ds->nclasses);
	appendStringInfo(&metrics, ", \"test_rows\": " INT64_FORMAT "}", n);
	res->compare_metrics = JsonFromText(&metrics);
	res->compare_score = TrainScore(res->compare_metrics, res->metric);
}

/*
 * qsort_arg comparator of sampled rows (indexes) by their keys (arg), then
 * by index.
 */
static int
DistSampleKeyCmp(const void *a, const void *b, void *arg)
{
	const int64 *keys = arg;
	int			i = *(const int *) a;
	int			j = *(const int *) b;

	if (keys[i] != keys[j])
		return keys[i] < keys[j] ? -1 : 1;
	return (i > j) - (i < j);
}

/*
 * The reference profile: the sampled training rows (sorted by key, so the
 * order of the shards does not matter) and the held-out predictions.
 */
static Jsonb *
DistProfile(const TrainRequest *req, const Dataset *ds, TrainPartial *stats,
			const double *pred, int npred, int nout)
{
	Dataset		sample = *ds;
	int			n = stats->nsample;
	int			width = ds->ninputs + 1;
	int		   *order = palloc(sizeof(int) * Max(1, n));
	int		   *rows = palloc(sizeof(int) * Max(1, n));

	/* the heap's rows sorted by key (up to mlops.drift_sample_size of them) */
	for (int i = 0; i < n; i++)
	{
		order[i] = i;
		rows[i] = i;
	}
	qsort_arg(order, n, sizeof(int), DistSampleKeyCmp, stats->sample_keys);
	sample.nrows = n;
	sample.inputs = palloc(sizeof(DatasetInput) * Max(1, ds->ninputs));
	sample.target = palloc(sizeof(double) * Max(1, n));
	for (int k = 0; k < ds->ninputs; k++)
	{
		sample.inputs[k] = ds->inputs[k];
		sample.inputs[k].values = palloc(sizeof(double) * Max(1, n));
		if (sample.inputs[k].categorical)
		{
			/* the sample's category codes index the stats pass's categories */
			sample.inputs[k].categories = stats->cats[k].texts;
			sample.inputs[k].ncategories = stats->cats[k].n;
		}
	}
	for (int i = 0; i < n; i++)
	{
		const double *row = stats->sample_rows + (Size) order[i] * width;

		sample.target[i] = row[0];
		for (int k = 0; k < ds->ninputs; k++)
			sample.inputs[k].values[i] = row[k + 1];
	}
	return ProfileEnd(ProfileBegin(&sample, rows, n, req->seed), pred, npred, nout,
					  ds->nclasses > 0 ? ds->labels : NULL);
}

/*
 * Train least squares, ridge or logistic regression on a distributed table
 * through partial aggregates; see the file header.  The model compare_id
 * (or 0) is scored on the held-out rows into res's compare members.
 */
void
TrainDistributedRun(const TrainRequest *req, const TrainPlan *plan, int64 compare_id,
					TrainStreamResult *out, TrainResult *res)
{
	DistRun		run = {req, plan};
	bool		classification = req->algorithm == ALG_LOGISTIC;
	MlopsTask	task = classification ? TASK_CLASSIFICATION : TASK_REGRESSION;
	StringInfoData buf;
	Dataset    *ds;
	TrainPartial *stats;
	TrainPartial *fit;
	TrainPartial *eval;
	FeaturizerFitState *fitst;
	NumericSummary *sums;
	int64	   *class_rows = NULL;
	int			sample_size;
	int			nout;
	double		memory;
	instr_time	start,
				duration;
	double	   *y = NULL;
	double	   *pred = NULL;

	CitusCheckWorkers();
	ds = DistDataset(req, plan);
	run.ds = ds;
	initStringInfo(&buf);
	appendStringInfo(&buf, "ROW(t.%s", quote_identifier(req->target));
	for (int j = 0; j < plan->ncolumns; j++)
		appendStringInfo(&buf, ", t.%s", quote_identifier(plan->columns[j]));
	appendStringInfoChar(&buf, ')');
	run.row = pstrdup(buf.data);
	run.query = psprintf("SELECT mlops.train_partial($1, $2, pg_catalog.hash_record_extended(%s, $3), %s)"
						 " FROM %s AS t", run.row, run.row, plan->relname);
	elog(DEBUG1, "mlops.train reads the distributed table %s through partial aggregates: %s",
		 plan->relname, run.query);

	/* 1: counts, fingerprint, labels, the transform's statistics, the sample */
	MlopsProgressPhase("reading", 0);
	sample_size = Min(Min(mlops_drift_sample_size, TRAIN_PARTIAL_MAX_SAMPLE),
					  TRAIN_PARTIAL_MAX_SAMPLE_VALUES / (ds->ninputs + 1));
	stats = DistPass(&run, DistParams(&run, "stats",
									  psprintf(", \"sample_size\": %d, \"classification\": %s", sample_size,
											   classification ? "true" : "false")), NULL);
	if (stats != NULL && stats->rows > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("relation %s has " INT64_FORMAT " rows to train on", plan->relname, stats->rows),
				 errdetail("A training run takes at most %d rows.", PG_INT32_MAX)));
	ds->nrows = stats ? (int) stats->rows : 0;
	ds->null_targets = stats ? stats->null_targets : 0;
	TrainCheckRowsRead(ds);
	out->ds = ds;
	out->fingerprint = stats->fingerprint;
	out->ntrain = (int) stats->ntrain;
	out->ntest = (int) stats->ntest;
	if (stats->ntrain == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("the split of distributed table %s holds out all its " INT64_FORMAT " rows",
						plan->relname, stats->rows),
				 errdetail("On a distributed table a row is held out when a hash of its values falls below test_size (%g).",
						   req->test_size),
				 errhint("Lower test_size, or train on more rows.")));
	if (classification)
	{
		DistLabels(&run, ds, stats);
		class_rows = palloc(sizeof(int64) * ds->nclasses);
		for (int c = 0; c < ds->nclasses; c++)
			class_rows[c] = stats->label_train[StrMapGet(stats->label_map, ds->labels[c])];
	}
	else if (stats->ymin == stats->ymax)
		TrainConstantTargetError(ds, TASK_REGRESSION);
	out->hp = HyperParamsParse(req->algorithm, task, req->hyperparams);
	nout = classification ? ds->nclasses : 1;

	MlopsProgressPhase("featurizing", 0);
	fitst = FeaturizerFitBegin(ds, req->algorithm, req->preprocess);
	sums = FeaturizerFitSummaries(fitst);
	for (int k = 0; k < ds->ninputs; k++)
	{
		if (stats->categorical[k] != ds->inputs[k].categorical)
			elog(ERROR, "the shards read input \"%s\" as another kind", ds->inputs[k].name);
		if (ds->inputs[k].categorical)
			FeaturizerFitCategories(fitst, k, stats->cats[k].texts, stats->cats[k].counts,
									stats->cats[k].ysums, stats->cats[k].n, stats->summaries[k].nnull,
									stats->cats[k].null_ysum, stats->ntrain);
		else
			NumericSummaryMerge(&sums[k], &stats->summaries[k]);
	}
	out->fz = FeaturizerFitEnd(fitst, ds);
	/* the held-out pairs, their copy as y and pred, and the deployed model's */
	memory = 2.0 * LinearAccumMemory(out->fz->nfeatures) +
		(compare_id != 0 ? 3.0 : 2.0) * sizeof(double) * (1 + nout) * stats->ntest +
		2.0 * sizeof(double) * (ds->ninputs + 2) * stats->nsample;
	if (classification)
	{
		double		m = LinearLogisticUnknowns(out->fz->nfeatures, ds->nclasses, true);

		memory += sizeof(double) * (4.0 * m * m + 8.0 * stats->ntrain);
	}
	MlopsCheckTrainMemory(memory,
						  "Training on a distributed table takes %.0f kB for the %s fit, the held-out rows' targets and predictions and the profile's sample.",
						  ceil(memory / 1024.0), MlopsAlgorithmName(req->algorithm));

	/* 2: the fit (for logistic, the features' spread; then Newton's passes) */
	MlopsProgressPhase("fitting", 0);
	INSTR_TIME_SET_CURRENT(start);
	resetStringInfo(&buf);
	appendStringInfoString(&buf, ", \"features\": ");
	FeaturizerToJson(out->fz, &buf);
	if (classification)
	{
		appendStringInfoString(&buf, ", \"labels\": ");
		JsonAppendStrings(&buf, ds->labels, ds->nclasses);
	}
	fit = DistPass(&run, DistParams(&run, "fit", buf.data), NULL);
	if (fit == NULL || fit->acc == NULL || fit->ntrain != stats->ntrain)
		DistRowsChanged(&run, "The fit", fit ? fit->ntrain : 0, stats->ntrain);
	initStringInfo(&out->info);
	out->importance = palloc0(sizeof(double) * out->fz->nfeatures);
	if (classification)
		out->blob = DistLogistic(&run, ds, out, buf.data, fit->acc, stats->ntrain, class_rows);
	else
		out->blob = LsqFinish(fit->acc, req->algorithm, out->hp, &out->info, out->importance);
	appendStringInfoString(&out->info, ", \"distributed\": true");
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	out->fit_seconds = INSTR_TIME_GET_DOUBLE(duration);

	/* 3: the stored model on the held-out rows */
	initStringInfo(&out->metrics);
	if (stats->ntest > 0)
	{
		MlopsProgressPhase("evaluating", stats->ntest);
		appendStringInfo(&buf, ", \"algorithm\": \"%s\", \"nclasses\": %d",
						 MlopsAlgorithmName(req->algorithm), ds->nclasses);
		eval = DistPass(&run, DistParams(&run, "eval", buf.data), out->blob);
		if (eval == NULL || eval->ntest != stats->ntest)
			DistRowsChanged(&run, "The evaluation", eval ? eval->ntest : 0, stats->ntest);
		y = palloc_extended(sizeof(double) * eval->ntest, MCXT_ALLOC_HUGE);
		pred = palloc_extended(sizeof(double) * eval->ntest * nout, MCXT_ALLOC_HUGE);
		for (int64 i = 0; i < eval->ntest; i++)
		{
			y[i] = eval->held[(1 + nout) * i];
			memcpy(pred + i * nout, eval->held + (1 + nout) * i + 1, sizeof(double) * nout);
		}
		MetricsOfOutputs(&out->metrics, y, pred, (int) eval->ntest, ds->nclasses);
		if (classification)
			out->curves = CurvesHeldOut(pred, y, (int) eval->ntest, ds->nclasses, ds->labels);
		if (compare_id != 0)
			DistCompare(&run, ds, compare_id, stats->ntest, res);
	}
	else if (compare_id != 0)
		res->compare_problem = CompareProblem(ModelCacheGet(compare_id), task, 0);
	out->profile = DistProfile(req, ds, stats, pred, (int) stats->ntest, nout);
}
