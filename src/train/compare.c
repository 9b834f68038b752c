/*-------------------------------------------------------------------------
 *
 * compare.c
 *	  mlops.compare: is one model significantly better than another on the
 *	  same labeled rows?
 *
 * Both models (of one project) score every row of the relation with a
 * non-NULL target, read once for both (dataset_select.c), so they are
 * paired row by row.  Classification models are compared by McNemar's test
 * on the rows exactly one of them gets right, as statsmodels'
 * mcnemar(table, exact=discordant < 25, correction=True); their scores are
 * their accuracies.  Regression models are compared by the paired t-test
 * of their squared errors, as scipy.stats.ttest_rel(err_a, err_b); their
 * scores are their mean squared errors.  The tests are StatsMcNemar and
 * StatsPairedT (monitor/stats_tests.c).  "better" names the model with the
 * better score when the difference is significant at the 5% level, and is
 * 'neither' otherwise.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "monitor/stats_tests.h"
#include "train/dataset_select.h"
#include "train/model_eval.h"
#include "serve/model_cache.h"
#include "privileges.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_compare);

/* significance level of "better" */
#define COMPARE_ALPHA 0.05

/*
 * Fill one result row.
 */
static void
CompareEmit(ReturnSetInfo *rsinfo, const char *test, const StatsTest *t, double a_score,
			double b_score, bool lower_is_better)
{
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	const char *better = "neither";

	if (t->p_value < COMPARE_ALPHA && a_score != b_score)
		better = (a_score < b_score) == lower_is_better ? "a" : "b";
	values[0] = CStringGetTextDatum(test);
	values[1] = Float8GetDatum(t->statistic);
	nulls[1] = isnan(t->statistic);
	values[2] = Float8GetDatum(t->p_value);
	nulls[2] = isnan(t->p_value);
	values[3] = Float8GetDatum(a_score);
	values[4] = Float8GetDatum(b_score);
	values[5] = CStringGetTextDatum(better);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * mlops.compare(model_a, model_b, relation): McNemar's test (classification)
 * or the paired t-test of squared errors (regression) of two models of one
 * project on the labeled rows of a relation.
 */
Datum
mlops_compare(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		id_a;
	int64		id_b;
	RegistryProject *proj;
	int64		project_b;
	MlopsModel *m;
	DatasetSpec *spec_a;
	DatasetSpec *spec_b;
	char	  **labels = NULL;
	int			nclasses;
	char	   *relname;
	Oid			relid;
	Dataset    *ds;
	double	   *out_a;
	double	   *out_b;
	StatsTest	t;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model_a, model_b and relation must not be NULL")));
	id_a = PG_GETARG_INT64(0);
	id_b = PG_GETARG_INT64(1);
	proj = RegistryGetProjectById(RegistryModelProject(id_a));
	project_b = RegistryModelProject(id_b);
	PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	if (project_b != proj->id)
	{
		RegistryProject *other = RegistryGetProjectById(project_b);

		PrivilegeCheck(other->id, other->name, PRIV_TRAIN);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("models " INT64_FORMAT " and " INT64_FORMAT " belong to different projects",
						id_a, id_b),
				 errdetail("Model " INT64_FORMAT " is of project \"%s\", model " INT64_FORMAT " of project \"%s\".",
						   id_a, proj->name, id_b, other->name),
				 errhint("Compare two models of the same project, which predict the same target.")));
	}

	/* the columns and labels of both, copied: loading one may evict the other */
	m = ModelCacheGet(id_a);
	spec_a = EvalModelSpec(m);
	nclasses = m->task == TASK_CLASSIFICATION ? m->nclasses : 0;
	if (nclasses > 0)
	{
		labels = palloc(sizeof(char *) * nclasses);
		for (int c = 0; c < nclasses; c++)
			labels[c] = pstrdup(m->labels[c]);
	}
	m = ModelCacheGet(id_b);
	spec_b = EvalModelSpec(m);
	if ((m->task == TASK_CLASSIFICATION ? m->nclasses : 0) != nclasses)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("models " INT64_FORMAT " and " INT64_FORMAT " predict different label sets",
						id_a, id_b)));
	for (int c = 0; c < nclasses; c++)
		if (strcmp(labels[c], m->labels[c]) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("models " INT64_FORMAT " and " INT64_FORMAT " predict different label sets",
							id_a, id_b),
					 errdetail("Label %d is \"%s\" for one and \"%s\" for the other.", c + 1,
							   labels[c], m->labels[c])));

	relid = DatasetResolveRelation(text_to_cstring(PG_GETARG_TEXT_PP(2)), &relname);
	ds = DatasetRead(relid, relname, proj->target, DatasetSpecUnion(spec_a, spec_b), NULL,
					 nclasses > 0 ? TARGET_KNOWN_LABELS : TARGET_REGRESSION, labels, nclasses);
	if (ds->nrows < 2)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("relation %s has %d rows with a non-NULL target", relname, ds->nrows),
				 errdetail("Comparing two models needs at least 2 labeled rows.")));
	out_a = EvalScoreRows(id_a, ds, spec_a);
	out_b = EvalScoreRows(id_b, ds, spec_b);

	InitMaterializedSRF(fcinfo, 0);
	if (nclasses > 0)
	{
		double		only_a = 0;
		double		only_b = 0;
		double		right_a = 0;
		double		right_b = 0;

		for (int i = 0; i < ds->nrows; i++)
		{
			bool		ra = ModelArgmax(out_a + (size_t) i * nclasses, nclasses) == (int) ds->target[i];
			bool		rb = ModelArgmax(out_b + (size_t) i * nclasses, nclasses) == (int) ds->target[i];

			right_a += ra;
			right_b += rb;
			only_a += ra && !rb;
			only_b += rb && !ra;
		}
		StatsMcNemar(only_a, only_b, ds->nrows, &t);
		CompareEmit(rsinfo, only_a + only_b < 25 ? "mcnemar_exact" : "mcnemar_chi2", &t,
					right_a / ds->nrows, right_b / ds->nrows, false);
	}
	else
	{
		double		mse_a = 0;
		double		mse_b = 0;
		double		mean = 0;
		double		ss = 0;

		/* squared errors and their differences, two passes for the variance */
		for (int i = 0; i < ds->nrows; i++)
		{
			double		ea = (out_a[i] - ds->target[i]) * (out_a[i] - ds->target[i]);
			double		eb = (out_b[i] - ds->target[i]) * (out_b[i] - ds->target[i]);

			mse_a += ea;
			mse_b += eb;
			mean += ea - eb;
		}
		mean /= ds->nrows;
		for (int i = 0; i < ds->nrows; i++)
		{
			double		ea = (out_a[i] - ds->target[i]) * (out_a[i] - ds->target[i]);
			double		eb = (out_b[i] - ds->target[i]) * (out_b[i] - ds->target[i]);

			ss += (ea - eb - mean) * (ea - eb - mean);
		}
		StatsPairedT(mean, ss / (ds->nrows - 1), ds->nrows, &t);
		CompareEmit(rsinfo, "paired_t", &t, mse_a / ds->nrows, mse_b / ds->nrows, true);
	}
	return (Datum) 0;
}
