/*-------------------------------------------------------------------------
 *
 * stats_sql.c
 *	  SQL wrappers of the generic two-sample drift statistics:
 *	  mlops.ks_test, mlops.wasserstein, mlops.psi, mlops.jensen_shannon
 *	  and mlops.chi2_test.
 *
 * Each statistic has a numerical core on C double arrays (exported in
 * stats.h for the drift module, defined in stats_sort.c, stats_ks.c and
 * stats_distance.c, which document each definition); this file reads the
 * SQL arguments into those arrays and shapes the results.
 *
 * SQL conventions: NULL elements are skipped, NaN and infinities are
 * errors, and arrays of any shape are read as flat lists of values.
 * chi2_test pools both arguments' categories, which are equal when their
 * bytes are (no collation), and groups them by sorting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"

#include "monitor/stats.h"

/* One non-NULL element of a text[] argument of chi2_test */
typedef struct StatsCategory
{
	const char *data;
	int			len;
	bool		current;		/* from the current sample, not the reference */
} StatsCategory;

static int	StatsCompareCategories(const StatsCategory *a, const StatsCategory *b);

/*
 * StatsSortCategories(cats, n): sort categories by their bytes, so equal
 * ones end up next to each other.
 */
#define ST_SORT StatsSortCategories
#define ST_ELEMENT_TYPE StatsCategory
#define ST_COMPARE(a, b) StatsCompareCategories(a, b)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

PG_FUNCTION_INFO_V1(mlops_ks_test);
PG_FUNCTION_INFO_V1(mlops_wasserstein);
PG_FUNCTION_INFO_V1(mlops_psi);
PG_FUNCTION_INFO_V1(mlops_jensen_shannon);
PG_FUNCTION_INFO_V1(mlops_chi2_test);

/*
 * Order two categories by their bytes, a proper prefix first.
 */
static int
StatsCompareCategories(const StatsCategory *a, const StatsCategory *b)
{
	int			cmp = memcmp(a->data, b->data, Min(a->len, b->len));

	if (cmp != 0)
		return cmp;
	return (a->len > b->len) - (a->len < b->len);
}

/*
 * The non-NULL values of a float8[] argument, which must be finite and
 * not all missing.  argname names the argument in error messages.
 */
static double *
StatsArrayValues(ArrayType *array, const char *argname, int *count)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			n = 0;
	double	   *values;

	deconstruct_array(array, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, &nelems);
	values = palloc(Max(nelems, 1) * sizeof(double));
	for (int i = 0; i < nelems; i++)
	{
		double		x;

		if (nulls[i])
			continue;
		x = DatumGetFloat8(elems[i]);
		if (isnan(x))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("NaN not allowed in %s", argname)));
		if (isinf(x))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("infinite value not allowed in %s", argname)));
		values[n++] = x;
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must contain at least one non-NULL value", argname)));
	pfree(elems);
	pfree(nulls);
	*count = n;
	return values;
}

/*
 * Append the non-NULL elements of a text[] argument to cats, tagged with
 * their side; at least one is required.
 */
static int
StatsArrayCategories(ArrayType *array, const char *argname, bool current,
					 StatsCategory *cats)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			n = 0;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		text	   *t;

		if (nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		cats[n].data = VARDATA_ANY(t);
		cats[n].len = VARSIZE_ANY_EXHDR(t);
		cats[n].current = current;
		n++;
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must contain at least one non-NULL value", argname)));
	return n;
}

/*
 * Check the bins argument of psi and jensen_shannon.
 */
static void
StatsCheckBins(int bins)
{
	if (bins < STATS_MIN_BINS || bins > STATS_MAX_BINS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bins must be between %d and %d", STATS_MIN_BINS, STATS_MAX_BINS),
				 errdetail("bins is %d.", bins)));
}

/*
 * Bin proportions of the reference (arg 0) and current (arg 1) samples in
 * the arg 2 equal-frequency bins of the reference.
 */
static void
StatsBinArguments(FunctionCallInfo fcinfo, double **refprop, double **curprop, int *bins)
{
	int			nref,
				ncur;
	double	   *ref = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(0), "reference", &nref);
	double	   *cur = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(1), "current", &ncur);
	double	   *edges;

	*bins = PG_GETARG_INT32(2);
	StatsCheckBins(*bins);

	edges = palloc((*bins - 1) * sizeof(double));
	StatsQuantileEdges(ref, nref, *bins, edges);
	*refprop = palloc(*bins * sizeof(double));
	*curprop = palloc(*bins * sizeof(double));
	StatsBinProportions(ref, nref, edges, *bins, *refprop);
	StatsBinProportions(cur, ncur, edges, *bins, *curprop);
}

/*
 * The single row returned by ks_test and chi2_test, shaped by their OUT
 * parameters.
 */
static Datum
StatsResultRow(FunctionCallInfo fcinfo, Datum *values)
{
	TupleDesc	tupdesc;
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	Assert(tupdesc->natts <= lengthof(nulls));
	tupdesc = BlessTupleDesc(tupdesc);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/*
 * mlops.ks_test(reference float8[], current float8[],
 *				 OUT statistic float8, OUT p_value float8)
 */
Datum
mlops_ks_test(PG_FUNCTION_ARGS)
{
	int			na,
				nb;
	double	   *a = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(0), "reference", &na);
	double	   *b = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(1), "current", &nb);
	double		statistic,
				pvalue;
	Datum		values[2];

	StatsSortDoubles(a, na);
	StatsSortDoubles(b, nb);
	StatsKsTest(a, na, b, nb, &statistic, &pvalue);
	values[0] = Float8GetDatum(statistic);
	values[1] = Float8GetDatum(pvalue);
	PG_RETURN_DATUM(StatsResultRow(fcinfo, values));
}

/*
 * mlops.wasserstein(reference float8[], current float8[]) RETURNS float8
 */
Datum
mlops_wasserstein(PG_FUNCTION_ARGS)
{
	int			nu,
				nv;
	double	   *u = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(0), "reference", &nu);
	double	   *v = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(1), "current", &nv);

	StatsSortDoubles(u, nu);
	StatsSortDoubles(v, nv);
	PG_RETURN_FLOAT8(StatsWasserstein(u, nu, v, nv));
}

/*
 * mlops.psi(reference float8[], current float8[], bins int) RETURNS float8
 */
Datum
mlops_psi(PG_FUNCTION_ARGS)
{
	double	   *refprop,
			   *curprop;
	int			bins;

	StatsBinArguments(fcinfo, &refprop, &curprop, &bins);
	PG_RETURN_FLOAT8(StatsPsi(refprop, curprop, bins));
}

/*
 * mlops.jensen_shannon(reference float8[], current float8[], bins int)
 * RETURNS float8
 */
Datum
mlops_jensen_shannon(PG_FUNCTION_ARGS)
{
	double	   *refprop,
			   *curprop;
	int			bins;

	StatsBinArguments(fcinfo, &refprop, &curprop, &bins);
	PG_RETURN_FLOAT8(StatsJensenShannon(refprop, curprop, bins));
}

/*
 * mlops.chi2_test(reference text[], current text[], OUT statistic float8,
 *				   OUT p_value float8, OUT dof int)
 *
 * Both arguments' elements are pooled, sorted by bytes and counted per
 * run of equal categories.
 */
Datum
mlops_chi2_test(PG_FUNCTION_ARGS)
{
	ArrayType  *refarr = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *curarr = PG_GETARG_ARRAYTYPE_P(1);
	int			nref = ArrayGetNItems(ARR_NDIM(refarr), ARR_DIMS(refarr));
	int			ncur = ArrayGetNItems(ARR_NDIM(curarr), ARR_DIMS(curarr));
	StatsCategory *cats = palloc(Max((Size) nref + ncur, 1) * sizeof(StatsCategory));
	double	   *refcount;
	double	   *curcount;
	int			n,
				k = 0;
	double		statistic,
				pvalue;
	int			dof;
	Datum		values[3];

	n = StatsArrayCategories(refarr, "reference", false, cats);
	n += StatsArrayCategories(curarr, "current", true, cats + n);
	StatsSortCategories(cats, n);

	refcount = palloc0(n * sizeof(double));
	curcount = palloc0(n * sizeof(double));
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (i > 0 && StatsCompareCategories(&cats[i - 1], &cats[i]) != 0)
			k++;
		if (cats[i].current)
			curcount[k] += 1.0;
		else
			refcount[k] += 1.0;
	}
	k++;

	StatsChi2Test(refcount, curcount, k, &statistic, &pvalue, &dof);
	values[0] = Float8GetDatum(statistic);
	values[1] = Float8GetDatum(pvalue);
	values[2] = Int32GetDatum(dof);
	PG_RETURN_DATUM(StatsResultRow(fcinfo, values));
}
