/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Generic two-sample drift statistics: Kolmogorov-Smirnov, Wasserstein,
 *	  population stability index, Jensen-Shannon and chi-square.
 *
 * Each statistic has a numerical core on C double arrays (exported in
 * stats.h for the drift module) and a thin SQL wrapper.  The cores follow
 * SciPy 1.10 and NumPy 1.24 operation by operation where that decides the
 * result (bin edges, the KS statistic and its exact p-value), so the
 * regression tests can compare them with the Python reference tightly.
 *
 *	- ks_test: scipy.stats.ks_2samp(ref, cur), method 'auto'.  The statistic
 *	  is the largest gap between the two empirical CDFs, evaluated at every
 *	  sample value.  When both samples have at most 10000 values the
 *	  p-value is exact: Hodges' lattice-path count, Viehmann's "inside"
 *	  recursion for unequal sizes and the alternating binomial series for
 *	  equal ones, with the statistic rounded to a multiple of 1/lcm(n1, n2)
 *	  first.  Otherwise, or when the exact value falls outside [0, 1], it is
 *	  the survival function of the one-sample Kolmogorov distribution
 *	  (scipy.stats.kstwo) at n = round(n1 n2 / (n1 + n2)), computed as SciPy
 *	  does (Simard and L'Ecuyer's choice among the Ruben-Gambino formulas,
 *	  Durbin's matrix, Pomeranz's recursion, Pelz-Good's series and twice
 *	  the one-sided Smirnov tail).
 *	- wasserstein: the area between the two empirical CDFs.
 *	- psi and jensen_shannon: the reference is cut into `bins`
 *	  equal-frequency bins whose interior edges are numpy.quantile(ref,
 *	  k / bins), k = 1 .. bins - 1 (linear interpolation); the outer bins
 *	  are open.  A value equal to an edge belongs to the bin on its right,
 *	  i.e. bin index = numpy.searchsorted(edges, x, side='right'), which is
 *	  also numpy.digitize and numpy.histogram's half-open [lo, hi) rule.
 *	  Ties in the reference give repeated edges and hence bins that stay
 *	  empty; they are kept, as NumPy would keep them.  PSI is
 *	  sum((c - r) ln(c / r)) over bin proportions, a zero proportion being
 *	  replaced by 0.0001.  Jensen-Shannon is
 *	  scipy.spatial.distance.jensenshannon(r, c, base=2) on the raw
 *	  proportions: no replacement there, since 0 ln 0 = 0 keeps it finite.
 *	- chi2_test: scipy.stats.chi2_contingency(table, correction=False) on
 *	  the 2 x k table of counts over the union of categories.  Categories
 *	  are equal when their bytes are (no collation); they are grouped by
 *	  sorting.  A single category gives statistic 0, p-value 1 and dof 0,
 *	  as SciPy does.  The p-value is the regularized upper incomplete gamma
 *	  function, by series or continued fraction.
 *
 * SQL conventions: NULL elements are skipped, NaN and infinities are
 * errors, and arrays of any shape are read as flat lists of values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"

#include "stats.h"

/* Scaling factors of the Durbin and Pomeranz recursions (as SciPy's) */
#define STATS_SCALE_EXPONENT	128
#define STATS_SCALE_UP			ldexp(1.0, STATS_SCALE_EXPONENT)
#define STATS_SCALE_DOWN		ldexp(1.0, -STATS_SCALE_EXPONENT)

/* One non-NULL element of a text[] argument of chi2_test */
typedef struct StatsCategory
{
	const char *data;
	int			len;
	bool		current;		/* from the current sample, not the reference */
} StatsCategory;

static int	StatsCompareCategories(const StatsCategory *a, const StatsCategory *b);

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
static inline int
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
 * Quantiles q[0 .. nq - 1] of n values, numpy.quantile's linear method
 * with its interpolation formula (from the upper neighbour when the
 * fraction is at least one half).  Rearranges values.
 */
void
StatsQuantiles(double *values, int n, const double *q, int nq, double *out)
{
	Assert(n > 0);

	StatsSelectQuantiles(values, n, q, nq);
	for (int i = 0; i < nq; i++)
	{
		double		vi = (double) (n - 1) * q[i];

		if (vi >= (double) (n - 1))
			out[i] = values[n - 1];
		else
		{
			int			lo = StatsQuantileRank(n, q[i]);
			double		gamma = vi - (double) lo;
			double		a = values[lo];
			double		b = values[lo + 1];
			double		diff = b - a;

			out[i] = (gamma >= 0.5) ? b - diff * (1.0 - gamma) : a + diff * gamma;
		}
	}
}

/*
 * StatsSortCategories(cats, n): sort categories by their bytes, so equal
 * ones end up next to each other.
 */
#define ST_SORT StatsSortCategories
#define ST_ELEMENT_TYPE StatsCategory
#define ST_COMPARE(a, b) StatsCompareCategories(a, b)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

PG_FUNCTION_INFO_V1(mlops_ks_test);
PG_FUNCTION_INFO_V1(mlops_wasserstein);
PG_FUNCTION_INFO_V1(mlops_psi);
PG_FUNCTION_INFO_V1(mlops_jensen_shannon);
PG_FUNCTION_INFO_V1(mlops_chi2_test);

/*
 * Clip a probability to [0, 1] (NaN stays NaN).
 */
static inline double
StatsClip(double p)
{
	if (p < 0.0)
		return 0.0;
	if (p > 1.0)
		return 1.0;
	return p;
}

/*
 * Greatest common divisor of two positive integers.
 */
static int64
StatsGcd(int64 a, int64 b)
{
	while (b != 0)
	{
		int64		r = a % b;

		a = b;
		b = r;
	}
	return a;
}

/*
 * Order two categories by their bytes, a proper prefix first.
 */
static int
StatsCompareCategories(const StatsCategory *a, const StatsCategory *b)
{
	int			cmp = memcmp(a->data, b->data, Min(a->len, b->len));

	if (cmp != 0)
		return cmp;
	return (a->len > b->len) - (a->len < b->len);
}

/*
 * Exact Pr(D >= h / n) of the two-sample KS statistic for two samples of
 * size n (SciPy's _compute_prob_outside_square): the alternating series
 * 2 (A0 - A0 A1 + A0 A1 A2 - ...) of ratios of binomial coefficients,
 * evaluated Horner-fashion from the innermost term.
 */
static double
StatsKsProbOutsideSquare(int64 n, int64 h)
{
	double		p = 0.0;

	for (int64 k = n / h; k >= 0; k--)
	{
		double		p1 = 1.0;

		for (int64 j = 0; j < h; j++)
			p1 = (double) (n - k * h - j) * p1 / (double) (n + k * h + j + 1);
		p = p1 * (1.0 - p);
	}
	return 2.0 * p;
}

/*
 * Exact Pr(D >= h / lcm(m, n)) of the two-sample KS statistic for sample
 * sizes m and n with gcd g (SciPy's _compute_outer_prob_inside_method):
 * the share of lattice paths from (0, 0) to (m, n) that leave the band
 * |x / m - y / n| < h / lcm(m, n), computed column by column over a
 * sliding window as one minus the share that stays inside (Viehmann's
 * recursion, which needs no scaling).
 */
static double
StatsKsProbOutsideInside(int64 m, int64 n, int64 g, int64 h)
{
	int64		mg,
				ng,
				minj,
				maxj,
				curlen,
				lena;
	double	   *col;
	double		result;

	if (m < n)
	{
		int64		t = m;

		m = n;
		n = t;
	}
	mg = m / g;
	ng = n / g;

	minj = 0;
	maxj = Min((int64) ceil((double) h / (double) mg), n + 1);
	curlen = maxj - minj;
	lena = Min(2 * maxj + 2, n + 1);
	col = palloc(lena * sizeof(double));
	for (int64 j = 0; j < lena; j++)
		col[j] = (j < maxj) ? 0.0 : 1.0;

	for (int64 i = 1; i <= m; i++)
	{
		int64		lastminj = minj;
		int64		lastlen = curlen;
		double		val;

		CHECK_FOR_INTERRUPTS();

		minj = Max((int64) floor((double) (ng * i - h) / (double) mg) + 1, 0);
		minj = Min(minj, n);
		maxj = Min((int64) ceil((double) (ng * i + h) / (double) mg), n + 1);
		if (maxj <= minj)
		{
			pfree(col);
			return 1.0;
		}

		val = (minj == 0) ? 0.0 : 1.0;
		for (int64 jj = 0; jj < maxj - minj; jj++)
		{
			int64		j = jj + minj;

			Assert(jj + minj - lastminj < lena);
			val = (col[jj + minj - lastminj] * (double) i + val * (double) j) / (double) (i + j);
			col[jj] = val;
		}
		curlen = maxj - minj;
		for (int64 jj = curlen; jj < Min(lastlen, lena); jj++)
			col[jj] = 1.0;
	}

	result = col[maxj - minj - 1];
	pfree(col);
	return result;
}

/*
 * Exact two-sided p-value of the KS statistic d for sample sizes n1 and n2
 * (SciPy's _attempt_exact_2kssamp).  d is first rounded to the nearest
 * multiple of 1 / lcm(n1, n2) and stored back.  Returns false when the
 * computed probability is not within [0, 1].
 */
static bool
StatsKsExactPvalue(int64 n1, int64 n2, double *d, double *pvalue)
{
	int64		g = StatsGcd(n1, n2);
	int64		lcm = (n1 / g) * n2;
	int64		h = (int64) rint(*d * (double) lcm);
	double		p;

	*d = (double) h / (double) lcm;
	if (h == 0)
	{
		*pvalue = 1.0;
		return true;
	}
	if (n1 == n2)
		p = StatsKsProbOutsideSquare(n1, h);
	else
		p = StatsKsProbOutsideInside(n1, n2, g, h);
	if (!(p >= 0.0 && p <= 1.0))
		return false;
	*pvalue = p;
	return true;
}

/*
 * log(n! / n^n) by Stirling's series, without forming n log n (SciPy's
 * _log_nfactorial_div_n_pow_n).
 */
static double
StatsLogFactorialOverPower(double n)
{
	static const double coeffs[] = {
		-2.955065359477124183e-2, 6.4102564102564102564e-3,
		-1.9175269175269175269e-3, 8.4175084175084175084e-4,
		-5.952380952380952381e-4, 7.9365079365079365079e-4,
		-2.7777777777777777778e-3, 8.3333333333333333333e-2
	};
	double		rn = 1.0 / n;
	double		y = rn / n;
	double		poly = 0.0;

	for (size_t i = 0; i < lengthof(coeffs); i++)
		poly = poly * y + coeffs[i];
	return log(n) / 2.0 - n + log(2.0 * M_PI) / 2.0 + rn * poly;
}

/*
 * Upper tail of the one-sided one-sample KS statistic, Pr(D+_n >= x), by
 * the Smirnov / Birnbaum-Tingey sum with each term formed in logarithms.
 */
static double
StatsSmirnovSf(int64 n, double x)
{
	double		dn = (double) n;
	double		lgn1;
	int64		last;
	double		p = 0.0;

	if (x <= 0.0)
		return 1.0;
	if (x >= 1.0)
		return 0.0;

	lgn1 = lgamma(dn + 1.0);
	last = (int64) floor(dn * (1.0 - x));
	for (int64 v = 0; v <= last; v++)
	{
		double		evn = x + (double) v / dn;
		double		t;

		CHECK_FOR_INTERRUPTS();
		if (evn >= 1.0)
			break;
		t = lgn1 - lgamma((double) v + 1.0) - lgamma(dn - (double) v + 1.0)
			+ (double) (v - 1) * log(evn) + (dn - (double) v) * log1p(-evn);
		if (t > -745.0)
			p += exp(t);
	}
	return p * x;
}

/*
 * C = A B for m x m row-major matrices of long doubles.
 */
static void
StatsMatMul(const long double *a, const long double *b, long double *c, int m)
{
	for (int i = 0; i < m; i++)
	{
		for (int j = 0; j < m; j++)
		{
			long double s = 0.0L;

			for (int k = 0; k < m; k++)
				s += a[i * m + k] * b[k * m + j];
			c[i * m + j] = s;
		}
	}
}

/*
 * Pr(D_n <= d) of the one-sample KS statistic by Durbin's matrix
 * (Marsaglia, Tsang and Wang; SciPy's _kolmogn_DMTW): the k-th diagonal
 * element of H^n times n! / n^n, with H of order 2k - 1, k = ceil(n d).
 * Long doubles give the scaled powers room; SciPy scales the same way.
 */
static double
StatsKolmogorovDurbin(int64 n, double d)
{
	double		nd = (double) n * d;
	int			k;
	int			m;
	double		h;
	double		fac = 1.0;
	double		tt;
	double	   *v;
	double	   *w;
	long double *hm;
	long double *pw;
	long double *tmp;
	long double p;
	int			expnt = 0;
	int			hexpnt = 0;

	if (d >= 1.0)
		return 1.0;
	if (nd <= 0.5)
		return 0.0;

	k = (int) ceil(nd);
	h = k - nd;
	m = 2 * k - 1;

	v = palloc(m * sizeof(double));
	w = palloc(m * sizeof(double));
	for (int j = 1; j <= m; j++)
	{
		w[j - 1] = fac;
		fac /= j;
		v[j - 1] = (1.0 - pow(h, j)) * fac;
	}
	tt = pow(Max(2.0 * h - 1.0, 0.0), m) - 2.0 * pow(h, m);
	v[m - 1] = (1.0 + tt) * fac;

	hm = palloc0((Size) m * m * sizeof(long double));
	pw = palloc0((Size) m * m * sizeof(long double));
	tmp = palloc((Size) m * m * sizeof(long double));
	for (int i = 1; i < m; i++)
		for (int r = i - 1; r < m; r++)
			hm[r * m + i] = w[r - i + 1];
	for (int r = 0; r < m; r++)
		hm[r * m] = v[r];
	for (int c = 0; c < m; c++)
		hm[(m - 1) * m + c] = v[m - 1 - c];
	for (int i = 0; i < m; i++)
		pw[i * m + i] = 1.0L;

	for (int64 nn = n; nn > 0; nn /= 2)
	{
		CHECK_FOR_INTERRUPTS();
		if (nn % 2)
		{
			StatsMatMul(pw, hm, tmp, m);
			memcpy(pw, tmp, (Size) m * m * sizeof(long double));
			expnt += hexpnt;
		}
		if (nn == 1)
			break;
		StatsMatMul(hm, hm, tmp, m);
		memcpy(hm, tmp, (Size) m * m * sizeof(long double));
		hexpnt *= 2;
		if (fabsl(hm[(k - 1) * m + k - 1]) > STATS_SCALE_UP)
		{
			for (int i = 0; i < m * m; i++)
				hm[i] /= STATS_SCALE_UP;
			hexpnt += STATS_SCALE_EXPONENT;
		}
	}

	p = pw[(k - 1) * m + k - 1];
	for (int64 i = 1; i <= n; i++)
	{
		p = (long double) i * p / (long double) n;
		if (fabsl(p) < STATS_SCALE_DOWN)
		{
			p *= STATS_SCALE_UP;
			expnt -= STATS_SCALE_EXPONENT;
		}
	}
	p = ldexpl(p, expnt);

	pfree(v);
	pfree(w);
	pfree(hm);
	pfree(pw);
	pfree(tmp);
	return StatsClip((double) p);
}

/*
 * First and last column of row i of the Pomeranz recursion that can be
 * non-zero (SciPy's _pomeranz_compute_j1j2).  With f the fractional part
 * of n x, upf is ceil(f) and nearf is round(f) (1 when f > 0.5).
 */
static void
StatsPomeranzBounds(int64 i, int64 n, int64 ll, int upf, int nearf,
					int64 *j1, int64 *j2)
{
	int64		lo,
				hi;

	if (i == 0)
	{
		lo = -ll - upf - 1;
		hi = ll + upf - 1;
	}
	else
	{
		int64		half = (i + 1) / 2;

		if ((i + 1) % 2 == 0)
		{
			if (half == n + 1)
			{
				lo = n - ll - upf - 1;
				hi = n + ll + upf - 1;
			}
			else
			{
				lo = half - 1 - ll - nearf - 1;
				hi = half + ll - 1 + upf - 1;
			}
		}
		else
		{
			lo = half - 1 - ll - 1;
			hi = half + ll + nearf - 1;
		}
	}
	*j1 = Max(lo + 2, 0);
	*j2 = Min(hi, n);
}

/*
 * Pr(D_n <= x) of the one-sample KS statistic by Pomeranz's recursion
 * (SciPy's _kolmogn_Pomeranz): 2n + 1 convolutions of a short row with
 * truncated Poisson weights, then a factor n!.
 */
static double
StatsKolmogorovPomeranz(int64 n, double x)
{
	double		t = (double) n * x;
	int64		ll = (int64) floor(t);
	double		f = t - (double) ll;
	double		g = Min(f, 1.0 - f);
	int			upf = (f > 0.0) ? 1 : 0;
	int			nearf = (f > 0.5) ? 1 : 0;
	int64		npwrs = 2 * (ll + 1);
	double	   *gpower = palloc(npwrs * sizeof(double));
	double	   *twogpower = palloc(npwrs * sizeof(double));
	double	   *onem2gpower = palloc(npwrs * sizeof(double));
	double	   *v0 = palloc0(npwrs * sizeof(double));
	double	   *v1 = palloc0(npwrs * sizeof(double));
	int64		v0s = 0,
				v1s = 0;
	int64		j1,
				j2;
	int			expnt = 0;
	double		ans;

	gpower[0] = twogpower[0] = onem2gpower[0] = 1.0;
	for (int64 m = 1; m < npwrs; m++)
	{
		gpower[m] = gpower[m - 1] * (g / n) / m;
		twogpower[m] = twogpower[m - 1] * (2 * g / n) / m;
		onem2gpower[m] = onem2gpower[m - 1] * ((1 - 2 * g) / n) / m;
	}

	v1[0] = 1.0;
	StatsPomeranzBounds(0, n, ll, upf, nearf, &j1, &j2);
	for (int64 i = 1; i < 2 * n + 2; i++)
	{
		int64		k1 = j1;
		int64		ln2;
		double	   *oldv0 = v0;
		int64		oldv0s = v0s;
		const double *pwrs;

		/* the last row becomes the previous one; reuse the older buffer */
		v0 = v1;
		v0s = v1s;
		v1 = oldv0;
		v1s = oldv0s;
		memset(v1, 0, npwrs * sizeof(double));
		StatsPomeranzBounds(i, n, ll, upf, nearf, &j1, &j2);
		if (i == 1 || i == 2 * n + 1)
			pwrs = gpower;
		else
			pwrs = (i % 2) ? twogpower : onem2gpower;

		ln2 = j2 - k1 + 1;
		if (ln2 > 0)
		{
			const double *seg = v0 + (k1 - v0s);
			int64		conv_start = j1 - k1;
			int64		conv_len = j2 - j1 + 1;
			double		vmax = 0.0;

			Assert(k1 - v0s >= 0 && k1 - v0s + ln2 <= npwrs && conv_len <= npwrs);
			for (int64 c = 0; c < conv_len; c++)
			{
				int64		s = conv_start + c;
				double		sum = 0.0;

				for (int64 a = Max(0, s - ln2 + 1); a <= Min(s, ln2 - 1); a++)
					sum += seg[a] * pwrs[s - a];
				v1[c] = sum;
				vmax = Max(vmax, sum);
			}
			if (vmax > 0.0 && vmax < STATS_SCALE_DOWN)
			{
				for (int64 c = 0; c < npwrs; c++)
					v1[c] *= STATS_SCALE_UP;
				expnt -= STATS_SCALE_EXPONENT;
			}
			v1s = v0s + j1 - k1;
		}
	}

	Assert(n - v1s >= 0 && n - v1s < npwrs);
	ans = v1[n - v1s];
	for (int64 m = 1; m <= n; m++)
	{
		if (fabs(ans) > STATS_SCALE_UP)
		{
			ans *= STATS_SCALE_DOWN;
			expnt += STATS_SCALE_EXPONENT;
		}
		ans *= m;
	}
	if (expnt != 0)
		ans = ldexp(ans, expnt);

	pfree(gpower);
	pfree(twogpower);
	pfree(onem2gpower);
	pfree(v0);
	pfree(v1);
	return StatsClip(ans);
}

/*
 * Pr(D_n <= x) of the one-sample KS statistic by the Pelz-Good asymptotic
 * series (SciPy's _kolmogn_PelzGood), unclipped.
 */
static double
StatsKolmogorovPelzGood(int64 n, double x)
{
	const double pi2 = M_PI * M_PI;
	const double pi4 = pi2 * pi2;
	const double pi6 = pi4 * pi2;
	const double sqrt2pi = sqrt(2.0 * M_PI);
	double		z,
				z2,
				z3,
				z4,
				z6,
				q,
				qlog;
	double		k1a,
				k1b,
				k2a,
				k2b,
				k2c,
				k3a,
				k3b,
				k3c,
				k3d;
	double		kk[4] = {0.0, 0.0, 0.0, 0.0};
	double		k2extra = 0.0,
				k3extra = 0.0;
	double		sqrt3z,
				sum;
	int			maxk;

	if (x <= 0.0)
		return 0.0;
	if (x >= 1.0)
		return 1.0;

	z = sqrt((double) n) * x;
	z2 = z * z;
	z3 = z2 * z;
	z4 = z2 * z2;
	z6 = z4 * z2;

	qlog = -pi2 / 8.0 / z2;
	if (qlog < -708.0)
		return 0.0;
	q = exp(qlog);

	k1a = -z2;
	k1b = pi2 / 4.0;
	k2a = 6.0 * z6 + 2.0 * z4;
	k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
	k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
	k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
	k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
	k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
	k3a = -30.0 * z6 - 90.0 * z4 * z4;

	/* Horner scheme over the odd integers m = 2k - 1 */
	maxk = (int) ceil(16.0 * z / M_PI);
	for (int k = maxk; k > 0; k--)
	{
		double		m = 2.0 * k - 1.0;
		double		m2 = m * m;
		double		m4 = m2 * m2;
		double		m6 = m4 * m2;
		double		qpower = pow(q, 8.0 * k);

		kk[0] = kk[0] * qpower + 1.0;
		kk[1] = kk[1] * qpower + (k1a + k1b * m2);
		kk[2] = kk[2] * qpower + (k2a + k2b * m2 + k2c * m4);
		kk[3] = kk[3] * qpower + (k3a + k3b * m2 + k3c * m4 + k3d * m6);
	}
	for (int i = 0; i < 4; i++)
		kk[i] = kk[i] * q * sqrt2pi;
	kk[0] /= z;
	kk[1] /= 6.0 * z4;
	kk[2] /= 72.0 * pow(z, 7);
	kk[3] /= 6480.0 * pow(z, 10);

	/* The sums over all integers k of the K2 and K3 corrections */
	q = exp(-pi2 / 2.0 / z2);
	sqrt3z = sqrt(3.0) * z;
	for (int k = maxk; k > 0; k--)
	{
		double		k2 = (double) k * k;
		double		kpi = M_PI * k;
		double		qpwr = pow(q, k2);

		k2extra += k2 * qpwr;
		k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qpwr;
	}
	kk[2] += k2extra * (pi2 * sqrt2pi / (-36.0 * z3));
	kk[3] += k3extra * (pi2 * sqrt2pi / (216.0 * z6));

	sum = 0.0;
	for (int i = 0; i < 4; i++)
		sum += kk[i] / pow((double) n, i / 2.0);
	return sum;
}

/*
 * Survival function Pr(D_n >= x) of the two-sided one-sample KS statistic,
 * as scipy.stats.kstwo.sf(x, n) (Simard and L'Ecuyer's selection of
 * methods, SciPy's _kolmogn with cdf=False).
 */
static double
StatsKolmogorovSf(int64 n, double x)
{
	double		t = (double) n * x;
	double		nxsq;
	double		cdf;

	if (x >= 1.0)
		return 0.0;
	if (x <= 0.0)
		return 1.0;
	if (t <= 1.0)
	{
		/* Ruben-Gambino: Pr(D_n <= x) = n! / n^n (2t - 1)^n */
		double		prob;

		if (t <= 0.5)
			return 1.0;
		if (n <= 140)
		{
			prob = 1.0;
			for (int64 i = 1; i <= n; i++)
				prob *= (double) i * (1.0 / n) * (2.0 * t - 1.0);
		}
		else
			prob = exp(StatsLogFactorialOverPower((double) n) + n * log(2.0 * t - 1.0));
		return StatsClip(1.0 - prob);
	}
	if (t >= n - 1)
		return StatsClip(2.0 * pow(1.0 - x, (double) n));
	if (x >= 0.5)
		return StatsClip(2.0 * StatsSmirnovSf(n, x));

	nxsq = t * x;
	if (n <= 140)
	{
		if (nxsq <= 0.754693)
			return StatsClip(1.0 - StatsKolmogorovDurbin(n, x));
		if (nxsq <= 4.0)
			return StatsClip(1.0 - StatsKolmogorovPomeranz(n, x));
		return StatsClip(2.0 * StatsSmirnovSf(n, x));
	}
	if (nxsq >= 370.0)
		return 0.0;
	if (nxsq >= 2.2)
		return StatsClip(2.0 * StatsSmirnovSf(n, x));
	if (n <= 100000 && n * pow(x, 1.5) <= 1.4)
		cdf = StatsKolmogorovDurbin(n, x);
	else
		cdf = StatsKolmogorovPelzGood(n, x);
	return StatsClip(1.0 - cdf);
}

/*
 * Two-sided two-sample Kolmogorov-Smirnov test on sorted samples.
 */
void
StatsKsTest(const double *a, int na, const double *b, int nb,
			double *statistic, double *pvalue)
{
	int			i = 0,
				j = 0;
	double		maxdiff = 0.0;
	double		mindiff = 0.0;
	double		d;
	double		p = 0.0;
	bool		exact = false;

	Assert(na > 0 && nb > 0);

	/* Gap between the ECDFs just right of each distinct value */
	while (i < na || j < nb)
	{
		double		x = (j >= nb || (i < na && a[i] <= b[j])) ? a[i] : b[j];
		double		diff;

		CHECK_FOR_INTERRUPTS();
		while (i < na && a[i] <= x)
			i++;
		while (j < nb && b[j] <= x)
			j++;
		diff = (double) i / na - (double) j / nb;
		maxdiff = Max(maxdiff, diff);
		mindiff = Min(mindiff, diff);
	}
	d = (-mindiff > maxdiff) ? -mindiff : maxdiff;

	if (Max(na, nb) <= STATS_KS_MAX_EXACT_N)
		exact = StatsKsExactPvalue(na, nb, &d, &p);
	if (!exact)
	{
		double		big = (double) Max(na, nb);
		double		small = (double) Min(na, nb);
		double		en = big * small / (big + small);

		p = StatsKolmogorovSf((int64) rint(en), d);
	}
	*statistic = d;
	*pvalue = StatsClip(p);
}

/*
 * First Wasserstein distance of two sorted samples: the sum over the gaps
 * between consecutive pooled values of |U(x) - V(x)| times the gap.
 */
double
StatsWasserstein(const double *u, int nu, const double *v, int nv)
{
	int			i = 0,
				j = 0;
	double		prev = 0.0;
	double		sum = 0.0;

	Assert(nu > 0 && nv > 0);

	for (int64 k = 0; k < (int64) nu + nv; k++)
	{
		bool		take_u = (j >= nv || (i < nu && u[i] <= v[j]));
		double		x = take_u ? u[i] : v[j];

		CHECK_FOR_INTERRUPTS();
		if (k > 0)
			sum += fabs((double) i / nu - (double) j / nv) * (x - prev);
		if (take_u)
			i++;
		else
			j++;
		prev = x;
	}
	return sum;
}

/*
 * Interior edges of equal-frequency bins: the quantiles k / bins
 * (StatsQuantiles), which rearranges the values.
 */
void
StatsQuantileEdges(double *values, int n, int bins, double *edges)
{
	double	   *q = palloc(sizeof(double) * (bins - 1));

	Assert(n > 0 && bins >= STATS_MIN_BINS);

	for (int k = 1; k < bins; k++)
		q[k - 1] = (double) k / (double) bins;
	StatsQuantiles(values, n, q, bins - 1, edges);
	pfree(q);
}

/*
 * Bin proportions of a sample: the bin of x is the number of edges not
 * greater than x (numpy.searchsorted(edges, x, side='right')).
 */
void
StatsBinProportions(const double *values, int n, const double *edges,
					int bins, double *proportions)
{
	int64	   *counts = palloc0(bins * sizeof(int64));

	Assert(n > 0);

	for (int i = 0; i < n; i++)
	{
		int			lo = 0,
					hi = bins - 1;

		CHECK_FOR_INTERRUPTS();
		while (lo < hi)
		{
			int			mid = lo + (hi - lo) / 2;

			if (edges[mid] <= values[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		counts[lo]++;
	}
	for (int b = 0; b < bins; b++)
		proportions[b] = (double) counts[b] / (double) n;
	pfree(counts);
}

/*
 * Population stability index of two vectors of bin proportions.
 */
double
StatsPsi(const double *reference, const double *current, int bins)
{
	double		psi = 0.0;

	for (int b = 0; b < bins; b++)
	{
		double		r = (reference[b] == 0.0) ? STATS_PSI_FLOOR : reference[b];
		double		c = (current[b] == 0.0) ? STATS_PSI_FLOOR : current[b];

		psi += (c - r) * log(c / r);
	}
	return psi;
}

/*
 * Relative entropy term x ln(x / y) of scipy.special.rel_entr for
 * non-negative x and y, with 0 ln(0 / y) = 0.
 */
static inline double
StatsRelEntr(double x, double y)
{
	if (x == 0.0)
		return 0.0;
	return x * log(x / y);
}

/*
 * Jensen-Shannon distance with base 2 of two weight vectors.  Rounding can
 * leave the divergence a hair below zero for equal inputs; it is then 0.
 */
double
StatsJensenShannon(const double *p, const double *q, int k)
{
	double		psum = 0.0,
				qsum = 0.0;
	double		left = 0.0,
				right = 0.0;
	double		js;

	for (int i = 0; i < k; i++)
	{
		psum += p[i];
		qsum += q[i];
	}
	Assert(psum > 0.0 && qsum > 0.0);
	for (int i = 0; i < k; i++)
	{
		double		pi = p[i] / psum;
		double		qi = q[i] / qsum;
		double		mi = (pi + qi) / 2.0;

		left += StatsRelEntr(pi, mi);
		right += StatsRelEntr(qi, mi);
	}
	js = (left + right) / log(2.0);
	return (js > 0.0) ? sqrt(js / 2.0) : 0.0;
}

/*
 * x^a e^-x / Gamma(a), the factor common to both expansions of the
 * incomplete gamma function.  For a >= 10 its logarithm is rearranged
 * around x = a with Stirling's series,
 *   a (log1p(t) - t) + ln sqrt(a / 2 pi) - stirling(a),  t = (x - a) / a,
 * so that no large terms cancel and the p-value keeps full accuracy with
 * millions of categories.
 */
static double
StatsGammaPrefactor(double a, double x)
{
	double		t,
				ia2,
				stirling;

	if (a < 10.0)
		return exp(a * log(x) - x - lgamma(a));

	t = (x - a) / a;
	ia2 = 1.0 / (a * a);
	stirling = (1.0 / 12.0 - ia2 * (1.0 / 360.0 - ia2 * (1.0 / 1260.0
														 - ia2 * (1.0 / 1680.0 - ia2 / 1188.0)))) / a;
	return sqrt(a / (2.0 * M_PI)) * exp(a * (log1p(t) - t) - stirling);
}

/*
 * Regularized upper incomplete gamma function Q(a, x) (Cephes igamc):
 * one minus the power series of P(a, x) when x < a + 1, else the
 * continued fraction of Q(a, x) by the modified Lentz method.
 */
static double
StatsIgamc(double a, double x)
{
	double		prefactor;

	if (x <= 0.0)
		return 1.0;

	prefactor = StatsGammaPrefactor(a, x);
	if (prefactor == 0.0)
		return (x < a) ? 1.0 : 0.0;

	if (x < a + 1.0)
	{
		double		term = 1.0 / a;
		double		sum = term;

		for (double ap = a + 1.0;; ap += 1.0)
		{
			CHECK_FOR_INTERRUPTS();
			term *= x / ap;
			sum += term;
			if (term <= sum * DBL_EPSILON)
				break;
		}
		return 1.0 - sum * prefactor;
	}
	else
	{
		double		b = x + 1.0 - a;
		double		c = 1.0 / DBL_MIN;
		double		d = 1.0 / b;
		double		h = d;

		for (double i = 1.0;; i += 1.0)
		{
			double		an = -i * (i - a);
			double		delta;

			CHECK_FOR_INTERRUPTS();
			b += 2.0;
			d = an * d + b;
			if (fabs(d) < DBL_MIN)
				d = DBL_MIN;
			c = b + an / c;
			if (fabs(c) < DBL_MIN)
				c = DBL_MIN;
			d = 1.0 / d;
			delta = d * c;
			h *= delta;
			if (fabs(delta - 1.0) <= 2.0 * DBL_EPSILON)
				break;
		}
		return h * prefactor;
	}
}

/*
 * Upper tail probability of the chi-square distribution.
 */
double
StatsChi2Pvalue(double x, int dof)
{
	Assert(dof > 0);
	return StatsIgamc(dof / 2.0, x / 2.0);
}

/*
 * Pearson chi-square test of a 2 x k contingency table given by rows.
 */
void
StatsChi2Test(const double *reference, const double *current, int k,
			  double *statistic, double *pvalue, int *dof)
{
	double		rsum = 0.0,
				csum = 0.0,
				total;
	double		stat = 0.0;

	*dof = k - 1;
	if (*dof == 0)
	{
		*statistic = 0.0;
		*pvalue = 1.0;
		return;
	}

	for (int i = 0; i < k; i++)
	{
		rsum += reference[i];
		csum += current[i];
	}
	total = rsum + csum;
	for (int i = 0; i < k; i++)
	{
		double		col = reference[i] + current[i];
		double		er = rsum * col / total;
		double		ec = csum * col / total;

		stat += (reference[i] - er) * (reference[i] - er) / er
			+ (current[i] - ec) * (current[i] - ec) / ec;
	}
	*statistic = stat;
	*pvalue = StatsChi2Pvalue(stat, *dof);
}

/*
 * The non-NULL values of a float8[] argument, which must be finite and
 * not all missing.  argname names the argument in error messages.
 */
static double *
StatsArrayValues(ArrayType *array, const char *argname, int *count)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			n = 0;
	double	   *values;

	deconstruct_array(array, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, &nelems);
	values = palloc(Max(nelems, 1) * sizeof(double));
	for (int i = 0; i < nelems; i++)
	{
		double		x;

		if (nulls[i])
			continue;
		x = DatumGetFloat8(elems[i]);
		if (isnan(x))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("NaN not allowed in %s", argname)));
		if (isinf(x))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("infinite value not allowed in %s", argname)));
		values[n++] = x;
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must contain at least one non-NULL value", argname)));
	pfree(elems);
	pfree(nulls);
	*count = n;
	return values;
}

/*
 * Append the non-NULL elements of a text[] argument to cats, tagged with
 * their side; at least one is required.
 */
static int
StatsArrayCategories(ArrayType *array, const char *argname, bool current,
					 StatsCategory *cats)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			n = 0;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		text	   *t;

		if (nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		cats[n].data = VARDATA_ANY(t);
		cats[n].len = VARSIZE_ANY_EXHDR(t);
		cats[n].current = current;
		n++;
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must contain at least one non-NULL value", argname)));
	return n;
}

/*
 * Check the bins argument of psi and jensen_shannon.
 */
static void
StatsCheckBins(int bins)
{
	if (bins < STATS_MIN_BINS || bins > STATS_MAX_BINS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bins must be between %d and %d", STATS_MIN_BINS, STATS_MAX_BINS),
				 errdetail("bins is %d.", bins)));
}

/*
 * Bin proportions of the reference (arg 0) and current (arg 1) samples in
 * the arg 2 equal-frequency bins of the reference.
 */
static void
StatsBinArguments(FunctionCallInfo fcinfo, double **refprop, double **curprop, int *bins)
{
	int			nref,
				ncur;
	double	   *ref = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(0), "reference", &nref);
	double	   *cur = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(1), "current", &ncur);
	double	   *edges;

	*bins = PG_GETARG_INT32(2);
	StatsCheckBins(*bins);

	edges = palloc((*bins - 1) * sizeof(double));
	StatsQuantileEdges(ref, nref, *bins, edges);
	*refprop = palloc(*bins * sizeof(double));
	*curprop = palloc(*bins * sizeof(double));
	StatsBinProportions(ref, nref, edges, *bins, *refprop);
	StatsBinProportions(cur, ncur, edges, *bins, *curprop);
}

/*
 * The single row returned by ks_test and chi2_test, shaped by their OUT
 * parameters.
 */
static Datum
StatsResultRow(FunctionCallInfo fcinfo, Datum *values)
{
	TupleDesc	tupdesc;
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	Assert(tupdesc->natts <= lengthof(nulls));
	tupdesc = BlessTupleDesc(tupdesc);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/*
 * mlops.ks_test(reference float8[], current float8[],
 *				 OUT statistic float8, OUT p_value float8)
 */
Datum
mlops_ks_test(PG_FUNCTION_ARGS)
{
	int			na,
				nb;
	double	   *a = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(0), "reference", &na);
	double	   *b = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(1), "current", &nb);
	double		statistic,
				pvalue;
	Datum		values[2];

	StatsSortDoubles(a, na);
	StatsSortDoubles(b, nb);
	StatsKsTest(a, na, b, nb, &statistic, &pvalue);
	values[0] = Float8GetDatum(statistic);
	values[1] = Float8GetDatum(pvalue);
	PG_RETURN_DATUM(StatsResultRow(fcinfo, values));
}

/*
 * mlops.wasserstein(reference float8[], current float8[]) RETURNS float8
 */
Datum
mlops_wasserstein(PG_FUNCTION_ARGS)
{
	int			nu,
				nv;
	double	   *u = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(0), "reference", &nu);
	double	   *v = StatsArrayValues(PG_GETARG_ARRAYTYPE_P(1), "current", &nv);

	StatsSortDoubles(u, nu);
	StatsSortDoubles(v, nv);
	PG_RETURN_FLOAT8(StatsWasserstein(u, nu, v, nv));
}

/*
 * mlops.psi(reference float8[], current float8[], bins int) RETURNS float8
 */
Datum
mlops_psi(PG_FUNCTION_ARGS)
{
	double	   *refprop,
			   *curprop;
	int			bins;

	StatsBinArguments(fcinfo, &refprop, &curprop, &bins);
	PG_RETURN_FLOAT8(StatsPsi(refprop, curprop, bins));
}

/*
 * mlops.jensen_shannon(reference float8[], current float8[], bins int)
 * RETURNS float8
 */
Datum
mlops_jensen_shannon(PG_FUNCTION_ARGS)
{
	double	   *refprop,
			   *curprop;
	int			bins;

	StatsBinArguments(fcinfo, &refprop, &curprop, &bins);
	PG_RETURN_FLOAT8(StatsJensenShannon(refprop, curprop, bins));
}

/*
 * mlops.chi2_test(reference text[], current text[], OUT statistic float8,
 *				   OUT p_value float8, OUT dof int)
 *
 * Both arguments' elements are pooled, sorted by bytes and counted per
 * run of equal categories.
 */
Datum
mlops_chi2_test(PG_FUNCTION_ARGS)
{
	ArrayType  *refarr = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *curarr = PG_GETARG_ARRAYTYPE_P(1);
	int			nref = ArrayGetNItems(ARR_NDIM(refarr), ARR_DIMS(refarr));
	int			ncur = ArrayGetNItems(ARR_NDIM(curarr), ARR_DIMS(curarr));
	StatsCategory *cats = palloc(Max((Size) nref + ncur, 1) * sizeof(StatsCategory));
	double	   *refcount;
	double	   *curcount;
	int			n,
				k = 0;
	double		statistic,
				pvalue;
	int			dof;
	Datum		values[3];

	n = StatsArrayCategories(refarr, "reference", false, cats);
	n += StatsArrayCategories(curarr, "current", true, cats + n);
	StatsSortCategories(cats, n);

	refcount = palloc0(n * sizeof(double));
	curcount = palloc0(n * sizeof(double));
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (i > 0 && StatsCompareCategories(&cats[i - 1], &cats[i]) != 0)
			k++;
		if (cats[i].current)
			curcount[k] += 1.0;
		else
			refcount[k] += 1.0;
	}
	k++;

	StatsChi2Test(refcount, curcount, k, &statistic, &pvalue, &dof);
	values[0] = Float8GetDatum(statistic);
	values[1] = Float8GetDatum(pvalue);
	values[2] = Int32GetDatum(dof);
	PG_RETURN_DATUM(StatsResultRow(fcinfo, values));
}
