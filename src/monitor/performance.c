/*-------------------------------------------------------------------------
 *
 * performance.c
 *	  Live performance: mlops.monitor computes the training metrics of a
 *	  model on labeled rows, per time window, and records each window in
 *	  mlops.performance_history.
 *
 * The rows are scored with the model (its feature columns are read from
 * the relation), or, with a prediction column, the predictions are read:
 * a number for regression; for classification a label (its text, or its
 * value for numeric labels), scored as a one-hot probability, or an array
 * of one probability per label in label order (mlops.predictions.proba).
 * Rows with a NULL label, time or prediction are skipped.  Windows are
 * aligned on the Unix epoch, as date_bin(window_size, time, 'epoch')
 * (a timestamp without time zone or a date is read as UTC); without a
 * time column every row is one window.  The metrics are those training
 * stores (metrics.c), plus "rows".  A window is degraded when its primary
 * metric (the policy's "metric", else f1 or r2) is worse than the model's
 * held-out score by more than max_degradation times the held-out score's
 * magnitude: below it, or above it for the lower-is-better metrics.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "jsonutil.h"
#include "monitor/alerts.h"
#include "monitor/performance.h"
#include "ops/policy.h"
#include "privileges.h"
#include "registry.h"
#include "serve/model_cache.h"
#include "train/dataset.h"
#include "train/metrics.h"
#include "train/train.h"

PG_FUNCTION_INFO_V1(mlops_monitor);

/* Unix epoch seconds beyond which a time is refused (year 290000 or so) */
#define MONITOR_MAX_EPOCH 9.0e12

/* what one call reads: the relation's columns and where the extra ones are */
typedef struct MonitorRead
{
	const MlopsModel *m;
	Dataset    *ds;
	int			time_input;		/* input holding the epoch, or -1 */
	int			pred_column;	/* source column of the predictions, or -1 */
	const char *prediction;
} MonitorRead;

/*
 * The length of a window in microseconds: positive, without months.
 */
static int64
WindowWidth(const Interval *w)
{
	double		us;

	if (w->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_size must not contain months or years: %s",
						DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(w)))),
				 errdetail("Months have different lengths, so they cannot align windows."),
				 errhint("Use days, as in '30 days'.")));
	us = (double) w->day * USECS_PER_DAY + (double) w->time;
	if (!(us > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_size must be positive: %s",
						DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(w)))),
				 errdetail("A window of zero or negative length holds no rows.")));
	if (us > MONITOR_MAX_EPOCH * USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_size is too long"),
				 errdetail("A window is at most %g seconds long.", MONITOR_MAX_EPOCH)));
	return (int64) us;
}

/*
 * The type of a column the caller named, which must exist.
 */
static Oid
MonitorColumnType(Oid relid, const char *relname, const char *column, const char *what)
{
	AttrNumber	att = get_attnum(relid, column);

	if (att == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("relation %s has no %s column \"%s\"", relname, what, column)));
	return getBaseType(get_atttype(relid, att));
}

/*
 * The columns to read: the model's feature columns unless the predictions
 * are read, then the time column and the prediction column (by position:
 * the featurizer uses the first columns).
 */
static DatasetSpec *
MonitorSpec(const MlopsModel *m, const char *prediction, const char *time_column,
			int *time_column_index, int *pred_column_index)
{
	DatasetSpec *fs = FeaturizerSpec(m->fz);
	DatasetSpec *spec = palloc(sizeof(DatasetSpec));
	int			n = prediction ? 0 : fs->ncolumns;

	spec->names = palloc(sizeof(char *) * (n + 2));
	spec->array_lengths = palloc0(sizeof(int) * (n + 2));
	for (int j = 0; j < n; j++)
	{
		spec->names[j] = fs->names[j];
		spec->array_lengths[j] = fs->array_lengths[j];
	}
	*time_column_index = *pred_column_index = -1;
	if (time_column)
	{
		*time_column_index = n;
		spec->names[n++] = (char *) time_column;
	}
	if (prediction)
	{
		*pred_column_index = n;
		spec->names[n++] = (char *) prediction;
	}
	spec->ncolumns = n;
	return spec;
}

/*
 * The label index of a prediction of row i read from a label column.
 */
static int
PredictedLabel(const MonitorRead *r, int i)
{
	const DatasetColumn *col = &r->ds->columns[r->pred_column];
	const DatasetInput *in = &r->ds->inputs[col->first_input];
	double		v = in->values[i];
	const char *text;

	if (col->kind == SOURCE_CATEGORICAL)
	{
		text = in->categories[(int) v];
		for (int k = 0; k < r->m->nclasses; k++)
			if (strcmp(r->m->labels[k], text) == 0)
				return k;
	}
	else
	{
		for (int k = 0; k < r->m->nclasses; k++)
			if (r->m->labels_numeric && r->m->label_values[k] == v)
				return k;
		text = psprintf("%g", v);
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("prediction \"%s\" in column \"%s\" is not a label of model " INT64_FORMAT,
					text, r->prediction, r->m->id)));
	pg_unreachable();
}

/*
 * Check that the prediction column fits the model: numbers for
 * regression; labels, or one probability per label, for classification.
 */
static void
CheckPredictionColumn(const MonitorRead *r)
{
	const DatasetColumn *col = &r->ds->columns[r->pred_column];
	bool		fits;

	if (r->m->task == TASK_REGRESSION)
		fits = col->kind == SOURCE_NUMERIC;
	else if (col->kind == SOURCE_ARRAY)
		fits = col->ninputs == r->m->nclasses;
	else
		fits = col->kind == SOURCE_CATEGORICAL ||
			(col->kind == SOURCE_NUMERIC && r->m->labels_numeric);
	if (!fits)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("prediction column \"%s\" has type %s, which does not fit model " INT64_FORMAT,
						r->prediction, format_type_be(col->typid), r->m->id),
				 r->m->task == TASK_REGRESSION ?
				 errdetail("A regression model's predictions are numbers.") :
				 errdetail("A classification model's predictions are its labels, or arrays of %d probabilities in label order.",
						   r->m->nclasses)));
}

/*
 * Append the metrics of the n rows of a window (row numbers in rows), as
 * training computes them.
 */
static void
WindowMetrics(const MonitorRead *r, const int *rows, int n, StringInfo buf)
{
	const MlopsModel *m = r->m;
	const Dataset *ds = r->ds;

	if (r->pred_column < 0)
	{
		ModelScoreRows(m, ds, rows, n, buf, NULL);
		return;
	}
	if (m->task == TASK_REGRESSION)
	{
		const double *pv = ds->inputs[ds->columns[r->pred_column].first_input].values;
		double	   *y = palloc(sizeof(double) * n);
		double	   *pred = palloc(sizeof(double) * n);

		for (int i = 0; i < n; i++)
		{
			y[i] = ds->target[rows[i]];
			pred[i] = pv[rows[i]];
		}
		MetricsRegression(buf, y, pred, n);
	}
	else
	{
		const DatasetColumn *col = &ds->columns[r->pred_column];
		int			k = m->nclasses;
		int		   *y = palloc(sizeof(int) * n);
		double	   *proba = palloc0(sizeof(double) * (size_t) n * k);

		for (int i = 0; i < n; i++)
		{
			y[i] = (int) ds->target[rows[i]];
			if (col->kind == SOURCE_ARRAY)
			{
				for (int c = 0; c < k; c++)
				{
					double		p = ds->inputs[col->first_input + c].values[rows[i]];

					if (!(p >= 0 && p <= 1))
						ereport(ERROR,
								(errcode(ERRCODE_DATA_EXCEPTION),
								 errmsg("prediction column \"%s\" holds %g, which is not a probability",
										r->prediction, p),
								 errdetail("Probabilities are numbers from 0 to 1, without NULL elements.")));
					proba[(size_t) i * k + c] = p;
				}
			}
			else
				proba[(size_t) i * k + PredictedLabel(r, rows[i])] = 1.0;
		}
		MetricsClassification(buf, y, proba, n, k);
	}
}

/*
 * Whether row i is monitored: a NULL time or prediction skips it (an array
 * of probabilities with some NULL elements is refused by WindowMetrics).
 */
static bool
RowUsable(const MonitorRead *r, int i)
{
	const Dataset *ds = r->ds;

	if (r->time_input >= 0 && isnan(ds->inputs[r->time_input].values[i]))
		return false;
	if (r->pred_column >= 0)
	{
		const DatasetColumn *col = &ds->columns[r->pred_column];

		for (int k = 0; k < col->ninputs; k++)
			if (!isnan(ds->inputs[col->first_input + k].values[i]))
				return true;
		return false;
	}
	return true;
}

/*
 * The window (start in microseconds after the Unix epoch) of row i.
 */
static int64
RowWindow(const MonitorRead *r, int i, int64 width, const char *time_column)
{
	double		epoch = r->ds->inputs[r->time_input].values[i];
	int64		us;
	int64		k;

	if (fabs(epoch) > MONITOR_MAX_EPOCH)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time column \"%s\" holds a time too far from 1970 to align windows on",
						time_column)));
	us = (int64) llround(epoch * USECS_PER_SEC);
	k = us / width - ((us % width) < 0 ? 1 : 0);
	return k * width;
}

/*
 * The primary metric's value in a window's metrics; NaN when it has none.
 */
static double
MetricValue(Jsonb *metrics, const char *metric)
{
	JsonbValue *v = JsonGet(&metrics->root, metric);
	double		d;

	if (v == NULL || v->type != jbvNumeric || !JsonValueNumber(v, &d))
		return NAN;
	return d;
}

/*
 * The live score below (above, for lower-is-better metrics) which a window
 * is degraded; NaN without a held-out score.
 */
double
PerformanceThreshold(const char *metric, double held_out, double max_degradation)
{
	double		margin = max_degradation * fabs(held_out);

	return PolicyLowerIsBetter(metric) ? held_out + margin : held_out - margin;
}

/*
 * Record a window in mlops.performance_history.
 */
static void
RecordWindow(const char *project, int64 model_id, const char *relname, bool has_time,
			 TimestampTz start, Interval *window, int64 rows, const char *metric,
			 double value, double held_out, int degraded, Jsonb *metrics)
{
	Oid			types[12] = {TEXTOID, INT8OID, TEXTOID, TIMESTAMPTZOID, INTERVALOID, INT8OID,
	TEXTOID, FLOAT8OID, FLOAT8OID, BOOLOID, JSONBOID, REGROLEOID};
	Datum		values[12];
	char		nulls[12] = "            ";

	values[0] = CStringGetTextDatum(project);
	values[1] = Int64GetDatum(model_id);
	values[2] = CStringGetTextDatum(relname);
	values[3] = TimestampTzGetDatum(start);
	values[4] = IntervalPGetDatum(window);
	if (!has_time)
		nulls[3] = nulls[4] = 'n';
	values[5] = Int64GetDatum(rows);
	values[6] = CStringGetTextDatum(metric);
	values[7] = Float8GetDatum(value);
	nulls[7] = isnan(value) ? 'n' : ' ';
	values[8] = Float8GetDatum(held_out);
	nulls[8] = isnan(held_out) ? 'n' : ' ';
	values[9] = BoolGetDatum(degraded == 1);
	nulls[9] = degraded < 0 ? 'n' : ' ';
	values[10] = JsonbPGetDatum(metrics);
	values[11] = ObjectIdGetDatum(GetUserId());
	SPI_connect();
	RegistryWriteAsOwner("INSERT INTO mlops.performance_history (project, model_id, relation, window_start, "
						 "window_size, rows, metric, value, held_out, degraded, metrics, monitored_by) "
						 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
						 12, types, values, nulls);
	SPI_finish();
}

/*
 * mlops.monitor(project, relation, label, prediction, time_column,
 * window_size, model_id)
 */
Datum
mlops_monitor(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *project;
	char	   *label;
	char	   *time_column;
	Interval   *window;
	int64		width;
	RegistryProject *proj;
	MlopsModel *m;
	char	   *relname;
	Oid			relid;
	Oid			time_type;
	Policy		policy;
	const char *metric;
	double		held_out;
	MonitorRead r = {0};
	int			time_column_index;
	DatasetSpec *spec;
	int		   *rows;
	int			nrows = 0;
	int			nwindows = 0;
	int			ndegraded = 0;
	bool		record = !RecoveryInProgress();
	StringInfoData detail;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project, relation, label and window_size must not be NULL")));
	project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	label = text_to_cstring(PG_GETARG_TEXT_PP(2));
	r.prediction = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	time_column = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	window = PG_GETARG_INTERVAL_P(5);
	width = WindowWidth(window);

	proj = RegistryGetProject(project, false);
	PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	m = ModelCacheGetOfProject(proj, PG_ARGISNULL(6) ? NULL : &(int64) {PG_GETARG_INT64(6)});
	r.m = m;

	/* every column named is checked before a row is read */
	relid = DatasetResolveRelation(text_to_cstring(PG_GETARG_TEXT_PP(1)), &relname);
	(void) MonitorColumnType(relid, relname, label, "label");
	if (r.prediction)
		(void) MonitorColumnType(relid, relname, r.prediction, "prediction");
	if (time_column)
	{
		time_type = MonitorColumnType(relid, relname, time_column, "time");
		if (time_type != TIMESTAMPTZOID && time_type != TIMESTAMPOID && time_type != DATEOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("time column \"%s\" has type %s", time_column, format_type_be(time_type)),
					 errhint("The time column is a timestamptz, a timestamp or a date.")));
	}
	PolicyForProject(proj->name, NULL, &policy);
	metric = PolicyMetric(&policy, proj->task);
	held_out = RegistryModelScore(m->id, metric);

	spec = MonitorSpec(m, r.prediction, time_column, &time_column_index, &r.pred_column);
	r.ds = DatasetRead(relid, relname, label, spec, time_column,
					   m->task == TASK_CLASSIFICATION ? TARGET_KNOWN_LABELS : TARGET_REGRESSION,
					   m->labels, m->nclasses);
	if (r.prediction)
		CheckPredictionColumn(&r);
	else
		FeaturizerCheckDataset(m->fz, r.ds);
	r.time_input = time_column ? r.ds->columns[time_column_index].first_input : -1;

	rows = palloc_extended(sizeof(int) * Max(1, r.ds->nrows), MCXT_ALLOC_HUGE);
	for (int i = 0; i < r.ds->nrows; i++)
		if (RowUsable(&r, i))
			rows[nrows++] = i;
	if (nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("relation %s has no rows to monitor", relname),
				 errdetail("Rows with a NULL label%s are skipped.",
						   time_column ? (r.prediction ? ", time or prediction" : " or time") :
						   (r.prediction ? " or prediction" : ""))));

	InitMaterializedSRF(fcinfo, 0);
	/* the rows are in time order: each window is a run of them */
	for (int start = 0; start < nrows;)
	{
		int64		win = time_column ? RowWindow(&r, rows[start], width, time_column) : 0;
		int			end = start + 1;
		TimestampTz ts = win - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
		StringInfoData buf;
		Jsonb	   *metrics;
		double		value;
		int			degraded = -1;
		Datum		values[4];
		bool		nulls[4] = {!time_column, false, false, false};

		while (end < nrows && (!time_column || RowWindow(&r, rows[end], width, time_column) == win))
			end++;
		initStringInfo(&buf);
		appendStringInfoChar(&buf, '{');
		WindowMetrics(&r, rows + start, end - start, &buf);
		appendStringInfo(&buf, ", \"rows\": %d}", end - start);
		metrics = JsonFromText(&buf);
		value = MetricValue(metrics, metric);
		if (!isnan(value) && !isnan(held_out))
		{
			double		threshold = PerformanceThreshold(metric, held_out, policy.max_degradation);

			degraded = PolicyLowerIsBetter(metric) ? value > threshold : value < threshold;
			ndegraded += degraded;
		}
		if (record)
			RecordWindow(proj->name, m->id, relname, time_column != NULL, ts, window, end - start,
						 metric, value, held_out, degraded, metrics);

		values[0] = TimestampTzGetDatum(ts);
		values[1] = Int64GetDatum(end - start);
		values[2] = JsonbPGetDatum(metrics);
		values[3] = BoolGetDatum(degraded == 1);
		nulls[3] = degraded < 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		nwindows++;
		start = end;
	}

	if (!record)
		ereport(NOTICE,
				(errmsg("live performance not recorded: the server is a hot standby"),
				 errdetail("The metrics are computed; mlops.performance_history and mlops.events are written only on the primary.")));
	else
	{
		initStringInfo(&detail);
		appendStringInfoString(&detail, "{\"relation\": ");
		JsonAppendString(&detail, relname);
		appendStringInfoString(&detail, ", \"metric\": ");
		JsonAppendString(&detail, metric);
		appendStringInfo(&detail, ", \"rows\": %d, \"windows\": %d, \"degraded\": %d}",
						 nrows, nwindows, ndegraded);
		RegistryLogEvent("monitor", proj->name, m->id, detail.data);
		AlertsCheckProject(proj, false);
	}
	return (Datum) 0;
}

/*
 * The latest window recorded for a model of a project; false when there
 * is none.  The caller checked the privilege (or is the worker).
 */
bool
PerformanceLatestWindow(const char *project, int64 model_id, PerformanceWindow *out)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2] = {CStringGetTextDatum(project), Int64GetDatum(model_id)};
	bool		found;

	SPI_connect();
	/* not read-only: it sees the windows mlops.monitor just wrote */
	RegistryWriteAsOwner("SELECT h.id, h.metric, h.value, h.held_out, h.degraded "
						"FROM mlops.performance_history h WHERE h.project OPERATOR(pg_catalog.=) $1 "
						"AND h.model_id OPERATOR(pg_catalog.=) $2 ORDER BY h.id DESC LIMIT 1",
						2, types, values, NULL);
	found = SPI_processed == 1;
	if (found)
	{
		bool		isnull;
		Datum		d;

		out->id = RegistryResultInt64(0, "id");
		out->metric = RegistryResultText(0, "metric", cxt);
		d = RegistryResultDatum(0, "value", &isnull);
		out->value = isnull ? NAN : DatumGetFloat8(d);
		d = RegistryResultDatum(0, "held_out", &isnull);
		out->held_out = isnull ? NAN : DatumGetFloat8(d);
		d = RegistryResultDatum(0, "degraded", &isnull);
		out->degraded = isnull ? -1 : DatumGetBool(d) ? 1 : 0;
	}
	SPI_finish();
	return found;
}
