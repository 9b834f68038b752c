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

#include "miscadmin.h"

#include "train/dataset.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FINGERPRINT_AVX512
#define FINGERPRINT_AVX512_TARGET __attribute__((target("avx512f,avx512dq")))
#endif

#define FNV_PRIME UINT64CONST(0x100000001b3)

/* rows hashed together, input by input (the columns are far apart) */
#define FINGERPRINT_BLOCK_ROWS 256

/* FNV-1a over bytes, continuing from h */
static uint64
Fnv1a64(uint64 h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
	{
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* one value of a row into its hash: a tag byte, then the value's bytes */
static inline uint64
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

		/* Fnv1a64 over 'n' and the 8 bytes, little-endian, unrolled */
		memcpy(&u, &d, sizeof(u));
		h = (h ^ 'n') * FNV_PRIME;
		h = (h ^ (u & 0xFF)) * FNV_PRIME;
		h = (h ^ ((u >> 8) & 0xFF)) * FNV_PRIME;
		h = (h ^ ((u >> 16) & 0xFF)) * FNV_PRIME;
		h = (h ^ ((u >> 24) & 0xFF)) * FNV_PRIME;
		h = (h ^ ((u >> 32) & 0xFF)) * FNV_PRIME;
		h = (h ^ ((u >> 40) & 0xFF)) * FNV_PRIME;
		h = (h ^ ((u >> 48) & 0xFF)) * FNV_PRIME;
		return (h ^ (u >> 56)) * FNV_PRIME;
	}
}

/*
 * FingerprintValue of the numbers values[0 .. n - 1] into the hashes
 * h[0 .. n - 1], one row each.
 */
static void
FingerprintNumbers(uint64 *h, const double *values, int n)
{
	for (int i = 0; i < n; i++)
		h[i] = FingerprintValue(h[i], values[i], NULL);
}

#ifdef FINGERPRINT_AVX512
/*
 * FingerprintNumbers eight rows at a time with AVX-512 (64-bit multiplies
 * are AVX512DQ): each lane hashes 'n' and the value's bytes, or 'z' for a
 * NaN, the same steps as FingerprintValue.
 */
static FINGERPRINT_AVX512_TARGET void
FingerprintNumbersAvx512(uint64 *h, const double *values, int n)
{
	const __m512i prime = _mm512_set1_epi64((long long) FNV_PRIME);
	const __m512i byte = _mm512_set1_epi64(0xFF);
	int			i;

	for (i = 0; i + 8 <= n; i += 8)
	{
		__m512d		v = _mm512_loadu_pd(values + i);
		__m512i		hv = _mm512_loadu_si512((const void *) (h + i));
		__mmask8	nan = _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
		__mmask8	zero = _mm512_cmp_pd_mask(v, _mm512_setzero_pd(), _CMP_EQ_OQ);
		/* -0 and 0 are the same value: both hash the bytes of 0 */
		__m512i		u = _mm512_maskz_mov_epi64((__mmask8) ~zero, _mm512_castpd_si512(v));
		__m512i		hn = _mm512_mullo_epi64(_mm512_xor_si512(hv, _mm512_set1_epi64('n')), prime);
		__m512i		hz = _mm512_mullo_epi64(_mm512_xor_si512(hv, _mm512_set1_epi64('z')), prime);

		for (int b = 0; b < 8; b++)
			hn = _mm512_mullo_epi64(_mm512_xor_si512(hn, _mm512_and_si512(_mm512_srli_epi64(u, 8 * b), byte)),
									prime);
		_mm512_storeu_si512((void *) (h + i), _mm512_mask_blend_epi64(nan, hn, hz));
	}
	FingerprintNumbers(h + i, values + i, n - i);
}
#endif

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
	uint64		h[FINGERPRINT_BLOCK_ROWS];
	void		(*numbers) (uint64 *h, const double *values, int n) = FingerprintNumbers;

#ifdef FINGERPRINT_AVX512
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
		numbers = FingerprintNumbersAvx512;
#endif

	/* the rows' hashes advance input by input, a block of rows at a time */
	for (int start = 0; start < ds->nrows; start += FINGERPRINT_BLOCK_ROWS)
	{
		int			n = Min(FINGERPRINT_BLOCK_ROWS, ds->nrows - start);

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < n; i++)
		{
			double		t = ds->target_name ? ds->target[start + i] : 0;

			h[i] = UINT64CONST(0xcbf29ce484222325);
			if (ds->target_name != NULL)
				h[i] = FingerprintValue(h[i], t, ds->nclasses > 0 ? ds->labels[(int) t] : NULL);
		}
		for (int k = 0; k < ds->ninputs; k++)
		{
			const DatasetInput *in = &ds->inputs[k];

			if (!in->categorical)
			{
				numbers(h, in->values + start, n);
				continue;
			}
			for (int i = 0; i < n; i++)
			{
				double		v = in->values[start + i];

				h[i] = FingerprintValue(h[i], v, !isnan(v) ? in->categories[(int) v] : NULL);
			}
		}
		for (int i = 0; i < n; i++)
		{
			uint64		x = h[i];

			/* splitmix64's finalizer */
			x ^= x >> 30;
			x *= UINT64CONST(0xbf58476d1ce4e5b9);
			x ^= x >> 27;
			x *= UINT64CONST(0x94d049bb133111eb);
			x ^= x >> 31;
			sum += x;
		}
	}
	return sum;
}
