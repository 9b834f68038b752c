/*-------------------------------------------------------------------------
 *
 * forest.h
 *	  Native evaluation of XGBoost tree ensembles: a model compiled from
 *	  libxgboost's stored UBJSON into flat node arrays and scored by our own
 *	  code.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_FOREST_H
#define MLOPS_FOREST_H

#include "postgres.h"

#include "utils/jsonb.h"

/* trees walked side by side for one row */
#define FOREST_LANES 16

/* rows the binned walk scores together at most (one per lane of the rows-in-lanes walk) */
#define FOREST_BATCH 64

/*
 * One tree node, 16 bytes.  Every tree is laid out breadth first, so a
 * node's children are adjacent (right = left + 1) and come after it.
 * Features are numbered from 1: slot 0 of the row is always NaN, and a
 * leaf "splits" on it with left = itself - 1 and missing = itself, so a
 * walk that reached a leaf stays there whatever the step.
 */
typedef struct ForestNode
{
	float		value;			/* split threshold, or the leaf value */
	int32		feature;		/* 1 + split feature; 0 for a leaf */
	int32		left;			/* index of the left child in Forest.nodes */
	int32		missing;		/* child taken when the feature is missing */
} ForestNode;

/*
 * A node of the complete form that the AVX-512 walk reads (see forest_predict.c):
 * 8 bytes, so that one 64-bit gather loads both fields.
 */
typedef struct ForestSlot
{
	int32		feature;		/* 1 + split feature; 0 for a leaf */
	float		value;			/* split threshold, or the leaf value */
} ForestSlot;

/* how the summed margins become outputs */
typedef enum ForestTransform
{
	FOREST_IDENTITY,			/* reg:squarederror */
	FOREST_SIGMOID,				/* binary:logistic */
	FOREST_SOFTMAX				/* multi:softprob */
} ForestTransform;

typedef struct ForestBinned ForestBinned;

/* a compiled ensemble, allocated in one memory context */
typedef struct Forest
{
	int			nfeatures;
	int			noutputs;		/* values per row: 1, or the classes */
	ForestTransform transform;
	float		base_margin;	/* initial margin of every output */
	int			ntrees;
	int32	   *roots;			/* first node of each tree */
	int32	   *outputs;		/* output each tree adds to */
	int32	   *steps;			/* per FOREST_LANES trees: deepest leaf */
	int			nnodes;
	ForestNode *nodes;
	float	   *covers;			/* per node: its training cover (sum_hessian), or
								 * NULL when the model has none */
	double	   *means;			/* per node: the cover-weighted mean of its
								 * leaves, made by the first TreeSHAP */
	int			depth;			/* of the complete form: the deepest leaf */
	ForestSlot *slots;			/* the complete form, or NULL */
	struct ForestBinned *binned;	/* the binned form (forest_binned.c), or
									 * NULL */
	float	   *row;			/* scratch (one row at a time): NaN, then the row as
								 * float32, then zeros up to a multiple of 32 */
	float	   *margin;			/* scratch: one row's outputs */
	int			rowstride;		/* floats of a row in row and rows */
	int			batch_rows;		/* rows the binned walk scores together:
								 * FOREST_BATCH in the rows-in-lanes form,
								 * else FOREST_LANES */
	float	   *rows;			/* scratch: batch_rows rows laid out as row */
	float	   *margins;		/* scratch: batch_rows rows' outputs */
	int		   *batch;			/* scratch: their indexes in the caller's rows */
} Forest;

/* mlops.vector_tree_walk: use the AVX-512 walk where the processor has it */
extern bool mlops_vector_tree_walk;

extern void ForestInit(void);
extern Forest *ForestFromXgboostUbjson(const char *data, size_t len, int nfeatures,
										int nclasses);
extern void ForestCheckXgboostJsonb(JsonbContainer *doc, int nfeatures, int nclasses);
extern void ForestPredict(const Forest *f, const double *X, int n, bool vector,
						  double *out);
extern void ForestShap(Forest *f, const double *x, double *phi);

#endif							/* MLOPS_FOREST_H */
