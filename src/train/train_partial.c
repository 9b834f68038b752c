/*-------------------------------------------------------------------------
 *
 * train_partial.c
 *	  Partial training statistics: the aggregate mlops.train_partial, which
 *	  Citus runs per shard in the worker tasks and merges on the
 *	  coordinator, for mlops.train on a distributed table
 *	  (train_distributed.c).
 *
 * mlops.train_partial(params jsonb, model bytea, key bigint, row record)
 * reads rows ROW(t.target, t.c1, ...): the target, then the feature source
 * columns in order: numbers, categories, dates, timestamps and arrays (a
 * date gives DATE_PARTS inputs, a timestamp DATETIME_PARTS, an array one
 * per element, as reading a relation expands them; each is a number of its
 * own).  A row is held out when its key (the caller passes
 * hash_record_extended of the same ROW with the seed) falls below
 * test_size (TrainPartialHeldOut); the other rows are the training rows.
 * Everything the pass needs travels in params (and the model in model),
 * never as a registry id: the worker connections need not see the
 * training transaction's uncommitted rows.  params is a JSON object:
 *
 *	 {"pass": "stats" | "fit" | "eval", "test_size": 0.25,
 *	  "target": "y", "columns": ["a", "b"],
 *	  "parts": [1, 5],							(per column its inputs; by
 *												 default one each)
 *	  "sample_size": 10000,						(stats)
 *	  "features": {...},						(fit, eval: the transform,
 *												 as mlops.models.features)
 *	  "algorithm": "linear", "nclasses": 0}		(eval: how to load model)
 *
 * The passes:
 * - stats: the rows and NULL targets, the fingerprint of every row
 *	 (DatasetFingerprint, a sum over rows), the training rows' count,
 *	 smallest and largest target (or, with "classification": true, every
 *	 label's rows and training rows), the summary of each numeric input
 *	 (NumericSummary: what mean/constant imputation and standard, min_max
 *	 and max_abs scaling need), the categories of each categorical input
 *	 with their counts, and the sample_size training rows of smallest key
 *	 (for the reference profile);
 * - fit: the training rows, featurized, into least squares' statistics
 *	 (linear_accum.c's streaming QR, merged by LinearAccumMerge);
 * - newton: logistic regression's weighted loss and, with "derivatives",
 *	 its gradient and Hessian at the coefficients passed as model
 *	 (LogisticAccum; params add "labels", "nclasses", "fit_intercept",
 *	 "class_weight" and "unknowns");
 * - eval: the held-out rows' targets and model outputs.
 *
 * The state is a bytea (Citus pushes down only aggregates whose state is
 * not a pseudo-type) held while it grows as an expanded object that
 * flattens to the serialized form, as mlops.drift_profile's; its combine
 * function merges two states of the same pass, so Citus runs
 * worker_partial_agg in each shard's task and coord_combine_agg on the
 * coordinator.  Counts and the fingerprint merge exactly; sums, and the
 * QR, merge to rounding.
 *
 * The serialized form and the expanded-object methods are in
 * train_partial_format.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "jsonutil.h"
#include "serve/model.h"
#include "train/dataset.h"
#include "train/featurize.h"
#include "train/train_partial.h"
#include "train/train_partial_internal.h"

PG_FUNCTION_INFO_V1(mlops_train_partial_step);
PG_FUNCTION_INFO_V1(mlops_train_partial_combine);
PG_FUNCTION_INFO_V1(mlops_train_partial_final);

/* rows hashed or scored together */
#define TRAIN_PARTIAL_BATCH		256

/* what reading rows needs, set up at the first row from params */
typedef struct TrainPartialReader
{
	double		test_size;
	char	   *target;
	char	  **columns;
	int			ncolumns;
	int		   *first;			/* per column: its first input */
	int		   *parts;			/* per column: its inputs */
	SourceKind *kinds;			/* per column: its kind */
	Featurizer *fz;				/* fit, eval */
	MlopsModel *model;			/* eval */
	Oid			rowtype;
	int32		rowtypmod;
	TupleDesc	desc;
	Oid		   *atttype;		/* per field: its base type */
	Datum	   *values;
	bool	   *nulls;
	double	   *raw;			/* the row's inputs */
	int			npending;		/* rows waiting in the batch */
	double	   *x;				/* eval: their features; fit: one row's */
	double	   *y;				/* their targets */
	int64	   *keys;			/* stats: their keys */
	bool	   *train;			/* stats: whether they are training rows */
	double	   *out;			/* eval: the model's outputs on them */
	Dataset		block;			/* stats: the batch, as DatasetFingerprint
								 * reads it */
	bool		classification; /* the target is a label */
	Oid			target_out;		/* its output function */
	char	  **texts;			/* stats: the batch's labels */
	char	 ***ctexts;			/* stats: per categorical input, the batch's
								 * category texts */
	MemoryContext batch_cxt;	/* stats: their texts */
	StrMap	   *labels;			/* label text -> class index (not stats) */
} TrainPartialReader;

/*
 * A new, empty state in a memory context of its own under parent.
 */
TrainPartial *
TrainPartialCreate(MemoryContext parent, char pass, int ninputs, int nout, int sample_size)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "mlops partial training statistics",
											  ALLOCSET_DEFAULT_SIZES);
	TrainPartial *st = MemoryContextAllocZero(cxt, sizeof(TrainPartial));

	EOH_init_header(&st->hdr, &train_partial_methods, cxt);
	st->pass = pass;
	st->ninputs = ninputs;
	st->nout = nout;
	st->sample_size = sample_size;
	st->ymin = INFINITY;
	st->ymax = -INFINITY;
	if (pass == TRAIN_PASS_STATS)
	{
		st->summaries = MemoryContextAllocZero(cxt, sizeof(NumericSummary) * Max(1, ninputs));
		st->categorical = MemoryContextAllocZero(cxt, sizeof(bool) * Max(1, ninputs));
		st->cats = MemoryContextAllocZero(cxt, sizeof(TrainPartialCats) * Max(1, ninputs));
	}
	return st;
}

/*
 * An array of a state, grown (or made) to hold capacity elements of size
 * elem.
 */
static void *
GrowArray(TrainPartial *st, void *array, Size elem, int capacity)
{
	if (array == NULL)
		return MemoryContextAlloc(st->hdr.eoh_context, elem * capacity);
	return repalloc(array, elem * capacity);
}

/*
 * Count a category of categorical input k, adding ysum to the sum of its
 * targets; returns its index.
 */
int
TrainPartialCatAdd(TrainPartial *st, int k, const char *text, int64 count, double ysum)
{
	TrainPartialCats *cats = &st->cats[k];
	int			c;

	if (cats->map == NULL)
		cats->map = StrMapCreate(st->hdr.eoh_context, 16);
	c = StrMapGet(cats->map, text);
	if (c < 0)
	{
		if (cats->n == cats->capacity)
		{
			cats->capacity = Max(16, cats->capacity * 2);
			cats->texts = GrowArray(st, cats->texts, sizeof(char *), cats->capacity);
			cats->counts = GrowArray(st, cats->counts, sizeof(int64), cats->capacity);
			cats->ysums = GrowArray(st, cats->ysums, sizeof(double), cats->capacity);
		}
		c = cats->n++;
		cats->texts[c] = MemoryContextStrdup(st->hdr.eoh_context, text);
		cats->counts[c] = 0;
		cats->ysums[c] = 0;
		StrMapPut(cats->map, cats->texts[c], c);
	}
	cats->counts[c] += count;
	cats->ysums[c] += ysum;
	return c;
}

/*
 * Size the sums of a newton state: m unknowns, with derivatives or not.
 */
void
TrainPartialNewtonSize(TrainPartial *st, int m, bool derivatives)
{
	st->m = m;
	st->derivatives = derivatives;
	if (derivatives)
	{
		st->grad = MemoryContextAllocZero(st->hdr.eoh_context, sizeof(double) * m);
		st->hess = MemoryContextAllocZero(st->hdr.eoh_context, sizeof(double) * m * (Size) m);
	}
}

/*
 * Count a label of the stats pass: count rows, of which train are
 * training rows.
 */
void
TrainPartialLabelAdd(TrainPartial *st, const char *text, int64 count, int64 train)
{
	int			c;

	if (st->label_map == NULL)
		st->label_map = StrMapCreate(st->hdr.eoh_context, 16);
	c = StrMapGet(st->label_map, text);
	if (c < 0)
	{
		if (st->nlabels >= MLOPS_MAX_CLASSES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the target of mlops.train_partial has more than %d classes", MLOPS_MAX_CLASSES)));
		if (st->nlabels == st->label_capacity)
		{
			st->label_capacity = Max(16, st->label_capacity * 2);
			st->label_texts = GrowArray(st, st->label_texts, sizeof(char *), st->label_capacity);
			st->label_rows = GrowArray(st, st->label_rows, sizeof(int64), st->label_capacity);
			st->label_train = GrowArray(st, st->label_train, sizeof(int64), st->label_capacity);
		}
		c = st->nlabels++;
		st->label_texts[c] = MemoryContextStrdup(st->hdr.eoh_context, text);
		st->label_rows[c] = 0;
		st->label_train[c] = 0;
		StrMapPut(st->label_map, st->label_texts[c], c);
	}
	st->label_rows[c] += count;
	st->label_train[c] += train;
}

/*
 * Offer a sampled row (target and inputs) with its key: kept when the
 * sample has room or its key is smaller than the largest kept, which it
 * then replaces (a max-heap by key; rows of equal key hash equal values).
 */
void
TrainPartialSampleAdd(TrainPartial *st, int64 key, const double *row)
{
	int			width = st->ninputs + 1;
	int			i;

	if (st->sample_size == 0)
		return;
	if (st->sample_keys == NULL)
	{
		st->sample_keys = MemoryContextAlloc(st->hdr.eoh_context, sizeof(int64) * st->sample_size);
		st->sample_rows = MemoryContextAllocHuge(st->hdr.eoh_context,
												 sizeof(double) * width * (Size) st->sample_size);
	}
	if (st->nsample < st->sample_size)
	{
		/* sift up */
		i = st->nsample++;
		while (i > 0 && st->sample_keys[(i - 1) / 2] < key)
		{
			st->sample_keys[i] = st->sample_keys[(i - 1) / 2];
			memcpy(st->sample_rows + (Size) i * width, st->sample_rows + (Size) ((i - 1) / 2) * width,
				   sizeof(double) * width);
			i = (i - 1) / 2;
		}
	}
	else
	{
		if (key >= st->sample_keys[0])
			return;
		/* replace the largest and sift down */
		i = 0;
		for (;;)
		{
			int			c = 2 * i + 1;

			if (c >= st->nsample)
				break;
			if (c + 1 < st->nsample && st->sample_keys[c] < st->sample_keys[c + 1])
				c++;
			if (key >= st->sample_keys[c])
				break;
			st->sample_keys[i] = st->sample_keys[c];
			memcpy(st->sample_rows + (Size) i * width, st->sample_rows + (Size) c * width,
				   sizeof(double) * width);
			i = c;
		}
	}
	st->sample_keys[i] = key;
	memcpy(st->sample_rows + (Size) i * width, row, sizeof(double) * width);
}

/*
 * Append held-out rows (target, then nout outputs each) to an eval state.
 */
static void
TrainPartialHeldAdd(TrainPartial *st, const double *y, const double *out, int n)
{
	int			width = st->nout + 1;

	if (st->ntest + n > st->capacity)
	{
		int64		capacity = Max(1024, Max(st->capacity * 2, st->ntest + n));
		Size		bytes = sizeof(double) * width * (Size) capacity;

		st->held = st->held == NULL ? MemoryContextAllocHuge(st->hdr.eoh_context, bytes)
			: repalloc_huge(st->held, bytes);
		st->capacity = capacity;
	}
	for (int i = 0; i < n; i++)
	{
		double	   *dst = st->held + (Size) (st->ntest + i) * width;

		dst[0] = y[i];
		memcpy(dst + 1, out + (Size) i * st->nout, sizeof(double) * st->nout);
	}
	st->ntest += n;
}

/*
 * Work through the rows waiting in the batch: the fingerprint of the
 * stats pass (and the training rows' summaries and sample), the model's
 * outputs of the eval pass.
 */
void
TrainPartialFlush(TrainPartial *st)
{
	TrainPartialReader *r = st->reader;
	int			n;

	if (st->lacc != NULL)
		LogisticAccumTake(st->lacc, &st->loss, st->grad, st->hess);
	if (r == NULL || r->npending == 0)
		return;
	n = r->npending;
	r->npending = 0;
	if (st->pass == TRAIN_PASS_EVAL)
	{
		ModelPredictRows(r->model, r->x, n, r->out);
		TrainPartialHeldAdd(st, r->y, r->out, n);
		return;
	}
	r->block.nrows = n;
	st->fingerprint += DatasetFingerprint(&r->block);
	for (int i = 0; i < n; i++)
	{
		double	   *row = r->raw;

		if (r->classification)
			TrainPartialLabelAdd(st, r->texts[i], 1, r->train[i] ? 1 : 0);
		if (!r->train[i])
			continue;
		row[0] = r->y[i];
		st->ymin = Min(st->ymin, r->y[i]);
		st->ymax = Max(st->ymax, r->y[i]);
		for (int k = 0; k < st->ninputs; k++)
		{
			row[k + 1] = r->block.inputs[k].values[i];
			NumericSummaryAdd(&st->summaries[k], st->categorical[k] && !isnan(row[k + 1]) ? 0 : row[k + 1]);
			if (!st->categorical[k])
				continue;
			/* a classification run's row[0] is no target value */
			if (!isnan(row[k + 1]))
				row[k + 1] = TrainPartialCatAdd(st, k, r->ctexts[k][i], 1, r->classification ? 0 : row[0]);
			else if (!r->classification)
				st->cats[k].null_ysum += row[0];
		}
		TrainPartialSampleAdd(st, r->keys[i], row);
	}
	if (r->batch_cxt != NULL)
		MemoryContextReset(r->batch_cxt);
}

/*
 * A boolean of params.
 */
static bool
ParamBool(JsonbContainer *params, const char *key)
{
	JsonbValue *v = JsonGet(params, key);

	if (v == NULL || v->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of mlops.train_partial's params must be true or false", key)));
	return v->val.boolean;
}

/*
 * A JSON array of strings from params, n elements.
 */
static char **
ParamStrings(JsonbContainer *params, const char *key, int n)
{
	JsonbContainer *arr = JsonGetContainer(params, key);
	char	  **out = palloc(sizeof(char *) * Max(1, n));

	if (!JsonContainerIsArray(arr) || JsonContainerSize(arr) != (uint32) n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of mlops.train_partial's params must be an array of %d names", key, n)));
	for (int j = 0; j < n; j++)
	{
		JsonbValue *v = JsonArrayElement(arr, j);

		if (v->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" of mlops.train_partial's params must be an array of %d names", key, n)));
		out[j] = JsonValueToCString(v);
	}
	return out;
}

/*
 * The inputs of each of the ncolumns columns ("parts" of params, one each
 * by default), and their sum in *total.
 */
static int *
ParamParts(JsonbContainer *params, int ncolumns, int *total)
{
	JsonbValue *v = JsonGet(params, "parts");
	JsonbContainer *arr = v != NULL && v->type == jbvBinary ? v->val.binary.data : NULL;
	int		   *parts = palloc(sizeof(int) * Max(1, ncolumns));
	double		sum = 0;

	if ((v != NULL && arr == NULL) ||
		(arr != NULL && (!JsonContainerIsArray(arr) || JsonContainerSize(arr) != (uint32) ncolumns)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"parts\" of mlops.train_partial's params must hold %d numbers of inputs", ncolumns)));
	for (int j = 0; j < ncolumns; j++)
	{
		double		n = 1;

		if (arr != NULL && (!JsonValueNumber(JsonArrayElement(arr, j), &n) || !(n >= 1 && n <= MLOPS_MAX_FEATURES) ||
							n != floor(n)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"parts\" of mlops.train_partial's params must hold %d numbers of inputs", ncolumns)));
		parts[j] = (int) n;
		sum += n;
	}
	if (sum > MLOPS_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the columns of mlops.train_partial's params have more than %d inputs", MLOPS_MAX_FEATURES)));
	*total = (int) sum;
	return parts;
}

/*
 * Set up reading rows of a row type for a state: the params, the model of
 * an eval pass, the fields' types.
 */
static TrainPartialReader *
TrainPartialReaderCreate(TrainPartial *st, Jsonb *params, bytea *model, Oid rowtype,
						 int32 rowtypmod)
{
	MemoryContext old = MemoryContextSwitchTo(st->hdr.eoh_context);
	TrainPartialReader *r = palloc0(sizeof(TrainPartialReader));
	JsonbContainer *pc = &params->root;
	int			p = 1;
	int			ninputs;

	r->test_size = JsonGetDouble(pc, "test_size");
	if (!(r->test_size >= 0.0 && r->test_size < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_size of mlops.train_partial must be at least 0 and less than 1")));
	r->target = JsonGetString(pc, "target");
	r->ncolumns = JsonContainerSize(JsonGetContainer(pc, "columns"));
	r->columns = ParamStrings(pc, "columns", r->ncolumns);
	r->parts = ParamParts(pc, r->ncolumns, &ninputs);
	if (st->pass != TRAIN_PASS_STATS)
	{
		JsonbValue *f = JsonGet(pc, "features");

		if (f == NULL || f->type != jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the %s pass of mlops.train_partial needs \"features\" in params",
							st->pass == TRAIN_PASS_FIT ? "fit" : st->pass == TRAIN_PASS_EVAL ? "eval" : "newton")));
		r->fz = FeaturizerFromJson(JsonbValueToJsonb(f));
		if (r->fz->nsources != r->ncolumns || r->fz->ninputs != st->ninputs)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the features of mlops.train_partial's params do not match its %d columns",
							r->ncolumns)));
		p = r->fz->nfeatures;
	}
	if (st->pass == TRAIN_PASS_STATS)
		r->classification = ParamBool(pc, "classification");
	else
	{
		JsonbValue *labels = JsonGet(pc, "labels");

		r->classification = labels != NULL && labels->type == jbvBinary;
		if (r->classification)
		{
			int			nlabels = JsonContainerSize(labels->val.binary.data);
			char	  **texts = ParamStrings(pc, "labels", nlabels);

			if (nlabels < 2 || nlabels > MLOPS_MAX_CLASSES)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"labels\" of mlops.train_partial's params must name 2 to %d labels",
								MLOPS_MAX_CLASSES)));
			r->labels = StrMapCreate(CurrentMemoryContext, nlabels);
			for (int c = 0; c < nlabels; c++)
				StrMapPut(r->labels, texts[c], c);
		}
	}
	if (st->pass == TRAIN_PASS_FIT)
		st->acc = LinearAccumCreate(p);
	if (st->pass == TRAIN_PASS_NEWTON)
	{
		JsonbValue *weights = JsonGet(pc, "class_weight");
		int			nclasses = JsonGetInt(pc, "nclasses");
		bool		intercept = ParamBool(pc, "fit_intercept");
		double	   *class_weight = NULL;

		if (nclasses < 2 || nclasses > MLOPS_MAX_CLASSES || !r->classification ||
			LinearLogisticUnknowns(p, nclasses, intercept) != st->m)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the newton pass of mlops.train_partial needs labels, nclasses and coefficients that fit the features")));
		if (model == NULL || VARSIZE(model) - VARHDRSZ != sizeof(double) * st->m)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the newton pass of mlops.train_partial needs %d coefficients", st->m)));
		if (weights != NULL && weights->type == jbvBinary)
		{
			JsonbContainer *arr = weights->val.binary.data;

			if (!JsonContainerIsArray(arr) || JsonContainerSize(arr) != (uint32) nclasses)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"class_weight\" of mlops.train_partial's params must hold %d numbers", nclasses)));
			class_weight = palloc(sizeof(double) * nclasses);
			for (int c = 0; c < nclasses; c++)
				if (!JsonValueNumber(JsonArrayElement(arr, c), &class_weight[c]) ||
					!isfinite(class_weight[c]) || class_weight[c] < 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("\"class_weight\" of mlops.train_partial's params must hold %d numbers", nclasses)));
		}
		st->lacc = LogisticAccumCreate(p, nclasses, intercept, class_weight,
									   (const double *) VARDATA(model), st->derivatives);
	}
	if (st->pass == TRAIN_PASS_EVAL)
	{
		MlopsModel *m = palloc0(sizeof(MlopsModel));

		if (model == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the eval pass of mlops.train_partial needs the model")));
		m->algorithm = MlopsAlgorithmFromName(JsonGetString(pc, "algorithm"));
		m->nclasses = JsonGetInt(pc, "nclasses");
		m->task = m->nclasses > 0 ? TASK_CLASSIFICATION : TASK_REGRESSION;
		m->fz = r->fz;
		m->ops = ModelOps(m->algorithm);
		m->impl = m->ops->load(model, r->fz->nfeatures, m->nclasses);
		m->mcxt = CurrentMemoryContext;
		if (ModelOutputs(m) != st->nout)
			TrainPartialCorrupted("The state has a different number of outputs than the model.");
		r->model = m;
	}

	r->rowtype = rowtype;
	r->rowtypmod = rowtypmod;
	r->desc = lookup_rowtype_tupdesc_copy(rowtype, rowtypmod);
	if (r->desc->natts != r->ncolumns + 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the row of mlops.train_partial has %d fields, but its params name a target and %d columns",
						r->desc->natts, r->ncolumns),
				 errhint("Pass ROW(t.target, t.c1, t.c2, ...) in the order of the params' columns.")));
	r->atttype = palloc(sizeof(Oid) * r->desc->natts);
	r->first = palloc(sizeof(int) * r->ncolumns);
	r->kinds = palloc(sizeof(SourceKind) * r->ncolumns);
	for (int j = 0, k = 0; j < r->desc->natts; j++)
	{
		SourceKind	kind = SOURCE_NUMERIC;
		bool		known;
		int			parts = 1;

		r->atttype[j] = getBaseType(TupleDescAttr(r->desc, j)->atttypid);
		known = j > 0 && DatasetSourceKindOf(r->atttype[j], &kind);
		if (known)
		{
			/* an array has as many inputs as the params say, checked row by row */
			parts = kind == SOURCE_DATETIME ? DatasetDatetimeInputs(r->atttype[j]) :
				kind == SOURCE_ARRAY ? r->parts[j - 1] : 1;
			r->first[j - 1] = k;
			r->kinds[j - 1] = kind;
			k += r->parts[j - 1];
		}
		if (j == 0 ? !(r->classification || DatasetIsNumericType(r->atttype[j]))
			: (!known || parts != r->parts[j - 1] ||
			   (r->fz != NULL && (r->fz->sources[j - 1].kind != kind ||
								  r->fz->sources[j - 1].first_input != r->first[j - 1] ||
								  r->fz->sources[j - 1].ninputs != r->parts[j - 1]))))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s column \"%s\" of mlops.train_partial has type %s, which %s",
							j == 0 ? "target" : "feature", j == 0 ? r->target : r->columns[j - 1],
							format_type_be(r->atttype[j]),
							j == 0 ? "is not numeric" : r->fz != NULL ? "does not fit the features" :
							!known ? "is not a feature type" :
							psprintf("gives %d inputs, not the %d of the params' \"parts\"", parts, r->parts[j - 1]))));
		if (j > 0 && st->pass == TRAIN_PASS_STATS)
			st->categorical[r->first[j - 1]] = kind == SOURCE_CATEGORICAL;
	}
	if (ninputs != st->ninputs)
		TrainPartialCorrupted("The state has a different number of inputs than the params.");
	r->values = palloc(sizeof(Datum) * r->desc->natts);
	r->nulls = palloc(sizeof(bool) * r->desc->natts);
	r->raw = palloc(sizeof(double) * (st->ninputs + 1));
	r->x = palloc(sizeof(double) * (Size) TRAIN_PARTIAL_BATCH * p);
	r->y = palloc(sizeof(double) * TRAIN_PARTIAL_BATCH);
	r->keys = palloc(sizeof(int64) * TRAIN_PARTIAL_BATCH);
	r->train = palloc(sizeof(bool) * TRAIN_PARTIAL_BATCH);
	r->out = palloc(sizeof(double) * (Size) TRAIN_PARTIAL_BATCH * Max(1, st->nout));
	r->block.target_name = r->target;
	r->block.target = r->y;
	if (r->classification)
	{
		bool		varlena;

		getTypeOutputInfo(r->atttype[0], &r->target_out, &varlena);
		r->texts = palloc(sizeof(char *) * TRAIN_PARTIAL_BATCH);
		r->block.labels = r->texts;
		r->block.nclasses = 1;	/* each row's label is its own text */
	}
	r->block.ninputs = st->ninputs;
	r->block.inputs = palloc0(sizeof(DatasetInput) * Max(1, st->ninputs));
	for (int j = 0; j < r->ncolumns; j++)
		for (int k = r->first[j]; k < r->first[j] + r->parts[j]; k++)
		{
			r->block.inputs[k].name = r->columns[j];
			r->block.inputs[k].column = j;
			r->block.inputs[k].values = palloc(sizeof(double) * TRAIN_PARTIAL_BATCH);
		}
	if (st->pass == TRAIN_PASS_STATS)
	{
		r->ctexts = palloc0(sizeof(char **) * Max(1, st->ninputs));
		for (int k = 0; k < st->ninputs; k++)
			if (st->categorical[k])
			{
				r->ctexts[k] = palloc(sizeof(char *) * TRAIN_PARTIAL_BATCH);
				r->block.inputs[k].categorical = true;
				r->block.inputs[k].categories = r->ctexts[k];
				r->block.inputs[k].ncategories = TRAIN_PARTIAL_BATCH;
			}
		r->batch_cxt = AllocSetContextCreate(st->hdr.eoh_context, "mlops training texts",
											 ALLOCSET_DEFAULT_SIZES);
	}
	MemoryContextSwitchTo(old);
	return r;
}

/*
 * A number of a row: the value, NaN for NULL; an error names a column
 * holding NaN or an infinite value, as reading a relation does.
 */
static double
TrainPartialNumber(TrainPartialReader *r, int j)
{
	double		v;

	if (r->nulls[j])
		return NAN;
	v = DatasetDatumNumber(r->values[j], r->atttype[j]);
	if (!isfinite(v))
	{
		if (j == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("target column \"%s\" contains %s", r->target,
							isnan(v) ? "NaN" : "an infinite value"),
					 errhint("Filter those rows out with a view, or set them to NULL.")));
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("feature column \"%s\" contains %s", r->columns[j - 1],
						isnan(v) ? "NaN" : "an infinite value"),
				 errhint("Use NULL for missing values.")));
	}
	return v;
}

/*
 * The inputs of date, timestamp or array column j of a row into row i of
 * the batch, as reading a relation expands them (NaN for NULL; what it
 * refuses, an infinite date or an array of another length, is refused
 * here too).
 */
static void
TrainPartialParts(TrainPartialReader *r, int j, int i)
{
	double	   *parts = r->raw + r->first[j];

	for (int p = 0; p < r->parts[j]; p++)
		parts[p] = NAN;
	if (!r->nulls[j + 1] && r->kinds[j] == SOURCE_DATETIME)
		DatasetDatetimeParts(r->values[j + 1], r->atttype[j + 1], r->columns[j], r->parts[j], parts);
	else if (!r->nulls[j + 1])
		DatasetArrayValues(r->values[j + 1], r->columns[j], r->parts[j], parts);
	for (int p = 0; p < r->parts[j]; p++)
		r->block.inputs[r->first[j] + p].values[i] = parts[p];
}

/*
 * Add one row with its key to the state.  Work memory comes from the
 * caller's (per-row) context.
 */
static void
TrainPartialAddRow(TrainPartial *st, Jsonb *params, bytea *model, HeapTupleHeader th, int64 key)
{
	TrainPartialReader *r = st->reader;
	HeapTupleData tuple;
	bool		held_out;
	double		y;
	int			i;

	if (r == NULL || r->rowtype != HeapTupleHeaderGetTypeId(th) ||
		r->rowtypmod != HeapTupleHeaderGetTypMod(th))
	{
		TrainPartialFlush(st);
		if (st->acc != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("the rows of mlops.train_partial must all have the same type")));
		r = st->reader = TrainPartialReaderCreate(st, params, model, HeapTupleHeaderGetTypeId(th),
												  HeapTupleHeaderGetTypMod(th));
	}
	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	heap_deform_tuple(&tuple, r->desc, r->values, r->nulls);
	if (r->nulls[0])
	{
		if (st->pass == TRAIN_PASS_STATS)
			st->null_targets++;
		return;
	}
	if (!r->classification)
		y = TrainPartialNumber(r, 0);
	else
	{
		/* the label's text as reading a relation gives it: booleans read false and true */
		char	   *text = r->atttype[0] == BOOLOID ?
			pstrdup(DatumGetBool(r->values[0]) ? "true" : "false") :
			OidOutputFunctionCall(r->target_out, r->values[0]);

		if (st->pass == TRAIN_PASS_STATS)
		{
			r->texts[r->npending] = MemoryContextStrdup(r->batch_cxt, text);
			y = r->npending;
		}
		else if ((y = StrMapGet(r->labels, text)) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("label \"%s\" of target column \"%s\" was not seen in training",
							text, r->target)));
	}
	held_out = TrainPartialHeldOut(key, r->test_size);
	st->rows++;
	switch (st->pass)
	{
		case TRAIN_PASS_STATS:
			i = r->npending++;
			r->y[i] = y;
			r->keys[i] = key;
			r->train[i] = !held_out;
			for (int j = 0; j < r->ncolumns; j++)
			{
				int			k = r->first[j];

				if (r->kinds[j] == SOURCE_DATETIME || r->kinds[j] == SOURCE_ARRAY)
					TrainPartialParts(r, j, i);
				else if (!st->categorical[k])
					r->block.inputs[k].values[i] = TrainPartialNumber(r, j + 1);
				else if (r->nulls[j + 1])
					r->block.inputs[k].values[i] = NAN;
				else
				{
					r->ctexts[k][i] = MemoryContextStrdup(r->batch_cxt,
														  DatasetCategoryText(r->values[j + 1], r->atttype[j + 1]));
					r->block.inputs[k].values[i] = i;
				}
			}
			if (held_out)
				st->ntest++;
			else
				st->ntrain++;
			break;
		case TRAIN_PASS_FIT:
			if (held_out)
				return;
			for (int j = 0; j < r->ncolumns; j++)
				FeaturizerRawFromDatum(r->fz, j, r->values[j + 1], r->atttype[j + 1],
									   r->nulls[j + 1], r->raw);
			FeaturizerApply(r->fz, r->raw, r->x);
			LinearAccumAddRow(st->acc, r->x, y);
			st->ntrain++;
			return;
		case TRAIN_PASS_NEWTON:
			if (held_out)
				return;
			for (int j = 0; j < r->ncolumns; j++)
				FeaturizerRawFromDatum(r->fz, j, r->values[j + 1], r->atttype[j + 1],
									   r->nulls[j + 1], r->raw);
			FeaturizerApply(r->fz, r->raw, r->x);
			LogisticAccumAddRow(st->lacc, r->x, (int) y);
			st->ntrain++;
			return;
		case TRAIN_PASS_EVAL:
			if (!held_out)
				return;
			for (int j = 0; j < r->ncolumns; j++)
				FeaturizerRawFromDatum(r->fz, j, r->values[j + 1], r->atttype[j + 1],
									   r->nulls[j + 1], r->raw);
			i = r->npending++;
			FeaturizerApply(r->fz, r->raw, r->x + (Size) i * r->fz->nfeatures);
			r->y[i] = y;
			break;
	}
	if (r->npending == TRAIN_PARTIAL_BATCH)
		TrainPartialFlush(st);
}

/*
 * Add another state of the same pass.
 */
static void
TrainPartialMerge(TrainPartial *st, TrainPartial *other)
{
	if (other->pass != st->pass || other->ninputs != st->ninputs || other->nout != st->nout ||
		other->sample_size != st->sample_size || other->m != st->m ||
		other->derivatives != st->derivatives)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge partial training statistics of different passes or columns")));
	TrainPartialFlush(st);
	TrainPartialFlush(other);
	st->rows += other->rows;
	st->null_targets += other->null_targets;
	st->ntrain += other->ntrain;
	switch (st->pass)
	{
		case TRAIN_PASS_STATS:
			st->ntest += other->ntest;
			st->fingerprint += other->fingerprint;
			st->ymin = Min(st->ymin, other->ymin);
			st->ymax = Max(st->ymax, other->ymax);
			for (int k = 0; k < st->ninputs; k++)
			{
				NumericSummaryMerge(&st->summaries[k], &other->summaries[k]);
				if (st->rows - other->rows == 0 && st->nsample == 0)
					st->categorical[k] = other->categorical[k];
				if (st->categorical[k] != other->categorical[k])
					TrainPartialCorrupted("The kinds of an input differ.");
				for (int c = 0; c < other->cats[k].n; c++)
					(void) TrainPartialCatAdd(st, k, other->cats[k].texts[c], other->cats[k].counts[c],
											  other->cats[k].ysums[c]);
				st->cats[k].null_ysum += other->cats[k].null_ysum;
			}
			{
				double	   *row = palloc(sizeof(double) * (st->ninputs + 1));

				for (int s = 0; s < other->nsample; s++)
				{
					memcpy(row, other->sample_rows + (Size) s * (st->ninputs + 1),
						   sizeof(double) * (st->ninputs + 1));
					for (int k = 0; k < st->ninputs; k++)
						if (st->categorical[k] && !isnan(row[k + 1]))
							row[k + 1] = TrainPartialCatAdd(st, k, other->cats[k].texts[(int) row[k + 1]], 0, 0);
					TrainPartialSampleAdd(st, other->sample_keys[s], row);
				}
				pfree(row);
			}
			for (int c = 0; c < other->nlabels; c++)
				TrainPartialLabelAdd(st, other->label_texts[c], other->label_rows[c],
									 other->label_train[c]);
			break;
		case TRAIN_PASS_NEWTON:
			st->loss += other->loss;
			for (int u = 0; st->derivatives && u < st->m; u++)
				st->grad[u] += other->grad[u];
			for (int j = 0; st->derivatives && j < st->m; j++)
				for (int i = 0; i <= j; i++)
					st->hess[(Size) j * st->m + i] += other->hess[(Size) j * other->m + i];
			break;
		case TRAIN_PASS_FIT:
			if (other->acc != NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(st->hdr.eoh_context);

				if (st->acc == NULL)
					st->acc = LinearAccumCreate(LinearAccumFeatures(other->acc));
				LinearAccumMerge(st->acc, other->acc);
				MemoryContextSwitchTo(old);
			}
			break;
		case TRAIN_PASS_EVAL:
			for (int64 i = 0; i < other->ntest; i += TRAIN_PARTIAL_BATCH)
			{
				int			n = (int) Min(TRAIN_PARTIAL_BATCH, other->ntest - i);
				double		y[TRAIN_PARTIAL_BATCH];
				double	   *out = palloc(sizeof(double) * (Size) n * Max(1, st->nout));

				for (int r = 0; r < n; r++)
				{
					const double *src = other->held + (Size) (i + r) * (st->nout + 1);

					y[r] = src[0];
					memcpy(out + (Size) r * st->nout, src + 1, sizeof(double) * st->nout);
				}
				TrainPartialHeldAdd(st, y, out, n);
				pfree(out);
			}
			break;
	}
}

/*
 * The aggregate's memory context, or an error naming the function.
 */
static MemoryContext
TrainPartialAggContext(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called by the aggregate mlops.train_partial", fn)));
	return cxt;
}

/*
 * The pass, the columns and the sample size a new state takes from params.
 */
static TrainPartial *
TrainPartialFromParams(MemoryContext aggcxt, Jsonb *params)
{
	JsonbContainer *pc = &params->root;
	char	   *pass;
	char		kind;
	JsonbContainer *cols;
	int			sample_size = 0;
	int			nout = 0;
	int			ninputs;
	TrainPartial *st;

	if (!JB_ROOT_IS_OBJECT(params))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params of mlops.train_partial must be a JSON object")));
	pass = JsonGetString(pc, "pass");
	if (strcmp(pass, "stats") == 0)
		kind = TRAIN_PASS_STATS;
	else if (strcmp(pass, "fit") == 0)
		kind = TRAIN_PASS_FIT;
	else if (strcmp(pass, "eval") == 0)
		kind = TRAIN_PASS_EVAL;
	else if (strcmp(pass, "newton") == 0)
		kind = TRAIN_PASS_NEWTON;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown pass \"%s\" of mlops.train_partial", pass),
				 errhint("Valid passes are \"stats\", \"fit\", \"eval\" and \"newton\".")));
	cols = JsonGetContainer(pc, "columns");
	if (!JsonContainerIsArray(cols) || JsonContainerSize(cols) < 1 ||
		JsonContainerSize(cols) > MLOPS_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"columns\" of mlops.train_partial's params must be an array of 1 to %d names",
						MLOPS_MAX_FEATURES)));
	(void) ParamParts(pc, JsonContainerSize(cols), &ninputs);
	if (kind == TRAIN_PASS_STATS)
	{
		sample_size = JsonGetInt(pc, "sample_size");
		if (sample_size < 0 || sample_size > TRAIN_PARTIAL_MAX_SAMPLE ||
			(double) sample_size * (ninputs + 1) > TRAIN_PARTIAL_MAX_SAMPLE_VALUES)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sample_size of mlops.train_partial must be between 0 and %d",
							Min(TRAIN_PARTIAL_MAX_SAMPLE,
								TRAIN_PARTIAL_MAX_SAMPLE_VALUES / (ninputs + 1)))));
	}
	if (kind == TRAIN_PASS_EVAL)
	{
		int			nclasses = JsonGetInt(pc, "nclasses");

		if (nclasses < 0 || nclasses == 1 || nclasses > MLOPS_MAX_CLASSES)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("nclasses of mlops.train_partial must be 0 or between 2 and %d",
							MLOPS_MAX_CLASSES)));
		nout = nclasses > 0 ? nclasses : 1;
	}
	st = TrainPartialCreate(aggcxt, kind, ninputs, nout, sample_size);
	if (kind == TRAIN_PASS_NEWTON)
	{
		int			m = JsonGetInt(pc, "unknowns");

		if (m < 1 || m > LINEAR_MAX_NEWTON_COEFS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknowns of mlops.train_partial must be between 1 and %d",
							LINEAR_MAX_NEWTON_COEFS)));
		TrainPartialNewtonSize(st, m, ParamBool(pc, "derivatives"));
	}
	return st;
}

/*
 * mlops.train_partial_step(state, params, model, key, row): the transition
 * function of mlops.train_partial (see the file header).
 */
Datum
mlops_train_partial_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = TrainPartialAggContext(fcinfo, "mlops.train_partial_step");
	TrainPartial *st;
	Jsonb	   *params;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("params of mlops.train_partial must not be NULL")));
	params = PG_GETARG_JSONB_P(1);
	if (PG_ARGISNULL(0))
		st = TrainPartialFromParams(aggcxt, params);
	else
		st = TrainPartialFromDatum(PG_GETARG_DATUM(0), aggcxt);
	/* a NULL row (of an outer join) is no row */
	if (!PG_ARGISNULL(4))
		TrainPartialAddRow(st, params, PG_ARGISNULL(2) ? NULL : PG_GETARG_BYTEA_P(2),
						   PG_GETARG_HEAPTUPLEHEADER(4), PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3));
	PG_RETURN_DATUM(EOHPGetRWDatum(&st->hdr));
}

/*
 * mlops.train_partial_combine(a, b): the combine function of
 * mlops.train_partial.
 */
Datum
mlops_train_partial_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = TrainPartialAggContext(fcinfo, "mlops.train_partial_combine");
	TrainPartial *st;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
	{
		/* a state of our own, in the aggregate's context */
		TrainPartial *other = TrainPartialFromDatum(PG_GETARG_DATUM(1), CurrentMemoryContext);

		st = TrainPartialCreate(aggcxt, other->pass, other->ninputs, other->nout,
								other->sample_size);
		if (other->pass == TRAIN_PASS_NEWTON)
			TrainPartialNewtonSize(st, other->m, other->derivatives);
		TrainPartialMerge(st, other);
	}
	else
	{
		st = TrainPartialFromDatum(PG_GETARG_DATUM(0), aggcxt);
		TrainPartialMerge(st, TrainPartialFromDatum(PG_GETARG_DATUM(1), CurrentMemoryContext));
	}
	PG_RETURN_DATUM(EOHPGetRWDatum(&st->hdr));
}

/*
 * mlops.train_partial_final(state): the final function of
 * mlops.train_partial, the state as a plain bytea.
 */
Datum
mlops_train_partial_final(PG_FUNCTION_ARGS)
{
	Datum		d = PG_GETARG_DATUM(0);
	TrainPartial *st;
	Size		size;
	bytea	   *result;

	if (!VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		/* check it, and return it as it is */
		(void) TrainPartialFromBytea(PG_GETARG_BYTEA_PP(0), CurrentMemoryContext);
		PG_RETURN_DATUM(d);
	}
	st = TrainPartialFromDatum(d, CurrentMemoryContext);
	size = TrainPartialGetFlatSize(&st->hdr);
	result = palloc(size);
	TrainPartialFlattenInto(&st->hdr, result, size);
	PG_RETURN_BYTEA_P(result);
}
