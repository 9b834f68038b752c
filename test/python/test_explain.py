"""mlops.explain against XGBoost's own TreeSHAP (issue 13).

Tree models trained by mlops (xgboost and random_forest; binary,
multiclass and regression, on the real data sets of contrib/datasets, with
NULLs: pima has its own, and copies of breast_cancer and diabetes get 10%
of their values set to NULL) are loaded from mlops.models.model into
Python XGBoost; its predict(pred_contribs=True) on the same rows (the
first 300 by ord, NULLs among them) is the reference.  mlops.explain must give the same contribution per feature and
bias within 1e-5 relative to the row's margin (max(1, |margin|)), and the
contributions must sum to XGBoost's output_margin.  Boosters trained in
Python and served by mlops.import_xgboost are checked the same way.
Linear models: contributions are coefficient x featurized value plus the
intercept, summing to the margin (the logit of P(second label) for
logistic).
"""
import json
import os
import tempfile

import numpy as np
import xgboost as xgb

import refdata
import tap

conn = tap.connect()
cur = conn.cursor()
TOL = 1e-5
ROWS = 300  # rows explained per model (by ord), to keep the test quick


def add_nulls(table, frac=0.1, seed=3):
    """Set about frac of the feature values of a table to NULL (seeded)."""
    cur.execute(f"SELECT * FROM {table} LIMIT 0")
    cols = [d[0] for d in cur.description if d[0] not in ("id", "ord")]
    rng = np.random.default_rng(seed)
    for c in cols[:-1]:
        cur.execute(f"UPDATE {table} SET {c} = NULL WHERE id = ANY(%s)",
                    ([int(i) for i in rng.choice(np.arange(1, 400), size=int(400 * frac), replace=False)],))


def explain_rows(model_id, table, k, p, limit=None):
    """mlops.explain of every row (or the first limit) by ord: array (n, k, p + 1)."""
    cur.execute(f"SELECT e.contribution FROM (SELECT * FROM {table} ORDER BY ord LIMIT %s) t CROSS JOIN LATERAL "
                f"mlops.explain(%s::bigint, t) WITH ORDINALITY e ORDER BY t.ord, e.ordinality", (limit, model_id))
    vals = np.array([r[0] for r in cur.fetchall()], dtype=float)
    return vals.reshape(-1, k, p + 1)


def compare(name, got, ref, margin, what="XGBoost's pred_contribs"):
    """got and ref (n, k, p + 1); margin (n, k)."""
    scale = np.maximum(1.0, np.abs(margin))[:, :, None]
    err = np.abs(got - ref) / scale
    worst = float(err.max())
    tap.ok(worst <= TOL, f"{name}: explain equals {what} ({got.shape[0]} rows)",
           f"worst relative error {worst:.3g}")
    sums = got.sum(axis=2)
    serr = float((np.abs(sums - margin) / np.maximum(1.0, np.abs(margin))).max())
    tap.ok(serr <= TOL, f"{name}: contributions sum to the margin", f"worst {serr:.3g}")
    tap._diag(f"{name}: worst relative error {worst:.3g}, of the sum {serr:.3g}")


def check_tree(table, csv, label, label_type, algorithm, task, nulls=False):
    refdata.load(conn, table, csv, label, label_type)
    if nulls:
        add_nulls(table)
    hp = {"n_estimators": 20, "max_depth": 5}
    cur.execute("SELECT model_id FROM mlops.train(%s, %s, %s, algorithm => %s, hyperparams => %s, "
                + refdata.SPLIT_SQL + ")", (table, table, label, algorithm, json.dumps(hp)))
    model_id = cur.fetchone()[0]
    X, y, _ = refdata.fetch(conn, table, label)
    X = X[:ROWS]
    cur.execute("SELECT model FROM mlops.models WHERE id = %s", (model_id,))
    booster = xgb.Booster()
    booster.load_model(bytearray(cur.fetchone()[0]))
    booster.set_param({"nthread": 1})
    d = xgb.DMatrix(X.astype(np.float32))
    ref = booster.predict(d, pred_contribs=True)
    margin = booster.predict(d, output_margin=True)
    if ref.ndim == 2:
        ref = ref[:, None, :]
        margin = margin[:, None]
    got = explain_rows(model_id, table, ref.shape[1], X.shape[1], ROWS)
    tag = f"{table}/{algorithm}" + (" with NULLs" if np.isnan(X).any() else "")
    compare(tag, got, ref, margin)


check_tree("ex_bc", "breast_cancer.csv", "diagnosis", "text", "xgboost", "classification")
check_tree("ex_bcn", "breast_cancer.csv", "diagnosis", "text", "xgboost", "classification", nulls=True)
check_tree("ex_iris", "iris.csv", "species", "text", "xgboost", "classification")
check_tree("ex_wine", "wine.csv", "cultivar", "text", "xgboost", "classification")
check_tree("ex_digits", "digits.csv", "digit", "int", "xgboost", "classification")
check_tree("ex_pima", "pima_diabetes.csv", "diabetes", "text", "xgboost", "classification")
check_tree("ex_diab", "diabetes.csv", "progression", "float8", "xgboost", "regression")
check_tree("ex_diabn", "diabetes.csv", "progression", "float8", "xgboost", "regression", nulls=True)
check_tree("ex_bc_rf", "breast_cancer.csv", "diagnosis", "text", "random_forest", "classification")
check_tree("ex_wine_rf", "wine.csv", "cultivar", "text", "random_forest", "classification")
check_tree("ex_diab_rf", "diabetes.csv", "progression", "float8", "random_forest", "regression")
check_tree("ex_pima_rf", "pima_diabetes.csv", "diabetes", "text", "random_forest", "classification")

# boosters trained in Python, served by import_xgboost (deeper trees, other objectives)
COLS = ["pregnant", "glucose", "pressure", "triceps", "insulin", "mass", "pedigree", "age"]
tap.load_csv(conn, "ex_imp", tap.datasets_dir() / "pima_diabetes.csv", "diabetes")
cur.execute("ALTER TABLE ex_imp ADD COLUMN ord bigint; UPDATE ex_imp SET ord = id")
cur.execute("SELECT %s, diabetes FROM ex_imp ORDER BY id" % ", ".join(COLS))
rows = cur.fetchall()
X = np.array([[np.nan if v is None else v for v in r[:-1]] for r in rows], dtype=np.float32)
yb = np.array([1.0 if r[-1] == "pos" else 0.0 for r in rows])
band = np.clip(np.nan_to_num(X[:, 7]) // 20, 1, 3) - 1
for objective, label, extra, task in [
    ("binary:logistic", yb, {}, "classification"),
    ("multi:softprob", band, {"num_class": 3}, "classification"),
    ("reg:squarederror", np.nan_to_num(X[:, 5]), {}, "regression"),
]:
    params = {"objective": objective, "max_depth": 8, "eta": 0.2, "seed": 11, "subsample": 0.8,
              "tree_method": "hist", "nthread": 2, **extra}
    booster = xgb.train(params, xgb.DMatrix(X, label=label), num_boost_round=25)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.json")
        booster.save_model(path)
        with open(path) as f:
            doc = f.read()
    cur.execute("SELECT model_id FROM mlops.import_xgboost(%s, %s, %s, %s)",
                ("ex_imp_" + objective.split(":")[0], doc, COLS, task))
    model_id = cur.fetchone()[0]
    booster.set_param({"nthread": 1})
    ref = booster.predict(xgb.DMatrix(X[:ROWS]), pred_contribs=True)
    margin = booster.predict(xgb.DMatrix(X[:ROWS]), output_margin=True)
    if ref.ndim == 2:
        ref, margin = ref[:, None, :], margin[:, None]
    compare(f"import_xgboost {objective} (depth 8) with NULLs",
            explain_rows(model_id, "ex_imp", ref.shape[1], len(COLS), ROWS), ref, margin)

# linear models: coefficient x featurized value, intercept as the bias
refdata.load(conn, "ex_lin", "breast_cancer.csv", "diagnosis", "text")
for algorithm in ["logistic", "linear"]:
    target = "diagnosis" if algorithm == "logistic" else "mean_radius"
    if algorithm == "linear":
        cur.execute("ALTER TABLE ex_lin DROP COLUMN IF EXISTS diagnosis")
    cur.execute("SELECT model_id FROM mlops.train(%s, 'ex_lin', %s, algorithm => %s, "
                + refdata.SPLIT_SQL + ")", ("ex_lin_" + algorithm, target, algorithm))
    model_id = cur.fetchone()[0]
    cur.execute("SELECT feature, weight FROM mlops.weights(%s)", (model_id,))
    w = dict(cur.fetchall())  # binary and regression: one output
    cur.execute("SELECT mlops.featurize(%s::bigint, t), "
                + ("(mlops.predict_proba(%s::bigint, t))[2]" if algorithm == "logistic" else "mlops.predict(%s::bigint, t)")
                + " FROM ex_lin t ORDER BY ord", (model_id, model_id))
    fr = cur.fetchall()
    F = np.array([r[0] for r in fr])
    out = np.array([r[1] for r in fr])
    cur.execute("SELECT feature FROM mlops.model_features WHERE model_id = %s ORDER BY position", (model_id,))
    names = [r[0] for r in cur.fetchall()]
    coef = np.array([w[n] for n in names])
    ref = np.column_stack([F * coef, np.full(len(F), w.get("(intercept)", w.get("intercept", 0.0)))])
    got = explain_rows(model_id, "ex_lin", 1, len(names))
    compare(f"breast_cancer/{algorithm}", got, ref[:, None, :], ref.sum(axis=1)[:, None],
            "coefficient x featurized value")
    s = got[:, 0, :].sum(axis=1)
    back = 1 / (1 + np.exp(-s)) if algorithm == "logistic" else s
    tap.is_close(back.tolist(), out.tolist(), rel=1e-9, abs=1e-12,
                 name=f"breast_cancer/{algorithm}: the summed contributions give predict's output")

tap.done_testing()
