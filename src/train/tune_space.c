/*-------------------------------------------------------------------------
 *
 * tune_space.c
 *	  Search spaces of mlops.tune: reading and checking them, the default
 *	  space of each algorithm, grid points and seeded random draws.
 *
 * A search space is a JSON object whose keys are hyperparameters of the
 * algorithm.  A value is either a non-empty list of values to choose from
 * (any JSON values the hyperparameter accepts: numbers, "l2", "balanced",
 * an object of class weights) or a range {"min": a, "max": b} with the
 * optional flags "log" (drawn uniformly in log space; min must be
 * positive) and "int" (rounded down to an integer).  Every list value and
 * both ends of every range are checked as mlops.train would check them in
 * hyperparams, so a search never fails half-way on a bad value.
 *
 * Random search draws every dimension independently (pg_prng seeded by the
 * tune's seed).  A grid takes every combination of the lists, in the order
 * the keys and values are written (the last key varies fastest); a range in
 * a grid contributes three points: min, the middle (geometric with "log")
 * and max, distinct values only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "jsonutil.h"
#include "ops/policy.h"
#include "train/hyperparams.h"
#include "train/tune.h"

/* the default search space of each algorithm (README, "Tuning") */
static const char *const default_spaces[] = {
	[ALG_XGBOOST] = "{\"n_estimators\": {\"min\": 50, \"max\": 500, \"int\": true}, "
	"\"max_depth\": {\"min\": 2, \"max\": 10, \"int\": true}, "
	"\"learning_rate\": {\"min\": 0.01, \"max\": 0.3, \"log\": true}, "
	"\"subsample\": {\"min\": 0.5, \"max\": 1}, "
	"\"colsample_bytree\": {\"min\": 0.5, \"max\": 1}, "
	"\"min_child_weight\": {\"min\": 1, \"max\": 10, \"log\": true}}",
	[ALG_RANDOM_FOREST] = "{\"n_estimators\": {\"min\": 50, \"max\": 300, \"int\": true}, "
	"\"max_depth\": {\"min\": 4, \"max\": 16, \"int\": true}, "
	"\"subsample\": {\"min\": 0.5, \"max\": 1}, "
	"\"colsample_bynode\": {\"min\": 0.3, \"max\": 1}}",
	[ALG_LINEAR] = "{\"fit_intercept\": [true, false]}",
	[ALG_RIDGE] = "{\"alpha\": {\"min\": 0.0001, \"max\": 100, \"log\": true}}",
	[ALG_LASSO] = "{\"alpha\": {\"min\": 0.0001, \"max\": 100, \"log\": true}}",
	[ALG_ELASTIC_NET] = "{\"alpha\": {\"min\": 0.0001, \"max\": 100, \"log\": true}, "
	"\"l1_ratio\": {\"min\": 0.05, \"max\": 0.95}}",
	[ALG_LOGISTIC] = "{\"C\": {\"min\": 0.001, \"max\": 1000, \"log\": true}}",
};

/* what an error context names while a key of the space is checked */
typedef struct SpaceContext
{
	const char *key;
	bool		is_default;
} SpaceContext;

/*
 * Error context callback: the search space key being checked.
 */
static void
SpaceErrorContext(void *arg)
{
	SpaceContext *c = arg;

	errcontext("%s key \"%s\"", c->is_default ? "default search space" : "search_space", c->key);
}

/*
 * The search by name: "grid", "random" or "halving".
 */
TuneSearch
TuneSearchFromName(const char *name)
{
	if (strcmp(name, "grid") == 0)
		return TUNE_GRID;
	if (strcmp(name, "random") == 0)
		return TUNE_RANDOM;
	if (strcmp(name, "halving") == 0)
		return TUNE_HALVING;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown search \"%s\"", name),
			 errhint("Valid searches are \"grid\", \"random\" and \"halving\".")));
	return TUNE_RANDOM;			/* keep the compiler quiet */
}

/*
 * The name of a search.
 */
const char *
TuneSearchName(TuneSearch search)
{
	return search == TUNE_GRID ? "grid" : search == TUNE_RANDOM ? "random" : "halving";
}

/*
 * The JSON text of one value of an array.
 */
static char *
ValueText(JsonbValue *v)
{
	Jsonb	   *jb = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/*
 * Check that hyperparameter "key" may take the value written as JSON text:
 * mlops.train would accept base with it.
 */
static void
CheckValue(MlopsAlgorithm alg, MlopsTask task, Jsonb *base, const char *key, const char *value)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	JsonAppendKey(&buf, key, true);
	appendStringInfo(&buf, "%s}", value);
	(void) HyperParamsParse(alg, task, PolicyMerge(base, JsonFromText(&buf)));
}

/*
 * The JSON text of a number of a range dimension.
 */
static char *
NumberText(const TuneDimension *d, double v)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (d->integer)
		appendStringInfo(&buf, "%.0f", v);
	else
		JsonAppendDouble(&buf, v);
	return buf.data;
}

/*
 * A number of a range object, which must be finite.
 */
static double
RangeNumber(JsonbValue *v, const char *which)
{
	double		d;

	if (v->type != jbvNumeric || !JsonValueNumber(v, &d) || !isfinite(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of a range must be a finite number, not %s", which, JsonValueDisplay(v))));
	return d;
}

/*
 * Read a range {"min": a, "max": b, "log": bool, "int": bool} into d.
 */
static void
ParseRange(TuneDimension *d, Jsonb *range)
{
	int			n;
	JsonPair   *pairs = JsonObjectPairs(range, "range", &n);
	bool		has_min = false,
				has_max = false;

	for (int i = 0; i < n; i++)
	{
		JsonbValue *v = &pairs[i].value;

		if (strcmp(pairs[i].key, "min") == 0)
		{
			d->min = RangeNumber(v, "min");
			has_min = true;
		}
		else if (strcmp(pairs[i].key, "max") == 0)
		{
			d->max = RangeNumber(v, "max");
			has_max = true;
		}
		else if (strcmp(pairs[i].key, "log") == 0 || strcmp(pairs[i].key, "int") == 0)
		{
			if (v->type != jbvBool)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" of a range must be a boolean, not %s",
								pairs[i].key, JsonValueDisplay(v))));
			if (pairs[i].key[0] == 'l')
				d->log = v->val.boolean;
			else
				d->integer = v->val.boolean;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown range key \"%s\"", pairs[i].key),
					 errhint("A range has the keys \"min\", \"max\", \"log\" and \"int\".")));
	}
	if (!has_min || !has_max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a range needs both \"min\" and \"max\""),
				 errhint("Write for instance {\"min\": 0.01, \"max\": 0.3, \"log\": true}.")));
	if (d->min > d->max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("range min %g is greater than max %g", d->min, d->max)));
	if (d->log && d->min <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a log-scale range needs min > 0, min is %g", d->min)));
	if (d->integer && ceil(d->min) > floor(d->max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("integer range from %g to %g holds no integer", d->min, d->max)));
	if (d->integer)
	{
		d->min = ceil(d->min);
		d->max = floor(d->max);
	}
}

/*
 * Read and check a search space (NULL: the algorithm's default) for an
 * algorithm and task, whose fixed hyperparameters are base: every list
 * value and both ends of every range must be valid there.
 */
TuneSpace *
TuneSpaceParse(Jsonb *space, MlopsAlgorithm alg, MlopsTask task, Jsonb *base)
{
	TuneSpace  *s = palloc0(sizeof(TuneSpace));
	SpaceContext ctx = {NULL, space == NULL};
	ErrorContextCallback cb;
	JsonPair   *pairs;

	if (space == NULL)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, default_spaces[alg]);
		space = JsonFromText(&buf);
	}
	if (!JB_ROOT_IS_OBJECT(space) || JB_ROOT_IS_SCALAR(space))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search_space must be a JSON object"),
				 errhint("Write for instance {\"max_depth\": [3, 6, 9], \"learning_rate\": {\"min\": 0.01, \"max\": 0.3, \"log\": true}}.")));
	pairs = JsonObjectPairs(space, "search_space", &s->ndims);
	if (s->ndims == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search_space is empty"),
				 errhint("Name at least one hyperparameter, or pass NULL for the algorithm's default space.")));
	s->dims = palloc0(sizeof(TuneDimension) * s->ndims);

	cb.callback = SpaceErrorContext;
	cb.arg = &ctx;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	for (int i = 0; i < s->ndims; i++)
	{
		TuneDimension *d = &s->dims[i];
		JsonbValue *v = &pairs[i].value;

		d->name = pairs[i].key;
		ctx.key = d->name;
		if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
		{
			JsonbContainer *arr = v->val.binary.data;

			d->nvalues = JsonContainerSize(arr);
			if (d->nvalues == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("search_space key \"%s\" has an empty list", d->name),
						 errhint("Give at least one value.")));
			d->values = palloc(sizeof(char *) * d->nvalues);
			for (int j = 0; j < d->nvalues; j++)
			{
				d->values[j] = ValueText(JsonArrayElement(arr, j));
				CheckValue(alg, task, base, d->name, d->values[j]);
			}
		}
		else if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
		{
			ParseRange(d, JsonbValueToJsonb(v));
			CheckValue(alg, task, base, d->name, NumberText(d, d->min));
			CheckValue(alg, task, base, d->name, NumberText(d, d->max));
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("search_space key \"%s\" must be a list of values or a range, not %s",
							d->name, JsonValueDisplay(v)),
					 errhint("Write for instance [3, 6, 9] or {\"min\": 50, \"max\": 500, \"int\": true}.")));
	}
	error_context_stack = cb.previous;
	return s;
}

/*
 * Does the space search a hyperparameter (by its name as written)?
 */
bool
TuneSpaceHas(const TuneSpace *space, const char *name)
{
	for (int i = 0; i < space->ndims; i++)
		if (strcmp(space->dims[i].name, name) == 0)
			return true;
	return false;
}

/*
 * The grid points of a range: min, middle, max, distinct values only.
 */
static int
RangeGridPoints(const TuneDimension *d, double *points)
{
	double		mid = d->log ? sqrt(d->min * d->max) : (d->min + d->max) / 2;
	double		candidates[3] = {d->min, d->integer ? floor(mid) : mid, d->max};
	int			n = 0;

	for (int i = 0; i < 3; i++)
		if (n == 0 || candidates[i] != points[n - 1])
			points[n++] = candidates[i];
	return n;
}

/*
 * The number of values a dimension has in a grid.
 */
static int
GridCount(const TuneDimension *d)
{
	double		points[3];

	return d->nvalues > 0 ? d->nvalues : RangeGridPoints(d, points);
}

/*
 * The number of points of a grid over the space (saturating at
 * TUNE_MAX_TRIALS + 1, which is more than any search runs).
 */
int64
TuneSpaceGridSize(const TuneSpace *space)
{
	int64		n = 1;

	for (int i = 0; i < space->ndims; i++)
		n = Min(n * GridCount(&space->dims[i]), TUNE_MAX_TRIALS + 1);
	return n;
}

/*
 * Grid point number index (0 .. TuneSpaceGridSize - 1) as a JSON object.
 */
Jsonb *
TuneSpaceGridPoint(const TuneSpace *space, int64 index)
{
	StringInfoData buf;
	int		   *choice = palloc(sizeof(int) * space->ndims);

	for (int i = space->ndims - 1; i >= 0; i--)
	{
		int			n = GridCount(&space->dims[i]);

		choice[i] = (int) (index % n);
		index /= n;
	}
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < space->ndims; i++)
	{
		const TuneDimension *d = &space->dims[i];

		JsonAppendKey(&buf, d->name, i == 0);
		if (d->nvalues > 0)
			appendStringInfoString(&buf, d->values[choice[i]]);
		else
		{
			double		points[3];

			(void) RangeGridPoints(d, points);
			appendStringInfoString(&buf, NumberText(d, points[choice[i]]));
		}
	}
	appendStringInfoChar(&buf, '}');
	pfree(choice);
	return JsonFromText(&buf);
}

/*
 * A random point of the space as a JSON object: each list value equally
 * likely, ranges uniform (in log space with "log"); an integer range
 * draws from [min, max + 1) and rounds down.
 */
Jsonb *
TuneSpaceSample(const TuneSpace *space, pg_prng_state *rng)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < space->ndims; i++)
	{
		const TuneDimension *d = &space->dims[i];
		double		u = pg_prng_double(rng);

		JsonAppendKey(&buf, d->name, i == 0);
		if (d->nvalues > 0)
			appendStringInfoString(&buf, d->values[Min((int) (u * d->nvalues), d->nvalues - 1)]);
		else
		{
			double		hi = d->integer ? d->max + 1 : d->max;
			double		v = d->log ? exp(log(d->min) + u * (log(hi) - log(d->min)))
				: d->min + u * (hi - d->min);

			if (d->integer)
				v = floor(v);
			appendStringInfoString(&buf, NumberText(d, Min(Max(v, d->min), d->max)));
		}
	}
	appendStringInfoChar(&buf, '}');
	return JsonFromText(&buf);
}
