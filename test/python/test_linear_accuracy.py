"""Least squares and ridge on ill-conditioned designs, against an accurate reference.

`linear` and `ridge` train from sufficient statistics (a streaming QR of the
featurized rows, src/train/linear_accum.c).  On designs whose condition
number is far from 1 / epsilon their coefficients must equal the exact
least-squares (or ridge) solution of the featurized rows that
mlops.featurize returns: the reference is computed here in extended
precision (numpy.longdouble: the normal equations of the centered rows,
solved by Cholesky, then refined with residuals in extended precision).
numpy.linalg.lstsq on the centered float64 rows (what 0.1.0 computed, by
LAPACK's dgelsd) is printed beside it for comparison.  The designs: two
nearly collinear columns (condition number about 1e4 after
standardization), and an unscaled column far from zero (1e6 + N(0, 1)).
"""
import io

import numpy as np

import tap

conn = tap.connect()
cur = conn.cursor()
LD = np.longdouble


def load(table, n, seed):
    """n rows: x2 nearly collinear with x1, x5 far from zero, y linear in them with noise."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    x2 = x1 + 1e-4 * rng.normal(0, 1, n)
    x3 = rng.normal(5, 2, n)
    x4 = rng.uniform(-1, 1, n)
    x5 = 1e6 + rng.normal(0, 1, n)
    y = 1.5 * x1 + 2 * x2 - x3 + 0.25 * x4 + 0.5 * x5 + rng.normal(0, 0.1, n)
    buf = io.StringIO()
    for i in range(n):
        buf.write(f"{x1[i]!r}\t{x2[i]!r}\t{x3[i]!r}\t{x4[i]!r}\t{x5[i]!r}\t{y[i]!r}\n")
    buf.seek(0)
    cur.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} "
                "(x1 float8, x2 float8, x3 float8, x4 float8, x5 float8, y float8)")
    cur.copy_from(buf, table)


def cholesky_solve(A, b):
    """Solve A x = b (A symmetric positive definite) by Cholesky, in A's precision."""
    p = A.shape[0]
    L = np.zeros_like(A)
    for j in range(p):
        s = A[j, j] - np.sum(L[j, :j] * L[j, :j])
        L[j, j] = np.sqrt(s)
        for i in range(j + 1, p):
            L[i, j] = (A[i, j] - np.sum(L[i, :j] * L[j, :j])) / L[j, j]
    z = np.zeros(p, dtype=A.dtype)
    for i in range(p):
        z[i] = (b[i] - np.sum(L[i, :i] * z[:i])) / L[i, i]
    x = np.zeros(p, dtype=A.dtype)
    for i in reversed(range(p)):
        x[i] = (z[i] - np.sum(L[i + 1:, i] * x[i + 1:])) / L[i, i]
    return x


def reference(X, y, alpha):
    """min ||Xc w - yc||^2 + alpha ||w||^2 in extended precision; (w, intercept)."""
    X = X.astype(LD)
    y = y.astype(LD)
    xmean, ymean = X.mean(axis=0), y.mean()
    Xc, yc = X - xmean, y - ymean
    G = Xc.T @ Xc + alpha * np.eye(X.shape[1], dtype=LD)
    w = cholesky_solve(G, Xc.T @ yc)
    for _ in range(3):
        w = w + cholesky_solve(G, Xc.T @ (yc - Xc @ w) - alpha * w)
    return w, ymean - xmean @ w


def weights(model_id):
    cur.execute("SELECT f.feature, w.weight FROM mlops.weights(%s) w LEFT JOIN mlops.model_features f "
                "ON f.model_id = %s AND f.feature = w.feature ORDER BY f.position NULLS LAST", (model_id, model_id))
    rows = cur.fetchall()
    return np.array([w for f, w in rows if f is not None]), rows[-1][1]


def check(table, algorithm, hyperparams, preprocess, alpha):
    cur.execute("SELECT model_id FROM mlops.train(%s, %s, 'y', algorithm => %s, hyperparams => %s, "
                "preprocess => %s, test_size => 0, deploy => 'never')",
                (f"{table}_{algorithm}", table, algorithm, hyperparams, preprocess))
    model_id = cur.fetchone()[0]
    coef, intercept = weights(model_id)
    cur.execute(f"SELECT mlops.featurize(%s, t), y FROM {table} t", (model_id,))
    rows = cur.fetchall()
    X = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    w, b = reference(X, y, alpha)
    w, b = w.astype(float), float(b)
    scale = np.max(np.abs(w))
    name = f"{table}/{algorithm} {preprocess}"
    err = np.max(np.abs(coef - w)) / scale
    diag = f"mlops {err:.3g}"
    if alpha == 0:
        xmean, ymean = X.mean(axis=0), y.mean()
        wn = np.linalg.lstsq(X - xmean, y - ymean, rcond=None)[0]
        diag += f", numpy.linalg.lstsq on the centered rows {np.max(np.abs(wn - w)) / scale:.3g}"
    tap.ok(err < 1e-9, f"{name}: coefficients equal the extended-precision solution (1e-9 of the largest)", diag)
    tap.is_close(intercept, b, rel=1e-9, abs=1e-9, name=f"{name}: intercept equals the extended-precision one")


load("acc_ill", 20000, 11)
scaled = '{}'
unscaled = '{"x5": {"scale": "none"}}'
check("acc_ill", "linear", '{}', scaled, 0)
check("acc_ill", "linear", '{}', unscaled, 0)
check("acc_ill", "ridge", '{"alpha": 0.001}', scaled, 0.001)
check("acc_ill", "ridge", '{"alpha": 0.001}', unscaled, 0.001)
tap.done_testing()
