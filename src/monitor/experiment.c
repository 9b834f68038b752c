/*-------------------------------------------------------------------------
 *
 * experiment.c
 *	  mlops.experiment: the running canary's or shadow's champion and
 *	  challenger compared on labeled rows, with significance tests.
 *
 * Every row of the relation with a non-NULL label is routed as predict
 * routes it (mlops.variant) and scored by its variant; a shadow scores
 * every row with both models.  The score of a row is whether the model's
 * label is right (classification: metric "accuracy") or its squared error
 * (regression: "mse").  The rows are read through a cursor by a query that
 * runs as the caller and calls mlops.variant, predict_label and predict
 * (so the scoring is exactly predict's), and only sums are kept
 * (Welford's running means and variances), whatever the relation's size.
 *
 * Results: one row per variant (its score with a 95 % interval: Wilson's
 * for an accuracy, Student's t for a mean squared error), then a row
 * "difference", challenger minus champion, with the test's p-value
 * (stats_tests.c): canary variants are disjoint samples (two-proportion
 * z-test, Welch's t-test); shadow variants score the same rows (McNemar's
 * test, paired t-test).  Each call is recorded in mlops.events.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "parser/parse_coerce.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"

#include "jsonutil.h"
#include "monitor/stats_tests.h"
#include "ops/experiment.h"
#include "privileges.h"
#include "registry.h"
#include "train/dataset.h"

PG_FUNCTION_INFO_V1(mlops_experiment);

/* rows fetched from the cursor at a time */
#define EXPERIMENT_FETCH 1000

/* the columns of the query that reads the scored rows, in its order */
#define COL_ROUTED 1			/* the row went to the challenger (canary) */
#define COL_CHAMPION 2			/* the champion's score of the row */
#define COL_CHALLENGER 3		/* the challenger's score of the row */

/* running count, sum, mean and sum of squared deviations (Welford) */
typedef struct RunningMean
{
	double		n;
	double		sum;			/* exact for 0/1 scores */
	double		mean;
	double		m2;
} RunningMean;

/*
 * Add a value to a running mean.
 */
static void
RunningAdd(RunningMean *r, double x)
{
	double		delta = x - r->mean;

	r->n += 1.0;
	r->sum += x;
	r->mean += delta / r->n;
	r->m2 += delta * (x - r->mean);
}

/*
 * Sample variance (ddof = 1) of a running mean; NaN below two values.
 */
static double
RunningVariance(const RunningMean *r)
{
	return r->n >= 2 ? r->m2 / (r->n - 1.0) : get_float8_nan();
}

/*
 * The SQL expression of a row's score by the model in parameter param:
 * 1 or 0 (right label), or the squared error.
 */
static char *
ScoreExpression(MlopsTask task, int param, const char *label)
{
	if (task == TASK_CLASSIFICATION)
		return psprintf("(mlops.predict_label($%d, x.*) OPERATOR(pg_catalog.=) x.%s::pg_catalog.text)"
						"::pg_catalog.int4::pg_catalog.float8", param, label);
	return psprintf("pg_catalog.power(mlops.predict($%d, x.*) OPERATOR(pg_catalog.-) "
					"x.%s::pg_catalog.float8, 2::pg_catalog.float8)", param, label);
}

/*
 * Append a result row; NaN values become NULL.
 */
static void
PutRow(ReturnSetInfo *rsinfo, const char *variant, int64 model_id, double rows, const char *metric,
	   double value, double low, double high, double p_value)
{
	Datum		values[9];
	bool		nulls[9] = {0};
	double		d[4] = {value, low, high, p_value};

	values[0] = CStringGetTextDatum(variant);
	values[1] = Int64GetDatum(model_id);
	nulls[1] = model_id == 0;
	values[2] = Int64GetDatum((int64) rows);
	values[3] = CStringGetTextDatum(metric);
	for (int i = 0; i < 4; i++)
	{
		values[4 + i] = Float8GetDatum(d[i]);
		nulls[4 + i] = isnan(d[i]);
	}
	values[8] = BoolGetDatum(p_value < 0.05);
	nulls[8] = isnan(p_value);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Append a variant's row: its mean score and the 95 % interval.
 */
static void
PutVariant(ReturnSetInfo *rsinfo, const char *variant, int64 model_id, MlopsTask task,
		   const RunningMean *r)
{
	double		low = get_float8_nan();
	double		high = get_float8_nan();

	if (r->n > 0 && task == TASK_CLASSIFICATION)
		StatsWilsonInterval(r->sum, r->n, &low, &high);
	else if (r->n > 0)
		StatsMeanInterval(r->mean, RunningVariance(r), r->n, &low, &high);
	PutRow(rsinfo, variant, model_id, r->n, task == TASK_CLASSIFICATION ? "accuracy" : "mse",
		   r->n > 0 ? r->sum / r->n : get_float8_nan(), low, high, get_float8_nan());
}

/*
 * mlops.experiment(project, relation, label): the running experiment's
 * variants scored on the labeled rows of a relation, and the difference
 * with its test.  Needs the predict privilege and SELECT on the relation.
 */
Datum
mlops_experiment(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RegistryProject *proj;
	Experiment	e;
	char	   *relname;
	Oid			relid;
	char	   *label;
	AttrNumber	attnum;
	char	   *qlabel;
	char	   *sql;
	Oid			types[3] = {INT8OID, INT8OID, TEXTOID};
	Datum		args[3];
	Portal		portal;
	RunningMean champion = {0};
	RunningMean challenger = {0};
	RunningMean paired = {0};
	double		only_challenger = 0.0;	/* shadow: rows only the challenger got right */
	double		only_champion = 0.0;
	bool		shadow;
	StatsTest	test;
	const char *metric;
	StringInfoData detail;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project, relation and label must not be NULL")));
	proj = RegistryGetProject(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	PrivilegeCheck(proj->id, proj->name, PRIV_PREDICT);
	relid = DatasetResolveRelation(text_to_cstring(PG_GETARG_TEXT_PP(1)), &relname);
	label = text_to_cstring(PG_GETARG_TEXT_PP(2));
	attnum = get_attnum(relid, label);
	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("relation %s has no column \"%s\"", relname, label),
				 errhint("Name the column that holds the true labels (project \"%s\" predicts \"%s\").",
						 proj->name, proj->target)));
	if (proj->task == TASK_REGRESSION &&
		TypeCategory(getBaseType(get_atttype(relid, attnum))) != TYPCATEGORY_NUMERIC)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("label column \"%s\" of relation %s is of type %s, not a number", label, relname,
						format_type_be(get_atttype(relid, attnum))),
				 errdetail("Project \"%s\" is a regression: its models are scored by their squared errors.",
						   proj->name)));
	if (!ExperimentRunning(proj->name, &e))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no running experiment", proj->name),
				 errhint("Start one with mlops.deploy('%s', 'canary', model_id, fraction) or "
						 "mlops.deploy('%s', 'shadow', model_id).", proj->name, proj->name)));
	shadow = e.kind == EXPERIMENT_SHADOW;
	metric = proj->task == TASK_CLASSIFICATION ? "accuracy" : "mse";

	/*
	 * Columns: routed to the challenger (canary), then the scores by the
	 * champion and by the challenger (a canary's row has only its own).
	 */
	qlabel = pstrdup(quote_identifier(label));
	if (shadow)
		sql = psprintf("SELECT false, %s, %s FROM %s x WHERE x.%s IS NOT NULL",
					   ScoreExpression(proj->task, 1, qlabel), ScoreExpression(proj->task, 2, qlabel),
					   relname, qlabel);
	else
		sql = psprintf("SELECT v.c, CASE WHEN NOT v.c THEN %s END, CASE WHEN v.c THEN %s END "
					   "FROM %s x CROSS JOIN LATERAL (SELECT mlops.variant($3, x.*) "
					   "OPERATOR(pg_catalog.=) 'challenger' OFFSET 0) v(c) WHERE x.%s IS NOT NULL",
					   ScoreExpression(proj->task, 1, qlabel), ScoreExpression(proj->task, 2, qlabel),
					   relname, qlabel);
	args[0] = Int64GetDatum(e.champion_id);
	args[1] = Int64GetDatum(e.challenger_id);
	args[2] = CStringGetTextDatum(proj->name);

	SPI_connect();
	portal = SPI_cursor_open_with_args(NULL, sql, 3, types, args, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, EXPERIMENT_FETCH);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			bool		to_challenger = DatumGetBool(SPI_getbinval(tup, desc, COL_ROUTED, &isnull));
			double		a = DatumGetFloat8(SPI_getbinval(tup, desc, COL_CHAMPION, &isnull));
			double		b = DatumGetFloat8(SPI_getbinval(tup, desc, COL_CHALLENGER, &isnull));

			if (shadow)
			{
				RunningAdd(&champion, a);
				RunningAdd(&challenger, b);
				RunningAdd(&paired, b - a);
				only_challenger += b > a;
				only_champion += a > b;
			}
			else if (to_challenger)
				RunningAdd(&challenger, b);
			else
				RunningAdd(&champion, a);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();

	if (champion.n + challenger.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("relation %s has no rows with a non-NULL \"%s\"", relname, label)));

	if (shadow && proj->task == TASK_CLASSIFICATION)
		StatsMcNemar(only_challenger, only_champion, paired.n, &test);
	else if (shadow)
		StatsPairedT(paired.mean, RunningVariance(&paired), paired.n, &test);
	else if (proj->task == TASK_CLASSIFICATION)
		StatsTwoProportionZ(challenger.sum, challenger.n, champion.sum, champion.n, &test);
	else
		StatsWelchT(challenger.mean, RunningVariance(&challenger), challenger.n,
					champion.mean, RunningVariance(&champion), champion.n, &test);

	SetSingleFuncCall(fcinfo, 0);
	PutVariant(rsinfo, "champion", e.champion_id, proj->task, &champion);
	PutVariant(rsinfo, "challenger", e.challenger_id, proj->task, &challenger);
	PutRow(rsinfo, "difference", 0, shadow ? paired.n : champion.n + challenger.n, metric,
		   champion.n > 0 && challenger.n > 0 ? challenger.sum / challenger.n - champion.sum / champion.n
		   : get_float8_nan(),
		   test.ci_low, test.ci_high, test.p_value);

	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"experiment_id\": " INT64_FORMAT ", \"kind\": \"%s\", \"relation\": ",
					 e.id, shadow ? "shadow" : "canary");
	JsonAppendString(&detail, relname);
	appendStringInfo(&detail, ", \"metric\": \"%s\", \"champion_rows\": %.0f, \"challenger_rows\": %.0f, "
					 "\"champion\": ", metric, champion.n, challenger.n);
	JsonAppendDouble(&detail, champion.n > 0 ? champion.mean : get_float8_nan());
	appendStringInfoString(&detail, ", \"challenger\": ");
	JsonAppendDouble(&detail, challenger.n > 0 ? challenger.mean : get_float8_nan());
	appendStringInfoString(&detail, ", \"p_value\": ");
	JsonAppendDouble(&detail, test.p_value);
	appendStringInfoChar(&detail, '}');
	RegistryLogEvent("experiment", proj->name, e.challenger_id, detail.data);
	return (Datum) 0;
}
