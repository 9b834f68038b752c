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
