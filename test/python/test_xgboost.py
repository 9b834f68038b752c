"""XGBoost parity: mlops.train/predict against Python XGBoost on the same rows.

Each data set is split as refdata.py describes, so Python takes exactly the
same training and held-out rows.  Python trains
with the same libxgboost version and the same parameters; we compare the
held-out metrics (within 0.01, as the issue asks), the predictions
themselves (float32 round-off), and mlops's stored metrics against
sklearn.metrics computed on mlops's own predictions.
"""
import json

import numpy as np
import sklearn.metrics as skm
import xgboost as xgb

import refdata
import tap

N_ROUNDS = 30
conn = tap.connect()
cur = conn.cursor()


def run(table, csv, label, label_type, algorithm, task):
    refdata.load(conn, table, csv, label, label_type)
    hp = {"n_estimators": N_ROUNDS, "max_depth": 4}
    cur.execute(
        "SELECT model_id, metrics FROM mlops.train(%s, %s, %s, algorithm => %s, "
        "hyperparams => %s, " + refdata.SPLIT_SQL + ")",
        (table, table, label, algorithm, json.dumps(hp)),
    )
    model_id, metrics = cur.fetchone()
    X, y, ntrain = refdata.fetch(conn, table, label)
    params = {"tree_method": "hist", "max_depth": 4, "eta": 0.3, "seed": 42, "nthread": 1,
              "max_bin": 256, "min_child_weight": 1, "lambda": 1, "alpha": 0, "gamma": 0}
    rounds = N_ROUNDS
    if algorithm == "random_forest":
        params.update({"eta": 1.0, "subsample": 0.8, "colsample_bynode": 0.8, "lambda": 1e-5,
                       "num_parallel_tree": N_ROUNDS})
        rounds = 1
    if task == "regression":
        yv = np.array(y, dtype=float)
        params["objective"] = "reg:squarederror"
    else:
        yv, labels = refdata.label_indices(y)
        yv = yv.astype(float)
        if len(labels) == 2:
            params["objective"] = "binary:logistic"
        else:
            params.update({"objective": "multi:softprob", "num_class": len(labels)})
    dtrain = xgb.DMatrix(X[:ntrain].astype(np.float32), label=yv[:ntrain])
    booster = xgb.train(params, dtrain, num_boost_round=rounds)
    ref = booster.predict(xgb.DMatrix(X[ntrain:].astype(np.float32)))

    cur.execute(
        f"SELECT mlops.{'predict' if task == 'regression' else 'predict_proba'}(%s, t) "
        f"FROM {table} t ORDER BY ord OFFSET %s", (model_id, ntrain))
    got = [r[0] for r in cur.fetchall()]
    name = f"{table}/{algorithm}"
    ytest = yv[ntrain:]
    cur.execute("SELECT model FROM mlops.models WHERE id = %s", (model_id,))
    stored = xgb.Booster()
    stored.load_model(bytearray(cur.fetchone()[0]))
    gain = stored.get_score(importance_type="gain")
    cur.execute("SELECT f.feature, i.importance FROM mlops.model_features f "
                "JOIN mlops.feature_importance i USING (model_id, feature) WHERE f.model_id = %s "
                "ORDER BY f.position", (model_id,))
    imp = cur.fetchall()
    tap.is_close([v for _, v in imp], [gain.get(f"f{j}", 0.0) for j in range(len(imp))], rel=1e-6, abs=1e-9,
                 name=f"{name}: feature importance equals XGBoost's gain on the stored model")
    if task == "regression":
        got = np.array(got, dtype=float)
        tap.is_close(list(got), list(ref.astype(float)), rel=1e-5, abs=1e-4, name=f"{name}: predictions equal libxgboost's")
        r2_ref = skm.r2_score(ytest, ref)
        tap.is_close(metrics["r2"], r2_ref, abs=0.01, name=f"{name}: r2 within 0.01 of Python XGBoost")
        tap.is_close([metrics[k] for k in ("r2", "mae", "mse", "rmse", "explained_variance")],
                     [skm.r2_score(ytest, got), skm.mean_absolute_error(ytest, got),
                      skm.mean_squared_error(ytest, got), np.sqrt(skm.mean_squared_error(ytest, got)),
                      skm.explained_variance_score(ytest, got)],
                     rel=1e-9, name=f"{name}: stored metrics equal sklearn.metrics on mlops's predictions")
        return
    proba = np.array(got, dtype=float)
    if ref.ndim == 1:
        ref = np.column_stack([1 - ref, ref])
    tap.is_close(list(proba.ravel()), list(ref.ravel().astype(float)), rel=1e-5, abs=1e-6,
                 name=f"{name}: probabilities equal libxgboost's")
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    pred_ref = ref.argmax(axis=1)
    tap.is_close(metrics["accuracy"], skm.accuracy_score(ytest, pred_ref), abs=0.01,
                 name=f"{name}: accuracy within 0.01 of Python XGBoost")
    auc_ref = (skm.roc_auc_score(ytest, ref[:, 1]) if k == 2
               else skm.roc_auc_score(ytest, ref, multi_class="ovr", labels=list(range(k))))
    tap.is_close(metrics["roc_auc"], auc_ref, abs=0.01, name=f"{name}: roc_auc within 0.01 of Python XGBoost")
    avg = "binary" if k == 2 else "macro"
    auc = (skm.roc_auc_score(ytest, proba[:, 1]) if k == 2
           else skm.roc_auc_score(ytest, proba, multi_class="ovr", labels=list(range(k))))
    tap.is_close([metrics[m] for m in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "mcc")],
                 [skm.accuracy_score(ytest, pred),
                  skm.precision_score(ytest, pred, average=avg, zero_division=0),
                  skm.recall_score(ytest, pred, average=avg, zero_division=0),
                  skm.f1_score(ytest, pred, average=avg, zero_division=0),
                  auc, skm.log_loss(ytest, proba, labels=list(range(k))),
                  skm.matthews_corrcoef(ytest, pred)],
                 rel=1e-9, abs=1e-12, name=f"{name}: stored metrics equal sklearn.metrics on mlops's probabilities")
    tap.ok(metrics["confusion_matrix"] == skm.confusion_matrix(ytest, pred, labels=list(range(k))).tolist(),
           f"{name}: confusion matrix equals sklearn's")


run("bc", "breast_cancer.csv", "diagnosis", "text", "xgboost", "classification")
run("iris", "iris.csv", "species", "text", "xgboost", "classification")
run("wine", "wine.csv", "cultivar", "text", "xgboost", "classification")
run("digits", "digits.csv", "digit", "int", "xgboost", "classification")
run("pima", "pima_diabetes.csv", "diabetes", "text", "xgboost", "classification")
run("diabetes", "diabetes.csv", "progression", "float8", "xgboost", "regression")
run("bc_rf", "breast_cancer.csv", "diagnosis", "text", "random_forest", "classification")
run("diabetes_rf", "diabetes.csv", "progression", "float8", "random_forest", "regression")
tap.done_testing()
