/*-------------------------------------------------------------------------
 *
 * policy.c
 *	  Project and schedule policies: when to retrain, how to choose a model
 *	  and what a deploy must pass.
 *
 * A policy is a jsonb object with the keys
 *	 "retrain":			"on_drift" (default) | "always"
 *	 "drift_share":		share of drifted source columns that means drift (0.5)
 *	 "on_prediction_drift": whether a drifted distribution of the deployed
 *						model's predictions is a reason to retrain by itself
 *						(true)
 *	 "min_improvement": how much better than the deployed model, on the same
 *						held-out rows, a new model must be to be deployed (0.0)
 *	 "deploy":			"auto" (default) | "never"
 *	 "metric":			the metric that chooses between models (f1 or r2);
 *						log_loss, mse, rmse and mae are lower-is-better
 *	 "min_score":		{"metric": floor, ...}: what a model must reach to be
 *						deployed (a ceiling for lower-is-better metrics)
 *	 "require_approval": whether deploys wait for an approval (false)
 *	 "approvers":		the role whose members approve
 *	 "deploy_window":	{"days": [1..7], "from": "09:00", "to": "17:00",
 *						"timezone": "UTC"}: when deploys may happen
 *	 "max_degradation": how far (relative) a live score may fall below the
 *						held-out score before a monitor window is degraded
 *						(0.05)
 *	 "drift_severity":	{"warning": 0.15, "critical": 0.30}: the drift shares
 *						at which the dataset drift alert fires
 *	 "guardrails":		{"max_error_rate", "max_p99_us", "min_live_score",
 *						"max_drift_share", "action": "alert" | "rollback"}
 *	 "min_new_rows":	retrain only when the relation holds this many more
 *						rows than the deployed model was trained on (0)
 *	 "on_degradation":	retrain when the latest monitor window of the
 *						deployed model is degraded (false)
 *	 "key":				the column (row form) or JSON key (jsonb form) that
 *						identifies an entity
 *	 "log_predictions": {"sample": 0.1}: log that share of predict calls
 *						(sample defaults to 1)
 *	 "log_retention":	"30 days": how long logged predictions are kept
 * A project's policy (mlops.policies, mlops.set_policy) and a schedule's or
 * a retrain call's use the same keys; the latter override the former.
 * Unknown keys and values of the wrong type or range are errors that name
 * the key.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "jsonutil.h"
#include "ops/policy.h"
#include "registry.h"

#define POLICY_KEYS "\"retrain\", \"drift_share\", \"on_prediction_drift\", \"min_improvement\", " \
	"\"deploy\", \"metric\", \"min_score\", \"require_approval\", \"approvers\", \"deploy_window\", " \
	"\"max_degradation\", \"drift_severity\", \"guardrails\", \"min_new_rows\", \"on_degradation\", " \
	"\"key\", \"log_predictions\" and \"log_retention\""
#define SEVERITY_KEYS "\"warning\" and \"critical\""
#define GUARDRAIL_KEYS "\"max_error_rate\", \"max_p99_us\", \"min_live_score\", \"max_drift_share\" and \"action\""
#define WINDOW_KEYS "\"days\", \"from\", \"to\" and \"timezone\""

/*
 * A string setting that must be one of two words; returns true for the
 * first.
 */
static bool
ParseChoice(const char *key, const JsonbValue *v, const char *yes, const char *no)
{
	char	   *s = v->type == jbvString ? JsonValueToCString(v) : NULL;

	if (s != NULL && strcmp(s, yes) == 0)
		return true;
	if (s != NULL && strcmp(s, no) == 0)
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("policy \"%s\" must be \"%s\" or \"%s\"", key, yes, no)));
	pg_unreachable();
}

/*
 * A boolean setting.
 */
static bool
ParseBool(const char *key, const JsonbValue *v)
{
	if (v->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"%s\" must be true or false", key)));
	return v->val.boolean;
}

/*
 * A number setting within [lo, hi].
 */
static double
ParseNumber(const char *key, const JsonbValue *v, double lo, double hi)
{
	double		d;

	if (v->type != jbvNumeric || !JsonValueNumber(v, &d) || !(d >= lo && d <= hi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"%s\" must be a number between %g and %g", key, lo, hi)));
	return d;
}

/*
 * A row count setting: a whole number, at least 0.
 */
static int64
ParseCount(const char *key, const JsonbValue *v)
{
	double		d;

	if (v->type != jbvNumeric || !JsonValueNumber(v, &d) || !(d >= 0 && d <= 1e15) || d != floor(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"%s\" must be a whole number of rows, at least 0", key)));
	return (int64) d;
}

/*
 * A non-empty string setting.
 */
static char *
ParseString(const char *key, const JsonbValue *v)
{
	if (v->type != jbvString || v->val.string.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"%s\" must be a non-empty string", key)));
	return JsonValueToCString(v);
}

/*
 * The pairs of a nested object setting.
 */
static JsonPair *
ParseObject(const char *key, const JsonbValue *v, int *npairs)
{
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"%s\" must be a JSON object", key)));
	return JsonObjectPairs(JsonbValueToJsonb((JsonbValue *) v), key, npairs);
}

/*
 * A time of day "HH:MM" or "HH:MM:SS" (up to "24:00") in seconds.
 */
static int
ParseTimeOfDay(const char *key, const JsonbValue *v)
{
	char	   *s = v->type == jbvString ? JsonValueToCString(v) : NULL;
	int			h = -1,
				m = -1,
				sec = 0,
				end = 0;
	bool		valid = false;

	if (s != NULL && sscanf(s, "%2d:%2d%n", &h, &m, &end) == 2)
	{
		if (s[end] == ':')
		{
			const char *rest = s + end + 1;

			end = 0;
			valid = sscanf(rest, "%2d%n", &sec, &end) == 1 && end == 2 && rest[end] == '\0';
		}
		else
			valid = s[end] == '\0';
	}
	if (!valid || h < 0 || m < 0 || m > 59 || sec < 0 || sec > 59 || h * 3600 + m * 60 + sec > 86400)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"deploy_window\" key \"%s\" must be a time of day \"HH:MM\" or \"HH:MM:SS\"", key)));
	return h * 3600 + m * 60 + sec;
}

/*
 * "days" of a deploy window: a non-empty array of ISO weekdays, as a set
 * of bits.
 */
static int
ParseDays(const JsonbValue *v)
{
	JsonbContainer *arr = v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) ?
		v->val.binary.data : NULL;
	int			n = arr ? JsonContainerSize(arr) : 0;
	int			days = 0;
	bool		valid = n > 0;

	for (int j = 0; j < n && valid; j++)
	{
		JsonbValue *d = JsonArrayElement(arr, j);
		double		day;

		valid = d->type == jbvNumeric && JsonValueNumber(d, &day) && day == floor(day) &&
			day >= 1 && day <= 7;
		if (valid)
			days |= 1 << (int) day;
	}
	if (!valid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"deploy_window\" key \"days\" must be a non-empty array of ISO weekdays"),
				 errdetail("A weekday is a number from 1 (Monday) to 7 (Sunday).")));
	return days;
}

/*
 * "deploy_window": {"days": [1..7], "from": "09:00", "to": "17:00",
 * "timezone": "UTC"}; from and to are required, days default to every
 * day and the timezone to UTC.  A window whose "to" comes before its
 * "from" runs past midnight.
 */
static PolicyWindow *
ParseWindow(const JsonbValue *v)
{
	int			npairs;
	JsonPair   *pairs = ParseObject("deploy_window", v, &npairs);
	PolicyWindow *w = palloc0(sizeof(PolicyWindow));
	bool		has_from = false,
				has_to = false;

	w->days = 0xFE;
	w->timezone = "UTC";
	for (int i = 0; i < npairs; i++)
	{
		const char *key = pairs[i].key;
		JsonbValue *e = &pairs[i].value;

		if (strcmp(key, "from") == 0)
		{
			w->from = ParseTimeOfDay(key, e);
			has_from = true;
		}
		else if (strcmp(key, "to") == 0)
		{
			w->to = ParseTimeOfDay(key, e);
			has_to = true;
		}
		else if (strcmp(key, "timezone") == 0)
		{
			w->timezone = ParseString("deploy_window.timezone", e);
			if (pg_tzset(w->timezone) == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("policy \"deploy_window\" has unknown timezone \"%s\"", w->timezone),
						 errhint("Use a name of pg_timezone_names, such as \"UTC\" or \"Europe/Paris\".")));
		}
		else if (strcmp(key, "days") == 0)
			w->days = ParseDays(e);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown policy \"deploy_window\" key \"%s\"", key),
					 errhint("Valid keys are " WINDOW_KEYS ".")));
	}
	if (!has_from || !has_to || w->from == w->to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"deploy_window\" needs \"from\" and \"to\", and they must differ")));
	w->text = JsonbToCString(NULL, v->val.binary.data, VARSIZE(v->val.binary.data));
	return w;
}

/*
 * "min_score": an object of metric floors.
 */
static void
ParseMinScore(const JsonbValue *v, Policy *out)
{
	int			npairs;
	JsonPair   *pairs = ParseObject("min_score", v, &npairs);

	out->nmin_scores = npairs;
	out->min_metrics = palloc(sizeof(char *) * Max(1, npairs));
	out->min_values = palloc(sizeof(double) * Max(1, npairs));
	for (int i = 0; i < npairs; i++)
	{
		out->min_metrics[i] = pairs[i].key;
		if (pairs[i].value.type != jbvNumeric ||
			!JsonValueNumber(&pairs[i].value, &out->min_values[i]) || isinf(out->min_values[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("policy \"min_score\" key \"%s\" must be a number", pairs[i].key)));
	}
}

/*
 * "drift_severity": {"warning": share, "critical": share}, each optional;
 * when both are given, warning is at most critical.
 */
static void
ParseDriftSeverity(const JsonbValue *v, Policy *out)
{
	int			npairs;
	JsonPair   *pairs = ParseObject("drift_severity", v, &npairs);
	int			given = 0;

	for (int i = 0; i < npairs; i++)
	{
		const char *key = pairs[i].key;

		if (strcmp(key, "warning") == 0)
			out->drift_warning = ParseNumber("drift_severity.warning", &pairs[i].value, 0.0, 1.0);
		else if (strcmp(key, "critical") == 0)
			out->drift_critical = ParseNumber("drift_severity.critical", &pairs[i].value, 0.0, 1.0);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown policy \"drift_severity\" key \"%s\"", key),
					 errhint("Valid keys are " SEVERITY_KEYS ".")));
		given++;
	}
	/* one share given alone may pass the other's default */
	if (given == 2 && out->drift_warning > out->drift_critical)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"drift_severity\" has warning %g above critical %g",
						out->drift_warning, out->drift_critical)));
}

/*
 * "guardrails": the limits the background worker checks, and what a
 * breach does.
 */
static void
ParseGuardrails(const JsonbValue *v, PolicyGuardrails *g)
{
	int			npairs;
	JsonPair   *pairs = ParseObject("guardrails", v, &npairs);

	for (int i = 0; i < npairs; i++)
	{
		const char *key = pairs[i].key;
		JsonbValue *e = &pairs[i].value;

		if (strcmp(key, "max_error_rate") == 0)
			g->max_error_rate = ParseNumber("guardrails.max_error_rate", e, 0.0, 1.0);
		else if (strcmp(key, "max_p99_us") == 0)
			g->max_p99_us = ParseNumber("guardrails.max_p99_us", e, 0.0, 1e15);
		else if (strcmp(key, "min_live_score") == 0)
			g->min_live_score = ParseNumber("guardrails.min_live_score", e, -1e15, 1e15);
		else if (strcmp(key, "max_drift_share") == 0)
			g->max_drift_share = ParseNumber("guardrails.max_drift_share", e, 0.0, 1.0);
		else if (strcmp(key, "action") == 0)
			g->rollback = ParseChoice("guardrails.action", e, "rollback", "alert");
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown policy \"guardrails\" key \"%s\"", key),
					 errhint("Valid keys are " GUARDRAIL_KEYS ".")));
	}
}

/*
 * "log_predictions": {"sample": share of calls logged, 0 to 1 (1)}.
 */
static void
ParseLogPredictions(const JsonbValue *v, Policy *out)
{
	int			npairs;
	JsonPair   *pairs = ParseObject("log_predictions", v, &npairs);

	out->log_predictions = true;
	out->log_sample = 1.0;
	for (int i = 0; i < npairs; i++)
	{
		if (strcmp(pairs[i].key, "sample") == 0)
			out->log_sample = ParseNumber("log_predictions.sample", &pairs[i].value, 0.0, 1.0);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown policy \"log_predictions\" key \"%s\"", pairs[i].key),
					 errhint("The only key is \"sample\".")));
	}
}

/*
 * "log_retention": a positive interval such as "30 days", as text.
 */
static char *
ParseRetention(const JsonbValue *v)
{
	char	   *s = v->type == jbvString ? JsonValueToCString(v) : NULL;
	char		workbuf[256];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_itm_in itm;
	bool		valid = false;

	if (s != NULL && ParseDateTime(s, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) == 0)
		valid = DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE, &dtype, &itm) == 0 ||
			DecodeISO8601Interval(s, &dtype, &itm) == 0;
	if (!valid || dtype != DTK_DELTA ||
		!(itm.tm_year > 0 || itm.tm_mon > 0 || itm.tm_mday > 0 || itm.tm_usec > 0) ||
		itm.tm_year < 0 || itm.tm_mon < 0 || itm.tm_mday < 0 || itm.tm_usec < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy \"log_retention\" must be a positive interval such as \"30 days\""),
				 errdetail("Logged predictions older than the interval are deleted by the background worker.")));
	return s;
}

/*
 * Validate a policy object (NULL: the defaults) and fill in the defaults.
 */
void
PolicyParse(Jsonb *policy, Policy *out)
{
	int			npairs = 0;
	JsonPair   *pairs = NULL;

	memset(out, 0, sizeof(Policy));
	out->on_drift = true;
	out->drift_share = 0.5;
	out->on_prediction_drift = true;
	out->min_improvement = 0.0;
	out->deploy = true;
	out->max_degradation = 0.05;
	out->drift_warning = 0.15;
	out->drift_critical = 0.30;
	out->guardrails.max_error_rate = NAN;
	out->guardrails.max_p99_us = NAN;
	out->guardrails.min_live_score = NAN;
	out->guardrails.max_drift_share = NAN;
	if (policy != NULL)
		pairs = JsonObjectPairs(policy, "policy", &npairs);
	for (int i = 0; i < npairs; i++)
	{
		const char *key = pairs[i].key;
		JsonbValue *v = &pairs[i].value;

		if (strcmp(key, "retrain") == 0)
			out->on_drift = ParseChoice(key, v, "on_drift", "always");
		else if (strcmp(key, "drift_share") == 0)
			out->drift_share = ParseNumber(key, v, 0.0, 1.0);
		else if (strcmp(key, "on_prediction_drift") == 0)
			out->on_prediction_drift = ParseBool(key, v);
		else if (strcmp(key, "min_improvement") == 0)
			out->min_improvement = ParseNumber(key, v, -1.0, 1.0);
		else if (strcmp(key, "deploy") == 0)
			out->deploy = ParseChoice(key, v, "auto", "never");
		else if (strcmp(key, "metric") == 0)
			out->metric = ParseString(key, v);
		else if (strcmp(key, "min_score") == 0)
			ParseMinScore(v, out);
		else if (strcmp(key, "require_approval") == 0)
			out->require_approval = ParseBool(key, v);
		else if (strcmp(key, "approvers") == 0)
			out->approvers = ParseString(key, v);
		else if (strcmp(key, "deploy_window") == 0)
			out->window = ParseWindow(v);
		else if (strcmp(key, "max_degradation") == 0)
			out->max_degradation = ParseNumber(key, v, 0.0, 1.0);
		else if (strcmp(key, "drift_severity") == 0)
			ParseDriftSeverity(v, out);
		else if (strcmp(key, "guardrails") == 0)
			ParseGuardrails(v, &out->guardrails);
		else if (strcmp(key, "min_new_rows") == 0)
			out->min_new_rows = ParseCount(key, v);
		else if (strcmp(key, "on_degradation") == 0)
			out->on_degradation = ParseBool(key, v);
		else if (strcmp(key, "key") == 0)
			out->key = ParseString(key, v);
		else if (strcmp(key, "log_predictions") == 0)
			ParseLogPredictions(v, out);
		else if (strcmp(key, "log_retention") == 0)
			out->log_retention = ParseRetention(v);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown policy key \"%s\"", key),
					 errhint("Valid keys are " POLICY_KEYS ".")));
	}
}

/*
 * Write the retraining part of a policy as JSON.
 */
void
PolicyToJson(const Policy *p, StringInfo buf)
{
	appendStringInfo(buf, "{\"retrain\": \"%s\", \"drift_share\": ", p->on_drift ? "on_drift" : "always");
	JsonAppendDouble(buf, p->drift_share);
	appendStringInfo(buf, ", \"on_prediction_drift\": %s", p->on_prediction_drift ? "true" : "false");
	appendStringInfoString(buf, ", \"min_improvement\": ");
	JsonAppendDouble(buf, p->min_improvement);
	appendStringInfo(buf, ", \"deploy\": \"%s\"", p->deploy ? "auto" : "never");
	appendStringInfo(buf, ", \"min_new_rows\": " INT64_FORMAT ", \"on_degradation\": %s",
					 p->min_new_rows, p->on_degradation ? "true" : "false");
	if (p->metric)
	{
		appendStringInfoString(buf, ", \"metric\": ");
		JsonAppendString(buf, p->metric);
	}
	appendStringInfoChar(buf, '}');
}

/*
 * Append a pair of a jsonb object to an object being written.
 */
static void
AppendPair(StringInfo buf, const JsonPair *pair, bool first)
{
	JsonbValue	v = pair->value;
	Jsonb	   *jb = JsonbValueToJsonb(&v);

	JsonAppendKey(buf, pair->key, first);
	appendStringInfoString(buf, JsonbToCString(NULL, &jb->root, VARSIZE(jb)));
}

/*
 * base with the keys of changes set, a JSON null in changes removing the
 * key (base NULL: empty).
 */
Jsonb *
PolicyMerge(Jsonb *base, Jsonb *changes)
{
	int			nbase = 0,
				nchanges;
	JsonPair   *bp = base ? JsonObjectPairs(base, "policy", &nbase) : NULL;
	JsonPair   *cp = JsonObjectPairs(changes, "policy", &nchanges);
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < nbase; i++)
	{
		bool		changed = false;

		for (int j = 0; j < nchanges && !changed; j++)
			changed = strcmp(bp[i].key, cp[j].key) == 0;
		if (!changed)
		{
			AppendPair(&buf, &bp[i], first);
			first = false;
		}
	}
	for (int j = 0; j < nchanges; j++)
	{
		if (cp[j].value.type != jbvNull)
		{
			AppendPair(&buf, &cp[j], first);
			first = false;
		}
	}
	appendStringInfoChar(&buf, '}');
	return JsonFromText(&buf);
}

/*
 * The stored policy of a project (by name); NULL when it has none.
 */
Jsonb *
PolicyLoad(const char *project)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(project)};
	Jsonb	   *policy = NULL;

	SPI_connect();
	RegistryReadAsOwner("SELECT p.policy FROM mlops.policies p WHERE p.project OPERATOR(pg_catalog.=) $1",
						1, types, values, NULL);
	if (SPI_processed == 1)
		policy = RegistryResultJsonb(0, "policy", cxt);
	SPI_finish();
	return policy;
}

/*
 * The policy in force for a project: its stored policy with the keys of
 * overrides (a schedule's or a call's policy, or NULL) replacing its own.
 */
void
PolicyForProject(const char *project, Jsonb *overrides, Policy *out)
{
	Jsonb	   *stored = PolicyLoad(project);

	if (overrides != NULL)
		stored = PolicyMerge(stored, overrides);
	PolicyParse(stored, out);
}

/*
 * The metric that chooses between models.
 */
const char *
PolicyMetric(const Policy *p, MlopsTask task)
{
	if (p->metric)
		return p->metric;
	return task == TASK_CLASSIFICATION ? "f1" : "r2";
}

/*
 * Whether smaller values of a metric are better.
 */
bool
PolicyLowerIsBetter(const char *metric)
{
	return strcmp(metric, "log_loss") == 0 || strcmp(metric, "mse") == 0 ||
		strcmp(metric, "rmse") == 0 || strcmp(metric, "mae") == 0;
}

/*
 * Whether score a is at least as good as score b by margin, by metric.
 */
bool
PolicyBetter(const char *metric, double a, double b, double margin)
{
	if (PolicyLowerIsBetter(metric))
		return a <= b - margin;
	return a >= b + margin;
}

/*
 * Whether the current time falls into a deploy window (NULL: always).
 */
bool
PolicyWindowOpen(const PolicyWindow *w)
{
	pg_time_t	now;
	struct pg_tm *tm;
	int			secs;
	int			day;

	if (w == NULL)
		return true;
	now = timestamptz_to_time_t(GetCurrentTimestamp());
	tm = pg_localtime(&now, pg_tzset(w->timezone));
	secs = tm->tm_hour * 3600 + tm->tm_min * 60 + tm->tm_sec;
	day = tm->tm_wday == 0 ? 7 : tm->tm_wday;
	if (w->from < w->to)
		return (w->days & (1 << day)) && secs >= w->from && secs < w->to;
	/* past midnight: the evening part belongs to its day, the morning to the day before */
	if (secs >= w->from)
		return (w->days & (1 << day)) != 0;
	return secs < w->to && (w->days & (1 << (day == 1 ? 7 : day - 1)));
}
