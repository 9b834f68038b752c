/*-------------------------------------------------------------------------
 *
 * lineage.h
 *	  A model's annotations: mlops.annotate and the check of its tags.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_LINEAGE_H
#define MLOPS_LINEAGE_H

#include "postgres.h"

#include "utils/jsonb.h"

extern void LineageCheckTags(Jsonb *tags);

#endif							/* MLOPS_LINEAGE_H */
