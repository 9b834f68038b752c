#!/usr/bin/python3
"""Check the mlops evaluation metrics against scikit-learn.

Calls two SQL functions and compares every metric they return with
sklearn.metrics on the same inputs, printing TAP:

  CLASSIFICATION_FUNC(y int[], proba float8[]) RETURNS jsonb
      y: class indexes in [0, k); proba: n x k probabilities (2-D array)
  REGRESSION_FUNC(y float8[], pred float8[]) RETURNS jsonb

Both must return the metric members described in src/train/metrics.h wrapped in
braces.  Numbers must match within 1e-12 relative (1e-15 absolute near
zero); undefined values must be null; confusion matrices must be equal.

Run with the system Python (scikit-learn, NumPy, psycopg2); the connection
comes from the PG* environment variables:

  /usr/bin/python3 test/python/test_metrics.py
"""

import argparse
import csv
import math
import os
import sys
import time
import warnings

import numpy as np
import psycopg2
from psycopg2 import sql
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import (accuracy_score, confusion_matrix,
                             explained_variance_score, f1_score, log_loss,
                             matthews_corrcoef, mean_absolute_error,
                             mean_squared_error, precision_score, r2_score,
                             recall_score, roc_auc_score)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

REL_TOL = 1e-12
ABS_TOL = 1e-15
CLASSIFICATION_KEYS = {"accuracy", "precision", "recall", "f1", "roc_auc",
                       "log_loss", "mcc", "confusion_matrix"}
REGRESSION_KEYS = {"r2", "mae", "mse", "rmse", "explained_variance"}
DATASETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib", "datasets")


def qualified(name):
    """SQL identifier for a possibly schema-qualified function name."""
    return sql.SQL(".").join(sql.Identifier(p) for p in name.split("."))


def array_literal(values):
    """PostgreSQL array literal of a 1-D or 2-D NumPy array, round-trip exact."""
    if values.ndim == 1:
        return "{" + ",".join(map(repr, values.tolist())) + "}"
    return "{" + ",".join(array_literal(row) for row in values) + "}"


def reference_classification(y, proba, k):
    """sklearn.metrics for class indexes y and n x k probabilities."""
    pred = proba.argmax(axis=1)
    labels = list(range(k))
    if k == 2:
        averaging = {"average": "binary", "pos_label": 1}
    else:
        averaging = {"average": "macro", "labels": labels}
    try:
        if k == 2:
            roc_auc = roc_auc_score(y, proba[:, 1])
        else:
            roc_auc = roc_auc_score(y, proba, multi_class="ovr",
                                    average="macro", labels=labels)
    except ValueError:
        roc_auc = None
    return {
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred, zero_division=0, **averaging),
        "recall": recall_score(y, pred, zero_division=0, **averaging),
        "f1": f1_score(y, pred, zero_division=0, **averaging),
        "roc_auc": roc_auc,
        "log_loss": log_loss(y, proba, labels=labels),
        "mcc": matthews_corrcoef(y, pred),
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
    }


def reference_regression(y, pred):
    """sklearn.metrics for true values y and predictions pred."""
    return {
        "r2": r2_score(y, pred),
        "mae": mean_absolute_error(y, pred),
        "mse": mean_squared_error(y, pred),
        "rmse": mean_squared_error(y, pred, squared=False),
        "explained_variance": explained_variance_score(y, pred),
    }


class Tap:
    """Numbered TAP output with a comparison of metric dictionaries."""

    def __init__(self, conn, args):
        self.conn = conn
        self.args = args
        self.count = 0
        self.failed = 0
        self.worst_rel = 0.0
        self.worst_abs = 0.0

    def call(self, func, *params):
        """Call func(params) and return the decoded jsonb and its run time."""
        query = sql.SQL("SELECT {}({})").format(
            qualified(func), sql.SQL(", ").join(sql.Placeholder() * len(params)))
        with self.conn.cursor() as cur:
            start = time.perf_counter()
            cur.execute(query, params)
            result = cur.fetchone()[0]
            return result, time.perf_counter() - start

    def compare(self, got, want):
        """Return (problems, max abs diff, max rel diff, worst key)."""
        problems = []
        max_abs = max_rel = 0.0
        worst = ""
        if set(got) != set(want):
            problems.append("keys %s, expected %s" % (sorted(got), sorted(want)))
        for key, expected in want.items():
            value = got.get(key)
            if key == "confusion_matrix":
                if value != expected:
                    problems.append("confusion_matrix %s, expected %s"
                                    % (value, expected))
                continue
            if expected is None or math.isnan(expected):
                if value is not None:
                    problems.append("%s = %r, expected null" % (key, value))
                continue
            if value is None:
                problems.append("%s = null, expected %r" % (key, expected))
                continue
            diff = abs(value - expected)
            rel = diff / abs(expected) if expected != 0 else diff
            if diff > max_abs:
                max_abs = diff
            if rel > max_rel:
                max_rel, worst = rel, key
            if diff > max(REL_TOL * abs(expected), ABS_TOL):
                problems.append("%s = %r, expected %r (rel %.3g)"
                                % (key, value, expected, rel))
        return problems, max_abs, max_rel, worst

    def check(self, name, got, want, seconds):
        """Emit one TAP line comparing got with want."""
        self.count += 1
        problems, max_abs, max_rel, worst = self.compare(got, want)
        self.worst_abs = max(self.worst_abs, max_abs)
        self.worst_rel = max(self.worst_rel, max_rel)
        if problems:
            self.failed += 1
            print("not ok %d - %s" % (self.count, name))
            for problem in problems:
                print("#   %s" % problem)
        else:
            print("ok %d - %s" % (self.count, name))
        print("#   max abs diff %.3g, max rel diff %.3g%s, %.3f s"
              % (max_abs, max_rel, " (%s)" % worst if worst else "", seconds))
        sys.stdout.flush()

    def classification(self, name, y, proba):
        """Compare the SQL classification metrics with scikit-learn's."""
        y = np.asarray(y, dtype=np.int32)
        proba = np.asarray(proba, dtype=np.float64)
        k = proba.shape[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            want = reference_classification(y, proba, k)
        got, seconds = self.call(self.args.classification_func,
                                 array_literal(y), array_literal(proba))
        self.check(name, got, want, seconds)

    def regression(self, name, y, pred, override=None):
        """Compare the SQL regression metrics with scikit-learn's, with the
        expected values of override replacing the reference's."""
        y = np.asarray(y, dtype=np.float64)
        pred = np.asarray(pred, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            want = reference_regression(y, pred)
        want.update(override or {})
        got, seconds = self.call(self.args.regression_func,
                                 array_literal(y), array_literal(pred))
        self.check(name, got, want, seconds)


def random_proba(rng, n, k, sharpness=1.0):
    """n rows of random class probabilities (Dirichlet), rows summing to 1."""
    return rng.dirichlet(np.full(k, sharpness), size=n)


def labels_from(rng, proba, noise):
    """Class indexes that mostly follow the probabilities' argmax."""
    y = proba.argmax(axis=1)
    flip = rng.random(len(y)) < noise
    y[flip] = rng.integers(0, proba.shape[1], flip.sum())
    return y


def read_csv(name, target):
    """Numeric feature matrix and target column of a data set."""
    with open(os.path.join(DATASETS, name), newline="") as f:
        rows = list(csv.DictReader(f))
    features = [c for c in rows[0] if c != target]
    x = np.array([[float(r[c]) for c in features] for r in rows])
    return x, [r[target] for r in rows]


def real_classification(tap, name, target):
    """LogisticRegression on a data set; metrics of held-out predict_proba."""
    x, labels = read_csv(name, target)
    classes = sorted(set(labels))
    y = np.array([classes.index(v) for v in labels])
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(x_train, y_train)
    tap.classification("%s: LogisticRegression held-out predict_proba (K=%d)"
                       % (name, len(classes)), y_test,
                       model.predict_proba(x_test))
    tap.classification("%s: LogisticRegression predict_proba on all rows"
                       % name, y, model.predict_proba(x))


def classification_cases(tap, rng, large):
    """Classification test cases."""
    p = random_proba(rng, 1000, 2)
    tap.classification("random binary, n=1000", labels_from(rng, p, 0.3), p)

    p = random_proba(rng, 1000, 2) * rng.uniform(0.5, 1.5, (1000, 1))
    tap.classification("random binary, rows not summing to 1",
                       labels_from(rng, p, 0.3), p)

    p = random_proba(rng, 1000, 3)
    tap.classification("random multiclass K=3, n=1000",
                       labels_from(rng, p, 0.4), p)

    p = random_proba(rng, 5000, 10, 0.3)
    tap.classification("random multiclass K=10, n=5000",
                       labels_from(rng, p, 0.5), p)

    p1 = np.round(rng.random(2000), 1)
    p = np.column_stack([1 - p1, p1])
    tap.classification("binary with tied probabilities (one decimal)",
                       labels_from(rng, p, 0.3), p)

    patterns = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [1 / 3] * 3,
                         [0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
    p = patterns[rng.integers(0, len(patterns), 1500)]
    tap.classification("multiclass K=3 with tied rows and argmax ties",
                       rng.integers(0, 3, 1500), p)

    y = rng.integers(0, 2, 500)
    p = np.column_stack([1.0 - y, y.astype(float)])
    tap.classification("binary perfectly separable, 0/1 probabilities", y, p)

    p1 = np.where(y == 1, rng.uniform(0.6, 0.99, 500), rng.uniform(0.01, 0.4, 500))
    tap.classification("binary perfectly separable, soft probabilities", y,
                       np.column_stack([1 - p1, p1]))

    y = rng.integers(0, 4, 400)
    tap.classification("multiclass K=4 perfectly separable, one-hot", y,
                       np.eye(4)[y])

    p = random_proba(rng, 300, 3)
    tap.classification("K=3 with class 2 absent from y (roc_auc null)",
                       rng.integers(0, 2, 300), p)

    p = random_proba(rng, 300, 2)
    tap.classification("binary with only class 0 in y (roc_auc null)",
                       np.zeros(300, dtype=int), p)

    p1 = rng.uniform(0.0, 0.45, 300)
    tap.classification("binary never predicting the positive class",
                       rng.integers(0, 2, 300), np.column_stack([1 - p1, p1]))

    tap.classification("n=1 binary", [1], [[0.3, 0.7]])
    tap.classification("n=1 multiclass K=3", [2], [[0.2, 0.5, 0.3]])

    real_classification(tap, "breast_cancer.csv", "diagnosis")
    real_classification(tap, "iris.csv", "species")

    p1 = np.round(rng.random(large), 3)
    p = np.column_stack([1 - p1, p1])
    tap.classification("large binary, n=%d, tied probabilities" % large,
                       labels_from(rng, p, 0.3), p)

    p = random_proba(rng, large // 4, 10)
    tap.classification("large multiclass K=10, n=%d" % (large // 4),
                       labels_from(rng, p, 0.5), p)


def real_regression(tap):
    """LinearRegression on the diabetes data; held-out predictions."""
    x, target = read_csv("diabetes.csv", "progression")
    y = np.array([float(v) for v in target])
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0)
    model = LinearRegression().fit(x_train, y_train)
    tap.regression("diabetes.csv: LinearRegression held-out predictions",
                   y_test, model.predict(x_test))


def regression_cases(tap, rng, large):
    """Regression test cases."""
    y = rng.normal(10, 3, 1000)
    tap.regression("random regression, n=1000", y, y + rng.normal(0, 1, 1000))

    y = 1e6 + rng.normal(0, 1, 1000)
    tap.regression("large offset (1e6 + N(0,1))", y, y + rng.normal(0, 0.5, 1000))

    y = rng.normal(0, 1, 500)
    tap.regression("perfect predictions", y, y.copy())

    tap.regression("constant residual (explained_variance 1)", y, y + 0.5)

    tap.regression("worse than the mean (negative r2)", y, -y)

    tap.regression("constant y, n=200, imperfect predictions (force_finite 0)",
                   np.full(200, 0.1), 0.1 + rng.normal(0, 1, 200))

    tap.regression("constant y, perfect predictions (force_finite 1)",
                   np.full(200, -2.0), np.full(200, -2.0))

    # NumPy's mean of three copies of 0.1 is off by one rounding, so
    # scikit-learn divides by a tiny nonzero variance (r2 about -9e31);
    # metrics.c detects the constant exactly and applies the force_finite
    # rule, as scikit-learn itself does when the mean is exact (n=200 above).
    tap.regression("constant y = 0.1, n=3 (exact constant, force_finite 0)",
                   [0.1, 0.1, 0.1], [0.3, 0.0, 0.15],
                   override={"r2": 0.0, "explained_variance": 0.0})

    tap.regression("n=1 (r2 null)", [2.5], [3.0])

    real_regression(tap)

    y = rng.normal(100, 20, large)
    tap.regression("large regression, n=%d" % large, y,
                   y + rng.normal(0, 5, large))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classification-func",
                        default="mlops.classification_metrics",
                        help="SQL function (y int[], proba float8[], k int) -> jsonb")
    parser.add_argument("--regression-func", default="mlops.regression_metrics",
                        help="SQL function (y float8[], pred float8[]) -> jsonb")
    parser.add_argument("--large", type=int, default=200000,
                        help="rows of the large cases (default 1000000)")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()

    conn = psycopg2.connect("")
    conn.autocommit = True
    tap = Tap(conn, args)
    rng = np.random.default_rng(args.seed)
    classification_cases(tap, rng, args.large)
    regression_cases(tap, rng, args.large)
    conn.close()

    print("1..%d" % tap.count)
    print("# overall max abs diff %.3g, max rel diff %.3g"
          % (tap.worst_abs, tap.worst_rel))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
