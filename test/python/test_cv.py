"""train(..., cv => k): k-fold metrics against scikit-learn on the same folds.

The folds are reproduced from the rule cv.c documents (splitmix64 keys of
the training rows' positions, sorted by class then key, dealt in turn).
On each fold Python trains what mlops trains (libxgboost with the same
parameters; the scikit-learn pipeline of a linear model) and computes
sklearn.metrics on the fold's rows: each fold's metrics equal mlops's
(1e-5 for XGBoost, whose float32 predictions agree to round-off; 1e-6 for
least squares), and the recorded mean and standard deviation are NumPy's of
them.  Folds are stratified for classification.
"""
import json

import numpy as np
import psycopg2
import sklearn.metrics as skm
import xgboost as xgb
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import refdata
import tap

conn = tap.connect()
cur = conn.cursor()
folds = refdata.cv_folds


def train(table, label, algorithm, hp, k, seed=42):
    cur.execute(f"SELECT metrics FROM mlops.train(%s, %s, %s, algorithm => %s, hyperparams => %s, "
                f"deploy => 'never', seed => %s, cv => %s, {refdata.SPLIT_SQL})",
                (f"cv_{table}", table, label, algorithm, json.dumps(hp), seed, k))
    return cur.fetchone()[0]["cv"]


def compare(cv, ref, rel, name):
    """cv's fold metrics, mean and std against the reference fold metrics (list of dicts)."""
    keys = list(ref[0])
    tap.is_close([f[key] for f in cv["fold_metrics"] for key in keys], [f[key] for f in ref for key in keys],
                 rel=rel, abs=rel, name=f"{name}: every fold's metrics equal sklearn.metrics on the same fold")
    tap.is_close([cv["mean"][key] for key in keys], [np.mean([f[key] for f in ref]) for key in keys],
                 rel=rel, abs=rel, name=f"{name}: mean of each metric")
    tap.is_close([cv["std"][key] for key in keys], [np.std([f[key] for f in ref]) for key in keys],
                 rel=rel, abs=rel, name=f"{name}: standard deviation of each metric")


def check_xgboost(table, label, k):
    hp = {"n_estimators": 20, "max_depth": 3}
    cv = train(table, label, "xgboost", hp, k)
    X, y, ntrain = refdata.fetch(conn, table, label)
    yi, labels = refdata.label_indices(y)
    X, yi = X[:ntrain], yi[:ntrain]
    fold = folds(list(yi), k, 42)
    name = f"{table}/xgboost cv => {k}"
    tap.ok(cv["folds"] == k and cv["stratified"] and len(cv["fold_metrics"]) == k, f"{name}: {k} stratified folds")
    counts = [np.bincount(yi[fold == f], minlength=len(labels)) for f in range(k)]
    tap.ok(np.ptp(counts, axis=0).max() <= 1, f"{name}: each fold holds each class's rows within one")
    params = {"tree_method": "hist", "max_depth": 3, "eta": 0.3, "seed": 42, "nthread": 1, "max_bin": 256,
              "objective": "binary:logistic" if len(labels) == 2 else "multi:softprob"}
    if len(labels) > 2:
        params["num_class"] = len(labels)
    ref = []
    for f in range(k):
        tr, te = fold != f, fold == f
        booster = xgb.train(params, xgb.DMatrix(X[tr].astype(np.float32), label=yi[tr]), num_boost_round=20)
        p = booster.predict(xgb.DMatrix(X[te].astype(np.float32))).astype(float)
        proba = p if p.ndim == 2 else np.column_stack([1 - p, p])
        pred = proba.argmax(axis=1)
        m = {"accuracy": skm.accuracy_score(yi[te], pred), "log_loss": skm.log_loss(yi[te], proba,
                                                                                 labels=range(len(labels)))}
        if len(labels) == 2:
            m.update(f1=skm.f1_score(yi[te], pred), precision=skm.precision_score(yi[te], pred),
                     recall=skm.recall_score(yi[te], pred), roc_auc=skm.roc_auc_score(yi[te], proba[:, 1]))
        else:
            m.update(f1=skm.f1_score(yi[te], pred, average="macro"),
                     roc_auc=skm.roc_auc_score(yi[te], proba, multi_class="ovr"))
        ref.append(m)
    compare(cv, ref, 1e-5, name)


def check_linear(table, label, k):
    cv = train(table, label, "linear", {}, k)
    X, y, ntrain = refdata.fetch(conn, table, label)
    X, y = X[:ntrain], np.array(y[:ntrain], dtype=float)
    fold = folds([0] * ntrain, k, 42)
    name = f"{table}/linear cv => {k}"
    tap.ok(cv["folds"] == k and not cv["stratified"], f"{name}: {k} folds, not stratified")
    ref = []
    for f in range(k):
        tr, te = fold != f, fold == f
        pipe = make_pipeline(SimpleImputer(strategy="mean"), StandardScaler(), LinearRegression()).fit(X[tr], y[tr])
        p = pipe.predict(X[te])
        ref.append({"r2": skm.r2_score(y[te], p), "mae": skm.mean_absolute_error(y[te], p),
                    "mse": skm.mean_squared_error(y[te], p), "rmse": np.sqrt(skm.mean_squared_error(y[te], p)),
                    "explained_variance": skm.explained_variance_score(y[te], p)})
    compare(cv, ref, 1e-6, name)


def check_error(table, label, k, code, message):
    try:
        cur.execute(f"SELECT mlops.train('cv_bad', %s, %s, cv => %s, deploy => 'never', {refdata.SPLIT_SQL})",
                    (table, label, k))
        tap.ok(False, f"cv => {k} on {table} is refused", "no error")
    except psycopg2.Error as e:
        tap.ok(e.pgcode == code and message in e.pgerror, f"cv => {k} on {table} is refused: {message}",
               f"{e.pgcode}: {e.pgerror}")


refdata.load(conn, "pima", "pima_diabetes.csv", "diabetes", "text")
refdata.load(conn, "wine", "wine.csv", "cultivar", "text")
refdata.load(conn, "diabetes", "diabetes.csv", "progression", "float8")
check_xgboost("pima", "diabetes", 5)
check_xgboost("wine", "cultivar", 3)
check_linear("diabetes", "progression", 4)
cur.execute(f"SELECT metrics ? 'cv' FROM mlops.train('cv_none', 'wine', 'cultivar', deploy => 'never', "
            f"{refdata.SPLIT_SQL})")
tap.ok(not cur.fetchone()[0], "without cv the metrics have no cv member")
check_error("wine", "cultivar", 1, "22023", "cv is out of range: 1")
check_error("wine", "cultivar", 101, "22023", "cv is out of range: 101")
check_error("wine", "cultivar", 40, "22023", "cv => 40 needs at least 40 training rows of each class, label")
cur.execute("DROP TABLE IF EXISTS cv_tiny; CREATE TABLE cv_tiny AS SELECT * FROM diabetes WHERE id <= 40")
check_error("cv_tiny", "progression", 50, "22023", "cv => 50 needs at least 50 training rows, there are 30")
cur.execute(f"SELECT mlops.train_async('cv_async', 'wine', 'cultivar', deploy => 'never', cv => 3, "
            f"{refdata.SPLIT_SQL})")
job = cur.fetchone()[0]
cur.execute("SELECT args->'cv' FROM mlops.jobs WHERE id = %s", (job,))
tap.ok(cur.fetchone()[0] == 3, "train_async records cv in the job's arguments")
cur.execute("SELECT mlops.cancel_job(%s)", (job,))
try:
    cur.execute(f"SELECT mlops.train_async('cv_async', 'wine', 'cultivar', cv => 0, {refdata.SPLIT_SQL})")
    tap.ok(False, "train_async refuses cv => 0 when called", "no error")
except psycopg2.Error as e:
    tap.ok(e.pgcode == "22023" and "cv is out of range: 0" in e.pgerror, "train_async refuses cv => 0 when called",
           e.pgerror)
tap.done_testing()
