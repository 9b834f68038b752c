/*-------------------------------------------------------------------------
 *
 * guardrails.c
 *	  Guardrails: the policy's "guardrails" limits on the deployed model,
 *	  checked by the background worker every naptime and by
 *	  mlops.check_alerts.
 *
 *	 max_error_rate		errors / calls of the deployed model in
 *						mlops.serving_stats (all variants, since the last
 *						reset), once it has calls
 *	 max_p99_us			its largest p99_us there
 *	 min_live_score		the primary metric of its latest mlops.monitor
 *						window (a ceiling for lower-is-better metrics)
 *	 max_drift_share	the drift share of its latest drift report
 * A guardrail that is broken opens a critical alert "guardrail_<name>"
 * (alerts.c); when the alert opens, the breach is recorded in mlops.events
 * and, with "action": "rollback", the deployment rolls back at once (a
 * rollback needs no approval and ignores the deploy window), with the
 * reason in the rollback's event.  While the alert stays open nothing more
 * is done; after the rollback the limits apply to the model deployed then.
 * The serving statistics are read only where mlops.serving_stats exists.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "jsonutil.h"
#include "monitor/guardrails.h"
#include "ops/experiment.h"
#include "ops/governance.h"
#include "registry.h"

/* the serving statistics of the deployed model (and a running challenger) */
typedef struct ServingFacts
{
	double		calls;
	double		errors;
	double		p99_us;			/* NaN: no calls */
} ServingFacts;

/*
 * Read the serving statistics of the deployed model and, while a canary or
 * shadow runs, of its challenger (whose errors and latency are the risk the
 * guardrails watch); false when there are none (no mlops.serving_stats, or
 * no calls).
 */
static bool
ReadServingStats(const char *project, int64 model_id, ServingFacts *s)
{
	Oid			types[2] = {TEXTOID, INT8ARRAYOID};
	Datum		values[2];
	Datum		ids[2] = {Int64GetDatum(model_id), 0};
	int			nids = 1;
	Experiment	experiment;
	bool		found = false;

	if (model_id == 0 || !OidIsValid(RegistryTableOid("serving_stats")))
		return false;
	if (ExperimentRunning(project, &experiment))
		ids[nids++] = Int64GetDatum(experiment.challenger_id);
	values[0] = CStringGetTextDatum(project);
	values[1] = PointerGetDatum(construct_array(ids, nids, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	SPI_connect();
	RegistryReadAsOwner("SELECT pg_catalog.sum(s.calls)::pg_catalog.float8 AS calls, "
						"pg_catalog.sum(s.errors)::pg_catalog.float8 AS errors, "
						"pg_catalog.max(s.p99_us)::pg_catalog.float8 AS p99_us "
						"FROM mlops.serving_stats s WHERE s.project OPERATOR(pg_catalog.=) $1 "
						"AND s.model_id OPERATOR(pg_catalog.=) ANY ($2)",
						2, types, values, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		calls = RegistryResultDatum(0, "calls", &isnull);

		found = !isnull && DatumGetFloat8(calls) > 0;
		if (found)
		{
			Datum		errors = RegistryResultDatum(0, "errors", &isnull);
			Datum		p99 = RegistryResultDatum(0, "p99_us", &isnull);

			s->calls = DatumGetFloat8(calls);
			s->errors = DatumGetFloat8(errors);
			s->p99_us = isnull ? NAN : DatumGetFloat8(p99);
		}
	}
	SPI_finish();
	return found;
}

/*
 * Undo the deployment after a breach: abort a running canary or shadow
 * experiment (the challenger is what changed), else roll the deployment
 * back, unless the deployed model changed since the check or there is
 * nothing to go back to; returns what happened, for the breach's event.
 */
static const char *
GuardrailRollback(const RegistryProject *proj, const Policy *policy, int64 breached,
				  const char *reason, int64 alert_id)
{
	const char *metric = PolicyMetric(policy, proj->task);
	int64		current;
	int64		target = 0;
	int64		request_id;
	const char *outcome;
	Experiment	experiment;
	StringInfoData detail;

	RegistryLockProject(proj);
	current = RegistryDeployedModel(proj->id);
	if (ExperimentRunning(proj->name, &experiment))
	{
		ExperimentEnd(proj->name, "aborted", reason);
		outcome = psprintf("aborted the experiment of challenger model " INT64_FORMAT,
						   experiment.challenger_id);
	}
	else if (current != breached)
		outcome = "not rolled back: the deployed model changed meanwhile";
	else if ((target = RegistryChooseModel(proj->id, metric, PolicyLowerIsBetter(metric),
										   "rollback", current)) == 0)
		outcome = "not rolled back: there is no earlier deployment to roll back to";
	else
	{
		(void) GovernanceDeploy(proj, policy, target, "rollback", reason, false, &request_id);
		initStringInfo(&detail);
		appendStringInfo(&detail, "{\"strategy\": \"rollback\", \"previous_model_id\": " INT64_FORMAT
						 ", \"alert_id\": " INT64_FORMAT ", \"reason\": ", current, alert_id);
		JsonAppendString(&detail, reason);
		appendStringInfoChar(&detail, '}');
		RegistryLogEvent("rollback", proj->name, target, detail.data);
		outcome = psprintf("rolled back to model " INT64_FORMAT, target);
	}
	PopActiveSnapshot();
	return outcome;
}

/*
 * What a breach does: record it, and with "action": "rollback" undo the
 * deployment.
 */
static void
GuardrailAct(const RegistryProject *proj, const Policy *policy, const AlertCondition *c,
			 int64 alert_id)
{
	char	   *reason = psprintf("guardrail %s broken: %g against the limit %g",
								  c->rule + strlen("guardrail_"), c->value, c->threshold);
	const char *outcome = policy->guardrails.rollback ?
		GuardrailRollback(proj, policy, c->model_id, reason, alert_id) : "alert only";
	StringInfoData detail;

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"rule\": ");
	JsonAppendString(&detail, c->rule);
	appendStringInfoString(&detail, ", \"value\": ");
	JsonAppendDouble(&detail, c->value);
	appendStringInfoString(&detail, ", \"threshold\": ");
	JsonAppendDouble(&detail, c->threshold);
	appendStringInfo(&detail, ", \"alert_id\": " INT64_FORMAT ", \"action\": \"%s\", \"reason\": ",
					 alert_id, policy->guardrails.rollback ? "rollback" : "alert");
	JsonAppendString(&detail, reason);
	appendStringInfoString(&detail, ", \"outcome\": ");
	JsonAppendString(&detail, outcome);
	appendStringInfoChar(&detail, '}');
	RegistryLogEvent("guardrail", proj->name, c->model_id, detail.data);
}

/*
 * Bring one guardrail's alert in line (limit NaN: not set, so it clears),
 * acting when it opens; returns whether it opened.
 */
static int
CheckGuardrail(const RegistryProject *proj, const Policy *policy, int64 deployed,
			   const char *rule, bool known, double value, double limit, bool upper)
{
	AlertCondition c = {rule, false, "critical", deployed, NAN, limit, NULL};
	int64		alert_id;

	if (known && !isnan(limit) && !isnan(value))
	{
		c.value = value;
		c.firing = upper ? value > limit : value < limit;
	}
	alert_id = AlertsUpdate(proj->name, &c);
	if (alert_id != 0)
		GuardrailAct(proj, policy, &c, alert_id);
	return alert_id != 0;
}

/*
 * Check the guardrails of a project's deployed model; returns how many
 * alerts opened.
 */
int
GuardrailsCheck(const RegistryProject *proj, const Policy *policy, const AlertFacts *f)
{
	const PolicyGuardrails *g = &policy->guardrails;
	ServingFacts s = {0};
	bool		serving = ReadServingStats(proj->name, f->deployed, &s);
	bool		lower = f->has_window && PolicyLowerIsBetter(f->window.metric);
	int			opened = 0;

	opened += CheckGuardrail(proj, policy, f->deployed, "guardrail_error_rate", serving,
							 serving ? s.errors / s.calls : NAN, g->max_error_rate, true);
	opened += CheckGuardrail(proj, policy, f->deployed, "guardrail_p99_us", serving,
							 s.p99_us, g->max_p99_us, true);
	opened += CheckGuardrail(proj, policy, f->deployed, "guardrail_live_score", f->has_window,
							 f->has_window ? f->window.value : NAN, g->min_live_score, lower);
	opened += CheckGuardrail(proj, policy, f->deployed, "guardrail_drift_share", f->has_drift,
							 f->drift_share, g->max_drift_share, true);
	return opened;
}
