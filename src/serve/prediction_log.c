/*-------------------------------------------------------------------------
 *
 * prediction_log.c
 *	  The prediction log (policies "log_predictions", "key" and
 *	  "log_retention"): a bounded queue in shared memory that predict fills
 *	  and the background worker drains into mlops.predictions.
 *
 * Predict never waits and never writes: for a sampled call it builds the
 * row (features as jsonb, or for an array of one value per column the
 * values and the column names, whose jsonb the worker makes; prediction,
 * probabilities, entity key, model, variant, time), reserves a slot by
 * advancing the queue's head with compare-and-exchange (no lock: a backend
 * descheduled meanwhile holds nobody up), copies the row in and marks the
 * slot ready.  When the
 * queue is full, or the row cannot be logged here (a hot standby, a
 * database the worker does not serve, a row too wide for a slot), the row
 * is dropped and counted in serving_stats.dropped (before the row is
 * built, when a first look already sees the queue full).  Each
 * slot holds LOG_SLOT_DATA bytes of key, probabilities and features: a
 * row whose features do not fit is logged with features NULL; one whose
 * key and probabilities alone do not fit is dropped.
 *
 * The worker writes the queue in passes that only write the log (its
 * other checks wait for their own time), and at every full pass
 * (mlops.scheduler_naptime), with heap multi-inserts
 * (prediction_log_write.c) into the table's day partitions
 * (prediction_log_partitions.c).  While rows arrive steadily (a pass
 * wrote at least a sixteenth of the queue) it looks again every
 * mlops.log_writer_delay on its own timer, as the WAL writer does, and
 * predict never signals it unless the queue gets half full; otherwise it
 * sleeps until its next full pass or until a quarter-full queue wakes it.
 * Being woken by a backend's signal puts the worker next to the processes
 * that serve (at 8 clients on 2 cores, alternating runs: 13-30 % of
 * single-row throughput with a wake-up per quarter queue, 6-13 % on the
 * timer), so under load it wakes itself.
 *
 * Sampling: each served call draws a number from a hash of a per-backend
 * seed and the backend's call count, and is logged when it is below
 * "sample" (1: every call, 0: none).  A shadow model's row follows the
 * decision of the call it shadows, so both rows of a call are logged or
 * neither.
 *
 * The project's serving policy is cached per backend and dropped when
 * mlops.policies changes (set_policy sends a relcache invalidation).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/shortest_dec.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "jsonutil.h"
#include "mix64.h"
#include "ops/policy.h"
#include "ops/progress.h"
#include "ops/worker.h"
#include "registry.h"
#include "serve/entity_key.h"
#include "serve/prediction_log.h"
#include "serve/prediction_log_partitions.h"
#include "serve/prediction_log_write.h"

/* bytes of key, probabilities and features one slot holds */
#define LOG_SLOT_DATA 960
/*
 * and the headers they are stored with: the float8[] array's, the key's
 * varlena header, the features' alignment
 */
#define LOG_SLOT_HEADERS (ARR_OVERHEAD_NONULLS(1) + VARHDRSZ + sizeof(int32))
/* bytes of memory a batch of rows is taken into, kept for the next */
#define LOG_BATCH_MEMORY (1024 * 1024)
/* rows the worker takes out of the queue per pass */
#define LOG_DRAIN_MAX 200000

/* how many slots ahead of the one it takes out the worker prefetches */
#define LOG_TAKE_PREFETCH 4

#define SLOT_FREE 0
#define SLOT_READY 1

int			mlops_log_queue_size = 10000;
int			mlops_log_writer_delay = 20;

/*
 * What the worker is doing, for predict's wake-ups: sleeping until its
 * next full pass (a quarter-full queue wakes it), looking at the queue on
 * its own timer (only a half-full one wakes it), or woken already
 */
#define WORKER_SLEEPING 0
#define WORKER_POLLING 1
#define WORKER_WOKEN 2

/* a pass that wrote at least 1/LOG_POLL_SHARE of the queue: keep looking */
#define LOG_POLL_SHARE 16

typedef struct LogSlot
{
	pg_atomic_uint32 state;		/* SLOT_FREE or SLOT_READY */
	int32		variant;
	Oid			dboid;
	int32		key;			/* offset of the key in data; -1: NULL */
	int32		proba;			/* offset of the probabilities; -1: NULL */
	int32		features;		/* offset of the features; -1: NULL */
	bool		named_doubles;	/* features as NamedDoubles, not jsonb */
	int32		datalen;		/* bytes of data used */
	int64		model_id;
	int64		project_id;
	TimestampTz predicted_at;
	double		prediction;
	/* the values as stored: float8[], text, jsonb (each aligned) */
	double		data[(LOG_SLOT_DATA + LOG_SLOT_HEADERS) / sizeof(double)];
} LogSlot;

/*
 * head is advanced by predict with compare-and-exchange, tail by the worker
 * alone; each on a cache line of its own, since every logged call writes
 * head and only reads tail
 */
typedef struct LogQueue
{
	pg_atomic_uint64 head;		/* next slot to fill */
	char		pad1[PG_CACHE_LINE_SIZE - sizeof(pg_atomic_uint64)];
	pg_atomic_uint64 tail;		/* oldest slot not drained */
	pg_atomic_uint32 worker;	/* WORKER_SLEEPING, _POLLING or _WOKEN */
	int			size;
	char		pad2[PG_CACHE_LINE_SIZE - sizeof(pg_atomic_uint64) - sizeof(pg_atomic_uint32) - sizeof(int)];
	LogSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} LogQueue;

/* what predict needs of a project's policy */
typedef struct ServingPolicy
{
	int64		project_id;		/* hash key */
	bool		log;
	double		sample;
	char	   *key;			/* in policy_cxt, or NULL */
} ServingPolicy;

static LogQueue *log_queue = NULL;
static MemoryContext policy_cxt = NULL;
static HTAB *policies = NULL;
static bool policies_stale = false;
static ServingPolicy *last_policy = NULL;
static Oid	policies_relid = InvalidOid;
static uint64 sample_seed = 0;
static uint64 sample_calls = 0;
static bool last_sampled = false;
/* the worker's: rows its last pass wrote */
static int	last_drained = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * Shared memory of the queue.
 */
static Size
LogQueueSize(void)
{
	return add_size(offsetof(LogQueue, slots), mul_size(sizeof(LogSlot), mlops_log_queue_size));
}

/*
 * shmem_request_hook: reserve the queue.
 */
static void
LogShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(LogQueueSize());
}

/*
 * shmem_startup_hook: create (or attach to) the queue.
 */
static void
LogShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	log_queue = ShmemInitStruct("mlops prediction log", LogQueueSize(), &found);
	if (!found)
	{
		pg_atomic_init_u64(&log_queue->head, 0);
		pg_atomic_init_u64(&log_queue->tail, 0);
		pg_atomic_init_u32(&log_queue->worker, WORKER_SLEEPING);
		log_queue->size = mlops_log_queue_size;
		for (int i = 0; i < mlops_log_queue_size; i++)
			pg_atomic_init_u32(&log_queue->slots[i].state, SLOT_FREE);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Relcache callback: mlops.policies changed (or everything is reset), so
 * the cached serving policies may be stale.  It only marks them stale;
 * they are dropped at the next lookup, never while a caller uses one.
 */
static void
LogPolicyInvalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == policies_relid)
	{
		policies_stale = true;
		last_policy = NULL;
	}
}

/*
 * The serving policy of a model's project, cached; valid until the next
 * call.
 */
static ServingPolicy *
LogPolicyFor(const MlopsModel *m)
{
	ServingPolicy *sp;
	bool		found;

	if (last_policy != NULL && last_policy->project_id == m->project_id)
		return last_policy;
	if (policy_cxt == NULL)
	{
		policies_relid = RegistryTableOid("policies");
		CacheRegisterRelcacheCallback(LogPolicyInvalidate, (Datum) 0);
		policy_cxt = AllocSetContextCreate(TopMemoryContext, "mlops serving policies",
										   ALLOCSET_SMALL_SIZES);
		policies_stale = true;
	}
	if (policies_stale)
	{
		HASHCTL		ctl;

		MemoryContextReset(policy_cxt);
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(ServingPolicy);
		ctl.hcxt = policy_cxt;
		policies = hash_create("mlops serving policies", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		policies_stale = false;
	}
	sp = hash_search(policies, &m->project_id, HASH_FIND, &found);
	if (!found)
	{
		Policy		p;

		PolicyParse(PolicyLoad(m->project), &p);
		/* an invalidation taken in while reading: read it again */
		if (policies_stale)
			return LogPolicyFor(m);
		sp = hash_search(policies, &m->project_id, HASH_ENTER, NULL);
		sp->log = p.log_predictions && p.log_sample > 0.0;
		sp->sample = p.log_sample;
		sp->key = p.key != NULL ? MemoryContextStrdup(policy_cxt, p.key) : NULL;
	}
	last_policy = sp;
	return sp;
}

/*
 * The entity key column or JSON key of a model's project ("key" policy),
 * or NULL without one.
 */
const char *
PredictionLogKey(const MlopsModel *m)
{
	return LogPolicyFor(m)->key;
}

/*
 * Do the calls of a model's project need their whole input: a "key"
 * policy, or logged predictions?  (Then predict is not planned on the
 * model's columns alone.)
 */
bool
PredictionLogNeedsInput(const MlopsModel *m)
{
	ServingPolicy *sp = LogPolicyFor(m);

	return sp->key != NULL || sp->log;
}

/*
 * Is this call logged?  Served calls draw; a shadow follows the call it
 * shadows.
 */
static bool
LogSampled(ServingVariant variant, double sample)
{
	double		u;

	if (variant == SERVING_SHADOW)
		return last_sampled;
	if (sample_seed == 0)
		sample_seed = Mix64(((uint64) MyProcPid << 32) ^ (uint64) MyStartTimestamp) | 1;
	u = (double) (Mix64(sample_seed ^ ++sample_calls) >> 11) * (1.0 / 9007199254740992.0);
	last_sampled = u < sample;
	return last_sampled;
}

/*
 * Can this backend's rows reach the worker?  Not on a hot standby, and
 * only in the database the worker runs in.
 */
static bool
LogReachesWorker(void)
{
	static Oid	checked_db = InvalidOid;
	static char *checked_name = NULL;
	static bool served = false;

	if (RecoveryInProgress())
		return false;
	if (checked_db != MyDatabaseId || checked_name != mlops_database)
	{
		char	   *dbname = get_database_name(MyDatabaseId);

		served = dbname != NULL && WorkerServesDatabase(dbname);
		checked_db = MyDatabaseId;
		checked_name = mlops_database;
	}
	return served;
}

/*
 * A double as the numeric that numeric_in reads from its shortest decimal
 * (the number JsonAppendDouble writes, with the same display scale),
 * without parsing text: the decimal's digits (at most 17) as an integer
 * over a power of ten.
 *
 * Most features have a few decimals: when d * 10^k is an integer t below
 * 10^15 for some k <= 8, t / 10^k reads back as d, and 10^-k is wider
 * than d's ulp (so no other decimal of at most k decimals reads back as
 * d), t / 10^k without its trailing zeros is the shortest decimal itself,
 * found without the shortest-decimal search.
 */
static Numeric
DoubleNumeric(double d)
{
	static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
	char		num[DOUBLE_SHORTEST_DECIMAL_LEN];
	const char *p = num;
	int64		digits = 0;
	int			scale = 0;
	bool		negative = false;
	bool		fraction = false;
	int			e;

	(void) frexp(d, &e);
	for (int k = 0; k < lengthof(pow10); k++)
	{
		double		t = d * pow10[k];

		if (fabs(t) >= 1e15)
			break;
		if (t == rint(t) && t / pow10[k] == d)
		{
			if (ldexp(1.0, e - 53) * pow10[k] >= 1.0)
				break;
			digits = (int64) t;
			while (k > 0 && digits % 10 == 0)
			{
				digits /= 10;
				k--;
			}
			return int64_div_fast_to_numeric(digits, k);
		}
	}

	double_to_shortest_decimal_buf(d, num);
	if (*p == '-')
	{
		negative = true;
		p++;
	}
	for (; *p != '\0'; p++)
	{
		if (*p == '.')
			fraction = true;
		else if (*p == 'e')
		{
			scale -= atoi(p + 1);
			break;
		}
		else
		{
			digits = digits * 10 + (*p - '0');
			scale += fraction;
		}
	}
	if (scale < 0)				/* a large number: let numeric_in scale it */
		return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(num),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	return int64_div_fast_to_numeric(negative ? -digits : digits, scale);
}

/*
 * The last model whose column names were put in jsonb key order, with
 * their lengths, and the head of its NamedDoubles (the names in that
 * order; MAXALIGNed length)
 */
static int64 key_order_model = 0;
static int *key_order = NULL;
static int *key_lengths = NULL;
static char *key_names = NULL;
static Size key_names_len = 0;

/* where NamedDoublesWrite puts the places of an array's values (NULLs) */
static int *null_places = NULL;
static int	null_places_len = 0;

/*
 * qsort comparator of column indexes, as jsonb orders object keys: by
 * length, then bytes.
 */
static int
KeyOrderCompare(const void *a, const void *b, void *arg)
{
	const MlopsModel *m = arg;
	const char *x = m->fz->sources[*(const int *) a].name;
	const char *y = m->fz->sources[*(const int *) b].name;
	size_t		lx = strlen(x);
	size_t		ly = strlen(y);

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return memcmp(x, y, lx);
}

/*
 * A model's column indexes in jsonb key order, worked out once per model
 * (a model's columns never change) for the last model asked about, and
 * the lengths of the column names (by column index) in *lengths.
 */
static const int *
KeyOrder(const MlopsModel *m, const int **lengths)
{
	if (key_order_model != m->id)
	{
		int			n = Max(1, m->fz->nsources);
		Size		names = 0;
		char	   *p;

		key_order_model = 0;
		if (key_order != NULL)
		{
			pfree(key_order);
			pfree(key_lengths);
			pfree(key_names);
		}
		key_order = MemoryContextAlloc(TopMemoryContext, sizeof(int) * n);
		key_lengths = MemoryContextAlloc(TopMemoryContext, sizeof(int) * n);
		for (int j = 0; j < m->fz->nsources; j++)
		{
			key_order[j] = j;
			key_lengths[j] = strlen(m->fz->sources[j].name);
			names += key_lengths[j];
		}
		qsort_arg(key_order, m->fz->nsources, sizeof(int), KeyOrderCompare, (void *) m);
		key_names_len = MAXALIGN(sizeof(int32) * (1 + m->fz->nsources) + names);
		key_names = MemoryContextAllocZero(TopMemoryContext, key_names_len);
		((int32 *) key_names)[0] = m->fz->nsources;
		p = key_names + sizeof(int32) * (1 + m->fz->nsources);
		for (int i = 0; i < m->fz->nsources; i++)
		{
			((int32 *) key_names)[1 + i] = key_lengths[key_order[i]];
			memcpy(p, m->fz->sources[key_order[i]].name, key_lengths[key_order[i]]);
			p += key_lengths[key_order[i]];
		}
		key_order_model = m->id;
	}
	*lengths = key_lengths;
	return key_order;
}

/*
 * A jsonb object of n numbers (or nulls: values[i] NULL) under keys
 * already in jsonb's order, laid out in one allocation exactly as
 * JsonbValueToJsonb lays it out (convertJsonbObject): the container
 * header, the keys' JEntries then the values', the keys' bytes, then each
 * numeric aligned to 4 bytes of the jsonb (the padding counts in its
 * length); every JB_OFFSET_STRIDE-th JEntry holds the end offset instead
 * of the length.
 */
static Jsonb *
FlatObjectJsonb(const char *const *keys, const int *keylens, Numeric *values, int n)
{
	Size		size = VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * 2 * n;
	Jsonb	   *jb;
	JEntry	   *entries;
	char	   *data;
	Size		off;
	uint32		total = 0;

	for (int i = 0; i < n; i++)
		size += keylens[i];
	for (int i = 0; i < n; i++)
		if (values[i] != NULL)
			size = INTALIGN(size) + VARSIZE_ANY(values[i]);
	if (size > JENTRY_OFFLENMASK)	/* as convertJsonbObject says it */
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb object elements exceeds the maximum of %d bytes",
						JENTRY_OFFLENMASK)));
	jb = palloc(size);
	SET_VARSIZE(jb, size);
	jb->root.header = (uint32) n | JB_FOBJECT;
	entries = jb->root.children;
	data = (char *) jb;
	off = VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * 2 * n;
	for (int i = 0; i < 2 * n; i++)
	{
		JEntry		meta;
		uint32		len;

		if (i < n)
		{
			len = keylens[i];
			memcpy(data + off, keys[i], len);
			meta = JENTRY_ISSTRING;
		}
		else if (values[i - n] == NULL)
		{
			len = 0;
			meta = JENTRY_ISNULL;
		}
		else
		{
			Size		pad = INTALIGN(off) - off;
			Size		numlen = VARSIZE_ANY(values[i - n]);

			memset(data + off, 0, pad);
			memcpy(data + off + pad, values[i - n], numlen);
			len = pad + numlen;
			meta = JENTRY_ISNUMERIC;
		}
		off += len;
		total += len;
		entries[i] = i % JB_OFFSET_STRIDE == 0 ? meta | total | JENTRY_HAS_OFF : meta | len;
	}
	Assert(off == size);
	return jb;
}

/*
 * The features of an array input as a JSON object keyed by the model's
 * column names, built directly (no JSON text, the keys already in jsonb's
 * order, the layout written at once): each number as the shortest decimal
 * that reads back as the same double, as JsonAppendDouble writes it; a
 * numeric as it is.  The element type is float8, float4 or numeric
 * (FeaturesJsonb), so its storage is known without a catalog lookup.
 */
static Jsonb *
ArrayFeaturesJsonb(const MlopsModel *m, ArrayType *arr)
{
	Oid			elemtype = ARR_ELEMTYPE(arr);
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	const int  *lengths;
	const int  *order = KeyOrder(m, &lengths);
	int			nsources = m->fz->nsources;
	const char **keys = palloc(sizeof(char *) * Max(1, nsources));
	int		   *keylens = palloc(sizeof(int) * Max(1, nsources));
	Numeric    *values = palloc(sizeof(Numeric) * Max(1, nsources));
	int			npairs = 0;

	if (elemtype == NUMERICOID)
	{
		elmlen = -1;
		elmbyval = false;
		elmalign = TYPALIGN_INT;
	}
	else
	{
		elmlen = elemtype == FLOAT8OID ? sizeof(float8) : sizeof(float4);
		elmbyval = elemtype == FLOAT8OID ? FLOAT8PASSBYVAL : true;
		elmalign = elemtype == FLOAT8OID ? TYPALIGN_DOUBLE : TYPALIGN_INT;
	}
	deconstruct_array(arr, elemtype, elmlen, elmbyval, elmalign, &elems, &nulls, &n);
	for (int i = 0; i < nsources; i++)
	{
		int			j = order[i];

		if (j >= n)
			continue;
		keys[npairs] = m->fz->sources[j].name;
		keylens[npairs] = lengths[j];
		values[npairs] = NULL;
		if (!nulls[j] && elemtype == NUMERICOID)
			values[npairs] = DatumGetNumeric(elems[j]);
		else if (!nulls[j])
		{
			double		d = elemtype == FLOAT8OID ? DatumGetFloat8(elems[j]) : DatumGetFloat4(elems[j]);

			if (isfinite(d))
				values[npairs] = DoubleNumeric(d);
		}
		npairs++;
	}
	return FlatObjectJsonb(keys, keylens, values, npairs);
}

/*
 * The features of a predict input as jsonb: the object itself (JSON text
 * was parsed by EntityInputInit), the row as row_to_json makes it, or an
 * array's values under the column names.
 */
static Jsonb *
FeaturesJsonb(const MlopsModel *m, Datum features, Oid argtype)
{
	if (argtype == JSONBOID)
		return DatumGetJsonbP(features);
	if (argtype == FLOAT8ARRAYOID || argtype == FLOAT4ARRAYOID || argtype == NUMERICARRAYOID)
		return ArrayFeaturesJsonb(m, DatumGetArrayTypeP(features));
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(TextDatumGetCString(DirectFunctionCall1(row_to_json, features)))));
}

/*
 * The features of a float8[] or float4[] input of one value per column
 * go into the queue as NamedDoubles, and the worker makes their jsonb
 * (NamedDoublesJsonb): the same object, built where a batch of rows keeps
 * the code and the numeric conversions in cache instead of in every
 * logged call.  Laid out as
 *
 *		int32 n; int32 keylen[n]; char keys[]; (MAXALIGN) float8 value[n]
 *
 * the keys in jsonb order, the head up to the values copied from the
 * model's KeyOrder cache; a NULL or non-finite value (JSON null) is a NaN.
 * Returns the bytes it takes and the array, detoasted, in *arr, or 0 when
 * the input is not such an array.  Whatever may fail (detoasting, the
 * memory an array with NULLs needs) happens here, before a slot is
 * reserved: a slot reserved and never filled would stop the worker there.
 */
static Size
NamedDoublesSize(const MlopsModel *m, Datum features, Oid argtype, ArrayType **arr)
{
	const int  *lengths;

	if (argtype != FLOAT8ARRAYOID && argtype != FLOAT4ARRAYOID)
		return 0;
	*arr = DatumGetArrayTypeP(features);
	if (ARR_NDIM(*arr) != 1 || ARR_DIMS(*arr)[0] != m->fz->nsources || m->fz->nsources == 0)
		return 0;
	(void) KeyOrder(m, &lengths);
	if (ARR_HASNULL(*arr) && null_places_len < m->fz->nsources)
	{
		if (null_places != NULL)
			pfree(null_places);
		null_places = MemoryContextAlloc(TopMemoryContext, sizeof(int) * m->fz->nsources);
		null_places_len = m->fz->nsources;
	}
	return key_names_len + sizeof(double) * m->fz->nsources;
}

/*
 * Write the NamedDoubles of an array that NamedDoublesSize accepted at
 * dst (MAXALIGNed); nothing here fails.
 */
static void
NamedDoublesWrite(char *dst, const MlopsModel *m, ArrayType *arr)
{
	const int  *lengths;
	const int  *order = KeyOrder(m, &lengths);
	double	   *v = (double *) (dst + key_names_len);
	bool		f8 = ARR_ELEMTYPE(arr) == FLOAT8OID;
	const char *src = ARR_DATA_PTR(arr);
	bits8	   *nulls = ARR_NULLBITMAP(arr);
	int			n = m->fz->nsources;

	memcpy(dst, key_names, key_names_len);
	if (nulls == NULL)
		for (int i = 0; i < n; i++)
		{
			double		d = f8 ? ((const double *) src)[order[i]] : ((const float *) src)[order[i]];

			v[i] = isfinite(d) ? d : get_float8_nan();
		}
	else
	{
		/* with NULLs the values are packed: find each one's place first */
		int		   *at = null_places;
		Size		elem = f8 ? sizeof(double) : sizeof(float);

		for (int j = 0, k = 0; j < n; j++)
			at[j] = (nulls[j / 8] & (1 << (j % 8))) ? k++ : -1;
		for (int i = 0; i < n; i++)
		{
			int			k = at[order[i]];
			double		d = k < 0 ? get_float8_nan() :
				f8 ? *(const double *) (src + k * elem) : *(const float *) (src + k * elem);

			v[i] = isfinite(d) ? d : get_float8_nan();
		}
	}
}

/*
 * For the worker: the jsonb object of NamedDoubles, as ArrayFeaturesJsonb
 * makes it in the backend for other arrays.
 */
static Jsonb *
NamedDoublesJsonb(const char *nd)
{
	int			n = ((const int32 *) nd)[0];
	const int32 *lengths = (const int32 *) nd + 1;
	const char *p = nd + sizeof(int32) * (1 + n);
	const char **keys = palloc(sizeof(char *) * n);
	int		   *keylens = palloc(sizeof(int) * n);
	Numeric    *values = palloc(sizeof(Numeric) * n);
	const double *v;

	for (int i = 0; i < n; i++)
	{
		keys[i] = p;
		keylens[i] = lengths[i];
		p += lengths[i];
	}
	v = (const double *) (nd + MAXALIGN(p - nd));
	for (int i = 0; i < n; i++)
		values[i] = isnan(v[i]) ? NULL : DoubleNumeric(v[i]);
	return FlatObjectJsonb(keys, keylens, values, n);
}

/*
 * Fetch the first lines of the slot at pos (the header and about 190
 * bytes of data, what a logged row usually fills) into this process's
 * cache, for writing (predict) or reading (the worker).  Predict calls it
 * for the slot after the one a call filled, while the next call is
 * scored, since most of a logged call's cost is taking the lines it
 * writes from the worker's cache: a single session logging many calls (a
 * loop, a table scored in one statement) writes that slot next; with
 * several sessions another one may, which then takes the lines from this
 * backend's cache instead of the worker's.  The worker calls it a few
 * slots ahead of the one it copies out, so that taking a row out of the
 * queue does not wait for the lines the backends wrote.
 *
 * Always inlined: GCC takes a function that only prefetches for one
 * without effects and drops its calls, prefetches and all.
 */
static pg_attribute_always_inline void
LogPrefetchSlot(uint64 pos, bool write)
{
#ifdef __GNUC__
	const char *slot = (const char *) &log_queue->slots[pos % log_queue->size];

	for (int o = 0; o < 256; o += 64)
	{
		if (write)
			__builtin_prefetch(slot + o, 1);
		else
			__builtin_prefetch(slot + o, 0);
	}
#endif
}

/*
 * Was the queue full a moment ago?  A hint that spares building a row that
 * would be dropped (an overloaded worker is when it matters); otherwise
 * the reservation decides.  head is read before tail, so the difference
 * never exceeds what the queue held when head was read (tail only grows),
 * and a row dropped on the hint met a full queue.
 */
static inline bool
LogQueueWasFull(void)
{
	uint64		head = pg_atomic_read_u64(&log_queue->head);
	uint64		tail;

	pg_read_barrier();
	tail = pg_atomic_read_u64(&log_queue->tail);
	return (int64) (head - tail) >= (int64) log_queue->size;
}

/*
 * Reserve the next slot of the queue: its position in *pos and how many
 * slots are in use with it in *length; false when the queue is full.  No
 * lock: head advances by compare-and-exchange, so a backend descheduled
 * while reserving holds nobody up.  A slot is free once tail has passed
 * it (the worker marks the slots it took free before it moves tail), and
 * tail only grows, so a value read before the exchange is safe to use.
 */
static bool
LogReserve(uint64 *pos, uint64 *length)
{
	uint64		head = pg_atomic_read_u64(&log_queue->head);

	for (;;)
	{
		uint64		tail = pg_atomic_read_u64(&log_queue->tail);

		if ((int64) (head - tail) >= (int64) log_queue->size)
			return false;
		/* on failure head is what another backend made it: look again */
		if (pg_atomic_compare_exchange_u64(&log_queue->head, &head, head + 1))
		{
			*pos = head;
			*length = head + 1 - tail;
			return true;
		}
	}
}

/*
 * Wake the worker, once, when the queue holds length rows: a quarter of
 * the queue while it sleeps, half while it looks on its own timer (rows
 * come faster than it looks).
 */
static inline void
LogWakeWorker(uint64 length)
{
	uint32		worker;

	if (length < (uint64) Max(1, log_queue->size / 4))
		return;
	worker = pg_atomic_read_u32(&log_queue->worker);
	if (worker == WORKER_WOKEN ||
		(worker == WORKER_POLLING && length < (uint64) Max(1, log_queue->size / 2)))
		return;
	if (pg_atomic_compare_exchange_u32(&log_queue->worker, &worker, WORKER_WOKEN))
		ProgressWakeLauncher(false);
}

/*
 * Hand a scored call to the prediction log, when the project's policy logs
 * it: in is the call's input, out the model's outputs.  With a "key"
 * policy the input must hold the key, logged or not.
 */
void
PredictionLogRow(const MlopsModel *m, ServingVariant variant, EntityInput *in, const double *out)
{
	ServingPolicy *sp;
	const char *key;
	Jsonb	   *jb = NULL;
	ArrayType  *arr = NULL;
	int			keylen;
	int			nproba;
	int			featlen;
	bool		named;
	uint64		pos = 0;
	uint64		length = 0;
	LogSlot    *slot;
	char	   *data;
	int			off = 0;

	if (log_queue == NULL)
		return;
	sp = LogPolicyFor(m);
	if (!sp->log)
		return;
	key = EntityInputKey(in, sp->key);
	if (!LogSampled(variant, sp->sample))
		return;
	if (!LogReachesWorker())
	{
		ServingCountDropped(m->id, m->project_id, variant);
		return;
	}

	if (LogQueueWasFull())
	{
		/* no jsonb for a row that cannot be queued (checked again below) */
		ServingCountDropped(m->id, m->project_id, variant);
		return;
	}

	keylen = key != NULL ? (int) strlen(key) : -1;
	nproba = m->task == TASK_CLASSIFICATION ? m->nclasses : -1;
	if ((Size) Max(nproba, 0) * sizeof(double) + (Size) Max(keylen, 0) > LOG_SLOT_DATA)
	{
		ServingCountDropped(m->id, m->project_id, variant);
		return;
	}
	featlen = (int) NamedDoublesSize(m, in->value, in->type, &arr);
	named = featlen > 0;
	if (!named)
	{
		jb = FeaturesJsonb(m, in->value, in->type);
		featlen = VARSIZE(jb);
	}
	/* NamedDoubles are aligned to 8, not 4: 4 more bytes of padding at most */
	if ((Size) Max(nproba, 0) * sizeof(double) + Max(keylen, 0) + featlen +
		(named ? sizeof(int32) : 0) > LOG_SLOT_DATA)
		featlen = 0;

	if (!LogReserve(&pos, &length))
	{
		ServingCountDropped(m->id, m->project_id, variant);
		return;
	}

	/*
	 * The values go in as the worker stores them, so that it takes them out
	 * with one copy: the probabilities as a float8[] (empty for a model of
	 * no classes, as construct_empty_array makes it), the key as text.
	 * Nothing from here until the slot is ready may fail: the worker would
	 * wait for the slot forever.
	 */
	slot = &log_queue->slots[pos % log_queue->size];
	Assert(pg_atomic_read_u32(&slot->state) == SLOT_FREE);
	slot->variant = (int32) variant;
	slot->dboid = MyDatabaseId;
	slot->model_id = m->id;
	slot->project_id = m->project_id;
	slot->predicted_at = ServingCallTimestamp();
	slot->prediction = ModelPredictValue(m, out);
	slot->proba = slot->key = slot->features = -1;
	data = (char *) slot->data;
	if (nproba >= 0)
	{
		ArrayType  *proba = (ArrayType *) data;

		proba->ndim = nproba > 0 ? 1 : 0;
		proba->dataoffset = 0;
		proba->elemtype = FLOAT8OID;
		if (nproba > 0)
		{
			ARR_DIMS(proba)[0] = nproba;
			ARR_LBOUND(proba)[0] = 1;
			memcpy(ARR_DATA_PTR(proba), out, sizeof(double) * nproba);
			SET_VARSIZE(proba, ARR_OVERHEAD_NONULLS(1) + sizeof(double) * nproba);
		}
		else
			SET_VARSIZE(proba, sizeof(ArrayType));
		slot->proba = 0;
		off = VARSIZE(proba);
	}
	if (keylen >= 0)
	{
		off = INTALIGN(off);
		slot->key = off;
		SET_VARSIZE(data + off, VARHDRSZ + keylen);
		memcpy(VARDATA(data + off), key, keylen);
		off += VARHDRSZ + keylen;
	}
	slot->named_doubles = named;
	if (featlen > 0)
	{
		off = named ? MAXALIGN(off) : INTALIGN(off);
		slot->features = off;
		if (named)
			NamedDoublesWrite(data + off, m, arr);
		else
			memcpy(data + off, jb, featlen);
		off += featlen;
	}
	Assert(off <= sizeof(slot->data));
	slot->datalen = off;
	pg_write_barrier();
	pg_atomic_write_u32(&slot->state, SLOT_READY);
	LogPrefetchSlot(pos + 1, true);

	LogWakeWorker(length);
}

/*
 * Take up to max ready rows of this database out of the queue, in order,
 * with their values made in the current memory context; rows of another
 * database (mlops.database changed) are discarded.
 */
static int
LogTake(LoggedRow *rows, int max)
{
	uint64		tail;
	uint64		head;
	int			n = 0;

	/*
	 * Awake: a wake-up asked for from here on may be for rows read after
	 * head (and sets the latch, which keeps it)
	 */
	(void) pg_atomic_exchange_u32(&log_queue->worker, WORKER_POLLING);
	tail = pg_atomic_read_u64(&log_queue->tail);
	head = pg_atomic_read_u64(&log_queue->head);

	for (; tail < head && n < max; tail++)
	{
		LogSlot    *slot = &log_queue->slots[tail % log_queue->size];

		if (tail + LOG_TAKE_PREFETCH < head)
			LogPrefetchSlot(tail + LOG_TAKE_PREFETCH, false);
		if (pg_atomic_read_u32(&slot->state) != SLOT_READY)
			break;				/* a backend is still copying it in */
		pg_read_barrier();
		if (slot->dboid == MyDatabaseId)
		{
			LoggedRow  *r = &rows[n++];
			char	   *data = NULL;

			if (slot->datalen > 0)
			{
				data = palloc(slot->datalen);
				memcpy(data, slot->data, slot->datalen);
			}
			r->project_id = slot->project_id;
			r->model_id = slot->model_id;
			r->variant = (ServingVariant) slot->variant;
			r->predicted_at = slot->predicted_at;
			r->prediction = slot->prediction;
			r->proba = slot->proba >= 0 ? PointerGetDatum(data + slot->proba) : (Datum) 0;
			r->key = slot->key >= 0 ? PointerGetDatum(data + slot->key) : (Datum) 0;
			r->features = (Datum) 0;
			if (slot->features >= 0 && slot->named_doubles)
				r->features = PointerGetDatum(NamedDoublesJsonb(data + slot->features));
			else if (slot->features >= 0)
				r->features = PointerGetDatum(data + slot->features);
		}
		pg_atomic_write_u32(&slot->state, SLOT_FREE);
	}
	/* the slots are read and marked free before they are handed back */
	pg_memory_barrier();
	pg_atomic_write_u64(&log_queue->tail, tail);
	return n;
}

/* the worker's memory for a batch of rows, kept from batch to batch */
static MemoryContext batch_cxt = NULL;
static LoggedRow *batch_rows = NULL;

/*
 * Write the queued rows of this database to mlops.predictions, a batch of
 * rows at a time (prediction_log_write.c), each batch's values and tuples
 * made in a memory context reset for the next.  That context lives as long
 * as the worker and keeps its first LOG_BATCH_MEMORY bytes when it is
 * reset, so that batches do not hand their memory back to the system and
 * fault it in again.
 */
static void
LogDrain(void)
{
	LogWriter  *w;
	int			total = 0;

	if (batch_cxt == NULL)
	{
		batch_cxt = AllocSetContextCreate(TopMemoryContext, "mlops prediction log batch",
										  LOG_BATCH_MEMORY, ALLOCSET_DEFAULT_INITSIZE,
										  ALLOCSET_DEFAULT_MAXSIZE);
		batch_rows = MemoryContextAlloc(TopMemoryContext, sizeof(LoggedRow) * LOG_WRITE_BATCH);
	}
	w = LogWriterBegin();
	for (;;)
	{
		MemoryContext old;
		int			n;

		MemoryContextReset(batch_cxt);
		old = MemoryContextSwitchTo(batch_cxt);
		n = total < LOG_DRAIN_MAX ? LogTake(batch_rows, LOG_WRITE_BATCH) : 0;
		if (n > 0)
			LogWriterInsert(w, batch_rows, n);
		MemoryContextSwitchTo(old);
		if (n == 0)
			break;
		total += n;
	}
	LogWriterEnd(w);
	MemoryContextReset(batch_cxt);
	last_drained = total;
}

/*
 * Delete logged predictions older than their project's "log_retention":
 * one DELETE per project that has one, its cutoff a parameter, so that
 * only the partitions of days before the cutoff are read, through their
 * BRIN indexes (a join with mlops.policies would read the whole log at
 * every pass).
 */
static void
LogPrune(void)
{
	uint64		n;
	char	  **projects;
	TimestampTz *cutoffs;

	if (SPI_execute("SELECT project, pg_catalog.now() OPERATOR(pg_catalog.-) "
					"(policy OPERATOR(pg_catalog.->>) 'log_retention')::pg_catalog.interval AS cutoff "
					"FROM mlops.policies WHERE policy OPERATOR(pg_catalog.?) 'log_retention'",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the retention of mlops.predictions");
	n = SPI_processed;
	projects = palloc(sizeof(char *) * Max(n, 1));
	cutoffs = palloc(sizeof(TimestampTz) * Max(n, 1));
	for (uint64 r = 0; r < n; r++)
	{
		bool		isnull;
		Datum		cutoff = RegistryResultDatum(r, "cutoff", &isnull);

		projects[r] = RegistryResultText(r, "project", CurrentMemoryContext);
		cutoffs[r] = isnull ? DT_NOBEGIN : DatumGetTimestampTz(cutoff);
	}
	for (uint64 r = 0; r < n; r++)
	{
		Oid			types[2] = {TEXTOID, TIMESTAMPTZOID};
		Datum		values[2];

		values[0] = CStringGetTextDatum(projects[r]);
		values[1] = TimestampTzGetDatum(cutoffs[r]);
		if (SPI_execute_with_args("DELETE FROM mlops.predictions WHERE project OPERATOR(pg_catalog.=) $1 "
								  "AND predicted_at OPERATOR(pg_catalog.<) $2",
								  2, types, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not prune mlops.predictions");
	}
}

/*
 * The worker's pass over the prediction log, in its transaction: prune by
 * retention and drop the past days' partitions it emptied (at its full
 * passes, not at the wake-ups of a filling queue), make the day
 * partitions that rows are about to need, then write the queued rows
 * (rows taken out of the queue are lost if the transaction fails, so that
 * comes last).  Nothing to do until the extension has mlops.predictions.
 */
void
PredictionLogWork(bool prune)
{
	Oid			nsp = get_namespace_oid("mlops", true);

	if (log_queue == NULL || !OidIsValid(nsp) || !OidIsValid(get_relname_relid("predictions", nsp)))
		return;
	SPI_connect();
	if (prune)
	{
		LogPrune();
		LogPartitionsDropEmpty();
	}
	if (PredictionLogPending())
	{
		LogPartitionsMake();
		LogDrain();
	}
	SPI_finish();
}

/*
 * For the worker, after a pass: in how many milliseconds to look at the
 * queue again, or -1 to sleep until its next full pass or until a
 * quarter-full queue wakes it.  It keeps looking every
 * mlops.log_writer_delay while its passes find rows arriving steadily;
 * otherwise it says it sleeps, then (the exchange is a full barrier)
 * looks whether rows came meanwhile that no backend woke it for, having
 * seen it looking: a quarter of the queue, which the next call logged
 * would wake it for anyway.
 */
long
PredictionLogNextLook(void)
{
	int			drained = last_drained;

	last_drained = 0;
	if (log_queue == NULL)
		return -1;
	if (drained >= Max(1, log_queue->size / LOG_POLL_SHARE))
		return mlops_log_writer_delay;
	(void) pg_atomic_exchange_u32(&log_queue->worker, WORKER_SLEEPING);
	/* (a pass that wrote nothing could not: no table yet, say) */
	if (drained > 0 &&
		pg_atomic_read_u64(&log_queue->head) - pg_atomic_read_u64(&log_queue->tail) >=
		(uint64) Max(1, log_queue->size / 4))
		return 0;
	return -1;
}

/*
 * Does the queue hold rows (ready or being copied in)?  A look without a
 * transaction, for the worker's wake-ups.
 */
bool
PredictionLogPending(void)
{
	if (log_queue == NULL)
		return false;
	return pg_atomic_read_u64(&log_queue->head) != pg_atomic_read_u64(&log_queue->tail);
}

/*
 * When preloading: define mlops.log_queue_size and request the queue.  A
 * PGC_POSTMASTER setting cannot be defined once the server runs, so
 * without preloading the setting does not exist (as pg_stat_statements.max).
 */
void
PredictionLogInit(void)
{
	DefineCustomIntVariable("mlops.log_writer_delay",
							"Sets how often the mlops background worker writes the prediction log while predictions arrive.",
							"While its passes find rows arriving steadily it writes the queue this often; otherwise "
							"a quarter-full queue wakes it, and a half-full one earlier than this.",
							&mlops_log_writer_delay,
							20, 1, 10000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("mlops.log_queue_size",
							"Sets how many logged predictions the shared-memory queue holds until the background worker writes them.",
							"Each entry takes about 1 kB of shared memory; rows that find the queue full are dropped and counted.",
							&mlops_log_queue_size,
							10000, 16, 1000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = LogShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = LogShmemStartup;
}
