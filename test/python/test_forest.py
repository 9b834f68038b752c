"""random_forest: cancel and statement_timeout stop it between trees, a
stopped forest leaves no memory behind, and its trees are still those of
XGBoost's random-forest mode (one round of n_estimators parallel trees).

mlops grows the forest one tree per boosting round, so the parity checks
compare the stored model with Python's one-round forest bit for bit.
"""
import json
import threading
import time

import numpy as np
import psycopg2
import xgboost as xgb

import refdata
import tap

TREES = 20000
conn = tap.connect()
cur = conn.cursor()


def parity(table, csv, label, label_type, task, hp, name):
    """Train a forest in mlops and in Python: (model id, stored booster, Python's booster, held-out rows, ntrain)."""
    refdata.load(conn, table, csv, label, label_type)
    hp = dict({"n_estimators": 30, "max_depth": 4}, **hp)
    cur.execute(
        "SELECT model_id FROM mlops.train(%s, %s, %s, algorithm => 'random_forest', hyperparams => %s, "
        + refdata.SPLIT_SQL + ")", (table, table, label, json.dumps(hp)))
    model_id = cur.fetchone()[0]
    X, y, ntrain = refdata.fetch(conn, table, label)
    params = {"tree_method": "hist", "max_depth": hp["max_depth"], "eta": 1.0, "seed": 42, "nthread": 1,
              "max_bin": 256, "min_child_weight": 1, "lambda": 1e-5, "alpha": 0, "gamma": 0,
              "subsample": hp.get("subsample", 0.8), "colsample_bynode": hp.get("colsample_bynode", 0.8),
              "num_parallel_tree": hp["n_estimators"]}
    if task == "regression":
        yv, k = np.array(y, dtype=float), 1
        params["objective"] = "reg:squarederror"
    else:
        yv, labels = refdata.label_indices(y)
        k = len(labels) if len(labels) > 2 else 1
        params.update({"objective": "multi:softprob", "num_class": k} if k > 1 else {"objective": "binary:logistic"})
    ref = xgb.train(params, xgb.DMatrix(X[:ntrain].astype(np.float32), label=yv[:ntrain]), num_boost_round=1)
    cur.execute("SELECT model FROM mlops.models WHERE id = %s", (model_id,))
    stored = xgb.Booster()
    stored.load_model(bytearray(cur.fetchone()[0]))
    tap.ok(len(stored.get_dump()) == hp["n_estimators"] * k and stored.num_boosted_rounds() == hp["n_estimators"],
           f"{name}: the stored model has one round per tree ({hp['n_estimators']} rounds of {k} trees)",
           f"{len(stored.get_dump())} trees in {stored.num_boosted_rounds()} rounds")
    return model_id, stored, ref, X[ntrain:].astype(np.float32), ntrain


# regression and binary forests: the same trees as Python's one-round forest, bit for bit
for table, csv, label, label_type, task in (("forest_bc", "breast_cancer.csv", "diagnosis", "text", "classification"),
                                            ("forest_diabetes", "diabetes.csv", "progression", "float8", "regression")):
    _, stored, ref, Xtest, _ = parity(table, csv, label, label_type, task, {}, table)
    tap.ok(stored.get_dump(dump_format="json") == ref.get_dump(dump_format="json"),
           f"{table}: every tree equals the tree of Python's one-round forest")
    d = xgb.DMatrix(Xtest)
    tap.ok(np.array_equal(stored.predict(d, output_margin=True), ref.predict(d, output_margin=True)),
           f"{table}: the held-out margins equal Python's one-round forest's bit for bit")

# multiclass: without sampling the one-round forest bit for bit (same gradients and learning rate)
_, stored, ref, Xtest, _ = parity("forest_iris", "iris.csv", "species", "text", "classification",
                               {"subsample": 1, "colsample_bynode": 1}, "forest_iris without sampling")
d = xgb.DMatrix(Xtest)
tap.ok(np.array_equal(stored.predict(d, output_margin=True), ref.predict(d, output_margin=True)),
       "forest_iris without sampling: the held-out margins equal Python's one-round forest's bit for bit")
# with sampling the classes' trees interleave (other draws); the native forest still reads them right
model_id, stored, ref, Xtest, ntrain = parity("forest_wine", "wine.csv", "cultivar", "text", "classification", {},
                                      "forest_wine")
cur.execute("SELECT mlops.predict_proba(%s, t) FROM forest_wine t ORDER BY ord OFFSET %s", (model_id, ntrain))
got = np.array([r[0] for r in cur.fetchall()], dtype=float)
tap.is_close(list(got.ravel()), list(stored.predict(xgb.DMatrix(Xtest)).ravel().astype(float)), rel=1e-5, abs=1e-6,
             name="forest_wine: mlops.predict_proba equals libxgboost on the stored model (interleaved classes)")
tap.ok((got.argmax(axis=1) == ref.predict(xgb.DMatrix(Xtest)).argmax(axis=1)).mean() >= 0.9,
       "forest_wine: it predicts the class of Python's one-round forest on at least 90 % of held-out rows")

# a big forest: 200,000 rows, TREES trees
a = tap.connect()
ca = a.cursor()
cur.execute("SELECT pg_backend_pid()")
pid = cur.fetchone()[0]
cur.execute("DROP TABLE IF EXISTS forest_big; "
            "CREATE TABLE forest_big AS SELECT (g % 97)::float8 AS a, (g * 7 % 13)::float8 AS b, sin(g) AS c, "
            "(g % 1009) / 7.0 AS d, (g % 5 > 1)::int AS y FROM generate_series(1, 200000) g")
TRAIN = ("SELECT metrics FROM mlops.train('forest_big', 'forest_big', 'y', task => 'classification', "
         "algorithm => 'random_forest', hyperparams => %s, deploy => 'never')")


def big(trees):
    """Train the big forest with this many trees; return (error or None, seconds)."""
    start = time.monotonic()
    try:
        cur.execute(TRAIN, (json.dumps({"n_estimators": trees, "max_depth": 6}),))
        return None, time.monotonic() - start
    except psycopg2.Error as e:
        return e, time.monotonic() - start


err, _ = big(TREES // 100)
fit = None if err else cur.fetchone()[0]["fit_seconds"]
tap.ok(fit is not None and fit * 100 > 20, f"growing the {TREES} trees of the big forest would take more than 20 s",
       f"{TREES // 100} trees took {fit} s")

cur.execute("SET statement_timeout = '1s'")
err, seconds = big(TREES)
cur.execute("RESET statement_timeout")
tap.ok(err is not None and err.pgcode == "57014" and "statement timeout" in str(err),
       "statement_timeout = '1s' stops the big forest with the timeout error", str(err))
tap.ok(seconds < 5, "the big forest stops within 5 s of its start with statement_timeout = '1s'", f"{seconds:.1f} s")

outcome = {}
runner = threading.Thread(target=lambda: outcome.update(zip(("error", "seconds"), big(TREES))))
runner.start()
time.sleep(2)
cancelled = time.monotonic()
ca.execute("SELECT pg_cancel_backend(%s)", (pid,))
runner.join()
stopped = time.monotonic() - cancelled
err = outcome["error"]
tap.ok(err is not None and err.pgcode == "57014" and "user request" in str(err),
       "pg_cancel_backend from another session stops the big forest with the cancel error", str(err))
tap.ok(stopped < 5, "the big forest stops within 5 s of pg_cancel_backend", f"{stopped:.1f} s")


def rss_kb():
    """The resident memory of the training backend."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def stop_forests(times):
    """Start the big forest and stop it with statement_timeout, this many times."""
    cur.execute("SET statement_timeout = '1s'")
    for _ in range(times):
        big(TREES)
    cur.execute("RESET statement_timeout")


stop_forests(3)
before = rss_kb()
stop_forests(8)
after = rss_kb()
tap.ok(after - before < 20000, "8 big forests stopped by statement_timeout grow the backend by less than 20 MB",
       f"RSS {before} kB -> {after} kB")
tap.done_testing()
