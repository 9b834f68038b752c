/*-------------------------------------------------------------------------
 *
 * policy.h
 *	  Retraining policies: when to retrain and when to deploy the result.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_POLICY_H
#define MLOPS_POLICY_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

typedef struct RetrainPolicy
{
	bool		on_drift;		/* "retrain": "on_drift" (true) or "always" */
	double		drift_share;	/* share of drifted source columns that
								 * triggers it */
	bool		on_prediction_drift;	/* drifted predictions trigger it too */
	double		min_improvement;	/* the new score must beat the old by this */
	bool		deploy;			/* "deploy": "auto" (true) or "never" */
} RetrainPolicy;

extern void PolicyParse(Jsonb *policy, RetrainPolicy *out);
extern void PolicyToJson(const RetrainPolicy *p, StringInfo buf);

#endif							/* MLOPS_POLICY_H */
