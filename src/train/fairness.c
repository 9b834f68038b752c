/*-------------------------------------------------------------------------
 *
 * fairness.c
 *	  mlops.fairness: how a binary classifier treats the groups of
 *	  sensitive attributes, with fairlearn's definitions, recorded.
 *
 * The model (the project's deployed one, or the one given) scores every
 * row of the relation with a non-NULL target; the positive label is the
 * second label (as for predict_proba), a row is predicted positive when
 * the model predicts that label.  For each sensitive column and each of
 * its values (NULL is a group of its own; groups in value order, NULL
 * last), as fairlearn.metrics computes them per group of a MetricFrame:
 *
 *   selection_rate  predicted positive / rows           (selection_rate)
 *   tpr             TP / (TP + FN)                      (true_positive_rate)
 *   fpr             FP / (FP + TN)                      (false_positive_rate)
 *   precision       TP / (TP + FP)                      (precision_score)
 *   accuracy        (TP + TN) / rows                    (accuracy_score)
 *
 * a rate whose denominator is 0 is NULL.  Per attribute, on every row of
 * it: demographic_parity_diff, the largest selection rate minus the
 * smallest (demographic_parity_difference); demographic_parity_ratio, the
 * smallest over the largest (demographic_parity_ratio); equalized_odds_diff,
 * the larger of the TPR and FPR ranges (equalized_odds_difference); groups
 * whose rate is NULL are left out, as pandas' max and min skip NaN.
 *
 * Regression and multiclass models are refused: fairlearn's rates are
 * those of a binary decision.  Each call is recorded in
 * mlops.fairness_reports and mlops.fairness_results; the model card shows
 * the model's latest report.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"

#include "train/dataset_select.h"
#include "train/model_eval.h"
#include "serve/model_cache.h"
#include "privileges.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_fairness);

/* the most groups a sensitive attribute may have */
#define FAIRNESS_MAX_GROUPS 1000

/* one group of a sensitive attribute */
typedef struct FairGroup
{
	double		key;			/* value, or category rank; NaN for NULL */
	char	   *name;			/* NULL for the NULL group */
	int64		rows;
	int64		tp;
	int64		fp;
	int64		tn;
	int64		fn;
	double		rate[5];		/* selection rate, tpr, fpr, precision, accuracy */
} FairGroup;

enum
{
	RATE_SELECTION,
	RATE_TPR,
	RATE_FPR,
	RATE_PRECISION,
	RATE_ACCURACY
};

/*
 * a / b, NaN when b is 0.
 */
static double
FairDivide(int64 a, int64 b)
{
	return b > 0 ? (double) a / b : get_float8_nan();
}

/*
 * Order of doubles with NaN last.
 */
static int
FairKeyCompare(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y);
	return x < y ? -1 : x > y;
}

/* the categories being ranked by FairRankCompare */
static char **fair_categories;

/*
 * Order of category codes by their text.
 */
static int
FairRankCompare(const void *a, const void *b)
{
	return strcmp(fair_categories[*(const int *) a], fair_categories[*(const int *) b]);
}

/*
 * The groups of one sensitive column and their confusion counts: keys[i]
 * is row i's key (a value, or its category's rank by text), NaN for NULL.
 */
static FairGroup *
FairGroups(const Dataset *ds, int column, const bool *pred, int *ngroups)
{
	const DatasetColumn *col = &ds->columns[column];
	const DatasetInput *in = &ds->inputs[col->first_input];
	double	   *keys = palloc_extended(sizeof(double) * ds->nrows, MCXT_ALLOC_HUGE);
	double	   *sorted = palloc_extended(sizeof(double) * ds->nrows, MCXT_ALLOC_HUGE);
	int		   *rank = NULL;
	int		   *by_rank = NULL;
	FairGroup  *groups;
	int			n = 0;

	if (col->kind != SOURCE_NUMERIC && col->kind != SOURCE_CATEGORICAL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("sensitive column \"%s\" has type %s, not a number, boolean or category",
						col->name, format_type_be(col->typid)),
				 errhint("Derive a column of groups (text or integer) in a view.")));
	if (in->categorical)
	{
		rank = palloc(sizeof(int) * Max(1, in->ncategories));
		by_rank = palloc(sizeof(int) * Max(1, in->ncategories));
		for (int c = 0; c < in->ncategories; c++)
			by_rank[c] = c;
		fair_categories = in->categories;
		qsort(by_rank, in->ncategories, sizeof(int), FairRankCompare);
		for (int r = 0; r < in->ncategories; r++)
			rank[by_rank[r]] = r;
	}
	for (int i = 0; i < ds->nrows; i++)
	{
		double		v = in->values[i];

		keys[i] = isnan(v) || !in->categorical ? v : rank[(int) v];
		sorted[i] = keys[i];
	}
	qsort(sorted, ds->nrows, sizeof(double), FairKeyCompare);
	for (int i = 0; i < ds->nrows; i++)
		if (i == 0 || FairKeyCompare(&sorted[i], &sorted[n - 1]) != 0)
		{
			sorted[n++] = sorted[i];
			if (n > FAIRNESS_MAX_GROUPS)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("sensitive column \"%s\" has more than %d distinct values",
								col->name, FAIRNESS_MAX_GROUPS),
						 errhint("A sensitive attribute holds groups; bin a continuous column in a view first.")));
		}

	groups = palloc0(sizeof(FairGroup) * n);
	for (int g = 0; g < n; g++)
	{
		groups[g].key = sorted[g];
		if (isnan(sorted[g]))
			groups[g].name = NULL;
		else if (in->categorical)
			groups[g].name = in->categories[by_rank[(int) sorted[g]]];
		else
			groups[g].name = float8out_internal(sorted[g]);
	}
	for (int i = 0; i < ds->nrows; i++)
	{
		int			lo = 0;
		int			hi = n - 1;
		bool		actual = ds->target[i] == 1;
		FairGroup  *g;

		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (FairKeyCompare(&groups[mid].key, &keys[i]) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		g = &groups[lo];
		g->rows++;
		g->tp += pred[i] && actual;
		g->fp += pred[i] && !actual;
		g->tn += !pred[i] && !actual;
		g->fn += !pred[i] && actual;
	}
	for (int g = 0; g < n; g++)
	{
		FairGroup  *f = &groups[g];

		f->rate[RATE_SELECTION] = FairDivide(f->tp + f->fp, f->rows);
		f->rate[RATE_TPR] = FairDivide(f->tp, f->tp + f->fn);
		f->rate[RATE_FPR] = FairDivide(f->fp, f->fp + f->tn);
		f->rate[RATE_PRECISION] = FairDivide(f->tp, f->tp + f->fp);
		f->rate[RATE_ACCURACY] = FairDivide(f->tp + f->tn, f->rows);
	}
	pfree(keys);
	pfree(sorted);
	*ngroups = n;
	return groups;
}

/*
 * The smallest and largest of a rate over the groups that have it (NaN
 * when none does).
 */
static void
FairRange(const FairGroup *groups, int n, int rate, double *lo, double *hi)
{
	*lo = *hi = get_float8_nan();
	for (int g = 0; g < n; g++)
	{
		double		v = groups[g].rate[rate];

		if (isnan(v))
			continue;
		if (isnan(*lo) || v < *lo)
			*lo = v;
		if (isnan(*hi) || v > *hi)
			*hi = v;
	}
}

/*
 * A float8 datum, NULL for NaN.
 */
static inline Datum
FairFloat(double v, bool *isnull)
{
	*isnull = isnan(v);
	return Float8GetDatum(v);
}

/*
 * Record a report: its row in mlops.fairness_reports, returning its id.
 */
static int64
FairInsertReport(const char *project, int64 model_id, const char *relname, int64 rows,
				 ArrayType *sensitive)
{
	Oid			types[6] = {TEXTOID, INT8OID, TEXTOID, INT8OID, TEXTARRAYOID, OIDOID};
	Datum		values[6];
	bool		isnull;

	values[0] = CStringGetTextDatum(project);
	values[1] = Int64GetDatum(model_id);
	values[2] = CStringGetTextDatum(relname);
	values[3] = Int64GetDatum(rows);
	values[4] = PointerGetDatum(sensitive);
	values[5] = ObjectIdGetDatum(GetUserId());
	RegistryWriteAsOwner("INSERT INTO mlops.fairness_reports "
						 "(project, model_id, relation, rows, sensitive, computed_by) "
						 "VALUES ($1, $2, $3, $4, $5, $6::pg_catalog.regrole) RETURNING id",
						 6, types, values, NULL);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * mlops.fairness(project, relation, sensitive, model_id): per sensitive
 * attribute and group, fairlearn's rates and the attribute's disparities;
 * recorded.
 */
Datum
mlops_fairness(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RegistryProject *proj;
	ArrayType  *sensitive_arr;
	char	  **sensitive;
	int			nsensitive;
	int64		model_id;
	MlopsModel *m;
	DatasetSpec *spec;
	char	   *labels[2];
	char	   *relname;
	Oid			relid;
	Dataset    *ds;
	double	   *out;
	bool	   *pred;
	int64		report_id;
	int			position = 0;
	Oid			types[13] = {INT8OID, INT4OID, TEXTOID, TEXTOID, INT8OID, FLOAT8OID, FLOAT8OID,
	FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project, relation and sensitive must not be NULL")));
	proj = RegistryGetProject(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	sensitive_arr = PG_GETARG_ARRAYTYPE_P(2);
	sensitive = DatasetTextArray(sensitive_arr, "sensitive", &nsensitive);
	if (nsensitive == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sensitive must name at least one column")));
	for (int j = 0; j < nsensitive; j++)
		for (int k = 0; k < j; k++)
			if (strcmp(sensitive[j], sensitive[k]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("sensitive names column \"%s\" twice", sensitive[j])));
	if (PG_ARGISNULL(3))
		model_id = ModelCacheDeployed(proj->name);
	else
	{
		model_id = PG_GETARG_INT64(3);
		if (RegistryModelProject(model_id) != proj->id)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model " INT64_FORMAT " is not a model of project \"%s\"", model_id, proj->name)));
	}
	m = ModelCacheGet(model_id);
	if (m->task != TASK_CLASSIFICATION || m->nclasses != 2)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model " INT64_FORMAT " is a %s model; fairness needs a binary classifier", model_id,
						m->task != TASK_CLASSIFICATION ? "regression" : "multiclass"),
				 errdetail("Selection rates, true and false positive rates are those of a yes-or-no decision, as in fairlearn.")));
	labels[0] = pstrdup(m->labels[0]);
	labels[1] = pstrdup(m->labels[1]);
	spec = EvalModelSpec(m);

	relid = DatasetResolveRelation(text_to_cstring(PG_GETARG_TEXT_PP(1)), &relname);
	for (int j = 0; j < nsensitive; j++)
	{
		if (get_attnum(relid, sensitive[j]) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("relation %s has no sensitive column \"%s\"", relname, sensitive[j])));
		if (strcmp(sensitive[j], proj->target) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sensitive column \"%s\" is the target column", sensitive[j])));
	}
	ds = DatasetRead(relid, relname, proj->target,
					 DatasetSpecUnion(spec, DatasetSpecOfNames(sensitive, nsensitive)), NULL,
					 TARGET_KNOWN_LABELS, labels, 2);
	if (ds->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("relation %s has no rows with a non-NULL target", relname)));
	out = EvalScoreRows(model_id, ds, spec);
	pred = palloc_extended(sizeof(bool) * ds->nrows, MCXT_ALLOC_HUGE);
	for (int i = 0; i < ds->nrows; i++)
		pred[i] = ModelArgmax(out + (size_t) i * 2, 2) == 1;

	SPI_connect();
	report_id = FairInsertReport(proj->name, model_id, relname, ds->nrows, sensitive_arr);
	InitMaterializedSRF(fcinfo, 0);
	for (int j = 0; j < nsensitive; j++)
	{
		int			ngroups;
		FairGroup  *groups = FairGroups(ds, DatasetColumnIndex(ds, sensitive[j]), pred, &ngroups);
		double		sel_lo,
					sel_hi,
					tpr_lo,
					tpr_hi,
					fpr_lo,
					fpr_hi;
		double		dp_diff,
					dp_ratio,
					eo_diff;

		FairRange(groups, ngroups, RATE_SELECTION, &sel_lo, &sel_hi);
		FairRange(groups, ngroups, RATE_TPR, &tpr_lo, &tpr_hi);
		FairRange(groups, ngroups, RATE_FPR, &fpr_lo, &fpr_hi);
		dp_diff = sel_hi - sel_lo;
		dp_ratio = sel_hi > 0 ? sel_lo / sel_hi : get_float8_nan();
		eo_diff = isnan(tpr_hi - tpr_lo) ? fpr_hi - fpr_lo
			: isnan(fpr_hi - fpr_lo) ? tpr_hi - tpr_lo
			: Max(tpr_hi - tpr_lo, fpr_hi - fpr_lo);

		for (int g = 0; g < ngroups; g++)
		{
			Datum		values[14];
			bool		nulls[14] = {0};
			char		rnulls[14];

			values[0] = Int64GetDatum(report_id);
			values[1] = Int32GetDatum(++position);
			values[2] = CStringGetTextDatum(sensitive[j]);
			values[3] = groups[g].name ? CStringGetTextDatum(groups[g].name) : (Datum) 0;
			nulls[3] = groups[g].name == NULL;
			values[4] = Int64GetDatum(groups[g].rows);
			for (int r = 0; r < 5; r++)
				values[5 + r] = FairFloat(groups[g].rate[r], &nulls[5 + r]);
			values[10] = FairFloat(dp_diff, &nulls[10]);
			values[11] = FairFloat(dp_ratio, &nulls[11]);
			values[12] = FairFloat(eo_diff, &nulls[12]);
			for (int k = 0; k < 13; k++)
				rnulls[k] = nulls[k] ? 'n' : ' ';
			rnulls[13] = '\0';
			RegistryWriteAsOwner("INSERT INTO mlops.fairness_results (report_id, position, attribute, "
								 "grp, rows, selection_rate, tpr, fpr, \"precision\", accuracy, "
								 "demographic_parity_diff, demographic_parity_ratio, equalized_odds_diff) "
								 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
								 13, types, values, rnulls);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values + 2, nulls + 2);
		}
	}
	SPI_finish();
	return (Datum) 0;
}
