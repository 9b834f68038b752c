/*-------------------------------------------------------------------------
 *
 * card_fairness.h
 *	  The fairness parts of the model card: what mlops.fairness recorded.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_CARD_FAIRNESS_H
#define MLOPS_CARD_FAIRNESS_H

#include "postgres.h"

#include "lib/stringinfo.h"

extern bool CardFairnessFactors(StringInfo buf, int64 model_id);
extern void CardFairnessTable(StringInfo buf, int64 model_id);
extern bool CardFairnessConsiderations(StringInfo buf, int64 model_id);

#endif							/* MLOPS_CARD_FAIRNESS_H */
