"""Linear models: mlops.train against scikit-learn pipelines on the same rows.

mlops's default transform for linear models is mean imputation followed by
standardization, fitted on the training rows; the reference is the same
scikit-learn Pipeline(SimpleImputer('mean'), StandardScaler(), model).  We
compare the coefficients (mlops.weights) and the held-out predictions.
"""
import json

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import refdata
import tap

conn = tap.connect()
cur = conn.cursor()


def train(table, label, algorithm, hp):
    """Train in mlops; returns (model_id, weights by (output, feature))."""
    cur.execute(f"SELECT model_id FROM mlops.train(%s, %s, %s, algorithm => %s, hyperparams => %s, "
                f"deploy => 'never', {refdata.SPLIT_SQL})",
                (table, table, label, algorithm, json.dumps(hp)))
    model_id = cur.fetchone()[0]
    cur.execute("SELECT output, feature, weight FROM mlops.weights(%s)", (model_id,))
    return model_id, {(o, f): w for o, f, w in cur.fetchall()}


def held_out(model_id, table, fn):
    """mlops's predictions (or probabilities) on the held-out rows, by ord."""
    cur.execute(f"SELECT count(*) FROM {table}")
    n = cur.fetchone()[0]
    cur.execute(f"SELECT mlops.{fn}(%s, t) FROM {table} t ORDER BY ord OFFSET %s",
                (model_id, n - int(np.ceil(refdata.TEST_SIZE * n))))
    return np.array([r[0] for r in cur.fetchall()], dtype=float)


def features(table, label):
    cur.execute(f"SELECT * FROM {table} LIMIT 0")
    return [d[0] for d in cur.description if d[0] not in ("id", "ord", label)]


def check_regression(table, label, algorithm, hp, sk, rel):
    model_id, w = train(table, label, algorithm, hp)
    X, y, ntrain = refdata.fetch(conn, table, label)
    y = np.array(y, dtype=float)
    pipe = make_pipeline(SimpleImputer(strategy="mean"), StandardScaler(), sk).fit(X[:ntrain], y[:ntrain])
    names = features(table, label)
    got = [w[("value", f)] for f in names] + [w[("value", "(intercept)")]]
    ref = list(sk.coef_) + [sk.intercept_]
    name = f"{table}/{algorithm} {json.dumps(hp)}"
    tap.is_close(got, ref, rel=rel, abs=1e-8, name=f"{name}: coefficients equal scikit-learn's")
    Xt = pipe[:-1].transform(X[:ntrain])
    cur.execute("SELECT i.importance FROM mlops.model_features f JOIN mlops.feature_importance i "
                "USING (model_id, feature) WHERE f.model_id = %s ORDER BY f.position", (model_id,))
    tap.is_close([r[0] for r in cur.fetchall()], list(np.abs(sk.coef_) * Xt.std(axis=0)), rel=rel, abs=1e-8,
                 name=f"{name}: importance is |coefficient| x feature standard deviation")
    tap.is_close(list(held_out(model_id, table, "predict")), list(pipe.predict(X[ntrain:])),
                 rel=rel, abs=1e-8, name=f"{name}: held-out predictions equal scikit-learn's")


def check_logistic(table, label, hp, C, rel):
    model_id, w = train(table, label, "logistic", dict(hp, tol=1e-10))
    X, y, ntrain = refdata.fetch(conn, table, label)
    yi, labels = refdata.label_indices(y)
    # lbfgs stops on its ftol near 1e-4 of the optimum; newton-cg at 1e-12 reaches it
    sk = LogisticRegression(C=C, solver="newton-cg", tol=1e-12, max_iter=10000)
    pipe = make_pipeline(SimpleImputer(strategy="mean"), StandardScaler(), sk).fit(X[:ntrain], yi[:ntrain])
    names = features(table, label)
    outputs = [labels[1]] if len(labels) == 2 else labels
    got = [w[(str(o), f)] for o in outputs for f in names + ["(intercept)"]]
    ref = [v for k in range(len(outputs)) for v in list(sk.coef_[k]) + [sk.intercept_[k]]]
    name = f"{table}/logistic C={C}"
    tap.is_close(got, ref, rel=rel, abs=rel, name=f"{name}: coefficients equal scikit-learn's")
    tap.is_close(list(held_out(model_id, table, "predict_proba").ravel()),
                 list(pipe.predict_proba(X[ntrain:]).ravel()), rel=rel, abs=1e-7,
                 name=f"{name}: held-out probabilities equal scikit-learn's")


refdata.load(conn, "diabetes", "diabetes.csv", "progression", "float8")
check_regression("diabetes", "progression", "linear", {}, LinearRegression(), 1e-6)
check_regression("diabetes", "progression", "linear", {"fit_intercept": False},
                 LinearRegression(fit_intercept=False), 1e-6)
check_regression("diabetes", "progression", "ridge", {"alpha": 0.5}, Ridge(alpha=0.5), 1e-6)
check_regression("diabetes", "progression", "ridge", {"alpha": 0}, Ridge(alpha=0), 1e-6)
check_regression("diabetes", "progression", "lasso", {"alpha": 0.1, "tol": 1e-10, "max_iter": 100000},
                 Lasso(alpha=0.1, tol=1e-10, max_iter=100000), 1e-5)
check_regression("diabetes", "progression", "elastic_net",
                 {"alpha": 0.1, "l1_ratio": 0.5, "tol": 1e-10, "max_iter": 100000},
                 ElasticNet(alpha=0.1, l1_ratio=0.5, tol=1e-10, max_iter=100000), 1e-5)

# rank-deficient design: a duplicated column and a constant one
cur.execute("DROP TABLE IF EXISTS diabetes_rd; CREATE TABLE diabetes_rd AS SELECT *, bmi AS bmi_copy, 1.0::float8 AS one FROM diabetes")
check_regression("diabetes_rd", "progression", "linear", {}, LinearRegression(), 1e-6)
check_regression("diabetes_rd", "progression", "ridge", {"alpha": 2.0}, Ridge(alpha=2.0), 1e-6)

refdata.load(conn, "bc", "breast_cancer.csv", "diagnosis", "text")
check_logistic("bc", "diagnosis", {}, 1.0, 1e-4)
check_logistic("bc", "diagnosis", {"C": 0.01}, 0.01, 1e-4)
refdata.load(conn, "pima", "pima_diabetes.csv", "diabetes", "text")
check_logistic("pima", "diabetes", {}, 1.0, 1e-4)
refdata.load(conn, "iris", "iris.csv", "species", "text")
check_logistic("iris", "species", {}, 1.0, 1e-4)
refdata.load(conn, "wine", "wine.csv", "cultivar", "text")
check_logistic("wine", "cultivar", {"C": 0.5}, 0.5, 1e-4)
tap.done_testing()
