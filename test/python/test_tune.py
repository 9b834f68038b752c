"""mlops.tune against scikit-learn and XGBoost.

1. Fold scores: every trial's score on each fold (mlops.trials.scores)
   equals sklearn.metrics on the same fold of a libxgboost model trained by
   Python with the trial's parameters (1e-5: XGBoost's float32 predictions
   agree to round-off), for binary and multiclass XGBoost and for ridge
   regression (the transform fitted once on all training rows, as tune.c
   documents: scikit-learn's StandardScaler fitted on them, Ridge per fold,
   1e-6).  The folds are reproduced from cv.c's rule (refdata.cv_folds).
2. The tuned model's held-out score on real data sets (breast cancer f1,
   diabetes r2) is at least that of scikit-learn's RandomizedSearchCV with
   the same budget (trials x folds) and space, minus 0.01.
"""
import json

import numpy as np
import sklearn.metrics as skm
import xgboost as xgb
from scipy.stats import loguniform, randint
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, RandomizedSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

import refdata
import tap

conn = tap.connect()
cur = conn.cursor()


def tune(project, table, label, space, algorithm="xgboost", search="random", trials=4, k=5, metric=None,
         hyperparams=None):
    """Run mlops.tune; returns (result row as dict, trials ordered by trial number)."""
    cur.execute(f"SELECT to_jsonb(t) FROM mlops.tune(%s, %s, %s, algorithm => %s, search_space => %s, "
                f"search => %s, trials => %s, cv => %s, metric => %s, hyperparams => %s, deploy => 'never', "
                f"{refdata.SPLIT_SQL}) t",
                (project, table, label, algorithm, json.dumps(space), search, trials, k, metric,
                 json.dumps(hyperparams or {})))
    res = cur.fetchone()[0]
    cur.execute("SELECT params, scores, mean, std, status FROM mlops.trials WHERE tune_id = %s ORDER BY trial",
                (res["tune_id"],))
    return res, cur.fetchall()


def xgb_score(X, yi, nclasses, fold, f, params, rounds, metric):
    """Train libxgboost on the rows outside fold f as mlops does; the metric on fold f."""
    tr, te = fold != f, fold == f
    p = {"tree_method": "hist", "seed": 42, "nthread": 1, "max_bin": 256, "verbosity": 0,
         "objective": "binary:logistic" if nclasses == 2 else "multi:softprob"}
    if nclasses > 2:
        p["num_class"] = nclasses
    p.update(params)
    booster = xgb.train(p, xgb.DMatrix(X[tr].astype(np.float32), label=yi[tr]), num_boost_round=rounds)
    out = booster.predict(xgb.DMatrix(X[te].astype(np.float32))).astype(float)
    proba = out if out.ndim == 2 else np.column_stack([1 - out, out])
    pred = proba.argmax(axis=1)
    if metric == "f1":
        return skm.f1_score(yi[te], pred, average="binary" if nclasses == 2 else "macro")
    if metric == "roc_auc":
        return skm.roc_auc_score(yi[te], proba[:, 1]) if nclasses == 2 else \
            skm.roc_auc_score(yi[te], proba, multi_class="ovr")
    return skm.log_loss(yi[te], proba, labels=range(nclasses))


def check_xgboost_folds(table, label, metric, k):
    space = {"max_depth": [2, 4], "learning_rate": [0.1, 0.3], "subsample": [1, 0.7]}
    res, trials = tune(f"tf_{table}", table, label, space, search="grid", k=k, metric=metric,
                       hyperparams={"n_estimators": 15})
    X, y, ntrain = refdata.fetch(conn, table, label)
    yi, labels = refdata.label_indices(y)
    X, yi = X[:ntrain], yi[:ntrain]
    fold = refdata.cv_folds(list(yi), k, 42)
    name = f"{table}/xgboost {metric}, {k} folds"
    tap.ok(len(trials) == 8 and all(len(t[1]) == k for t in trials), f"{name}: 8 grid trials of {k} scores each")
    got, ref = [], []
    for params, scores, mean, std, status in trials:
        xp = {"max_depth": params["max_depth"], "eta": params["learning_rate"], "subsample": params["subsample"]}
        ref_scores = [xgb_score(X, yi, len(labels), fold, f, xp, 15, metric) for f in range(k)]
        got += scores + [mean, std]
        ref += ref_scores + [np.mean(ref_scores), np.std(ref_scores)]
    tap.is_close(got, ref, rel=1e-5, abs=1e-5,
                 name=f"{name}: every trial's fold scores, mean and std equal sklearn.metrics on the same folds")
    best = min if metric == "log_loss" else max
    tap.ok(res["cv_score"] == best(t[2] for t in trials), f"{name}: the best trial by {metric} is refitted")


def check_ridge_folds(k):
    res, trials = tune("tf_ridge", "diabetes", "progression", {"alpha": [0.01, 1, 100]}, algorithm="ridge",
                       search="grid", k=k, metric="mae")
    X, y, ntrain = refdata.fetch(conn, "diabetes", "progression")
    X, y = X[:ntrain], np.array(y[:ntrain], dtype=float)
    Xs = StandardScaler().fit(X).transform(X)
    fold = refdata.cv_folds([0] * ntrain, k, 42)
    got, ref = [], []
    for params, scores, mean, std, status in trials:
        ref_scores = []
        for f in range(k):
            tr, te = fold != f, fold == f
            p = Ridge(alpha=params["alpha"]).fit(Xs[tr], y[tr]).predict(Xs[te])
            ref_scores.append(skm.mean_absolute_error(y[te], p))
        got += scores + [mean, std]
        ref += ref_scores + [np.mean(ref_scores), np.std(ref_scores)]
    tap.is_close(got, ref, rel=1e-6, abs=1e-6,
                 name=f"diabetes/ridge mae, {k} folds: fold scores equal sklearn Ridge on the same folds")
    tap.ok(res["cv_score"] == min(t[2] for t in trials), "diabetes/ridge: the lowest mean mae is refitted")


SPACE = {"max_depth": [2, 3, 4, 6], "learning_rate": {"min": 0.03, "max": 0.3, "log": True},
         "n_estimators": {"min": 20, "max": 200, "int": True}}
SK_SPACE = {"max_depth": [2, 3, 4, 6], "learning_rate": loguniform(0.03, 0.3), "n_estimators": randint(20, 201)}


def check_against_search(table, label, classification, trials=10, k=5):
    X, y, ntrain = refdata.fetch(conn, table, label)
    if classification:
        yv, labels = refdata.label_indices(y)
        metric, scoring = "f1", "f1"
        est = xgb.XGBClassifier(tree_method="hist", n_jobs=1, random_state=42, max_bin=256)
        cv = StratifiedKFold(k, shuffle=True, random_state=42)
    else:
        yv = np.array(y, dtype=float)
        metric, scoring = "r2", "r2"
        est = xgb.XGBRegressor(tree_method="hist", n_jobs=1, random_state=42, max_bin=256)
        cv = KFold(k, shuffle=True, random_state=42)
    res, _ = tune(f"ts_{table}", table, label, SPACE, trials=trials, k=k)
    search = RandomizedSearchCV(est, SK_SPACE, n_iter=trials, cv=cv, scoring=scoring, random_state=42, n_jobs=1)
    search.fit(X[:ntrain], yv[:ntrain])
    pred = search.predict(X[ntrain:])
    sk = skm.f1_score(yv[ntrain:], pred) if classification else skm.r2_score(yv[ntrain:], pred)
    ours = res["metrics"][metric]
    tap.ok(ours >= sk - 0.01, f"{table}: held-out {metric} of the tuned model ({ours:.4f}) is at least "
           f"RandomizedSearchCV's ({sk:.4f}) minus 0.01 ({trials} trials x {k} folds each)")


refdata.load(conn, "breast_cancer", "breast_cancer.csv", "diagnosis", "text")
refdata.load(conn, "wine", "wine.csv", "cultivar", "text")
refdata.load(conn, "diabetes", "diabetes.csv", "progression", "float8")
check_xgboost_folds("breast_cancer", "diagnosis", "f1", 5)
check_xgboost_folds("breast_cancer", "diagnosis", "roc_auc", 3)
check_xgboost_folds("wine", "cultivar", "log_loss", 4)
check_ridge_folds(4)
check_against_search("breast_cancer", "diagnosis", True)
check_against_search("diabetes", "progression", False)
tap.done_testing()
