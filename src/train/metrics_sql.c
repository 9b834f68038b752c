/*-------------------------------------------------------------------------
 *
 * metrics_sql.c
 *	  mlops.classification_metrics and mlops.regression_metrics: the
 *	  metrics of training and evaluate, on any predictions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "jsonutil.h"
#include "train/metrics.h"

PG_FUNCTION_INFO_V1(mlops_classification_metrics);
PG_FUNCTION_INFO_V1(mlops_regression_metrics);

/*
 * The finite values of a float8[] argument; NULL, NaN and infinity are
 * errors naming the argument.
 */
static double *
FiniteValues(ArrayType *arr, const char *what, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	double	   *v;

	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, n);
	v = palloc(sizeof(double) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", what)));
		v[i] = DatumGetFloat8(elems[i]);
		if (!isfinite(v[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s must not contain NaN or infinity", what)));
	}
	if (*n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must not be empty", what)));
	return v;
}

/*
 * Wrap metric members into a jsonb object.
 */
static Jsonb *
MetricsObject(StringInfo members)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{%s}", members->data);
	return JsonFromText(&buf);
}

/*
 * mlops.classification_metrics(actual int[], proba float8[][]): the
 * classification metrics of n rows, given their class indices and an n x k
 * array of class probabilities.
 */
Datum
mlops_classification_metrics(PG_FUNCTION_ARGS)
{
	ArrayType  *actual = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *proba = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				np,
				k;
	int		   *y;
	double	   *p;
	StringInfoData members;

	if (ARR_NDIM(proba) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("proba must be a two-dimensional array of one row of class probabilities per row")));
	k = ARR_DIMS(proba)[1];
	deconstruct_array(actual, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	p = FiniteValues(proba, "proba", &np);
	if (ARR_DIMS(proba)[0] != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("actual has %d rows and proba %d", n, ARR_DIMS(proba)[0])));
	if (k < 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("proba must have at least two classes")));
	y = palloc(sizeof(int) * n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("actual must not contain NULL")));
		y[i] = DatumGetInt32(elems[i]);
		if (y[i] < 0 || y[i] >= k)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("class index %d is outside 0 .. %d", y[i], k - 1)));
	}
	initStringInfo(&members);
	MetricsClassification(&members, y, p, n, k);
	PG_RETURN_JSONB_P(MetricsObject(&members));
}

/*
 * mlops.regression_metrics(actual float8[], predicted float8[]): the
 * regression metrics of n predictions.
 */
Datum
mlops_regression_metrics(PG_FUNCTION_ARGS)
{
	int			n,
				np;
	double	   *y = FiniteValues(PG_GETARG_ARRAYTYPE_P(0), "actual", &n);
	double	   *pred = FiniteValues(PG_GETARG_ARRAYTYPE_P(1), "predicted", &np);
	StringInfoData members;

	if (n != np)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("actual has %d values and predicted %d", n, np)));
	initStringInfo(&members);
	MetricsRegression(&members, y, pred, n);
	PG_RETURN_JSONB_P(MetricsObject(&members));
}
