/*-------------------------------------------------------------------------
 *
 * routing.c
 *	  Deterministic routing of an input to the champion or the challenger
 *	  of a canary.
 *
 * An input goes to the challenger when a 64-bit hash of it, read as a
 * number u in [0, 1), is below the canary's fraction.  The hash is of the
 * entity key's value when the caller has one (its text), else of the raw
 * feature values the deployed model reads (after type conversion, before
 * its transform: numbers as they are, categories as their index in the
 * model's vocabulary, NULL as one fixed value), so the same entity always
 * gets the same variant, whichever form (row, jsonb, array) it comes in.
 * Raising the fraction only moves entities to the challenger: an entity
 * routed to it at 5 % stays with it at 20 %.
 *
 * The hash folds the 64-bit patterns of the values (-0 read as 0, every
 * NaN as one pattern), or the key's bytes eight at a time (little-endian),
 * into h = (rotl(h, 5) ^ word) * K (K = MIX64_GOLDEN), one multiply per
 * value (FxHash's step), starting from the count, and finishes with
 * SplitMix64's finalizer (mix64.h), which spreads every input bit over
 * the top bits read: fixed across platforms, releases and restarts, and a
 * few nanoseconds for a row of 20 values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "mix64.h"
#include "serve/routing.h"

/*
 * Fold one 64-bit word into the running hash h.
 */
static inline uint64
RoutingStep(uint64 h, uint64 word)
{
	return (((h << 5) | (h >> 59)) ^ word) * MIX64_GOLDEN;
}

/*
 * Hash of n raw feature values.
 */
uint64
RoutingHashRaw(const double *raw, int n)
{
	uint64		h = (uint64) n;

	for (int j = 0; j < n; j++)
	{
		double		v = raw[j];
		uint64		bits;

		if (isnan(v))
			bits = UINT64CONST(0x7FF8000000000000);
		else
		{
			if (v == 0.0)
				v = 0.0;		/* -0 and 0 are the same value */
			memcpy(&bits, &v, sizeof(bits));
		}
		h = RoutingStep(h, bits);
	}
	return Mix64Finish(h);
}

/*
 * Hash of an entity key's text (len bytes).
 */
uint64
RoutingHashKey(const char *key, int len)
{
	uint64		h = (uint64) len;

	for (int i = 0; i < len; i += 8)
	{
		uint64		word = 0;

		/* little-endian, whatever the machine's byte order */
		for (int k = 0; k < 8 && i + k < len; k++)
			word |= (uint64) (unsigned char) key[i + k] << (8 * k);
		h = RoutingStep(h, word);
	}
	return Mix64Finish(h);
}

/*
 * Does an input go to the challenger of a canary with this fraction?  By
 * its entity key (key, keylen bytes) when key is not NULL, else by its n
 * raw feature values.
 */
bool
RoutingToChallenger(double fraction, const double *raw, int n, const char *key, int keylen)
{
	uint64		h = key != NULL ? RoutingHashKey(key, keylen) : RoutingHashRaw(raw, n);

	/* the top 53 bits as a double in [0, 1) */
	return (double) (h >> 11) * (1.0 / 9007199254740992.0) < fraction;
}
