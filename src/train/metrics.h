/*-------------------------------------------------------------------------
 *
 * metrics.h
 *	  Evaluation metrics of held-out predictions, written as JSON members.
 *
 * Both functions append members `"key": value` separated by ", " to buf,
 * with no leading separator and no braces: the caller writes "{", calls
 * one of them, then appends its own members (", \"train_rows\": ...") and
 * "}".  Numbers are printed with %.17g; undefined or non-finite values are
 * written as null.  n must be at least 1.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_METRICS_H
#define MLOPS_METRICS_H

#include "postgres.h"

#include "lib/stringinfo.h"

/*
 * Append the classification metrics of n held-out rows: accuracy,
 * precision, recall, f1, roc_auc, log_loss, mcc and confusion_matrix.
 * y: true class index in [0, nclasses); proba: n x nclasses row-major
 * probabilities in label order.
 */
extern void MetricsClassification(StringInfo buf, const int *y, const double *proba, int n, int nclasses);

/*
 * Append the regression metrics of n held-out rows: r2, mae, mse, rmse and
 * explained_variance.  y: true values; pred: predicted values.
 */
extern void MetricsRegression(StringInfo buf, const double *y, const double *pred, int n);

/* Compensated running sum */
typedef struct MetricsSum
{
	double		sum;
	double		comp;
} MetricsSum;

/* the regression metrics of rows handed over in blocks, in two passes */
typedef struct MetricsRegressionState
{
	int64		n;
	double		y0;				/* the first row's target and residual */
	double		d0;
	MetricsSum	y_shift;
	MetricsSum	d_shift;
	MetricsSum	abs_err;
	MetricsSum	sq_err;
	MetricsSum	y_var;
	MetricsSum	d_var;
} MetricsRegressionState;

extern void MetricsRegressionPass1(MetricsRegressionState *st, const double *y,
								   const double *pred, int n);
extern void MetricsRegressionPass2(MetricsRegressionState *st, const double *y,
								   const double *pred, int n);
extern void MetricsRegressionAppend(StringInfo buf, const MetricsRegressionState *st);

/*
 * Append the metrics of a model's outputs on n rows: classification
 * (nclasses > 0; y holds class indices, out n x nclasses probabilities) or
 * regression (out the predictions).
 */
extern void MetricsOfOutputs(StringInfo buf, const double *y, const double *out, int n, int nclasses);

#endif							/* MLOPS_METRICS_H */
