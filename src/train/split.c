/*-------------------------------------------------------------------------
 *
 * split.c
 *	  Deterministic train/test splits.
 *
 * The number of held-out rows is ceil(test_size * n), as scikit-learn's
 * train_test_split computes it.  Shuffles use PostgreSQL's own PRNG seeded
 * with the user's seed, so the same rows in the same order with the same
 * seed give the same split on every platform.  Both halves are returned in
 * row order, so a model always sees its training rows in relation order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "train/split.h"

static const char *const split_names[] = {
	[SPLIT_RANDOM] = "random",
	[SPLIT_STRATIFIED] = "stratified",
	[SPLIT_LAST] = "last",
};

/*
 * Parse a split name.
 */
SplitKind
SplitKindFromName(const char *name)
{
	for (int i = 0; i < lengthof(split_names); i++)
		if (strcmp(name, split_names[i]) == 0)
			return (SplitKind) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown split \"%s\"", name),
			 errhint("Valid splits are \"random\", \"stratified\" and \"last\".")));
	pg_unreachable();
}

/*
 * Name of a split kind.
 */
const char *
SplitKindName(SplitKind kind)
{
	return split_names[kind];
}

/*
 * qsort comparator for row numbers.
 */
static int
CompareInt(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x > y) - (x < y);
}

/*
 * Fisher-Yates shuffle of n ints.
 */
static void
Shuffle(int *a, int n, pg_prng_state *rng)
{
	for (int i = n - 1; i > 0; i--)
	{
		int			j = (int) pg_prng_uint64_range(rng, 0, i);
		int			t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

/*
 * Choose held-out rows per class in proportion to the class sizes (largest
 * remainder), keeping at least one training row of every class that has
 * two rows or more.
 */
static void
StratifiedTest(const Dataset *ds, int ntest, pg_prng_state *rng, bool *is_test)
{
	int			k = ds->nclasses;
	int		   *count = palloc0(sizeof(int) * k);
	int		   *take = palloc0(sizeof(int) * k);
	double	   *rem = palloc(sizeof(double) * k);
	int			assigned = 0;

	for (int i = 0; i < ds->nrows; i++)
		count[(int) ds->target[i]]++;
	for (int c = 0; c < k; c++)
	{
		double		exact = (double) count[c] * ntest / ds->nrows;

		take[c] = (int) floor(exact);
		rem[c] = exact - take[c];
		assigned += take[c];
	}
	while (assigned < ntest)
	{
		int			best = -1;

		for (int c = 0; c < k; c++)
			if (take[c] < count[c] && (best < 0 || rem[c] > rem[best]))
				best = c;
		if (best < 0)
			break;
		take[best]++;
		rem[best] = -1.0;
		assigned++;
	}
	for (int c = 0; c < k; c++)
	{
		int		   *members = palloc_extended(sizeof(int) * Max(1, count[c]), MCXT_ALLOC_HUGE);
		int			m = 0;

		if (count[c] >= 2 && take[c] >= count[c])
			take[c] = count[c] - 1;
		for (int i = 0; i < ds->nrows; i++)
			if ((int) ds->target[i] == c)
				members[m++] = i;
		Shuffle(members, m, rng);
		for (int i = 0; i < take[c]; i++)
			is_test[members[i]] = true;
		pfree(members);
	}
}

/*
 * The number of held-out rows of n rows, or an error when too few rows
 * are left to train on.
 */
static int
SplitTestCount(int n, double test_size)
{
	int			ntest = (int) ceil(test_size * n);

	if (ntest >= n || (test_size > 0 && n < 2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too few rows to split: %d rows with test_size %g", n, test_size),
				 errhint("Training needs at least one row and the held-out set at least one more; use test_size => 0 to train on every row.")));
	return ntest;
}

/*
 * The rows a Fisher-Yates shuffle moves into positions ntest .. i - 1 while
 * it runs (an open-addressing map from position to row, linear probing,
 * backward-shift deletion): the random split keeps only these and the
 * first ntest positions, not a permutation of every row.
 */
typedef struct MovedRows
{
	uint32	   *keys;			/* position + 1; 0 = empty */
	int32	   *rows;
	uint32		mask;
	int64		count;
} MovedRows;

/*
 * Allocate a map of 2^k slots, at least "slots".
 */
static void
MovedInit(MovedRows *m, int64 slots)
{
	int64		cap = 1024;

	while (cap < slots)
		cap *= 2;
	m->keys = palloc_extended(sizeof(uint32) * cap, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	m->rows = palloc_extended(sizeof(int32) * cap, MCXT_ALLOC_HUGE);
	m->mask = (uint32) (cap - 1);
	m->count = 0;
}

/*
 * The slot of position pos, or of the empty slot where it would go.
 */
static inline uint32
MovedSlot(const MovedRows *m, uint32 pos)
{
	uint32		s = murmurhash32(pos) & m->mask;

	while (m->keys[s] != 0 && m->keys[s] != pos + 1)
		s = (s + 1) & m->mask;
	return s;
}

/*
 * Set the row at position pos, growing the map past three quarters full.
 */
static void
MovedSet(MovedRows *m, uint32 pos, int32 row)
{
	uint32		s;

	if (m->count + 1 > (int64) (m->mask + 1) / 4 * 3)
	{
		MovedRows old = *m;

		MovedInit(m, (int64) (old.mask + 1) * 2);
		for (uint32 t = 0; t <= old.mask; t++)
			if (old.keys[t] != 0)
				MovedSet(m, old.keys[t] - 1, old.rows[t]);
		pfree(old.keys);
		pfree(old.rows);
	}
	s = MovedSlot(m, pos);
	if (m->keys[s] == 0)
		m->count++;
	m->keys[s] = pos + 1;
	m->rows[s] = row;
}

/*
 * The row at position pos (pos itself when nothing moved there), which
 * leaves the map.
 */
static int32
MovedTake(MovedRows *m, uint32 pos)
{
	uint32		s = MovedSlot(m, pos);
	int32		row;

	if (m->keys[s] == 0)
		return (int32) pos;
	row = m->rows[s];
	m->count--;
	/* backward-shift deletion: close the gap the probe sequence needs */
	for (;;)
	{
		uint32		t = s;

		m->keys[s] = 0;
		for (;;)
		{
			uint32		home;

			t = (t + 1) & m->mask;
			if (m->keys[t] == 0)
				return row;
			home = murmurhash32(m->keys[t] - 1) & m->mask;
			/* move t's entry to s unless its home lies cyclically in (s, t] */
			if (s <= t ? (home <= s || home > t) : (home <= s && home > t))
				break;
		}
		m->keys[s] = m->keys[t];
		m->rows[s] = m->rows[t];
		s = t;
	}
}

/*
 * The held-out rows of a random split of n rows: those a Fisher-Yates
 * shuffle of the row numbers (Shuffle's, with the same draws) leaves in
 * its first ntest positions, in no order.  The shuffle stops once position
 * ntest is placed (the steps below only reorder the first ntest); it
 * keeps those positions and a map of the rows it moved into the positions
 * it has not placed yet, which holds at most about (n - ntest)^2 / 4n
 * rows, so it takes 4 ntest bytes plus about 3 (n - ntest)^2 / n bytes
 * (52 MB for 20M rows with test_size 0.25, where a permutation of every
 * row takes 80 MB).
 */
static int *
SplitHeldOutRows(int n, int ntest, pg_prng_state *rng)
{
	int		   *held = palloc_extended(sizeof(int) * Max(1, ntest), MCXT_ALLOC_HUGE);
	MovedRows	moved;

	for (int p = 0; p < ntest; p++)
		held[p] = p;
	MovedInit(&moved, (int64) ((double) (n - ntest) * (n - ntest) / (4.0 * n) / 0.7));
	for (int i = n - 1; i >= ntest && i > 0; i--)
	{
		int			j = (int) pg_prng_uint64_range(rng, 0, i);
		int32		row = MovedTake(&moved, (uint32) i);

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		/* row moves to j; the row at j is placed at i, a training row */
		if (j == i)
			continue;
		if (j < ntest)
			held[j] = row;
		else
			MovedSet(&moved, (uint32) j, row);
	}
	pfree(moved.keys);
	pfree(moved.rows);
	return held;
}

/*
 * The random split of n rows as a bitmap (bit i of byte i / 8 set for a
 * held-out row): the same rows SplitRows holds out, for a caller that
 * reads the rows in blocks instead of holding them.  SplitHeldOutRows
 * says what the shuffle takes while it runs; the bitmap takes n / 8
 * bytes.  *ntest receives the number of held-out rows.
 */
uint8 *
SplitRandomBitmap(int n, double test_size, int seed, int *ntest)
{
	uint8	   *bits = palloc_extended(Max(1, (n + 7) / 8), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	pg_prng_state rng;

	*ntest = SplitTestCount(n, test_size);
	pg_prng_seed(&rng, (uint64) (int64) seed);
	if (*ntest > 0)
	{
		int		   *held = SplitHeldOutRows(n, *ntest, &rng);

		for (int i = 0; i < *ntest; i++)
			bits[held[i] / 8] |= (uint8) (1 << (held[i] % 8));
		pfree(held);
	}
	return bits;
}

/*
 * Split the rows of a dataset into training and held-out rows.
 */
Split *
SplitRows(const Dataset *ds, SplitKind kind, double test_size, int seed)
{
	Split	   *s = palloc0(sizeof(Split));
	int			n = ds->nrows;
	int			ntest = SplitTestCount(n, test_size);
	bool	   *is_test = palloc_extended(sizeof(bool) * Max(1, n), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	pg_prng_state rng;

	pg_prng_seed(&rng, (uint64) (int64) seed);
	if (ntest > 0)
	{
		if (kind == SPLIT_LAST)
		{
			for (int i = n - ntest; i < n; i++)
				is_test[i] = true;
		}
		else if (kind == SPLIT_STRATIFIED && ds->nclasses > 0)
			StratifiedTest(ds, ntest, &rng, is_test);
		else
		{
			int		   *held = SplitHeldOutRows(n, ntest, &rng);

			for (int i = 0; i < ntest; i++)
				is_test[held[i]] = true;
			pfree(held);
		}
	}

	s->train = palloc_extended(sizeof(int) * Max(1, n), MCXT_ALLOC_HUGE);
	s->test = palloc_extended(sizeof(int) * Max(1, n), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
	{
		if (is_test[i])
			s->test[s->ntest++] = i;
		else
			s->train[s->ntrain++] = i;
	}
	pfree(is_test);
	return s;
}

/*
 * Move a seeded random fraction (at least one row) of "rows" into "held"
 * (for early stopping); both stay in row order.
 */
void
SplitHoldOut(int *rows, int *nrows, int **held, int *nheld, double fraction, int seed)
{
	int			n = *nrows;
	int			nh = Max(1, (int) ceil(fraction * n));
	int		   *perm = palloc_extended(sizeof(int) * n, MCXT_ALLOC_HUGE);
	pg_prng_state rng;
	int			kept = 0;

	if (nh >= n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too few training rows for early stopping: %d", n)));
	memcpy(perm, rows, sizeof(int) * n);
	pg_prng_seed(&rng, (uint64) (int64) seed ^ UINT64CONST(0x9e3779b97f4a7c15));
	Shuffle(perm, n, &rng);
	*held = palloc_extended(sizeof(int) * nh, MCXT_ALLOC_HUGE);
	memcpy(*held, perm, sizeof(int) * nh);
	qsort(*held, nh, sizeof(int), CompareInt);
	qsort(perm + nh, n - nh, sizeof(int), CompareInt);
	for (int i = nh; i < n; i++)
		rows[kept++] = perm[i];
	*nrows = kept;
	*nheld = nh;
	pfree(perm);
}
