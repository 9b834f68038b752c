/*-------------------------------------------------------------------------
 *
 * train_compare.c
 *	  A new model against the deployed one: scoring the deployed model on
 *	  the new run's held-out rows (from its own columns), the deploy
 *	  decision of deploy => 'auto', and saying why a model was not
 *	  deployed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/lsyscache.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "train/curves.h"
#include "train/cv.h"
#include "train/dataset.h"
#include "train/featurize.h"
#include "train/hyperparams.h"
#include "jsonutil.h"
#include "train/metrics.h"
#include "serve/model.h"
#include "ops/governance.h"
#include "serve/model_cache.h"
#include "monitor/profile.h"
#include "ops/progress.h"
#include "ops/policy.h"
#include "privileges.h"
#include "registry.h"
#include "train/split.h"
#include "train/train.h"
#include "train/train_stream.h"

/*
 * Should the new model replace the deployed one?  With "auto" it must not
 * be worse on the selection metric: on the same held-out rows when the
 * deployed model was scored on them, else by the stored metrics.
 */
bool
DecideDeploy(const char *deploy, const char *metric, int64 current, double new_score,
			 double old_score)
{
	if (strcmp(deploy, "always") == 0)
		return true;
	if (strcmp(deploy, "never") == 0)
		return false;
	if (current == 0)
		return true;
	if (isnan(new_score))
		return false;
	return isnan(old_score) || PolicyBetter(metric, new_score, old_score, 0.0);
}

/*
 * Say why deploy "auto" left a new model undeployed: a NOTICE, and a
 * not_deployed event with the compared scores.  old_score is the deployed
 * model's, on the same held-out rows when same_rows, else by its stored
 * metrics.
 */
void
ReportNotDeployed(const char *project, const TrainResult *res, double old_score, bool same_rows)
{
	const char *metric = res->metric;
	const char *worse = PolicyLowerIsBetter(metric) ? "above" : "below";
	int			test_rows = JsonGetInt(&res->metrics->root, "test_rows");
	char	   *why;
	StringInfoData detail;

	if (isnan(res->score))
		why = psprintf("It has no %s to compare with deployed model " INT64_FORMAT
					   ": no rows were held out (test_size is 0).", metric, res->previous);
	else if (same_rows)
		why = psprintf("Its %s %.4f is %s the %.4f of deployed model " INT64_FORMAT
					   " on the same %d held-out rows.", metric, res->score, worse, old_score,
					   res->previous, test_rows);
	else
		why = psprintf("Its %s %.4f is %s the stored %.4f of deployed model " INT64_FORMAT
					   ", which could not be scored on the same rows: %s.", metric, res->score, worse,
					   old_score, res->previous, res->compare_problem);
	ereport(NOTICE,
			(errmsg("model " INT64_FORMAT " was not deployed", res->model_id),
			 errdetail_internal("%s", why),
			 errhint("mlops.deploy('%s', 'specific', " INT64_FORMAT ") deploys it anyway.",
					 project, res->model_id)));

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"reason\": ");
	JsonAppendString(&detail, why);
	appendStringInfo(&detail, ", \"metric\": \"%s\", \"score\": ", metric);
	JsonAppendDouble(&detail, res->score);
	appendStringInfo(&detail, ", \"deployed_model_id\": " INT64_FORMAT ", \"deployed_score\": ",
					 res->previous);
	JsonAppendDouble(&detail, old_score);
	appendStringInfo(&detail, ", \"basis\": \"%s\"", same_rows ? "same_rows" : "stored_metrics");
	if (same_rows)
		appendStringInfo(&detail, ", \"test_rows\": %d, \"deployed_metrics_same_rows\": %s",
						 test_rows, JsonbToCString(NULL, &res->compare_metrics->root,
												   VARSIZE(res->compare_metrics)));
	appendStringInfoChar(&detail, '}');
	RegistryLogEvent("not_deployed", project, res->model_id, detail.data);
}

/*
 * A metric of a metrics object; NaN when absent or not a number.
 */
double
TrainScore(Jsonb *metrics, const char *metric)
{
	JsonbValue *v = JsonGet(&metrics->root, metric);
	double		d;

	return v != NULL && v->type == jbvNumeric && JsonValueNumber(v, &d) ? d : NAN;
}

/*
 * Does a model older than 0.2.0 read a date column (read with DATE_PARTS
 * inputs for the new model) with a sixth input, its hour?
 */
static bool
OldDateHour(const DatasetColumn *col, const FeatureSource *src)
{
	return col->kind == SOURCE_DATETIME && col->typid == DATEOID &&
		col->ninputs == DATE_PARTS && src->ninputs == DATETIME_PARTS;
}

/*
 * A dataset holding the columns another model reads, shared with ds (the
 * same rows and values), with the target in that model's label order.
 * NULL, with *problem set, when ds lacks a column of the model or a label.
 */
Dataset *
DatasetForModel(const Dataset *ds, const MlopsModel *m, char **problem)
{
	Dataset    *view = palloc(sizeof(Dataset));
	const Featurizer *fz = m->fz;
	int			ninputs = 0;

	*view = *ds;
	view->ncolumns = fz->nsources;
	view->columns = palloc(sizeof(DatasetColumn) * fz->nsources);
	view->ninputs = fz->ninputs;
	view->inputs = palloc(sizeof(DatasetInput) * fz->ninputs);
	for (int j = 0; j < fz->nsources; j++)
	{
		const FeatureSource *src = &fz->sources[j];
		int			c;

		for (c = 0; c < ds->ncolumns; c++)
			if (strcmp(ds->columns[c].name, src->name) == 0)
				break;
		if (c == ds->ncolumns || ds->columns[c].kind != src->kind ||
			(ds->columns[c].ninputs != src->ninputs && !OldDateHour(&ds->columns[c], src)))
		{
			*problem = psprintf("relation %s has no column \"%s\" as model " INT64_FORMAT " reads it",
								ds->relname, src->name, m->id);
			return NULL;
		}
		view->columns[j] = ds->columns[c];
		view->columns[j].first_input = ninputs;
		view->columns[j].ninputs = src->ninputs;
		for (int k = 0; k < src->ninputs; k++)
		{
			if (k < ds->columns[c].ninputs)
				view->inputs[ninputs + k] = ds->inputs[ds->columns[c].first_input + k];
			else
			{
				/* the hour of a date, always 0 */
				view->inputs[ninputs + k] = ds->inputs[ds->columns[c].first_input];
				view->inputs[ninputs + k].name = psprintf("%s.%s", src->name, datetime_part_names[k]);
				view->inputs[ninputs + k].values =
					palloc_extended(sizeof(double) * Max(1, ds->nrows), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
			}
			view->inputs[ninputs + k].column = j;
		}
		ninputs += src->ninputs;
	}

	if (m->task == TASK_CLASSIFICATION)
	{
		int		   *map = palloc(sizeof(int) * Max(1, ds->nclasses));

		for (int k = 0; k < ds->nclasses; k++)
		{
			map[k] = -1;
			for (int l = 0; l < m->nclasses; l++)
				if (strcmp(ds->labels[k], m->labels[l]) == 0)
					map[k] = l;
		}
		view->target = palloc_extended(sizeof(double) * Max(1, ds->nrows), MCXT_ALLOC_HUGE);
		for (int i = 0; i < ds->nrows; i++)
		{
			int			k = (int) ds->target[i];

			if (map[k] < 0)
			{
				*problem = psprintf("model " INT64_FORMAT " never saw label \"%s\"", m->id, ds->labels[k]);
				return NULL;
			}
			view->target[i] = map[k];
		}
		view->nclasses = m->nclasses;
		view->labels = m->labels;
	}
	return view;
}

/*
 * The columns a training run reads: the new model's feature columns, then
 * those only the compared model m (or NULL) reads, with their array
 * lengths, so that m is scored on its own columns.  A column of m that the
 * relation lacks, or has with another kind, is not read: the comparison
 * then says so.  Nothing of m is kept (a cached model may be evicted while
 * the relation is read).
 */
void
TrainReadSpec(const TrainPlan *plan, const MlopsModel *m, DatasetSpec *spec)
{
	int			nmax = plan->ncolumns + (m ? m->fz->nsources : 0);
	int			n = plan->ncolumns;

	spec->names = palloc(sizeof(char *) * Max(1, nmax));
	spec->array_lengths = palloc0(sizeof(int) * Max(1, nmax));
	memcpy(spec->names, plan->columns, sizeof(char *) * plan->ncolumns);
	for (int j = 0; m != NULL && j < m->fz->nsources; j++)
	{
		const FeatureSource *src = &m->fz->sources[j];
		AttrNumber	attnum = get_attnum(plan->relid, src->name);
		bool		known = false;

		for (int c = 0; c < plan->ncolumns && !known; c++)
			known = strcmp(plan->columns[c], src->name) == 0;
		if (known || attnum == InvalidAttrNumber || attnum < 0 ||
			DatasetSourceKind(getBaseType(get_atttype(plan->relid, attnum)), src->name) != src->kind)
			continue;
		spec->names[n] = pstrdup(src->name);
		spec->array_lengths[n] = (src->kind == SOURCE_ARRAY || src->kind == SOURCE_DATETIME)
			? src->ninputs : 0;
		n++;
	}
	spec->ncolumns = n;
}

/*
 * Why model m cannot be compared with a new model of this task on ntest
 * held-out rows, or NULL.
 */
char *
CompareProblem(const MlopsModel *m, MlopsTask task, int ntest)
{
	if (ntest == 0)
		return pstrdup("no rows were held out");
	if (m->task != task)
		return psprintf("model " INT64_FORMAT " is a %s model", m->id, MlopsTaskName(m->task));
	return NULL;
}

/*
 * Score another model (the deployed one) on the held-out rows of a new
 * training run, so both are compared on the same rows; ds holds the
 * columns of both (TrainReadSpec).
 */
void
CompareOnHeldOut(int64 model_id, MlopsTask task, const Dataset *ds, const Split *split,
				 TrainResult *res)
{
	MlopsModel *m = ModelCacheGet(model_id);
	Dataset    *view;
	StringInfoData metrics;

	res->compare_problem = CompareProblem(m, task, split->ntest);
	if (res->compare_problem != NULL)
		return;
	view = DatasetForModel(ds, m, &res->compare_problem);
	if (view == NULL)
		return;
	initStringInfo(&metrics);
	appendStringInfoChar(&metrics, '{');
	ModelScoreRows(m, view, split->test, split->ntest, &metrics, NULL);
	appendStringInfo(&metrics, ", \"test_rows\": %d}", split->ntest);
	res->compare_metrics = JsonFromText(&metrics);
	res->compare_score = TrainScore(res->compare_metrics, res->metric);
}
