/*-------------------------------------------------------------------------
 *
 * forest.c
 *	  Native evaluation of XGBoost tree ensembles.
 *
 * A model is compiled once, when a backend loads it, from the UBJSON that
 * libxgboost wrote at training (learner.gradient_booster.model.trees[]
 * with their left_children, right_children, split_indices,
 * split_conditions and default_left arrays; tree_info, the output of each
 * tree; the objective; base_score) into one array of 16-byte nodes.  Each
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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FOREST_AVX512
#define FOREST_AVX512_TARGET __attribute__((target("avx512f")))
#endif

#include "port/pg_bswap.h"
#include "utils/memutils.h"

#include "forest.h"

/*
 * The complete form: its deepest trees, its largest size relative to the
 * breadth-first nodes, and the row values one permute looks up
 */
#define FOREST_COMPLETE_MAX_DEPTH 10
#define FOREST_COMPLETE_MAX_GROWTH 4
#define FOREST_TABLE 32
#define FOREST_MAX_TABLES 2

/* groups of FOREST_LANES trees the AVX-512 walk steps together */
#define FOREST_AVX512_GROUPS 8

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
	KEY_SPLIT_TYPE
} ModelKey;

#define KEY_FIRST_ARRAY KEY_LEFT
#define NUM_TREE_ARRAYS (KEY_SPLIT_TYPE - KEY_LEFT + 1)

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

/* the kinds of scalar values */
typedef enum ScalarKind
{
	SCALAR_NUMBER,
	SCALAR_STRING,
	SCALAR_NULL
} ScalarKind;

/* a growing list of numbers */
typedef struct NumList
{
	double	   *v;
	Size		n;
	Size		cap;
} NumList;

/* the compiler's state while the reader streams the document */
typedef struct CompileState
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
	int			nnodes;
	Size		node_cap;
	int32	   *roots;
	int32	   *depths;
	int			ntrees;
	Size		root_cap;
} CompileState;

#define CORRUPTED(...) \
	ereport(ERROR, \
			(errcode(ERRCODE_DATA_CORRUPTED), \
			 errmsg("stored XGBoost model is corrupted"), \
			 errdetail(__VA_ARGS__)))

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
static void
PathPush(CompileState *s, ModelKey key)
{
	if (s->depth < MAX_PATH)
		s->path[s->depth] = key;
	s->depth++;
}

/*
 * An object member starts; remember its key.
 */
static void
CompileFieldStart(CompileState *s, const char *name, size_t len)
{
	ModelKey	key = KEY_OTHER;

	for (int i = 0; i < lengthof(model_keys); i++)
		if (strlen(model_keys[i].name) == len && memcmp(name, model_keys[i].name, len) == 0)
		{
			key = model_keys[i].key;
			break;
		}
	PathPush(s, key);
}

/*
 * An object member or array element ends.
 */
static void
CompilePop(CompileState *s)
{
	s->depth--;
}

/*
 * An object starts; a new tree clears the tree arrays.
 */
static void
CompileObjectStart(CompileState *s)
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
static void
CompileScalar(CompileState *s, ScalarKind kind, double num, const char *str, size_t len)
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
static void
CompileObjectEnd(CompileState *s)
{
	const NumList *a = s->arrays;
	const double *left = a[KEY_LEFT - KEY_FIRST_ARRAY].v;
	const double *right = a[KEY_RIGHT - KEY_FIRST_ARRAY].v;
	const double *feature = a[KEY_SPLIT_INDICES - KEY_FIRST_ARRAY].v;
	const double *cond = a[KEY_SPLIT_CONDITIONS - KEY_FIRST_ARRAY].v;
	const double *dleft = a[KEY_DEFAULT_LEFT - KEY_FIRST_ARRAY].v;
	const NumList *split_type = &a[KEY_SPLIT_TYPE - KEY_FIRST_ARRAY];
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
	for (int k = 0; k < NUM_TREE_ARRAYS; k++)
		if (a[k].n != nn && !(k == KEY_SPLIT_TYPE - KEY_FIRST_ARRAY && a[k].n == 0))
			CORRUPTED("Tree %d has %d nodes but %zu entries in %s.", tree, nn, a[k].n,
					  KeyName(KEY_FIRST_ARRAY + k));
	for (Size i = 0; i < split_type->n; i++)
		if (split_type->v[i] != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("stored XGBoost model uses categorical splits"),
					 errdetail("Native inference evaluates numeric splits only.")));

	if ((Size) base + nn > (Size) PG_INT32_MAX)
		CORRUPTED("Its trees have more than %d nodes.", PG_INT32_MAX);
	if ((Size) base + nn > s->node_cap)
	{
		s->node_cap = Max((Size) base + nn, s->node_cap * 2);
		s->nodes = s->nodes ? repalloc_huge(s->nodes, sizeof(ForestNode) * s->node_cap)
			: MemoryContextAllocHuge(s->result_cxt, sizeof(ForestNode) * s->node_cap);
	}
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

/* a position in a UBJSON document, and the compiler it feeds */
typedef struct UbjReader
{
	const uint8 *buf;
	size_t		len;
	size_t		pos;
	CompileState *s;
} UbjReader;

/* deepest nesting accepted (the model document needs 8) */
#define UBJ_MAX_DEPTH 64

/*
 * Take the next n bytes; running past the end is an error.
 */
static const uint8 *
UbjTake(UbjReader *r, size_t n)
{
	const uint8 *p;

	if (r->len - r->pos < n)
		CORRUPTED("Its UBJSON ends early at byte %zu of %zu.", r->pos, r->len);
	p = r->buf + r->pos;
	r->pos += n;
	return p;
}

/*
 * The payload size of a numeric or boolean marker; -1 for other markers.
 */
static int
UbjScalarSize(uint8 marker)
{
	switch (marker)
	{
		case 'T':
		case 'F':
			return 0;
		case 'i':
		case 'U':
		case 'C':
			return 1;
		case 'I':
			return 2;
		case 'l':
		case 'd':
			return 4;
		case 'L':
		case 'D':
			return 8;
		default:
			return -1;
	}
}

/*
 * A numeric or boolean value (big-endian, as UBJSON stores it) as a double.
 */
static double
UbjScalar(UbjReader *r, uint8 marker)
{
	const uint8 *p = UbjTake(r, UbjScalarSize(marker));
	uint16		u16;
	uint32		u32;
	uint64		u64;
	float		f;
	double		d;

	switch (marker)
	{
		case 'T':
			return 1;
		case 'F':
			return 0;
		case 'i':
			return (int8) p[0];
		case 'U':
		case 'C':
			return p[0];
		case 'I':
			memcpy(&u16, p, sizeof(u16));
			return (int16) pg_ntoh16(u16);
		case 'l':
			memcpy(&u32, p, sizeof(u32));
			return (int32) pg_ntoh32(u32);
		case 'L':
			memcpy(&u64, p, sizeof(u64));
			return (double) (int64) pg_ntoh64(u64);
		case 'd':
			memcpy(&u32, p, sizeof(u32));
			u32 = pg_ntoh32(u32);
			memcpy(&f, &u32, sizeof(f));
			return f;
		case 'D':
			memcpy(&u64, p, sizeof(u64));
			u64 = pg_ntoh64(u64);
			memcpy(&d, &u64, sizeof(d));
			return d;
	}
	elog(ERROR, "unexpected UBJSON marker %d", marker);
	pg_unreachable();
}

/*
 * A length or count: an integer marker and value, no larger than the bytes
 * left (every item takes at least one), so reading stays linear in the
 * document's size.
 */
static size_t
UbjCount(UbjReader *r)
{
	uint8		marker = *UbjTake(r, 1);
	double		v;

	if (marker != 'i' && marker != 'U' && marker != 'I' && marker != 'l' && marker != 'L')
		CORRUPTED("Its UBJSON has marker 0x%02x where a length belongs, at byte %zu.", marker, r->pos - 1);
	v = UbjScalar(r, marker);
	if (v < 0 || v > r->len - r->pos)
		CORRUPTED("Its UBJSON declares %.0f items at byte %zu, with %zu bytes left.", v, r->pos, r->len - r->pos);
	return (size_t) v;
}

static void UbjValue(UbjReader *r, uint8 marker, int depth);

/*
 * The items of an object or array whose opening marker was read: an
 * optional $type and #count header, then keyed or plain items up to the
 * count or the closing marker.
 */
static void
UbjContainer(UbjReader *r, bool object, int depth)
{
	uint8		type = 0;
	size_t		count = 0;
	bool		counted = false;
	uint8		next = *UbjTake(r, 1);

	if (next == '$')
	{
		type = *UbjTake(r, 1);
		if (*UbjTake(r, 1) != '#')
			CORRUPTED("Its UBJSON has a typed container without a count, at byte %zu.", r->pos - 1);
		next = '#';
	}
	if (next == '#')
	{
		count = UbjCount(r);
		counted = true;
	}
	else
		r->pos--;

	for (size_t i = 0; !counted || i < count; i++)
	{
		if (!counted)
		{
			if (*UbjTake(r, 1) == (object ? '}' : ']'))
				return;
			r->pos--;
		}
		if (object)
		{
			size_t		n = UbjCount(r);

			CompileFieldStart(r->s, (const char *) UbjTake(r, n), n);
		}
		else
			PathPush(r->s, KEY_ELEMENT);
		UbjValue(r, type != 0 ? type : *UbjTake(r, 1), depth + 1);
		CompilePop(r->s);
	}
}

/*
 * One value whose marker was read, fed to the compiler.
 */
static void
UbjValue(UbjReader *r, uint8 marker, int depth)
{
	size_t		n;

	if (depth > UBJ_MAX_DEPTH)
		CORRUPTED("Its UBJSON nests deeper than %d levels.", UBJ_MAX_DEPTH);
	switch (marker)
	{
		case '{':
			CompileObjectStart(r->s);
			UbjContainer(r, true, depth);
			CompileObjectEnd(r->s);
			break;
		case '[':
			UbjContainer(r, false, depth);
			break;
		case 'S':
		case 'H':
			n = UbjCount(r);
			CompileScalar(r->s, SCALAR_STRING, 0, (const char *) UbjTake(r, n), n);
			break;
		case 'Z':
			CompileScalar(r->s, SCALAR_NULL, 0, NULL, 0);
			break;
		default:
			if (UbjScalarSize(marker) < 0)
				CORRUPTED("Its UBJSON has an unknown marker 0x%02x at byte %zu.", marker, r->pos - 1);
			CompileScalar(r->s, SCALAR_NUMBER, UbjScalar(r, marker), NULL, 0);
			break;
	}
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
static bool
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
static void
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
	Forest	   *f = palloc0(sizeof(Forest));
	int			depth = 0;

	s.nfeatures = nfeatures;
	s.result_cxt = result_cxt;
	r.buf = (const uint8 *) data;
	r.len = len;
	r.pos = 0;
	r.s = &s;

	MemoryContextSwitchTo(tmp);
	if (*UbjTake(&r, 1) != '{')
		CORRUPTED("It does not start with a UBJSON object.");
	UbjValue(&r, '{', 0);
	if (r.pos != r.len)
		CORRUPTED("Its UBJSON has %zu bytes after its end.", r.len - r.pos);
	CompileLearner(&s, f, nclasses);

	MemoryContextSwitchTo(result_cxt);
	f->nfeatures = nfeatures;
	f->ntrees = s.ntrees;
	f->nnodes = s.nnodes;
	f->nodes = s.nodes ? repalloc_huge(s.nodes, sizeof(ForestNode) * Max(1, s.nnodes))
		: palloc(sizeof(ForestNode));
	f->roots = palloc_extended(sizeof(int32) * Max(1, s.ntrees), MCXT_ALLOC_HUGE);
	f->outputs = palloc_extended(sizeof(int32) * Max(1, s.ntrees), MCXT_ALLOC_HUGE);
	f->steps = palloc0(sizeof(int32) * (s.ntrees / FOREST_LANES + 1));
	for (int t = 0; t < s.ntrees; t++)
	{
		double		g = s.tree_info.v[t];

		if (!(g >= 0 && g < f->noutputs && g == floor(g)))
			CORRUPTED("Tree %d adds to output %.0f of %d.", t, g, f->noutputs);
		f->roots[t] = s.roots[t];
		f->outputs[t] = (int32) g;
		f->steps[t / FOREST_LANES] = Max(f->steps[t / FOREST_LANES], s.depths[t]);
		depth = Max(depth, s.depths[t]);
	}
	if (ForestUseAvx512(f, depth))
		ForestBuildComplete(f, depth);
	f->row = palloc0(sizeof(float) * TYPEALIGN(FOREST_TABLE, nfeatures + 1));
	f->row[0] = NAN;
	f->margin = palloc(sizeof(float) * f->noutputs);
	MemoryContextDelete(tmp);
	return f;
}

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
 * Score n row-major rows of f->nfeatures featurized values (NaN is
 * missing) into out, f->noutputs values per row: the regression value,
 * P(class 1) for binary:logistic, the class probabilities for
 * multi:softprob.  The values are libxgboost's float32 results.  With
 * "vector", rows without missing values take the AVX-512 walk when the
 * model has its complete form.
 */
void
ForestPredict(const Forest *f, const double *X, int n, bool vector, double *out)
{
	int			p = f->nfeatures;
	int			k = f->noutputs;
	float	   *x = f->row;
	float	   *margin = f->margin;

	for (int i = 0; i < n; i++)
	{
		const double *row = X + (size_t) i * p;
		bool		has_missing = false;

		for (int j = 0; j < p; j++)
		{
			x[j + 1] = (float) row[j];
			has_missing |= isnan(x[j + 1]);
		}
		for (int c = 0; c < k; c++)
			margin[c] = f->base_margin;
		if (has_missing)
			ForestSum(f, x, margin, true);
#ifdef FOREST_AVX512
		else if (vector && f->slots != NULL)
			ForestSumAvx512(f, x, margin);
#endif
		else
			ForestSum(f, x, margin, false);

		if (f->transform == FOREST_SIGMOID)
			margin[0] = ForestSigmoid(margin[0]);
		else if (f->transform == FOREST_SOFTMAX)
			ForestSoftmax(margin, k);
		for (int c = 0; c < k; c++)
			out[(size_t) i * k + c] = margin[c];
	}
}
