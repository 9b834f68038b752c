/*-------------------------------------------------------------------------
 *
 * report.c
 *	  mlops.report(project): one self-contained HTML page about a project,
 *	  with inline SVG charts (no scripts, no network).
 *
 * Sections: the deployed model and the primary metric of every version
 * (bars, the deployed one highlighted, with a table of the versions' held-
 * out metrics), the live performance windows of the deployed model
 * (mlops.performance_history, a line with the held-out score as a dashed
 * reference), the drift share of the latest drift reports (a line with the
 * policy's warning and critical shares), the deployed model's feature
 * importance (horizontal bars, the 15 largest), the deployed model's latency
 * histogram (mlops.serving_latency_histogram, all variants summed), the
 * open alerts and the running (else the latest) experiment of
 * mlops.experiments: its state only, since its statistical test needs
 * labeled rows and is mlops.experiment's job.  A section without data says
 * so.  Every text from the registry (names,
 * labels, features) is HTML-escaped.  Needs the predict privilege, which
 * lets a role read the project's registry rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "ops/policy.h"
#include "serve/serving_stats.h"
#include "privileges.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_report);

/* points of the line charts, newest kept */
#define REPORT_MAX_POINTS 500
/* features in the importance chart */
#define REPORT_MAX_FEATURES 15

#define CHART_W 720
#define CHART_H 240
#define CHART_LEFT 60
#define CHART_RIGHT 20
#define CHART_TOP 30
#define CHART_BOTTOM 40

/* rows of a report query: a label, two numbers (NaN for NULL) and a flag */
typedef struct ReportRows
{
	int			n;
	char	  **label;
	double	   *x;
	double	   *y;
	bool	   *flag;
} ReportRows;

/*
 * Run a report query (as the owner: the caller's privilege was checked)
 * with the project's name and id as $1 and $2 and the metric as $3; its
 * columns are label text, x float8, y float8 and flag bool, by name.
 */
static void
ReportQuery(const char *sql, const RegistryProject *proj, const char *metric, ReportRows *r)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[3] = {TEXTOID, INT8OID, TEXTOID};
	Datum		values[3] = {CStringGetTextDatum(proj->name), Int64GetDatum(proj->id),
	CStringGetTextDatum(metric)};

	SPI_connect();
	RegistryReadAsOwner(sql, 3, types, values, NULL);
	r->n = (int) SPI_processed;
	r->label = MemoryContextAlloc(cxt, sizeof(char *) * Max(1, r->n));
	r->x = MemoryContextAlloc(cxt, sizeof(double) * Max(1, r->n));
	r->y = MemoryContextAlloc(cxt, sizeof(double) * Max(1, r->n));
	r->flag = MemoryContextAlloc(cxt, sizeof(bool) * Max(1, r->n));
	for (int i = 0; i < r->n; i++)
	{
		char	   *s = RegistryResultText(i, "label", cxt);
		bool		isnull;
		Datum		d;

		r->label[i] = s ? s : "";
		d = RegistryResultDatum(i, "x", &isnull);
		r->x[i] = isnull ? NAN : DatumGetFloat8(d);
		d = RegistryResultDatum(i, "y", &isnull);
		r->y[i] = isnull ? NAN : DatumGetFloat8(d);
		d = RegistryResultDatum(i, "flag", &isnull);
		r->flag[i] = !isnull && DatumGetBool(d);
	}
	SPI_finish();
}

/*
 * Append text with &, <, >, " and ' escaped.
 */
static void
HtmlEscape(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		switch (*s)
		{
			case '&':
				appendStringInfoString(buf, "&amp;");
				break;
			case '<':
				appendStringInfoString(buf, "&lt;");
				break;
			case '>':
				appendStringInfoString(buf, "&gt;");
				break;
			case '"':
				appendStringInfoString(buf, "&quot;");
				break;
			case '\'':
				appendStringInfoString(buf, "&#39;");
				break;
			default:
				appendStringInfoChar(buf, *s);
		}
	}
}

/*
 * The range [*lo, *hi] of the finite values among v (and extra), widened
 * when empty or flat; false when there is none.
 */
static bool
ValueRange(const double *v, int n, const double *extra, int nextra, double *lo, double *hi)
{
	bool		any = false;

	*lo = INFINITY;
	*hi = -INFINITY;
	for (int i = 0; i < n + nextra; i++)
	{
		double		d = i < n ? v[i] : extra[i - n];

		if (!isfinite(d))
			continue;
		*lo = Min(*lo, d);
		*hi = Max(*hi, d);
		any = true;
	}
	if (any && *hi - *lo < 1e-12)
	{
		*lo -= 0.5;
		*hi += 0.5;
	}
	return any;
}

/*
 * Open a chart: the svg element, its title, the y axis with the lowest and
 * highest value (none when lo is not below hi).
 */
static void
ChartOpen(StringInfo buf, const char *title, double lo, double hi)
{
	appendStringInfo(buf, "<svg width=\"%d\" height=\"%d\" "
					 "viewBox=\"0 0 %d %d\" role=\"img\"><title>", CHART_W, CHART_H, CHART_W, CHART_H);
	HtmlEscape(buf, title);
	appendStringInfo(buf, "</title><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
					 "<text x=\"%d\" y=\"18\" class=\"t\">", CHART_W, CHART_H, CHART_LEFT);
	HtmlEscape(buf, title);
	appendStringInfo(buf, "</text><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>"
					 "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>",
					 CHART_LEFT, CHART_TOP, CHART_LEFT, CHART_H - CHART_BOTTOM,
					 CHART_LEFT, CHART_H - CHART_BOTTOM, CHART_W - CHART_RIGHT, CHART_H - CHART_BOTTOM);
	if (lo < hi)
		appendStringInfo(buf, "<text x=\"%d\" y=\"%d\" class=\"a\" text-anchor=\"end\">%.4g</text>"
						 "<text x=\"%d\" y=\"%d\" class=\"a\" text-anchor=\"end\">%.4g</text>",
						 CHART_LEFT - 4, CHART_TOP + 4, hi, CHART_LEFT - 4, CHART_H - CHART_BOTTOM, lo);
}

/*
 * The y pixel of a value.
 */
static double
ChartY(double v, double lo, double hi)
{
	return CHART_H - CHART_BOTTOM - (v - lo) / (hi - lo) * (CHART_H - CHART_TOP - CHART_BOTTOM);
}

/*
 * A dashed horizontal reference line with its name, when v is finite.
 */
static void
ChartReference(StringInfo buf, double v, double lo, double hi, const char *name, const char *color)
{
	double		y;

	if (!isfinite(v))
		return;
	y = ChartY(v, lo, hi);
	appendStringInfo(buf, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
					 "stroke-dasharray=\"6 4\"/><text x=\"%d\" y=\"%.1f\" class=\"a\" text-anchor=\"end\" "
					 "fill=\"%s\">%s %.4g</text>",
					 CHART_LEFT, y, CHART_W - CHART_RIGHT, y, color,
					 CHART_W - CHART_RIGHT, y - 3, color, name, v);
}

/*
 * A line chart of the points (r->label the x axis text, r->y the value) in
 * order, with up to two reference lines.
 */
static void
LineChart(StringInfo buf, const char *title, const ReportRows *r, const double *refs, const char **ref_names,
		  const char **ref_colors, int nrefs)
{
	double		lo,
				hi;
	double		step;
	int			first = -1,
				last = -1;

	if (!ValueRange(r->y, r->n, refs, nrefs, &lo, &hi))
	{
		appendStringInfoString(buf, "<p class=\"none\">No data.</p>");
		return;
	}
	ChartOpen(buf, title, lo, hi);
	for (int k = 0; k < nrefs; k++)
		ChartReference(buf, refs[k], lo, hi, ref_names[k], ref_colors[k]);
	step = r->n > 1 ? (double) (CHART_W - CHART_LEFT - CHART_RIGHT - 20) / (r->n - 1) : 0;
	appendStringInfoString(buf, "<polyline fill=\"none\" stroke=\"#1f6fb2\" stroke-width=\"2\" points=\"");
	for (int i = 0; i < r->n; i++)
		if (isfinite(r->y[i]))
			appendStringInfo(buf, "%.1f,%.1f ", CHART_LEFT + 10 + i * step, ChartY(r->y[i], lo, hi));
	appendStringInfoString(buf, "\"/>");
	for (int i = 0; i < r->n; i++)
	{
		if (!isfinite(r->y[i]))
			continue;
		appendStringInfo(buf, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>",
						 CHART_LEFT + 10 + i * step, ChartY(r->y[i], lo, hi), r->flag[i] ? "#c0392b" : "#1f6fb2");
		HtmlEscape(buf, r->label[i]);
		appendStringInfo(buf, ": %.4g</title></circle>", r->y[i]);
		if (first < 0)
			first = i;
		last = i;
	}
	if (first >= 0)
	{
		appendStringInfo(buf, "<text x=\"%d\" y=\"%d\" class=\"a\">", CHART_LEFT, CHART_H - CHART_BOTTOM + 16);
		HtmlEscape(buf, r->label[first]);
		appendStringInfo(buf, "</text><text x=\"%d\" y=\"%d\" class=\"a\" text-anchor=\"end\">",
						 CHART_W - CHART_RIGHT, CHART_H - CHART_BOTTOM + 16);
		HtmlEscape(buf, r->label[last]);
		appendStringInfoString(buf, "</text>");
	}
	appendStringInfoString(buf, "</svg>");
}

/*
 * A bar chart of r->y by r->label, r->flag highlighting bars; horizontal
 * bars suit long labels.
 */
static void
BarChart(StringInfo buf, const char *title, const ReportRows *r, bool horizontal)
{
	double		zero = 0;
	double		lo,
				hi;
	double		band;

	if (r->n == 0 || !ValueRange(r->y, r->n, &zero, 1, &lo, &hi))
	{
		appendStringInfoString(buf, "<p class=\"none\">No data.</p>");
		return;
	}
	ChartOpen(buf, title, horizontal ? 0 : lo, horizontal ? 0 : hi);
	band = (double) (horizontal ? CHART_H - CHART_TOP - CHART_BOTTOM : CHART_W - CHART_LEFT - CHART_RIGHT) / r->n;
	for (int i = 0; i < r->n; i++)
	{
		const char *color = r->flag[i] ? "#c0392b" : "#1f6fb2";
		double		v = isfinite(r->y[i]) ? r->y[i] : lo;

		if (horizontal)
		{
			double		w = (v - lo) / (hi - lo) * (CHART_W - CHART_LEFT - CHART_RIGHT - 160);

			appendStringInfo(buf, "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>"
							 "<text x=\"%.1f\" y=\"%.1f\" class=\"a\">",
							 CHART_LEFT + 1, CHART_TOP + i * band + 1, w, Max(band - 2, 1), color,
							 CHART_LEFT + w + 6, CHART_TOP + (i + 0.5) * band + 4);
			HtmlEscape(buf, r->label[i]);
			appendStringInfo(buf, " %.4g</text>", r->y[i]);
		}
		else
		{
			double		top = ChartY(Max(v, 0), lo, hi);
			double		bottom = ChartY(Min(v, 0), lo, hi);

			appendStringInfo(buf, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
							 "<title>", CHART_LEFT + i * band + band * 0.15, top, band * 0.7,
							 Max(bottom - top, 1), color);
			HtmlEscape(buf, r->label[i]);
			appendStringInfo(buf, ": %.4g</title></rect><text x=\"%.1f\" y=\"%d\" class=\"a\" "
							 "text-anchor=\"middle\">", r->y[i], CHART_LEFT + (i + 0.5) * band,
							 CHART_H - CHART_BOTTOM + 16);
			HtmlEscape(buf, r->label[i]);
			appendStringInfoString(buf, "</text>");
		}
	}
	appendStringInfoString(buf, "</svg>");
}

/*
 * A table of the rows of a query (run as ReportQuery runs its queries)
 * whose columns are named by head, in text form (NULL: empty), escaped.
 */
static void
Table(StringInfo buf, const char *const *head, int ncols, const char *sql, const RegistryProject *proj,
	  const char *metric)
{
	Oid			types[3] = {TEXTOID, INT8OID, TEXTOID};
	Datum		values[3] = {CStringGetTextDatum(proj->name), Int64GetDatum(proj->id),
	CStringGetTextDatum(metric)};

	SPI_connect();
	RegistryReadAsOwner(sql, 3, types, values, NULL);
	if (SPI_processed == 0)
		appendStringInfoString(buf, "<p class=\"none\">None.</p>");
	else
	{
		appendStringInfoString(buf, "<table><tr>");
		for (int c = 0; c < ncols; c++)
			appendStringInfo(buf, "<th>%s</th>", head[c]);
		appendStringInfoString(buf, "</tr>");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			appendStringInfoString(buf, "<tr>");
			for (int c = 0; c < ncols; c++)
			{
				char	   *s = RegistryResultText(i, head[c], CurrentMemoryContext);

				appendStringInfoString(buf, "<td>");
				HtmlEscape(buf, s ? s : "");
				appendStringInfoString(buf, "</td>");
			}
			appendStringInfoString(buf, "</tr>");
		}
		appendStringInfoString(buf, "</table>");
	}
	SPI_finish();
}

/*
 * The latency section: the calls per histogram bucket of the deployed
 * model (r->label the bucket's upper bound, r->y its calls), else why
 * there are none.
 */
static void
LatencySection(StringInfo buf, const ReportRows *r, bool deployed)
{
	double		calls = 0;

	for (int i = 0; i < r->n; i++)
		calls += r->y[i];
	if (!deployed)
		appendStringInfoString(buf, "<p class=\"none\">No model is deployed.</p>");
	else if (!ServingStatsAvailable())
		appendStringInfoString(buf, "<p class=\"none\">No serving statistics: mlops is not in "
							   "shared_preload_libraries.</p>");
	else if (r->n == 0)
		appendStringInfo(buf, "<p class=\"none\">No calls of the deployed model counted since the "
						 "statistics were reset (mlops.track_serving is %s).</p>",
						 mlops_track_serving ? "on" : "off");
	else
	{
		appendStringInfo(buf, "<p>%.0f calls of mlops.predict, all variants, from "
						 "mlops.serving_latency_histogram; a bar counts the calls that took from "
						 "its bound / 2^(1/4) to its bound.</p>", calls);
		BarChart(buf, "calls per latency bucket (upper bound in microseconds)", r, false);
	}
}

/* the deployed model of the project $2 */
#define DEPLOYED_SQL "(SELECT d.model_id FROM mlops.deployments d WHERE d.project_id OPERATOR(pg_catalog.=) $2 " \
	"ORDER BY d.id DESC LIMIT 1)"

/* a model's metric $3 when it is a number */
#define METRIC_SQL(m) "CASE WHEN pg_catalog.jsonb_typeof(" m ".metrics OPERATOR(pg_catalog.->) $3) " \
	"OPERATOR(pg_catalog.=) 'number' THEN (" m ".metrics OPERATOR(pg_catalog.->>) $3)::pg_catalog.float8 END"

static const char *const versions_head[] = {"version", "model_id", "algorithm", "stage", "metric", "value",
"test rows", "created"};
static const char *const alerts_head[] = {"rule", "severity", "model_id", "value", "threshold", "fired at"};
static const char *const experiment_head[] = {"kind", "champion", "challenger", "fraction", "started",
"ended", "outcome"};

/*
 * mlops.report(project)
 */
Datum
mlops_report(PG_FUNCTION_ARGS)
{
	RegistryProject *proj;
	Policy		policy;
	const char *metric;
	StringInfoData buf;
	ReportRows	r;
	double		held_out = NAN;
	double		refs[2];
	const char *ref_names[2];
	const char *ref_colors[2] = {"#e67e22", "#c0392b"};
	char	   *deployed;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project must not be NULL")));
	proj = RegistryGetProject(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	PrivilegeCheck(proj->id, proj->name, PRIV_PREDICT);
	PolicyForProject(proj->name, NULL, &policy);
	metric = PolicyMetric(&policy, proj->task);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlops report: ");
	HtmlEscape(&buf, proj->name);
	appendStringInfoString(&buf, "</title><style>body{font-family:sans-serif;margin:2em;color:#222;background:#fff}"
						   "h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}"
						   "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
						   "th{background:#eef3f8}.t{font-size:14px;font-weight:bold}.a{font-size:11px;fill:#444}"
						   ".none{color:#888}.critical{color:#c0392b}</style></head><body>\n<h1>Project ");
	HtmlEscape(&buf, proj->name);
	appendStringInfo(&buf, "</h1><p>%s of target <b>", MlopsTaskName(proj->task));
	HtmlEscape(&buf, proj->target);
	appendStringInfoString(&buf, "</b>; primary metric <b>");
	HtmlEscape(&buf, metric);
	appendStringInfo(&buf, "</b>%s.</p>\n", PolicyLowerIsBetter(metric) ? " (lower is better)" : "");

	/* versions */
	ReportQuery("SELECT 'v' OPERATOR(pg_catalog.||) m.version::pg_catalog.text AS label, m.id::pg_catalog.float8 AS x, "
				METRIC_SQL("m") " AS y, m.id OPERATOR(pg_catalog.=) " DEPLOYED_SQL " AS flag "
				"FROM mlops.models m WHERE m.project_id OPERATOR(pg_catalog.=) $2 ORDER BY m.version",
				proj, metric, &r);
	deployed = NULL;
	for (int i = 0; i < r.n; i++)
		if (r.flag[i])
		{
			deployed = r.label[i];
			held_out = r.y[i];
		}
	appendStringInfoString(&buf, "<h2>Deployed model and versions</h2><p>");
	if (deployed)
	{
		appendStringInfo(&buf, "Deployed: <b>%s</b>, held-out ", deployed);
		HtmlEscape(&buf, metric);
		appendStringInfo(&buf, " %.4g (red bar).</p>", held_out);
	}
	else
		appendStringInfoString(&buf, "No model is deployed.</p>");
	BarChart(&buf, psprintf("held-out %s by version", metric), &r, false);
	Table(&buf, versions_head, lengthof(versions_head),
		  "SELECT m.version, m.id AS model_id, m.algorithm, m.stage, $3 AS metric, " METRIC_SQL("m") " AS value, "
		  "m.metrics OPERATOR(pg_catalog.->>) 'test_rows' AS \"test rows\", "
		  "pg_catalog.to_char(m.created_at, 'YYYY-MM-DD HH24:MI') AS created "
		  "FROM mlops.models m WHERE m.project_id OPERATOR(pg_catalog.=) $2 ORDER BY m.version DESC",
		  proj, metric);

	/* live performance */
	appendStringInfoString(&buf, "\n<h2>Live performance of the deployed model</h2>");
	ReportQuery("SELECT * FROM (SELECT pg_catalog.to_char(COALESCE(h.window_start, h.monitored_at), 'YYYY-MM-DD HH24:MI') AS label, "
				"h.id::pg_catalog.float8 AS x, h.value AS y, h.degraded AS flag FROM mlops.performance_history h "
				"WHERE h.project OPERATOR(pg_catalog.=) $1 AND h.model_id OPERATOR(pg_catalog.=) " DEPLOYED_SQL " "
				"ORDER BY h.id DESC LIMIT " CppAsString2(REPORT_MAX_POINTS) ") s ORDER BY 2",
				proj, metric, &r);
	refs[0] = held_out;
	ref_names[0] = "held-out";
	appendStringInfo(&buf, "<p>%d windows recorded by mlops.monitor (newest %d shown; degraded in red).</p>",
					 r.n, REPORT_MAX_POINTS);
	LineChart(&buf, psprintf("live %s per window", metric), &r, refs, ref_names, ref_colors, 1);

	/* drift */
	appendStringInfoString(&buf, "\n<h2>Drift share over time</h2>");
	ReportQuery("SELECT * FROM (SELECT pg_catalog.to_char(r.checked_at, 'YYYY-MM-DD HH24:MI') AS label, "
				"r.id::pg_catalog.float8 AS x, r.drift_share AS y, r.dataset_drift AS flag FROM mlops.drift_reports r "
				"WHERE r.project_id OPERATOR(pg_catalog.=) $2 ORDER BY r.id DESC LIMIT "
				CppAsString2(REPORT_MAX_POINTS) ") s ORDER BY 2",
				proj, metric, &r);
	refs[0] = policy.drift_warning;
	ref_names[0] = "warning";
	refs[1] = policy.drift_critical;
	ref_names[1] = "critical";
	appendStringInfo(&buf, "<p>%d drift reports (dataset drift in red).</p>", r.n);
	LineChart(&buf, "share of drifted columns per mlops.drift call", &r, refs, ref_names, ref_colors, 2);

	/* importance */
	appendStringInfoString(&buf, "\n<h2>Feature importance of the deployed model</h2>");
	ReportQuery("SELECT e.key AS label, NULL::pg_catalog.float8 AS x, (e.value)::pg_catalog.float8 AS y, false AS flag "
				"FROM mlops.models m, pg_catalog.jsonb_each(m.importance) e "
				"WHERE m.id OPERATOR(pg_catalog.=) " DEPLOYED_SQL " "
				"AND pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'number' "
				"ORDER BY 3 DESC LIMIT " CppAsString2(REPORT_MAX_FEATURES), proj, metric, &r);
	BarChart(&buf, "importance (largest first)", &r, true);

	/* latency */
	appendStringInfoString(&buf, "\n<h2>Latency of the deployed model</h2>");
	ReportQuery("SELECT pg_catalog.round(h.le_us::pg_catalog.numeric, 2)::pg_catalog.float8::pg_catalog.text AS label, "
				"h.le_us AS x, "
				"pg_catalog.sum(h.calls)::pg_catalog.float8 AS y, false AS flag "
				"FROM mlops.serving_latency_histogram h "
				"WHERE h.project OPERATOR(pg_catalog.=) $1 AND h.model_id OPERATOR(pg_catalog.=) " DEPLOYED_SQL " "
				"GROUP BY h.le_us ORDER BY h.le_us", proj, metric, &r);
	LatencySection(&buf, &r, deployed != NULL);

	appendStringInfoString(&buf, "\n<h2>Open alerts</h2>");
	Table(&buf, alerts_head, lengthof(alerts_head),
		  "SELECT a.rule, a.severity, a.model_id, a.value, a.threshold, "
		  "pg_catalog.to_char(a.fired_at, 'YYYY-MM-DD HH24:MI:SS') AS \"fired at\" FROM mlops.alerts a "
		  "WHERE a.project OPERATOR(pg_catalog.=) $1 AND a.resolved_at IS NULL ORDER BY a.id",
		  proj, metric);

	/* experiment */
	appendStringInfoString(&buf, "\n<h2>Experiment</h2><p>The running experiment, else the latest one. "
						   "The report shows its state; comparing champion and challenger needs labeled "
						   "rows: mlops.experiment(project, relation, label) runs the test.</p>");
	Table(&buf, experiment_head, lengthof(experiment_head),
		  "SELECT e.kind, e.champion_model_id AS champion, e.challenger_model_id AS challenger, e.fraction, "
		  "pg_catalog.to_char(e.started_at, 'YYYY-MM-DD HH24:MI:SS') AS started, "
		  "pg_catalog.to_char(e.ended_at, 'YYYY-MM-DD HH24:MI:SS') AS ended, "
		  "COALESCE(e.outcome, 'running') AS outcome FROM mlops.experiments e "
		  "WHERE e.project OPERATOR(pg_catalog.=) $1 ORDER BY e.ended_at IS NULL DESC, e.id DESC LIMIT 1",
		  proj, metric);
	appendStringInfoString(&buf, "\n</body></html>\n");
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}
