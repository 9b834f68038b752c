/*-------------------------------------------------------------------------
 *
 * forest_shap.c
 *	  Exact path-dependent TreeSHAP on compiled XGBoost ensembles.
 *
 * This is the algorithm of Lundberg et al., "Consistent Individualized
 * Feature Attribution for Tree Ensembles" (2018), Algorithm 2, as
 * libxgboost 1.7 implements it for predict(pred_contribs=True)
 * (RegTree::TreeShap with ExtendPath, UnwindPath and UnwoundPathSum in
 * src/tree/tree_model.cc): a walk of every path of a tree that keeps, for
 * the unique features split on along the way, the fraction of the
 * training cover that goes down the path when the feature is known (one:
 * 1 on the row's own branch, 0 on the other) and when it is not (zero:
 * the child's share of its parent's cover); at a leaf, each of those
 * features gets the leaf value weighted by the Shapley weight of its
 * permutations.  A feature split on again lower down is first unwound
 * from the path and extended again with the product of its fractions.  A
 * missing value takes the node's default direction, as in prediction, and
 * values are compared as float32 as the walks in forest_predict.c do.
 * The expected value of each tree (the cover-weighted mean of its leaves)
 * goes to the bias, with the base margin: the contributions of a row sum
 * to its raw margin.
 *
 * libxgboost computes in float32; we compute in double, which agrees with
 * it to float32 round-off.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "serve/forest.h"

/* one unique feature of the current path */
typedef struct ShapPathElement
{
	int			feature;		/* 0-based feature, -1 for the root's slot */
	double		zero;			/* fraction of cover taken when unknown */
	double		one;			/* 1 when the row follows the path, else 0 */
	double		weight;			/* Shapley weight of the subsets so far */
} ShapPathElement;

/* what the walk of one tree for one row reads and writes */
typedef struct ShapWalk
{
	const Forest *f;
	const float *x;				/* x[0] is NaN, features from x[1] */
	double	   *phi;			/* the tree's output: nfeatures + 1 values */
} ShapWalk;

/*
 * Extend the path of "depth" + 1 elements by a feature with its zero and
 * one fractions (libxgboost's ExtendPath).
 */
static inline void
ShapExtend(ShapPathElement *path, int depth, double zero, double one, int feature)
{
	path[depth].feature = feature;
	path[depth].zero = zero;
	path[depth].one = one;
	path[depth].weight = depth == 0 ? 1.0 : 0.0;
	for (int i = depth - 1; i >= 0; i--)
	{
		path[i + 1].weight += one * path[i].weight * (i + 1) / (double) (depth + 1);
		path[i].weight = zero * path[i].weight * (depth - i) / (double) (depth + 1);
	}
}

/*
 * Remove element "index" from the path of "depth" + 1 elements, undoing its
 * extension (libxgboost's UnwindPath).
 */
static void
ShapUnwind(ShapPathElement *path, int depth, int index)
{
	double		one = path[index].one;
	double		zero = path[index].zero;
	double		next = path[depth].weight;

	for (int i = depth - 1; i >= 0; i--)
	{
		if (one != 0)
		{
			double		tmp = path[i].weight;

			path[i].weight = next * (depth + 1) / ((i + 1) * one);
			next = tmp - path[i].weight * zero * (depth - i) / (double) (depth + 1);
		}
		else
			path[i].weight = path[i].weight * (depth + 1) / (zero * (depth - i));
	}
	for (int i = index; i < depth; i++)
	{
		path[i].feature = path[i + 1].feature;
		path[i].zero = path[i + 1].zero;
		path[i].one = path[i + 1].one;
	}
}

/*
 * The total weight the path would have without element "index", without
 * changing it (libxgboost's UnwoundPathSum).
 */
static double
ShapUnwoundSum(const ShapPathElement *path, int depth, int index)
{
	double		one = path[index].one;
	double		zero = path[index].zero;
	double		next = path[depth].weight;
	double		total = 0;

	for (int i = depth - 1; i >= 0; i--)
	{
		if (one != 0)
		{
			double		tmp = next * (depth + 1) / ((i + 1) * one);

			total += tmp;
			next = path[i].weight - tmp * zero * ((depth - i) / (double) (depth + 1));
		}
		else if (zero != 0)
			total += (path[i].weight / zero) / ((depth - i) / (double) (depth + 1));
	}
	return total;
}

/*
 * Walk the subtree at "node", reached by the path of "depth" unique
 * features in "parent" (depth + 1 elements with the root's), extended here
 * by the split on parent_feature with its fractions (libxgboost's
 * TreeShap without conditioning).  Each level copies its path after its
 * parent's, so "parent" has room for the tree's depth.
 */
static void
ShapRecurse(const ShapWalk *w, int node, int depth, ShapPathElement *parent,
			double parent_zero, double parent_one, int parent_feature)
{
	const ForestNode *n = &w->f->nodes[node];
	const float *covers = w->f->covers;
	ShapPathElement *path = parent + depth + 1;
	int			hot;
	int			cold;
	int			split;
	double		incoming_zero = 1;
	double		incoming_one = 1;
	int			index;
	float		v;

	check_stack_depth();
	memcpy(path, parent, sizeof(ShapPathElement) * (depth + 1));
	ShapExtend(path, depth, parent_zero, parent_one, parent_feature);

	if (n->feature == 0)
	{
		for (int i = 1; i <= depth; i++)
		{
			double		weight = ShapUnwoundSum(path, depth, i);

			w->phi[path[i].feature] += weight * (path[i].one - path[i].zero) * n->value;
		}
		return;
	}

	split = n->feature - 1;
	v = w->x[n->feature];
	hot = isnan(v) ? n->missing : n->left + !(v < n->value);
	cold = hot == n->left ? n->left + 1 : n->left;

	/* a feature split on before is unwound, to be extended again below */
	for (index = 0; index <= depth; index++)
		if (path[index].feature == split)
			break;
	if (index <= depth)
	{
		incoming_zero = path[index].zero;
		incoming_one = path[index].one;
		ShapUnwind(path, depth, index);
		depth--;
	}

	ShapRecurse(w, hot, depth + 1, path,
				covers[hot] / (double) covers[node] * incoming_zero, incoming_one, split);
	ShapRecurse(w, cold, depth + 1, path,
				covers[cold] / (double) covers[node] * incoming_zero, 0, split);
}

/*
 * Fill f->means: each node's cover-weighted mean of its leaves (a leaf's
 * is its value), as libxgboost's FillNodeMeanValue.  Children come after
 * their parent, so one backward pass does it.
 */
static void
ShapMeans(Forest *f)
{
	double	   *means = MemoryContextAllocHuge(GetMemoryChunkContext(f),
											   sizeof(double) * Max(1, f->nnodes));

	for (int i = f->nnodes - 1; i >= 0; i--)
	{
		const ForestNode *n = &f->nodes[i];

		if (n->feature == 0)
			means[i] = n->value;
		else
			means[i] = (means[n->left] * f->covers[n->left] +
						means[n->left + 1] * f->covers[n->left + 1]) / f->covers[i];
	}
	f->means = means;
}

/*
 * The SHAP values of one row of f->nfeatures featurized values (NaN is
 * missing) into phi: f->noutputs groups of nfeatures + 1 values, each
 * feature's contribution to that output's raw margin, then the bias (the
 * base margin plus the expected value of the output's trees).  Each group
 * sums to the margin ForestPredict transforms.  The model must have its
 * covers.
 */
void
ForestShap(Forest *f, const double *x, double *phi)
{
	int			p = f->nfeatures;
	int			depth = 0;
	ShapPathElement *paths;
	ShapWalk	w;

	Assert(f->covers != NULL);
	if (f->means == NULL)
		ShapMeans(f);
	for (int g = 0; g <= f->ntrees / FOREST_LANES; g++)
		depth = Max(depth, f->steps[g]);
	/* levels 0 .. depth + 1, each a copy one longer than the last */
	paths = palloc_extended(sizeof(ShapPathElement) * ((Size) depth + 3) * ((Size) depth + 4) / 2,
							MCXT_ALLOC_HUGE);

	f->row[0] = NAN;
	for (int j = 0; j < p; j++)
		f->row[j + 1] = (float) x[j];
	memset(phi, 0, sizeof(double) * f->noutputs * (p + 1));
	w.f = f;
	w.x = f->row;
	for (int t = 0; t < f->ntrees; t++)
	{
		w.phi = phi + (size_t) f->outputs[t] * (p + 1);
		w.phi[p] += f->means[f->roots[t]];
		ShapRecurse(&w, f->roots[t], 0, paths, 1, 1, -1);
	}
	for (int c = 0; c < f->noutputs; c++)
		phi[(size_t) c * (p + 1) + p] += f->base_margin;
	pfree(paths);
}
