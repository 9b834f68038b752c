/*-------------------------------------------------------------------------
 *
 * forest_internal.h
 *	  What the files of native XGBoost inference share, and nothing outside
 *	  them uses: the keys of the model document, the events the UBJSON
 *	  reader (forest_ubjson.c) feeds the compiler (forest_compile.c), and
 *	  the complete form the compiler has forest_predict.c build.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_FOREST_INTERNAL_H
#define MLOPS_FOREST_INTERNAL_H

#include "utils/jsonb.h"

#include "serve/forest.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FOREST_AVX512
#define FOREST_AVX512_TARGET __attribute__((target("avx512f,popcnt")))
#endif

/* the row values one permute of the AVX-512 walk looks up */
#define FOREST_TABLE 32

/* the keys of the model document the compiler reads */
typedef enum ModelKey
{
	KEY_OTHER,
	KEY_ELEMENT,				/* an array element */
	KEY_LEARNER,
	KEY_MODEL_PARAM,			/* learner_model_param */
	KEY_BASE_SCORE,
	KEY_NUM_CLASS,
	KEY_NUM_FEATURE,
	KEY_NUM_TARGET,
	KEY_OBJECTIVE,
	KEY_NAME,
	KEY_BOOSTER,				/* gradient_booster */
	KEY_MODEL,
	KEY_TREES_PARAM,			/* gbtree_model_param */
	KEY_NUM_TREES,
	KEY_TREE_INFO,
	KEY_TREES,
	KEY_TREE_PARAM,
	KEY_NUM_NODES,
	KEY_VERSION,
	/* the per-tree arrays, kept in this order in CompileState.arrays */
	KEY_LEFT,
	KEY_RIGHT,
	KEY_SPLIT_INDICES,
	KEY_SPLIT_CONDITIONS,
	KEY_DEFAULT_LEFT,
	KEY_SPLIT_TYPE,
	KEY_SUM_HESSIAN,			/* node covers, for TreeSHAP */
	KEY_PARENTS,				/* read by libxgboost only: checked for it */
	/* categorical splits (libxgboost indexes them unchecked): must be empty */
	KEY_CATEGORIES,
	KEY_CATEGORIES_NODES,
	KEY_CATEGORIES_SEGMENTS,
	KEY_CATEGORIES_SIZES
} ModelKey;

#define KEY_FIRST_ARRAY KEY_LEFT
#define KEY_FIRST_CATEGORY_ARRAY KEY_CATEGORIES
#define NUM_TREE_ARRAYS (KEY_CATEGORIES_SIZES - KEY_LEFT + 1)

/* the kinds of scalar values */
typedef enum ScalarKind
{
	SCALAR_NUMBER,
	SCALAR_STRING,
	SCALAR_NULL
} ScalarKind;

/* the compiler's state while the reader streams the document */
typedef struct CompileState CompileState;

#define CORRUPTED(...) \
	ereport(ERROR, \
			(errcode(ERRCODE_DATA_CORRUPTED), \
			 errmsg("stored XGBoost model is corrupted"), \
			 errdetail(__VA_ARGS__)))

/* a position in a UBJSON document, and the compiler it feeds */
typedef struct UbjReader
{
	const uint8 *buf;
	size_t		len;
	size_t		pos;
	CompileState *s;
} UbjReader;

/* forest_ubjson.c: the reader */
extern const uint8 *ForestUbjTake(UbjReader *r, size_t n);
extern void ForestUbjValue(UbjReader *r, uint8 marker, int depth);

/* forest_jsonb.c: the same events from a jsonb document */
extern void ForestJsonbEvents(CompileState *s, JsonbContainer *doc);

/* forest_compile.c: the compiler's events */
extern void ForestPathPush(CompileState *s, ModelKey key);
extern void ForestCompileFieldStart(CompileState *s, const char *name, size_t len);
extern void ForestCompilePop(CompileState *s);
extern void ForestCompileObjectStart(CompileState *s);
extern void ForestCompileScalar(CompileState *s, ScalarKind kind, double num,
								const char *str, size_t len);
extern void ForestCompileObjectEnd(CompileState *s);

/* forest_predict.c: the complete form */
extern bool ForestUseAvx512(const Forest *f, int depth);
extern void ForestBuildComplete(Forest *f, int depth);

/* forest_binned.c: the binned form */
extern void ForestBuildBinned(Forest *f, int depth);
#ifdef FOREST_AVX512
extern FOREST_AVX512_TARGET void ForestSumBinned(const Forest *f, const float *x, float *margin);
extern FOREST_AVX512_TARGET void ForestSumBinnedBatch(const Forest *f, const float *x, int n,
													  float *margins);
#endif

/*
 * Add the leaves of "lanes" consecutive trees from "first", in tree order,
 * to their outputs' margins.  A single output is summed in a register:
 * through memory, every addition would wait for the previous one's store.
 */
static inline void
ForestAddLeaves(const Forest *f, int first, int lanes, const float *leaves, float *margin)
{
	if (f->noutputs == 1)
	{
		float		sum = margin[0];

		for (int l = 0; l < lanes; l++)
			sum += leaves[l];
		margin[0] = sum;
	}
	else
		for (int l = 0; l < lanes; l++)
			margin[f->outputs[first + l]] += leaves[l];
}

#endif							/* MLOPS_FOREST_INTERNAL_H */
