/*-------------------------------------------------------------------------
 *
 * curves.c
 *	  ROC, precision-recall and calibration curves of classification
 *	  models: mlops.roc_curve, mlops.pr_curve, mlops.calibration_curve on a
 *	  labeled relation, and the held-out curves stored at training in
 *	  mlops.model_curves.
 *
 * Each curve is one-vs-rest for one label: the rows of that label are the
 * positives and the model's probability of the label is the score.  A
 * binary model has one curve, for its second label (the positive class of
 * the metrics); a multiclass model one per label.  The definitions are
 * scikit-learn 1.2's:
 *
 * - roc_curve(drop_intermediate=False): the distinct scores in decreasing
 *	 order are the thresholds; at each, fpr and tpr are the fractions of
 *	 negatives and positives scored at or above it.  A first point (0, 0)
 *	 has the threshold max score + 1.  Without negatives (positives) every
 *	 fpr (tpr) is NaN.
 * - precision_recall_curve: the same counts in increasing threshold order;
 *	 precision tp / (tp + fp), recall tp / positives (1 without positives),
 *	 and a last point (precision 1, recall 0) without a threshold (NULL).
 * - calibration_curve(strategy='uniform'): bins of equal width on [0, 1];
 *	 a probability equal to an inner edge falls into the lower bin (numpy's
 *	 searchsorted); the mean probability and the fraction of positives of
 *	 every bin that holds a row.  Bins are numbered from 1.
 *
 * The held-out curves stored at training have at most CURVE_MAX_STORED
 * points: a longer ROC or precision-recall curve keeps that many points
 * evenly spaced along it (by position), its first and last included.
 * Calibration curves use CURVE_STORED_BINS bins.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "train/curves.h"
#include "train/dataset.h"
#include "train/featurize.h"
#include "serve/model.h"
#include "serve/model_cache.h"
#include "privileges.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_roc_curve);
PG_FUNCTION_INFO_V1(mlops_pr_curve);
PG_FUNCTION_INFO_V1(mlops_calibration_curve);

#define CURVE_MAX_STORED	200
#define CURVE_STORED_BINS	10
#define CURVE_MAX_BINS		1000

typedef enum CurveKind
{
	CURVE_ROC,
	CURVE_PR,
	CURVE_CALIBRATION
} CurveKind;

static const char *const curve_names[] = {"roc", "pr", "calibration"};

/*
 * The points of one curve, in output order.  ROC: threshold, x = fpr,
 * y = tpr.  Precision-recall: threshold (has_threshold false for the last
 * point), x = precision, y = recall.  Calibration: bin, x = mean
 * predicted probability, y = fraction of positives, rows.
 */
typedef struct Curve
{
	CurveKind	kind;
	const char *label;
	int			npoints;
	double	   *threshold;
	bool	   *has_threshold;
	int		   *bin;
	double	   *x;
	double	   *y;
	int64	   *rows;
} Curve;

struct CurveSet
{
	int			ncurves;
	Curve	   *curves;
};

/* a row's score and whether it is a positive, for sorting */
typedef struct ScoredRow
{
	double		score;
	bool		positive;
} ScoredRow;

/*
 * qsort comparator: decreasing score.
 */
static int
ScoredRowCompare(const void *a, const void *b)
{
	double		sa = ((const ScoredRow *) a)->score;
	double		sb = ((const ScoredRow *) b)->score;

	return (sa < sb) - (sa > sb);
}

/*
 * Allocate a curve of n points.
 */
static void
CurveAlloc(Curve *c, CurveKind kind, const char *label, int n)
{
	c->kind = kind;
	c->label = label;
	c->npoints = n;
	c->threshold = palloc0(sizeof(double) * Max(n, 1));
	c->has_threshold = palloc0(sizeof(bool) * Max(n, 1));
	c->bin = palloc0(sizeof(int) * Max(n, 1));
	c->x = palloc0(sizeof(double) * Max(n, 1));
	c->y = palloc0(sizeof(double) * Max(n, 1));
	c->rows = palloc0(sizeof(int64) * Max(n, 1));
}

/*
 * The ROC or precision-recall curve of n scored rows (sorted here) into c;
 * see the file header.
 */
static void
CurveRanked(Curve *c, CurveKind kind, const char *label, ScoredRow *rows, int n)
{
	double	   *thr = palloc(sizeof(double) * n);
	double	   *tps = palloc(sizeof(double) * n);
	double	   *fps = palloc(sizeof(double) * n);
	int			m = 0;
	double		tp = 0;
	double		P,
				N;

	qsort(rows, n, sizeof(ScoredRow), ScoredRowCompare);
	for (int i = 0; i < n; i++)
	{
		tp += rows[i].positive ? 1 : 0;
		if (i == n - 1 || rows[i + 1].score != rows[i].score)
		{
			thr[m] = rows[i].score;
			tps[m] = tp;
			fps[m] = (i + 1) - tp;
			m++;
		}
	}
	P = tps[m - 1];
	N = fps[m - 1];

	if (kind == CURVE_ROC)
	{
		CurveAlloc(c, kind, label, m + 1);
		for (int k = 0; k <= m; k++)
		{
			double		t = (k == 0) ? 0 : tps[k - 1];
			double		f = (k == 0) ? 0 : fps[k - 1];

			c->threshold[k] = (k == 0) ? thr[0] + 1 : thr[k - 1];
			c->has_threshold[k] = true;
			c->x[k] = (N > 0) ? f / N : NAN;
			c->y[k] = (P > 0) ? t / P : NAN;
		}
	}
	else
	{
		int			last = m - 1;

		CurveAlloc(c, kind, label, m + 1);
		for (int k = 0; k <= last; k++)
		{
			int			at = last - k;
			double		predicted = tps[at] + fps[at];

			c->threshold[k] = thr[at];
			c->has_threshold[k] = true;
			c->x[k] = (predicted != 0) ? tps[at] / predicted : 0;
			c->y[k] = (P > 0) ? tps[at] / P : 1;
		}
		c->x[last + 1] = 1;
		c->y[last + 1] = 0;
	}
	pfree(thr);
	pfree(tps);
	pfree(fps);
}

/*
 * The calibration curve of n scored rows with nbins uniform bins into c;
 * see the file header.
 */
static void
CurveCalibration(Curve *c, const char *label, const ScoredRow *rows, int n, int nbins)
{
	double	   *sum = palloc0(sizeof(double) * nbins);
	double	   *pos = palloc0(sizeof(double) * nbins);
	int64	   *count = palloc0(sizeof(int64) * nbins);
	double		step = 1.0 / nbins;
	int			used = 0;

	for (int i = 0; i < n; i++)
	{
		int			lo = 0,
					hi = nbins - 1;

		/* the number of inner edges k * step (k = 1 .. nbins - 1) below the score */
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if ((mid + 1) * step < rows[i].score)
				lo = mid + 1;
			else
				hi = mid;
		}
		sum[lo] += rows[i].score;
		pos[lo] += rows[i].positive ? 1 : 0;
		count[lo]++;
	}
	for (int b = 0; b < nbins; b++)
		used += (count[b] > 0) ? 1 : 0;
	CurveAlloc(c, CURVE_CALIBRATION, label, used);
	used = 0;
	for (int b = 0; b < nbins; b++)
	{
		if (count[b] == 0)
			continue;
		c->bin[used] = b + 1;
		c->x[used] = sum[b] / count[b];
		c->y[used] = pos[b] / count[b];
		c->rows[used] = count[b];
		used++;
	}
	pfree(sum);
	pfree(pos);
	pfree(count);
}

/*
 * The curves of one kind, one per label (binary: the second label only),
 * of n rows with class probabilities proba (n x nclasses) and class
 * indices target.  Returns the number of curves written to out.
 */
static int
CurvesCompute(CurveKind kind, const double *proba, const double *target, int n,
			  int nclasses, char **labels, int nbins, Curve *out)
{
	ScoredRow  *rows = palloc_extended(sizeof(ScoredRow) * Max(n, 1), MCXT_ALLOC_HUGE);
	int			ncurves = 0;

	for (int k = (nclasses == 2) ? 1 : 0; k < nclasses; k++)
	{
		for (int i = 0; i < n; i++)
		{
			rows[i].score = proba[(size_t) i * nclasses + k];
			rows[i].positive = ((int) target[i] == k);
		}
		if (kind == CURVE_CALIBRATION)
			CurveCalibration(&out[ncurves], labels[k], rows, n, nbins);
		else
			CurveRanked(&out[ncurves], kind, labels[k], rows, n);
		ncurves++;
	}
	pfree(rows);
	return ncurves;
}

/*
 * Keep at most max points of a curve, evenly spaced by position, the first
 * and the last included.
 */
static void
CurveThin(Curve *c, int max)
{
	if (c->npoints <= max)
		return;
	for (int k = 0; k < max; k++)
	{
		int			at = (int) llround((double) k * (c->npoints - 1) / (max - 1));

		c->threshold[k] = c->threshold[at];
		c->has_threshold[k] = c->has_threshold[at];
		c->bin[k] = c->bin[at];
		c->x[k] = c->x[at];
		c->y[k] = c->y[at];
		c->rows[k] = c->rows[at];
	}
	c->npoints = max;
}

/*
 * The held-out curves of a model at training: every kind for each label,
 * thinned to CURVE_MAX_STORED points, allocated in CurrentMemoryContext.
 */
CurveSet *
CurvesHeldOut(const double *proba, const double *target, int n, int nclasses, char **labels)
{
	CurveSet   *set = palloc0(sizeof(CurveSet));
	int			per_kind = (nclasses == 2) ? 1 : nclasses;

	set->curves = palloc0(sizeof(Curve) * 3 * per_kind);
	for (int kind = CURVE_ROC; kind <= CURVE_CALIBRATION; kind++)
		set->ncurves += CurvesCompute((CurveKind) kind, proba, target, n, nclasses, labels,
									  CURVE_STORED_BINS, set->curves + set->ncurves);
	for (int i = 0; i < set->ncurves; i++)
		CurveThin(&set->curves[i], CURVE_MAX_STORED);
	return set;
}

/*
 * A float8[] of n values; those whose "present" flag is false are NULL.
 */
static Datum
Float8ArrayDatum(const double *v, const bool *present, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		elems[i] = Float8GetDatum(v[i]);
		nulls[i] = present ? !present[i] : false;
	}
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, FLOAT8OID,
											  sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Store a model's held-out curves in mlops.model_curves, as the registry's
 * owner.
 */
void
CurvesStore(int64 model_id, const CurveSet *set)
{
	Oid			types[8] = {INT8OID, TEXTOID, TEXTOID, FLOAT8ARRAYOID, INT4ARRAYOID,
	FLOAT8ARRAYOID, FLOAT8ARRAYOID, INT8ARRAYOID};

	SPI_connect();
	for (int i = 0; i < set->ncurves; i++)
	{
		const Curve *c = &set->curves[i];
		Datum		values[8];
		char		nulls[8] = "        ";
		Datum	   *bins = palloc(sizeof(Datum) * Max(c->npoints, 1));
		Datum	   *rows = palloc(sizeof(Datum) * Max(c->npoints, 1));

		for (int k = 0; k < c->npoints; k++)
		{
			bins[k] = Int32GetDatum(c->bin[k]);
			rows[k] = Int64GetDatum(c->rows[k]);
		}
		values[0] = Int64GetDatum(model_id);
		values[1] = CStringGetTextDatum(curve_names[c->kind]);
		values[2] = CStringGetTextDatum(c->label);
		values[3] = Float8ArrayDatum(c->threshold, c->has_threshold, c->npoints);
		values[4] = PointerGetDatum(construct_array(bins, c->npoints, INT4OID, sizeof(int32),
													true, TYPALIGN_INT));
		values[5] = Float8ArrayDatum(c->x, NULL, c->npoints);
		values[6] = Float8ArrayDatum(c->y, NULL, c->npoints);
		values[7] = PointerGetDatum(construct_array(rows, c->npoints, INT8OID, sizeof(int64),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		if (c->kind == CURVE_CALIBRATION)
			nulls[3] = 'n';
		else
			nulls[4] = nulls[7] = 'n';
		RegistryWriteAsOwner("INSERT INTO mlops.model_curves "
							 "(model_id, curve, label, threshold, bin, x, y, rows) "
							 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
							 8, types, values, nulls);
	}
	SPI_finish();
}

/*
 * The common work of the curve functions: check the caller's privilege on
 * the model's project, read every labeled row of the relation and score
 * it, then return the curves of one kind as rows.
 */
static Datum
CurvesSRF(FunctionCallInfo fcinfo, CurveKind kind)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		model_id;
	int			nbins = 0;
	RegistryProject *proj;
	MlopsModel *m;
	char	   *relname;
	Oid			relid;
	Dataset    *ds;
	int		   *rowids;
	double	   *proba;
	Curve	   *curves;
	int			ncurves;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model_id and relation must not be NULL")));
	if (kind == CURVE_CALIBRATION)
	{
		if (PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("bins must not be NULL")));
		nbins = PG_GETARG_INT32(2);
		if (nbins < 1 || nbins > CURVE_MAX_BINS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("bins is out of range: %d", nbins),
					 errdetail("A calibration curve has 1 to %d bins.", CURVE_MAX_BINS)));
	}
	model_id = PG_GETARG_INT64(0);
	proj = RegistryGetProjectById(RegistryModelProject(model_id));
	PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	m = ModelCacheGet(model_id);
	if (m->task != TASK_CLASSIFICATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model " INT64_FORMAT " of project \"%s\" is a regression model", model_id,
						proj->name),
				 errdetail("ROC, precision-recall and calibration curves are defined for classification models.")));

	relid = DatasetResolveRelation(text_to_cstring(PG_GETARG_TEXT_PP(1)), &relname);
	ds = DatasetRead(relid, relname, proj->target, FeaturizerSpec(m->fz), NULL,
					 TARGET_KNOWN_LABELS, m->labels, m->nclasses);
	FeaturizerCheckDataset(m->fz, ds);
	if (ds->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("relation %s has no rows with a non-NULL target to compute curves on", relname)));

	rowids = palloc_extended(sizeof(int) * ds->nrows, MCXT_ALLOC_HUGE);
	for (int i = 0; i < ds->nrows; i++)
		rowids[i] = i;
	proba = palloc_extended(sizeof(double) * (size_t) ds->nrows * m->nclasses, MCXT_ALLOC_HUGE);
	ModelPredictDataset(m, ds, rowids, ds->nrows, proba);
	curves = palloc0(sizeof(Curve) * m->nclasses);
	ncurves = CurvesCompute(kind, proba, ds->target, ds->nrows, m->nclasses, m->labels, nbins,
							curves);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < ncurves; i++)
	{
		const Curve *c = &curves[i];

		for (int k = 0; k < c->npoints; k++)
		{
			Datum		values[5];
			bool		nulls[5] = {false, false, false, false, false};

			values[0] = CStringGetTextDatum(c->label);
			if (kind == CURVE_CALIBRATION)
			{
				values[1] = Int32GetDatum(c->bin[k]);
				values[4] = Int64GetDatum(c->rows[k]);
			}
			else
			{
				values[1] = Float8GetDatum(c->threshold[k]);
				nulls[1] = !c->has_threshold[k];
			}
			values[2] = Float8GetDatum(c->x[k]);
			values[3] = Float8GetDatum(c->y[k]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/*
 * mlops.roc_curve(model_id, relation): the ROC curve of each label.
 */
Datum
mlops_roc_curve(PG_FUNCTION_ARGS)
{
	return CurvesSRF(fcinfo, CURVE_ROC);
}

/*
 * mlops.pr_curve(model_id, relation): the precision-recall curve of each
 * label.
 */
Datum
mlops_pr_curve(PG_FUNCTION_ARGS)
{
	return CurvesSRF(fcinfo, CURVE_PR);
}

/*
 * mlops.calibration_curve(model_id, relation, bins): the calibration curve
 * of each label.
 */
Datum
mlops_calibration_curve(PG_FUNCTION_ARGS)
{
	return CurvesSRF(fcinfo, CURVE_CALIBRATION);
}
