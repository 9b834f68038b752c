/*-------------------------------------------------------------------------
 *
 * hyperparams.c
 *	  Validation and defaults of algorithm hyperparameters.
 *
 * One table lists every hyperparameter: its name (XGBoost's and
 * scikit-learn's usual names), an alias, the algorithms it applies to, its
 * range and its default per algorithm.  A model stores the complete,
 * normalized set (defaults included), so it can be reproduced exactly.
 *
 * class_weight (xgboost, random_forest, logistic; classification only) is
 * not a number: "balanced" weighs each training row by n / (K * n_k), K
 * classes of which k has n_k training rows (scikit-learn's
 * compute_sample_weight), {"label": weight, ...} weighs the rows of each
 * given label (others 1), null or absent weighs nothing.  The labels of the
 * object are checked once the target's labels are known.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "jsonutil.h"
#include "train/hyperparams.h"

#define A_XGB	(1 << ALG_XGBOOST)
#define A_RF	(1 << ALG_RANDOM_FOREST)
#define A_TREE	(A_XGB | A_RF)
#define A_OLS	(1 << ALG_LINEAR)
#define A_RIDGE (1 << ALG_RIDGE)
#define A_LASSO (1 << ALG_LASSO)
#define A_EN	(1 << ALG_ELASTIC_NET)
#define A_LOG	(1 << ALG_LOGISTIC)
#define A_LIN	(A_OLS | A_RIDGE | A_LASSO | A_EN | A_LOG)

typedef enum HpType
{
	HPT_INT,
	HPT_FLOAT,
	HPT_BOOL,
	HPT_PENALTY
} HpType;

typedef struct HpSpec
{
	const char *name;
	const char *alias;
	int			algorithms;		/* bitmask of MlopsAlgorithm */
	HpType		type;
	double		min;
	double		max;
	bool		min_exclusive;
	double		def;			/* default */
	double		def_rf;			/* default for random_forest */
} HpSpec;

static const HpSpec hp_specs[HP_COUNT] = {
	[HP_N_ESTIMATORS] = {"n_estimators", "num_boost_round", A_TREE, HPT_INT, 1, 100000, false, 100, 100},
	[HP_MAX_DEPTH] = {"max_depth", NULL, A_TREE, HPT_INT, 0, 64, false, 6, 6},
	[HP_LEARNING_RATE] = {"learning_rate", "eta", A_TREE, HPT_FLOAT, 0, 1, true, 0.3, 1.0},
	[HP_SUBSAMPLE] = {"subsample", NULL, A_TREE, HPT_FLOAT, 0, 1, true, 1.0, 0.8},
	[HP_COLSAMPLE_BYTREE] = {"colsample_bytree", NULL, A_TREE, HPT_FLOAT, 0, 1, true, 1.0, 1.0},
	[HP_COLSAMPLE_BYNODE] = {"colsample_bynode", NULL, A_TREE, HPT_FLOAT, 0, 1, true, 1.0, 0.8},
	[HP_MIN_CHILD_WEIGHT] = {"min_child_weight", NULL, A_TREE, HPT_FLOAT, 0, 1e12, false, 1.0, 1.0},
	[HP_REG_LAMBDA] = {"reg_lambda", "lambda", A_TREE, HPT_FLOAT, 0, 1e12, false, 1.0, 1e-5},
	[HP_REG_ALPHA] = {"reg_alpha", NULL, A_TREE, HPT_FLOAT, 0, 1e12, false, 0.0, 0.0},
	[HP_GAMMA] = {"gamma", "min_split_loss", A_TREE, HPT_FLOAT, 0, 1e12, false, 0.0, 0.0},
	[HP_MAX_BIN] = {"max_bin", NULL, A_TREE, HPT_INT, 2, 65536, false, 256, 256},
	[HP_SCALE_POS_WEIGHT] = {"scale_pos_weight", NULL, A_TREE, HPT_FLOAT, 0, 1e12, true, 1.0, 1.0},
	[HP_EARLY_STOPPING_ROUNDS] = {"early_stopping_rounds", NULL, A_XGB, HPT_INT, 0, 100000, false, 0, 0},
	[HP_ALPHA] = {"alpha", NULL, A_RIDGE | A_LASSO | A_EN, HPT_FLOAT, 0, 1e12, false, 1.0, 1.0},
	[HP_L1_RATIO] = {"l1_ratio", NULL, A_EN, HPT_FLOAT, 0, 1, false, 0.5, 0.5},
	[HP_C] = {"C", NULL, A_LOG, HPT_FLOAT, 0, 1e12, true, 1.0, 1.0},
	[HP_PENALTY] = {"penalty", NULL, A_LOG, HPT_PENALTY, 0, 1, false, 1, 1},
	[HP_MAX_ITER] = {"max_iter", NULL, A_LASSO | A_EN | A_LOG, HPT_INT, 1, 1000000, false, 1000, 1000},
	[HP_TOL] = {"tol", NULL, A_LASSO | A_EN | A_LOG, HPT_FLOAT, 0, 1, true, 1e-4, 1e-4},
	[HP_FIT_INTERCEPT] = {"fit_intercept", NULL, A_LIN, HPT_BOOL, 0, 1, false, 1, 1},
};

/* the algorithms class_weight applies to */
#define A_CLASS_WEIGHT	(A_TREE | A_LOG)

/*
 * The names valid for an algorithm, for error hints.
 */
static char *
ValidNames(MlopsAlgorithm alg)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int k = 0; k < HP_COUNT; k++)
	{
		if (!(hp_specs[k].algorithms & (1 << alg)))
			continue;
		appendStringInfo(&s, "%s%s", s.len ? ", " : "", hp_specs[k].name);
	}
	if (A_CLASS_WEIGHT & (1 << alg))
		appendStringInfoString(&s, ", class_weight");
	return s.data;
}

/*
 * Read class_weight: null, "balanced" or an object of positive finite
 * weights by label.
 */
static void
ParseClassWeight(HyperParams *hp, const JsonbValue *v)
{
	char	   *s = (v->type == jbvString) ? JsonValueToCString(v) : NULL;
	JsonPair   *pairs;

	if (v->type == jbvNull)
		return;
	if (s != NULL && strcmp(s, "balanced") == 0)
	{
		hp->class_weight = CLASS_WEIGHT_BALANCED;
		return;
	}
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"class_weight\" must be \"balanced\" or an object of weights by label, not %s",
						s ? psprintf("\"%s\"", s) : JsonTypeName(v)),
				 errhint("Write for instance {\"class_weight\": \"balanced\"} or {\"class_weight\": {\"yes\": 5}}.")));

	pairs = JsonObjectPairs(JsonbValueToJsonb((JsonbValue *) v), "class_weight", &hp->nweights);
	hp->class_weight = CLASS_WEIGHT_LABELS;
	hp->weight_labels = palloc(sizeof(char *) * Max(1, hp->nweights));
	hp->weights = palloc(sizeof(double) * Max(1, hp->nweights));
	for (int i = 0; i < hp->nweights; i++)
	{
		double		w;

		if (pairs[i].value.type != jbvNumeric || !JsonValueNumber(&pairs[i].value, &w))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("class_weight of label \"%s\" must be a number, not %s",
							pairs[i].key, JsonTypeName(&pairs[i].value))));
		if (!(w > 0) || !isfinite(w))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("class_weight of label \"%s\" is out of range: %g", pairs[i].key, w),
					 errdetail("Class weights must be positive and finite.")));
		hp->weight_labels[i] = pairs[i].key;
		hp->weights[i] = w;
	}
}

/*
 * Find the spec of a given key (by name or alias) among all of them.
 */
static int
FindKey(const char *key)
{
	for (int k = 0; k < HP_COUNT; k++)
		if (strcmp(key, hp_specs[k].name) == 0 ||
			(hp_specs[k].alias && strcmp(key, hp_specs[k].alias) == 0))
			return k;
	return -1;
}

/*
 * Check one given value against its spec and return it as a double.
 */
static double
CheckValue(const HpSpec *spec, const char *key, const JsonbValue *v)
{
	double		d;

	if (spec->type == HPT_BOOL)
	{
		if (v->type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hyperparameter \"%s\" must be a boolean, not %s", key, JsonTypeName(v))));
		return v->val.boolean ? 1 : 0;
	}
	if (spec->type == HPT_PENALTY)
	{
		char	   *s = JsonValueToCString(v);

		if (s != NULL && strcmp(s, "l2") == 0)
			return 1;
		if (s != NULL && strcmp(s, "none") == 0)
			return 0;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for hyperparameter \"%s\"", JsonValueDisplay(v), key),
				 errhint("Valid values are \"l2\" and \"none\".")));
	}
	if (v->type != jbvNumeric || !JsonValueNumber(v, &d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" must be a number, not %s", key, JsonTypeName(v))));
	if (spec->type == HPT_INT && d != floor(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" must be an integer, not %g", key, d)));
	if (d < spec->min || d > spec->max || (spec->min_exclusive && d == spec->min))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" is out of range: %g", key, d),
				 errdetail("Valid values are %s %g and at most %g.",
						   spec->min_exclusive ? "greater than" : "at least",
						   spec->min, spec->max)));
	return d;
}

/*
 * Validate the user's hyperparameters for an algorithm and fill in the
 * defaults.  Unknown keys, keys of another algorithm and out-of-range
 * values are errors that name the key and list the valid ones.
 */
HyperParams *
HyperParamsParse(MlopsAlgorithm alg, MlopsTask task, Jsonb *given)
{
	HyperParams *hp = palloc0(sizeof(HyperParams));
	int			npairs;
	JsonPair   *pairs = JsonObjectPairs(given, "hyperparams", &npairs);

	for (int k = 0; k < HP_COUNT; k++)
	{
		hp->applies[k] = (hp_specs[k].algorithms & (1 << alg)) != 0;
		hp->v[k] = (alg == ALG_RANDOM_FOREST) ? hp_specs[k].def_rf : hp_specs[k].def;
	}
	/* scikit-learn's defaults that differ by algorithm */
	if (alg == ALG_LOGISTIC)
		hp->v[HP_MAX_ITER] = 100;
	if (alg == ALG_LASSO)
		hp->v[HP_L1_RATIO] = 1.0;

	hp->class_weight_applies = (A_CLASS_WEIGHT & (1 << alg)) != 0;

	for (int i = 0; i < npairs; i++)
	{
		int			k = FindKey(pairs[i].key);

		if (k < 0 && hp->class_weight_applies && strcmp(pairs[i].key, "class_weight") == 0)
		{
			ParseClassWeight(hp, &pairs[i].value);
			continue;
		}
		if (k < 0 || !hp->applies[k])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown hyperparameter \"%s\" for algorithm \"%s\"",
							pairs[i].key, MlopsAlgorithmName(alg)),
					 errhint("Valid hyperparameters are: %s.", ValidNames(alg))));
		for (int j = 0; j < i; j++)
			if (FindKey(pairs[j].key) == k)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("hyperparameter \"%s\" is given twice", hp_specs[k].name),
						 errdetail("\"%s\" and \"%s\" are the same setting.", pairs[j].key, pairs[i].key)));
		hp->v[k] = CheckValue(&hp_specs[k], pairs[i].key, &pairs[i].value);
	}

	if (hp->v[HP_SCALE_POS_WEIGHT] != 1.0 && task != TASK_CLASSIFICATION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"scale_pos_weight\" applies only to classification")));
	if (hp->class_weight != CLASS_WEIGHT_NONE && task != TASK_CLASSIFICATION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"class_weight\" applies only to classification")));
	return hp;
}

/*
 * The weight of each class (in label order) that class_weight gives, for
 * the n training rows of class indices y; NULL when it weighs nothing.  A
 * label of the object that is not one of the target's labels is an error
 * that names it; a class without training rows keeps weight 1.
 */
double *
HyperParamsClassWeights(const HyperParams *hp, char **labels, int nclasses,
						const double *y, int n)
{
	double	   *w;

	if (hp->class_weight == CLASS_WEIGHT_NONE)
		return NULL;
	w = palloc(sizeof(double) * nclasses);
	for (int k = 0; k < nclasses; k++)
		w[k] = 1.0;

	if (hp->class_weight == CLASS_WEIGHT_BALANCED)
	{
		double	   *count = palloc0(sizeof(double) * nclasses);

		for (int i = 0; i < n; i++)
			count[(int) y[i]] += 1;
		for (int k = 0; k < nclasses; k++)
			if (count[k] > 0)
				w[k] = n / (nclasses * count[k]);
		pfree(count);
		return w;
	}

	for (int i = 0; i < hp->nweights; i++)
	{
		int			k = 0;

		while (k < nclasses && strcmp(labels[k], hp->weight_labels[i]) != 0)
			k++;
		if (k == nclasses)
		{
			StringInfoData known;

			initStringInfo(&known);
			JsonAppendStrings(&known, labels, nclasses);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("class_weight names label \"%s\", which is not a label of the target",
							hp->weight_labels[i]),
					 errdetail("The labels are %s.", known.data),
					 errhint("Booleans are written false and true.")));
		}
		w[k] = hp->weights[i];
	}
	return w;
}

/*
 * Write the complete hyperparameter set of a model as a JSON object.
 */
void
HyperParamsToJson(const HyperParams *hp, StringInfo buf)
{
	bool		first = true;

	appendStringInfoChar(buf, '{');
	for (int k = 0; k < HP_COUNT; k++)
	{
		if (!hp->applies[k])
			continue;
		JsonAppendKey(buf, hp_specs[k].name, first);
		first = false;
		if (hp_specs[k].type == HPT_BOOL)
			appendStringInfoString(buf, hp->v[k] != 0 ? "true" : "false");
		else if (hp_specs[k].type == HPT_PENALTY)
			appendStringInfoString(buf, hp->v[k] != 0 ? "\"l2\"" : "\"none\"");
		else
			JsonAppendDouble(buf, hp->v[k]);
	}
	if (hp->class_weight_applies)
	{
		JsonAppendKey(buf, "class_weight", first);
		if (hp->class_weight == CLASS_WEIGHT_BALANCED)
			appendStringInfoString(buf, "\"balanced\"");
		else if (hp->class_weight == CLASS_WEIGHT_NONE)
			appendStringInfoString(buf, "null");
		else
		{
			appendStringInfoChar(buf, '{');
			for (int i = 0; i < hp->nweights; i++)
			{
				JsonAppendKey(buf, hp->weight_labels[i], i == 0);
				JsonAppendDouble(buf, hp->weights[i]);
			}
			appendStringInfoChar(buf, '}');
		}
	}
	appendStringInfoChar(buf, '}');
}
