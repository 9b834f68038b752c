/*-------------------------------------------------------------------------
 *
 * mix64.h
 *	  SplitMix64 (Steele, Lea and Flood, 2014): a well mixed 64-bit hash of
 *	  a 64-bit number, fixed across platforms and releases.
 *
 * Mix64Finish is the generator's finalizer alone (every input bit reaches
 * the top bits); Mix64 adds the generator's increment first, so that 0
 * does not map to 0.  Cross-validation folds, prediction-log sampling and
 * canary routing all hash with these.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_MIX64_H
#define MLOPS_MIX64_H

#include "c.h"

/* SplitMix64's increment: the 64-bit fractional part of the golden ratio */
#define MIX64_GOLDEN UINT64CONST(0x9E3779B97F4A7C15)

/*
 * SplitMix64's finalizer.
 */
static inline uint64
Mix64Finish(uint64 h)
{
	h = (h ^ (h >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	h = (h ^ (h >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return h ^ (h >> 31);
}

/*
 * One SplitMix64 step: the hash of x.
 */
static inline uint64
Mix64(uint64 x)
{
	return Mix64Finish(x + MIX64_GOLDEN);
}

#endif							/* MLOPS_MIX64_H */
