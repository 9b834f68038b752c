"""Least squares on rank-deficient designs: the stable minimum-norm solution.

With the default one-hot encoding, every category group sums to one (so the
groups are collinear with each other and with the intercept), and here a
numeric column is also a combination of one one-hot column and the
intercept, another of two numeric columns.  mlops's `linear` must give
numpy.linalg.lstsq's minimum-norm solution with its default rcond
(max(n, p) * eps * largest singular value) on the centered design that
mlops.featurize returns: scikit-learn's LinearRegression (rcond = eps) keeps
numerically null directions, with huge coefficients that depend on the
order of the rows.  The same rows in another order must give the same
coefficients (1e-9 relative) and predictions.
"""
import io

import numpy as np

import tap

conn = tap.connect()
cur = conn.cursor()


def load(table, n, seed):
    """A table of n rows: two categories, collinear numeric columns, ord and ord2 orders."""
    rng = np.random.default_rng(seed)
    a = rng.choice(["a0", "a1", "a2", "a3", "a4"], size=n, p=[0.4, 0.25, 0.2, 0.1, 0.05])
    b = rng.choice(["b0", "b1", "b2"], size=n)
    x1 = rng.normal(10, 3, n)
    x2 = rng.normal(-2, 1, n)
    x3 = x1 - 2 * x2 + 0.5                   # collinear numeric columns
    z = np.where(a == "a2", 3.0, 0.0) + 1.0  # collinear with a one-hot column and the intercept
    y = (2 * x1 - x2 + np.select([a == "a1", a == "a2", a == "a3"], [4.0, -3.0, 1.5], 0.0)
         + np.where(b == "b2", 2.0, 0.0) + rng.normal(0, 20, n))
    ord1 = rng.permutation(n)
    ord2 = rng.permutation(n)
    buf = io.StringIO()
    for i in range(n):
        buf.write(f"{i}\t{ord1[i]}\t{ord2[i]}\t{a[i]}\t{b[i]}\t{x1[i]!r}\t{x2[i]!r}\t{x3[i]!r}\t{z[i]!r}\t{y[i]!r}\n")
    buf.seek(0)
    cur.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int, ord int, ord2 int, a text, b text, "
                "x1 float8, x2 float8, x3 float8, z float8, y float8)")
    cur.copy_from(buf, table)


def train(table, order):
    """Train linear on every row, read in the given order; (model_id, coefficients, intercept)."""
    cur.execute("SELECT model_id FROM mlops.train(%s, %s, 'y', algorithm => 'linear', exclude => '{id,ord,ord2}', "
                "order_by => %s, test_size => 0, deploy => 'never')", (table, table, order))
    model_id = cur.fetchone()[0]
    cur.execute("SELECT f.feature, w.weight FROM mlops.weights(%s) w LEFT JOIN mlops.model_features f "
                "ON f.model_id = %s AND f.feature = w.feature ORDER BY f.position NULLS LAST", (model_id, model_id))
    rows = cur.fetchall()
    return model_id, np.array([w for f, w in rows if f is not None]), rows[-1][1]


def check(table, n, seed):
    load(table, n, seed)
    model_id, coef, intercept = train(table, "ord")
    cur.execute(f"SELECT mlops.featurize(%s, t), y, mlops.predict(%s, t) FROM {table} t ORDER BY id",
                (model_id, model_id))
    rows = cur.fetchall()
    X = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    pred = np.array([r[2] for r in rows])
    xmean, ymean = X.mean(axis=0), y.mean()
    w, _, rank, _ = np.linalg.lstsq(X - xmean, y - ymean, rcond=None)
    b = ymean - xmean @ w
    name = f"{n} rows"
    tap.ok(rank < X.shape[1], f"{name}: the design is rank-deficient (rank {rank} of {X.shape[1]})")
    tap.is_close(list(coef) + [intercept], list(w) + [b], rel=1e-6, abs=1e-8,
                 name=f"{name}: coefficients equal numpy.linalg.lstsq's minimum-norm solution")
    tap.ok(np.max(np.abs(coef)) < 100, f"{name}: no huge coefficient along a null direction",
           f"largest |coefficient| {np.max(np.abs(coef))}")
    tap.is_close(list(pred), list(X @ w + b), rel=1e-9, abs=1e-9,
                 name=f"{name}: predictions equal numpy's")

    model2, coef2, intercept2 = train(table, "ord2")
    tap.is_close(list(coef2) + [intercept2], list(coef) + [intercept], rel=1e-9, abs=1e-12,
                 name=f"{name}: the same rows in another order give the same coefficients")
    cur.execute(f"SELECT mlops.predict(%s, t) FROM {table} t ORDER BY id", (model2,))
    tap.is_close([r[0] for r in cur.fetchall()], list(pred), rel=1e-9, abs=1e-9,
                 name=f"{name}: and the same predictions")


check("rank_small", 1000, 1)
check("rank_large", 250000, 2)
tap.done_testing()
