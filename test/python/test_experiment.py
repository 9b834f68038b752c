"""Canary and shadow experiments against statsmodels 0.13 / SciPy 1.10
(issue 12).

- Routing: mlops.variant's choice is reproduced from its documented
  definition (FxHash steps over the raw feature values' bits, SplitMix64's
  finalizer, top 53 bits below the fraction), on iris and on pima (NULL features); the share of
  rows routed to the challenger is near the fraction.
- mlops.experiment on real data (contrib/datasets), each row scored by
  mlops.predict_label / mlops.predict with its variant's model, equals:
    canary, classification (pima, breast cancer): per variant the accuracy
      with statsmodels' proportion_confint(method='wilson'); the difference
      with proportions_ztest (pooled) and confint_proportions_2indep
      (method='wald', compare='diff')
    canary, regression (diabetes): per variant the mean squared error with
      scipy.stats.t.interval; the difference with
      scipy.stats.ttest_ind(equal_var=False) and the Welch-Satterthwaite
      t interval
    shadow, classification: statsmodels' mcnemar (exact below 25 discordant
      pairs: iris; chi-square with continuity correction above: pima), the
      Wald interval for matched pairs
    shadow, regression: scipy.stats.ttest_rel and its t interval
  values and p-values within 1e-9 (relative) or 1e-12 (absolute), bounds
  within 1e-9 of the interval's width.
"""
import math
import struct

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import (confint_proportions_2indep, proportion_confint,
                                          proportions_ztest)

import tap

conn = tap.connect()
cur = conn.cursor()
M64 = (1 << 64) - 1


def to_challenger(raw, fraction):
    """routing.c: FxHash steps over the values' bits, SplitMix64's finalizer, top 53 bits < fraction."""
    h = len(raw)
    for v in raw:
        if v is None or math.isnan(v):
            bits = 0x7FF8000000000000
        else:
            bits = struct.unpack("<Q", struct.pack("<d", float(v) + 0.0))[0]
        h = ((((h << 5) | (h >> 59)) & M64) ^ bits) * 0x9E3779B97F4A7C15 & M64
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & M64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & M64
    h ^= h >> 31
    return (h >> 11) * (1.0 / 9007199254740992.0) < fraction


def load(table, csv, label, label_type):
    tap.load_csv(conn, table, tap.datasets_dir() / csv, label, label_type)


def train(project, table, label, algorithm, hyperparams="{}", deploy="never"):
    cur.execute("SELECT model_id FROM mlops.train(%s, %s, %s, algorithm => %s, hyperparams => %s, "
                "exclude => '{id}', deploy => %s)", (project, table, label, algorithm, hyperparams, deploy))
    return cur.fetchone()[0]


def experiment(project, table, label):
    cur.execute("SELECT variant, model_id, rows, metric, value, ci_low, ci_high, p_value, significant "
                "FROM mlops.experiment(%s, %s, %s)", (project, table, label))
    return {r[0]: r for r in cur.fetchall()}


def scores(table, label, model_id, task):
    """Per row (by id): 1/0 right label, or squared error, from predict."""
    if task == "classification":
        cur.execute(f"SELECT (mlops.predict_label(%s, t) = t.{label}::text)::int::float8 FROM {table} t "
                    f"WHERE t.{label} IS NOT NULL ORDER BY id", (model_id,))
    else:
        cur.execute(f"SELECT power(mlops.predict(%s, t) - t.{label}, 2) FROM {table} t "
                    f"WHERE t.{label} IS NOT NULL ORDER BY id", (model_id,))
    return np.array([r[0] for r in cur.fetchall()])


def variants(project, table, label):
    cur.execute(f"SELECT mlops.variant(%s, t) = 'challenger' FROM {table} t "
                f"WHERE t.{label} IS NOT NULL ORDER BY id", (project,))
    return np.array([r[0] for r in cur.fetchall()])


def check(got, want, name):
    """got: an experiment row; want: (rows, value, low, high, p or None).

    The bounds are compared to 1e-9 of the interval's width: a t interval's
    quantile is the root of the exact tail (1e-15), where SciPy 1.10's
    t.ppf (Cephes stdtri) is off by up to 4e-10, which a bound near zero
    (mean minus half-width) would magnify.
    """
    tap.ok(got[2] == want[0], f"{name}: rows", f"got {got[2]}, expected {want[0]}")
    width = abs(want[3] - want[2])
    tap.is_close([got[4], got[7]], [want[1], want[4]], rel=1e-9, abs=1e-12, name=f"{name}: value, p-value")
    tap.is_close(list(got[5:7]), list(want[2:4]), rel=0, abs=1e-9 * width, name=f"{name}: 95 % interval")


def t_interval(diff, se, df):
    half = stats.t.ppf(0.975, df) * se
    return diff - half, diff + half


# 1. routing reproduced from its definition
load("exp_iris", "iris.csv", "species", "text")
load("exp_pima", "pima_diabetes.csv", "diabetes", "text")
iris_cols = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
pima_cols = ["pregnant", "glucose", "pressure", "triceps", "insulin", "mass", "pedigree", "age"]
for project, table, label, cols, fraction in [("exp_iris", "exp_iris", "species", iris_cols, 0.3),
                                              ("exp_pima", "exp_pima", "diabetes", pima_cols, 0.4)]:
    champion = train(project, table, label, "logistic", deploy="always")
    challenger = train(project, table, label, "xgboost", '{"n_estimators": 5, "max_depth": 2}')
    cur.execute("SELECT status FROM mlops.deploy(%s, 'canary', %s, %s)", (project, challenger, fraction))
    cur.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE {label} IS NOT NULL ORDER BY id")
    expected = np.array([to_challenger(r, fraction) for r in cur.fetchall()])
    got = variants(project, table, label)
    tap.ok((got == expected).all(), f"{project}: mlops.variant follows the documented hash",
           f"{int((got != expected).sum())} of {len(got)} rows differ")
    share = got.mean()
    bound = 4 * math.sqrt(fraction * (1 - fraction) / len(got))
    tap.ok(abs(share - fraction) < bound, f"{project}: {share:.3f} of the rows go to the challenger (fraction {fraction})")


def canary_classification(project, table, label):
    cur.execute("SELECT champion_model_id, challenger_model_id FROM mlops.experiments "
                "WHERE project = %s AND ended_at IS NULL", (project,))
    champion, challenger = cur.fetchone()
    route = variants(project, table, label)
    s0 = scores(table, label, champion, "classification")[~route]
    s1 = scores(table, label, challenger, "classification")[route]
    res = experiment(project, table, label)
    x0, n0, x1, n1 = s0.sum(), len(s0), s1.sum(), len(s1)
    for name, x, n in [("champion", x0, n0), ("challenger", x1, n1)]:
        low, high = proportion_confint(x, n, alpha=0.05, method="wilson")
        check(res[name], (n, x / n, low, high, None), f"{project} canary {name} accuracy (Wilson)")
    z, p = proportions_ztest([x1, x0], [n1, n0])
    low, high = confint_proportions_2indep(x1, n1, x0, n0, method="wald", compare="diff")
    check(res["difference"], (n0 + n1, x1 / n1 - x0 / n0, low, high, p),
          f"{project} canary difference (proportions_ztest, Wald interval)")
    tap.ok(res["difference"][8] == (p < 0.05), f"{project}: significant is p < 0.05")


def shadow_classification(project, table, label, exact):
    cur.execute("SELECT champion_model_id, challenger_model_id FROM mlops.experiments "
                "WHERE project = %s AND ended_at IS NULL", (project,))
    champion, challenger = cur.fetchone()
    s0 = scores(table, label, champion, "classification")
    s1 = scores(table, label, challenger, "classification")
    res = experiment(project, table, label)
    n = len(s0)
    b = int(((s1 == 1) & (s0 == 0)).sum())
    c = int(((s1 == 0) & (s0 == 1)).sum())
    tap.ok((b + c < 25) == exact, f"{project}: {b + c} discordant pairs ({'exact' if exact else 'chi-square'} test)")
    ref = mcnemar([[0, b], [c, 0]], exact=b + c < 25, correction=True)
    d = (b - c) / n
    half = 1.959963984540054 * math.sqrt((b + c) - (b - c) ** 2 / n) / n
    for name, s in [("champion", s0), ("challenger", s1)]:
        low, high = proportion_confint(s.sum(), n, alpha=0.05, method="wilson")
        check(res[name], (n, s.mean(), low, high, None), f"{project} shadow {name} accuracy (Wilson)")
    check(res["difference"], (n, d, d - half, d + half, ref.pvalue), f"{project} shadow difference (mcnemar)")


# 2. canary and shadow, classification
canary_classification("exp_pima", "exp_pima", "diabetes")
canary_classification("exp_iris", "exp_iris", "species")
load("exp_bc", "breast_cancer.csv", "diagnosis", "text")
train("exp_bc", "exp_bc", "diagnosis", "logistic", deploy="always")
bc2 = train("exp_bc", "exp_bc", "diagnosis", "xgboost", '{"n_estimators": 2, "max_depth": 1}')
cur.execute("SELECT status FROM mlops.deploy('exp_bc', 'canary', %s, 0.25)", (bc2,))
canary_classification("exp_bc", "exp_bc", "diagnosis")
for project, table, label, exact in [("exp_iris", "exp_iris", "species", True),
                                     ("exp_pima", "exp_pima", "diabetes", False)]:
    cur.execute("SELECT challenger_model_id FROM mlops.experiments WHERE project = %s AND ended_at IS NULL",
                (project,))
    cur.execute("SELECT status FROM mlops.deploy(%s, 'shadow', %s)", (project, cur.fetchone()[0]))
    shadow_classification(project, table, label, exact)

# 3. regression: Welch (canary), paired t (shadow)
load("exp_diabetes", "diabetes.csv", "progression", "float8")
r1 = train("exp_reg", "exp_diabetes", "progression", "linear", deploy="always")
r2 = train("exp_reg", "exp_diabetes", "progression", "xgboost", '{"n_estimators": 10, "max_depth": 2}')
cur.execute("SELECT status FROM mlops.deploy('exp_reg', 'canary', %s, 0.5)", (r2,))
cur.execute("DROP TABLE IF EXISTS exp_small; CREATE TABLE exp_small AS SELECT * FROM exp_diabetes ORDER BY id LIMIT 12")


def canary_regression(table):
    """Welch's test on the squared errors; a small table has few degrees of freedom."""
    route = variants("exp_reg", table, "progression")
    e0 = scores(table, "progression", r1, "regression")
    e1 = scores(table, "progression", r2, "regression")
    a, b = e1[route], e0[~route]
    res = experiment("exp_reg", table, "progression")
    for name, s in [("champion", b), ("challenger", a)]:
        low, high = stats.t.interval(0.95, len(s) - 1, loc=s.mean(), scale=stats.sem(s))
        check(res[name], (len(s), s.mean(), low, high, None), f"{table} canary {name} mse (t interval)")
    ref = stats.ttest_ind(a, b, equal_var=False)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    low, high = t_interval(a.mean() - b.mean(), math.sqrt(va + vb), df)
    check(res["difference"], (len(a) + len(b), a.mean() - b.mean(), low, high, ref.pvalue),
          f"{table} canary difference (ttest_ind equal_var=False, Welch interval, {df:.2f} degrees of freedom)")
    return route


route = canary_regression("exp_diabetes")
canary_regression("exp_small")
e0 = scores("exp_diabetes", "progression", r1, "regression")
e1 = scores("exp_diabetes", "progression", r2, "regression")

cur.execute("SELECT status FROM mlops.deploy('exp_reg', 'shadow', %s)", (r2,))
res = experiment("exp_reg", "exp_diabetes", "progression")
ref = stats.ttest_rel(e1, e0)
d = e1 - e0
low, high = t_interval(d.mean(), stats.sem(d), len(d) - 1)
for name, s in [("champion", e0), ("challenger", e1)]:
    low_v, high_v = stats.t.interval(0.95, len(s) - 1, loc=s.mean(), scale=stats.sem(s))
    check(res[name], (len(s), s.mean(), low_v, high_v, None), f"exp_reg shadow {name} mse (t interval)")
check(res["difference"], (len(d), d.mean(), low, high, ref.pvalue), "exp_reg shadow difference (ttest_rel)")

# 4. predict answers as routed (canary), the champion (shadow)
cur.execute("SELECT status FROM mlops.deploy('exp_reg', 'canary', %s, 0.5)", (r2,))
cur.execute("SELECT mlops.predict('exp_reg', t) FROM exp_diabetes t ORDER BY id")
got = np.array([r[0] for r in cur.fetchall()])
cur.execute("SELECT mlops.predict(%s, t), mlops.predict(%s, t) FROM exp_diabetes t ORDER BY id", (r1, r2))
both = np.array(cur.fetchall())
tap.ok((got == np.where(route, both[:, 1], both[:, 0])).all(), "exp_reg: predict answers each row with its variant")

for project in ["exp_iris", "exp_pima", "exp_bc", "exp_reg"]:
    cur.execute("SELECT mlops.drop_project(%s)", (project,))
tap.done_testing()
