/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Two-sample statistics for drift detection, on plain C arrays.
 *
 * These are the numerical cores of mlops.ks_test, mlops.wasserstein,
 * mlops.psi, mlops.jensen_shannon and mlops.chi2_test, kept apart from the
 * SQL wrappers (stats_sql.c) so the drift module can run them on stored
 * reference profiles.  They follow SciPy 1.10 and NumPy 1.24; stats_sort.c
 * (sorting, selection, quantiles), stats_ks.c (Kolmogorov-Smirnov) and
 * stats_distance.c (Wasserstein, binning, PSI, Jensen-Shannon, chi-square)
 * document each definition.
 *
 * Every value passed in must be finite and every sample non-empty (the
 * SQL wrappers check both).  Scratch memory comes from palloc, and the
 * long loops call CHECK_FOR_INTERRUPTS().
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_STATS_H
#define MLOPS_STATS_H

#include "postgres.h"

/* Limits of the bins argument of psi and jensen_shannon */
#define STATS_MIN_BINS			2
#define STATS_MAX_BINS			10000

/* ks_test computes the exact p-value when both samples are this small */
#define STATS_KS_MAX_EXACT_N	10000

/* PSI replaces a zero bin proportion with this */
#define STATS_PSI_FLOOR			0.0001

/* a category and how often it occurs */
typedef struct StatsCount
{
	const char *text;
	int64		count;
} StatsCount;

/*
 * Sort categories most frequent first, ties by text (strcmp), so the order
 * does not depend on the order of the rows.
 */
extern void StatsSortCounts(StatsCount *counts, int n);

/*
 * Sort n values ascending, in place.
 */
extern void StatsSortDoubles(double *values, size_t n);

/*
 * Rearrange n values so that values[r] is the r-th smallest (from 0) for
 * each of the nranks ascending ranks r, without sorting the rest.
 */
extern void StatsSelectRanks(double *values, size_t n, const size_t *ranks, int nranks);

/*
 * Quantiles q[0 .. nq - 1] (ascending, in [0, 1]) of n values into out, as
 * numpy.quantile's default linear method computes them.  Only the order
 * statistics they read are selected, which rearranges values.
 */
extern void StatsQuantiles(double *values, int n, const double *q, int nq, double *out);
extern void StatsQuantilesCounted(const double *distinct, const int64 *counts, int ndistinct,
								  int n, const double *q, int nq, double *out);

/*
 * The rank of the lower order statistic the linear quantile q of n values
 * reads, and the quantile from it (a) and the next one (b) when
 * (n - 1) q < n - 1 (else the quantile is the largest value): what
 * StatsQuantiles computes, for values read in order from a sort.
 */
extern int	StatsQuantileRank(int n, double q);
extern double StatsQuantileValue(int n, double q, double a, double b);

/*
 * Two-sided two-sample Kolmogorov-Smirnov test, as scipy.stats.ks_2samp
 * with method='auto'.  a and b must be sorted ascending.
 */
extern void StatsKsTest(const double *a, int na, const double *b, int nb,
						double *statistic, double *pvalue);

/*
 * First Wasserstein distance between two unweighted samples, as
 * scipy.stats.wasserstein_distance.  u and v must be sorted ascending.
 */
extern double StatsWasserstein(const double *u, int nu, const double *v, int nv);

/*
 * The bins - 1 interior edges of bins equal-frequency bins of a sample: the
 * quantiles at k / bins, k = 1 .. bins - 1, as numpy.quantile (method
 * "linear").  The values are rearranged (the order statistics the edges
 * read are selected).  edges must hold bins - 1 values.
 */
extern void StatsQuantileEdges(double *values, int n, int bins, double *edges);

/*
 * Share of the n values in each of the bins bins delimited by the bins - 1
 * ascending interior edges; the first and last bins are open to -/+
 * infinity.  A value equal to an edge goes to the bin on its right.
 * proportions must hold bins values.
 */
extern void StatsBinProportions(const double *values, int n, const double *edges,
								int bins, double *proportions);

/*
 * The bin of one value (StatsBinProportions' rule), and the count of n
 * values in each bin added to counts (bins values).
 */
extern int	StatsBinIndex(const double *edges, int bins, double value);
extern void StatsBinCounts(const double *values, int n, const double *edges, int bins,
						   int64 *counts);

/*
 * StatsQuantileEdges and StatsBinProportions of one sample at once, with
 * the same results; a sample of at most STATS_FEW_VALUES distinct values
 * is counted instead of selected and binned.  Rearranges values.
 */
#define STATS_FEW_VALUES 16
extern void StatsEqualFrequencyBins(double *values, int n, int bins, double *edges,
									double *proportions);

/*
 * Population stability index of two vectors of bin proportions.
 */
extern double StatsPsi(const double *reference, const double *current, int bins);

/*
 * Jensen-Shannon distance (base 2) of two vectors of k non-negative
 * weights, each normalized to sum 1 first, as
 * scipy.spatial.distance.jensenshannon(p, q, base=2).  Each vector must
 * have a positive sum.
 */
extern double StatsJensenShannon(const double *p, const double *q, int k);

/*
 * Pearson chi-square test of the 2 x k table of reference and current
 * counts, as scipy.stats.chi2_contingency(table, correction=False).  Both
 * rows and every column must have a positive sum.
 */
extern void StatsChi2Test(const double *reference, const double *current, int k,
						  double *statistic, double *pvalue, int *dof);

/*
 * Upper tail probability of the chi-square distribution with dof degrees
 * of freedom at x, as scipy.stats.chi2.sf(x, dof).
 */
extern double StatsChi2Pvalue(double x, int dof);

#endif							/* MLOPS_STATS_H */
