/*-------------------------------------------------------------------------
 *
 * stats_tests.h
 *	  Significance tests and 95 % confidence intervals comparing two
 *	  models' scores: two-proportion z-test, Welch's and the paired
 *	  t-test, McNemar's test; Student's t distribution.
 *
 * They follow statsmodels 0.13 and SciPy 1.10 (stats_tests.c names the
 * function each one equals).  Inputs are summary statistics (counts,
 * means, sample variances with ddof = 1), so callers accumulate in one
 * pass and keep no arrays.  A test that is undefined (a zero standard
 * error, too few rows) gives NaN for what it cannot compute.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_STATS_TESTS_H
#define MLOPS_STATS_TESTS_H

#include "postgres.h"

/* the 0.975 quantile of the standard normal distribution, scipy.stats.norm.ppf(0.975) */
#define STATS_Z_975 1.959963984540054

/* a test of a difference: its statistic, degrees of freedom (NaN when
 * none), two-sided p-value and 95 % interval of the difference */
typedef struct StatsTest
{
	double		statistic;
	double		df;
	double		p_value;
	double		ci_low;
	double		ci_high;
} StatsTest;

extern double StatsIncompleteBeta(double a, double b, double x);
extern double StatsTSurvival(double t, double df);
extern double StatsTQuantile(double p, double df);

extern void StatsWilsonInterval(double count, double nobs, double *low, double *high);
extern void StatsMeanInterval(double mean, double var, double n, double *low, double *high);

extern void StatsTwoProportionZ(double count1, double nobs1, double count2, double nobs2,
								StatsTest *result);
extern void StatsWelchT(double mean1, double var1, double n1, double mean2, double var2, double n2,
						StatsTest *result);
extern void StatsPairedT(double mean_diff, double var_diff, double n, StatsTest *result);
extern void StatsMcNemar(double b, double c, double n, StatsTest *result);

#endif							/* MLOPS_STATS_TESTS_H */
