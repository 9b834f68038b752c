/*-------------------------------------------------------------------------
 *
 * drift_partial_format.c
 *	  The serialized form of a partial drift profile (drift_partial.c):
 *	  writing it, reading it back with every count and value checked, and
 *	  the expanded-object methods that flatten the aggregate's state.
 *
 * Serialized form (network byte order, pq_send*): version, model id,
 * sample size, number of summaries, rows; per summary a kind byte, the
 * NULL count, then for numbers the outside count, the bin counts and the
 * sample as (key, value) pairs, for categories the (count, length, text)
 * triples.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "mlops.h"
#include "monitor/drift_partial_internal.h"

const ExpandedObjectMethods partial_methods = {
	PartialGetFlatSize,
	PartialFlattenInto
};

/*
 * Report a damaged serialized state.
 */
void
PartialCorrupted(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("partial drift profile is corrupted"),
			 errdetail("%s", what)));
}

/*
 * Serialize a state into buf (after scoring the rows that wait).
 */
static void
PartialSerialize(DriftPartial *st, StringInfo buf)
{
	PartialFlush(st);
	pq_sendint32(buf, PARTIAL_VERSION);
	pq_sendint64(buf, st->model_id);
	pq_sendint32(buf, st->sample_size);
	pq_sendint32(buf, st->ninputs);
	pq_sendint64(buf, st->rows);
	for (int i = 0; i < st->ninputs; i++)
	{
		const PartialInput *in = &st->inputs[i];

		pq_sendbyte(buf, in->categorical ? 'c' : 'n');
		pq_sendint64(buf, in->nulls);
		if (!in->categorical)
		{
			pq_sendint64(buf, in->outside);
			for (int b = 0; b < PROFILE_BINS; b++)
				pq_sendint64(buf, in->histogram[b]);
			pq_sendint32(buf, in->nsample);
			for (int s = 0; s < in->nsample; s++)
			{
				pq_sendint64(buf, in->sample[s].key);
				pq_sendfloat8(buf, in->sample[s].value);
			}
		}
		else
		{
			pq_sendint32(buf, in->ncategories);
			for (int c = 0; c < in->ncategories; c++)
			{
				int			len = strlen(in->categories[c]);

				pq_sendint64(buf, in->counts[c]);
				pq_sendint32(buf, len);
				pq_sendbytes(buf, in->categories[c], len);
			}
		}
	}
}

/*
 * Read a count of the serialized form: an integer in [0, max].
 */
static int64
PartialReadCount(StringInfo buf, int bytes, int64 max, const char *what)
{
	int64		v;

	if (buf->len - buf->cursor < bytes)
		PartialCorrupted("It ends early.");
	v = (bytes == 8) ? pq_getmsgint64(buf) : (int64) (int32) pq_getmsgint(buf, 4);
	if (v < 0 || v > max)
		PartialCorrupted(psprintf("The %s is %lld.", what, (long long) v));
	return v;
}

/*
 * Rebuild a state (under parent) from its serialized form.
 */
DriftPartial *
PartialDeserialize(bytea *flat, MemoryContext parent)
{
	StringInfoData buf;
	DriftPartial *st;
	int64		model_id;
	int			sample_size,
				ninputs;

	buf.data = VARDATA_ANY(flat);
	buf.len = VARSIZE_ANY_EXHDR(flat);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (PartialReadCount(&buf, 4, PG_INT32_MAX, "version") != PARTIAL_VERSION)
		PartialCorrupted("Its version is not one this mlops reads.");
	if (buf.len - buf.cursor < 8)
		PartialCorrupted("It ends early.");
	model_id = pq_getmsgint64(&buf);
	sample_size = (int) PartialReadCount(&buf, 4, PARTIAL_MAX_SAMPLE, "sample size");
	ninputs = (int) PartialReadCount(&buf, 4, MLOPS_MAX_FEATURES + 1, "number of inputs");
	st = PartialCreate(parent, model_id, sample_size, ninputs);
	st->rows = PartialReadCount(&buf, 8, PG_INT64_MAX, "row count");
	for (int i = 0; i < ninputs; i++)
	{
		PartialInput *in = &st->inputs[i];
		int			kind;

		if (buf.len - buf.cursor < 1)
			PartialCorrupted("It ends early.");
		kind = pq_getmsgbyte(&buf);
		if (kind != 'c' && kind != 'n')
			PartialCorrupted("An input has an unknown kind.");
		in->categorical = (kind == 'c');
		in->nulls = PartialReadCount(&buf, 8, st->rows, "NULL count");
		if (!in->categorical)
		{
			int			n;

			in->outside = PartialReadCount(&buf, 8, st->rows, "count outside the reference range");
			for (int b = 0; b < PROFILE_BINS; b++)
				in->histogram[b] = PartialReadCount(&buf, 8, st->rows, "bin count");
			n = (int) PartialReadCount(&buf, 4, sample_size, "sample length");
			if (buf.len - buf.cursor < (int64) n * 16)
				PartialCorrupted("It ends early.");
			/* the serialized sample is the heap's array: kept as it is */
			if (n > 0)
				in->sample = MemoryContextAlloc(st->hdr.eoh_context,
												sizeof(PartialValue) * sample_size);
			for (int s = 0; s < n; s++)
			{
				PartialValue *v = &in->sample[s];

				v->key = pq_getmsgint64(&buf);
				v->value = pq_getmsgfloat8(&buf);
				if (!isfinite(v->value))
					PartialCorrupted("A sampled value is not finite.");
				if (s > 0 && PartialLess(&in->sample[(s - 1) / 2], v))
					PartialCorrupted("The sample is not in heap order.");
			}
			in->nsample = n;
		}
		else
		{
			int			n = (int) PartialReadCount(&buf, 4, (buf.len - buf.cursor) / 12,
												   "number of categories");

			for (int c = 0; c < n; c++)
			{
				int64		count = PartialReadCount(&buf, 8, st->rows, "category count");
				int			len = (int) PartialReadCount(&buf, 4, buf.len - buf.cursor, "category length");
				char	   *text = pnstrdup(pq_getmsgbytes(&buf, len), len);

				if ((int) strlen(text) != len || !pg_verifymbstr(text, len, true))
					PartialCorrupted("A category is not valid text.");
				if (in->map != NULL && StrMapGet(in->map, text) >= 0)
					PartialCorrupted("A category appears twice.");
				PartialCategoryAdd(st, in, text, count);
			}
		}
	}
	if (buf.cursor != buf.len)
		PartialCorrupted("It has bytes after its end.");
	return st;
}

/*
 * Expanded object method: serialize the state (kept for flatten_into) and
 * return its size.
 */
Size
PartialGetFlatSize(ExpandedObjectHeader *eohptr)
{
	DriftPartial *st = (DriftPartial *) eohptr;
	MemoryContext old = MemoryContextSwitchTo(st->hdr.eoh_context);

	if (st->flat.data == NULL)
		initStringInfo(&st->flat);
	else
		resetStringInfo(&st->flat);
	PartialSerialize(st, &st->flat);
	MemoryContextSwitchTo(old);
	return VARHDRSZ + st->flat.len;
}

/*
 * Expanded object method: copy the serialized form made by get_flat_size.
 */
void
PartialFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	DriftPartial *st = (DriftPartial *) eohptr;

	Assert(allocated_size == VARHDRSZ + st->flat.len);
	memcpy(VARDATA(result), st->flat.data, st->flat.len);
	SET_VARSIZE(result, allocated_size);
}

/*
 * The state a datum holds: the expanded object itself, or one rebuilt
 * from a flat bytea under parent.
 */
DriftPartial *
PartialFromDatum(Datum d, MemoryContext parent)
{
	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		ExpandedObjectHeader *eoh = DatumGetEOHP(d);

		if (eoh->eoh_methods != &partial_methods)
			PartialCorrupted("It is an expanded object of another type.");
		return (DriftPartial *) eoh;
	}
	return PartialDeserialize(DatumGetByteaPP(d), parent);
}
