/*-------------------------------------------------------------------------
 *
 * featurize_internal.h
 *	  What featurize_fit.c, featurize_apply.c and featurize_json.c share
 *	  and no other module uses: the option names, the category limit, the
 *	  category lookup and the category slot of a raw value.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_FEATURIZE_INTERNAL_H
#define MLOPS_FEATURIZE_INTERNAL_H

#include <math.h>

#include "train/featurize.h"

#define MLOPS_MAX_CATEGORIES 1000	/* distinct values kept without
									 * max_categories */

/* option names, indexed by their enums (featurize_json.c) */
extern const char *const featurizer_impute_names[IMPUTE_CONSTANT + 1];
extern const char *const featurizer_scale_names[SCALE_ROBUST + 1];
extern const char *const featurizer_encode_names[ENCODE_TARGET + 1];
extern const char *const featurizer_source_kind_names[SOURCE_ARRAY + 1];

extern int	FeaturizerLookupName(const char *const *names, int n, const char *name);
extern void FeaturizerBuildLookup(FeatureInput *in);

/*
 * The category slot of a categorical input's raw value: its index, the
 * NULL category (ncategories), or -1 for unknown.
 */
static inline int
CategorySlot(const FeatureInput *in, double r)
{
	if (!isnan(r))
		return (int) r;
	if (in->impute == IMPUTE_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("feature column \"%s\" is NULL", in->name),
				 errdetail("The model was trained with \"impute\": \"error\" for this column.")));
	if (in->impute != IMPUTE_NONE)
		return in->fill_index;
	return in->null_category ? in->ncategories : -1;
}

#endif							/* MLOPS_FEATURIZE_INTERNAL_H */
