/*-------------------------------------------------------------------------
 *
 * guardrails.h
 *	  Guardrails: limits on a deployed model that open an alert and may
 *	  roll the deployment back when broken.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_GUARDRAILS_H
#define MLOPS_GUARDRAILS_H

#include "postgres.h"

#include "monitor/alerts.h"
#include "ops/policy.h"
#include "registry.h"

extern int	GuardrailsCheck(const RegistryProject *proj, const Policy *policy, const AlertFacts *facts);

#endif							/* MLOPS_GUARDRAILS_H */
