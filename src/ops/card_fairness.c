/*-------------------------------------------------------------------------
 *
 * card_fairness.c
 *	  The fairness parts of the model card, from the model's latest report
 *	  of mlops.fairness (mlops.fairness_reports and fairness_results).
 *
 * Factors names the sensitive attributes and groups that were evaluated;
 * Quantitative analyses shows the report's rates per group; Ethical
 * considerations states each attribute's disparities.  Every reader runs
 * inside the card's SPI connection, as the owner (the card's caller holds
 * predict, which shows the project's registry rows), and leaves its result
 * in SPI_tuptable.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"

#include "ops/card_fairness.h"
#include "registry.h"

/* the latest report of model $1 */
#define LATEST_REPORT \
	"(SELECT pg_catalog.max(f.id) FROM mlops.fairness_reports f " \
	"WHERE f.model_id OPERATOR(pg_catalog.=) $1)"

/* a rate as text with 3 decimals, "n/a" for NULL */
#define RATE(col) \
	"COALESCE(pg_catalog.round(" col "::pg_catalog.numeric, 3)::pg_catalog.text, 'n/a')"

/*
 * Run a query about model_id as the owner; the number of rows.
 */
static uint64
CardQuery(const char *sql, int64 model_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};

	RegistryReadAsOwner(sql, 1, types, values, NULL);
	return SPI_processed;
}

/*
 * Value of column j (from 1) of result row i, "" for NULL.
 */
static char *
CardValue(uint64 i, int j)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, j);

	return v ? v : "";
}

/*
 * Factors: the sensitive attributes and groups of the latest report;
 * false (nothing written) when there is none.
 */
bool
CardFairnessFactors(StringInfo buf, int64 model_id)
{
	uint64		n = CardQuery("SELECT r.attribute, pg_catalog.string_agg(COALESCE(r.grp, 'NULL'), ', ' "
							  "ORDER BY r.position), pg_catalog.min(f.relation) "
							  "FROM mlops.fairness_results r JOIN mlops.fairness_reports f ON f.id OPERATOR(pg_catalog.=) r.report_id "
							  "WHERE r.report_id OPERATOR(pg_catalog.=) " LATEST_REPORT
							  " GROUP BY r.attribute ORDER BY pg_catalog.min(r.position)", model_id);

	if (n == 0)
		return false;
	appendStringInfo(buf, "Groups evaluated with mlops.fairness on %s:\n\n", CardValue(0, 3));
	for (uint64 i = 0; i < n; i++)
		appendStringInfo(buf, "- %s: %s\n", CardValue(i, 1), CardValue(i, 2));
	appendStringInfoChar(buf, '\n');
	return true;
}

/*
 * Quantitative analyses: the latest report's rates per group.
 */
void
CardFairnessTable(StringInfo buf, int64 model_id)
{
	uint64		n = CardQuery("SELECT r.attribute, COALESCE(r.grp, 'NULL'), r.rows::pg_catalog.text, "
							  RATE("r.selection_rate") ", " RATE("r.tpr") ", " RATE("r.fpr") ", "
							  RATE("r.\"precision\"") ", " RATE("r.accuracy") ", "
							  "f.relation, f.computed_at::pg_catalog.text "
							  "FROM mlops.fairness_results r JOIN mlops.fairness_reports f ON f.id OPERATOR(pg_catalog.=) r.report_id "
							  "WHERE r.report_id OPERATOR(pg_catalog.=) " LATEST_REPORT
							  " ORDER BY r.position", model_id);

	if (n == 0)
	{
		appendStringInfoString(buf, "Fairness: unknown (no report of mlops.fairness for this model).\n\n");
		return;
	}
	appendStringInfo(buf, "Fairness by group (mlops.fairness on %s, %s; fairlearn's definitions):\n\n"
					 "| Attribute | Group | Rows | Selection rate | TPR | FPR | Precision | Accuracy |\n"
					 "|---|---|---|---|---|---|---|---|\n", CardValue(0, 9), CardValue(0, 10));
	for (uint64 i = 0; i < n; i++)
	{
		appendStringInfoChar(buf, '|');
		for (int j = 1; j <= 8; j++)
			appendStringInfo(buf, " %s |", CardValue(i, j));
		appendStringInfoChar(buf, '\n');
	}
	appendStringInfoChar(buf, '\n');
}

/*
 * Ethical considerations: each attribute's disparities in the latest
 * report; false (nothing written) when there is none.
 */
bool
CardFairnessConsiderations(StringInfo buf, int64 model_id)
{
	uint64		n = CardQuery("SELECT DISTINCT ON (r.attribute) r.attribute, "
							  RATE("r.demographic_parity_diff") ", " RATE("r.demographic_parity_ratio") ", "
							  RATE("r.equalized_odds_diff") ", r.position "
							  "FROM mlops.fairness_results r WHERE r.report_id OPERATOR(pg_catalog.=) " LATEST_REPORT
							  " ORDER BY r.attribute, r.position", model_id);

	if (n == 0)
		return false;
	appendStringInfoString(buf, "Disparities between groups in the latest fairness report (0 is parity for the differences, 1 for the ratio):\n\n");
	for (uint64 i = 0; i < n; i++)
		appendStringInfo(buf, "- %s: demographic parity difference %s, ratio %s; equalized odds difference %s\n",
						 CardValue(i, 1), CardValue(i, 2), CardValue(i, 3), CardValue(i, 4));
	appendStringInfoChar(buf, '\n');
	return true;
}
