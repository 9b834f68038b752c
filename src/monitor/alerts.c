/*-------------------------------------------------------------------------
 *
 * alerts.c
 *	  Alerts: the rules of a project, evaluated by the background worker
 *	  every naptime (and by mlops.check_alerts), and by mlops.monitor and
 *	  mlops.drift when they record a result.
 *
 * Rules, each at most one open row of mlops.alerts per project:
 *	 dataset_drift			the latest drift report of the deployed model has
 *							a drift share of at least the policy's
 *							drift_severity warning (0.15): warning, or
 *							critical from its critical share (0.30)
 *	 degraded_performance	the latest mlops.monitor window of the deployed
 *							model is degraded (warning)
 *	 job_failed				the project's latest finished job failed (warning)
 *	 guardrail_*			a guardrail of the policy is broken (critical;
 *							guardrails.c), checked by the worker and
 *							mlops.check_alerts only, since a breach may roll
 *							the deployment back
 * A rule that fires while its alert is open updates the alert's value (a
 * new severity resolves it and opens another); a rule that no longer fires
 * resolves it.  Opening and resolving each send NOTIFY mlops_alerts with a
 * JSON payload {"event": "fired" | "resolved", "alert_id", "project",
 * "rule", "severity", "model_id", "value", "threshold"}, delivered at
 * commit.  Conditions about a model that is no longer deployed clear.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "jsonutil.h"
#include "monitor/alerts.h"
#include "monitor/guardrails.h"
#include "monitor/performance.h"
#include "ops/worker.h"
#include "ops/policy.h"
#include "privileges.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_check_alerts);

#define ALERTS_CHANNEL "mlops_alerts"

/* longest wait of the worker for a project's lock */
#define ALERTS_LOCK_TIMEOUT "1s"

/*
 * Announce an opened or resolved alert.
 */
static void
AlertsNotify(const char *event, int64 alert_id, const char *project, const AlertCondition *c,
			 const char *severity)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"event\": \"%s\", \"alert_id\": " INT64_FORMAT ", \"project\": ",
					 event, alert_id);
	JsonAppendString(&buf, project);
	appendStringInfoString(&buf, ", \"rule\": ");
	JsonAppendString(&buf, c->rule);
	appendStringInfo(&buf, ", \"severity\": \"%s\", \"model_id\": ", severity);
	if (c->model_id)
		appendStringInfo(&buf, INT64_FORMAT, c->model_id);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"value\": ");
	JsonAppendDouble(&buf, c->value);
	appendStringInfoString(&buf, ", \"threshold\": ");
	JsonAppendDouble(&buf, c->threshold);
	appendStringInfoChar(&buf, '}');
	Async_Notify(ALERTS_CHANNEL, buf.data);
}

/*
 * Bring a project's alert for a rule in line with its condition; returns
 * the id of the alert opened, or 0 when none was.
 */
int64
AlertsUpdate(const char *project, const AlertCondition *c)
{
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, FLOAT8OID, FLOAT8OID, JSONBOID};
	Datum		values[7];
	char		nulls[7] = "       ";
	int64		open_id = 0;
	char	   *open_severity = NULL;
	int64		opened = 0;

	values[0] = CStringGetTextDatum(project);
	values[1] = CStringGetTextDatum(c->rule);
	values[2] = CStringGetTextDatum(c->severity);
	values[3] = Int64GetDatum(c->model_id);
	nulls[3] = c->model_id ? ' ' : 'n';
	values[4] = Float8GetDatum(c->value);
	nulls[4] = isnan(c->value) ? 'n' : ' ';
	values[5] = Float8GetDatum(c->threshold);
	nulls[5] = isnan(c->threshold) ? 'n' : ' ';
	values[6] = DirectFunctionCall1(jsonb_in, CStringGetDatum(c->detail ? c->detail : "{}"));

	SPI_connect();
	RegistryWriteAsOwner("SELECT a.id, a.severity FROM mlops.alerts a "
						 "WHERE a.project OPERATOR(pg_catalog.=) $1 AND a.rule OPERATOR(pg_catalog.=) $2 "
						 "AND a.resolved_at IS NULL FOR UPDATE",
						 2, types, values, nulls);
	if (SPI_processed == 1)
	{
		open_id = RegistryResultInt64(0, "id");
		open_severity = RegistryResultText(0, "severity", CurrentMemoryContext);
	}
	if (open_id != 0 && c->firing && strcmp(open_severity, c->severity) == 0)
	{
		/* still firing: the alert follows the latest value */
		values[2] = Int64GetDatum(open_id);
		types[2] = INT8OID;
		RegistryWriteAsOwner("UPDATE mlops.alerts a SET model_id = $4, value = $5, threshold = $6, detail = $7 "
							 "WHERE a.id OPERATOR(pg_catalog.=) $3",
							 7, types, values, nulls);
	}
	else
	{
		if (open_id != 0)
		{
			Oid			t[1] = {INT8OID};
			Datum		v[1] = {Int64GetDatum(open_id)};

			RegistryWriteAsOwner("UPDATE mlops.alerts a SET resolved_at = pg_catalog.clock_timestamp() "
								 "WHERE a.id OPERATOR(pg_catalog.=) $1", 1, t, v, NULL);
			AlertsNotify("resolved", open_id, project, c, open_severity);
		}
		if (c->firing)
		{
			RegistryWriteAsOwner("INSERT INTO mlops.alerts (project, rule, severity, model_id, value, threshold, detail) "
								 "VALUES ($1, $2, $3, $4, $5, $6, $7) "
								 "ON CONFLICT (project, rule) WHERE resolved_at IS NULL DO NOTHING RETURNING id",
								 7, types, values, nulls);
			if (SPI_processed == 1)
			{
				opened = RegistryResultInt64(0, "id");
				AlertsNotify("fired", opened, project, c, c->severity);
			}
		}
	}
	SPI_finish();
	return opened;
}

/*
 * Read what the rules look at: the deployed model, its latest drift report
 * and its latest monitor window.
 */
static void
AlertsReadFacts(const RegistryProject *proj, AlertFacts *f)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2];

	memset(f, 0, sizeof(AlertFacts));
	f->deployed = RegistryDeployedModel(proj->id);
	if (f->deployed == 0)
		return;
	values[0] = Int64GetDatum(proj->id);
	values[1] = Int64GetDatum(f->deployed);
	SPI_connect();
	/* not read-only: it sees the report mlops.drift just wrote */
	RegistryWriteAsOwner("SELECT r.id, r.drift_share FROM mlops.drift_reports r "
						"WHERE r.project_id OPERATOR(pg_catalog.=) $1 AND r.model_id OPERATOR(pg_catalog.=) $2 "
						"ORDER BY r.id DESC LIMIT 1",
						2, types, values, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;

		f->has_drift = true;
		f->drift_report = RegistryResultInt64(0, "id");
		f->drift_share = DatumGetFloat8(RegistryResultDatum(0, "drift_share", &isnull));
	}
	SPI_finish();
	f->has_window = PerformanceLatestWindow(proj->name, f->deployed, &f->window);
}

/*
 * The dataset drift rule.
 */
static int
CheckDriftRule(const RegistryProject *proj, const Policy *policy, const AlertFacts *f)
{
	AlertCondition c = {"dataset_drift", false, "warning", f->deployed, NAN, policy->drift_warning, NULL};

	if (f->has_drift)
	{
		c.value = f->drift_share;
		c.firing = f->drift_share > 0 && f->drift_share >= policy->drift_warning;
		if (c.firing && f->drift_share >= policy->drift_critical)
		{
			c.severity = "critical";
			c.threshold = policy->drift_critical;
		}
		c.detail = psprintf("{\"drift_report_id\": " INT64_FORMAT "}", f->drift_report);
	}
	return AlertsUpdate(proj->name, &c) != 0;
}

/*
 * The degraded live performance rule.
 */
static int
CheckDegradedRule(const RegistryProject *proj, const Policy *policy, const AlertFacts *f)
{
	AlertCondition c = {"degraded_performance", false, "warning", f->deployed, NAN, NAN, NULL};

	if (f->has_window)
	{
		StringInfoData buf;

		c.firing = f->window.degraded == 1;
		c.value = f->window.value;
		c.threshold = PerformanceThreshold(f->window.metric, f->window.held_out, policy->max_degradation);
		initStringInfo(&buf);
		appendStringInfo(&buf, "{\"performance_id\": " INT64_FORMAT ", \"metric\": ", f->window.id);
		JsonAppendString(&buf, f->window.metric);
		appendStringInfoString(&buf, ", \"held_out\": ");
		JsonAppendDouble(&buf, f->window.held_out);
		appendStringInfoChar(&buf, '}');
		c.detail = buf.data;
	}
	return AlertsUpdate(proj->name, &c) != 0;
}

/*
 * The failed job rule: the project's latest finished job failed.
 */
static int
CheckJobRule(const RegistryProject *proj, const AlertFacts *f)
{
	AlertCondition c = {"job_failed", false, "warning", f->deployed, NAN, NAN, NULL};
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(proj->name)};
	MemoryContext cxt = CurrentMemoryContext;

	SPI_connect();
	RegistryReadAsOwner("SELECT j.status OPERATOR(pg_catalog.=) 'failed' AS failed, "
						"pg_catalog.jsonb_build_object('job_id', j.id, 'kind', j.kind, 'error', j.error)::pg_catalog.text AS detail "
						"FROM mlops.jobs j WHERE j.project OPERATOR(pg_catalog.=) $1 "
						"AND j.status OPERATOR(pg_catalog.=) ANY ('{succeeded,failed}'::pg_catalog.text[]) "
						"ORDER BY j.finished_at DESC NULLS LAST, j.id DESC LIMIT 1",
						1, types, values, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;

		c.firing = DatumGetBool(RegistryResultDatum(0, "failed", &isnull));
		if (c.firing)
			c.detail = RegistryResultText(0, "detail", cxt);
	}
	SPI_finish();
	return AlertsUpdate(proj->name, &c) != 0;
}

/*
 * Evaluate the rules of a project (the guardrails too when asked);
 * returns how many alerts opened.  Nothing is written on a hot standby.
 */
int
AlertsCheckProject(const RegistryProject *proj, bool guardrails)
{
	Policy		policy;
	AlertFacts	facts;
	int			opened = 0;

	if (RecoveryInProgress())
		return 0;
	PolicyForProject(proj->name, NULL, &policy);
	AlertsReadFacts(proj, &facts);
	opened += CheckDriftRule(proj, &policy, &facts);
	opened += CheckDegradedRule(proj, &policy, &facts);
	opened += CheckJobRule(proj, &facts);
	if (guardrails)
		opened += GuardrailsCheck(proj, &policy, &facts);
	return opened;
}

/*
 * The names of every project.
 */
static char **
AlertsProjects(int *n)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	  **names;

	SPI_connect();
	RegistryReadAsOwner("SELECT p.name FROM mlops.projects p ORDER BY p.id", 0, NULL, NULL, NULL);
	*n = (int) SPI_processed;
	names = MemoryContextAlloc(cxt, sizeof(char *) * Max(1, *n));
	for (int i = 0; i < *n; i++)
		names[i] = RegistryResultText(i, "name", cxt);
	SPI_finish();
	return names;
}

/*
 * Check one project (arg: its name).  A rollback waits at most
 * ALERTS_LOCK_TIMEOUT for the project's lock (a session may hold it in an
 * open transaction), so that the worker's pass goes on; the next pass
 * tries again.
 */
static void
AlertsCheckOne(void *arg)
{
	RegistryProject *proj = RegistryGetProject((const char *) arg, true);
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("lock_timeout", ALERTS_LOCK_TIMEOUT, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (proj != NULL)
		AlertsCheckProject(proj, true);
	AtEOXact_GUC(true, nestlevel);
}

/*
 * The background worker's pass: the rules and guardrails of every project
 * (once the alerts table exists).
 */
void
AlertsWorkerPass(void)
{
	char	  **names;
	int			n;

	if (RecoveryInProgress() || !OidIsValid(RegistryTableOid("alerts")))
		return;
	names = AlertsProjects(&n);
	for (int i = 0; i < n; i++)
		WorkerRunIsolated(AlertsCheckOne, names[i],
						  psprintf("check the alerts of project \"%s\"", names[i]));
}

/*
 * mlops.check_alerts(project): what the worker does, for one project
 * (needs deploy) or for every project the caller may deploy in.
 */
Datum
mlops_check_alerts(PG_FUNCTION_ARGS)
{
	int			opened = 0;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot check alerts on a hot standby"),
				 errdetail("Alerts are written, and deployments rolled back, only on the primary.")));
	if (!PG_ARGISNULL(0))
	{
		RegistryProject *proj = RegistryGetProject(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);

		PrivilegeCheck(proj->id, proj->name, PRIV_DEPLOY);
		opened = AlertsCheckProject(proj, true);
	}
	else
	{
		int			n;
		char	  **names = AlertsProjects(&n);

		for (int i = 0; i < n; i++)
		{
			RegistryProject *proj = RegistryGetProject(names[i], true);

			if (proj != NULL && PrivilegeHeld(proj->id, PRIV_DEPLOY))
				opened += AlertsCheckProject(proj, true);
		}
	}
	PG_RETURN_INT32(opened);
}
