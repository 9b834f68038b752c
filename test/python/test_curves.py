"""Curves: mlops.roc_curve, pr_curve, calibration_curve against scikit-learn.

Every curve is computed by scikit-learn 1.2 on the probabilities mlops
returns for the same rows (mlops.predict_proba) and must be equal exactly:
roc_curve(drop_intermediate=False), precision_recall_curve and
calibration_curve(strategy='uniform'), one-vs-rest per label for
multiclass.  A table with many tied probabilities (a shallow model on few
distinct values) checks the ties.  The held-out curves stored at training
(views mlops.roc_curves, pr_curves, calibration) equal scikit-learn's on the
held-out rows, thinned to 200 points.
"""
import json

import numpy as np
import psycopg2
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

import refdata
import tap

conn = tap.connect()
cur = conn.cursor()


def thin(values, n=200):
    """The stored thinning: n points evenly spaced by position, first and last included."""
    values = list(values)
    if len(values) <= n:
        return values
    return [values[int(np.floor(k * (len(values) - 1) / (n - 1) + 0.5))] for k in range(n)]


def same(got, ref, name):
    """Exact equality of two lists of numbers (NaN equals NaN, None equals None)."""
    tap.is_close(got, ref, rel=0, abs=0, name=name)


def reference(table, label, model_id, where="", order="id"):
    """(labels, curve labels, y, proba) of the rows of a relation, in the order mlops reads them."""
    cur.execute(f"SELECT {label}::text, mlops.predict_proba(%s, t) FROM {table} t {where} ORDER BY {order}",
                (model_id,))
    rows = cur.fetchall()
    cur.execute("SELECT labels FROM mlops.models WHERE id = %s", (model_id,))
    labels = cur.fetchone()[0]
    y = np.array([r[0] for r in rows])
    proba = np.array([r[1] for r in rows], dtype=float)
    return labels, (labels[1:] if len(labels) == 2 else labels), y, proba


def check(table, label, model_id, name):
    labels, curve_labels, y, proba = reference(table, label, model_id)
    for lab in curve_labels:
        k = labels.index(lab)
        pos, score = (y == lab), proba[:, k]
        fpr, tpr, thr = roc_curve(pos, score, drop_intermediate=False)
        cur.execute("SELECT threshold, fpr, tpr FROM mlops.roc_curve(%s, %s) WHERE label = %s", (model_id, table, lab))
        got = cur.fetchall()
        same([v for r in got for v in r], [v for r in zip(thr, fpr, tpr) for v in r],
             f"{name} label {lab}: roc_curve equals scikit-learn's ({len(thr)} points)")
        prec, rec, thr = precision_recall_curve(pos, score)
        cur.execute("SELECT threshold, precision, recall FROM mlops.pr_curve(%s, %s) WHERE label = %s",
                    (model_id, table, lab))
        got = cur.fetchall()
        same([v for r in got for v in r], [v for r in zip(list(thr) + [None], prec, rec) for v in r],
             f"{name} label {lab}: pr_curve equals scikit-learn's ({len(prec)} points)")
        for bins in (10, 7):
            frac, mean = calibration_curve(pos, score, n_bins=bins, strategy="uniform")
            cur.execute("SELECT mean_predicted, fraction_positive, rows, bin FROM mlops.calibration_curve(%s, %s, %s) "
                        "WHERE label = %s", (model_id, table, bins, lab))
            got = cur.fetchall()
            binids = np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], score)
            counts = np.bincount(binids, minlength=bins)
            same([v for r in got for v in r],
                 [v for r in zip(mean, frac, counts[counts > 0], np.nonzero(counts)[0] + 1) for v in r],
                 f"{name} label {lab}: calibration_curve with {bins} bins equals scikit-learn's")


def check_stored(table, label, model_id, name):
    cur.execute(f"SELECT count(*) FROM {table}")
    n = cur.fetchone()[0]
    ntrain = n - int(np.ceil(refdata.TEST_SIZE * n))
    cur.execute(f"SELECT id FROM {table} ORDER BY ord OFFSET %s", (ntrain,))
    ids = tuple(r[0] for r in cur.fetchall())
    labels, curve_labels, y, proba = reference(table, label, model_id, f"WHERE id IN {ids}", "ord")
    for lab in curve_labels:
        k = labels.index(lab)
        pos, score = (y == lab), proba[:, k]
        fpr, tpr, thr = roc_curve(pos, score, drop_intermediate=False)
        cur.execute("SELECT threshold, fpr, tpr FROM mlops.roc_curves WHERE model_id = %s AND label = %s "
                    "ORDER BY point", (model_id, lab))
        same([v for r in cur.fetchall() for v in r], [v for r in thin(zip(thr, fpr, tpr)) for v in r],
             f"{name} label {lab}: stored held-out ROC curve ({min(len(thr), 200)} of {len(thr)} points)")
        prec, rec, thr = precision_recall_curve(pos, score)
        cur.execute("SELECT threshold, precision, recall FROM mlops.pr_curves WHERE model_id = %s AND label = %s "
                    "ORDER BY point", (model_id, lab))
        same([v for r in cur.fetchall() for v in r], [v for r in thin(zip(list(thr) + [None], prec, rec)) for v in r],
             f"{name} label {lab}: stored held-out precision-recall curve")
        frac, mean = calibration_curve(pos, score, n_bins=10, strategy="uniform")
        cur.execute("SELECT mean_predicted, fraction_positive FROM mlops.calibration WHERE model_id = %s "
                    "AND label = %s ORDER BY bin", (model_id, lab))
        same([v for r in cur.fetchall() for v in r], [v for r in zip(mean, frac) for v in r],
             f"{name} label {lab}: stored held-out calibration curve")


def train(table, label, algorithm, hp):
    cur.execute(f"SELECT model_id FROM mlops.train(%s, %s, %s, algorithm => %s, hyperparams => %s, "
                f"deploy => 'never', {refdata.SPLIT_SQL})", (f"curves_{table}", table, label, algorithm,
                                                             json.dumps(hp)))
    return cur.fetchone()[0]


def check_error(sql, args, code, message):
    try:
        cur.execute(sql, args)
        cur.fetchall()
        tap.ok(False, f"{sql} is refused", "no error")
    except psycopg2.Error as e:
        tap.ok(e.pgcode == code and message in e.pgerror, f"{sql} {args} is refused: {message}",
               f"{e.pgcode}: {e.pgerror}")


refdata.load(conn, "bc", "breast_cancer.csv", "diagnosis", "text")
refdata.load(conn, "wine", "wine.csv", "cultivar", "text")
refdata.load(conn, "diabetes", "diabetes.csv", "progression", "float8")
# (the projects are named curves_<table>, apart from the other tests' projects)
# ties: few distinct probabilities from shallow trees on a rounded feature
cur.execute("DROP TABLE IF EXISTS ties; CREATE TABLE ties AS SELECT id, ord, diagnosis, "
            "round(mean_radius::numeric, 0)::float8 AS r FROM bc")

bc = train("bc", "diagnosis", "xgboost", {"n_estimators": 10, "max_depth": 3})
check("bc", "diagnosis", bc, "breast_cancer/xgboost")
check_stored("bc", "diagnosis", bc, "breast_cancer/xgboost")
ties = train("ties", "diagnosis", "xgboost", {"n_estimators": 2, "max_depth": 1})
cur.execute("SELECT count(DISTINCT (mlops.predict_proba(%s, t))[2]) FROM ties t", (ties,))
tap.ok(cur.fetchone()[0] < 10, "ties: the model gives few distinct probabilities")
check("ties", "diagnosis", ties, "ties/xgboost")
check_stored("ties", "diagnosis", ties, "ties/xgboost")
wine = train("wine", "cultivar", "logistic", {})
check("wine", "cultivar", wine, "wine/logistic (one-vs-rest)")
check_stored("wine", "cultivar", wine, "wine/logistic (one-vs-rest)")

# a binary target on 1,797 rows: 450 held-out rows, so the stored curves are thinned to 200 points
refdata.load(conn, "digits_small", "digits.csv", "digit", "int")
cur.execute("ALTER TABLE digits_small ADD COLUMN small boolean; UPDATE digits_small SET small = digit < 5; "
            "ALTER TABLE digits_small DROP COLUMN digit")
digits = train("digits_small", "small", "logistic", {"C": 0.01})
check_stored("digits_small", "small", digits, "digits/logistic")
cur.execute("SELECT count(*) FROM mlops.roc_curves WHERE model_id = %s", (digits,))
tap.ok(cur.fetchone()[0] == 200, "digits: the stored ROC curve has 200 points")

reg = train("diabetes", "progression", "linear", {})
cur.execute("SELECT count(*) FROM mlops.model_curves WHERE model_id = %s", (reg,))
tap.ok(cur.fetchone()[0] == 0, "a regression model has no stored curves")
for fn in ("roc_curve(%s, %s)", "pr_curve(%s, %s)", "calibration_curve(%s, %s)"):
    check_error(f"SELECT * FROM mlops.{fn}", (reg, "diabetes"), "42809", "is a regression model")
check_error("SELECT * FROM mlops.roc_curve(%s, %s)", (bc, None), "22004", "model_id and relation must not be NULL")
check_error("SELECT * FROM mlops.roc_curve(%s, %s)", (-1, "bc"), "42704", "model -1 does not exist")
check_error("SELECT * FROM mlops.pr_curve(%s, %s)", (bc, "no_such_table"), "42P01", "no_such_table")
check_error("SELECT * FROM mlops.calibration_curve(%s, %s, 0)", (bc, "bc"), "22023", "bins is out of range: 0")
check_error("SELECT * FROM mlops.calibration_curve(%s, %s, NULL)", (bc, "bc"), "22004", "bins must not be NULL")
cur.execute("CREATE TEMP TABLE bc_empty AS SELECT * FROM bc LIMIT 0")
check_error("SELECT * FROM mlops.roc_curve(%s, %s)", (bc, "bc_empty"), "02000", "has no rows")
tap.done_testing()
