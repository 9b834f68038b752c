"""Live performance: mlops.monitor's window metrics against scikit-learn, and NOTIFY mlops_alerts.

Each window's metrics are computed by scikit-learn 1.2 on the same rows
(grouped in Python by floor(epoch / window), as date_bin with origin
1970-01-01 UTC) and the probabilities mlops.predict_proba returns for them,
or the predictions read from a column: multiclass (iris, macro averages,
one-vs-rest roc_auc), binary (pima, positive class the second label) and
regression (diabetes).  They must equal within 1e-12 relative.  A LISTEN
connection receives the JSON payload of the degraded performance alert that
mlops.monitor fires.
"""
import json
import math
import select
import warnings
from collections import defaultdict

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (accuracy_score, confusion_matrix, explained_variance_score, f1_score, log_loss,
                             matthews_corrcoef, mean_absolute_error, mean_squared_error, precision_score,
                             r2_score, recall_score, roc_auc_score)

import tap

warnings.simplefilter("ignore", UndefinedMetricWarning)
conn = tap.connect()
cur = conn.cursor()


def classification(y, proba, labels):
    """scikit-learn's metrics as mlops names them (y: class indices)."""
    k = len(labels)
    idx = list(range(k))
    pred = proba.argmax(axis=1)
    avg = {"average": "binary", "pos_label": 1} if k == 2 else {"average": "macro", "labels": idx}
    m = {
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred, zero_division=0, **avg),
        "recall": recall_score(y, pred, zero_division=0, **avg),
        "f1": f1_score(y, pred, zero_division=0, **avg),
        "log_loss": log_loss(y, proba, labels=idx),
        "mcc": matthews_corrcoef(y, pred),
        "confusion_matrix": confusion_matrix(y, pred, labels=idx).tolist(),
    }
    try:
        m["roc_auc"] = (roc_auc_score(y, proba[:, 1]) if k == 2 else
                        roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=idx))
    except ValueError:
        m["roc_auc"] = None  # a class missing from the window: undefined, as in test_metrics.py
    return m


def regression(y, pred):
    mse = mean_squared_error(y, pred)
    return {"r2": r2_score(y, pred), "mae": mean_absolute_error(y, pred), "mse": mse, "rmse": math.sqrt(mse),
            "explained_variance": explained_variance_score(y, pred)}


def compare(got, want, name):
    """One TAP line per window: same members, numbers within 1e-12 relative."""
    problems = []
    got = dict(got)
    rows = got.pop("rows")
    if set(got) != set(want):
        problems.append(f"members {sorted(got)}, expected {sorted(want)}")
    for key, expected in want.items():
        value = got.get(key)
        if key == "confusion_matrix" or expected is None:
            if value != expected:
                problems.append(f"{key} = {value!r}, expected {expected!r}")
        elif value is None or abs(value - expected) > max(1e-12 * abs(expected), 1e-15):
            problems.append(f"{key} = {value!r}, expected {expected!r}")
    tap.ok(not problems, f"{name} ({rows} rows)", "\n".join(problems))


def windows(table, label, width, extra=""):
    """Rows grouped by window start (epoch seconds): (label, epoch, extra...) in id order."""
    cur.execute(f"SELECT {label}, extract(epoch FROM at)::float8{extra} FROM {table} "
                f"WHERE {label} IS NOT NULL ORDER BY id")
    groups = defaultdict(list)
    for row in cur.fetchall():
        groups[math.floor(row[1] / width) * width].append(row)
    return groups


def monitored(*args, **kw):
    """mlops.monitor's rows as {window start epoch: metrics}."""
    names = ", ".join(f"{k} => %s" for k in kw)
    cur.execute(f"SELECT extract(epoch FROM window_start)::float8, metrics FROM mlops.monitor(%s, %s, %s"
                f"{', ' + names if names else ''})", list(args) + list(kw.values()))
    return dict(cur.fetchall())


# multiclass: iris with a time column of irregular steps, windows of one day
tap.load_csv(conn, "iris", tap.datasets_dir() / "iris.csv", "species", "text")
cur.execute("ALTER TABLE iris ADD COLUMN at timestamptz")
cur.execute("UPDATE iris SET at = timestamptz '2026-03-01 05:00+00' + (id * id) * interval '7 minutes'")
cur.execute("SELECT model_id FROM mlops.train('mon_iris', 'iris', 'species', exclude => '{id,at}', "
            "hyperparams => '{\"n_estimators\": 5, \"max_depth\": 2}')")
iris_model = cur.fetchone()[0]
cur.execute("SELECT labels FROM mlops.models WHERE id = %s", (iris_model,))
iris_labels = cur.fetchone()[0]
got = monitored("mon_iris", "iris", "species", time_column="at", window_size="1 day")
cur.execute("SELECT id, mlops.predict_proba(%s, t) FROM iris t", (iris_model,))
proba_of = dict(cur.fetchall())
ref = windows("iris", "species", 86400, ", id")
tap.ok(sorted(got) == sorted(ref), f"iris: the same {len(ref)} one-day windows as floor(epoch / 86400)")
for start, rows in sorted(ref.items()):
    y = np.array([iris_labels.index(r[0]) for r in rows])
    proba = np.array([proba_of[r[2]] for r in rows])
    compare(got[start], classification(y, proba, iris_labels), f"iris window {start:.0f}: metrics equal scikit-learn's")

# binary: pima, windows of 36 hours, read predictions as probabilities from a column
tap.load_csv(conn, "pima", tap.datasets_dir() / "pima_diabetes.csv", "diabetes", "text")
cur.execute("ALTER TABLE pima ADD COLUMN at timestamp")
cur.execute("UPDATE pima SET at = timestamp '2025-12-30 18:00' + id * interval '61 minutes'")
cur.execute("SELECT model_id FROM mlops.train('mon_pima', 'pima', 'diabetes', exclude => '{id,at}', "
            "hyperparams => '{\"n_estimators\": 8}')")
pima_model = cur.fetchone()[0]
cur.execute("SELECT labels FROM mlops.models WHERE id = %s", (pima_model,))
pima_labels = cur.fetchone()[0]
got = monitored("mon_pima", "pima", "diabetes", time_column="at", window_size="36 hours")
cur.execute("SELECT id, mlops.predict_proba(%s, t) FROM pima t", (pima_model,))
proba_of = dict(cur.fetchall())
ref = windows("pima", "diabetes", 36 * 3600, ", id")
tap.ok(sorted(got) == sorted(ref), f"pima: the same {len(ref)} 36-hour windows")
worst = []
for start, rows in sorted(ref.items()):
    y = np.array([pima_labels.index(r[0]) for r in rows])
    proba = np.array([proba_of[r[2]] for r in rows])
    want = classification(y, proba, pima_labels)
    w = dict(got[start])
    w.pop("rows")
    worst.append(not [k for k in want if (w.get(k) != want[k] if k == "confusion_matrix" or want[k] is None
                                          else abs(w[k] - want[k]) > max(1e-12 * abs(want[k]), 1e-15))])
tap.ok(worst and all(worst), f"pima: every one of {len(worst)} windows' metrics equal scikit-learn's")
cur.execute("CREATE TABLE pima_logged AS SELECT p.id, p.at, p.diabetes, mlops.predict_proba(%s, p) AS proba "
            "FROM pima p", (pima_model,))
cur.execute("UPDATE pima_logged SET proba = NULL WHERE id % 10 = 0")
got = monitored("mon_pima", "pima_logged", "diabetes", prediction="proba")
cur.execute("SELECT diabetes, proba FROM pima_logged WHERE proba IS NOT NULL ORDER BY id")
rows = cur.fetchall()
compare(got[None], classification(np.array([pima_labels.index(r[0]) for r in rows]),
                                  np.array([r[1] for r in rows]), pima_labels),
        "pima: probabilities read from a column (NULL rows skipped), one window: metrics equal scikit-learn's")

# regression: diabetes by date, weekly windows, predictions read from a column
tap.load_csv(conn, "diabetes", tap.datasets_dir() / "diabetes.csv", "progression", "float8")
cur.execute("ALTER TABLE diabetes ADD COLUMN at date")
cur.execute("UPDATE diabetes SET at = date '2026-02-01' + (id / 9)::int")
cur.execute("SELECT model_id FROM mlops.train('mon_diabetes', 'diabetes', 'progression', exclude => '{id,at}', "
            "hyperparams => '{\"n_estimators\": 10}')")
diabetes_model = cur.fetchone()[0]
cur.execute("CREATE TABLE diabetes_logged AS SELECT id, at, progression, mlops.predict(%s, d) AS predicted "
            "FROM diabetes d", (diabetes_model,))
for source, kw in (("scored", {}), ("read from a column", {"prediction": "predicted"})):
    got = monitored("mon_diabetes", "diabetes_logged" if kw else "diabetes", "progression",
                    time_column="at", window_size="7 days", **kw)
    ref = windows("diabetes_logged", "progression", 7 * 86400, ", predicted")
    tap.ok(sorted(got) == sorted(ref), f"diabetes ({source}): the same {len(ref)} weekly windows")
    for start, rows in sorted(ref.items())[:3]:
        compare(got[start], regression(np.array([r[0] for r in rows]), np.array([r[2] for r in rows])),
                f"diabetes ({source}) window {start:.0f}: metrics equal scikit-learn's")

# NOTIFY mlops_alerts: a degraded window fires the alert, with its JSON payload
cur.execute("SELECT degraded FROM mlops.monitor('mon_iris', 'iris', 'species')")
tap.ok(cur.fetchone()[0] is False, "every row of iris in one window is not degraded (any open alert resolves)")
listener = tap.connect()
lcur = listener.cursor()
lcur.execute("LISTEN mlops_alerts")
cur.execute("CREATE TABLE iris_wrong AS SELECT * FROM iris")
cur.execute("UPDATE iris_wrong SET species = CASE species WHEN 'setosa' THEN 'virginica' ELSE 'setosa' END")
cur.execute("SELECT degraded FROM mlops.monitor('mon_iris', 'iris_wrong', 'species')")
tap.ok(cur.fetchone()[0] is True, "a window with wrong labels is degraded")
select.select([listener], [], [], 5)
listener.poll()
payloads = [json.loads(n.payload) for n in listener.notifies if n.channel == "mlops_alerts"]
fired = [p for p in payloads if p["event"] == "fired" and p["project"] == "mon_iris"]
tap.ok(len(fired) == 1 and fired[0]["rule"] == "degraded_performance" and fired[0]["severity"] == "warning"
       and fired[0]["model_id"] == iris_model and fired[0]["value"] < fired[0]["threshold"],
       "LISTEN mlops_alerts receives the fired degraded_performance alert as JSON", json.dumps(payloads))
cur.execute("SELECT id FROM mlops.alerts WHERE project = 'mon_iris' AND resolved_at IS NULL")
tap.ok(cur.fetchall() == [(fired[0]["alert_id"],)] if fired else False, "the payload names the open alert")
listener.notifies.clear()
cur.execute("SELECT count(*) FROM mlops.monitor('mon_iris', 'iris', 'species')")
select.select([listener], [], [], 5)
listener.poll()
payloads = [json.loads(n.payload) for n in listener.notifies]
tap.ok([(p["event"], p["rule"]) for p in payloads] == [("resolved", "degraded_performance")],
       "a good window resolves it, with a resolved notification", json.dumps(payloads))

tap.done_testing()
