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
 * Error unless every worker node has mlops at this node's version, naming
 * the first node that has not.
 */
extern void CitusCheckWorkersHaveMlops(void);

#endif							/* MLOPS_CITUS_H */
