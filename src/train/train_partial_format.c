/*-------------------------------------------------------------------------
 *
 * train_partial_format.c
 *	  The serialized form of mlops.train_partial's state (train_partial.c)
 *	  and its expanded-object methods: what Citus ships from the worker
 *	  tasks to the coordinator.
 *
 * Serialized form (network byte order, pq_send*): version, pass byte,
 * inputs, outputs, rows, NULL targets, training and held-out rows; stats:
 * fingerprint, smallest and largest target, per input its summary (count,
 * NULLs, sum, min, max, mean, m2), the sample size and the sampled rows
 * (key, target, inputs: a category as its index among the input's), the
 * labels (rows, training rows, length, text), then per input a kind byte and
 * for a categorical one the sum of the target over its NULLs and its
 * categories (count, sum of the target, length, text; the sums are 0 for a
 * classification run); fit: whether
 * it has statistics, then their linear_accum.c form (length, bytes);
 * newton: the unknowns, whether it has derivatives, the loss, the gradient
 * and the Hessian's upper triangle; eval: the held-out rows' (target,
 * outputs).
 *
 *
 * A state read back is checked field by field (counts against what the
 * bytes left can hold, texts in the database encoding): a damaged state is
 * an error, never a crash.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "train/train_partial.h"
#include "train/train_partial_internal.h"

/* version of the serialized form */
#define TRAIN_PARTIAL_VERSION	2

const ExpandedObjectMethods train_partial_methods = {
	TrainPartialGetFlatSize,
	TrainPartialFlattenInto
};

/*
 * Report a damaged serialized state.
 */
void
TrainPartialCorrupted(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("partial training statistics are corrupted"),
			 errdetail("%s", what)));
}

/*
 * Serialize a state into buf (after the rows waiting in the batch).
 */
void
TrainPartialSerialize(TrainPartial *st, StringInfo buf)
{
	TrainPartialFlush(st);
	pq_sendint32(buf, TRAIN_PARTIAL_VERSION);
	pq_sendbyte(buf, st->pass);
	pq_sendint32(buf, st->ninputs);
	pq_sendint32(buf, st->nout);
	pq_sendint64(buf, st->rows);
	pq_sendint64(buf, st->null_targets);
	pq_sendint64(buf, st->ntrain);
	pq_sendint64(buf, st->ntest);
	switch (st->pass)
	{
		case TRAIN_PASS_STATS:
			pq_sendint64(buf, (int64) st->fingerprint);
			pq_sendfloat8(buf, st->ymin);
			pq_sendfloat8(buf, st->ymax);
			for (int k = 0; k < st->ninputs; k++)
			{
				const NumericSummary *s = &st->summaries[k];

				pq_sendint64(buf, s->count);
				pq_sendint64(buf, s->nnull);
				pq_sendfloat8(buf, s->sum);
				pq_sendfloat8(buf, s->min);
				pq_sendfloat8(buf, s->max);
				pq_sendfloat8(buf, s->mean);
				pq_sendfloat8(buf, s->m2);
			}
			pq_sendint32(buf, st->sample_size);
			pq_sendint32(buf, st->nsample);
			for (int s = 0; s < st->nsample; s++)
			{
				pq_sendint64(buf, st->sample_keys[s]);
				for (int k = 0; k <= st->ninputs; k++)
					pq_sendfloat8(buf, st->sample_rows[(Size) s * (st->ninputs + 1) + k]);
			}
			pq_sendint32(buf, st->nlabels);
			for (int c = 0; c < st->nlabels; c++)
			{
				int			len = strlen(st->label_texts[c]);

				pq_sendint64(buf, st->label_rows[c]);
				pq_sendint64(buf, st->label_train[c]);
				pq_sendint32(buf, len);
				pq_sendbytes(buf, st->label_texts[c], len);
			}
			for (int k = 0; k < st->ninputs; k++)
			{
				pq_sendbyte(buf, st->categorical[k]);
				if (!st->categorical[k])
					continue;
				pq_sendfloat8(buf, st->cats[k].null_ysum);
				pq_sendint32(buf, st->cats[k].n);
				for (int c = 0; c < st->cats[k].n; c++)
				{
					int			len = strlen(st->cats[k].texts[c]);

					pq_sendint64(buf, st->cats[k].counts[c]);
					pq_sendfloat8(buf, st->cats[k].ysums[c]);
					pq_sendint32(buf, len);
					pq_sendbytes(buf, st->cats[k].texts[c], len);
				}
			}
			break;
		case TRAIN_PASS_NEWTON:
			pq_sendint32(buf, st->m);
			pq_sendbyte(buf, st->derivatives);
			pq_sendfloat8(buf, st->loss);
			for (int u = 0; st->derivatives && u < st->m; u++)
				pq_sendfloat8(buf, st->grad[u]);
			for (int j = 0; st->derivatives && j < st->m; j++)
				for (int i = 0; i <= j; i++)
					pq_sendfloat8(buf, st->hess[(Size) j * st->m + i]);
			break;
		case TRAIN_PASS_FIT:
			pq_sendbyte(buf, st->acc != NULL);
			if (st->acc != NULL)
			{
				bytea	   *acc = LinearAccumSerialize(st->acc);

				pq_sendint32(buf, VARSIZE(acc) - VARHDRSZ);
				pq_sendbytes(buf, VARDATA(acc), VARSIZE(acc) - VARHDRSZ);
				pfree(acc);
			}
			break;
		case TRAIN_PASS_EVAL:
			for (int64 i = 0; i < st->ntest * (st->nout + 1); i++)
				pq_sendfloat8(buf, st->held[i]);
			break;
	}
}

/*
 * A count of the serialized form, checked to be in 0 .. max.
 */
static int64
GetCount(StringInfo buf, int64 max)
{
	int64		v = pq_getmsgint64(buf);

	if (v < 0 || v > max)
		TrainPartialCorrupted("A count is out of range.");
	return v;
}

/*
 * A text of the serialized form (its length, then its bytes): what ("A
 * label", "A category") names it in the error when it does not fit, is
 * not valid text, or is already in seen.
 */
static char *
GetText(StringInfo buf, StrMap *seen, const char *what)
{
	int			len = pq_getmsgint(buf, 4);
	char	   *text;

	if (len < 0 || len > buf->len - buf->cursor)
		TrainPartialCorrupted(psprintf("%s does not fit its length.", what));
	text = palloc(len + 1);
	pq_copymsgbytes(buf, text, len);
	text[len] = '\0';
	if ((int) strlen(text) != len || !pg_verifymbstr(text, len, true) ||
		(seen != NULL && StrMapGet(seen, text) >= 0))
		TrainPartialCorrupted(psprintf("%s is not valid text, or appears twice.", what));
	return text;
}

/*
 * A state rebuilt from its serialized form under parent, every count
 * checked against the bytes that hold it.
 */
TrainPartial *
TrainPartialFromBytea(bytea *flat, MemoryContext parent)
{
	StringInfoData buf;
	TrainPartial *st;
	char		pass;
	int			ninputs,
				nout,
				sample_size;
	int64		rows,
				null_targets,
				ntrain,
				ntest;

	buf.data = VARDATA_ANY(flat);
	buf.len = VARSIZE_ANY_EXHDR(flat);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (buf.len < 45 || pq_getmsgint(&buf, 4) != TRAIN_PARTIAL_VERSION)
		TrainPartialCorrupted("It does not start with the version of this form.");
	pass = pq_getmsgbyte(&buf);
	if (pass != TRAIN_PASS_STATS && pass != TRAIN_PASS_FIT && pass != TRAIN_PASS_EVAL &&
		pass != TRAIN_PASS_NEWTON)
		TrainPartialCorrupted("Its pass is unknown.");
	ninputs = pq_getmsgint(&buf, 4);
	nout = pq_getmsgint(&buf, 4);
	if (ninputs < 0 || ninputs > MLOPS_MAX_FEATURES || nout < 0 || nout > MLOPS_MAX_CLASSES)
		TrainPartialCorrupted("A size is out of range.");
	rows = GetCount(&buf, PG_INT64_MAX);
	null_targets = GetCount(&buf, PG_INT64_MAX);
	ntrain = GetCount(&buf, rows);
	ntest = GetCount(&buf, rows);
	sample_size = 0;
	if (pass == TRAIN_PASS_STATS)
	{
		/* the sample size comes after the summaries */
		int			at = buf.cursor + 24 + 56 * ninputs;

		if (at + 4 > buf.len)
			TrainPartialCorrupted("It is shorter than its summaries.");
		memcpy(&sample_size, buf.data + at, 4);
		sample_size = pg_ntoh32(sample_size);
		if (sample_size < 0 || sample_size > TRAIN_PARTIAL_MAX_SAMPLE ||
			(double) sample_size * (ninputs + 1) > TRAIN_PARTIAL_MAX_SAMPLE_VALUES)
			TrainPartialCorrupted("The sample size is out of range.");
	}
	st = TrainPartialCreate(parent, pass, ninputs, nout, sample_size);
	st->rows = rows;
	st->null_targets = null_targets;
	st->ntrain = ntrain;
	st->ntest = pass == TRAIN_PASS_EVAL ? 0 : ntest;
	switch (pass)
	{
		case TRAIN_PASS_STATS:
			{
				int			nsample;
				int			nlabels;
				int			sample_at;
				int			end;
				double	   *row = palloc(sizeof(double) * (ninputs + 1));

				st->fingerprint = (uint64) pq_getmsgint64(&buf);
				st->ymin = pq_getmsgfloat8(&buf);
				st->ymax = pq_getmsgfloat8(&buf);
				for (int k = 0; k < ninputs; k++)
				{
					NumericSummary *s = &st->summaries[k];

					s->count = GetCount(&buf, ntrain);
					s->nnull = GetCount(&buf, ntrain);
					s->sum = pq_getmsgfloat8(&buf);
					s->min = pq_getmsgfloat8(&buf);
					s->max = pq_getmsgfloat8(&buf);
					s->mean = pq_getmsgfloat8(&buf);
					s->m2 = pq_getmsgfloat8(&buf);
				}
				(void) pq_getmsgint(&buf, 4);
				nsample = pq_getmsgint(&buf, 4);
				if (nsample < 0 || nsample > sample_size ||
					(int64) nsample * (8 + 8 * (ninputs + 1)) > buf.len - buf.cursor)
					TrainPartialCorrupted("The sample does not fit its size.");
				/* the sample is added once the categories it refers to are read */
				sample_at = buf.cursor;
				buf.cursor += nsample * (8 + 8 * (ninputs + 1));
				nlabels = pq_getmsgint(&buf, 4);
				if (nlabels < 0 || nlabels > MLOPS_MAX_CLASSES)
					TrainPartialCorrupted("The number of labels is out of range.");
				for (int c = 0; c < nlabels; c++)
				{
					int64		lrows = GetCount(&buf, rows);
					int64		ltrain = GetCount(&buf, ntrain);

					TrainPartialLabelAdd(st, GetText(&buf, st->label_map, "A label"), lrows, ltrain);
				}
				for (int k = 0; k < ninputs; k++)
				{
					int			ncats;

					st->categorical[k] = pq_getmsgbyte(&buf) != 0;
					if (!st->categorical[k])
						continue;
					st->cats[k].null_ysum = pq_getmsgfloat8(&buf);
					ncats = pq_getmsgint(&buf, 4);
					if (ncats < 0 || ncats > buf.len - buf.cursor)
						TrainPartialCorrupted("The number of categories is out of range.");
					for (int c = 0; c < ncats; c++)
					{
						int64		count = GetCount(&buf, ntrain);
						double		ysum = pq_getmsgfloat8(&buf);

						(void) TrainPartialCatAdd(st, k, GetText(&buf, st->cats[k].map, "A category"), count, ysum);
					}
				}
				end = buf.cursor;
				buf.cursor = sample_at;
				for (int s = 0; s < nsample; s++)
				{
					int64		key = pq_getmsgint64(&buf);

					for (int k = 0; k <= ninputs; k++)
					{
						row[k] = pq_getmsgfloat8(&buf);
						if (k > 0 && st->categorical[k - 1] && !isnan(row[k]) &&
							!(row[k] >= 0 && row[k] < st->cats[k - 1].n && row[k] == floor(row[k])))
							TrainPartialCorrupted("A sampled category is not one of the input's.");
					}
					TrainPartialSampleAdd(st, key, row);
				}
				buf.cursor = end;
			}
			break;
		case TRAIN_PASS_FIT:
			if (pq_getmsgbyte(&buf))
			{
				int			len = pq_getmsgint(&buf, 4);
				bytea	   *acc;
				MemoryContext old;

				if (len < 0 || len != buf.len - buf.cursor)
					TrainPartialCorrupted("The statistics do not fit their length.");
				acc = palloc(VARHDRSZ + len);
				SET_VARSIZE(acc, VARHDRSZ + len);
				pq_copymsgbytes(&buf, VARDATA(acc), len);
				old = MemoryContextSwitchTo(st->hdr.eoh_context);
				st->acc = LinearAccumDeserialize(acc);
				MemoryContextSwitchTo(old);
				pfree(acc);
			}
			break;
		case TRAIN_PASS_NEWTON:
			{
				int			m = pq_getmsgint(&buf, 4);
				bool		derivatives = pq_getmsgbyte(&buf) != 0;

				if (m < 1 || m > LINEAR_MAX_NEWTON_COEFS ||
					8.0 + (derivatives ? 8.0 * m + 4.0 * m * (m + 1.0) : 0) != (double) (buf.len - buf.cursor))
					TrainPartialCorrupted("The sums do not fit their number of unknowns.");
				TrainPartialNewtonSize(st, m, derivatives);
				st->loss = pq_getmsgfloat8(&buf);
				for (int u = 0; derivatives && u < m; u++)
					st->grad[u] = pq_getmsgfloat8(&buf);
				for (int j = 0; derivatives && j < m; j++)
					for (int i = 0; i <= j; i++)
						st->hess[(Size) j * m + i] = pq_getmsgfloat8(&buf);
			}
			break;
		case TRAIN_PASS_EVAL:
			if ((double) ntest * (nout + 1) * 8 != (double) (buf.len - buf.cursor))
				TrainPartialCorrupted("The held-out rows do not fit their number.");
			st->capacity = Max(1, ntest);
			st->held = MemoryContextAllocHuge(st->hdr.eoh_context,
											  sizeof(double) * (nout + 1) * (Size) st->capacity);
			for (int64 i = 0; i < ntest * (nout + 1); i++)
				st->held[i] = pq_getmsgfloat8(&buf);
			st->ntest = ntest;
			break;
	}
	if (buf.cursor != buf.len)
		TrainPartialCorrupted("It has bytes after its end.");
	return st;
}

/*
 * Expanded object method: serialize the state (kept for flatten_into) and
 * return its size.
 */
Size
TrainPartialGetFlatSize(ExpandedObjectHeader *eohptr)
{
	TrainPartial *st = (TrainPartial *) eohptr;
	MemoryContext old = MemoryContextSwitchTo(st->hdr.eoh_context);

	if (st->flat.data == NULL)
		initStringInfo(&st->flat);
	else
		resetStringInfo(&st->flat);
	TrainPartialSerialize(st, &st->flat);
	MemoryContextSwitchTo(old);
	return VARHDRSZ + st->flat.len;
}

/*
 * Expanded object method: copy the serialized form made by get_flat_size.
 */
void
TrainPartialFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	TrainPartial *st = (TrainPartial *) eohptr;

	Assert(allocated_size == VARHDRSZ + st->flat.len);
	memcpy(VARDATA(result), st->flat.data, st->flat.len);
	SET_VARSIZE(result, allocated_size);
}

/*
 * The state a datum holds: the expanded object itself, or one rebuilt
 * from a flat bytea under parent.
 */
TrainPartial *
TrainPartialFromDatum(Datum d, MemoryContext parent)
{
	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		ExpandedObjectHeader *eoh = DatumGetEOHP(d);

		if (eoh->eoh_methods != &train_partial_methods)
			TrainPartialCorrupted("It is an expanded object of another type.");
		return (TrainPartial *) eoh;
	}
	return TrainPartialFromBytea(DatumGetByteaPP(d), parent);
}
