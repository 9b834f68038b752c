/*-------------------------------------------------------------------------
 *
 * stats_tests.c
 *	  Significance tests and 95 % confidence intervals comparing two
 *	  models' scores: two-proportion z-test, Welch's and the paired
 *	  t-test, McNemar's test; Student's t distribution.
 *
 * Every p-value is two-sided and every interval a 95 % one, of the
 * difference "first minus second":
 *   StatsTwoProportionZ  statsmodels.stats.proportion.proportions_ztest
 *                        (pooled variance); interval: Wald, unpooled
 *                        (confint_proportions_2indep, method='wald')
 *   StatsWelchT          scipy.stats.ttest_ind(equal_var=False); interval
 *                        with the Welch-Satterthwaite degrees of freedom
 *   StatsPairedT         scipy.stats.ttest_rel; interval of the mean
 *                        difference (t, n - 1 degrees of freedom)
 *   StatsMcNemar         statsmodels.stats.contingency_tables.mcnemar,
 *                        exact (binomial) when fewer than 25 pairs
 *                        disagree, else chi-square with continuity
 *                        correction; interval: Wald for matched pairs
 *                        (Agresti, Categorical Data Analysis, 10.1)
 *   StatsWilsonInterval  statsmodels proportion_confint(method='wilson')
 *   StatsMeanInterval    scipy.stats.t.interval(0.95, n - 1, mean, sem)
 * Student's t distribution comes from the regularized incomplete beta
 * function (continued fraction, modified Lentz), as Cephes' stdtr does
 * (1e-15 relative for moderate degrees of freedom); its quantile is the
 * root of that tail by Newton's method, which SciPy 1.10's t.ppf (Cephes
 * stdtri) matches to 4e-10.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"

#include "monitor/stats.h"
#include "monitor/stats_tests.h"

/*
 * Continued fraction of the incomplete beta function (Numerical Recipes'
 * betacf), by the modified Lentz method.
 */
static double
StatsBetaFraction(double a, double b, double x)
{
	double		qab = a + b;
	double		qap = a + 1.0;
	double		qam = a - 1.0;
	double		c = 1.0;
	double		d = 1.0 - qab * x / qap;
	double		h;

	if (fabs(d) < DBL_MIN)
		d = DBL_MIN;
	d = 1.0 / d;
	h = d;
	for (int m = 1; m <= 1000000; m++)
	{
		double		m2 = 2.0 * m;
		double		aa = m * (b - m) * x / ((qam + m2) * (a + m2));
		double		delta;

		d = 1.0 + aa * d;
		if (fabs(d) < DBL_MIN)
			d = DBL_MIN;
		c = 1.0 + aa / c;
		if (fabs(c) < DBL_MIN)
			c = DBL_MIN;
		d = 1.0 / d;
		h *= d * c;
		aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
		d = 1.0 + aa * d;
		if (fabs(d) < DBL_MIN)
			d = DBL_MIN;
		c = 1.0 + aa / c;
		if (fabs(c) < DBL_MIN)
			c = DBL_MIN;
		d = 1.0 / d;
		delta = d * c;
		h *= delta;
		if (fabs(delta - 1.0) <= DBL_EPSILON)
			break;
		if ((m & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return h;
}

/*
 * Regularized incomplete beta function I_x(a, b), a, b > 0, x in [0, 1].
 */
double
StatsIncompleteBeta(double a, double b, double x)
{
	double		front;

	if (x <= 0.0)
		return 0.0;
	if (x >= 1.0)
		return 1.0;
	front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
	if (x < (a + 1.0) / (a + b + 2.0))
		return front * StatsBetaFraction(a, b, x) / a;
	return 1.0 - front * StatsBetaFraction(b, a, 1.0 - x) / b;
}

/*
 * Upper tail P(T > t) of Student's t distribution with df > 0 degrees of
 * freedom, as scipy.stats.t.sf(t, df).
 */
double
StatsTSurvival(double t, double df)
{
	double		tail;

	if (isinf(t))
		return t > 0 ? 0.0 : 1.0;
	/* P(|T| > |t|) / 2, in the form that keeps small tails accurate */
	tail = 0.5 * StatsIncompleteBeta(df / 2.0, 0.5, df / (df + t * t));
	return t > 0 ? tail : 1.0 - tail;
}

/*
 * Density of Student's t distribution.
 */
static double
StatsTDensity(double t, double df)
{
	return exp(lgamma((df + 1.0) / 2.0) - lgamma(df / 2.0) - 0.5 * log(df * M_PI)
			   - (df + 1.0) / 2.0 * log1p(t * t / df));
}

/*
 * The p-quantile of Student's t distribution for p in (0.5, 1), as
 * scipy.stats.t.ppf(p, df): Newton's method on the upper tail from 0,
 * where the tail is convex, so the iterates rise monotonically to the
 * root.
 */
double
StatsTQuantile(double p, double df)
{
	double		q = 1.0 - p;
	double		t = 0.0;

	Assert(p > 0.5 && p < 1.0);
	for (int i = 0; i < 200; i++)
	{
		double		step = (StatsTSurvival(t, df) - q) / StatsTDensity(t, df);

		t += step;
		if (fabs(step) <= 4.0 * DBL_EPSILON * fabs(t))
			break;
	}
	return t;
}

/*
 * Wilson score interval of a proportion count / nobs (nobs > 0).
 */
void
StatsWilsonInterval(double count, double nobs, double *low, double *high)
{
	double		q = count / nobs;
	double		crit2 = STATS_Z_975 * STATS_Z_975;
	double		denom = 1.0 + crit2 / nobs;
	double		center = (q + crit2 / (2.0 * nobs)) / denom;
	double		dist = STATS_Z_975 * sqrt(q * (1.0 - q) / nobs + crit2 / (4.0 * nobs * nobs)) / denom;

	*low = center - dist;
	*high = center + dist;
}

/*
 * t interval of a mean from n values with sample variance var (NaN when
 * n < 2).
 */
void
StatsMeanInterval(double mean, double var, double n, double *low, double *high)
{
	double		half;

	if (n < 2)
	{
		*low = *high = get_float8_nan();
		return;
	}
	half = StatsTQuantile(0.975, n - 1.0) * sqrt(var / n);
	*low = mean - half;
	*high = mean + half;
}

/*
 * Fill a test's two-sided p-value and interval from a statistic, its
 * standard error and the difference (df NaN: normal, else Student's t).
 */
static void
StatsFinishTest(double diff, double se, StatsTest *r)
{
	double		crit;

	if (!(se > 0.0) || isnan(diff))
	{
		r->statistic = r->p_value = r->ci_low = r->ci_high = get_float8_nan();
		return;
	}
	r->statistic = diff / se;
	if (isnan(r->df))
	{
		r->p_value = erfc(fabs(r->statistic) / M_SQRT2);
		crit = STATS_Z_975;
	}
	else
	{
		r->p_value = 2.0 * StatsTSurvival(fabs(r->statistic), r->df);
		crit = StatsTQuantile(0.975, r->df);
	}
	r->p_value = Min(r->p_value, 1.0);
	r->ci_low = diff - crit * se;
	r->ci_high = diff + crit * se;
}

/*
 * Two-proportion z-test of count1 / nobs1 - count2 / nobs2, pooled
 * variance; Wald interval (unpooled) of the difference.
 */
void
StatsTwoProportionZ(double count1, double nobs1, double count2, double nobs2, StatsTest *r)
{
	double		p1 = count1 / nobs1;
	double		p2 = count2 / nobs2;
	double		pooled = (count1 + count2) / (nobs1 + nobs2);
	double		se = sqrt(pooled * (1.0 - pooled) * (1.0 / nobs1 + 1.0 / nobs2));
	double		wald = sqrt(p1 * (1.0 - p1) / nobs1 + p2 * (1.0 - p2) / nobs2);

	r->df = get_float8_nan();
	StatsFinishTest(p1 - p2, se, r);
	if (!isnan(r->statistic))
	{
		r->ci_low = p1 - p2 - STATS_Z_975 * wald;
		r->ci_high = p1 - p2 + STATS_Z_975 * wald;
	}
}

/*
 * Welch's t-test of mean1 - mean2 (sample variances var1, var2 of n1, n2
 * values, each at least 2).
 */
void
StatsWelchT(double mean1, double var1, double n1, double mean2, double var2, double n2, StatsTest *r)
{
	double		v1 = var1 / n1;
	double		v2 = var2 / n2;

	r->df = (v1 + v2) * (v1 + v2) / (v1 * v1 / (n1 - 1.0) + v2 * v2 / (n2 - 1.0));
	StatsFinishTest(n1 >= 2 && n2 >= 2 ? mean1 - mean2 : get_float8_nan(), sqrt(v1 + v2), r);
}

/*
 * Paired t-test of the mean of n differences (sample variance var_diff,
 * n at least 2).
 */
void
StatsPairedT(double mean_diff, double var_diff, double n, StatsTest *r)
{
	r->df = n - 1.0;
	StatsFinishTest(n >= 2 ? mean_diff : get_float8_nan(), sqrt(var_diff / n), r);
}

/*
 * McNemar's test of n pairs, b of which only the first got right and c
 * only the second: the statistic is min(b, c) with the exact binomial
 * p-value when b + c < 25, else (|b - c| - 1)^2 / (b + c) against
 * chi-square with one degree of freedom.  Interval: Wald for the
 * difference of paired proportions, (b - c) / n.
 */
void
StatsMcNemar(double b, double c, double n, StatsTest *r)
{
	double		diff = (b - c) / n;
	double		half = STATS_Z_975 * sqrt((b + c) - (b - c) * (b - c) / n) / n;

	r->df = get_float8_nan();
	if (b + c < 25)
	{
		double		k = Min(b, c);
		double		m = b + c;
		double		cdf = 0.0;

		/* binom.cdf(k, m, 0.5): terms C(m, i) / 2^m, in logs */
		for (double i = 0; i <= k; i += 1.0)
			cdf += exp(lgamma(m + 1.0) - lgamma(i + 1.0) - lgamma(m - i + 1.0) - m * M_LN2);
		r->statistic = k;
		r->p_value = Min(1.0, 2.0 * cdf);
	}
	else
	{
		r->statistic = (fabs(b - c) - 1.0) * (fabs(b - c) - 1.0) / (b + c);
		r->p_value = StatsChi2Pvalue(r->statistic, 1);
	}
	r->ci_low = diff - half;
	r->ci_high = diff + half;
}
