/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  What other modules ask about a Citus cluster (citus.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_CITUS_H
#define MLOPS_CITUS_H

#include "postgres.h"

/*
 * Whether relid is a distributed (sharded) Citus table; false without
 * Citus.
 */
extern bool CitusIsDistributedTable(Oid relid);

/*
 * Error unless every worker node has mlops at this node's version (naming
 * the first node that has not) and mlops.citus_setup() has copied the
 * registry to them.
 */
extern void CitusCheckWorkers(void);

#endif							/* MLOPS_CITUS_H */
