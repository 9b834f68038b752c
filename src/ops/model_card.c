/*-------------------------------------------------------------------------
 *
 * model_card.c
 *	  mlops.model_card: a Markdown model card filled from the registry.
 *
 * The card has the nine sections of Mitchell et al., "Model Cards for
 * Model Reporting" (FAT* 2019): model details, intended use, factors,
 * metrics, evaluation data, training data, quantitative analyses, ethical
 * considerations, caveats and recommendations.  What the registry knows
 * fills them: the model row (settings, held-out metrics with the confusion
 * matrix, training record, importance, lineage, annotations), its
 * evaluations and its drift reports.  What only people know (intended
 * use, ethical considerations, caveats) comes from the model's annotations:
 * its description and the tags "intended_use", "factors",
 * "ethical_considerations" and "caveats"; a section nothing fills says
 * that it is unknown.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "jsonutil.h"
#include "privileges.h"
#include "ops/card_fairness.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_model_card);

/* feature importances listed */
#define CARD_TOP_FEATURES 10
/* evaluations and drift reports listed */
#define CARD_RECENT_ROWS 10

/* column "name" of row 0 of the last SPI result, as text; NULL for NULL */
#define Col(name) RegistryResultText(0, (name), CurrentMemoryContext)

/* member "key" of a jsonb object as text (strings unquoted), or NULL */
static char *
TagText(Jsonb *obj, const char *key)
{
	JsonbValue *v = obj ? JsonGet(&obj->root, key) : NULL;

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type == jbvString)
		return JsonValueToCString(v);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	if (v->type == jbvBool)
		return pstrdup(v->val.boolean ? "true" : "false");
	return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
}

/* a paragraph from a tag, or the sentence saying it is unknown */
static void
AppendTagOrUnknown(StringInfo buf, Jsonb *tags, const char *key, const char *unknown)
{
	char	   *text = TagText(tags, key);

	if (text != NULL)
		appendStringInfo(buf, "%s\n\n", text);
	else
		appendStringInfo(buf, "%s\n\n", unknown);
}

/* a jsonb value as Markdown text: numbers with 4 significant digits */
static void
AppendValue(StringInfo buf, const JsonbValue *v)
{
	double		d;

	if (JsonValueNumber(v, &d))
		appendStringInfo(buf, "%.4g", d);
	else if (v->type == jbvString)
		appendStringInfoString(buf, JsonValueToCString(v));
	else if (v->type == jbvBool)
		appendStringInfoString(buf, v->val.boolean ? "true" : "false");
	else if (v->type == jbvBinary)
		appendStringInfoString(buf, JsonbToCString(NULL, v->val.binary.data, v->val.binary.len));
	else
		appendStringInfoString(buf, "unknown");
}

/*
 * The held-out metrics as a table, then the confusion matrix (rows: true
 * label, columns: predicted label).
 */
static void
AppendMetrics(StringInfo buf, Jsonb *metrics, char **labels, int nlabels)
{
	int			n;
	JsonPair   *pairs = JsonObjectPairs(metrics, "metrics", &n);
	JsonbValue *cm = JsonGet(&metrics->root, "confusion_matrix");
	bool		any = false;

	for (int i = 0; i < n; i++)
	{
		if (pairs[i].value.type == jbvBinary || strcmp(pairs[i].key, "fit_seconds") == 0)
			continue;
		if (!any)
			appendStringInfoString(buf, "| Metric | Value |\n|---|---|\n");
		any = true;
		appendStringInfo(buf, "| %s | ", pairs[i].key);
		AppendValue(buf, &pairs[i].value);
		appendStringInfoString(buf, " |\n");
	}
	if (!any)
		appendStringInfoString(buf, "Unknown: the model has no held-out metrics (no rows were held out, or it was imported without them).\n");
	appendStringInfoChar(buf, '\n');
	if (cm == NULL || cm->type != jbvBinary || labels == NULL ||
		!JsonContainerIsArray(cm->val.binary.data) || JsonContainerSize(cm->val.binary.data) != nlabels)
		return;
	appendStringInfoString(buf, "Confusion matrix on the held-out rows (rows: true label, columns: predicted label):\n\n| |");
	for (int k = 0; k < nlabels; k++)
		appendStringInfo(buf, " %s |", labels[k]);
	appendStringInfoString(buf, "\n|---|");
	for (int k = 0; k < nlabels; k++)
		appendStringInfoString(buf, "---|");
	for (int r = 0; r < nlabels; r++)
	{
		JsonbValue *row = JsonArrayElement(cm->val.binary.data, r);

		appendStringInfo(buf, "\n| %s |", labels[r]);
		for (int k = 0; k < nlabels; k++)
		{
			JsonbValue *cell = row->type == jbvBinary && JsonContainerIsArray(row->val.binary.data) &&
				k < JsonContainerSize(row->val.binary.data) ? JsonArrayElement(row->val.binary.data, k) : NULL;

			appendStringInfoChar(buf, ' ');
			if (cell)
				AppendValue(buf, cell);
			appendStringInfoString(buf, " |");
		}
	}
	appendStringInfoString(buf, "\n\n");
}

/* comparison of importance pairs, largest first */
static int
CompareImportance(const void *a, const void *b)
{
	double		x,
				y;

	JsonValueNumber(&((const JsonPair *) a)->value, &x);
	JsonValueNumber(&((const JsonPair *) b)->value, &y);
	return (x < y) - (x > y);
}

/*
 * The evaluations or drift reports of a model (query: one row each, every
 * column text) as a Markdown table with the given header; "none" when
 * there are none.
 */
static void
AppendRows(StringInfo buf, const char *sql, int64 model_id, const char *header,
		   const char *none)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	int			ncols;

	RegistryReadAsOwner(sql, 1, types, values, NULL);
	if (SPI_processed == 0)
	{
		appendStringInfo(buf, "%s\n\n", none);
		return;
	}
	ncols = SPI_tuptable->tupdesc->natts;
	appendStringInfo(buf, "%s\n|", header);
	for (int j = 0; j < ncols; j++)
		appendStringInfoString(buf, "---|");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		appendStringInfoString(buf, "\n|");
		for (int j = 1; j <= ncols; j++)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, j);

			appendStringInfo(buf, " %s |", v ? v : "");
		}
	}
	appendStringInfoString(buf, "\n\n");
}

/*
 * mlops.model_card(model_id): the model card in Markdown.  Needs predict
 * (the card shows what the project's registry rows show).
 */
Datum
mlops_model_card(PG_FUNCTION_ARGS)
{
	int64		model_id;
	RegistryProject *proj;
	StringInfoData buf;
	Jsonb	   *metrics;
	Jsonb	   *training;
	Jsonb	   *importance;
	Jsonb	   *tags;
	char	   *description;
	char	  **labels = NULL;
	int			nlabels = 0;
	bool		isnull;
	Datum		labels_datum;
	int			n;
	JsonPair   *pairs;
	char	   *relation;
	char	   *name;
	char	   *task;
	char	   *version;
	char	   *fingerprint;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model_id must not be NULL")));
	model_id = PG_GETARG_INT64(0);
	proj = RegistryGetProjectById(RegistryModelProject(model_id));
	PrivilegeCheck(proj->id, proj->name, PRIV_PREDICT);

	initStringInfo(&buf);
	SPI_connect();
	RegistryReadModelAsOwner("SELECT p.name, p.task, p.target, m.version, m.algorithm, "
							 "m.hyperparams, m.preprocess, m.labels, m.metrics, m.training, m.importance, "
							 "m.created_at, m.created_by, m.parent_model_id, m.data_fingerprint, "
							 "m.description, m.tags, "
							 "(SELECT a.version FROM mlops.models a WHERE a.id OPERATOR(pg_catalog.=) m.parent_model_id) AS parent_version, "
							 "(SELECT d.model_id FROM mlops.deployments d WHERE d.project_id OPERATOR(pg_catalog.=) m.project_id "
							 " ORDER BY d.id DESC LIMIT 1) OPERATOR(pg_catalog.=) m.id AS deployed "
							 "FROM mlops.models m JOIN mlops.projects p ON p.id OPERATOR(pg_catalog.=) m.project_id "
							 "WHERE m.id OPERATOR(pg_catalog.=) $1", model_id);
	metrics = RegistryResultJsonb(0, "metrics", CurrentMemoryContext);
	training = RegistryResultJsonb(0, "training", CurrentMemoryContext);
	importance = RegistryResultJsonb(0, "importance", CurrentMemoryContext);
	tags = RegistryResultJsonb(0, "tags", CurrentMemoryContext);
	description = Col("description");
	labels_datum = RegistryResultDatum(0, "labels", &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *nulls;

		deconstruct_array(DatumGetArrayTypeP(labels_datum), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &nlabels);
		labels = palloc(sizeof(char *) * Max(1, nlabels));
		for (int k = 0; k < nlabels; k++)
			labels[k] = nulls[k] ? "NULL" : TextDatumGetCString(elems[k]);
	}
	relation = TagText(training, "relation");
	name = Col("name");
	task = Col("task");
	version = Col("version");
	fingerprint = Col("data_fingerprint");

	/* Model details */
	appendStringInfo(&buf, "# Model card: %s, version %s\n\n## Model details\n\n", name, version);
	appendStringInfo(&buf, "- Model: %s (model_id " INT64_FORMAT ", version %s of project \"%s\")%s\n",
					 Col("algorithm"), model_id, Col("version"), Col("name"),
					 strcmp(Col("deployed") ? Col("deployed") : "f", "t") == 0 ? ", deployed" : "");
	appendStringInfo(&buf, "- Task: %s of target \"%s\"", Col("task"), Col("target"));
	if (labels != NULL)
	{
		appendStringInfoString(&buf, ", labels");
		for (int k = 0; k < nlabels; k++)
			appendStringInfo(&buf, "%s \"%s\"", k ? "," : "", labels[k]);
	}
	appendStringInfo(&buf, "\n- Created: %s by %s\n", Col("created_at"), Col("created_by"));
	appendStringInfo(&buf, "- Hyperparameters: `%s`\n- Preprocessing: `%s`\n", Col("hyperparams"), Col("preprocess"));
	if (Col("parent_model_id") != NULL)
		appendStringInfo(&buf, "- Parent model: %s%s%s\n", Col("parent_model_id"),
						 Col("parent_version") ? ", version " : " (dropped)",
						 Col("parent_version") ? Col("parent_version") : "");
	else
		appendStringInfoString(&buf, "- Parent model: none (trained from scratch, or imported)\n");
	if (TagText(training, "imported") != NULL)
		appendStringInfo(&buf, "- Origin: imported %s booster (objective %s)\n", TagText(training, "imported"),
						 TagText(training, "objective") ? TagText(training, "objective") : "unknown");
	if (tags != NULL && JB_ROOT_COUNT(tags) > 0)
		appendStringInfo(&buf, "- Tags: `%s`\n", Col("tags"));
	appendStringInfoChar(&buf, '\n');

	/* Intended use */
	appendStringInfoString(&buf, "## Intended use\n\n");
	if (description != NULL)
		appendStringInfo(&buf, "%s\n\n", description);
	if (description == NULL || TagText(tags, "intended_use") != NULL)
		AppendTagOrUnknown(&buf, tags, "intended_use",
						   "Unknown: no intended use was recorded (set a description, or the tag \"intended_use\", with mlops.annotate).");

	/* Factors */
	appendStringInfoString(&buf, "## Factors\n\n");
	if (!CardFairnessFactors(&buf, model_id) || TagText(tags, "factors") != NULL)
		AppendTagOrUnknown(&buf, tags, "factors",
						   "Unknown: no relevant groups, instrumentation or environments were recorded (tag \"factors\"), and no fairness report exists for this model.");
	appendStringInfo(&buf, "Inputs: the columns %s.\n\n",
					 TagText(training, "columns") ? TagText(training, "columns") : "(unknown)");

	/* Metrics */
	appendStringInfoString(&buf, "## Metrics\n\n");
	appendStringInfo(&buf, "Held-out metrics of the training run (%s is the selection metric):\n\n",
					 strcmp(task, "classification") == 0 ? "macro f1" : "r2");
	AppendMetrics(&buf, metrics, labels, nlabels);

	/* Evaluation data */
	appendStringInfoString(&buf, "## Evaluation data\n\n");
	if (TagText(training, "test_rows") != NULL && TagText(training, "split") != NULL)
		appendStringInfo(&buf, "Held out from the training relation: %s rows (split \"%s\", test_size %s, seed %s).\n\n",
						 TagText(training, "test_rows"), TagText(training, "split"),
						 TagText(training, "test_size") ? TagText(training, "test_size") : "unknown",
						 TagText(training, "seed") ? TagText(training, "seed") : "unknown");
	else
		appendStringInfoString(&buf, "Unknown: the model was not trained here, so no rows were held out.\n\n");
	AppendRows(&buf, "SELECT e.evaluated_at::pg_catalog.text, e.relation, e.rows::pg_catalog.text, "
			   "e.metrics::pg_catalog.text FROM mlops.evaluations e "
			   "WHERE e.model_id OPERATOR(pg_catalog.=) $1 ORDER BY e.id DESC LIMIT " CppAsString2(CARD_RECENT_ROWS),
			   model_id, "Evaluations with mlops.evaluate (newest first):\n\n| Evaluated at | Relation | Rows | Metrics |",
			   "No evaluation with mlops.evaluate was recorded.");

	/* Training data */
	appendStringInfoString(&buf, "## Training data\n\n");
	if (relation != NULL)
		appendStringInfo(&buf, "Relation %s; the training record: `%s`.\n\n", relation,
						 JsonbToCString(NULL, &training->root, VARSIZE(training)));
	else
		appendStringInfoString(&buf, "Unknown: the model was trained outside this database.\n\n");
	appendStringInfo(&buf, "Data fingerprint (rows:hash of the rows read): %s\n\n",
					 fingerprint ? fingerprint : "unknown");

	/* Quantitative analyses */
	appendStringInfoString(&buf, "## Quantitative analyses\n\n");
	pairs = JsonObjectPairs(importance, "importance", &n);
	if (n > 0)
	{
		qsort(pairs, n, sizeof(JsonPair), CompareImportance);
		appendStringInfoString(&buf, "Feature importance (largest first):\n\n| Feature | Importance |\n|---|---|\n");
		for (int i = 0; i < Min(n, CARD_TOP_FEATURES); i++)
		{
			appendStringInfo(&buf, "| %s | ", pairs[i].key);
			AppendValue(&buf, &pairs[i].value);
			appendStringInfoString(&buf, " |\n");
		}
		appendStringInfoChar(&buf, '\n');
	}
	else
		appendStringInfoString(&buf, "Feature importance: unknown.\n\n");
	AppendRows(&buf, "SELECT r.checked_at::pg_catalog.text, r.relation, r.rows::pg_catalog.text, "
			   "(r.drifted::pg_catalog.text OPERATOR(pg_catalog.||) ' of ' OPERATOR(pg_catalog.||) r.features::pg_catalog.text), "
			   "r.dataset_drift::pg_catalog.text, COALESCE(r.prediction_drift::pg_catalog.text, 'unknown') "
			   "FROM mlops.drift_reports r WHERE r.model_id OPERATOR(pg_catalog.=) $1 "
			   "ORDER BY r.id DESC LIMIT " CppAsString2(CARD_RECENT_ROWS),
			   model_id, "Drift reports (newest first):\n\n| Checked at | Relation | Rows | Drifted features | Dataset drift | Prediction drift |",
			   "No drift report was recorded.");
	CardFairnessTable(&buf, model_id);

	/* Ethical considerations */
	appendStringInfoString(&buf, "## Ethical considerations\n\n");
	if (!CardFairnessConsiderations(&buf, model_id) || TagText(tags, "ethical_considerations") != NULL)
		AppendTagOrUnknown(&buf, tags, "ethical_considerations",
						   "Unknown: none were recorded (tag \"ethical_considerations\").");

	/* Caveats and recommendations */
	appendStringInfoString(&buf, "## Caveats and recommendations\n\n");
	AppendTagOrUnknown(&buf, tags, "caveats", "Unknown: none were recorded (tag \"caveats\").");
	if (TagText(training, "converged") != NULL && strcmp(TagText(training, "converged"), "false") == 0)
		appendStringInfoString(&buf, "The solver did not converge: the coefficients may not be optimal.\n\n");
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}
