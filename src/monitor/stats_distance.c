/*-------------------------------------------------------------------------
 *
 * stats_distance.c
 *	  Distances between two samples (Wasserstein, population stability
 *	  index, Jensen-Shannon) with the equal-frequency binning they use, and
 *	  the chi-square test of two category counts.
 *
 * The cores follow SciPy 1.10 and NumPy 1.24 operation by operation where
 * that decides the result (the bin edges), so the regression tests can
 * compare them with the Python reference tightly.
 *
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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "port/pg_bitutils.h"

#include "monitor/stats.h"

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
 * The bin of a value among bins bins delimited by bins - 1 ascending edges:
 * the number of edges not greater than it (numpy.searchsorted(edges, x,
 * side='right')).
 */
int
StatsBinIndex(const double *edges, int bins, double value)
{
	int			lo = 0,
				hi = bins - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (edges[mid] <= value)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Count the n values falling into each of the bins bins (StatsBinIndex)
 * into counts, which must hold bins values (it is not zeroed first).  With
 * edges in order (quantile edges are), a value's bin is a count of
 * comparisons with no branch to mispredict, into four interleaved sets of
 * counters; otherwise a binary search, as numpy does.
 */
void
StatsBinCounts(const double *values, int n, const double *edges, int bins, int64 *counts)
{
	int64	   *lanes = palloc0(sizeof(int64) * 4 * bins);
	bool		ordered = true;

	for (int b = 1; b < bins - 1; b++)
		ordered &= edges[b - 1] <= edges[b];
	for (int i = 0; i < n; i++)
	{
		int			lo = 0;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (ordered)
		{
			for (int b = 0; b < bins - 1; b++)
				lo += edges[b] <= values[i];
		}
		else
			lo = StatsBinIndex(edges, bins, values[i]);
		lanes[(i & 3) * bins + lo]++;
	}
	for (int b = 0; b < bins; b++)
		counts[b] += lanes[b] + lanes[bins + b] + lanes[2 * bins + b] + lanes[3 * bins + b];
	pfree(lanes);
}

/*
 * The distinct values of n values, ascending, with their counts, when
 * there are at most STATS_FEW_VALUES of them and no negative zero (a
 * selection may return either zero for a rank, a count only one); false
 * otherwise.  Values are told apart by their bits, so a negative zero is
 * never taken for a zero.
 */
static bool
StatsFewValues(const double *values, int n, double *distinct, int64 *counts, int *ndistinct)
{
	uint64		bits[STATS_FEW_VALUES];
	int			nd = 0;

	StaticAssertStmt(STATS_FEW_VALUES <= 32, "the matches of a value are a 32-bit mask");
	for (int i = 0; i < n; i++)
	{
		double		x = values[i];
		uint64		u;
		uint32		match = 0;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		memcpy(&u, &x, sizeof(u));
		for (int d = 0; d < nd; d++)
			match |= (uint32) (bits[d] == u) << d;
		if (unlikely(match == 0))
		{
			if (nd == STATS_FEW_VALUES || (x == 0.0 && signbit(x)))
				return false;
			bits[nd] = u;
			distinct[nd] = x;
			counts[nd] = 0;
			match = (uint32) 1 << nd++;
		}
		counts[pg_rightmost_one_pos32(match)]++;
	}
	/* insertion sort of the few, with their counts */
	for (int i = 1; i < nd; i++)
	{
		double		x = distinct[i];
		int64		c = counts[i];
		int			j;

		for (j = i; j > 0 && distinct[j - 1] > x; j--)
		{
			distinct[j] = distinct[j - 1];
			counts[j] = counts[j - 1];
		}
		distinct[j] = x;
		counts[j] = c;
	}
	*ndistinct = nd;
	return true;
}

/*
 * The edges of bins equal-frequency bins of a sample (StatsQuantileEdges)
 * and the proportions of its values in them (StatsBinProportions), with
 * the same results.  A sample of few distinct values (0/1 fingerprint
 * bits, flags, small counts) is counted once instead of being selected
 * and binned value by value.  Rearranges values.
 */
void
StatsEqualFrequencyBins(double *values, int n, int bins, double *edges, double *proportions)
{
	double		distinct[STATS_FEW_VALUES];
	int64		counts[STATS_FEW_VALUES];
	int			nd;

	Assert(n > 0 && bins >= STATS_MIN_BINS);

	if (!StatsFewValues(values, n, distinct, counts, &nd))
	{
		StatsQuantileEdges(values, n, bins, edges);
		StatsBinProportions(values, n, edges, bins, proportions);
		return;
	}
	{
		double	   *q = palloc(sizeof(double) * (bins - 1));
		int64	   *binned = palloc0(sizeof(int64) * bins);

		for (int k = 1; k < bins; k++)
			q[k - 1] = (double) k / (double) bins;
		StatsQuantilesCounted(distinct, counts, nd, n, q, bins - 1, edges);
		for (int d = 0; d < nd; d++)
			binned[StatsBinIndex(edges, bins, distinct[d])] += counts[d];
		for (int b = 0; b < bins; b++)
			proportions[b] = (double) binned[b] / (double) n;
		pfree(q);
		pfree(binned);
	}
}

/*
 * Share of the n values in each bin: StatsBinCounts divided by n.
 */
void
StatsBinProportions(const double *values, int n, const double *edges,
					int bins, double *proportions)
{
	int64	   *counts = palloc0(bins * sizeof(int64));

	Assert(n > 0);

	StatsBinCounts(values, n, edges, bins, counts);
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
