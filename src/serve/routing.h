/*-------------------------------------------------------------------------
 *
 * routing.h
 *	  Deterministic routing of an input to the champion or the challenger
 *	  of a canary.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_ROUTING_H
#define MLOPS_ROUTING_H

#include "postgres.h"

extern uint64 RoutingHashRaw(const double *raw, int n);
extern uint64 RoutingHashKey(const char *key, int len);
extern bool RoutingToChallenger(double fraction, const double *raw, int n,
								const char *key, int keylen);

#endif							/* MLOPS_ROUTING_H */
