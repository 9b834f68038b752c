/*-------------------------------------------------------------------------
 *
 * forest_compile.c
 *	  Compiling XGBoost tree ensembles for native evaluation.
 *
 * A model is compiled once, when a backend loads it, from the UBJSON that
 * libxgboost wrote at training (learner.gradient_booster.model.trees[]
 * with their left_children, right_children, split_indices,
 * split_conditions and default_left arrays; tree_info, the output of each
 * tree; the objective; base_score) into one array of 16-byte nodes, and
 * the nodes' covers (sum_hessian) into a parallel array that TreeSHAP
 * reads (forest_shap.c; models without them cannot be explained).  Each
 * tree is laid out breadth first, so siblings are adjacent and a walk only
 * moves forward.  A small streaming UBJSON reader feeds the compiler, which
 * keeps the few arrays it needs; libxgboost is not involved, and no
 * document tree is built.
 *
 * Compiling validates everything predict relies on: the UBJSON is read
 * with bounds checks on every byte and counts no larger than what is left;
 * every child index is in range and reached exactly once from the root (no
 * cycles, no shared nodes); every split feature exists; every tree adds to
 * an existing output.  A corrupted model is an ERROR; predict never reads
 * outside the arrays.
 *
 * Evaluation and the AVX-512 complete form are in forest_predict.c, the
 * UBJSON reader in forest_ubjson.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/memutils.h"

#include "serve/forest_internal.h"

static const struct
{
	const char *name;
	ModelKey	key;
}			model_keys[] =
{
	{"learner", KEY_LEARNER},
	{"learner_model_param", KEY_MODEL_PARAM},
	{"base_score", KEY_BASE_SCORE},
	{"num_class", KEY_NUM_CLASS},
	{"num_feature", KEY_NUM_FEATURE},
	{"num_target", KEY_NUM_TARGET},
	{"objective", KEY_OBJECTIVE},
	{"name", KEY_NAME},
	{"gradient_booster", KEY_BOOSTER},
	{"model", KEY_MODEL},
	{"gbtree_model_param", KEY_TREES_PARAM},
	{"num_trees", KEY_NUM_TREES},
	{"tree_info", KEY_TREE_INFO},
	{"trees", KEY_TREES},
	{"tree_param", KEY_TREE_PARAM},
	{"num_nodes", KEY_NUM_NODES},
	{"version", KEY_VERSION},
	{"left_children", KEY_LEFT},
	{"right_children", KEY_RIGHT},
	{"split_indices", KEY_SPLIT_INDICES},
	{"split_conditions", KEY_SPLIT_CONDITIONS},
	{"default_left", KEY_DEFAULT_LEFT},
	{"split_type", KEY_SPLIT_TYPE},
	{"sum_hessian", KEY_SUM_HESSIAN},
	{"parents", KEY_PARENTS},
	{"categories", KEY_CATEGORIES},
	{"categories_nodes", KEY_CATEGORIES_NODES},
	{"categories_segments", KEY_CATEGORIES_SEGMENTS},
	{"categories_sizes", KEY_CATEGORIES_SIZES},
};

/* deepest path we track: learner.gradient_booster.model.trees[i].x[j] */
#define MAX_PATH 8

/* where the values we keep live */
static const ModelKey tree_path[] = {KEY_LEARNER, KEY_BOOSTER, KEY_MODEL, KEY_TREES, KEY_ELEMENT};
static const ModelKey tree_info_path[] = {KEY_LEARNER, KEY_BOOSTER, KEY_MODEL, KEY_TREE_INFO, KEY_ELEMENT};
static const ModelKey num_trees_path[] = {KEY_LEARNER, KEY_BOOSTER, KEY_MODEL, KEY_TREES_PARAM, KEY_NUM_TREES};
static const ModelKey booster_path[] = {KEY_LEARNER, KEY_BOOSTER, KEY_NAME};
static const ModelKey objective_path[] = {KEY_LEARNER, KEY_OBJECTIVE, KEY_NAME};
static const ModelKey version_path[] = {KEY_VERSION, KEY_ELEMENT};

/* a growing list of numbers */
typedef struct NumList
{
	double	   *v;
	Size		n;
	Size		cap;
} NumList;

/* the compiler's state while the reader streams the document */
struct CompileState
{
	int			nfeatures;
	MemoryContext result_cxt;	/* where the nodes go */

	/* the current path: one key per open object member or array element */
	int			depth;
	ModelKey	path[MAX_PATH];

	/* learner-level values, as their strings */
	char	   *params[KEY_NUM_TARGET - KEY_BASE_SCORE + 1];
	char	   *objective;
	char	   *booster;
	char	   *num_trees;
	NumList		version;
	NumList		tree_info;

	/* the tree being read */
	NumList		arrays[NUM_TREE_ARRAYS];
	char	   *num_nodes;

	/* the compiled trees */
	ForestNode *nodes;
	float	   *covers;			/* per node: its cover (sum_hessian) */
	bool		no_covers;		/* a tree had no sum_hessian */
	int			nnodes;
	Size		node_cap;
	int32	   *roots;
	int32	   *depths;
	int			ntrees;
	Size		root_cap;
};

/*
 * Append a number to a list.
 */
static void
NumListPush(NumList *l, double x)
{
	if (l->n == l->cap)
	{
		l->cap = Max(64, l->cap * 2);
		l->v = l->v ? repalloc_huge(l->v, sizeof(double) * l->cap)
			: palloc(sizeof(double) * l->cap);
	}
	l->v[l->n++] = x;
}

/*
 * The document name of a key.
 */
static const char *
KeyName(ModelKey key)
{
	for (int i = 0; i < lengthof(model_keys); i++)
		if (model_keys[i].key == key)
			return model_keys[i].name;
	return "?";
}

/*
 * True when the current path is exactly the pattern.
 */
static bool
PathIs(const CompileState *s, const ModelKey *pattern, int len)
{
	if (s->depth != len)
		return false;
	for (int i = 0; i < len; i++)
		if (s->path[i] != pattern[i])
			return false;
	return true;
}

/*
 * True when the current path starts with the pattern.
 */
static bool
PathStartsWith(const CompileState *s, const ModelKey *pattern, int len)
{
	if (s->depth < len)
		return false;
	for (int i = 0; i < len; i++)
		if (s->path[i] != pattern[i])
			return false;
	return true;
}

/*
 * Enter an object member or array element.
 */
void
ForestPathPush(CompileState *s, ModelKey key)
{
	if (s->depth < MAX_PATH)
		s->path[s->depth] = key;
	s->depth++;
}

/*
 * An object member starts; remember its key.
 */
void
ForestCompileFieldStart(CompileState *s, const char *name, size_t len)
{
	ModelKey	key = KEY_OTHER;

	for (int i = 0; i < lengthof(model_keys); i++)
		if (strlen(model_keys[i].name) == len && memcmp(name, model_keys[i].name, len) == 0)
		{
			key = model_keys[i].key;
			break;
		}
	ForestPathPush(s, key);
}

/*
 * An object member or array element ends.
 */
void
ForestCompilePop(CompileState *s)
{
	s->depth--;
}

/*
 * An object starts; a new tree clears the tree arrays.
 */
void
ForestCompileObjectStart(CompileState *s)
{
	if (PathIs(s, tree_path, lengthof(tree_path)))
	{
		for (int a = 0; a < NUM_TREE_ARRAYS; a++)
			s->arrays[a].n = 0;
		s->num_nodes = NULL;
	}
}

/*
 * A scalar of another kind than the one its place needs is an error.
 */
static void
CompileExpect(ScalarKind kind, ScalarKind want)
{
	static const char *const names[] = {"number", "string", "null"};

	if (kind != want)
		CORRUPTED("It has a %s where a %s belongs.", names[kind], names[want]);
}

/*
 * A scalar: num for a number, str and len for a string; keep it if its
 * path is one we read.
 */
void
ForestCompileScalar(CompileState *s, ScalarKind kind, double num, const char *str, size_t len)
{
	char	  **keep = NULL;
	NumList    *list = NULL;

	if (s->depth == lengthof(tree_path) + 2 &&
		PathStartsWith(s, tree_path, lengthof(tree_path)))
	{
		ModelKey	member = s->path[lengthof(tree_path)];

		if (member >= KEY_FIRST_ARRAY && s->path[lengthof(tree_path) + 1] == KEY_ELEMENT)
			list = &s->arrays[member - KEY_FIRST_ARRAY];
		else if (member == KEY_TREE_PARAM && s->path[lengthof(tree_path) + 1] == KEY_NUM_NODES)
			keep = &s->num_nodes;
	}
	else if (s->depth == 3 && s->path[0] == KEY_LEARNER && s->path[1] == KEY_MODEL_PARAM &&
			 s->path[2] >= KEY_BASE_SCORE && s->path[2] <= KEY_NUM_TARGET)
		keep = &s->params[s->path[2] - KEY_BASE_SCORE];
	else if (PathIs(s, tree_info_path, lengthof(tree_info_path)))
		list = &s->tree_info;
	else if (PathIs(s, version_path, lengthof(version_path)))
		list = &s->version;
	else if (PathIs(s, objective_path, lengthof(objective_path)))
		keep = &s->objective;
	else if (PathIs(s, booster_path, lengthof(booster_path)))
		keep = &s->booster;
	else if (PathIs(s, num_trees_path, lengthof(num_trees_path)))
		keep = &s->num_trees;

	if (list != NULL)
	{
		CompileExpect(kind, SCALAR_NUMBER);
		NumListPush(list, num);
	}
	else if (keep != NULL)
	{
		CompileExpect(kind, SCALAR_STRING);
		*keep = pnstrdup(str, len);
	}
}

/*
 * A count held in a string ("95"), in [lo, hi].
 */
static int
CountFromString(const char *str, const char *what, int lo, int hi)
{
	char	   *end;
	long		v;

	if (str == NULL)
		CORRUPTED("It has no %s.", what);
	errno = 0;
	v = strtol(str, &end, 10);
	if (end == str || *end != '\0' || errno != 0 || v < lo || v > hi)
		CORRUPTED("Its %s is \"%s\".", what, str);
	return (int) v;
}

/*
 * True when a child index is a node of a tree of nn nodes other than its
 * root.
 */
static inline bool
ValidChild(double c, int nn)
{
	return c >= 1 && c < nn && c == floor(c);
}

/*
 * An object ends; a finished tree is compiled.
 *
 * The tree's nodes are renumbered breadth first from the root and appended
 * to the node array.  Every child must be a node reached for the first
 * time, so the result is a tree whose children come after their parent;
 * nodes the root does not reach (deleted ones) are dropped.
 */
void
ForestCompileObjectEnd(CompileState *s)
{
	const NumList *a = s->arrays;
	const double *left = a[KEY_LEFT - KEY_FIRST_ARRAY].v;
	const double *right = a[KEY_RIGHT - KEY_FIRST_ARRAY].v;
	const double *feature = a[KEY_SPLIT_INDICES - KEY_FIRST_ARRAY].v;
	const double *cond = a[KEY_SPLIT_CONDITIONS - KEY_FIRST_ARRAY].v;
	const double *dleft = a[KEY_DEFAULT_LEFT - KEY_FIRST_ARRAY].v;
	const NumList *split_type = &a[KEY_SPLIT_TYPE - KEY_FIRST_ARRAY];
	const NumList *hessian = &a[KEY_SUM_HESSIAN - KEY_FIRST_ARRAY];
	const double *parent = a[KEY_PARENTS - KEY_FIRST_ARRAY].v;
	int			tree = s->ntrees;
	int			nn;
	int			base = s->nnodes;
	int32	   *queue;
	int32	   *depth;
	bool	   *seen;
	int			tail = 1;
	int			max_depth = 0;

	if (!PathIs(s, tree_path, lengthof(tree_path)))
		return;

	nn = CountFromString(s->num_nodes, "tree's node count", 1, PG_INT32_MAX);
	for (int k = 0; k < KEY_FIRST_CATEGORY_ARRAY - KEY_FIRST_ARRAY; k++)
		if (a[k].n != nn && !((k == KEY_SPLIT_TYPE - KEY_FIRST_ARRAY ||
								k == KEY_SUM_HESSIAN - KEY_FIRST_ARRAY) && a[k].n == 0))
			CORRUPTED("Tree %d has %d nodes but %zu entries in %s.", tree, nn, a[k].n,
					  KeyName(KEY_FIRST_ARRAY + k));
	/* libxgboost reads the node at every node's parent index */
	for (int i = 1; i < nn; i++)
		if (!(parent[i] >= 0 && parent[i] < nn && parent[i] == floor(parent[i])))
			CORRUPTED("Node %d of tree %d has parent %.0f.", i, tree, parent[i]);
	for (Size i = 0; i < split_type->n; i++)
		if (split_type->v[i] != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("stored XGBoost model uses categorical splits"),
					 errdetail("Native inference evaluates numeric splits only.")));
	for (int k = KEY_FIRST_CATEGORY_ARRAY - KEY_FIRST_ARRAY; k < NUM_TREE_ARRAYS; k++)
		if (a[k].n != 0)
			CORRUPTED("Tree %d has %zu entries in %s, but no categorical split.", tree, a[k].n,
					  KeyName(KEY_FIRST_ARRAY + k));

	if ((Size) base + nn > (Size) PG_INT32_MAX)
		CORRUPTED("Its trees have more than %d nodes.", PG_INT32_MAX);
	if ((Size) base + nn > s->node_cap)
	{
		s->node_cap = Max((Size) base + nn, s->node_cap * 2);
		s->nodes = s->nodes ? repalloc_huge(s->nodes, sizeof(ForestNode) * s->node_cap)
			: MemoryContextAllocHuge(s->result_cxt, sizeof(ForestNode) * s->node_cap);
		s->covers = s->covers ? repalloc_huge(s->covers, sizeof(float) * s->node_cap)
			: MemoryContextAllocHuge(s->result_cxt, sizeof(float) * s->node_cap);
	}
	if (hessian->n == 0)
		s->no_covers = true;
	if ((Size) s->ntrees == s->root_cap)
	{
		s->root_cap = Max(64, s->root_cap * 2);
		s->roots = s->roots ? repalloc_huge(s->roots, sizeof(int32) * s->root_cap)
			: palloc_extended(sizeof(int32) * s->root_cap, MCXT_ALLOC_HUGE);
		s->depths = s->depths ? repalloc_huge(s->depths, sizeof(int32) * s->root_cap)
			: palloc_extended(sizeof(int32) * s->root_cap, MCXT_ALLOC_HUGE);
	}

	queue = palloc_extended(sizeof(int32) * nn, MCXT_ALLOC_HUGE);
	depth = palloc_extended(sizeof(int32) * nn, MCXT_ALLOC_HUGE);
	seen = palloc_extended(sizeof(bool) * nn, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	queue[0] = 0;
	depth[0] = 0;
	seen[0] = true;
	for (int head = 0; head < tail; head++)
	{
		int			o = queue[head];
		ForestNode *node = &s->nodes[base + head];

		node->value = (float) cond[o];
		s->covers[base + head] = hessian->n > 0 ? (float) hessian->v[o] : 0;
		max_depth = Max(max_depth, depth[head]);
		if (left[o] == -1 && right[o] == -1)
		{
			/* a leaf reads the NaN in slot 0 and stays put either way */
			node->feature = 0;
			node->left = base + head - 1;
			node->missing = base + head;
			continue;
		}
		if (!ValidChild(left[o], nn) || !ValidChild(right[o], nn) || left[o] == right[o] ||
			seen[(int) left[o]] || seen[(int) right[o]])
			CORRUPTED("Node %d of tree %d has children %.0f and %.0f.", o, tree, left[o], right[o]);
		if (parent[(int) left[o]] != o || parent[(int) right[o]] != o)
			CORRUPTED("Node %d of tree %d has children %.0f and %.0f whose parents are %.0f and %.0f.",
					  o, tree, left[o], right[o], parent[(int) left[o]], parent[(int) right[o]]);
		if (!(feature[o] >= 0 && feature[o] < s->nfeatures && feature[o] == floor(feature[o])))
			CORRUPTED("Node %d of tree %d splits on feature %.0f of %d.", o, tree, feature[o], s->nfeatures);
		node->feature = (int32) feature[o] + 1;
		node->left = base + tail;
		node->missing = dleft[o] != 0 ? node->left : node->left + 1;
		seen[(int) left[o]] = seen[(int) right[o]] = true;
		depth[tail] = depth[tail + 1] = depth[head] + 1;
		queue[tail++] = (int32) left[o];
		queue[tail++] = (int32) right[o];
	}
	pfree(queue);
	pfree(depth);
	pfree(seen);
	s->nnodes = base + tail;
	s->roots[s->ntrees] = base;
	s->depths[s->ntrees++] = max_depth;
}

/*
 * A learner_model_param value, NULL when absent.
 */
static inline const char *
Param(const CompileState *s, ModelKey key)
{
	return s->params[key - KEY_BASE_SCORE];
}

/*
 * Check the learner-level values against the model's metadata and fill in
 * the ensemble's outputs, transform and base margin.
 */
static void
CompileLearner(CompileState *s, Forest *f, int nclasses)
{
	const char *objective = s->objective ? s->objective : "(none)";
	int			num_class = CountFromString(Param(s, KEY_NUM_CLASS), "num_class", 0, PG_INT32_MAX);
	int			num_feature = CountFromString(Param(s, KEY_NUM_FEATURE), "num_feature", 0, PG_INT32_MAX);
	const char *base_text = Param(s, KEY_BASE_SCORE);
	char	   *end;
	float		base;

	if (s->version.n < 1 || s->version.v[0] != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stored XGBoost model has an unsupported layout"),
				 errdetail("libxgboost wrote it as version %.0f; native inference reads version 1 layouts.",
						   s->version.n > 0 ? s->version.v[0] : 0),
				 errhint("Build mlops against libxgboost 1.x.")));
	if (s->booster == NULL || strcmp(s->booster, "gbtree") != 0)
		CORRUPTED("Its booster is \"%s\", not gbtree.", s->booster ? s->booster : "(none)");
	if (Param(s, KEY_NUM_TARGET) != NULL &&
		CountFromString(Param(s, KEY_NUM_TARGET), "num_target", 0, PG_INT32_MAX) != 1)
		CORRUPTED("It has %s targets.", Param(s, KEY_NUM_TARGET));
	if (num_feature != s->nfeatures)
		CORRUPTED("It has %d features, its transform %d.", num_feature, s->nfeatures);
	if (base_text == NULL)
		CORRUPTED("It has no base_score.");
	base = strtof(base_text, &end);
	if (end == base_text || *end != '\0' || !isfinite(base))
		CORRUPTED("Its base_score is \"%s\".", base_text);

	if (nclasses == 0 && strcmp(objective, "reg:squarederror") == 0)
	{
		f->transform = FOREST_IDENTITY;
		f->noutputs = 1;
		f->base_margin = base;
	}
	else if (nclasses == 2 && strcmp(objective, "binary:logistic") == 0)
	{
		f->transform = FOREST_SIGMOID;
		f->noutputs = 1;
		f->base_margin = -logf(1.0f / base - 1.0f);
	}
	else if (nclasses > 2 && strcmp(objective, "multi:softprob") == 0 && num_class == nclasses)
	{
		f->transform = FOREST_SOFTMAX;
		f->noutputs = nclasses;
		f->base_margin = base;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored XGBoost model does not match its metadata"),
				 errdetail("Its objective is \"%s\" with num_class %d, its metadata has %d classes.",
						   objective, num_class, nclasses)));

	if (CountFromString(s->num_trees, "num_trees", 0, PG_INT32_MAX) != s->ntrees ||
		s->tree_info.n != (Size) s->ntrees)
		CORRUPTED("It declares %s trees, has %d and %zu tree_info entries.",
				  s->num_trees, s->ntrees, s->tree_info.n);
}

/*
 * Build the ensemble of the events read into s (in the temporary context
 * tmp, deleted here) in result_cxt.
 */
static Forest *
CompileFinish(CompileState *s, MemoryContext result_cxt, MemoryContext tmp, int nfeatures,
			  int nclasses)
{
	Forest	   *f;
	int			depth = 0;

	CompileLearner(s, f = MemoryContextAllocZero(result_cxt, sizeof(Forest)), nclasses);

	MemoryContextSwitchTo(result_cxt);
	f->nfeatures = nfeatures;
	f->ntrees = s->ntrees;
	f->nnodes = s->nnodes;
	f->nodes = s->nodes ? repalloc_huge(s->nodes, sizeof(ForestNode) * Max(1, s->nnodes))
		: palloc(sizeof(ForestNode));
	f->covers = NULL;
	if (s->covers != NULL && !s->no_covers)
		f->covers = repalloc_huge(s->covers, sizeof(float) * Max(1, s->nnodes));
	else if (s->covers != NULL)
		pfree(s->covers);
	f->roots = palloc_extended(sizeof(int32) * Max(1, s->ntrees), MCXT_ALLOC_HUGE);
	f->outputs = palloc_extended(sizeof(int32) * Max(1, s->ntrees), MCXT_ALLOC_HUGE);
	f->steps = palloc0(sizeof(int32) * (s->ntrees / FOREST_LANES + 1));
	for (int t = 0; t < s->ntrees; t++)
	{
		double		g = s->tree_info.v[t];

		if (!(g >= 0 && g < f->noutputs && g == floor(g)))
			CORRUPTED("Tree %d adds to output %.0f of %d.", t, g, f->noutputs);
		f->roots[t] = s->roots[t];
		f->outputs[t] = (int32) g;
		f->steps[t / FOREST_LANES] = Max(f->steps[t / FOREST_LANES], s->depths[t]);
		depth = Max(depth, s->depths[t]);
	}
	ForestBuildBinned(f, depth);
	if (f->binned == NULL && ForestUseAvx512(f, depth))
		ForestBuildComplete(f, depth);
	f->rowstride = TYPEALIGN(FOREST_TABLE, nfeatures + 1);
	f->row = palloc0(sizeof(float) * f->rowstride);
	f->row[0] = NAN;
	f->margin = palloc(sizeof(float) * f->noutputs);
	if (f->binned != NULL)
	{
		f->rows = palloc0(sizeof(float) * f->rowstride * f->batch_rows);
		for (int r = 0; r < f->batch_rows; r++)
			f->rows[r * f->rowstride] = NAN;
		f->margins = palloc(sizeof(float) * f->noutputs * f->batch_rows);
		f->batch = palloc(sizeof(int) * f->batch_rows);
	}
	MemoryContextDelete(tmp);
	return f;
}

/*
 * Compile a model stored as libxgboost's UBJSON into an ensemble allocated
 * in CurrentMemoryContext.  nfeatures is the width of the featurized rows,
 * nclasses the classes (0 for regression); a model that disagrees with
 * them, or is malformed in any way predict depends on, is an ERROR (the
 * caller's error context names the model).
 */
Forest *
ForestFromXgboostUbjson(const char *data, size_t len, int nfeatures, int nclasses)
{
	MemoryContext result_cxt = CurrentMemoryContext;
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "mlops forest compile",
											  ALLOCSET_DEFAULT_SIZES);
	CompileState s = {0};
	UbjReader	r;

	s.nfeatures = nfeatures;
	s.result_cxt = result_cxt;
	r.buf = (const uint8 *) data;
	r.len = len;
	r.pos = 0;
	r.s = &s;

	MemoryContextSwitchTo(tmp);
	if (*ForestUbjTake(&r, 1) != '{')
		CORRUPTED("It does not start with a UBJSON object.");
	ForestUbjValue(&r, '{', 0);
	if (r.pos != r.len)
		CORRUPTED("Its UBJSON has %zu bytes after its end.", r.len - r.pos);
	return CompileFinish(&s, result_cxt, tmp, nfeatures, nclasses);
}

/*
 * Check that an XGBoost model given as a jsonb document (an import) is one
 * native inference compiles for nfeatures features and nclasses classes,
 * before libxgboost reads it: libxgboost trusts a tree's parents and its
 * categorical arrays, and a document that lies about them could crash the
 * backend.  A model that does not pass is an ERROR.
 */
void
ForestCheckXgboostJsonb(JsonbContainer *doc, int nfeatures, int nclasses)
{
	MemoryContext result_cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops forest check",
													 ALLOCSET_DEFAULT_SIZES);
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "mlops forest compile",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(tmp);
	CompileState s = {0};

	s.nfeatures = nfeatures;
	s.result_cxt = result_cxt;
	ForestJsonbEvents(&s, doc);
	(void) CompileFinish(&s, result_cxt, tmp, nfeatures, nclasses);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(result_cxt);
}
