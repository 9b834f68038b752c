/*-------------------------------------------------------------------------
 *
 * model_eval.c
 *	  Scoring models on the rows of a relation read for several consumers.
 *
 * mlops.compare and mlops.fairness read a relation once for everything
 * they need (dataset_select.c).  A model's columns are copied before the
 * read, since loading another model may evict it from the cache; it is
 * looked up again to score.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "train/dataset_select.h"
#include "train/featurize.h"
#include "train/model_eval.h"
#include "serve/model_cache.h"

/*
 * A copy of the columns a model reads, valid whatever the model cache
 * does.
 */
DatasetSpec *
EvalModelSpec(const MlopsModel *m)
{
	DatasetSpec *spec = FeaturizerSpec(m->fz);

	for (int j = 0; j < spec->ncolumns; j++)
		spec->names[j] = pstrdup(spec->names[j]);
	return spec;
}

/*
 * Score every row of ds (read with at least the model's columns) with
 * model_id: ModelOutputs values per row.
 */
double *
EvalScoreRows(int64 model_id, const Dataset *ds, const DatasetSpec *spec)
{
	MlopsModel *m = ModelCacheGet(model_id);
	Dataset    *view = DatasetSelect(ds, spec);
	int		   *rows = palloc_extended(sizeof(int) * Max(1, ds->nrows), MCXT_ALLOC_HUGE);
	double	   *out = palloc_extended(sizeof(double) * Max(1, ds->nrows) * ModelOutputs(m),
									  MCXT_ALLOC_HUGE);

	FeaturizerCheckDataset(m->fz, view);
	for (int i = 0; i < ds->nrows; i++)
		rows[i] = i;
	ModelPredictDataset(m, view, rows, ds->nrows, out);
	pfree(rows);
	return out;
}

