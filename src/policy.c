/*-------------------------------------------------------------------------
 *
 * policy.c
 *	  Retraining policies: when to retrain and when to deploy the result.
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
 * Unknown keys and values of the wrong type or range are errors.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "jsonutil.h"
#include "policy.h"

#define POLICY_KEYS "\"retrain\", \"drift_share\", \"on_prediction_drift\", \"min_improvement\" and \"deploy\""

/*
 * A string setting that must be one of two words; returns true for the
 * first.
 */
static bool
ParseChoice(const char *key, const JsonbValue *v, const char *yes, const char *no)
{
	char	   *s = JsonValueToCString(v);

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
 * Validate a policy object (NULL: the defaults) and fill in the defaults.
 */
void
PolicyParse(Jsonb *policy, RetrainPolicy *out)
{
	int			npairs = 0;
	JsonPair   *pairs = NULL;

	out->on_drift = true;
	out->drift_share = 0.5;
	out->on_prediction_drift = true;
	out->min_improvement = 0.0;
	out->deploy = true;
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
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown policy key \"%s\"", key),
					 errhint("Valid keys are " POLICY_KEYS ".")));
	}
}

/*
 * Write a complete policy as JSON.
 */
void
PolicyToJson(const RetrainPolicy *p, StringInfo buf)
{
	appendStringInfo(buf, "{\"retrain\": \"%s\", \"drift_share\": ", p->on_drift ? "on_drift" : "always");
	JsonAppendDouble(buf, p->drift_share);
	appendStringInfo(buf, ", \"on_prediction_drift\": %s", p->on_prediction_drift ? "true" : "false");
	appendStringInfoString(buf, ", \"min_improvement\": ");
	JsonAppendDouble(buf, p->min_improvement);
	appendStringInfo(buf, ", \"deploy\": \"%s\"}", p->deploy ? "auto" : "never");
}
