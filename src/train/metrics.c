/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  Evaluation metrics of held-out predictions, as computed by
 *	  scikit-learn 1.2 (sklearn.metrics), written as JSON object members.
 *
 * Classification takes the true class index of each row and the n x K
 * matrix of predicted probabilities in label order.  The predicted class
 * is the first maximum of each probability row (numpy argmax).
 *
 *	- accuracy: share of rows whose predicted class is the true one.
 *	- precision, recall, f1: for the positive class (index 1) when K = 2,
 *	  otherwise the unweighted mean over all K classes, including classes
 *	  that are neither present nor predicted.  A 0/0 ratio counts as 0.
 *	- roc_auc: the Mann-Whitney statistic of the probability column of the
 *	  positive class (K = 2), or the mean of the one-vs-rest statistics of
 *	  every class (K > 2).  Tied scores count one half, which is the area
 *	  under the trapezoidal ROC curve.  It is undefined (null) when a class
 *	  of interest is absent from y or has no negatives, or when a score is
 *	  not finite.
 *	- log_loss: probabilities are clipped to [eps, 1 - eps] with eps the
 *	  double machine epsilon (eps="auto" in scikit-learn 1.2), each row is
 *	  renormalised to sum 1, and the loss is the mean of -log(p[true]).
 *	- mcc: the multiclass Matthews correlation coefficient of the confusion
 *	  matrix, 0 when it is undefined.
 *	- confusion_matrix: K arrays of K counts; rows are actual classes,
 *	  columns predicted ones.
 *
 * Regression: r2 and explained_variance follow scikit-learn's
 * force_finite rule (1 when the numerator is zero, 0 when only the
 * denominator is zero); r2 is undefined (null) with fewer than two rows.
 * Means are taken as shifted sums (around the first value), so a constant
 * y yields an exactly zero denominator.  mae, mse and rmse are the usual
 * means.
 *
 * Sums over rows use Neumaier compensated summation, and the ROC statistic
 * is counted in 64-bit integers, so results match scikit-learn to about
 * 1e-15 relative even with millions of rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"

#include "jsonutil.h"
#include "train/metrics.h"

/* One row's score for one class, with whether the row is of that class */
typedef struct MetricsScore
{
	double		score;
	bool		positive;
} MetricsScore;

/* Counts of one class drawn from the confusion matrix */
typedef struct MetricsClassCounts
{
	int64		tp;				/* rows of the class predicted as it */
	int64		true_sum;		/* rows of the class */
	int64		pred_sum;		/* rows predicted as the class */
} MetricsClassCounts;

/*
 * Add x to a compensated sum (Neumaier's variant of Kahan summation).
 */
static inline void
MetricsSumAdd(MetricsSum *s, double x)
{
	double		t = s->sum + x;

	if (fabs(s->sum) >= fabs(x))
		s->comp += (s->sum - t) + x;
	else
		s->comp += (x - t) + s->sum;
	s->sum = t;
}

/*
 * Value of a compensated sum.
 */
static inline double
MetricsSumValue(const MetricsSum *s)
{
	return s->sum + s->comp;
}

/*
 * Divide, with 0 for a zero denominator (scikit-learn's zero_division=0).
 */
static inline double
MetricsSafeDivide(double num, double den)
{
	return den == 0.0 ? 0.0 : num / den;
}

/*
 * Clip a probability to [eps, 1 - eps] as log_loss does; NaN stays NaN.
 */
static inline double
MetricsClipProba(double p)
{
	if (p < DBL_EPSILON)
		return DBL_EPSILON;
	if (p > 1.0 - DBL_EPSILON)
		return 1.0 - DBL_EPSILON;
	return p;
}

/*
 * Write the separator (unless this is the first member written since
 * start) and the key of a JSON member.
 */
static void
MetricsAppendKey(StringInfo buf, int start, const char *key)
{
	if (buf->len > start)
		appendStringInfoString(buf, ", ");
	appendStringInfo(buf, "\"%s\": ", key);
}

/*
 * Write a numeric JSON member; non-finite values become null.
 */
static void
MetricsAppendNumber(StringInfo buf, int start, const char *key, double value)
{
	MetricsAppendKey(buf, start, key);
	JsonAppendDouble(buf, value);
}

/*
 * Order scores ascending, for qsort.
 */
static int
MetricsScoreCompare(const void *a, const void *b)
{
	double		sa = ((const MetricsScore *) a)->score;
	double		sb = ((const MetricsScore *) b)->score;

	return (sa > sb) - (sa < sb);
}

/*
 * Area under the ROC curve of class k against all others, scored by
 * column k of proba.  scores is caller-provided room for n entries.
 * Returns NaN when the area is undefined.
 *
 * With the scores sorted ascending, each positive row scores one per
 * negative row below it and one half per negative row tied with it;
 * doubled, these counts are integers, summed exactly.
 */
static double
MetricsRocAuc(MetricsScore *scores, const int *y, const double *proba,
			  int n, int nclasses, int k)
{
	int64		npos = 0;
	int64		neg_below = 0;
	int64		twice_u = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		double		score = proba[(Size) i * nclasses + k];

		CHECK_FOR_INTERRUPTS();
		if (!isfinite(score))
			return get_float8_nan();
		scores[i].score = score;
		scores[i].positive = (y[i] == k);
		npos += scores[i].positive;
	}
	if (npos == 0 || npos == n)
		return get_float8_nan();

	qsort(scores, n, sizeof(MetricsScore), MetricsScoreCompare);

	i = 0;
	while (i < n)
	{
		int64		pos_tied = 0;
		int64		neg_tied = 0;
		int			j = i;

		CHECK_FOR_INTERRUPTS();
		while (j < n && scores[j].score == scores[i].score)
		{
			if (scores[j].positive)
				pos_tied++;
			else
				neg_tied++;
			j++;
		}
		twice_u += pos_tied * (2 * neg_below + neg_tied);
		neg_below += neg_tied;
		i = j;
	}

	return (double) twice_u / (2.0 * (double) npos * (double) (n - npos));
}

/*
 * Precision, recall and F1 of one class from its counts.
 */
static void
MetricsClassScores(const MetricsClassCounts *c, double *precision,
				   double *recall, double *f1)
{
	*precision = MetricsSafeDivide((double) c->tp, (double) c->pred_sum);
	*recall = MetricsSafeDivide((double) c->tp, (double) c->true_sum);
	*f1 = MetricsSafeDivide(2.0 * *precision * *recall, *precision + *recall);
}

/*
 * Multiclass Matthews correlation coefficient of the class counts, in
 * scikit-learn's order of operations; 0 when undefined.
 */
static double
MetricsMatthews(const MetricsClassCounts *counts, int nclasses, int n,
				int64 correct)
{
	double		t_dot_p = 0.0;
	double		t_dot_t = 0.0;
	double		p_dot_p = 0.0;
	double		cov_yp;
	double		cov_pp;
	double		cov_yy;
	int			k;

	for (k = 0; k < nclasses; k++)
	{
		double		t = (double) counts[k].true_sum;
		double		p = (double) counts[k].pred_sum;

		t_dot_p += t * p;
		t_dot_t += t * t;
		p_dot_p += p * p;
	}
	cov_yp = (double) correct * (double) n - t_dot_p;
	cov_pp = (double) n * (double) n - p_dot_p;
	cov_yy = (double) n * (double) n - t_dot_t;

	if (cov_pp * cov_yy == 0.0)
		return 0.0;
	return cov_yp / sqrt(cov_yy * cov_pp);
}

/*
 * Write the confusion matrix member: one array of counts per actual class.
 */
static void
MetricsAppendConfusion(StringInfo buf, int start, const int64 *confusion,
					   int nclasses)
{
	int			a;
	int			p;

	MetricsAppendKey(buf, start, "confusion_matrix");
	appendStringInfoChar(buf, '[');
	for (a = 0; a < nclasses; a++)
	{
		if (a > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfoChar(buf, '[');
		for (p = 0; p < nclasses; p++)
		{
			if (p > 0)
				appendStringInfoString(buf, ", ");
			appendStringInfo(buf, INT64_FORMAT,
							 confusion[(Size) a * nclasses + p]);
		}
		appendStringInfoChar(buf, ']');
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Append the classification metrics of n held-out rows (see metrics.h).
 */
void
MetricsClassification(StringInfo buf, const int *y, const double *proba,
					  int n, int nclasses)
{
	int			start = buf->len;
	int64	   *confusion;
	MetricsClassCounts *counts;
	MetricsScore *scores;
	MetricsSum	loss = {0.0, 0.0};
	int64		correct = 0;
	double		precision;
	double		recall;
	double		f1;
	double		roc_auc;
	int			i;
	int			k;

	if (n < 1 || nclasses < 2)
		elog(ERROR, "metrics need at least one row and two classes");

	confusion = palloc0(sizeof(int64) * nclasses * nclasses);
	counts = palloc0(sizeof(MetricsClassCounts) * nclasses);

	/* One pass over the rows: confusion matrix and log loss */
	for (i = 0; i < n; i++)
	{
		const double *row = proba + (Size) i * nclasses;
		int			pred = 0;
		double		clipped_sum = 0.0;

		CHECK_FOR_INTERRUPTS();
		if (y[i] < 0 || y[i] >= nclasses)
			elog(ERROR, "class index %d out of range", y[i]);

		for (k = 0; k < nclasses; k++)
		{
			if (row[k] > row[pred])
				pred = k;
			clipped_sum += MetricsClipProba(row[k]);
		}
		confusion[(Size) y[i] * nclasses + pred]++;
		MetricsSumAdd(&loss, -log(MetricsClipProba(row[y[i]]) / clipped_sum));
	}

	for (i = 0; i < nclasses; i++)
	{
		for (k = 0; k < nclasses; k++)
		{
			int64		count = confusion[(Size) i * nclasses + k];

			counts[i].true_sum += count;
			counts[k].pred_sum += count;
		}
		counts[i].tp = confusion[(Size) i * nclasses + i];
		correct += counts[i].tp;
	}

	/* Precision, recall and F1; ROC AUC */
	scores = MemoryContextAllocHuge(CurrentMemoryContext,
									sizeof(MetricsScore) * n);
	if (nclasses == 2)
	{
		MetricsClassScores(&counts[1], &precision, &recall, &f1);
		roc_auc = MetricsRocAuc(scores, y, proba, n, nclasses, 1);
	}
	else
	{
		MetricsSum	psum = {0.0, 0.0};
		MetricsSum	rsum = {0.0, 0.0};
		MetricsSum	fsum = {0.0, 0.0};
		MetricsSum	asum = {0.0, 0.0};

		for (k = 0; k < nclasses; k++)
		{
			MetricsClassScores(&counts[k], &precision, &recall, &f1);
			MetricsSumAdd(&psum, precision);
			MetricsSumAdd(&rsum, recall);
			MetricsSumAdd(&fsum, f1);
			/* Once one class is undefined, the mean is; skip the sorts */
			if (!isnan(MetricsSumValue(&asum)))
				MetricsSumAdd(&asum,
							  MetricsRocAuc(scores, y, proba, n, nclasses, k));
		}
		precision = MetricsSumValue(&psum) / nclasses;
		recall = MetricsSumValue(&rsum) / nclasses;
		f1 = MetricsSumValue(&fsum) / nclasses;
		roc_auc = MetricsSumValue(&asum) / nclasses;
	}
	pfree(scores);

	MetricsAppendNumber(buf, start, "accuracy", (double) correct / n);
	MetricsAppendNumber(buf, start, "precision", precision);
	MetricsAppendNumber(buf, start, "recall", recall);
	MetricsAppendNumber(buf, start, "f1", f1);
	MetricsAppendNumber(buf, start, "roc_auc", roc_auc);
	MetricsAppendNumber(buf, start, "log_loss", MetricsSumValue(&loss) / n);
	MetricsAppendNumber(buf, start, "mcc",
						MetricsMatthews(counts, nclasses, n, correct));
	MetricsAppendConfusion(buf, start, confusion, nclasses);

	pfree(counts);
	pfree(confusion);
}

/*
 * 1 - num / den under scikit-learn's force_finite rule: 1 for a zero
 * numerator, 0 for a zero denominator with a nonzero numerator.
 */
static double
MetricsForceFiniteScore(double num, double den)
{
	if (num == 0.0)
		return 1.0;
	if (den == 0.0)
		return 0.0;
	return 1.0 - num / den;
}

/*
 * The first pass of the regression metrics over rows y[0 .. n - 1] and
 * their predictions: errors, and the shifted sums of y and of the
 * residuals (shifted by the first row's).  Rows may come in several calls,
 * in order.
 */
void
MetricsRegressionPass1(MetricsRegressionState *st, const double *y, const double *pred, int n)
{
	for (int i = 0; i < n; i++)
	{
		double		d = y[i] - pred[i];

		CHECK_FOR_INTERRUPTS();
		if (st->n == 0)
		{
			st->y0 = y[i];
			st->d0 = d;
		}
		st->n++;
		MetricsSumAdd(&st->y_shift, y[i] - st->y0);
		MetricsSumAdd(&st->d_shift, d - st->d0);
		MetricsSumAdd(&st->abs_err, fabs(d));
		MetricsSumAdd(&st->sq_err, d * d);
	}
}

/*
 * The second pass over the same rows, in the same order: the spread of y
 * and of the residuals around their means.
 */
void
MetricsRegressionPass2(MetricsRegressionState *st, const double *y, const double *pred, int n)
{
	double		y_mean = st->y0 + MetricsSumValue(&st->y_shift) / st->n;
	double		d_mean = st->d0 + MetricsSumValue(&st->d_shift) / st->n;

	for (int i = 0; i < n; i++)
	{
		double		dy = y[i] - y_mean;
		double		dd = (y[i] - pred[i]) - d_mean;

		CHECK_FOR_INTERRUPTS();
		MetricsSumAdd(&st->y_var, dy * dy);
		MetricsSumAdd(&st->d_var, dd * dd);
	}
}

/*
 * Append the regression metrics of the two passes (see metrics.h).
 */
void
MetricsRegressionAppend(StringInfo buf, const MetricsRegressionState *st)
{
	int			start = buf->len;
	int64		n = st->n;
	double		mse;

	if (n < 1)
		elog(ERROR, "metrics need at least one row");
	mse = MetricsSumValue(&st->sq_err) / n;
	MetricsAppendNumber(buf, start, "r2",
						n < 2 ? get_float8_nan() :
						MetricsForceFiniteScore(MetricsSumValue(&st->sq_err),
												MetricsSumValue(&st->y_var)));
	MetricsAppendNumber(buf, start, "mae", MetricsSumValue(&st->abs_err) / n);
	MetricsAppendNumber(buf, start, "mse", mse);
	MetricsAppendNumber(buf, start, "rmse", sqrt(mse));
	MetricsAppendNumber(buf, start, "explained_variance",
						MetricsForceFiniteScore(MetricsSumValue(&st->d_var),
												MetricsSumValue(&st->y_var)));
}

/*
 * Append the regression metrics of n held-out rows (see metrics.h).
 */
void
MetricsRegression(StringInfo buf, const double *y, const double *pred, int n)
{
	MetricsRegressionState st = {0};

	if (n < 1)
		elog(ERROR, "metrics need at least one row");
	MetricsRegressionPass1(&st, y, pred, n);
	MetricsRegressionPass2(&st, y, pred, n);
	MetricsRegressionAppend(buf, &st);
}

/*
 * The metrics of a model's outputs: MetricsClassification on the class
 * indices of y when nclasses > 0, else MetricsRegression.
 */
void
MetricsOfOutputs(StringInfo buf, const double *y, const double *out, int n, int nclasses)
{
	int		   *yi;

	if (nclasses == 0)
	{
		MetricsRegression(buf, y, out, n);
		return;
	}
	yi = palloc_extended(sizeof(int) * Max(1, n), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
		yi[i] = (int) y[i];
	MetricsClassification(buf, yi, out, n, nclasses);
	pfree(yi);
}
