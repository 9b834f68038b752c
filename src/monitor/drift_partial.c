/*-------------------------------------------------------------------------
 *
 * drift_partial.c
 *	  Partial drift profiles: the aggregate mlops.drift_profile, which
 *	  Citus runs per shard in the worker tasks and merges on the
 *	  coordinator, and mlops.drift's use of it on a distributed table.
 *
 * mlops.drift_profile(model_id, sample_size, key, row) summarizes rows
 * against the model's frozen reference profile, per model input and for
 * the model's predictions (made here, a batch of rows at a time): the rows
 * and NULLs; for numbers the counts in the reference's PROFILE_BINS bins
 * (its frozen edges), the count outside the reference [min, max] and a
 * bounded sample; for categories the count of every distinct value.  row
 * is ROW(t.c1, ...) of the model's source columns in order.  The
 * transition state is a bytea (Citus pushes down only aggregates whose
 * state is not a pseudo-type, and ships it as text through the type's
 * output function), held while it grows as an expanded object that
 * flattens to the serialized form.  The combine function adds counts and
 * merges samples, so Citus rewrites the aggregate into worker_partial_agg
 * in each shard's task and coord_combine_agg on the coordinator; its
 * result is the merged state.  Every count is an integer, so the merged
 * counts, and every statistic computed from them (psi, jensen_shannon,
 * chi2, l_infinity, the data-quality shares), are exactly those of a
 * single-node read of the same rows.
 *
 * The sample.  mlops.drift passes each row's key as
 * hash_record_extended(row, 0): a hash of the whole row's values, the same
 * on any node.  The sample of a numeric input is the non-NULL values of the
 * sample_size rows with the smallest (key, value) among the rows where the
 * input is not NULL; a shard keeps its sample_size smallest, the merge
 * keeps the sample_size smallest of both, so the merged sample does not
 * depend on how rows are spread over shards or in which order the partial
 * states arrive.  With at most sample_size non-NULL values the sample is
 * all of them (and ks and wasserstein equal the single-node results); rows
 * equal in every column share a key, so they are in or out of the sample
 * together.
 *
 * The state's serialized form is in drift_partial_format.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "monitor/drift_partial.h"
#include "monitor/drift_partial_internal.h"
#include "monitor/stats.h"
#include "ops/citus.h"
#include "privileges.h"
#include "registry.h"
#include "serve/model.h"
#include "serve/model_cache.h"
#include "strmap.h"
#include "train/featurize.h"

PG_FUNCTION_INFO_V1(mlops_drift_partial_step);
PG_FUNCTION_INFO_V1(mlops_drift_partial_combine);
PG_FUNCTION_INFO_V1(mlops_drift_partial_final);

/*
 * A new, empty state in a memory context of its own under parent.
 */
DriftPartial *
PartialCreate(MemoryContext parent, int64 model_id, int sample_size, int ninputs)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "mlops drift partial profile",
											  ALLOCSET_DEFAULT_SIZES);
	DriftPartial *st = MemoryContextAllocZero(cxt, sizeof(DriftPartial));

	EOH_init_header(&st->hdr, &partial_methods, cxt);
	st->model_id = model_id;
	st->sample_size = sample_size;
	st->ninputs = ninputs;
	st->inputs = MemoryContextAllocZero(cxt, sizeof(PartialInput) * Max(1, ninputs));
	return st;
}

/*
 * Offer a value to an input's sample: kept when the sample has room or
 * it is smaller than the largest kept, which it then replaces.
 */
static void
PartialSampleAdd(DriftPartial *st, PartialInput *in, int64 key, double value)
{
	PartialValue v = {key, value};
	PartialValue *h;
	int			i;

	if (st->sample_size == 0)
		return;
	if (in->sample == NULL)
		in->sample = MemoryContextAlloc(st->hdr.eoh_context,
										sizeof(PartialValue) * st->sample_size);
	h = in->sample;
	if (in->nsample < st->sample_size)
	{
		/* sift up */
		i = in->nsample++;
		while (i > 0 && PartialLess(&h[(i - 1) / 2], &v))
		{
			h[i] = h[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		h[i] = v;
		return;
	}
	if (!PartialLess(&v, &h[0]))
		return;
	/* replace the largest and sift down */
	i = 0;
	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= in->nsample)
			break;
		if (c + 1 < in->nsample && PartialLess(&h[c], &h[c + 1]))
			c++;
		if (!PartialLess(&v, &h[c]))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
}

/*
 * Add count occurrences of a category.
 */
void
PartialCategoryAdd(DriftPartial *st, PartialInput *in, const char *text, int64 count)
{
	int			c;

	if (in->map == NULL)
		in->map = StrMapCreate(st->hdr.eoh_context, 16);
	c = StrMapGet(in->map, text);
	if (c < 0)
	{
		if (in->ncategories == in->capacity)
		{
			in->capacity = Max(16, in->capacity * 2);
			if (in->categories == NULL)
			{
				in->categories = MemoryContextAlloc(st->hdr.eoh_context, sizeof(char *) * in->capacity);
				in->counts = MemoryContextAlloc(st->hdr.eoh_context, sizeof(int64) * in->capacity);
			}
			else
			{
				in->categories = repalloc(in->categories, sizeof(char *) * in->capacity);
				in->counts = repalloc(in->counts, sizeof(int64) * in->capacity);
			}
		}
		c = in->ncategories++;
		in->categories[c] = MemoryContextStrdup(st->hdr.eoh_context, text);
		in->counts[c] = 0;
		StrMapPut(in->map, text, c);
	}
	in->counts[c] += count;
}

/*
 * Set up reading rows of a row type for the state's model: the privilege,
 * the model, its reference profile, and the columns of the row it reads
 * (by name, with types that fit).
 */
static PartialReader *
PartialReaderCreate(DriftPartial *st, Oid rowtype, int32 rowtypmod)
{
	MemoryContext old = MemoryContextSwitchTo(st->hdr.eoh_context);
	PartialReader *r = palloc0(sizeof(PartialReader));
	MlopsModel *m = ModelCacheGet(st->model_id);
	const Featurizer *fz = m->fz;
	Profile    *profile;

	PrivilegeCheck(m->project_id, m->project, PRIV_TRAIN);
	profile = ProfileFromJson(RegistryModelProfile(m->id), m);
	if (profile->nfeatures != fz->ninputs || profile->ncolumns != fz->nsources)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the reference profile of model " INT64_FORMAT " does not match its inputs",
						m->id)));
	if (st->ninputs != profile->nfeatures + (profile->prediction != NULL ? 1 : 0))
		PartialCorrupted("The state has a different number of inputs than the model's profile.");
	for (int i = 0; i < st->ninputs; i++)
		if (st->inputs[i].categorical !=
			(i < profile->nfeatures ? profile->features[i].categorical : profile->prediction->categorical))
			PartialCorrupted("The kind of an input differs from the model's profile.");

	r->profile = profile;
	r->nsources = fz->nsources;
	r->rowtype = rowtype;
	r->rowtypmod = rowtypmod;
	r->desc = lookup_rowtype_tupdesc_copy(rowtype, rowtypmod);
	if (r->desc->natts != fz->nsources)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the row of mlops.drift_profile has %d fields, but model " INT64_FORMAT " reads %d columns",
						r->desc->natts, m->id, fz->nsources),
				 errhint("Pass ROW(t.c1, t.c2, ...) with the model's source columns in the order of mlops.models.features.")));
	r->atttype = palloc(sizeof(Oid) * Max(1, fz->nsources));
	r->texts = palloc(sizeof(char *) * Max(1, fz->nsources));
	for (int j = 0; j < fz->nsources; j++)
	{
		if (strcmp(fz->sources[j].name, profile->columns[j].name) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the reference profile of model " INT64_FORMAT " does not match its inputs",
							m->id)));
		r->atttype[j] = getBaseType(TupleDescAttr(r->desc, j)->atttypid);
		FeaturizerCheckSourceType(fz, j, r->atttype[j], m->id);
	}
	r->values = palloc(sizeof(Datum) * Max(1, r->desc->natts));
	r->nulls = palloc(sizeof(bool) * Max(1, r->desc->natts));
	r->raw = palloc(sizeof(double) * Max(1, fz->ninputs));
	r->x = palloc(sizeof(double) * PARTIAL_PREDICT_BATCH * Max(1, fz->nfeatures));
	r->keys = palloc(sizeof(int64) * PARTIAL_PREDICT_BATCH);
	r->out = palloc(sizeof(double) * PARTIAL_PREDICT_BATCH * Max(1, ModelOutputs(m)));
	MemoryContextSwitchTo(old);
	return r;
}

/*
 * Add a value of a numeric input (NaN: NULL) with its row's key.
 */
static void
PartialAddNumber(DriftPartial *st, PartialInput *in, const ProfileFeature *ref,
				 double v, int64 key)
{
	if (isnan(v))
	{
		in->nulls++;
		return;
	}
	if (ref->edges != NULL)
		in->histogram[StatsBinIndex(ref->edges, PROFILE_BINS, v)]++;
	if (v < ref->min || v > ref->max)
		in->outside++;
	PartialSampleAdd(st, in, key, v);
}

/*
 * Score the rows waiting for their prediction and add the predictions
 * (the regression value, or the predicted class).
 */
void
PartialFlush(DriftPartial *st)
{
	PartialReader *r = st->reader;
	MlopsModel *m;
	PartialInput *in;
	const ProfileFeature *ref;
	int			nout;

	if (r == NULL || r->npending == 0)
		return;
	m = ModelCacheGet(st->model_id);
	nout = ModelOutputs(m);
	in = &st->inputs[st->ninputs - 1];
	ref = r->profile->prediction;
	ModelPredictRows(m, r->x, r->npending, r->out);
	for (int i = 0; i < r->npending; i++)
	{
		const double *out = r->out + (Size) i * nout;

		if (ref->categorical)
			PartialCategoryAdd(st, in, m->labels[ModelArgmax(out, nout)], 1);
		else
			PartialAddNumber(st, in, ref, out[0], r->keys[i]);
	}
	r->npending = 0;
}

/*
 * Add one row to the state: its inputs as the model reads them, and its
 * features for the prediction (scored a batch at a time); key orders the
 * row for the samples.  Work memory comes from the caller's (per-row)
 * context.
 */
static void
PartialAddRow(DriftPartial *st, HeapTupleHeader th, int64 key)
{
	PartialReader *r = st->reader;
	const Profile *profile;
	MlopsModel *m;
	HeapTupleData tuple;

	if (r == NULL || r->rowtype != HeapTupleHeaderGetTypeId(th) ||
		r->rowtypmod != HeapTupleHeaderGetTypMod(th))
	{
		PartialFlush(st);
		r = st->reader = PartialReaderCreate(st, HeapTupleHeaderGetTypeId(th),
											 HeapTupleHeaderGetTypMod(th));
	}
	profile = r->profile;
	m = ModelCacheGet(st->model_id);

	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	heap_deform_tuple(&tuple, r->desc, r->values, r->nulls);
	for (int j = 0; j < r->nsources; j++)
	{
		FeaturizerRawFromDatum(m->fz, j, r->values[j], r->atttype[j], r->nulls[j], r->raw);
		r->texts[j] = (m->fz->sources[j].kind == SOURCE_CATEGORICAL && !r->nulls[j]) ?
			DatasetCategoryText(r->values[j], r->atttype[j]) : NULL;
	}

	st->rows++;
	for (int i = 0; i < profile->nfeatures; i++)
	{
		PartialInput *in = &st->inputs[i];
		const ProfileFeature *ref = &profile->features[i];

		if (!ref->categorical)
			PartialAddNumber(st, in, ref, r->raw[i], key);
		else if (r->texts[ref->column] == NULL)
			in->nulls++;
		else
			PartialCategoryAdd(st, in, r->texts[ref->column], 1);
	}
	if (profile->prediction != NULL)
	{
		FeaturizerApply(m->fz, r->raw, r->x + (Size) r->npending * m->fz->nfeatures);
		r->keys[r->npending++] = key;
		if (r->npending == PARTIAL_PREDICT_BATCH)
			PartialFlush(st);
	}
}

/*
 * Add the counts and samples of another state of the same model.
 */
static void
PartialMerge(DriftPartial *st, DriftPartial *other)
{
	if (other->model_id != st->model_id || other->sample_size != st->sample_size ||
		other->ninputs != st->ninputs)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge partial drift profiles of different models or sample sizes"),
				 errdetail("One is of model " INT64_FORMAT " with samples of %d values, the other of model " INT64_FORMAT " with %d.",
						   st->model_id, st->sample_size, other->model_id, other->sample_size)));
	PartialFlush(st);
	PartialFlush(other);
	st->rows += other->rows;
	for (int i = 0; i < st->ninputs; i++)
	{
		PartialInput *in = &st->inputs[i];
		const PartialInput *o = &other->inputs[i];

		if (in->categorical != o->categorical)
			PartialCorrupted("The kinds of an input differ.");
		in->nulls += o->nulls;
		in->outside += o->outside;
		for (int b = 0; b < PROFILE_BINS; b++)
			in->histogram[b] += o->histogram[b];
		for (int s = 0; s < o->nsample; s++)
			PartialSampleAdd(st, in, o->sample[s].key, o->sample[s].value);
		for (int c = 0; c < o->ncategories; c++)
			PartialCategoryAdd(st, in, o->categories[c], o->counts[c]);
	}
}

/*
 * The aggregate's memory context, or an error naming the function.
 */
static MemoryContext
PartialAggContext(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called by the aggregate mlops.drift_profile", fn)));
	return cxt;
}

/*
 * mlops.drift_partial_step(state, model_id, sample_size, key, row): the
 * transition function of mlops.drift_profile.  row holds the model's
 * source columns in order; key (NULL as 0) orders the rows for the
 * samples.
 */
Datum
mlops_drift_partial_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = PartialAggContext(fcinfo, "mlops.drift_partial_step");
	DriftPartial *st;
	int64		model_id;
	int			sample_size;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model_id and sample_size of mlops.drift_profile must not be NULL")));
	model_id = PG_GETARG_INT64(1);
	sample_size = PG_GETARG_INT32(2);
	if (sample_size < 0 || sample_size > PARTIAL_MAX_SAMPLE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample_size of mlops.drift_profile must be between 0 and %d", PARTIAL_MAX_SAMPLE),
				 errdetail("sample_size is %d.", sample_size)));
	if (PG_ARGISNULL(0))
	{
		MlopsModel *m = ModelCacheGet(model_id);
		Profile    *profile;

		PrivilegeCheck(m->project_id, m->project, PRIV_TRAIN);
		profile = ProfileFromJson(RegistryModelProfile(m->id), m);
		st = PartialCreate(aggcxt, model_id, sample_size,
						   profile->nfeatures + (profile->prediction != NULL ? 1 : 0));
		for (int i = 0; i < st->ninputs; i++)
			st->inputs[i].categorical = (i < profile->nfeatures) ?
				profile->features[i].categorical : profile->prediction->categorical;
	}
	else
	{
		st = PartialFromDatum(PG_GETARG_DATUM(0), aggcxt);
		if (st->model_id != model_id || st->sample_size != sample_size)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model_id and sample_size of mlops.drift_profile must be the same on every row")));
	}
	/* a NULL row (of an outer join) is no row */
	if (!PG_ARGISNULL(4))
		PartialAddRow(st, PG_GETARG_HEAPTUPLEHEADER(4), PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3));
	PG_RETURN_DATUM(EOHPGetRWDatum(&st->hdr));
}

/*
 * mlops.drift_partial_combine(a, b): the combine function of
 * mlops.drift_profile.
 */
Datum
mlops_drift_partial_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = PartialAggContext(fcinfo, "mlops.drift_partial_combine");
	DriftPartial *st;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
	{
		/* a state of our own, in the aggregate's context */
		DriftPartial *other = PartialFromDatum(PG_GETARG_DATUM(1), CurrentMemoryContext);

		st = PartialCreate(aggcxt, other->model_id, other->sample_size, other->ninputs);
		for (int i = 0; i < st->ninputs; i++)
			st->inputs[i].categorical = other->inputs[i].categorical;
		PartialMerge(st, other);
	}
	else
	{
		st = PartialFromDatum(PG_GETARG_DATUM(0), aggcxt);
		PartialMerge(st, PartialFromDatum(PG_GETARG_DATUM(1), CurrentMemoryContext));
	}
	PG_RETURN_DATUM(EOHPGetRWDatum(&st->hdr));
}

/*
 * mlops.drift_partial_final(state): the final function of
 * mlops.drift_profile, the state as a plain bytea.
 */
Datum
mlops_drift_partial_final(PG_FUNCTION_ARGS)
{
	Datum		d = PG_GETARG_DATUM(0);
	DriftPartial *st;
	Size		size;
	bytea	   *result;

	if (!VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		/* check it, and return it as it is */
		(void) PartialDeserialize(PG_GETARG_BYTEA_PP(0), CurrentMemoryContext);
		PG_RETURN_DATUM(d);
	}
	st = PartialFromDatum(d, CurrentMemoryContext);
	size = PartialGetFlatSize(&st->hdr);
	result = palloc(size);
	PartialFlattenInto(&st->hdr, result, size);
	PG_RETURN_BYTEA_P(result);
}

/*
 * Whether drift reads relid through partial profiles.
 */
bool
DriftPartialApplies(Oid relid)
{
	return CitusIsDistributedTable(relid);
}

/*
 * The sample keys hash whole rows: refuse, naming it, a column whose type
 * has no extended hash function (json, point, ...).
 */
static void
PartialCheckHashable(Oid relid, const char *relname)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (att->attisdropped)
			continue;
		if (!OidIsValid(lookup_type_cache(att->atttypid, TYPECACHE_HASH_EXTENDED_PROC)->hash_extended_proc))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot sample the rows of distributed table %s: column \"%s\" has type %s, which has no hash function",
							relname, NameStr(att->attname), format_type_be(att->atttypid)),
					 errdetail("On a distributed table ks and wasserstein compare the rows of smallest hash_record_extended(row, 0)."),
					 errhint("Use method psi or jensen_shannon, which count every row, or drift a table without that column.")));
	}
	relation_close(rel, AccessShareLock);
}

/*
 * The summaries of a relation's rows, from the merged partial profiles of
 * its shards: SELECT mlops.drift_profile(model_id, sample_size,
 * hash_record_extended(t, 0), ROW(t.c1, ...)) FROM relname t, which Citus
 * runs as one worker_partial_agg per shard, in the worker tasks.  (The
 * row is an anonymous ROW of the source columns: Citus checks that the
 * argument types of a pushed-down aggregate are exactly the declared
 * ones, and a table's row type is not record.)  Without samples every
 * row's key is 0.
 */
DriftSummary *
DriftPartialRead(Oid relid, const char *relname, int64 model_id, const Profile *profile,
				 int sample_size)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(model_id), Int32GetDatum(sample_size)};
	StringInfoData query;
	DriftSummary *sums;
	DriftPartial *st;
	bool		isnull;
	Datum		d;
	int			ret;

	CitusCheckWorkers();

	initStringInfo(&query);
	appendStringInfo(&query, "SELECT mlops.drift_profile($1, $2, %s, ROW(",
					 sample_size > 0 ? "pg_catalog.hash_record_extended(t, 0)" : "0");
	for (int j = 0; j < profile->ncolumns; j++)
		appendStringInfo(&query, "%st.%s", j > 0 ? ", " : "", quote_identifier(profile->columns[j].name));
	appendStringInfo(&query, ")) FROM %s AS t", relname);
	if (sample_size > 0)
		PartialCheckHashable(relid, relname);
	elog(DEBUG1, "drift reads the distributed table %s through partial profiles: %s", relname, query.data);

	SPI_connect();
	ret = SPI_execute_with_args(query.data, 2, types, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading the partial drift profiles of %s failed: %s", relname,
			 SPI_result_code_string(ret));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
	{
		SPI_finish();
		return NULL;
	}
	st = PartialDeserialize(DatumGetByteaPP(d), cxt);
	SPI_finish();

	if (st->model_id != model_id || st->sample_size != sample_size ||
		st->ninputs != profile->nfeatures + (profile->prediction != NULL ? 1 : 0))
		PartialCorrupted("It is not the one asked for.");
	sums = palloc0(sizeof(DriftSummary) * st->ninputs);
	for (int i = 0; i < st->ninputs; i++)
	{
		const PartialInput *in = &st->inputs[i];
		DriftSummary *s = &sums[i];

		s->rows = st->rows;
		s->nulls = in->nulls;
		s->outside = in->outside;
		memcpy(s->histogram, in->histogram, sizeof(s->histogram));
		s->nsample = in->nsample;
		s->sample = palloc(sizeof(double) * Max(1, in->nsample));
		for (int v = 0; v < in->nsample; v++)
			s->sample[v] = in->sample[v].value;
		StatsSortDoubles(s->sample, s->nsample);
		s->ncategories = in->ncategories;
		s->categories = in->categories;
		s->counts = in->counts;
	}
	return sums;
}
