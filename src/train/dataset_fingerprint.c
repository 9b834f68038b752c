/*-------------------------------------------------------------------------
 *
 * dataset_fingerprint.c
 *	  The order-independent fingerprint of the rows of a data set.
 *
 * DatasetFingerprint hashes the rows read, in any order, for the lineage
 * of a trained model (mlops.models.data_fingerprint).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "train/dataset.h"

/* FNV-1a over bytes, continuing from h */
static uint64
Fnv1a64(uint64 h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
	{
		h ^= p[i];
		h *= UINT64CONST(0x100000001b3);
	}
	return h;
}

/* one value of a row into its hash: a tag byte, then the value's bytes */
static uint64
FingerprintValue(uint64 h, double v, const char *text)
{
	if (text != NULL)
		return Fnv1a64(Fnv1a64(h, "t", 1), text, strlen(text) + 1);
	if (isnan(v))
		return Fnv1a64(h, "z", 1);
	else
	{
		double		d = (v == 0.0) ? 0.0 : v;	/* -0 and 0 are the same value */
		uint64		u;
		uint8		bytes[9];

		memcpy(&u, &d, sizeof(u));
		bytes[0] = 'n';
		for (int b = 0; b < 8; b++)
			bytes[b + 1] = (uint8) (u >> (8 * b));	/* little-endian */
		return Fnv1a64(h, bytes, sizeof(bytes));
	}
}

/*
 * The order-independent fingerprint of the rows of a data set: the sum
 * (modulo 2^64) over rows of splitmix64(FNV-1a 64 of the row), where a
 * row is its target (the label text for classification, else the number)
 * followed by every input of its source columns in order, each as a tag
 * byte and its bytes: 't' and the text with its terminating zero byte for
 * a label or a category, 'z' for NULL, 'n' and the IEEE 754 double in
 * little-endian byte order for a number (-0 as 0; a date or timestamp
 * column gives its DATETIME_PARTS parts).  A sum of well-mixed row hashes
 * does not depend on the order of the rows, and counts a duplicated row
 * twice.
 */
uint64
DatasetFingerprint(const Dataset *ds)
{
	uint64		sum = 0;

	for (int i = 0; i < ds->nrows; i++)
	{
		uint64		h = UINT64CONST(0xcbf29ce484222325);

		if (ds->target_name != NULL)
			h = FingerprintValue(h, ds->target[i],
								 ds->nclasses > 0 ? ds->labels[(int) ds->target[i]] : NULL);
		for (int k = 0; k < ds->ninputs; k++)
		{
			const DatasetInput *in = &ds->inputs[k];
			double		v = in->values[i];

			h = FingerprintValue(h, v, in->categorical && !isnan(v) ? in->categories[(int) v] : NULL);
		}
		/* splitmix64's finalizer */
		h ^= h >> 30;
		h *= UINT64CONST(0xbf58476d1ce4e5b9);
		h ^= h >> 27;
		h *= UINT64CONST(0x94d049bb133111eb);
		h ^= h >> 31;
		sum += h;
	}
	return sum;
}
