/*-------------------------------------------------------------------------
 *
 * explain.c
 *	  mlops.explain and mlops.explain_global: how much each model input
 *	  adds to a prediction.
 *
 * Tree models (xgboost, random_forest) are explained by exact
 * path-dependent TreeSHAP on the native trees (forest_shap.c), which is
 * what libxgboost's predict(pred_contribs=True) computes; linear models by
 * coefficient times featurized value, the bias being the intercept (the
 * default standardization centers numeric features at their training
 * means; one-hot columns are 0 or 1).  Contributions are to the raw
 * margin: the regression value, the log-odds of the second label for
 * binary classification, and each class's margin before the softmax for
 * multiclass.  The contributions of the features an input becomes (the
 * one-hot columns of a category) are summed into one row per input, and
 * each output's rows with its bias sum to its margin.
 *
 * explain takes a row in any form predict takes (predict.c does the
 * matching); explain_global explains every row of a relation with the
 * project's deployed model and records each input's mean absolute
 * contribution in mlops.shap_importance.
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
#include "utils/builtins.h"

#include "train/linear.h"
#include "serve/explain.h"
#include "serve/forest.h"
#include "serve/model_cache.h"
#include "serve/predict.h"
#include "privileges.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_explain);
PG_FUNCTION_INFO_V1(mlops_explain_global);

/* rows explained at a time by explain_global */
#define EXPLAIN_BLOCK 256

/*
 * The margins a model's contributions add up to: one, or one per class
 * for multiclass models.
 */
int
ExplainOutputs(const MlopsModel *m)
{
	if (ALG_IS_TREE(m->algorithm))
		return ((const Forest *) m->impl)->noutputs;
	return ((const LinearModel *) m->impl)->noutputs;
}

/*
 * Refuse a model that cannot be explained: a tree model without trees, or
 * without the node covers TreeSHAP weighs paths by.
 */
void
ExplainCheckModel(const MlopsModel *m)
{
	const Forest *f;

	if (!ALG_IS_TREE(m->algorithm))
		return;
	f = (const Forest *) m->impl;
	if (f->ntrees == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model " INT64_FORMAT " has no trees to explain", m->id),
				 errdetail("Every prediction of the model is its base score.")));
	if (f->covers == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model " INT64_FORMAT " cannot be explained: its trees have no node covers", m->id),
				 errdetail("TreeSHAP weighs the paths of a tree by the training cover (sum_hessian) of its nodes, which the stored model lacks."),
				 errhint("Save the booster with XGBoost's save_model, which keeps sum_hessian.")));
}

/*
 * The contributions of one featurized row x, summed by input, into contrib:
 * ExplainOutputs(m) groups of ninputs + 1 values (the inputs, then the
 * bias).  phi is scratch of ExplainOutputs(m) * (nfeatures + 1) values.
 */
void
ExplainRow(const MlopsModel *m, const double *x, double *phi, double *contrib)
{
	const Featurizer *fz = m->fz;
	int			p = fz->nfeatures;
	int			k = ExplainOutputs(m);

	if (ALG_IS_TREE(m->algorithm))
		ForestShap((Forest *) m->impl, x, phi);
	else
	{
		const LinearModel *lm = (const LinearModel *) m->impl;

		for (int c = 0; c < k; c++)
		{
			for (int j = 0; j < p; j++)
				phi[(size_t) c * (p + 1) + j] = lm->coef[(size_t) c * p + j] * x[j];
			phi[(size_t) c * (p + 1) + p] = lm->intercept[c];
		}
	}
	for (int c = 0; c < k; c++)
	{
		const double *from = phi + (size_t) c * (p + 1);
		double	   *to = contrib + (size_t) c * (fz->ninputs + 1);

		for (int i = 0; i < fz->ninputs; i++)
		{
			const FeatureInput *in = &fz->inputs[i];
			double		sum = 0;

			for (int j = 0; j < in->nfeatures; j++)
				sum += from[in->first_feature + j];
			to[i] = sum;
		}
		to[fz->ninputs] = from[p];
	}
}

/*
 * The name of output c of a model's contributions: the label whose margin
 * it is (the second label for binary classification), NULL for regression.
 */
const char *
ExplainOutputName(const MlopsModel *m, int c)
{
	if (m->task != TASK_CLASSIFICATION)
		return NULL;
	return m->nclasses == 2 ? m->labels[1] : m->labels[c];
}

/*
 * mlops.explain(project | model_id, features): one row per output and
 * model input, then the output's bias.  value is the input's raw value
 * (NULL when missing or categorical).
 */
Datum
mlops_explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MlopsModel *m;
	const double *raw;
	const double *x;
	double	   *phi;
	double	   *contrib;
	int			k;
	int			ninputs;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	m = PredictCallRow(fcinfo, &raw, &x);
	ExplainCheckModel(m);
	k = ExplainOutputs(m);
	ninputs = m->fz->ninputs;
	phi = palloc(sizeof(double) * k * (m->fz->nfeatures + 1));
	contrib = palloc(sizeof(double) * k * (ninputs + 1));
	ExplainRow(m, x, phi, contrib);

	for (int c = 0; c < k; c++)
	{
		const char *output = ExplainOutputName(m, c);

		for (int i = 0; i <= ninputs; i++)
		{
			Datum		values[4];
			bool		nulls[4] = {output == NULL, false, true, false};

			values[0] = output ? CStringGetTextDatum(output) : (Datum) 0;
			values[1] = CStringGetTextDatum(i < ninputs ? m->fz->inputs[i].name : "(bias)");
			if (i < ninputs && !m->fz->inputs[i].categorical && !isnan(raw[i]))
			{
				values[2] = Float8GetDatum(raw[i]);
				nulls[2] = false;
			}
			values[3] = Float8GetDatum(contrib[(size_t) c * (ninputs + 1) + i]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/*
 * Record the mean absolute contribution of each input (summed over the
 * outputs) of a model on a relation, replacing what was recorded before.
 */
static void
ExplainStoreGlobal(int64 model_id, const char *project, const MlopsModel *m,
				   const char *relname, int64 rows, const double *mean_abs)
{
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, FLOAT8OID, INT8OID, TEXTOID, OIDOID};

	SPI_connect();
	for (int i = 0; i < m->fz->ninputs; i++)
	{
		Datum		values[7];

		values[0] = Int64GetDatum(model_id);
		values[1] = CStringGetTextDatum(project);
		values[2] = CStringGetTextDatum(m->fz->inputs[i].name);
		values[3] = Float8GetDatum(mean_abs[i]);
		values[4] = Int64GetDatum(rows);
		values[5] = CStringGetTextDatum(relname);
		values[6] = ObjectIdGetDatum(GetUserId());
		RegistryWriteAsOwner("INSERT INTO mlops.shap_importance "
							 "(model_id, project, feature, mean_abs_shap, rows, relation, computed_by) "
							 "VALUES ($1, $2, $3, $4, $5, $6, $7::pg_catalog.regrole) "
							 "ON CONFLICT (model_id, feature) DO UPDATE SET "
							 "project = excluded.project, mean_abs_shap = excluded.mean_abs_shap, "
							 "rows = excluded.rows, relation = excluded.relation, "
							 "computed_at = pg_catalog.now(), computed_by = excluded.computed_by",
							 7, types, values, NULL);
	}
	SPI_finish();
}

/*
 * mlops.explain_global(project, relation): explain every row of the
 * relation with the project's deployed model; returns and records each
 * input's mean absolute contribution (summed over the outputs of a
 * multiclass model), largest first.
 */
Datum
mlops_explain_global(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RegistryProject *proj;
	MlopsModel *m;
	int64		model_id;
	char	   *relname;
	Oid			relid;
	Dataset    *ds;
	double	   *block;
	double	   *phi;
	double	   *contrib;
	double	   *mean_abs;
	int		   *rowids;
	int		   *order;
	int			k;
	int			ninputs;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and relation must not be NULL")));
	proj = RegistryGetProject(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	PrivilegeCheck(proj->id, proj->name, PRIV_PREDICT);
	model_id = ModelCacheDeployed(proj->name);
	m = ModelCacheGet(model_id);
	ExplainCheckModel(m);

	relid = DatasetResolveRelation(text_to_cstring(PG_GETARG_TEXT_PP(1)), &relname);
	ds = DatasetRead(relid, relname, NULL, FeaturizerSpec(m->fz), NULL, TARGET_NONE, NULL, 0);
	FeaturizerCheckDataset(m->fz, ds);
	if (ds->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("relation %s has no rows to explain", relname)));

	k = ExplainOutputs(m);
	ninputs = m->fz->ninputs;
	block = palloc_extended(sizeof(double) * EXPLAIN_BLOCK * Max(1, m->fz->nfeatures), MCXT_ALLOC_HUGE);
	rowids = palloc(sizeof(int) * EXPLAIN_BLOCK);
	phi = palloc(sizeof(double) * k * (m->fz->nfeatures + 1));
	contrib = palloc(sizeof(double) * k * (ninputs + 1));
	mean_abs = palloc0(sizeof(double) * Max(1, ninputs));
	for (int start = 0; start < ds->nrows; start += EXPLAIN_BLOCK)
	{
		int			n = Min(EXPLAIN_BLOCK, ds->nrows - start);

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < n; r++)
			rowids[r] = start + r;
		FeaturizerDatasetRows(m->fz, ds, rowids, n, block);
		for (int r = 0; r < n; r++)
		{
			ExplainRow(m, block + (size_t) r * m->fz->nfeatures, phi, contrib);
			for (int c = 0; c < k; c++)
				for (int i = 0; i < ninputs; i++)
					mean_abs[i] += fabs(contrib[(size_t) c * (ninputs + 1) + i]);
		}
	}
	for (int i = 0; i < ninputs; i++)
		mean_abs[i] /= ds->nrows;
	ExplainStoreGlobal(model_id, proj->name, m, relname, ds->nrows, mean_abs);

	/* largest first; ties in input order */
	order = palloc(sizeof(int) * Max(1, ninputs));
	for (int i = 0; i < ninputs; i++)
	{
		int			at = i;

		while (at > 0 && mean_abs[order[at - 1]] < mean_abs[i])
		{
			order[at] = order[at - 1];
			at--;
		}
		order[at] = i;
	}
	InitMaterializedSRF(fcinfo, 0);
	for (int r = 0; r < ninputs; r++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Int64GetDatum(model_id);
		values[1] = CStringGetTextDatum(m->fz->inputs[order[r]].name);
		values[2] = Float8GetDatum(mean_abs[order[r]]);
		values[3] = Int64GetDatum(ds->nrows);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
