/*-------------------------------------------------------------------------
 *
 * forest_binned.c
 *	  The binned form of a compiled XGBoost ensemble and its AVX-512 walk.
 *
 * A tree ensemble compares each feature with few distinct thresholds
 * (libxgboost's hist method cuts a feature into at most max_bin bins), so
 * a split "value < threshold" can be asked of the value's bin instead: with
 * T the feature's distinct float32 thresholds in increasing order and
 * bin(v) the number of them that are <= v, v < T[i] exactly when bin(v) <=
 * i (floats compared as libxgboost compares them, so the answers, and the
 * outputs, are the same bits).  A row's values are binned once (16
 * thresholds per compare, see ForestBinOf); then a
 * node is 32 bits, (i << 16) | slot with slot = 1 + feature, and the row's
 * slots hold bin << 16, so "go right" is one unsigned compare of the
 * slot's word with the node's: bin << 16 > (i << 16) | slot exactly when
 * bin > i.  Slot 0 holds 0: a node of 0 always goes left.
 *
 * The trees are laid out as in the complete form (forest_predict.c): every
 * tree padded to a complete tree of the ensemble's depth, by groups of
 * FOREST_LANES trees, position by position, one lane per tree; internal
 * positions hold nodes (a leaf above the last level becomes a node of 0
 * whose subtree holds copies of it), the last level the leaf values.  At
 * half the size of the complete form, a model of 100 trees of depth 6
 * takes 50 kB.  One vector steps 16 trees; the top FOREST_BLEND_LEVELS
 * levels select each tree's node among the level's positions with blends
 * (a level of 2^l positions is 2^l loads and 2^l - 1 blends, no gather),
 * the levels below with one 32-bit gather.  The slot words of rows of up
 * to 64 slots are looked up with permutes of the row in registers, wider
 * rows (fingerprints, embeddings) with a gather.  Leaves are added in tree
 * order, as the scalar walk does.  ForestSumBinnedBatch scores up to
 * FOREST_LANES rows at a time (ForestPredict hands it the rows of a
 * multi-row call without missing values): the rows' walks do not wait for
 * each other, and the leaves are summed with one vector lane per row, each
 * lane the same float32 additions in tree order.
 *
 * Ensembles at most FOREST_LANES_MAX_DEPTH deep over rows of at most
 * FOREST_LANES_MAX_SLOTS slots also have a rows-in-lanes form, which
 * ForestSumBinnedBatch walks instead (on processors with AVX-512BW and
 * VBMI): a vector's rows are binned into bins laid out transposed (slot x
 * rows, 64 bytes a slot), then each tree is walked for all of them at
 * once, one lane per row: 64 rows in 8-bit lanes when every feature has at
 * most 255 thresholds (the narrow form: hist's default max_bin of 256),
 * else 32 rows in 16-bit lanes.  A tree's thresholds (as indexes) are in
 * one or two registers, so a level's node of each row is one permute of
 * the rows' heap positions; the rows' bins for it are blended from the
 * level's nodes' slots (2^l loads, each the rows' bins of one slot): no
 * gather, which measured slower than blends on AMD Zen 4 at every level.
 * Each lane adds its row's leaves in tree order, the same float32
 * additions.
 *
 * Rows with a missing value take the scalar walk (its default directions);
 * models whose feature has 32768 distinct thresholds or more, or a NaN
 * threshold, have no binned form.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/qunique.h"
#include "utils/memutils.h"
#include "serve/forest_internal.h"

/* the binned form: its deepest trees, its largest size relative to the breadth-first nodes */
#define FOREST_BINNED_MAX_DEPTH 10
#define FOREST_BINNED_MAX_GROWTH 4

/* a feature's distinct thresholds: fewer than this, so a bin fits in 16 bits */
#define FOREST_BINNED_MAX_THRESHOLDS 32768

/* levels whose nodes are selected with blends, not gathered */
#define FOREST_BLEND_LEVELS 4

/* groups of FOREST_LANES trees that step together */
#define FOREST_BINNED_GROUPS 4

/* slots of a row looked up with permutes; wider rows gather */
#define FOREST_BINNED_PERMUTE_SLOTS 64

/* the rows-in-lanes form: trees at most this deep, rows of at most this many slots */
#define FOREST_LANES_TARGET __attribute__((target("avx512f,avx512bw,avx512vbmi,popcnt")))
#define FOREST_LANES_MAX_DEPTH 6
#define FOREST_LANES_MAX_SLOTS 1024

/* a tree of the rows-in-lanes form: 64 thresholds, 64 slots, 64 float leaves, in halfwords */
#define FOREST_LANES_TREE 256

/* the bytes of one slot's bins of the rows-in-lanes walk: a vector */
#define FOREST_LANES_BYTES 64

/* a feature's thresholds in the narrow rows-in-lanes form: at most this many, so a bin fits a byte */
#define FOREST_LANES_NARROW_THRESHOLDS 255

/* the binned form of a Forest */
struct ForestBinned
{
	int			depth;
	int			positions;		/* internal positions of a tree: 2^depth - 1 */
	int			nslots;			/* 1 + nfeatures, rounded up to FOREST_TABLE */
	uint32	   *nodes;			/* per group: positions x FOREST_LANES */
	float	   *leaves;			/* per group: 2^depth x FOREST_LANES */
	int			nused;			/* features some split reads */
	int32	   *used;			/* their slots */
	int32	   *first;			/* per used feature: its first table entry */
	int32	   *levels;			/* per used feature: its levels of tables */

	float	   *thresholds;		/* per used feature: its levels' tables (see
								 * ForestBinOf) */
	uint32	   *row;			/* scratch: a row's slot words */
	uint32	   *rows;			/* scratch: FOREST_LANES rows' slot words, or
								 * NULL in the rows-in-lanes form */
	float	   *leaves_batch;	/* scratch: FOREST_LANES rows' leaves (one
								 * row's in the rows-in-lanes form), each
								 * ngroups x FOREST_LANES */
	uint16	   *lanes;			/* the rows-in-lanes form, or NULL: per tree,
								 * FOREST_LANES_TREE halfwords (see
								 * ForestBinnedLanesTrees) */
	bool		narrow;			/* 8-bit bins, FOREST_LANES_BYTES rows a
								 * vector (else 16-bit, half as many) */
	float	   *columns;		/* per used feature of two levels of tables:
								 * its second level transposed (entry 16 j +
								 * i is entry 16 i + j) */
	int32	   *column;			/* per used feature: its columns, or -1 */
	uint8	   *bins;			/* scratch: a vector's rows' bins,
								 * transposed: nslots x FOREST_LANES_BYTES
								 * bytes */
	float	   *sums;			/* scratch: noutputs x FOREST_BATCH margins */
};

/*
 * The bytes of the binned nodes and leaves of ntrees trees, depth deep.
 */
static Size
ForestBinnedSize(int ntrees, int depth)
{
	Size		ngroups = (ntrees + FOREST_LANES - 1) / FOREST_LANES;

	return sizeof(uint32) * ngroups * ((Size) 2 << depth) * FOREST_LANES;
}

/*
 * Order floats (never NaN) for qsort.
 */
static int
FloatCmp(const void *a, const void *b)
{
	float		x = *(const float *) a;
	float		y = *(const float *) b;

	return (x > y) - (x < y);
}

/*
 * Each feature's distinct split thresholds, sorted, into b (allocated in
 * the current context): false when a feature has too many, or a NaN one.
 * values[j] and count[j] receive feature j's, for the nodes' indexes.
 */
static bool
ForestBinnedThresholds(const Forest *f, ForestBinned *b, float **values, int *count)
{
	int			nfeatures = f->nfeatures;
	Size		ntotal = 0;

	for (int i = 0; i < f->nnodes; i++)
	{
		const ForestNode *node = &f->nodes[i];

		if (node->feature == 0)
			continue;
		if (isnan(node->value))
			return false;
		count[node->feature - 1]++;
	}
	for (int j = 0; j < nfeatures; j++)
	{
		values[j] = palloc(sizeof(float) * Max(1, count[j]));
		count[j] = 0;
	}
	for (int i = 0; i < f->nnodes; i++)
	{
		const ForestNode *node = &f->nodes[i];

		if (node->feature != 0)
			values[node->feature - 1][count[node->feature - 1]++] = node->value;
	}

	b->used = palloc(sizeof(int32) * Max(1, nfeatures));
	b->first = palloc(sizeof(int32) * Max(1, nfeatures));
	b->levels = palloc(sizeof(int32) * Max(1, nfeatures));
	for (int j = 0; j < nfeatures; j++)
	{
		int			levels = 1;
		Size		size = FOREST_LANES;

		if (count[j] == 0)
			continue;
		qsort(values[j], count[j], sizeof(float), FloatCmp);
		count[j] = qunique(values[j], count[j], sizeof(float), FloatCmp);
		if (count[j] >= FOREST_BINNED_MAX_THRESHOLDS)
			return false;
		/* room for every threshold and one NaN: bins go from 0 to count */
		while (size < (Size) count[j] + 1)
		{
			levels++;
			size *= FOREST_LANES;
		}
		b->used[b->nused] = j + 1;
		b->first[b->nused] = ntotal;
		b->levels[b->nused++] = levels;
		/* the levels' tables: 16, 256, ... entries, the last one size */
		ntotal += (size * FOREST_LANES - FOREST_LANES) / (FOREST_LANES - 1);
	}
	b->thresholds = palloc_extended(sizeof(float) * Max(1, ntotal), MCXT_ALLOC_HUGE);
	for (int u = 0; u < b->nused; u++)
	{
		int			j = b->used[u] - 1;
		Size		size = 1;
		float	   *level = b->thresholds + b->first[u];
		float	   *full;

		for (int l = 0; l < b->levels[u]; l++)
			size *= FOREST_LANES;
		full = level + (size - FOREST_LANES) / (FOREST_LANES - 1);
		memcpy(full, values[j], sizeof(float) * count[j]);
		for (Size k = count[j]; k < size; k++)
			full[k] = NAN;
		/* level l's entry i: the last threshold of block i of size / 16^(l + 1) */
		for (Size n = FOREST_LANES; n < size; n *= FOREST_LANES)
		{
			for (Size i = 0; i < n; i++)
				level[i] = full[(i + 1) * (size / n) - 1];
			level += n;
		}
	}
	return true;
}

/*
 * Lay the trees out in b, "depth" deep (see the file's comment), each
 * split's threshold as its index in its feature's thresholds.
 */
static void
ForestBinnedTrees(const Forest *f, ForestBinned *b, int depth, float **values, const int *count)
{
	int			positions = (1 << depth) - 1;
	Size		ngroups = (f->ntrees + FOREST_LANES - 1) / FOREST_LANES;
	int32	   *from = palloc(sizeof(int32) * (2 * positions + 1));

	b->depth = depth;
	b->positions = positions;
	b->nodes = palloc_extended(ForestBinnedSize(f->ntrees, depth), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	b->leaves = (float *) (b->nodes + ngroups * positions * FOREST_LANES);
	for (int t = 0; t < f->ntrees; t++)
	{
		Size		group = t / FOREST_LANES;
		int			lane = t % FOREST_LANES;
		uint32	   *nodes = b->nodes + group * positions * FOREST_LANES + lane;
		float	   *leaves = b->leaves + group * (positions + 1) * FOREST_LANES + lane;

		/* from[p] is the node at position p; a leaf is its own children */
		from[0] = f->roots[t];
		for (int p = 0; p < 2 * positions + 1; p++)
		{
			const ForestNode *node = &f->nodes[from[p]];
			const float *t0;
			const float *hit;

			if (p >= positions)
			{
				leaves[(p - positions) * FOREST_LANES] = node->value;
				continue;
			}
			from[2 * p + 1] = node->feature != 0 ? node->left : from[p];
			from[2 * p + 2] = node->feature != 0 ? node->left + 1 : from[p];
			if (node->feature == 0)
				continue;		/* a node of 0 (zeroed): always left */
			t0 = values[node->feature - 1];
			hit = bsearch(&node->value, t0, count[node->feature - 1], sizeof(float), FloatCmp);
			nodes[p * FOREST_LANES] = ((uint32) (hit - t0) << 16) | (uint32) node->feature;
		}
	}
	pfree(from);
}

/*
 * The rows-in-lanes form of the trees laid out in b (see
 * ForestSumBinnedLanes), when they are at most FOREST_LANES_MAX_DEPTH deep,
 * the rows at most FOREST_LANES_MAX_SLOTS slots wide and the processor runs
 * AVX-512BW and VBMI: per tree, FOREST_LANES_TREE halfwords: the node at
 * heap position h (the root at 1, h's children at 2h and 2h + 1) as its
 * threshold's index in halfword h (byte h when every feature has at most
 * FOREST_LANES_NARROW_THRESHOLDS thresholds, count[j] feature j's: the
 * narrow form) and its slot in halfword 64 + h, then the leaf at heap
 * position h as the float at halfword 128 + 2 (h % w), w = Max(FOREST_LANES,
 * 2^depth) (so that a permute of h's low bits selects it).  A node of 0 (a
 * leaf above the last level) reads slot 0, whose bins are 0, against index
 * 0: always left.
 */
static void
ForestBinnedLanesTrees(const Forest *f, ForestBinned *b, const int *count)
{
	int			depth = b->depth;
	int			positions = b->positions;
	int			w = Max(FOREST_LANES, 1 << depth);
	int			ncolumns = 0;

	if (depth < 1 || depth > FOREST_LANES_MAX_DEPTH || b->nslots > FOREST_LANES_MAX_SLOTS ||
		!__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vbmi"))
		return;
	b->narrow = true;
	for (int j = 0; j < f->nfeatures; j++)
		b->narrow &= count[j] <= FOREST_LANES_NARROW_THRESHOLDS;
	b->lanes = palloc0(sizeof(uint16) * FOREST_LANES_TREE * f->ntrees);
	b->bins = palloc0(b->nslots * FOREST_LANES_BYTES);
	b->column = palloc(sizeof(int32) * Max(1, b->nused));
	for (int u = 0; u < b->nused; u++)
		ncolumns += b->levels[u] == 2;
	b->columns = palloc(sizeof(float) * FOREST_LANES * FOREST_LANES * Max(1, ncolumns));
	ncolumns = 0;
	for (int u = 0; u < b->nused; u++)
	{
		const float *second = b->thresholds + b->first[u] + FOREST_LANES;
		float	   *columns = b->columns + ncolumns * FOREST_LANES * FOREST_LANES;

		b->column[u] = -1;
		if (b->levels[u] != 2)
			continue;
		b->column[u] = ncolumns++;
		for (int i = 0; i < FOREST_LANES; i++)
			for (int j = 0; j < FOREST_LANES; j++)
				columns[j * FOREST_LANES + i] = second[i * FOREST_LANES + j];
	}
	b->sums = palloc0(sizeof(float) * f->noutputs * FOREST_BATCH);
	for (int t = 0; t < f->ntrees; t++)
	{
		Size		group = t / FOREST_LANES;
		int			lane = t % FOREST_LANES;
		const uint32 *nodes = b->nodes + group * positions * FOREST_LANES + lane;
		const float *leaves = b->leaves + group * (positions + 1) * FOREST_LANES + lane;
		uint16	   *tree = b->lanes + (Size) t * FOREST_LANES_TREE;
		float	   *tleaves = (float *) (tree + 128);

		for (int p = 0; p < positions; p++)
		{
			uint32		node = nodes[p * FOREST_LANES];

			if (b->narrow)
				((uint8 *) tree)[p + 1] = (uint8) (node >> 16);
			else
				tree[p + 1] = (uint16) (node >> 16);
			tree[64 + p + 1] = (uint16) (node & 0xFFFF);
		}
		for (int p = 0; p <= positions; p++)
			tleaves[(positions + 1 + p) % w] = leaves[p * FOREST_LANES];
	}
}

/*
 * Build the binned form of the compiled trees, all "depth" deep, when the
 * processor runs AVX-512F and the model fits it (see the file's comment);
 * otherwise leave f->binned NULL.
 */
void
ForestBuildBinned(Forest *f, int depth)
{
#ifdef FOREST_AVX512
	MemoryContext result = CurrentMemoryContext;
	MemoryContext tmp;
	ForestBinned *b;
	float	  **values;
	int		   *count;

	if (depth > FOREST_BINNED_MAX_DEPTH || f->ntrees == 0 || f->nfeatures >= PG_INT16_MAX ||
		ForestBinnedSize(f->ntrees, depth) >
		FOREST_BINNED_MAX_GROWTH * sizeof(ForestNode) * (Size) f->nnodes ||
		!__builtin_cpu_supports("avx512f"))
		return;

	/* the form lives in a context of its own under the model's, deleted when it cannot be built */
	tmp = AllocSetContextCreate(result, "mlops binned forest", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(tmp);
	b = palloc0(sizeof(ForestBinned));
	b->nslots = TYPEALIGN(FOREST_TABLE, f->nfeatures + 1);
	values = palloc0(sizeof(float *) * f->nfeatures);
	count = palloc0(sizeof(int) * f->nfeatures);
	if (!ForestBinnedThresholds(f, b, values, count))
	{
		MemoryContextSwitchTo(result);
		MemoryContextDelete(tmp);
		return;
	}
	ForestBinnedTrees(f, b, depth, values, count);
	ForestBinnedLanesTrees(f, b, count);
	b->row = palloc0(sizeof(uint32) * b->nslots);
	/* the walk of 16 trees at a time scores FOREST_LANES rows together */
	if (b->lanes == NULL)
		b->rows = palloc0(sizeof(uint32) * b->nslots * FOREST_LANES);
	b->leaves_batch = palloc0(sizeof(float) * (b->lanes == NULL ? FOREST_LANES : 1) * FOREST_LANES *
							  ((f->ntrees + FOREST_LANES - 1) / FOREST_LANES));
	f->batch_rows = b->lanes != NULL ? FOREST_BATCH : FOREST_LANES;
	for (int j = 0; j < f->nfeatures; j++)
		pfree(values[j]);
	pfree(values);
	pfree(count);
	MemoryContextSwitchTo(result);
	f->binned = b;
#endif
}

#ifdef FOREST_AVX512

/*
 * The bin of value x of used feature u: the number of its thresholds <=
 * x.  A feature's thresholds,
 * sorted and padded with NaN (never <= v) to 16^L entries, are searched
 * 16 at a time: level l's table holds the last threshold of each of its
 * 16^(l + 1) blocks, so the thresholds <= v in the block found so far are
 * the whole blocks of the next level that are <= v, counted with one
 * compare; the last level is the thresholds themselves.  A feature of at
 * most 255 thresholds takes two compares, and the features' searches are
 * independent of each other.
 */
static FOREST_AVX512_TARGET inline uint32
ForestBinOf(const ForestBinned *b, int u, float x)
{
	const float *level = b->thresholds + b->first[u];
	__m512		v = _mm512_set1_ps(x);
	uint32		bin = 0;
	uint32		size = FOREST_LANES;

	for (int l = 0; l < b->levels[u]; l++)
	{
		__mmask16	le = _mm512_cmp_ps_mask(_mm512_loadu_ps(level + bin * FOREST_LANES), v,
											_CMP_LE_OQ);

		bin = bin * FOREST_LANES + __builtin_popcount(le);
		level += size;
		size *= FOREST_LANES;
	}
	return bin;
}

/*
 * The slot words of a row without missing values (x as in ForestSum) in
 * row, for wider rows than permutes look up; otherwise in the registers
 * r[0..3] (slots 0-15, 16-31, 32-47, 48-63), built there without a trip
 * through memory (a vector load of words just stored one by one waits for
 * the stores).  Each used feature's word is its bin (ForestBinOf), shifted
 * up 16 bits; the others are 0.
 */
static FOREST_AVX512_TARGET pg_attribute_always_inline void
ForestBinRow(const ForestBinned *b, const float *x, uint32 *row, __m512i *r)
{
	for (int k = 0; k < 4; k++)
		r[k] = _mm512_setzero_si512();
	if (b->nslots > FOREST_BINNED_PERMUTE_SLOTS)
	{
		for (int u = 0; u < b->nused; u++)
			row[b->used[u]] = ForestBinOf(b, u, x[b->used[u]]) << 16;
		return;
	}
	for (int u = 0; u < b->nused; u++)
	{
		int			slot = b->used[u];
		__m512i		word = _mm512_set1_epi32(ForestBinOf(b, u, x[slot]) << 16);
		__mmask16	lane = (__mmask16) (1u << (slot % FOREST_LANES));

		switch (slot / FOREST_LANES)
		{
			case 0:
				r[0] = _mm512_mask_mov_epi32(r[0], lane, word);
				break;
			case 1:
				r[1] = _mm512_mask_mov_epi32(r[1], lane, word);
				break;
			case 2:
				r[2] = _mm512_mask_mov_epi32(r[2], lane, word);
				break;
			default:
				r[3] = _mm512_mask_mov_epi32(r[3], lane, word);
				break;
		}
	}
}

/*
 * The slot words that 16 nodes read: looked up in the row's first 64
 * slots with permutes, or gathered for wider rows.
 */
static FOREST_AVX512_TARGET inline __m512i
ForestBinnedLookup(const uint32 *row, int nslots, __m512i node, __m512i r0, __m512i r1,
				   __m512i r2, __m512i r3)
{
	__m512i		v;

	if (nslots > FOREST_BINNED_PERMUTE_SLOTS)
		return _mm512_i32gather_epi32(_mm512_and_si512(node, _mm512_set1_epi32(0xFFFF)), row,
									  sizeof(uint32));
	v = _mm512_permutex2var_epi32(r0, node, r1);
	if (nslots > FOREST_TABLE)
		v = _mm512_mask_mov_epi32(v, _mm512_test_epi32_mask(node, _mm512_set1_epi32(FOREST_TABLE)),
								  _mm512_permutex2var_epi32(r2, node, r3));
	return v;
}

/*
 * The node of each of a group's 16 trees at level "level" (a constant),
 * whose positions start at nodes (FOREST_LANES words each), selected by
 * the directions taken at the levels above (right[l] at level l): with
 * blends of the level's positions, last direction first.
 */
static FOREST_AVX512_TARGET pg_attribute_always_inline __m512i
ForestBlendLevel(const uint32 *nodes, int level, const __mmask16 *right)
{
	__m512i		c[1 << (FOREST_BLEND_LEVELS - 1)];
	int			n = 1 << level;

#pragma GCC unroll 8
	for (int p = 0; p < n; p++)
		c[p] = _mm512_loadu_si512(nodes + p * FOREST_LANES);
#pragma GCC unroll 8
	for (int l = level - 1; l >= 0; l--)
	{
		n >>= 1;
#pragma GCC unroll 8
		for (int p = 0; p < n; p++)
			c[p] = _mm512_mask_blend_epi32(right[l], c[2 * p], c[2 * p + 1]);
	}
	return c[0];
}

/*
 * Walk n groups of trees from group "first" (n a constant where it
 * matters) for the row whose slot words are row (the first 64 also in
 * r0 to r3), level by level together, and store each tree's leaf value in
 * leaves, FOREST_LANES per group.
 */
static FOREST_AVX512_TARGET pg_attribute_always_inline void
ForestBinnedGroups(const ForestBinned *b, const uint32 *row, int first, int n, __m512i r0,
				   __m512i r1, __m512i r2, __m512i r3, float *leaves)
{
	const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	int			positions = b->positions;
	int			blend = Min(b->depth, FOREST_BLEND_LEVELS);
	__mmask16	right[FOREST_BINNED_GROUPS][FOREST_BLEND_LEVELS];
	__m512i		at[FOREST_BINNED_GROUPS];

	/* the top levels: blends */
#pragma GCC unroll 8
	for (int level = 0; level < FOREST_BLEND_LEVELS; level++)
	{
		if (level >= blend)
			break;
#pragma GCC unroll 8
		for (int g = 0; g < n; g++)
		{
			const uint32 *nodes = b->nodes + (Size) (first + g) * positions * FOREST_LANES +
				((1 << level) - 1) * FOREST_LANES;
			__m512i		node = ForestBlendLevel(nodes, level, right[g]);

			right[g][level] = _mm512_cmpgt_epu32_mask(ForestBinnedLookup(row, b->nslots, node,
																		  r0, r1, r2, r3), node);
		}
	}
	/* the position below them within its level, times FOREST_LANES, plus the lane */
	for (int g = 0; g < n; g++)
	{
		__m512i		p = _mm512_setzero_si512();

		for (int level = 0; level < blend; level++)
			p = _mm512_mask_add_epi32(_mm512_add_epi32(p, p), right[g][level], _mm512_add_epi32(p, p),
									  _mm512_set1_epi32(1));
		at[g] = _mm512_add_epi32(_mm512_slli_epi32(p, 4), lane);
	}
	/* the levels below: gathers */
	for (int level = blend; level < b->depth; level++)
		for (int g = 0; g < n; g++)
		{
			const uint32 *nodes = b->nodes + (Size) (first + g) * positions * FOREST_LANES +
				((1 << level) - 1) * FOREST_LANES;
			__m512i		node = _mm512_i32gather_epi32(at[g], nodes, sizeof(uint32));
			__mmask16	r = _mm512_cmpgt_epu32_mask(ForestBinnedLookup(row, b->nslots, node,
																		r0, r1, r2, r3), node);
			/* the next level's 2p (+1 when right), in units of FOREST_LANES, plus the lane */
			__m512i		twice = _mm512_sub_epi32(_mm512_add_epi32(at[g], at[g]), lane);

			at[g] = _mm512_mask_add_epi32(twice, r, twice, _mm512_set1_epi32(FOREST_LANES));
		}
	for (int g = 0; g < n; g++)
		_mm512_storeu_ps(leaves + g * FOREST_LANES,
						 _mm512_i32gather_ps(at[g], b->leaves + (Size) (first + g) * (positions + 1) *
											 FOREST_LANES, sizeof(float)));
}

/*
 * Walk every tree for one row without missing values (x as in ForestSum)
 * in the binned form, FOREST_BINNED_GROUPS groups of trees stepping
 * together, and store each tree's leaf value in leaves, in tree order
 * (FOREST_LANES per group; lanes after the last tree hold leaves of
 * padding).  row is scratch for the row's slot words.
 */
static FOREST_AVX512_TARGET pg_attribute_always_inline void
ForestBinnedLeaves(const Forest *f, const float *x, uint32 *row, float *leaves)
{
	const ForestBinned *b = f->binned;
	int			ngroups = (f->ntrees + FOREST_LANES - 1) / FOREST_LANES;
	__m512i		r[4];
	__m512i		r0,
				r1,
				r2,
				r3;

	ForestBinRow(b, x, row, r);
	r0 = r[0];
	r1 = r[1];
	r2 = r[2];
	r3 = r[3];
	for (int first = 0; first < ngroups; first += FOREST_BINNED_GROUPS)
	{
		int			n = Min(FOREST_BINNED_GROUPS, ngroups - first);

		if (n == FOREST_BINNED_GROUPS)
			ForestBinnedGroups(b, row, first, FOREST_BINNED_GROUPS, r0, r1, r2, r3,
							   leaves + first * FOREST_LANES);
		else
			ForestBinnedGroups(b, row, first, n, r0, r1, r2, r3, leaves + first * FOREST_LANES);
	}
}

/*
 * Add every tree's leaf for one row without missing values (x as in
 * ForestSum) to its output's margin, walking the binned form; the leaves
 * are added in tree order.
 */
FOREST_AVX512_TARGET void
ForestSumBinned(const Forest *f, const float *x, float *margin)
{
	float	   *leaves = f->binned->leaves_batch;

	ForestBinnedLeaves(f, x, f->binned->row, leaves);
	for (int t = 0; t < f->ntrees; t += FOREST_LANES)
		ForestAddLeaves(f, t, Min(FOREST_LANES, f->ntrees - t), leaves + t, margin);
}

/*
 * The float leaves (16 of them from leaves, a tree "depth" deep) at heap
 * positions h, one 32-bit lane per row: a permute of h's low bits.
 */
static FOREST_LANES_TARGET pg_attribute_always_inline __m512
ForestLanesLeaf(const float *leaves, int depth, __m512i h)
{
	if (depth <= 4)
		return _mm512_permutexvar_ps(h, _mm512_loadu_ps(leaves));
	if (depth == 5)
		return _mm512_permutex2var_ps(_mm512_loadu_ps(leaves), h, _mm512_loadu_ps(leaves + 16));
	return _mm512_mask_blend_ps(_mm512_test_epi32_mask(h, _mm512_set1_epi32(32)),
								_mm512_permutex2var_ps(_mm512_loadu_ps(leaves), h,
													   _mm512_loadu_ps(leaves + 16)),
								_mm512_permutex2var_ps(_mm512_loadu_ps(leaves + 32), h,
													   _mm512_loadu_ps(leaves + 48)));
}

/*
 * Heap positions h (8-bit lanes when narrow, else 16-bit) of the
 * rows-in-lanes walk, 16 rows from row 16 q (q a constant), in 32-bit lanes.
 */
static FOREST_LANES_TARGET pg_attribute_always_inline __m512i
ForestLanesQuarter(__m512i h, bool narrow, int q)
{
	if (!narrow)
		return _mm512_cvtepu16_epi32(q == 0 ? _mm512_castsi512_si256(h) : _mm512_extracti64x4_epi64(h, 1));
	switch (q)
	{
		case 0:
			return _mm512_cvtepu8_epi32(_mm512_castsi512_si128(h));
		case 1:
			return _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(h, 1));
		case 2:
			return _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(h, 2));
		default:
			return _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(h, 3));
	}
}

/*
 * Walk every tree of the rows-in-lanes form (the trees "depth" deep and
 * "narrow" constants) for the rows of one vector (64 in 8-bit lanes when
 * narrow, else 32 in 16-bit lanes) whose bins are in b->bins, and add each
 * tree's leaves to its output's sums (rows 16 q to 16 q + 15 in sum[q] for
 * a single output, else b->sums + o * FOREST_BATCH), in tree order.  A
 * tree's thresholds are in one register (two when not narrow): a level's
 * node of each row is a permute of the row's heap position h (the root at
 * 1); the rows' bins for it are blended from the level's nodes' slots (2^l
 * loads of the rows' bins of one slot, folded pair by pair as they are
 * loaded, last direction first, so at most l + 1 vectors are live).
 */
static FOREST_LANES_TARGET pg_attribute_always_inline void
ForestLanesWalk(const Forest *f, int depth, bool narrow, __m512 *sum)
{
	const ForestBinned *b = f->binned;
	const __m512i one = narrow ? _mm512_set1_epi8(1) : _mm512_set1_epi16(1);
	const uint8 *bins = b->bins;

	for (int t = 0; t < f->ntrees; t++)
	{
		const uint16 *tree = b->lanes + (Size) t * FOREST_LANES_TREE;
		const uint16 *slots = tree + 64;
		const float *leaves = (const float *) (tree + 128);
		__m512i		thr0 = _mm512_loadu_si512(tree);
		__m512i		thr1 = _mm512_loadu_si512(tree + 32);
		__m512i		h = one;
		__mmask64	right[FOREST_LANES_MAX_DEPTH];

#pragma GCC unroll 8
		for (int level = 0; level < depth; level++)
		{
			__m512i		node = narrow ? _mm512_permutexvar_epi8(h, thr0) :
				_mm512_permutex2var_epi16(thr0, h, thr1);
			__m512i		c[FOREST_LANES_MAX_DEPTH];
			int			n = 1 << level;
			int			top = 0;

			/* the rows' bins: pairs folded as they are loaded, at most level + 1 live */
#pragma GCC unroll 32
			for (int p = 0; p < n; p++)
			{
				__m512i		v = _mm512_loadu_si512(bins + slots[n + p] * FOREST_LANES_BYTES);

#pragma GCC unroll 8
				for (int k = 0; (p >> k) & 1; k++)
				{
					__m512i		left = c[--top];

					v = narrow ? _mm512_mask_blend_epi8(right[level - 1 - k], left, v) :
						_mm512_mask_blend_epi16((__mmask32) right[level - 1 - k], left, v);
				}
				c[top++] = v;
			}
			if (narrow)
			{
				right[level] = _mm512_cmpgt_epu8_mask(c[0], node);
				h = _mm512_mask_add_epi8(_mm512_add_epi8(h, h), right[level], _mm512_add_epi8(h, h), one);
			}
			else
			{
				right[level] = _mm512_cmpgt_epu16_mask(c[0], node);
				h = _mm512_mask_add_epi16(_mm512_add_epi16(h, h), (__mmask32) right[level],
										  _mm512_add_epi16(h, h), one);
			}
		}
		for (int q = 0; q < (narrow ? 4 : 2); q++)
		{
			__m512		leaf = ForestLanesLeaf(leaves, depth, ForestLanesQuarter(h, narrow, q));

			if (f->noutputs == 1)
				sum[q] = _mm512_add_ps(sum[q], leaf);
			else
			{
				float	   *s = b->sums + f->outputs[t] * FOREST_BATCH + q * FOREST_LANES;

				_mm512_storeu_ps(s, _mm512_add_ps(_mm512_loadu_ps(s), leaf));
			}
		}
	}
}

/*
 * ForestLanesWalk for a depth and width known only at run time.
 */
static FOREST_LANES_TARGET void
ForestLanesWalkAny(const Forest *f, int depth, bool narrow, __m512 *sum)
{
#define FOREST_LANES_WALK(d) \
	case d: \
		if (narrow) \
			ForestLanesWalk(f, d, true, sum); \
		else \
			ForestLanesWalk(f, d, false, sum); \
		break
	switch (depth)
	{
			FOREST_LANES_WALK(1);
			FOREST_LANES_WALK(2);
			FOREST_LANES_WALK(3);
			FOREST_LANES_WALK(4);
			FOREST_LANES_WALK(5);
		default:
			ForestLanesWalk(f, 6, narrow, sum);
			break;
	}
#undef FOREST_LANES_WALK
}

/*
 * Bin the values of m rows (the r-th at x + r * rowstride) into b->bins,
 * feature by feature.  A feature of one or two levels of tables (at most
 * 255 thresholds) is binned 16 rows at a time in the vector lanes, without
 * moving a bin out of the registers: the rows' values are gathered, level
 * 0's 16 entries searched in four halving steps (permutes of the table
 * in a register; the count of the entries <= v, as ForestBinOf's compare
 * counts it: never all 16, the last being a NaN or above v whenever a
 * row is binned below the last level), then level 1's entries 16 bin + j
 * are looked up for each j with a permute of column j of the transposed
 * table and counted.  Other features are binned row by row (ForestBinOf).
 */
static FOREST_LANES_TARGET void
ForestLanesBin(const ForestBinned *b, const float *x, int rowstride, int m)
{
	const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

	for (int u = 0; u < b->nused; u++)
	{
		int			slot = b->used[u];
		const float *columns = b->columns + Max(b->column[u], 0) * FOREST_LANES * FOREST_LANES;
		__m512		t0 = _mm512_loadu_ps(b->thresholds + b->first[u]);

		for (int first = 0; first < m; first += FOREST_LANES)
		{
			__mmask16	valid = (__mmask16) ((1u << Min(m - first, FOREST_LANES)) - 1);
			__m512i		at = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(first)),
																 _mm512_set1_epi32(rowstride)),
											  _mm512_set1_epi32(slot));
			__m512		v;
			__m512i		bin = _mm512_setzero_si512();

			if (b->levels[u] > 2)
			{
				for (int r = first; r < first + Min(m - first, FOREST_LANES); r++)
				{
					uint32		one = ForestBinOf(b, u, x[(Size) r * rowstride + slot]);

					if (b->narrow)
						b->bins[slot * FOREST_LANES_BYTES + r] = (uint8) one;
					else
						((uint16 *) b->bins)[slot * FOREST_LANES_BYTES / 2 + r] = (uint16) one;
				}
				continue;
			}
			v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid, at, x, sizeof(float));
#pragma GCC unroll 4
			for (int step = FOREST_LANES / 2; step > 0; step /= 2)
			{
				__m512		t = _mm512_permutexvar_ps(_mm512_add_epi32(bin, _mm512_set1_epi32(step - 1)), t0);

				bin = _mm512_mask_add_epi32(bin, _mm512_cmp_ps_mask(t, v, _CMP_LE_OQ), bin,
											_mm512_set1_epi32(step));
			}
			if (b->levels[u] == 2)
			{
				__m512i		high = _mm512_slli_epi32(bin, 4);

#pragma GCC unroll 16
				for (int j = 0; j < FOREST_LANES; j++)
					high = _mm512_mask_add_epi32(high,
												 _mm512_cmp_ps_mask(_mm512_permutexvar_ps(bin, _mm512_loadu_ps(columns + j * FOREST_LANES)),
																	v, _CMP_LE_OQ),
												 high, _mm512_set1_epi32(1));
				bin = high;
			}
			if (b->narrow)
				_mm_storeu_si128((__m128i *) (b->bins + slot * FOREST_LANES_BYTES + first),
								 _mm512_cvtepi32_epi8(bin));
			else
				_mm256_storeu_si256((__m256i *) (b->bins + slot * FOREST_LANES_BYTES + first * 2),
									_mm512_cvtepi32_epi16(bin));
		}
	}
}

/*
 * ForestSumBinnedBatch in the rows-in-lanes form, a vector's rows at a
 * time (64 narrow, else 32): their values are binned into the transposed
 * bins, then every tree is walked for all of them at once
 * (ForestLanesWalk), each lane adding its row's leaves in tree order, the
 * very float32 additions of the one-row walk.
 */
static FOREST_LANES_TARGET void
ForestSumBinnedLanes(const Forest *f, const float *x, int n, float *margins)
{
	const ForestBinned *b = f->binned;
	int			k = f->noutputs;
	int			rows = b->narrow ? FOREST_LANES_BYTES : FOREST_LANES_BYTES / 2;

	for (int first = 0; first < n; first += rows)
	{
		int			m = Min(rows, n - first);
		const float *from = x + (Size) first * f->rowstride;
		float	   *to = margins + (Size) first * k;
		__mmask16	lanes[4];
		__m512		sum[4];

		ForestLanesBin(b, from, f->rowstride, m);
		for (int q = 0; q < 4; q++)
		{
			lanes[q] = (__mmask16) ((1u << Max(Min(m - q * FOREST_LANES, FOREST_LANES), 0)) - 1);
			sum[q] = _mm512_maskz_loadu_ps(lanes[q], to + q * FOREST_LANES);
		}
		if (k > 1)
			for (int o = 0; o < k; o++)
				for (int r = 0; r < m; r++)
					b->sums[o * FOREST_BATCH + r] = to[r * k + o];
		ForestLanesWalkAny(f, b->depth, b->narrow, sum);
		if (k == 1)
			for (int q = 0; q < 4; q++)
				_mm512_mask_storeu_ps(to + q * FOREST_LANES, lanes[q], sum[q]);
		else
			for (int o = 0; o < k; o++)
				for (int r = 0; r < m; r++)
					to[r * k + o] = b->sums[o * FOREST_BATCH + r];
	}
}

/*
 * ForestSumBinned for n <= f->batch_rows rows without missing values, the
 * r-th at x + r * f->rowstride, its outputs' margins (set to the base
 * margin by the caller) at margins + r * f->noutputs.  The rows' walks are
 * independent of each other, so the processor overlaps them; then, for a
 * single output, the leaves are summed with one lane per row, tree after
 * tree: each lane adds its row's leaves in tree order, the very float32
 * additions of the one-row walk, but the rows' chains of 100 dependent
 * additions run side by side instead of one after the other.
 */
FOREST_AVX512_TARGET void
ForestSumBinnedBatch(const Forest *f, const float *x, int n, float *margins)
{
	const ForestBinned *b = f->binned;
	int			pitch = (f->ntrees + FOREST_LANES - 1) / FOREST_LANES * FOREST_LANES;
	float	   *leaves = b->leaves_batch;

	if (b->lanes != NULL)
	{
		ForestSumBinnedLanes(f, x, n, margins);
		return;
	}
	for (int r = 0; r < n; r++)
		ForestBinnedLeaves(f, x + (Size) r * f->rowstride, b->rows + (Size) r * b->nslots,
						   leaves + r * pitch);
	if (f->noutputs == 1)
	{
		__m512i		at = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
															  11, 12, 13, 14, 15),
											_mm512_set1_epi32(pitch));
		__mmask16	lanes = (__mmask16) ((1u << n) - 1);
		__m512		sum = _mm512_maskz_loadu_ps(lanes, margins);

		for (int t = 0; t < f->ntrees; t++)
			sum = _mm512_add_ps(sum, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), lanes, at,
															  leaves + t, sizeof(float)));
		_mm512_mask_storeu_ps(margins, lanes, sum);
		return;
	}
	for (int r = 0; r < n; r++)
		for (int t = 0; t < f->ntrees; t += FOREST_LANES)
			ForestAddLeaves(f, t, Min(FOREST_LANES, f->ntrees - t), leaves + r * pitch + t,
							margins + r * f->noutputs);
}

#endif							/* FOREST_AVX512 */
