/*-------------------------------------------------------------------------
 *
 * policy.h
 *	  Project and schedule policies: when to retrain, how to choose and
 *	  gate a deploy.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_POLICY_H
#define MLOPS_POLICY_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "mlops.h"

/* a deploy window: local time of day in seconds, ISO days (bit 1 Monday) */
typedef struct PolicyWindow
{
	int			days;			/* bit d set: ISO weekday d (1 Monday .. 7) */
	int			from;			/* seconds after midnight, inclusive */
	int			to;				/* seconds after midnight, exclusive */
	char	   *timezone;
	char	   *text;			/* as the policy spells it, for messages */
} PolicyWindow;

/* "guardrails": limits the background worker checks every naptime; NaN: not set */
typedef struct PolicyGuardrails
{
	double		max_error_rate;	/* errors / calls of the deployed model */
	double		max_p99_us;		/* its 99th percentile latency */
	double		min_live_score; /* latest monitor window's primary metric (a
								 * ceiling for lower-is-better metrics) */
	double		max_drift_share;	/* latest drift report's share */
	bool		rollback;		/* "action": "rollback" (true) or "alert" */
} PolicyGuardrails;

typedef struct Policy
{
	bool		on_drift;		/* "retrain": "on_drift" (true) or "always" */
	double		drift_share;	/* share of drifted source columns that
								 * triggers it */
	bool		on_prediction_drift;	/* drifted predictions trigger it too */
	double		min_improvement;	/* the new score must beat the old by this */
	bool		deploy;			/* "deploy": "auto" (true) or "never" */
	char	   *metric;			/* selection metric; NULL: f1 or r2 */
	int			nmin_scores;	/* "min_score": metric floors */
	char	  **min_metrics;
	double	   *min_values;
	bool		require_approval;
	char	   *approvers;		/* a role name, or NULL */
	PolicyWindow *window;		/* NULL: deploys at any time */
	double		max_degradation;	/* relative loss of live score that is
									 * degraded */
	double		drift_warning;	/* "drift_severity": drift shares of the */
	double		drift_critical; /* dataset drift alert's severities */
	PolicyGuardrails guardrails;
	int64		min_new_rows;	/* retrain only with this many more rows */
	bool		on_degradation; /* retrain when the latest window degraded */
	char	   *key;			/* the entity key's column or JSON key, or NULL */
	bool		log_predictions;	/* "log_predictions" is set */
	double		log_sample;		/* its "sample": the share of calls logged */
	char	   *log_retention;	/* "log_retention": an interval, or NULL */
} Policy;

extern void PolicyParse(Jsonb *policy, Policy *out);
extern void PolicyToJson(const Policy *p, StringInfo buf);
extern Jsonb *PolicyMerge(Jsonb *base, Jsonb *changes);
extern Jsonb *PolicyLoad(const char *project);
extern void PolicyForProject(const char *project, Jsonb *overrides, Policy *out);
extern const char *PolicyMetric(const Policy *p, MlopsTask task);
extern bool PolicyLowerIsBetter(const char *metric);
extern bool PolicyBetter(const char *metric, double a, double b, double margin);
extern bool PolicyWindowOpen(const PolicyWindow *w);

#endif							/* MLOPS_POLICY_H */
