"""mlops.compare and mlops.fairness against their references (issue 13).

compare: McNemar's test as statsmodels' mcnemar(table, exact=discordant <
25, correction=True) computes it (statsmodels is not a dependency: its
formulas, in SciPy: exact, statistic min(b, c) and p = min(1, 2 *
binom.cdf(min(b, c), b + c, 0.5)); else (|b - c| - 1)^2 / (b + c) against
chi2(1)), on the predictions mlops.predict_label makes; the paired t-test
of squared errors is scipy.stats.ttest_rel itself.  Both cases of McNemar
(more and fewer than 25 discordant rows) and regression are checked, on
real data sets.

fairness: fairlearn's per-group metrics and disparities (fairlearn is not
a dependency either: its formulas, in NumPy) on pima with a text attribute
that has NULLs, an integer and a boolean attribute; and the model card
shows the latest report.
"""
import json

import numpy as np
import scipy.stats as st

import refdata
import tap

conn = tap.connect()
cur = conn.cursor()


def labels_of(model_id, table):
    cur.execute(f"SELECT mlops.predict_label(%s::bigint, t), t.{TARGET[table]}::text FROM {table} t "
                f"WHERE t.{TARGET[table]} IS NOT NULL ORDER BY ord", (model_id,))
    rows = cur.fetchall()
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])


def mcnemar_ref(right_a, right_b):
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(right_b & ~right_a))
    if b + c < 25:
        return "mcnemar_exact", float(min(b, c)), float(min(1.0, 2 * st.binom.cdf(min(b, c), b + c, 0.5)))
    stat = (abs(b - c) - 1) ** 2 / (b + c)
    return "mcnemar_chi2", stat, float(st.chi2.sf(stat, 1))


def train(project, table, target, algorithm, hp=None, exclude=None):
    cur.execute("SELECT model_id FROM mlops.train(%s, %s, %s, algorithm => %s, hyperparams => %s, "
                "exclude => %s, split => 'last', order_by => 'ord', test_size => 0.25, deploy => 'never')",
                (project, table, target, algorithm, json.dumps(hp or {}), exclude or ["id", "ord"]))
    return cur.fetchone()[0]


TARGET = {"cf_pima": "diabetes", "cf_bc": "diagnosis", "cf_diab": "progression"}
refdata.load(conn, "cf_pima", "pima_diabetes.csv", "diabetes", "text")
refdata.load(conn, "cf_bc", "breast_cancer.csv", "diagnosis", "text")
refdata.load(conn, "cf_diab", "diabetes.csv", "progression", "float8")

# classification: many discordant rows (chi-square) and few (exact)
cases = [
    ("cf_pima", train("cf_pima", "cf_pima", "diabetes", "xgboost", {"n_estimators": 20}),
     train("cf_pima", "cf_pima", "diabetes", "logistic")),
    ("cf_bc", train("cf_bc", "cf_bc", "diagnosis", "xgboost", {"n_estimators": 20}),
     train("cf_bc", "cf_bc", "diagnosis", "xgboost", {"n_estimators": 22, "max_depth": 3})),
    ("cf_bc", train("cf_bc", "cf_bc", "diagnosis", "logistic"),
     train("cf_bc", "cf_bc", "diagnosis", "random_forest", {"n_estimators": 10})),
]
seen = set()
for table, a, b in cases:
    pa, y = labels_of(a, table)
    pb, _ = labels_of(b, table)
    test, stat, p = mcnemar_ref(pa == y, pb == y)
    seen.add(test)
    cur.execute("SELECT * FROM mlops.compare(%s, %s, %s)", (a, b, table))
    got = cur.fetchone()
    tap.ok(got[0] == test, f"{table} {a} vs {b}: {test}", f"got {got[0]}")
    tap.is_close([got[1], got[2], got[3], got[4]], [stat, p, np.mean(pa == y), np.mean(pb == y)],
                 rel=1e-9, abs=1e-12, name=f"{table} {a} vs {b}: statistic, p-value and accuracies equal statsmodels' mcnemar")
    sig = p < 0.05 and np.mean(pa == y) != np.mean(pb == y)
    better = ("a" if np.mean(pa == y) > np.mean(pb == y) else "b") if sig else "neither"
    tap.ok(got[5] == better, f"{table} {a} vs {b}: better is {better}", f"got {got[5]}")
tap.ok(seen == {"mcnemar_exact", "mcnemar_chi2"}, "both forms of McNemar's test were checked")

# regression: paired t-test of squared errors
a = train("cf_diab", "cf_diab", "progression", "xgboost", {"n_estimators": 30})
b = train("cf_diab", "cf_diab", "progression", "ridge")
cur.execute("SELECT mlops.predict(%s::bigint, t), mlops.predict(%s::bigint, t), progression FROM cf_diab t ORDER BY ord",
            (a, b))
pr = np.array(cur.fetchall(), dtype=float)
ea, eb = (pr[:, 0] - pr[:, 2]) ** 2, (pr[:, 1] - pr[:, 2]) ** 2
ref = st.ttest_rel(ea, eb)
cur.execute("SELECT * FROM mlops.compare(%s, %s, 'cf_diab')", (a, b))
got = cur.fetchone()
tap.ok(got[0] == "paired_t", "regression: paired_t")
tap.is_close([got[1], got[2], got[3], got[4]], [ref.statistic, ref.pvalue, ea.mean(), eb.mean()], rel=1e-9,
             name="regression: statistic, p-value and MSEs equal scipy.stats.ttest_rel on squared errors")

# fairness
cur.execute("""ALTER TABLE cf_pima ADD COLUMN age_band text, ADD COLUMN older boolean;
               UPDATE cf_pima SET age_band = CASE WHEN age < 30 THEN 'young' WHEN age < 50 THEN 'mid' ELSE 'old' END,
                                  older = age >= 40;
               UPDATE cf_pima SET age_band = NULL WHERE pregnant = 0 AND age > 35""")
model = train("cf_pima", "cf_pima", "diabetes", "xgboost", {"n_estimators": 20},
              exclude=["id", "ord", "age_band", "older"])
cur.execute("SELECT (mlops.predict_label(%s::bigint, t) = 'pos'), diabetes = 'pos', age_band, pregnant, older "
            "FROM cf_pima t WHERE diabetes IS NOT NULL", (model,))
rows = cur.fetchall()
pred = np.array([r[0] for r in rows])
act = np.array([r[1] for r in rows])


def div(a, b):
    return a / b if b > 0 else np.nan


def fairlearn_ref(values):
    """Per group (value order, NULL last): rows and the five rates; then the disparities."""
    keys = sorted({v for v in values if v is not None}) + ([None] if any(v is None for v in values) else [])
    out = []
    for k in keys:
        m = np.array([v == k if k is not None else v is None for v in values])
        tp, fp = np.sum(pred & act & m), np.sum(pred & ~act & m)
        tn, fn = np.sum(~pred & ~act & m), np.sum(~pred & act & m)
        n = int(m.sum())
        out.append([k, n, div(tp + fp, n), div(tp, tp + fn), div(fp, fp + tn), div(tp, tp + fp), div(tp + tn, n)])
    sel = np.array([r[2] for r in out])
    tpr = np.array([r[3] for r in out])
    fpr = np.array([r[4] for r in out])
    dpd = np.nanmax(sel) - np.nanmin(sel)
    dpr = np.nanmin(sel) / np.nanmax(sel)
    eod = max(np.nanmax(tpr) - np.nanmin(tpr), np.nanmax(fpr) - np.nanmin(fpr))
    return out, [dpd, dpr, eod]


cur.execute("SELECT * FROM mlops.fairness('cf_pima', 'cf_pima', '{age_band,pregnant,older}', %s)", (model,))
got = cur.fetchall()
for col, attr, fmt in [(2, "age_band", str), (3, "pregnant", lambda v: f"{v:g}"), (4, "older", lambda v: str(int(v)))]:
    values = [r[col] for r in rows]
    ref, disp = fairlearn_ref(values)
    mine = [g for g in got if g[0] == attr]
    tap.ok([g[1] for g in mine] == [None if k is None else fmt(k) for k, *_ in ref],
           f"fairness {attr}: the groups, in value order, NULL last", str([g[1] for g in mine]))
    tap.ok([g[2] for g in mine] == [r[1] for r in ref], f"fairness {attr}: rows per group")
    flat_got = [np.nan if v is None else v for g in mine for v in g[3:8]]
    flat_ref = [v for r in ref for v in r[2:]]
    tap.ok(np.allclose(flat_got, flat_ref, rtol=1e-12, atol=0, equal_nan=True),
           f"fairness {attr}: selection rate, TPR, FPR, precision, accuracy equal fairlearn's formulas")
    tap.ok(all(np.allclose([g[8], g[9], g[10]], disp, rtol=1e-12) for g in mine),
           f"fairness {attr}: demographic parity difference and ratio, equalized odds difference equal fairlearn's")

cur.execute("SELECT mlops.model_card(%s)", (model,))
card = cur.fetchone()[0]
tap.ok("Fairness by group" in card and "| age_band | NULL |" in card and "demographic parity difference" in card,
       "the model card shows the latest fairness report")
tap.done_testing()
