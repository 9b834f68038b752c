/*-------------------------------------------------------------------------
 *
 * stats_sort.c
 *	  Sorting, selection and quantiles of double arrays, and the ordering of
 *	  category counts, for the drift statistics and profiles.
 *
 * StatsSortDoubles is a radix sort on the bit patterns for large arrays
 * and a comparison sort for small ones; StatsSelectRanks is an
 * introselect that places only the order statistics asked for, which
 * StatsQuantiles uses to compute numpy.quantile's default linear
 * quantiles without sorting the whole sample.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "port/pg_bitutils.h"

#include "monitor/stats.h"

/*
 * StatsCompareSort(values, n): ascending comparison sort of doubles, for
 * the small arrays StatsSortDoubles leaves to it.
 */
#define ST_SORT StatsCompareSort
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) (*(a) < *(b) ? -1 : *(a) > *(b) ? 1 : 0)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* radix sort: bits per pass, and the smallest array it sorts */
#define STATS_RADIX_BITS			8
#define STATS_RADIX_MIN				4096

/* selection: parts this small are sorted; parts this large take a ninther */
#define STATS_SELECT_SMALL			16
#define STATS_SELECT_NINTHER		128

/*
 * qsort comparator of StatsSortCounts.
 */
static int
StatsCompareCounts(const void *a, const void *b)
{
	const StatsCount *x = a;
	const StatsCount *y = b;

	if (x->count != y->count)
		return (x->count < y->count) ? 1 : -1;
	return strcmp(x->text, y->text);
}

/*
 * Sort categories most frequent first, ties by text.
 */
void
StatsSortCounts(StatsCount *counts, int n)
{
	qsort(counts, n, sizeof(StatsCount), StatsCompareCounts);
}

/*
 * Sort n finite doubles ascending, in place.  Samples and columns run to
 * millions of values, where a least-significant-digit radix sort on the bit
 * patterns (STATS_RADIX_BITS per pass, passes on which every value has the
 * same digit skipped) is several times faster than a comparison sort, which
 * takes the small arrays.  The bit patterns are mapped so that unsigned
 * order is numeric order: negative numbers have all bits flipped, the
 * others only the sign bit.
 */
void
StatsSortDoubles(double *values, size_t n)
{
	double	   *tmp;
	uint64	   *src;
	uint64	   *dst;
	Size	   *counts;
	int			npasses = (64 + STATS_RADIX_BITS - 1) / STATS_RADIX_BITS;
	int			radix = 1 << STATS_RADIX_BITS;

	if (n < STATS_RADIX_MIN)
	{
		StatsCompareSort(values, n);
		return;
	}
	tmp = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);

	StaticAssertStmt(sizeof(double) == sizeof(uint64), "doubles must have 64 bits");
	src = (uint64 *) values;
	dst = (uint64 *) tmp;
	counts = palloc0(sizeof(Size) * npasses * radix);

	/* map to unsigned order and count every digit, in one pass */
	for (size_t i = 0; i < n; i++)
	{
		uint64		u = src[i];

		u ^= (u >> 63) ? ~UINT64CONST(0) : (UINT64CONST(1) << 63);
		src[i] = u;
		for (int p = 0; p < npasses; p++)
			counts[p * radix + ((u >> (p * STATS_RADIX_BITS)) & (radix - 1))]++;
	}

	for (int p = 0; p < npasses; p++)
	{
		Size	   *c = counts + p * radix;
		int			shift = p * STATS_RADIX_BITS;
		Size		sum = 0;
		uint64	   *t;

		CHECK_FOR_INTERRUPTS();
		if (c[(src[0] >> shift) & (radix - 1)] == (Size) n)
			continue;			/* one digit for all: nothing moves */
		for (int d = 0; d < radix; d++)
		{
			Size		k = c[d];

			c[d] = sum;
			sum += k;
		}
		for (size_t i = 0; i < n; i++)
			dst[c[(src[i] >> shift) & (radix - 1)]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}

	/* back to doubles, into the caller's array */
	for (size_t i = 0; i < n; i++)
	{
		uint64		u = src[i];

		u ^= (u >> 63) ? (UINT64CONST(1) << 63) : ~UINT64CONST(0);
		((uint64 *) values)[i] = u;
	}
	pfree(counts);
	pfree(tmp);
}

/*
 * Index of the median of v[a], v[b] and v[c].
 */
static inline size_t
StatsMedianOf3(const double *v, size_t a, size_t b, size_t c)
{
	if (v[a] < v[b])
		return (v[b] < v[c]) ? b : (v[a] < v[c]) ? c : a;
	return (v[b] > v[c]) ? b : (v[a] > v[c]) ? c : a;
}

/*
 * Index of the pivot of a selection's part of n values: the median of the
 * first, middle and last values, or for a large part Tukey's ninther (the
 * median of three such medians), as PostgreSQL's qsort chooses.
 */
static size_t
StatsPivot(const double *v, size_t n)
{
	size_t		mid = n / 2;
	size_t		s;

	if (n < STATS_SELECT_NINTHER)
		return StatsMedianOf3(v, 0, mid, n - 1);
	s = n / 8;
	return StatsMedianOf3(v,
						  StatsMedianOf3(v, 0, s, 2 * s),
						  StatsMedianOf3(v, mid - s, mid, mid + s),
						  StatsMedianOf3(v, n - 1 - 2 * s, n - 1 - s, n - 1));
}

/*
 * Three-way partition of n values around v[pivot]'s value p: on return
 * v[0 .. *lt - 1] < p, v[*lt .. *gt - 1] == p and v[*gt .. n - 1] > p.  The
 * loops move values without branching on the comparison (a branch on
 * random data is mispredicted half the time); the values equal to p take a
 * second pass over the upper part only when there are others than the
 * pivot itself.
 */
static void
StatsPartition(double *v, size_t n, size_t pivot, size_t *lt, size_t *gt)
{
	double		p = v[pivot];
	size_t		less = 1;		/* v[1 .. less - 1] < p */
	size_t		equal;
	size_t		duplicates = 0;

	v[pivot] = v[0];
	v[0] = p;
	for (size_t i = 1; i < n; i++)
	{
		double		x = v[i];

		v[i] = v[less];
		v[less] = x;
		less += (x < p);
		duplicates += (x == p);
	}
	v[0] = v[less - 1];
	v[less - 1] = p;

	/* v[less .. n - 1] >= p: move the values equal to p to its front */
	equal = less;
	if (duplicates > 0)
	{
		for (size_t i = less; i < n; i++)
		{
			double		x = v[i];

			v[i] = v[equal];
			v[equal] = x;
			equal += (x == p);
		}
	}
	*lt = less - 1;
	*gt = equal;
}

/*
 * Select the ascending ranks ranks[0 .. nranks - 1], all in [lo, hi), in
 * values[lo .. hi - 1]: introselect, partitioning around a pivot and going
 * on only into the parts that hold wanted ranks.  A small part is sorted,
 * and so is a part still unresolved after depth partitions, which bounds
 * the worst case by that of the sort.
 */
static void
StatsSelectPart(double *values, size_t lo, size_t hi, const size_t *ranks,
				int nranks, int depth)
{
	while (nranks > 0)
	{
		size_t		lt,
					gt;
		int			nlower = 0,
					nupper;

		CHECK_FOR_INTERRUPTS();
		if (hi - lo <= STATS_SELECT_SMALL || depth-- == 0)
		{
			StatsSortDoubles(values + lo, hi - lo);
			return;
		}
		StatsPartition(values + lo, hi - lo, StatsPivot(values + lo, hi - lo), &lt, &gt);
		lt += lo;
		gt += lo;

		/* ranks in [lt, gt) hold the pivot's value: they are done */
		while (nlower < nranks && ranks[nlower] < lt)
			nlower++;
		nupper = nlower;
		while (nupper < nranks && ranks[nupper] < gt)
			nupper++;
		StatsSelectPart(values, lo, lt, ranks, nlower, depth);
		lo = gt;
		ranks += nupper;
		nranks -= nupper;
	}
}

/*
 * Rearrange n finite values so that values[r] is the value the sort would
 * put there for each of the nranks ascending ranks r (0-based), in
 * O(n log nranks) expected time instead of a sort's O(n log n).  Values
 * compare with < and ==, so -0.0 and 0.0 are one value as in numpy.partition
 * (and StatsCompareSort): a selected zero may have either sign.
 */
void
StatsSelectRanks(double *values, size_t n, const size_t *ranks, int nranks)
{
#ifdef USE_ASSERT_CHECKING
	for (int i = 0; i < nranks; i++)
		Assert(ranks[i] < n && (i == 0 || ranks[i - 1] <= ranks[i]));
#endif
	if (n > 1)
		StatsSelectPart(values, 0, n, ranks, nranks, 2 * pg_leftmost_one_pos64(n));
}

/*
 * Rank of the lower of the two order statistics the linear quantile q of n
 * values interpolates between (numpy's virtual index (n - 1) q, rounded
 * down).
 */
int
StatsQuantileRank(int n, double q)
{
	return (int) floor((double) (n - 1) * q);
}

/*
 * Select the order statistics the linear quantiles q[0 .. nq - 1]
 * (ascending, in [0, 1]) of n values read: for each, the rank
 * StatsQuantileRank gives and the next one, when there is one.
 */
static void
StatsSelectQuantiles(double *values, int n, const double *q, int nq)
{
	size_t	   *ranks = palloc(sizeof(size_t) * 2 * Max(1, nq));
	int			nranks = 0;

	for (int i = 0; i < nq; i++)
	{
		int			lo = StatsQuantileRank(n, q[i]);

		/* ranks repeat when quantiles are closer than 1 / (n - 1) */
		for (int r = lo; r <= lo + 1 && r < n; r++)
			if (nranks == 0 || (size_t) r > ranks[nranks - 1])
				ranks[nranks++] = r;
	}
	StatsSelectRanks(values, n, ranks, nranks);
	pfree(ranks);
}

/*
 * The linear quantile q of n values from its order statistics: a at rank
 * StatsQuantileRank(n, q), b at the next rank (any value when there is
 * none).  numpy.quantile's interpolation formula, from the upper neighbour
 * when the fraction is at least one half.
 */
double
StatsQuantileValue(int n, double q, double a, double b)
{
	double		vi = (double) (n - 1) * q;
	double		gamma;
	double		diff;

	if (vi >= (double) (n - 1))
		return a;
	gamma = vi - (double) StatsQuantileRank(n, q);
	diff = b - a;
	return (gamma >= 0.5) ? b - diff * (1.0 - gamma) : a + diff * gamma;
}

/*
 * Quantiles q[0 .. nq - 1] of n values, numpy.quantile's linear method
 * (StatsQuantileValue).  Rearranges values.
 */
void
StatsQuantiles(double *values, int n, const double *q, int nq, double *out)
{
	Assert(n > 0);

	StatsSelectQuantiles(values, n, q, nq);
	for (int i = 0; i < nq; i++)
	{
		int			lo = Min(StatsQuantileRank(n, q[i]), n - 1);

		out[i] = StatsQuantileValue(n, q[i], values[lo], values[Min(lo + 1, n - 1)]);
	}
}

/*
 * The value of rank r (0-based) of n values given as their ndistinct
 * distinct values, ascending, and the count of each.
 */
static double
StatsCountedRank(const double *distinct, const int64 *counts, int ndistinct, int64 r)
{
	for (int d = 0; d < ndistinct - 1; d++)
	{
		if (r < counts[d])
			return distinct[d];
		r -= counts[d];
	}
	return distinct[ndistinct - 1];
}

/*
 * StatsQuantiles of n values given as their ndistinct distinct values,
 * ascending, and the count of each: the same quantiles, bit for bit.
 */
void
StatsQuantilesCounted(const double *distinct, const int64 *counts, int ndistinct, int n,
					  const double *q, int nq, double *out)
{
	Assert(n > 0 && ndistinct > 0);

	for (int i = 0; i < nq; i++)
	{
		int			lo = Min(StatsQuantileRank(n, q[i]), n - 1);

		out[i] = StatsQuantileValue(n, q[i], StatsCountedRank(distinct, counts, ndistinct, lo),
								  StatsCountedRank(distinct, counts, ndistinct, Min(lo + 1, n - 1)));
	}
}
