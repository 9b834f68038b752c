"""Hyperparameter class_weight against scikit-learn's sample weights.

class_weight "balanced" must give the model that scikit-learn's
compute_sample_weight('balanced') weights give: libxgboost trained with
those weights on the same rows (XGBoost and its random-forest mode: the same
held-out probabilities within 1e-5) and LogisticRegression(newton-cg) fitted
with them (coefficients and probabilities within 1e-4).  Weights given per
label ({"label": weight}, others 1) are checked the same way on a
multiclass data set (but for the multiclass forest, which has no
libxgboost reference).  The stored hyperparams record the setting.
"""
import json

import numpy as np
import psycopg2
import xgboost as xgb
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

import refdata
import tap

N_ROUNDS = 20
conn = tap.connect()
cur = conn.cursor()


def train(table, label, algorithm, hp):
    """Train in mlops; returns (model_id, stored hyperparams)."""
    cur.execute(f"SELECT model_id FROM mlops.train(%s, %s, %s, algorithm => %s, hyperparams => %s, "
                f"deploy => 'never', {refdata.SPLIT_SQL})", (f"cw_{table}", table, label, algorithm, json.dumps(hp)))
    model_id = cur.fetchone()[0]
    cur.execute("SELECT hyperparams FROM mlops.models WHERE id = %s", (model_id,))
    return model_id, cur.fetchone()[0]


def held_out_proba(model_id, table, ntrain):
    cur.execute(f"SELECT mlops.predict_proba(%s, t) FROM {table} t ORDER BY ord OFFSET %s", (model_id, ntrain))
    return np.array([r[0] for r in cur.fetchall()], dtype=float)


def sample_weights(yi, labels, class_weight):
    """scikit-learn's weights of the rows for class_weight ("balanced" or {label: weight})."""
    if class_weight == "balanced":
        return compute_sample_weight("balanced", yi)
    return compute_sample_weight({labels.index(k): v for k, v in class_weight.items()}, yi)


def check_trees(table, label, algorithm, class_weight):
    hp = {"n_estimators": N_ROUNDS, "max_depth": 4, "class_weight": class_weight}
    model_id, stored = train(table, label, algorithm, hp)
    name = f"{table}/{algorithm} class_weight {json.dumps(class_weight)}"
    tap.ok(stored.get("class_weight") == class_weight, f"{name}: recorded in hyperparams",
           f"stored {stored.get('class_weight')!r}")
    X, y, ntrain = refdata.fetch(conn, table, label)
    yi, labels = refdata.label_indices(y)
    w = sample_weights(yi[:ntrain], labels, class_weight)
    params = {"tree_method": "hist", "max_depth": 4, "eta": 0.3, "seed": 42, "nthread": 1,
              "max_bin": 256, "min_child_weight": 1, "lambda": 1, "alpha": 0, "gamma": 0}
    rounds = N_ROUNDS
    if algorithm == "random_forest":
        params.update({"eta": 1.0, "subsample": 0.8, "colsample_bynode": 0.8, "lambda": 1e-5,
                       "num_parallel_tree": N_ROUNDS})
        rounds = 1
    if len(labels) == 2:
        params["objective"] = "binary:logistic"
    else:
        params.update({"objective": "multi:softprob", "num_class": len(labels)})
    dtrain = xgb.DMatrix(X[:ntrain].astype(np.float32), label=yi[:ntrain].astype(float), weight=w)
    ref = xgb.train(params, dtrain, num_boost_round=rounds).predict(xgb.DMatrix(X[ntrain:].astype(np.float32)))
    got = held_out_proba(model_id, table, ntrain)
    ref = ref if ref.ndim == 2 else np.column_stack([1 - ref, ref])
    tap.is_close(list(got.ravel()), list(ref.ravel().astype(float)), rel=1e-5, abs=1e-5,
                 name=f"{name}: held-out probabilities equal libxgboost's with scikit-learn's sample weights")
    unweighted = xgb.train(params, xgb.DMatrix(X[:ntrain].astype(np.float32), label=yi[:ntrain].astype(float)),
                           num_boost_round=rounds).predict(xgb.DMatrix(X[ntrain:].astype(np.float32)))
    tap.ok(np.max(np.abs(got.ravel() - (unweighted if unweighted.ndim == 2
                                         else np.column_stack([1 - unweighted, unweighted])).ravel())) > 1e-3,
           f"{name}: the weights change the model")


def check_logistic(table, label, class_weight):
    model_id, stored = train(table, label, "logistic", {"tol": 1e-10, "class_weight": class_weight})
    name = f"{table}/logistic class_weight {json.dumps(class_weight)}"
    tap.ok(stored.get("class_weight") == class_weight, f"{name}: recorded in hyperparams",
           f"stored {stored.get('class_weight')!r}")
    X, y, ntrain = refdata.fetch(conn, table, label)
    yi, labels = refdata.label_indices(y)
    w = sample_weights(yi[:ntrain], labels, class_weight)
    sk = LogisticRegression(solver="newton-cg", tol=1e-12, max_iter=10000)
    pipe = make_pipeline(SimpleImputer(strategy="mean"), StandardScaler(), sk)
    pipe.fit(X[:ntrain], yi[:ntrain], logisticregression__sample_weight=w)
    cur.execute("SELECT output, feature, weight FROM mlops.weights(%s)", (model_id,))
    weights = {(o, f): v for o, f, v in cur.fetchall()}
    cur.execute(f"SELECT * FROM {table} LIMIT 0")
    names = [d[0] for d in cur.description if d[0] not in ("id", "ord", label)]
    outputs = [labels[1]] if len(labels) == 2 else labels
    got = [weights[(str(o), f)] for o in outputs for f in names + ["(intercept)"]]
    ref = [v for k in range(len(outputs)) for v in list(sk.coef_[k]) + [sk.intercept_[k]]]
    tap.is_close(got, ref, rel=1e-4, abs=1e-4, name=f"{name}: coefficients equal scikit-learn's with sample weights")
    tap.is_close(list(held_out_proba(model_id, table, ntrain).ravel()),
                 list(pipe.predict_proba(X[ntrain:]).ravel()), rel=1e-4, abs=1e-7,
                 name=f"{name}: held-out probabilities equal scikit-learn's")


def check_error(hp, code, message, table="pima", label="diabetes", algorithm="xgboost"):
    try:
        cur.execute(f"SELECT mlops.train('cw_bad', %s, %s, algorithm => %s, hyperparams => %s, "
                    f"deploy => 'never', {refdata.SPLIT_SQL})", (table, label, algorithm, json.dumps(hp)))
        tap.ok(False, f"{json.dumps(hp)} is refused", "no error")
    except psycopg2.Error as e:
        tap.ok(e.pgcode == code and message in e.pgerror, f"{json.dumps(hp)} ({algorithm}) is refused: {message}",
               f"{e.pgcode}: {e.pgerror}")


refdata.load(conn, "pima", "pima_diabetes.csv", "diabetes", "text")
refdata.load(conn, "wine", "wine.csv", "cultivar", "text")
refdata.load(conn, "diabetes", "diabetes.csv", "progression", "float8")
check_trees("pima", "diabetes", "xgboost", "balanced")
check_trees("pima", "diabetes", "random_forest", "balanced")
check_trees("wine", "cultivar", "xgboost", {"class_2": 4.0, "class_0": 0.5})
# a multiclass forest grows each round's trees from other random draws than
# XGBoost's one-round forest (see xgboost_model.c), so no libxgboost reference:
# weights of 1 give the unweighted model bit for bit, "balanced" another one
ones, _ = train("wine", "cultivar", "random_forest", {"class_weight": {"class_0": 1, "class_1": 1, "class_2": 1}})
plain, _ = train("wine", "cultivar", "random_forest", {})
balanced, _ = train("wine", "cultivar", "random_forest", {"class_weight": "balanced"})
cur.execute("SELECT a.model = b.model, a.model = c.model FROM mlops.models a, mlops.models b, mlops.models c "
            "WHERE a.id = %s AND b.id = %s AND c.id = %s", (ones, plain, balanced))
same, same_balanced = cur.fetchone()
tap.ok(same and not same_balanced, "wine/random_forest: weights of 1 give the unweighted forest, balanced another")
check_logistic("pima", "diabetes", "balanced")
check_logistic("pima", "diabetes", {"pos": 3.0})
check_logistic("wine", "cultivar", "balanced")
check_logistic("wine", "cultivar", {"class_1": 0.25, "class_2": 2.0})

check_error({"class_weight": {"yes": 2}}, "22023", 'class_weight names label "yes", which is not a label of the target')
check_error({"class_weight": {"pos": 0}}, "22023", 'class_weight of label "pos" is out of range: 0')
check_error({"class_weight": {"pos": -1}}, "22023", 'class_weight of label "pos" is out of range: -1')
check_error({"class_weight": {"pos": "2"}}, "22023", 'class_weight of label "pos" must be a number, not a string')
check_error({"class_weight": "auto"}, "22023", 'must be "balanced" or an object of weights by label, not "auto"')
check_error({"class_weight": [1, 2]}, "22023", 'must be "balanced" or an object of weights by label, not an array')
check_error({"class_weight": "balanced"}, "22023", 'unknown hyperparameter "class_weight" for algorithm "ridge"',
            "diabetes", "progression", "ridge")
check_error({"class_weight": "balanced"}, "22023", 'hyperparameter "class_weight" applies only to classification',
            "diabetes", "progression")
tap.done_testing()
