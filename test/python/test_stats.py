#!/usr/bin/python3
"""Check the generic drift statistics of mlops against SciPy 1.10 / NumPy.

Compares, on seeded random and adversarial inputs:

  mlops.ks_test(ref, cur)          scipy.stats.ks_2samp(ref, cur)
                                   statistic within 1e-12, p-value 1e-6 (abs)
  mlops.wasserstein(ref, cur)      scipy.stats.wasserstein_distance, 1e-9 rel
  mlops.psi(ref, cur, bins)        psi_reference() below, 1e-9 rel (also
                                   on references that stress the selection
                                   of the bin edges' order statistics)
  mlops.jensen_shannon(ref, cur, bins)
                                   scipy.spatial.distance.jensenshannon on
                                   the bin proportions, base 2, 1e-9 rel
  mlops.chi2_test(ref, cur)        scipy.stats.chi2_contingency(table,
                                   correction=False): statistic 1e-9 rel,
                                   p-value 1e-9 abs, dof equal

then times every function on two 10^6-element arrays (checking the results
too).  Each line of TAP covers a group of cases and reports the largest
differences as "#" diagnostics.

Run with the system Python (SciPy, NumPy, psycopg2); the connection comes
from the PG* environment variables and the database must have the mlops
extension:

  /usr/bin/python3 test/python/test_stats.py
"""

import math
import string
import time
import warnings

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

import tap

KS_STAT_TOL = 1e-12
KS_P_TOL = 1e-6
REL_TOL = 1e-9
ABS_TOL = 1e-15  # for values that are exactly zero in SciPy
CHI2_P_TOL = 1e-9
BIG_N = 1_000_000


def float_array(values):
    """PostgreSQL float8[] literal, exact (repr round-trips); None is NULL."""
    return "{" + ",".join("NULL" if v is None else repr(float(v)) for v in values) + "}"


def psi_reference(ref, cur, bins):
    """PSI and Jensen-Shannon distance over equal-frequency reference bins.

    Interior edges are numpy.quantile(ref, k / bins); a value goes to bin
    searchsorted(edges, x, side='right'), so a value on an edge goes right.
    PSI replaces zero proportions by 0.0001; Jensen-Shannon does not.
    """
    ref = np.asarray(ref, dtype=float)
    cur = np.asarray(cur, dtype=float)
    edges = np.quantile(ref, np.arange(1, bins) / bins)
    rp = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=bins) / len(ref)
    cp = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=bins) / len(cur)
    r = np.where(rp == 0, 1e-4, rp)
    c = np.where(cp == 0, 1e-4, cp)
    psi = float(np.sum((c - r) * np.log(c / r)))
    js = float(jensenshannon(rp, cp, base=2))
    return psi, js


def chi2_reference(ref, cur):
    """chi2_contingency(correction=False) on the 2 x k table of counts."""
    cats = sorted(set(ref) | set(cur))
    table = np.array([[ref.count(c) for c in cats], [cur.count(c) for c in cats]])
    res = stats.chi2_contingency(table, correction=False)
    return float(res[0]), float(res[1]), int(res[2])


def rel_diff(got, expected):
    """Relative difference, absolute when expected is zero."""
    diff = abs(got - expected)
    if expected == 0:
        return 0.0 if diff <= ABS_TOL else math.inf
    return diff / abs(expected)


class Group:
    """One TAP line: many cases, their worst differences, their failures."""

    def __init__(self, name):
        self.name = name
        self.worst = {}
        self.failures = []

    def check(self, what, diff, tol, case):
        """Record a difference; it fails when above tol."""
        if not diff <= tol:
            self.failures.append(f"{what}: diff {diff:.3g} > {tol:g} for {case}")
        if diff > self.worst.get(what, (-1.0, None))[0]:
            self.worst[what] = (diff, case)

    def done(self, ncases):
        """Print the TAP line with the worst differences."""
        tap.ok(not self.failures, f"{self.name} ({ncases} cases)")
        for what, (diff, _) in sorted(self.worst.items()):
            print(f"#   max {what} diff {diff:.3g}", flush=True)
        for failure in self.failures[:5]:
            print(f"#   {failure}", flush=True)


def run_ks(cur, name, cases):
    """Compare ks_test with ks_2samp on (ref, cur) pairs."""
    g = Group(f"ks_test: {name}")
    for ref, new in cases:
        cur.execute("SELECT statistic, p_value FROM mlops.ks_test(%s::float8[], %s::float8[])",
                    (float_array(ref), float_array(new)))
        stat, p = cur.fetchone()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.ks_2samp(ref, new)
        case = f"n={len(ref)},{len(new)} scipy=({res.statistic!r}, {res.pvalue!r}) got=({stat!r}, {p!r})"
        g.check("statistic abs", abs(stat - res.statistic), KS_STAT_TOL, case)
        g.check("p-value abs", abs(p - res.pvalue), KS_P_TOL, case)
    g.done(len(cases))


def run_wasserstein(cur, name, cases):
    """Compare wasserstein with wasserstein_distance on (ref, cur) pairs."""
    g = Group(f"wasserstein: {name}")
    for ref, new in cases:
        cur.execute("SELECT mlops.wasserstein(%s::float8[], %s::float8[])",
                    (float_array(ref), float_array(new)))
        got = cur.fetchone()[0]
        expected = stats.wasserstein_distance(ref, new)
        g.check("rel", rel_diff(got, expected), REL_TOL,
                f"n={len(ref)},{len(new)} scipy={expected!r} got={got!r}")
    g.done(len(cases))


def run_binned(cur, name, cases):
    """Compare psi and jensen_shannon with psi_reference on (ref, cur, bins)."""
    g = Group(f"psi and jensen_shannon: {name}")
    for ref, new, bins in cases:
        cur.execute("SELECT mlops.psi(%s::float8[], %s::float8[], %s), "
                    "mlops.jensen_shannon(%s::float8[], %s::float8[], %s)",
                    (float_array(ref), float_array(new), bins) * 2)
        psi, js = cur.fetchone()
        epsi, ejs = psi_reference(ref, new, bins)
        case = f"n={len(ref)},{len(new)} bins={bins}"
        g.check("psi rel", rel_diff(psi, epsi), REL_TOL, f"{case} psi {psi!r} vs {epsi!r}")
        g.check("js rel", rel_diff(js, ejs), REL_TOL, f"{case} js {js!r} vs {ejs!r}")
    g.done(len(cases))


def run_chi2(cur, name, cases):
    """Compare chi2_test with chi2_contingency on (ref, cur) text lists."""
    g = Group(f"chi2_test: {name}")
    for ref, new in cases:
        cur.execute("SELECT statistic, p_value, dof FROM mlops.chi2_test(%s::text[], %s::text[])",
                    (ref, new))
        stat, p, dof = cur.fetchone()
        estat, ep, edof = chi2_reference(ref, new)
        case = f"n={len(ref)},{len(new)} k={edof + 1}"
        g.check("statistic rel", rel_diff(stat, estat), REL_TOL, f"{case} {stat!r} vs {estat!r}")
        g.check("p-value abs", abs(p - ep), CHI2_P_TOL, f"{case} {p!r} vs {ep!r}")
        g.check("dof", abs(dof - edof), 0, f"{case} {dof} vs {edof}")
    g.done(len(cases))


def ks_cases(rng):
    """Groups of ks_test inputs: random, ties, boundary sizes, asymptotic."""
    groups = {}
    groups["random continuous, n = 1..300"] = [
        (rng.normal(0, 1, rng.integers(1, 301)), rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2), rng.integers(1, 301)))
        for _ in range(150)]
    groups["ties and duplicates"] = [
        (rng.integers(0, k, rng.integers(1, 200)).astype(float), rng.integers(0, k, rng.integers(1, 200)).astype(float))
        for k in (1, 2, 3, 5, 10) for _ in range(20)]
    adversarial = []
    for n in (1, 2, 3, 7, 50, 1000):
        x = rng.normal(size=n)
        adversarial.append((x, x.copy()))                       # identical
        adversarial.append((x, x + 100.0))                      # disjoint
        adversarial.append((x, -x - 100.0))                     # disjoint, other side
        adversarial.append((np.repeat(x, 2), x))                # duplicated
        adversarial.append((np.full(n, 3.0), np.full(n + 1, 3.0)))
    for n in (2, 10, 100, 1000, 10000):                         # equal sizes, D = 1/n
        x = np.arange(n, dtype=float)
        adversarial.append((x, np.concatenate([x[:-1], [n + 0.5]])))
        adversarial.append((x, x + 0.5))
    for n, h in ((5, 1), (7, 1), (30, 1), (60, 2), (94, 2), (135, 3), (167, 3)):
        # the exact series gives 1 + 1 ulp here, and SciPy switches to asymptotic
        x = np.arange(n, dtype=float)
        adversarial.append((x, np.concatenate([x[:-h], x[-h:] + n])))
    adversarial += [(rng.normal(size=1), rng.normal(size=m)) for m in (1, 2, 9999, 10000, 10001, 20000)]
    groups["adversarial: identical, disjoint, duplicated, D = h/n, single values"] = adversarial
    groups["exact path, sizes up to 10000"] = [
        (rng.normal(0, 1, a), rng.normal(s, 1, b))
        for a, b, s in ((10000, 10000, 0.0), (10000, 10000, 0.05), (10000, 9999, 0.0), (9999, 10000, 0.03),
                        (10000, 1, 0.0), (10000, 2, 1.0), (5000, 10000, 0.02), (7919, 7907, 0.0),
                        (3000, 4500, 0.1), (10000, 37, 0.3))]
    groups["asymptotic path, sizes 10001..20000"] = [
        (rng.normal(0, 1, a), rng.normal(s, 1, b))
        for a, b, s in ((10001, 10001, 0.0), (20000, 20000, 0.02), (20000, 1, 0.0), (1, 20000, 3.0),
                        (10001, 2, 0.0), (10001, 3, 2.0), (15000, 7, 0.5), (12000, 150, 0.2),
                        (20000, 141, 0.0), (20000, 140, 0.3), (20000, 5000, 0.05), (11000, 900, 0.0),
                        (20000, 20000, 0.0), (10001, 10000, 0.01))]
    groups["asymptotic path, random sizes"] = [
        (rng.normal(0, 1, rng.integers(10001, 20001)), rng.normal(rng.uniform(0, 0.1), 1, rng.integers(1, 20001)))
        for _ in range(25)]
    groups["asymptotic path, ties"] = [
        (rng.integers(0, k, 15000).astype(float), rng.integers(0, k, m).astype(float))
        for k, m in ((2, 15000), (3, 100), (10, 20000), (50, 3))]
    return groups


def wasserstein_cases(rng):
    """Groups of wasserstein inputs."""
    groups = {}
    groups["random, n = 1..1000"] = [
        (rng.normal(0, rng.uniform(0.1, 10), rng.integers(1, 1001)), rng.normal(rng.uniform(-5, 5), 1, rng.integers(1, 1001)))
        for _ in range(100)]
    adversarial = [
        ([1.0], [1.0]), ([1.0], [2.0]), ([0.0], [1e300]), ([-1e300], [1e300]), ([5e-324], [0.0]),
        ([1.0, 1.0, 1.0], [1.0]), ([0.0, 1.0], [0.0, 0.0, 1.0, 1.0]),
        (rng.integers(0, 3, 500).astype(float), rng.integers(0, 3, 700).astype(float)),
        (np.arange(1000.0), np.arange(1000.0)), (np.arange(1000.0), np.arange(1000.0) + 1e-9),
        (rng.normal(1e9, 1, 300), rng.normal(1e9, 1, 300)), (rng.normal(0, 1e-12, 300), rng.normal(0, 1e-12, 20)),
        (rng.normal(size=20000), rng.normal(size=20000))]
    groups["adversarial: ties, identical, extreme magnitudes"] = adversarial
    return groups


def binned_cases(rng):
    """Groups of psi / jensen_shannon inputs."""
    groups = {}
    groups["random, bins 2..20"] = [
        (rng.normal(0, 1, rng.integers(1, 2000)), rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2), rng.integers(1, 2000)),
         int(rng.integers(2, 21)))
        for _ in range(100)]
    adversarial = []
    for bins in (2, 3, 10, 37):
        ints = rng.integers(0, 5, 300).astype(float)               # repeated edges
        adversarial.append((ints, rng.integers(0, 5, 400).astype(float), bins))
        adversarial.append((ints, ints.copy(), bins))              # identical
        x = rng.normal(size=500)
        adversarial.append((x, x.copy(), bins))
        edges = np.quantile(x, np.arange(1, bins) / bins)          # current exactly on the edges
        adversarial.append((x, np.concatenate([edges, edges, x[:50]]), bins))
        adversarial.append((x, x + 100.0, bins))                   # all current in the last bin
        adversarial.append((x, x - 100.0, bins))                   # all in the first bin
        adversarial.append(([1.0], [0.0, 1.0, 2.0], bins))         # one reference value
        adversarial.append(([1.0, 2.0], [1.5], bins))
        adversarial.append((np.full(100, 7.0), np.full(3, 7.0), bins))
        adversarial.append((np.arange(10.0), np.arange(10.0), bins))
    adversarial.append((rng.normal(size=5), rng.normal(size=5), 10000))
    adversarial.append((rng.normal(size=100000), rng.normal(0.01, 1, 100000), 100))
    groups["adversarial: ties, edges, identical, out of range, few values"] = adversarial
    return groups


def selection_cases(rng):
    """psi / jensen_shannon inputs whose reference bins stress the selection.

    The reference edges select the order statistics they read rather than
    sort: one value, two values, many duplicates, ascending, descending,
    organ pipe, -0.0 and 0.0 mixed, 1 to 100000 values, 10 and 1000 bins.
    The current values sit exactly on NumPy's edges, so an edge off by
    anything moves them to another bin.
    """
    cases = []
    for n in (1, 2, 3, 17, 100, 5000, 100000):
        i = np.arange(n, dtype=float)
        signed_zero = np.where(rng.random(n) < 0.5, -0.0, 0.0)
        refs = (np.full(n, 7.25), np.where(rng.random(n) < 0.7, 1.0, 2.0),
                rng.integers(0, 13, n).astype(float), i, n - i, np.minimum(i, n - 1 - i),
                np.where(rng.random(n) < 0.6, signed_zero, rng.normal(size=n)))
        for ref in refs:
            for bins in (10, 1000):
                edges = np.quantile(ref, np.arange(1, bins) / bins)
                cases.append((ref, np.concatenate([edges, ref[:50] + 0.5]), bins))
    return {"selection: adversarial references, 1..100000 values, 10 and 1000 bins": cases}


def chi2_cases(rng):
    """Groups of chi2_test inputs."""
    def words(k, n, p=None):
        vocab = ["".join(rng.choice(list(string.ascii_letters + "é,\"{} "), rng.integers(0, 6))) for _ in range(k)]
        return [vocab[i] for i in rng.choice(k, n, p=p)]

    groups = {}
    groups["random vocabularies"] = [
        (words(k, rng.integers(1, 500)), words(k, rng.integers(1, 500)))
        for k in (2, 3, 5, 10, 50) for _ in range(10)]
    adversarial = [
        (["a"], ["a"]), (["a"] * 10, ["a"] * 3), (["a"], ["b"]), (["a", "b"], ["a", "b"]),
        (["x"] * 100, ["y"] * 100), (["", "a"], ["", "", "a"]), (["ab", "a"], ["a", "abc"]),
        (["A", "a"], ["a", "a"]), (["é", "e"], ["e"]),
        ([str(i) for i in range(1000)], [str(i) for i in range(500, 1500)]),
        ([str(i) for i in rng.integers(0, 5000, 20000)], [str(i) for i in rng.integers(0, 5000, 20000)]),
        ([str(i) for i in rng.integers(0, 3, 5000)], [str(i) for i in rng.integers(0, 3, 5000)]),
        (["p"] * 1000 + ["q"], ["p"] * 999 + ["q"] * 40)]
    groups["adversarial: one category, disjoint, empty string, prefixes, many categories"] = adversarial
    return groups


def big_arrays(cur):
    """Two 10^6-element float8[] and text[] in a temporary table, also returned.

    The numbers are Weyl sequences (fractional parts of i times an
    irrational), the current one slightly bent, so the KS p-value is
    moderate and comes from the asymptotic (Pelz-Good) branch.
    """
    cur.execute("DROP TABLE IF EXISTS stats_big")
    cur.execute(f"""CREATE TEMP TABLE stats_big AS
        SELECT array_agg(x - floor(x) ORDER BY i) AS a,
               array_agg(power(y - floor(y), 1.005::float8) ORDER BY i) AS b,
               array_agg((i % 97)::text ORDER BY i) AS ta,
               array_agg(((i * 7) % 101)::text ORDER BY i) AS tb
        FROM generate_series(1, {BIG_N}) AS i,
             LATERAL (SELECT i * 0.6180339887498949::float8 AS x,
                             i * 0.7548776662466927::float8 AS y) AS w""")
    cur.execute("SELECT a, b, ta, tb FROM stats_big")
    a, b, ta, tb = cur.fetchone()
    return np.array(a), np.array(b), ta, tb


def run_big(cur):
    """Time each function on 10^6 values per argument and check its result."""
    a, b, ta, tb = big_arrays(cur)
    g = Group("10^6-element inputs")
    timings = []

    def timed(sql):
        t0 = time.perf_counter()
        cur.execute(sql)
        row = cur.fetchone()
        timings.append((sql.split("(")[0].split()[-1], time.perf_counter() - t0))
        return row

    stat, p = timed("SELECT statistic, p_value FROM mlops.ks_test((SELECT a FROM stats_big), (SELECT b FROM stats_big))")
    res = stats.ks_2samp(a, b)
    g.check("ks statistic abs", abs(stat - res.statistic), KS_STAT_TOL, "big ks")
    g.check("ks p-value abs", abs(p - res.pvalue), KS_P_TOL, "big ks")
    print(f"#   ks_test on 10^6 values: statistic {stat!r}, p-value {p!r}", flush=True)
    (w,) = timed("SELECT mlops.wasserstein(a, b) FROM stats_big")
    g.check("wasserstein rel", rel_diff(w, stats.wasserstein_distance(a, b)), REL_TOL, "big wasserstein")
    epsi, ejs = psi_reference(a, b, 10)
    (psi,) = timed("SELECT mlops.psi(a, b) FROM stats_big")
    (js,) = timed("SELECT mlops.jensen_shannon(a, b) FROM stats_big")
    g.check("psi rel", rel_diff(psi, epsi), REL_TOL, "big psi")
    g.check("js rel", rel_diff(js, ejs), REL_TOL, "big js")
    stat, p, dof = timed("SELECT statistic, p_value, dof FROM mlops.chi2_test((SELECT ta FROM stats_big), (SELECT tb FROM stats_big))")
    cats = sorted(set(ta) | set(tb))
    ia = {c: i for i, c in enumerate(cats)}
    table = np.zeros((2, len(cats)))
    np.add.at(table[0], [ia[c] for c in ta], 1)
    np.add.at(table[1], [ia[c] for c in tb], 1)
    estat, ep, edof = stats.chi2_contingency(table, correction=False)[:3]
    g.check("chi2 statistic rel", rel_diff(stat, estat), REL_TOL, "big chi2")
    g.check("chi2 p-value abs", abs(p - ep), CHI2_P_TOL, "big chi2")
    g.check("chi2 dof", abs(dof - edof), 0, "big chi2")
    g.done(5)
    for name, seconds in timings:
        print(f"#   {name}: {seconds * 1000:.0f} ms for 2 x {BIG_N} values", flush=True)


def main():
    conn = tap.connect()
    cur = conn.cursor()
    rng = np.random.default_rng(20240611)
    for name, cases in ks_cases(rng).items():
        run_ks(cur, name, cases)
    for name, cases in wasserstein_cases(rng).items():
        run_wasserstein(cur, name, cases)
    for name, cases in binned_cases(rng).items():
        run_binned(cur, name, cases)
    for name, cases in chi2_cases(rng).items():
        run_chi2(cur, name, cases)
    for name, cases in selection_cases(np.random.default_rng(5)).items():
        run_binned(cur, name, cases)
    run_big(cur)
    tap.done_testing()


if __name__ == "__main__":
    main()
