/*-------------------------------------------------------------------------
 *
 * stats_ks.c
 *	  The two-sample Kolmogorov-Smirnov test and the tail distributions of
 *	  its p-value.
 *
 * The core follows SciPy 1.10 operation by operation where that decides
 * the result (the KS statistic and its exact p-value), so the regression
 * tests can compare it with the Python reference tightly.
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
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "monitor/stats.h"

/* Scaling factors of the Durbin and Pomeranz recursions (as SciPy's) */
#define STATS_SCALE_EXPONENT	128
#define STATS_SCALE_UP			ldexp(1.0, STATS_SCALE_EXPONENT)
#define STATS_SCALE_DOWN		ldexp(1.0, -STATS_SCALE_EXPONENT)

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
