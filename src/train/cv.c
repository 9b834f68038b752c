/*-------------------------------------------------------------------------
 *
 * cv.c
 *	  k-fold cross-validation of a training run: mlops.train(..., cv => k)
 *	  records in metrics->'cv' the metrics of k models, each fitted on all
 *	  but one fold of the training rows and scored on that fold, with the
 *	  mean and the standard deviation of each.
 *
 * Folds are seeded and, for classification, stratified.  Each training row
 * (at position i of the training rows, in row order) gets the key
 * splitmix64((seed as uint32) << 32 xor i); the rows are sorted by class
 * (classification only), then key, and dealt to folds 0, 1, ..., k - 1 in
 * turn, so every fold holds each class's rows within one and the folds'
 * sizes differ by at most one.  Python reproduces the folds from that rule
 * (test/python/test_cv.py).  Each fold's model is trained as the final
 * model is: the feature transform fitted on the fold's training rows, the
 * same hyperparameters (class weights counted on those rows, early stopping
 * holding out 10 % of them), the same seed.  The standard deviation is the
 * population one (numpy.std); a metric that is null in some fold (roc_auc
 * when a class is missing) has a null mean and standard deviation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "train/cv.h"
#include "train/featurize.h"
#include "jsonutil.h"
#include "mix64.h"
#include "serve/model.h"
#include "ops/progress.h"
#include "train/split.h"

/* a training row while folds are dealt */
typedef struct CvRow
{
	int			position;
	int			cls;
	uint64		key;
} CvRow;

/*
 * qsort comparator: class, then key, then position.
 */
static int
CvRowCompare(const void *a, const void *b)
{
	const CvRow *ra = a;
	const CvRow *rb = b;

	if (ra->cls != rb->cls)
		return ra->cls < rb->cls ? -1 : 1;
	if (ra->key != rb->key)
		return ra->key < rb->key ? -1 : 1;
	return (ra->position > rb->position) - (ra->position < rb->position);
}

/*
 * The fold of each of the n training rows; see the file header.  Too few
 * rows (of a class) for k folds is an error.
 */
int *
CvAssignFolds(const Dataset *ds, const int *rows, int n, bool stratified, int k, int seed)
{
	CvRow	   *r = palloc_extended(sizeof(CvRow) * Max(n, 1), MCXT_ALLOC_HUGE);
	int		   *fold = palloc_extended(sizeof(int) * Max(n, 1), MCXT_ALLOC_HUGE);

	if (n < k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cv => %d needs at least %d training rows, there are %d", k, k, n)));
	for (int i = 0; i < n; i++)
	{
		r[i].position = i;
		r[i].cls = stratified ? (int) ds->target[rows[i]] : 0;
		r[i].key = Mix64(((uint64) (uint32) seed << 32) ^ (uint64) i);
	}
	qsort(r, n, sizeof(CvRow), CvRowCompare);
	for (int i = 0, start = 0; i < n; i++)
	{
		if (i + 1 < n && r[i + 1].cls == r[i].cls)
			continue;
		if (stratified && i + 1 - start < k)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cv => %d needs at least %d training rows of each class, label \"%s\" has %d",
							k, k, ds->labels[r[i].cls], i + 1 - start),
					 errhint("Use fewer folds.")));
		start = i + 1;
	}
	for (int j = 0; j < n; j++)
		fold[r[j].position] = j % k;
	pfree(r);
	return fold;
}

/*
 * Train on the training rows outside fold f and score the rows of fold f;
 * returns the metrics (a JSON object text) in the caller's memory context.
 */
static char *
CvFold(const Dataset *ds, const int *rows, int n, const int *fold, int f, MlopsTask task,
	   MlopsAlgorithm alg, const HyperParams *hp, Jsonb *preprocess, int seed)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops cv fold",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	int		   *train = palloc_extended(sizeof(int) * n, MCXT_ALLOC_HUGE);
	int		   *test = palloc_extended(sizeof(int) * n, MCXT_ALLOC_HUGE);
	int			ntrain = 0,
				ntest = 0;
	int		   *val = NULL;
	TrainData	td = {0};
	Featurizer *fz;
	bytea	   *blob;
	StringInfoData info,
				metrics;
	MlopsModel	loaded = {0};
	char	   *result;

	for (int i = 0; i < n; i++)
	{
		if (fold[i] == f)
			test[ntest++] = rows[i];
		else
			train[ntrain++] = rows[i];
	}
	td.algorithm = alg;
	if (hp->applies[HP_EARLY_STOPPING_ROUNDS] && hp->v[HP_EARLY_STOPPING_ROUNDS] > 0)
		SplitHoldOut(train, &ntrain, &val, &td.nval, EARLY_STOPPING_FRACTION, seed);
	fz = FeaturizerFit(ds, train, ntrain, alg, preprocess);
	td.n = ntrain;
	td.p = fz->nfeatures;
	td.nclasses = ds->nclasses;
	td.seed = seed;
	TrainDataSetRows(&td, fz, ds, train, val);
	td.y = DatasetTargets(ds, train, ntrain);
	td.class_weight = HyperParamsClassWeights(hp, ds->labels, ds->nclasses, td.y, td.n);
	if (td.nval > 0)
		td.yval = DatasetTargets(ds, val, td.nval);

	initStringInfo(&info);
	blob = ModelOps(alg)->fit(&td, hp, &info, palloc0(sizeof(double) * Max(1, td.p)));
	loaded.algorithm = alg;
	loaded.task = task;
	loaded.fz = fz;
	loaded.nclasses = ds->nclasses;
	loaded.ops = ModelOps(alg);
	loaded.impl = loaded.ops->load(blob, fz->nfeatures, ds->nclasses);
	initStringInfo(&metrics);
	appendStringInfoChar(&metrics, '{');
	ModelScoreRows(&loaded, ds, test, ntest, &metrics, NULL);
	appendStringInfo(&metrics, ", \"train_rows\": %d, \"test_rows\": %d}", ntrain, ntest);

	MemoryContextSwitchTo(old);
	result = pstrdup(metrics.data);
	MemoryContextDelete(cxt);
	return result;
}

/*
 * Cross-validate a training run on its n training rows with k folds;
 * returns the JSON object of metrics->'cv' (see the file header).
 */
char *
CrossValidate(const Dataset *ds, const int *rows, int nrows, MlopsTask task, MlopsAlgorithm alg,
			  const HyperParams *hp, Jsonb *preprocess, int k, int seed)
{
	int		   *fold = CvAssignFolds(ds, rows, nrows, task == TASK_CLASSIFICATION, k, seed);
	char	  **folds = palloc(sizeof(char *) * k);
	Jsonb	  **parsed = palloc(sizeof(Jsonb *) * k);
	double	   *v = palloc(sizeof(double) * k);
	JsonPair   *first;
	int			nmetrics;
	StringInfoData out,
				std;

	MlopsProgressPhase("cross-validating", k);
	for (int f = 0; f < k; f++)
	{
		StringInfoData text;

		MlopsProgressAdvance(f);
		folds[f] = CvFold(ds, rows, nrows, fold, f, task, alg, hp, preprocess, seed);
		initStringInfo(&text);
		appendStringInfoString(&text, folds[f]);
		parsed[f] = JsonFromText(&text);
	}

	/* mean and standard deviation of each numeric metric of the first fold */
	first = JsonObjectPairs(parsed[0], "fold metrics", &nmetrics);
	initStringInfo(&out);
	initStringInfo(&std);
	appendStringInfo(&out, "{\"folds\": %d, \"stratified\": %s, \"mean\": {", k,
					 task == TASK_CLASSIFICATION ? "true" : "false");
	for (int j = 0, written = 0; j < nmetrics; j++)
	{
		double		sum = 0,
					mean,
					var = 0;
		bool		defined = true;

		if ((first[j].value.type != jbvNumeric && first[j].value.type != jbvNull) ||
			strcmp(first[j].key, "train_rows") == 0 || strcmp(first[j].key, "test_rows") == 0)
			continue;
		for (int f = 0; f < k; f++)
		{
			JsonbValue *jv = JsonGet(&parsed[f]->root, first[j].key);

			defined = defined && jv != NULL && jv->type == jbvNumeric && JsonValueNumber(jv, &v[f]);
		}
		JsonAppendKey(&out, first[j].key, written == 0);
		JsonAppendKey(&std, first[j].key, written == 0);
		written++;
		if (!defined)
		{
			appendStringInfoString(&out, "null");
			appendStringInfoString(&std, "null");
			continue;
		}
		for (int f = 0; f < k; f++)
			sum += v[f];
		mean = sum / k;
		for (int f = 0; f < k; f++)
			var += (v[f] - mean) * (v[f] - mean);
		JsonAppendDouble(&out, mean);
		JsonAppendDouble(&std, sqrt(var / k));
	}
	appendStringInfo(&out, "}, \"std\": {%s}, \"fold_metrics\": [", std.data);
	for (int f = 0; f < k; f++)
		appendStringInfo(&out, "%s%s", f ? ", " : "", folds[f]);
	appendStringInfoString(&out, "]}");
	pfree(fold);
	return out.data;
}
