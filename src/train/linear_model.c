/*-------------------------------------------------------------------------
 *
 * linear_model.c
 *	  The linear algorithms (linear, ridge, lasso, elastic_net, logistic)
 *	  behind the algorithm interface; the solvers live in linear_lstsq.c,
 *	  linear_enet.c and linear_logistic.c, their shared parts in linear.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "train/linear.h"
#include "train/linear_accum.h"
#include "serve/model.h"
#include "serve/model_cache.h"
#include "privileges.h"

PG_FUNCTION_INFO_V1(mlops_weights);

/*
 * The solver kind of a linear algorithm.
 */
static LinearKind
KindOf(MlopsAlgorithm alg)
{
	switch (alg)
	{
		case ALG_LINEAR:
			return LINEAR_OLS;
		case ALG_RIDGE:
			return LINEAR_RIDGE;
		case ALG_LASSO:
		case ALG_ELASTIC_NET:
			return LINEAR_ELASTIC_NET;
		case ALG_LOGISTIC:
			return LINEAR_LOGISTIC;
		default:
			elog(ERROR, "algorithm %d is not linear", alg);
	}
	pg_unreachable();
}

/*
 * Standardized coefficients: |coefficient| times the feature's standard
 * deviation on the training rows, averaged over the outputs.
 */
static void
LinImportance(const LinearModel *m, const TrainData *td, double *importance)
{
	for (int j = 0; j < td->p; j++)
	{
		const double *col = td->X + (size_t) j * td->n;
		double		mean = 0,
					var = 0,
					sum = 0;

		for (int i = 0; i < td->n; i++)
			mean += col[i];
		mean /= td->n;
		for (int i = 0; i < td->n; i++)
			var += (col[i] - mean) * (col[i] - mean);
		for (int k = 0; k < m->noutputs; k++)
			sum += fabs(m->coef[(size_t) k * m->nfeatures + j]);
		importance[j] = sum / m->noutputs * sqrt(var / td->n);
	}
}

/*
 * Fit a linear model on the featurized rows; returns its serialized form.
 */
static bytea *
LinFit(const TrainData *td, const HyperParams *hp, StringInfo info, double *importance)
{
	LinearKind	kind = KindOf(td->algorithm);
	LinearParams params;
	LinearModel *m;

	params.alpha = hp->applies[HP_ALPHA] ? hp->v[HP_ALPHA] : 0.0;
	params.l1_ratio = hp->applies[HP_L1_RATIO] ? hp->v[HP_L1_RATIO] : 1.0;
	params.C = (hp->applies[HP_C] && hp->v[HP_PENALTY] != 0) ? hp->v[HP_C] : 0.0;
	params.max_iter = hp->applies[HP_MAX_ITER] ? (int) hp->v[HP_MAX_ITER] : 1000;
	params.tol = hp->applies[HP_TOL] ? hp->v[HP_TOL] : 1e-4;
	params.fit_intercept = hp->v[HP_FIT_INTERCEPT] != 0;

	/* the solvers read the materialized matrix only */
	TrainDataRowsDone(td);
	MlopsSetLibraryThreads();
	if (kind == LINEAR_LOGISTIC)
	{
		int		   *y = palloc_extended(sizeof(int) * td->n, MCXT_ALLOC_HUGE);

		for (int i = 0; i < td->n; i++)
			y[i] = (int) td->y[i];
		m = LinearFitLogistic(td->X, y, td->n, td->p, td->nclasses, td->class_weight,
							  &params);
	}
	else
		m = LinearFitRegression(kind, td->X, td->y, td->n, td->p, &params);

	if (!m->converged)
		ereport(WARNING,
				(errmsg("%s solver did not converge in %d iterations",
						MlopsAlgorithmName(td->algorithm), m->iterations),
				 errhint("Raise max_iter or tol in hyperparams.")));
	appendStringInfo(info, ", \"iterations\": %d, \"converged\": %s",
					 m->iterations, m->converged ? "true" : "false");
	LinImportance(m, td, importance);
	return LinearSerialize(m);
}

/* featurized values per block of rows handed to the accumulator (8 MB) */
#define LSQ_BLOCK_VALUES (1 << 20)

/*
 * Add td's training rows to the accumulator of least squares or ridge,
 * featurized a block at a time: the featurized matrix is never built.
 */
void
LsqAddRows(LinearAccum *acc, const TrainData *td)
{
	int			block = Max(1, Min(td->n, LSQ_BLOCK_VALUES / td->p));
	double	   *rows = palloc_extended(sizeof(double) * block * td->p, MCXT_ALLOC_HUGE);

	for (int start = 0; start < td->n; start += block)
	{
		int			b = Min(block, td->n - start);

		CHECK_FOR_INTERRUPTS();
		TrainDataRows(td, false, start, b, rows);
		LinearAccumAddRows(acc, rows, td->y + start, b);
	}
	pfree(rows);
}

/*
 * Solve least squares or ridge (per algorithm and hyperparameters) from
 * the accumulated rows; returns the serialized model, fills importance as
 * LinImportance does (the standard deviations from the statistics) and
 * appends the fit's description to info.
 */
bytea *
LsqFinish(LinearAccum *acc, MlopsAlgorithm algorithm, const HyperParams *hp,
		  StringInfo info, double *importance)
{
	LinearParams params = {0};
	LinearModel *m;

	params.alpha = hp->applies[HP_ALPHA] ? hp->v[HP_ALPHA] : 0.0;
	params.max_iter = 1;
	params.tol = 1;
	params.fit_intercept = hp->v[HP_FIT_INTERCEPT] != 0;
	MlopsSetLibraryThreads();
	m = LinearAccumSolve(acc, KindOf(algorithm), &params);
	appendStringInfo(info, ", \"iterations\": %d, \"converged\": %s",
					 m->iterations, m->converged ? "true" : "false");
	LinearAccumStddev(acc, importance);
	for (int j = 0; j < m->nfeatures; j++)
		importance[j] *= fabs(m->coef[j]);
	return LinearSerialize(m);
}

/*
 * Fit least squares or ridge from td's rows streamed into the accumulator
 * of linear_accum.c.
 */
static bytea *
LsqFit(const TrainData *td, const HyperParams *hp, StringInfo info, double *importance)
{
	LinearAccum *acc = LinearAccumCreate(td->p);

	MlopsSetLibraryThreads();
	LsqAddRows(acc, td);
	TrainDataRowsDone(td);
	return LsqFinish(acc, td->algorithm, hp, info, importance);
}

/*
 * The bytes LsqFit allocates besides td's arrays.
 */
static double
LsqFitMemory(const TrainData *td, const HyperParams *hp)
{
	return LinearAccumMemory(td->p) +
		sizeof(double) * (double) Max(1, Min(td->n, LSQ_BLOCK_VALUES / td->p)) * td->p;
}

/*
 * The bytes LinFit allocates besides td's arrays.
 */
static double
LinFitMemory(const TrainData *td, const HyperParams *hp)
{
	return LinearFitMemory(KindOf(td->algorithm), td->n, td->p, td->nclasses,
						   hp->v[HP_FIT_INTERCEPT] != 0);
}

/*
 * Read a stored linear model and check it fits its transform.
 */
static void *
LinLoad(const bytea *blob, int nfeatures, int nclasses)
{
	LinearModel *m = LinearDeserialize(blob);

	if (m->nfeatures != nfeatures || m->nclasses != nclasses)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored linear model does not match its metadata"),
				 errdetail("It has %d features and %d classes, its metadata %d and %d.",
						   m->nfeatures, m->nclasses, nfeatures, nclasses)));
	return m;
}

/*
 * Score n row-major rows.
 */
static void
LinPredict(void *impl, const double *X, int n, int p, double *out)
{
	LinearModel *m = (LinearModel *) impl;
	int			nout = m->nclasses > 0 ? m->nclasses : 1;

	for (int i = 0; i < n; i++)
		LinearPredictRow(m, X + (size_t) i * p, out + (size_t) i * nout);
}

const AlgorithmOps linear_ops = {
	.fit = LinFit,
	.fit_memory = LinFitMemory,
	.load = LinLoad,
	.predict = LinPredict,
};

/* linear and ridge: statistics accumulated from streamed rows */
const AlgorithmOps lstsq_ops = {
	.fit = LsqFit,
	.fit_memory = LsqFitMemory,
	.load = LinLoad,
	.predict = LinPredict,
	.streams = true,
};

/*
 * mlops.weights(model_id): the coefficients and intercepts of a linear
 * model, one row per output and feature, on the featurized (imputed and
 * scaled) values the model sees.
 */
Datum
mlops_weights(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MlopsModel *m = ModelCacheGet(PG_GETARG_INT64(0));
	LinearModel *lm;

	PrivilegeCheck(m->project_id, m->project, PRIV_PREDICT);
	if (ALG_IS_TREE(m->algorithm))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model " INT64_FORMAT " is not a linear model", m->id),
				 errdetail("Its algorithm is \"%s\".", MlopsAlgorithmName(m->algorithm))));
	lm = (LinearModel *) m->impl;
	SetSingleFuncCall(fcinfo, 0);
	for (int k = 0; k < lm->noutputs; k++)
	{
		/* binary logistic has one output, for the second label */
		const char *output = m->task == TASK_REGRESSION ? "value"
			: m->labels[lm->noutputs == 1 ? 1 : k];

		for (int j = 0; j <= lm->nfeatures; j++)
		{
			Datum		values[3];
			bool		nulls[3] = {0};

			values[0] = CStringGetTextDatum(output);
			values[1] = CStringGetTextDatum(j < lm->nfeatures ? m->fz->feature_names[j] : "(intercept)");
			values[2] = Float8GetDatum(j < lm->nfeatures ? lm->coef[(size_t) k * lm->nfeatures + j]
									   : lm->intercept[k]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}
