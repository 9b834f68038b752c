/*-------------------------------------------------------------------------
 *
 * forest_predict.c
 *	  Native evaluation of compiled XGBoost tree ensembles.
 *
 * Evaluation follows libxgboost 1.7's CPU predictor exactly: feature
 * values are float32; a present value goes left when value <
 * split_condition, a missing one (NaN) takes the default direction; leaf
 * values are added in float32, tree after tree, to the base margin of
 * their output; then the objective's transform, in float32 as XGBoost
 * computes it: identity (reg:squarederror), its overflow-guarded sigmoid
 * (binary:logistic), or its softmax with a double-precision sum
 * (multi:softprob).  base_score is a probability for binary:logistic and
 * enters as its logit, as libxgboost's ProbToMargin makes it.  Random
 * forests are trees summed like any other (libxgboost already scaled their
 * leaves).  The trees of a row are walked FOREST_LANES at a time, side by
 * side, so their node loads overlap.
 *
 * On processors with AVX-512, rows without missing values take a vector
 * walk over a second form of the trees, built at load time (see
 * ForestUseAvx512 for the models that get it): the complete form, where
 * every tree is padded to a complete tree of the ensemble's depth, so the
 * children of position p are at 2p + 1 and 2p + 2 and a step loads no
 * child index.  A step of 8 trees is one 64-bit gather of their 8-byte
 * slots, a permute that looks their features up in the row (in
 * registers), one compare; FOREST_AVX512_GROUPS groups of 16 trees step
 * together so that their gathers overlap.  Leaves are added in tree order
 * as in the scalar walk, so both give the same bits.  On the Xeon we
 * measured, the vector walk takes less than half the time of the scalar
 * one, but gathering the row values instead of permuting them, or
 * gathering the 16-byte nodes of the breadth-first form, is slower than
 * the scalar walk.
 *
 * Models that have a binned form (forest_binned.c: 32-bit nodes against
 * the row's bins, the top levels selected with blends) take its walk
 * instead, and the complete form is built only for the others.
 *
 * The ensembles are compiled in forest_compile.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/guc.h"

#include "serve/forest_internal.h"

/*
 * The complete form: its deepest trees, its largest size relative to the
 * breadth-first nodes, and the tables of FOREST_TABLE row values it looks
 * up
 */
#define FOREST_COMPLETE_MAX_DEPTH 10
#define FOREST_COMPLETE_MAX_GROWTH 4
#define FOREST_MAX_TABLES 2

/* groups of FOREST_LANES trees the AVX-512 walk steps together */
#define FOREST_AVX512_GROUPS 8


bool		mlops_vector_tree_walk = true;

/*
 * Define mlops.vector_tree_walk; called from _PG_init.
 */
void
ForestInit(void)
{
	DefineCustomBoolVariable("mlops.vector_tree_walk",
							 "Scores tree models with the AVX-512 walk where the processor has it.",
							 "Off, every row takes the scalar walk; both give the same results.",
							 &mlops_vector_tree_walk,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}

/*
 * The bytes of the complete form of ntrees trees, depth deep.
 */
static Size
ForestCompleteSize(int ntrees, int depth)
{
	Size		ngroups = (ntrees + FOREST_LANES - 1) / FOREST_LANES;

	return sizeof(ForestSlot) * ngroups * ((2 << depth) - 1) * FOREST_LANES;
}

/*
 * True when rows without missing values are to take the AVX-512 walk: the
 * processor and the operating system run AVX-512F code, and the trees
 * (depth deep) and rows fit the complete form, which takes at most
 * FOREST_COMPLETE_MAX_GROWTH times the memory of the breadth-first nodes.
 */
bool
ForestUseAvx512(const Forest *f, int depth)
{
#ifdef FOREST_AVX512
	return depth <= FOREST_COMPLETE_MAX_DEPTH &&
		f->nfeatures + 1 <= FOREST_TABLE * FOREST_MAX_TABLES &&
		ForestCompleteSize(f->ntrees, depth) <=
		FOREST_COMPLETE_MAX_GROWTH * sizeof(ForestNode) * f->nnodes &&
		__builtin_cpu_supports("avx512f");
#else
	return false;
#endif
}

/*
 * Build the complete form of the compiled trees, all "depth" deep.  Each
 * tree becomes a complete tree, the children of position p at 2p + 1 and
 * 2p + 2, its positions taken from the breadth-first nodes: a leaf above
 * the last level fills its whole subtree, so a walk that reaches it ends
 * at a copy of it (it "splits" on the NaN of slot 0 like any leaf).  The
 * trees are stored by groups of FOREST_LANES, position by position, one
 * lane per tree: tree t's position p is slot (t / FOREST_LANES * positions
 * + p) * FOREST_LANES + t % FOREST_LANES.  The lanes after the last tree
 * are leaves of 0, walked but never added.
 */
void
ForestBuildComplete(Forest *f, int depth)
{
	int			positions = (2 << depth) - 1;
	int32	   *from = palloc(sizeof(int32) * positions);

	f->depth = depth;
	f->slots = palloc_extended(ForestCompleteSize(f->ntrees, depth),
							   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int t = 0; t < f->ntrees; t++)
	{
		ForestSlot *tree = f->slots + ((Size) t / FOREST_LANES * positions * FOREST_LANES +
									   t % FOREST_LANES);

		/* from[p] is the node at position p; a leaf is its own children */
		from[0] = f->roots[t];
		for (int p = 0; p < positions; p++)
		{
			const ForestNode *node = &f->nodes[from[p]];

			tree[p * FOREST_LANES].feature = node->feature;
			tree[p * FOREST_LANES].value = node->value;
			if (2 * p + 2 < positions)
			{
				from[2 * p + 1] = node->feature != 0 ? node->left : from[p];
				from[2 * p + 2] = node->feature != 0 ? node->left + 1 : from[p];
			}
		}
	}
	pfree(from);
}

/*
 * Walk "lanes" consecutive trees from "first" side by side for one row and
 * add their leaves, in tree order, to their outputs' margins.  The walks
 * are independent, so the processor overlaps their node loads.  Every walk
 * takes the group's step count: leaves loop on themselves.  has_missing is
 * a constant at each call site, so rows without NaN get a loop without the
 * test.
 */
static pg_attribute_always_inline void
ForestWalk(const Forest *f, int first, int lanes, const float *x, float *margin,
		   bool has_missing)
{
	const ForestNode *nodes = f->nodes;
	int			steps = f->steps[first / FOREST_LANES];
	int32		at[FOREST_LANES];
	float		leaves[FOREST_LANES];

	for (int l = 0; l < lanes; l++)
		at[l] = f->roots[first + l];
	for (int d = 0; d < steps; d++)
	{
		/* unrolled FOREST_LANES times, so "at" lives in registers */
#pragma GCC unroll 16
		for (int l = 0; l < lanes; l++)
		{
			const ForestNode *node = &nodes[at[l]];
			float		v = x[node->feature];

			at[l] = (has_missing && isnan(v)) ? node->missing
				: node->left + !(v < node->value);
		}
	}
	for (int l = 0; l < lanes; l++)
		leaves[l] = nodes[at[l]].value;
	ForestAddLeaves(f, first, lanes, leaves, margin);
}

/*
 * Add every tree's leaf for one row (x[0] is NaN, features from x[1]) to
 * its output's margin, in tree order as libxgboost does.
 */
static pg_attribute_always_inline void
ForestSum(const Forest *f, const float *x, float *margin, bool has_missing)
{
	int			t;

	for (t = 0; t + FOREST_LANES <= f->ntrees; t += FOREST_LANES)
		ForestWalk(f, t, FOREST_LANES, x, margin, has_missing);
	if (t < f->ntrees)
		ForestWalk(f, t, f->ntrees - t, x, margin, has_missing);
}

#ifdef FOREST_AVX512

/*
 * The row values that 8 slots split on: the slots' features are their
 * even 32-bit elements, each looked up by permutes in the row's tables of
 * FOREST_TABLE values (the odd elements get values of no use).
 */
static FOREST_AVX512_TARGET inline __m512
ForestLookupAvx512(const float *x, int tables, __m512i slots)
{
	__m512		v = _mm512_permutex2var_ps(_mm512_loadu_ps(x), slots, _mm512_loadu_ps(x + 16));

	for (int t = 1; t < tables; t++)
	{
		const float *table = x + t * FOREST_TABLE;
		__mmask16	in_table = _mm512_cmpeq_epi32_mask(_mm512_srli_epi32(slots, 5),
													   _mm512_set1_epi32(t));

		v = _mm512_mask_mov_ps(v, in_table,
							   _mm512_permutex2var_ps(_mm512_loadu_ps(table), slots,
													  _mm512_loadu_ps(table + 16)));
	}
	return v;
}

/*
 * One step of 8 walks in a group's complete trees: "at" holds their slot
 * indexes in the group, p * FOREST_LANES + lane as 64-bit integers, and
 * "next" FOREST_LANES - lane, so the left child is 2 at + next.  A walk
 * goes right when !(value < threshold), NaN included, as in ForestWalk.
 */
static FOREST_AVX512_TARGET inline __m512i
ForestStepAvx512(const ForestSlot *group, const float *x, int tables, __m512i at,
				 __m512i next)
{
	__m512i		slots = _mm512_i64gather_epi64(at, group, sizeof(ForestSlot));
	__m512		v = ForestLookupAvx512(x, tables, slots);
	__m512		threshold = _mm512_castsi512_ps(_mm512_srli_epi64(slots, 32));
	/* compared on the even elements, where both line up */
	__mmask16	right = _mm512_mask_cmp_ps_mask(0x5555, v, threshold, _CMP_NLT_UQ);
	__m512i		left = _mm512_add_epi64(_mm512_add_epi64(at, at), next);

	/* the right child's index is one more position: add to the low halves */
	return _mm512_mask_add_epi32(left, right, left, _mm512_set1_epi32(FOREST_LANES));
}

/*
 * Add every tree's leaf for one row without missing values (x as in
 * ForestSum, zeros after the row) to its output's margin, walking the
 * complete form: the trees of FOREST_AVX512_GROUPS groups step level by
 * level together, 8 per vector; then their leaves, the values of the slots
 * they end at, are added in tree order.
 */
static FOREST_AVX512_TARGET void
ForestSumAvx512(const Forest *f, const float *x, float *margin)
{
	int			positions = (2 << f->depth) - 1;
	int			ngroups = (f->ntrees + FOREST_LANES - 1) / FOREST_LANES;
	int			tables = (f->nfeatures + FOREST_TABLE) / FOREST_TABLE;
	/* the odd 32-bit elements of two vectors: the leaf values */
	const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15,
										  17, 19, 21, 23, 25, 27, 29, 31);
	__m512i		lane[2];
	__m512i		next[2];

	/* a group's walks are two vectors: lanes 0 to 7, and 8 to 15 */
	lane[0] = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
	lane[1] = _mm512_add_epi64(lane[0], _mm512_set1_epi64(8));
	for (int h = 0; h < 2; h++)
		next[h] = _mm512_sub_epi64(_mm512_set1_epi64(FOREST_LANES), lane[h]);

	for (int first = 0; first < ngroups; first += FOREST_AVX512_GROUPS)
	{
		int			n = Min(FOREST_AVX512_GROUPS, ngroups - first);
		const ForestSlot *groups = f->slots + (Size) first * positions * FOREST_LANES;
		__m512i		at[FOREST_AVX512_GROUPS][2];

		for (int g = 0; g < n; g++)
			for (int h = 0; h < 2; h++)
				at[g][h] = lane[h];
		for (int d = 0; d < f->depth; d++)
			for (int g = 0; g < n; g++)
				for (int h = 0; h < 2; h++)
					at[g][h] = ForestStepAvx512(groups + g * positions * FOREST_LANES, x, tables,
												at[g][h], next[h]);
		for (int g = 0; g < n; g++)
		{
			const ForestSlot *group = groups + g * positions * FOREST_LANES;
			int			t = (first + g) * FOREST_LANES;
			float		leaves[FOREST_LANES];
			__m512i		lo = _mm512_i64gather_epi64(at[g][0], group, sizeof(ForestSlot));
			__m512i		hi = _mm512_i64gather_epi64(at[g][1], group, sizeof(ForestSlot));

			_mm512_storeu_ps(leaves, _mm512_permutex2var_ps(_mm512_castsi512_ps(lo), odd,
															_mm512_castsi512_ps(hi)));
			ForestAddLeaves(f, t, Min(FOREST_LANES, f->ntrees - t), leaves, margin);
		}
	}
}

#endif							/* FOREST_AVX512 */

/*
 * libxgboost's sigmoid, guarded against overflow as XGBoost 1.7 does it.
 */
static inline float
ForestSigmoid(float x)
{
	float		e = expf(88.7f < -x ? 88.7f : -x);

	return 1.0f / (e + 1.0f + 1e-16f);
}

/*
 * libxgboost's softmax: float32 exponentials, a double sum.
 */
static void
ForestSoftmax(float *v, int k)
{
	float		vmax = v[0];
	double		sum = 0;

	for (int c = 1; c < k; c++)
		vmax = fmaxf(v[c], vmax);
	for (int c = 0; c < k; c++)
	{
		v[c] = expf(v[c] - vmax);
		sum += v[c];
	}
	for (int c = 0; c < k; c++)
		v[c] /= (float) sum;
}

/*
 * Turn a row's summed margins into its outputs (k of them, at out).
 */
static inline void
ForestOutputs(const Forest *f, float *margin, double *out)
{
	int			k = f->noutputs;

	if (f->transform == FOREST_SIGMOID)
		margin[0] = ForestSigmoid(margin[0]);
	else if (f->transform == FOREST_SOFTMAX)
		ForestSoftmax(margin, k);
	for (int c = 0; c < k; c++)
		out[c] = margin[c];
}

/*
 * Convert a row of p doubles to float32 into x[1..p]: true when a value is
 * missing (NaN).
 */
static inline bool
ForestRowFloat(const double *row, int p, float *x)
{
	bool		has_missing = false;

	for (int j = 0; j < p; j++)
	{
		x[j + 1] = (float) row[j];
		has_missing |= isnan(x[j + 1]);
	}
	return has_missing;
}

#ifdef FOREST_AVX512
/*
 * Score the n <= f->batch_rows rows of f->rows, rows batch[0..n-1] of the
 * caller's, with the binned batch walk.
 */
static void
ForestFlushBatch(const Forest *f, int n, double *out)
{
	int			k = f->noutputs;

	for (int i = 0; i < n * k; i++)
		f->margins[i] = f->base_margin;
	ForestSumBinnedBatch(f, f->rows, n, f->margins);
	for (int r = 0; r < n; r++)
		ForestOutputs(f, f->margins + r * k, out + (size_t) f->batch[r] * k);
}
#endif

/*
 * Score n row-major rows of f->nfeatures featurized values (NaN is
 * missing) into out, f->noutputs values per row: the regression value,
 * P(class 1) for binary:logistic, the class probabilities for
 * multi:softprob.  The values are libxgboost's float32 results.  With
 * "vector", rows without missing values take the AVX-512 walk when the
 * model has its complete form, or the binned form's, f->batch_rows rows at
 * a time (ForestSumBinnedBatch) when it has that; rows with a missing
 * value take the scalar walk.  Every path gives the same bits.
 */
void
ForestPredict(const Forest *f, const double *X, int n, bool vector, double *out)
{
	int			p = f->nfeatures;
	int			k = f->noutputs;
	float	   *x = f->row;
	float	   *margin = f->margin;
	int			batched = 0;

	for (int i = 0; i < n; i++)
	{
		const double *row = X + (size_t) i * p;
		bool		has_missing;

#ifdef FOREST_AVX512
		if (vector && f->binned != NULL && n > 1)
		{
			/* rows without missing values wait for a batch */
			if (!ForestRowFloat(row, p, f->rows + (size_t) batched * f->rowstride))
			{
				f->batch[batched++] = i;
				if (batched == f->batch_rows)
				{
					ForestFlushBatch(f, batched, out);
					batched = 0;
				}
				continue;
			}
		}
#endif
		has_missing = ForestRowFloat(row, p, x);
		for (int c = 0; c < k; c++)
			margin[c] = f->base_margin;
		if (has_missing)
			ForestSum(f, x, margin, true);
#ifdef FOREST_AVX512
		else if (vector && f->binned != NULL)
			ForestSumBinned(f, x, margin);
		else if (vector && f->slots != NULL)
			ForestSumAvx512(f, x, margin);
#endif
		else
			ForestSum(f, x, margin, false);
		ForestOutputs(f, margin, out + (size_t) i * k);
	}
#ifdef FOREST_AVX512
	if (batched > 0)
		ForestFlushBatch(f, batched, out);
#endif
}
