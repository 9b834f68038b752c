/*-------------------------------------------------------------------------
 *
 * drift.c
 *	  mlops.drift: compare a relation with a model's reference profile.
 *
 * The relation is read once (DatasetRead, as the calling role) with the
 * source columns the profile lists, and scored with the model for the
 * `prediction` row.  Each model input is then compared with its reference
 * statistics by one method:
 *
 *	- ks: two-sample Kolmogorov-Smirnov test of the reference sample and
 *	  every non-NULL current value (StatsKsTest); drift when p < threshold.
 *	- wasserstein: W1 distance of the same two samples (StatsWasserstein),
 *	  divided by max(reference standard deviation, 0.001) as Evidently does;
 *	  drift when the normed distance >= threshold.  The raw distance is
 *	  reported as raw_statistic.
 *	- psi and jensen_shannon on numbers: the current values fall into the
 *	  reference's frozen equal-frequency bins (StatsBinProportions) and are
 *	  compared with the stored reference histogram (StatsPsi,
 *	  StatsJensenShannon, base 2); on categories, the bins are the union of
 *	  the reference and current categories.  Drift when >= threshold.
 *	- chi2: Pearson chi-square test of the 2 x k table of reference and
 *	  current category counts (StatsChi2Test); drift when p < threshold.
 *	- l_infinity: the largest absolute difference between the reference and
 *	  current proportion of a category (BigQuery ML's categorical skew
 *	  metric); drift when >= threshold.
 *	- auto: Evidently's choice by reference size: ks (numbers) or chi2
 *	  (categories) when the reference has at most 1000 rows, else
 *	  wasserstein or jensen_shannon.
 *
 * NULLs are left out of every statistic and reported as null_share; a
 * side without any non-NULL value gives no statistic, and the feature has
 * drifted exactly when the other side has values.  Data quality shares go
 * with each row: NULL share of the current rows, share of the current
 * non-NULL numbers outside the reference [min, max], share of the current
 * non-NULL categories the reference never had.
 *
 * Dataset drift counts source columns, not inputs (a timestamp column is
 * six inputs, a date five, an array one per element): a column drifted when any of its
 * inputs did, and the dataset drifted when at least DRIFT_DATASET_SHARE of
 * the columns did.  The result rows stay one per input.
 *
 * The relation's values are first summarized per input (DriftSummary: bin
 * counts on the reference's frozen edges, category counts, NULL and
 * out-of-range counts, the values ks and wasserstein compare), then
 * compared with the reference.  On one node the summary counts every row
 * and its sample is every non-NULL value.  A distributed Citus table is
 * summarized by per-shard partial profiles computed in the worker tasks
 * and merged on the coordinator (drift_partial.c): the same counts, so the
 * same psi, jensen_shannon, chi2, l_infinity and shares; ks and
 * wasserstein compare a bounded sample (all values when there are at most
 * mlops.drift_sample_size).  The current categories the reference never
 * had are compared after its own, sorted by text.
 *
 * Every call is recorded in mlops.drift_reports / mlops.drift_results and
 * logged as a drift_check event.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xlog.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "train/dataset.h"
#include "monitor/alerts.h"
#include "monitor/drift_partial.h"
#include "jsonutil.h"
#include "serve/model_cache.h"
#include "monitor/profile.h"
#include "privileges.h"
#include "registry.h"
#include "monitor/stats.h"
#include "strmap.h"

/* auto: statistical tests up to this many reference rows, distances beyond */
#define DRIFT_AUTO_MAX_ROWS			1000

/* dataset drift: at least this share of the source columns drifted */
#define DRIFT_DATASET_SHARE			0.5

/* normed Wasserstein: the smallest reference standard deviation divided by */
#define DRIFT_STD_FLOOR				0.001

/* rows scored by the model at a time */
#define DRIFT_PREDICT_BATCH			8192


/* number of result columns of mlops.drift */
#define DRIFT_RESULT_COLUMNS		11

typedef enum DriftMethod
{
	DRIFT_AUTO,
	DRIFT_KS,
	DRIFT_WASSERSTEIN,
	DRIFT_PSI,
	DRIFT_JENSEN_SHANNON,
	DRIFT_CHI2,
	DRIFT_L_INFINITY
} DriftMethod;

typedef struct DriftMethodInfo
{
	const char *name;
	bool		numeric;		/* compares numeric features */
	bool		categorical;	/* compares categorical features */
	bool		pvalue;			/* drift when p < threshold, else statistic >=
								 * threshold */
	double		threshold;		/* default threshold */
} DriftMethodInfo;

static const DriftMethodInfo drift_methods[] = {
	[DRIFT_AUTO] = {"auto", true, true, false, 0.0},
	[DRIFT_KS] = {"ks", true, false, true, 0.05},
	[DRIFT_WASSERSTEIN] = {"wasserstein", true, false, false, 0.1},
	[DRIFT_PSI] = {"psi", true, true, false, 0.2},
	[DRIFT_JENSEN_SHANNON] = {"jensen_shannon", true, true, false, 0.1},
	[DRIFT_CHI2] = {"chi2", false, true, true, 0.05},
	[DRIFT_L_INFINITY] = {"l_infinity", false, true, false, 0.3},
};

PG_FUNCTION_INFO_V1(mlops_drift);

/*
 * Parse a method name; an unknown one is an error listing them all.
 */
static DriftMethod
DriftParseMethod(const char *name)
{
	for (int m = 0; m < lengthof(drift_methods); m++)
		if (strcmp(name, drift_methods[m].name) == 0)
			return (DriftMethod) m;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown drift method \"%s\"", name),
			 errhint("Valid methods are auto, ks, wasserstein, psi, jensen_shannon, chi2 and l_infinity.")));
	pg_unreachable();
}

/*
 * A threshold must be a finite positive number.
 */
static void
DriftCheckThreshold(double threshold)
{
	if (!(threshold > 0.0) || isinf(threshold))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("drift threshold must be a positive finite number"),
				 errdetail("threshold is %g.", threshold)));
}

/*
 * Does a method compare features of this kind?
 */
static inline bool
DriftMethodFits(DriftMethod method, bool categorical)
{
	return categorical ? drift_methods[method].categorical : drift_methods[method].numeric;
}

/*
 * The method that compares a feature: auto picks by kind and reference
 * size.
 */
static DriftMethod
DriftResolveMethod(DriftMethod method, const ProfileFeature *ref)
{
	if (method != DRIFT_AUTO)
		return method;
	if (ref->rows <= DRIFT_AUTO_MAX_ROWS)
		return ref->categorical ? DRIFT_CHI2 : DRIFT_KS;
	return ref->categorical ? DRIFT_JENSEN_SHANNON : DRIFT_WASSERSTEIN;
}

/*
 * Refuse a method that does not fit the kind of one of the profiled
 * inputs.
 */
static void
DriftCheckMethod(const Profile *profile, DriftMethod method)
{
	for (int i = 0; i < profile->nfeatures; i++)
	{
		const ProfileFeature *f = &profile->features[i];

		if (!DriftMethodFits(method, f->categorical))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("drift method \"%s\" does not fit %s feature \"%s\"",
							drift_methods[method].name,
							f->categorical ? "categorical" : "numeric", f->name),
					 errhint("ks and wasserstein compare numeric features, chi2 and l_infinity categorical ones; auto, psi and jensen_shannon compare both.")));
	}
}

/*
 * Check that a relation has every source column of the profile, each of
 * the kind it had in training.  All missing columns are named at once.
 */
static void
DriftCheckColumns(Oid relid, const char *relname, const Profile *profile)
{
	StringInfoData missing;
	int			nmissing = 0;

	initStringInfo(&missing);
	for (int j = 0; j < profile->ncolumns; j++)
	{
		const ProfileColumn *col = &profile->columns[j];
		AttrNumber	attnum = get_attnum(relid, col->name);
		Oid			typid;

		if (attnum == InvalidAttrNumber || attnum < 0)
		{
			appendStringInfo(&missing, "%s\"%s\"", nmissing > 0 ? ", " : "", col->name);
			nmissing++;
			continue;
		}
		typid = getBaseType(get_atttype(relid, attnum));
		if (DatasetSourceKind(typid, col->name) != col->kind)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of relation %s has type %s, which is not %s like the training data",
							col->name, relname, format_type_be(typid), ProfileKindName(col->kind)),
					 errdetail("The model was trained on a column of type %s.", col->type)));
	}
	if (nmissing > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg_plural("relation %s is missing feature column %s",
							   "relation %s is missing feature columns %s",
							   nmissing, relname, missing.data),
				 errdetail("Drift compares every column the model was trained on.")));
}

/*
 * Fill in the decision of a result whose statistic (and p-value) is set.
 */
static void
DriftDecide(RegistryDriftResult *res, DriftMethod method)
{
	if (drift_methods[method].pvalue)
		res->drifted = res->p_value < res->threshold;
	else
		res->drifted = res->statistic >= res->threshold;
}

/*
 * Compare the current values of a numeric feature with its reference.
 */
static void
DriftNumeric(const ProfileFeature *ref, const DriftSummary *cur, DriftMethod method,
			 RegistryDriftResult *res)
{
	int64		count = cur->rows - cur->nulls;

	res->null_share = (double) cur->nulls / cur->rows;
	if (ref->count > 0 && count > 0)
		res->out_of_range_share = (double) cur->outside / count;
	if (ref->count == 0 || count == 0)
	{
		/* nothing to compare: drifted when exactly one side has values */
		res->drifted = (ref->count == 0) != (count == 0);
		return;
	}

	switch (method)
	{
		case DRIFT_KS:
			StatsKsTest(ref->sample, ref->nsample, cur->sample, cur->nsample,
						&res->statistic, &res->p_value);
			break;
		case DRIFT_WASSERSTEIN:
			res->raw_statistic = StatsWasserstein(ref->sample, ref->nsample,
												  cur->sample, cur->nsample);
			res->statistic = res->raw_statistic / Max(ref->std, DRIFT_STD_FLOOR);
			break;
		case DRIFT_PSI:
		case DRIFT_JENSEN_SHANNON:
			{
				double		refprop[PROFILE_BINS];
				double		curprop[PROFILE_BINS];

				for (int b = 0; b < PROFILE_BINS; b++)
				{
					refprop[b] = ref->histogram[b] / (double) ref->count;
					curprop[b] = (double) cur->histogram[b] / (double) count;
				}
				res->statistic = (method == DRIFT_PSI) ?
					StatsPsi(refprop, curprop, PROFILE_BINS) :
					StatsJensenShannon(refprop, curprop, PROFILE_BINS);
				break;
			}
		default:
			elog(ERROR, "drift method %d does not compare numbers", (int) method);
	}
	DriftDecide(res, method);
}

/* qsort comparator of category texts (char *) */
static int
DriftCompareTexts(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Compare the current values of a categorical feature with its reference.
 * The bins are the reference's categories in its order, then the current
 * categories it never had, sorted by text (strcmp), so the result does not
 * depend on the order of the rows.
 */
static void
DriftCategorical(const ProfileFeature *ref, const DriftSummary *cur, DriftMethod method,
				 RegistryDriftResult *res)
{
	int			maxk = ref->ncategories + cur->ncategories;
	double	   *refc = palloc0(sizeof(double) * Max(1, maxk));
	double	   *curc = palloc0(sizeof(double) * Max(1, maxk));
	char	  **unseen = palloc(sizeof(char *) * Max(1, cur->ncategories));
	StrMap	   *known = StrMapCreate(CurrentMemoryContext, ref->ncategories);
	StrMap	   *current = StrMapCreate(CurrentMemoryContext, cur->ncategories);
	int			k = ref->ncategories;
	int			nunseen = 0;
	double		count,
				unseen_count = 0.0,
				rsum = 0.0,
				csum;

	for (int c = 0; c < ref->ncategories; c++)
	{
		StrMapPut(known, ref->categories[c], c);
		refc[c] = ref->counts[c];
		rsum += ref->counts[c];
	}
	for (int i = 0; i < cur->ncategories; i++)
	{
		int			c = StrMapGet(known, cur->categories[i]);

		StrMapPut(current, cur->categories[i], i);
		if (c >= 0)
			curc[c] += (double) cur->counts[i];
		else
			unseen[nunseen++] = cur->categories[i];
	}
	qsort(unseen, nunseen, sizeof(char *), DriftCompareTexts);
	for (int u = 0; u < nunseen; u++)
	{
		double		n = (double) cur->counts[StrMapGet(current, unseen[u])];

		curc[k++] = n;
		unseen_count += n;
	}
	count = csum = (double) (cur->rows - cur->nulls);

	res->null_share = (double) cur->nulls / cur->rows;
	if (count > 0)
		res->unseen_share = unseen_count / count;
	if (rsum == 0.0 || count == 0.0)
	{
		res->drifted = (rsum == 0.0) != (count == 0.0);
		return;
	}

	switch (method)
	{
		case DRIFT_CHI2:
			{
				int			dof;

				StatsChi2Test(refc, curc, k, &res->statistic, &res->p_value, &dof);
				break;
			}
		case DRIFT_JENSEN_SHANNON:
			res->statistic = StatsJensenShannon(refc, curc, k);
			break;
		case DRIFT_PSI:
		case DRIFT_L_INFINITY:
			{
				double		linf = 0.0;

				for (int c = 0; c < k; c++)
				{
					refc[c] /= rsum;
					curc[c] /= csum;
					linf = Max(linf, fabs(refc[c] - curc[c]));
				}
				res->statistic = (method == DRIFT_PSI) ? StatsPsi(refc, curc, k) : linf;
				break;
			}
		default:
			elog(ERROR, "drift method %d does not compare categories", (int) method);
	}
	DriftDecide(res, method);
}

/*
 * The summary of the n values of a numeric feature read on this node (NaN
 * for NULL) against its reference: the sample is every non-NULL value,
 * sorted when the method needs it.  buf has room for n values and becomes
 * the sample.
 */
static void
DriftSummarizeNumbers(const ProfileFeature *ref, const double *values, int n, double *buf,
					  bool sample, DriftSummary *cur)
{
	int			count = 0;

	memset(cur, 0, sizeof(DriftSummary));
	for (int i = 0; i < n; i++)
	{
		double		v = values[i];

		if (isnan(v))
			continue;
		buf[count++] = v;
		if (v < ref->min || v > ref->max)
			cur->outside++;
	}
	cur->rows = n;
	cur->nulls = n - count;
	if (ref->edges != NULL)
		StatsBinCounts(buf, count, ref->edges, PROFILE_BINS, cur->histogram);
	if (sample)
		StatsSortDoubles(buf, count);
	cur->sample = buf;
	cur->nsample = count;
}

/*
 * The summary of the n category codes of a categorical feature read on
 * this node (NaN for NULL; categories[code] is the text of each of
 * ncategories codes).
 */
static void
DriftSummarizeCodes(const double *codes, int n, char **categories, int ncategories,
					DriftSummary *cur)
{
	int64	   *percode = palloc0(sizeof(int64) * Max(1, ncategories));

	memset(cur, 0, sizeof(DriftSummary));
	cur->rows = n;
	for (int i = 0; i < n; i++)
	{
		if (isnan(codes[i]))
			cur->nulls++;
		else
			percode[(int) codes[i]]++;
	}
	cur->categories = palloc(sizeof(char *) * Max(1, ncategories));
	cur->counts = palloc(sizeof(int64) * Max(1, ncategories));
	for (int code = 0; code < ncategories; code++)
	{
		if (percode[code] == 0)
			continue;
		cur->categories[cur->ncategories] = categories[code];
		cur->counts[cur->ncategories++] = percode[code];
	}
	pfree(percode);
}

/*
 * Compare a summary with its reference by the feature's kind.
 */
static void
DriftCompare(const ProfileFeature *ref, const DriftSummary *cur, DriftMethod method,
			 RegistryDriftResult *res)
{
	if (ref->categorical)
		DriftCategorical(ref, cur, method, res);
	else
		DriftNumeric(ref, cur, method, res);
}

/*
 * Set up a result row: no statistic yet, and the threshold of the method
 * (the given one, or the method's default).
 */
static void
DriftInitResult(RegistryDriftResult *res, const ProfileFeature *ref, DriftMethod method,
				double threshold)
{
	res->feature = ref->name;
	res->kind = ref->categorical ? "categorical" : "numeric";
	res->method = drift_methods[method].name;
	res->statistic = res->p_value = NAN;
	res->threshold = isnan(threshold) ? drift_methods[method].threshold : threshold;
	res->drifted = false;
	res->null_share = res->out_of_range_share = res->unseen_share = NAN;
	res->raw_statistic = NAN;
}

/*
 * The model's predictions on every row of ds: the regression value, or
 * the index of the predicted class.
 */
static double *
DriftPredict(const MlopsModel *m, const Dataset *ds)
{
	int			nout = ModelOutputs(m);
	double	   *pred = palloc_extended(sizeof(double) * Max(1, ds->nrows), MCXT_ALLOC_HUGE);
	double	   *out = palloc(sizeof(double) * DRIFT_PREDICT_BATCH * nout);
	int		   *rows = palloc(sizeof(int) * DRIFT_PREDICT_BATCH);

	for (int start = 0; start < ds->nrows; start += DRIFT_PREDICT_BATCH)
	{
		int			batch = Min(DRIFT_PREDICT_BATCH, ds->nrows - start);

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < batch; r++)
			rows[r] = start + r;
		ModelPredictDataset(m, ds, rows, batch, out);
		for (int r = 0; r < batch; r++)
			pred[start + r] = (m->task == TASK_REGRESSION) ? out[r] :
				(double) ModelArgmax(out + (Size) r * nout, nout);
	}
	pfree(out);
	pfree(rows);
	return pred;
}

/*
 * The JSON detail of the drift_check event.
 */
static char *
DriftEventDetail(int64 report_id, const RegistryDriftReport *report)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	JsonAppendKey(&buf, "report_id", true);
	appendStringInfo(&buf, INT64_FORMAT, report_id);
	JsonAppendKey(&buf, "relation", false);
	JsonAppendString(&buf, report->relation);
	JsonAppendKey(&buf, "rows", false);
	appendStringInfo(&buf, INT64_FORMAT, report->rows);
	JsonAppendKey(&buf, "method", false);
	JsonAppendString(&buf, report->method);
	JsonAppendKey(&buf, "features", false);
	appendStringInfo(&buf, "%d", report->features);
	JsonAppendKey(&buf, "drifted", false);
	appendStringInfo(&buf, "%d", report->drifted);
	JsonAppendKey(&buf, "drift_share", false);
	JsonAppendDouble(&buf, report->drift_share);
	JsonAppendKey(&buf, "dataset_drift", false);
	appendStringInfoString(&buf, report->dataset_drift ? "true" : "false");
	JsonAppendKey(&buf, "prediction_drift", false);
	appendStringInfoString(&buf, report->prediction_drift < 0 ? "null" :
						   report->prediction_drift ? "true" : "false");
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * Return the result rows of mlops.drift, NaN becoming NULL.
 */
static void
DriftReturnRows(FunctionCallInfo fcinfo, const RegistryDriftResult *results, int n)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		const RegistryDriftResult *r = &results[i];
		double		numbers[] = {r->statistic, r->p_value, r->threshold, r->null_share,
		r->out_of_range_share, r->unseen_share, r->raw_statistic};
		int			columns[] = {3, 4, 5, 7, 8, 9, 10};
		Datum		values[DRIFT_RESULT_COLUMNS];
		bool		nulls[DRIFT_RESULT_COLUMNS] = {0};

		values[0] = CStringGetTextDatum(r->feature);
		values[1] = CStringGetTextDatum(r->kind);
		values[2] = CStringGetTextDatum(r->method);
		values[6] = BoolGetDatum(r->drifted);
		for (int c = 0; c < lengthof(columns); c++)
		{
			values[columns[c]] = Float8GetDatum(numbers[c]);
			nulls[columns[c]] = isnan(numbers[c]);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * The reference of result i: input i, or the predictions after the inputs.
 */
static const ProfileFeature *
DriftResultFeature(const Profile *profile, int i)
{
	return (i < profile->nfeatures) ? &profile->features[i] : profile->prediction;
}

/*
 * Report a relation without rows.
 */
static void DriftNoRows(const char *relname) pg_attribute_noreturn();

static void
DriftNoRows(const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA),
			 errmsg("relation %s has no rows to check for drift", relname)));
}

/*
 * mlops.drift(project, relation, method, threshold, model_id): compare a
 * relation with the reference profile of the deployed (or given) model.
 */
Datum
mlops_drift(PG_FUNCTION_ARGS)
{
	char	   *project;
	char	   *relname;
	DriftMethod method;
	double		threshold = NAN;
	RegistryProject *proj;
	MlopsModel *m;
	Profile    *profile;
	Oid			relid;
	int			nresults;
	DriftMethod *used;
	bool		sample = false;
	int64		rows;
	RegistryDriftResult *results;
	bool	   *column_drifted;
	RegistryDriftReport report = {0};
	int64		report_id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project, relation and method must not be NULL")));
	project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	method = DriftParseMethod(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	if (!PG_ARGISNULL(3))
	{
		threshold = PG_GETARG_FLOAT8(3);
		DriftCheckThreshold(threshold);
	}

	proj = RegistryGetProject(project, false);
	PrivilegeCheck(proj->id, proj->name, PRIV_TRAIN);
	m = ModelCacheGetOfProject(proj, PG_ARGISNULL(4) ? NULL : &(int64) {PG_GETARG_INT64(4)});
	profile = ProfileFromJson(RegistryModelProfile(m->id), m);
	DriftCheckMethod(profile, method);

	relid = DatasetResolveRelation(text_to_cstring(PG_GETARG_TEXT_PP(1)), &relname);
	DriftCheckColumns(relid, relname, profile);

	/* the method of each input and of the predictions; do ks or wasserstein need samples? */
	nresults = profile->nfeatures + (profile->prediction != NULL ? 1 : 0);
	used = palloc(sizeof(DriftMethod) * nresults);
	for (int i = 0; i < nresults; i++)
	{
		const ProfileFeature *ref = DriftResultFeature(profile, i);

		used[i] = DriftResolveMethod(DriftMethodFits(method, ref->categorical) ? method : DRIFT_AUTO,
									 ref);
		sample = sample || used[i] == DRIFT_KS || used[i] == DRIFT_WASSERSTEIN;
	}

	results = palloc0(sizeof(RegistryDriftResult) * nresults);
	if (DriftPartialApplies(relid))
	{
		/* a distributed table: partial profiles of its shards, merged */
		DriftSummary *sums = DriftPartialRead(relid, relname, m->id, profile,
											  sample ? mlops_drift_sample_size : 0);

		if (sums == NULL)
			DriftNoRows(relname);
		rows = sums[0].rows;
		for (int i = 0; i < nresults; i++)
		{
			DriftInitResult(&results[i], DriftResultFeature(profile, i), used[i], threshold);
			DriftCompare(DriftResultFeature(profile, i), &sums[i], used[i], &results[i]);
		}
	}
	else
	{
		Dataset    *ds = DatasetRead(relid, relname, NULL, ProfileSpec(profile), NULL,
									 TARGET_NONE, NULL, 0);
		double	   *buf;
		DriftSummary cur;

		if (ds->nrows == 0)
			DriftNoRows(relname);
		if (ds->ninputs != profile->nfeatures)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("relation %s gives %d model inputs, but the reference profile has %d",
							relname, ds->ninputs, profile->nfeatures)));
		rows = ds->nrows;
		buf = palloc_extended(sizeof(double) * Max(1, (Size) ds->nrows), MCXT_ALLOC_HUGE);
		for (int i = 0; i < profile->nfeatures; i++)
		{
			const ProfileFeature *ref = &profile->features[i];
			const DatasetInput *in = &ds->inputs[i];

			CHECK_FOR_INTERRUPTS();
			if (in->categorical != ref->categorical || strcmp(in->name, ref->name) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("input \"%s\" of relation %s does not match input \"%s\" of the reference profile",
								in->name, relname, ref->name)));
			if (ref->categorical)
				DriftSummarizeCodes(in->values, ds->nrows, in->categories, in->ncategories, &cur);
			else
				DriftSummarizeNumbers(ref, in->values, ds->nrows, buf, sample, &cur);
			DriftInitResult(&results[i], ref, used[i], threshold);
			DriftCompare(ref, &cur, used[i], &results[i]);
		}
		if (profile->prediction != NULL)
		{
			const ProfileFeature *ref = profile->prediction;
			int			p = profile->nfeatures;
			double	   *pred = DriftPredict(m, ds);

			if (ref->categorical)
				DriftSummarizeCodes(pred, ds->nrows, m->labels, m->nclasses, &cur);
			else
				DriftSummarizeNumbers(ref, pred, ds->nrows, buf, sample, &cur);
			DriftInitResult(&results[p], ref, used[p], threshold);
			DriftCompare(ref, &cur, used[p], &results[p]);
		}
	}

	column_drifted = palloc0(sizeof(bool) * Max(1, profile->ncolumns));
	for (int i = 0; i < profile->nfeatures; i++)
		if (results[i].drifted)
			column_drifted[profile->features[i].column] = true;
	for (int j = 0; j < profile->ncolumns; j++)
		report.drifted += column_drifted[j] ? 1 : 0;
	report.nresults = nresults;
	report.prediction_drift = (profile->prediction == NULL) ? -1 :
		results[profile->nfeatures].drifted ? 1 : 0;

	report.project_id = proj->id;
	report.model_id = m->id;
	report.relation = relname;
	report.rows = rows;
	report.method = drift_methods[method].name;
	report.threshold = threshold;
	report.features = profile->ncolumns;
	report.drift_share = (double) report.drifted / report.features;
	report.dataset_drift = report.drift_share >= DRIFT_DATASET_SHARE;
	report.results = results;
	if (RecoveryInProgress())
		ereport(NOTICE,
				(errmsg("drift report not recorded: the server is a hot standby"),
				 errdetail("The statistics are computed; mlops.drift_reports and mlops.events are written only on the primary.")));
	else
	{
		report_id = RegistryInsertDriftReport(&report);
		RegistryLogEvent("drift_check", project, m->id, DriftEventDetail(report_id, &report));
		AlertsCheckProject(proj, false);
	}

	DriftReturnRows(fcinfo, results, report.nresults);
	return (Datum) 0;
}
