/*-------------------------------------------------------------------------
 *
 * alerts.h
 *	  Alerts: rules evaluated per project that open and resolve rows of
 *	  mlops.alerts, announced by NOTIFY mlops_alerts.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_ALERTS_H
#define MLOPS_ALERTS_H

#include "postgres.h"

#include "monitor/performance.h"
#include "registry.h"

/* the state of one rule for a project, as just evaluated */
typedef struct AlertCondition
{
	const char *rule;
	bool		firing;
	const char *severity;		/* "warning" or "critical" */
	int64		model_id;		/* 0: none */
	double		value;			/* NaN: NULL */
	double		threshold;		/* NaN: NULL */
	const char *detail;			/* a JSON object, or NULL */
} AlertCondition;

/* what the rules of a project look at */
typedef struct AlertFacts
{
	int64		deployed;		/* the deployed model, or 0 */
	bool		has_drift;		/* a drift report of the deployed model */
	int64		drift_report;
	double		drift_share;
	bool		has_window;		/* a monitor window of the deployed model */
	PerformanceWindow window;
} AlertFacts;

extern int64 AlertsUpdate(const char *project, const AlertCondition *c);
extern int	AlertsCheckProject(const RegistryProject *proj, bool guardrails);
extern void AlertsWorkerPass(void);

#endif							/* MLOPS_ALERTS_H */
