/*-------------------------------------------------------------------------
 *
 * governance.h
 *	  Stages, policies, deploy requests and approvals: the gate every
 *	  deploy passes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_GOVERNANCE_H
#define MLOPS_GOVERNANCE_H

#include "postgres.h"

#include "ops/policy.h"
#include "registry.h"

typedef enum GovernanceOutcome
{
	GOVERNANCE_DEPLOYED,		/* the model is deployed */
	GOVERNANCE_PENDING,			/* a deploy request waits for an approval */
	GOVERNANCE_REFUSED			/* not deployed (an automatic deploy only) */
} GovernanceOutcome;

extern GovernanceOutcome GovernanceDeploy(const RegistryProject *proj, const Policy *policy,
										  int64 model_id, const char *strategy, const char *reason,
										  bool explicit_deploy, int64 *request_id);
extern void GovernanceDeployApproved(void);

#endif							/* MLOPS_GOVERNANCE_H */
