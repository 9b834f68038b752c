"""The Python path of the mlops benchmark: what a data scientist runs outside the database.

    /usr/bin/python3 pypath.py [--csv] MODE THREADS [MODEL_ID]

MODE is one of
  score         export id and features, libxgboost inplace_predict, import the predictions
  train-xgb     export features and label, build a DMatrix, xgboost.train (100 rounds, depth 6)
  train-linear  export, scikit-learn StandardScaler + LinearRegression
  train-logistic export, scikit-learn StandardScaler + LogisticRegression (default lbfgs)

Data moves with COPY in PostgreSQL's binary format, parsed and written with
NumPy structured arrays: the fastest Python path we know of, so the ratios
against it are conservative.  With --csv it moves as COPY's CSV text,
parsed by numpy.loadtxt and written by numpy.savetxt, as scripts commonly
do (and as the drift benchmark's Python path does).  Prints one JSON object of timings (seconds,
from connecting to the end; interpreter start and imports excluded).  Run it
under /usr/bin/time -v for the peak memory.
"""
import io
import json
import sys
import time

import numpy as np
import psycopg2

FEATURES = [f"f{i}" for i in range(1, 21)]
XGB_PARAMS = {"tree_method": "hist", "objective": "binary:logistic", "max_depth": 6, "eta": 0.3,
              "subsample": 1, "colsample_bytree": 1, "colsample_bynode": 1, "min_child_weight": 1,
              "lambda": 1, "alpha": 0, "gamma": 0, "max_bin": 256, "scale_pos_weight": 1, "seed": 42,
              "verbosity": 0}
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
CSV = "--csv" in sys.argv
ARGS = [a for a in sys.argv[1:] if a != "--csv"]


def export(cur, expressions, table="bench"):
    """COPY (SELECT expressions FROM table) in binary (or CSV); a float64 column per expression.

    Every expression must be a non-NULL float8 (cast others in SQL).
    """
    if CSV:
        text = io.StringIO()
        cur.copy_expert(f"COPY (SELECT {', '.join(expressions)} FROM {table}) TO STDOUT (FORMAT csv)", text)
        text.seek(0)
        return np.loadtxt(text, delimiter=",", dtype=np.float64, ndmin=2)
    buf = io.BytesIO()
    cur.copy_expert(f"COPY (SELECT {', '.join(expressions)} FROM {table}) TO STDOUT (FORMAT binary)", buf)
    raw = buf.getbuffer()
    assert bytes(raw[:11]) == COPY_SIGNATURE
    start = 19 + int.from_bytes(raw[15:19], "big")
    k = len(expressions)
    fields = [("n", ">i2")]
    for j in range(k):
        fields += [(f"l{j}", ">i4"), (f"v{j}", ">f8")]
    rows = np.frombuffer(raw[start:len(raw) - 2], dtype=np.dtype(fields))
    assert np.all(rows["n"] == k) and all(np.all(rows[f"l{j}"] == 8) for j in range(k))
    return np.column_stack([rows[f"v{j}"].astype(np.float64) for j in range(k)])


def import_predictions(cur, ids, values):
    """COPY (id bigint, p float8) rows into bench_scored_py in binary (or CSV)."""
    cur.execute("DROP TABLE IF EXISTS bench_scored_py; CREATE TABLE bench_scored_py (id bigint, p float8)")
    if CSV:
        text = io.StringIO()
        np.savetxt(text, np.column_stack([ids, values]), fmt=["%d", "%.17g"], delimiter=",")
        text.seek(0)
        cur.copy_expert("COPY bench_scored_py FROM STDIN (FORMAT csv)", text)
        return
    rows = np.empty(len(ids), dtype=np.dtype([("n", ">i2"), ("l0", ">i4"), ("id", ">i8"),
                                              ("l1", ">i4"), ("p", ">f8")]))
    rows["n"], rows["l0"], rows["id"], rows["l1"], rows["p"] = 2, 8, ids, 8, values
    data = COPY_SIGNATURE + bytes(8) + rows.tobytes() + b"\xff\xff"
    cur.copy_expert("COPY bench_scored_py FROM STDIN (FORMAT binary)", io.BytesIO(data))


def main():
    """Run one mode and print its timings."""
    mode, threads = ARGS[0], int(ARGS[1])
    t = {"start": time.perf_counter()}
    conn = psycopg2.connect("")
    cur = conn.cursor()
    if mode == "score":
        import xgboost as xgb
        cur.execute("SELECT model FROM mlops.models WHERE id = %s", (int(ARGS[2]),))
        bst = xgb.Booster()
        bst.load_model(bytearray(cur.fetchone()[0]))
        bst.set_param({"nthread": threads})
        data = export(cur, ["id::float8"] + FEATURES)
        X = data[:, 1:].astype(np.float32)
        t["exported"] = time.perf_counter()
        proba = bst.inplace_predict(X)
        t["predicted"] = time.perf_counter()
        import_predictions(cur, data[:, 0].astype(np.int64), (proba > 0.5).astype(np.float64))
        conn.commit()
        t["end"] = time.perf_counter()
        out = {"export": t["exported"] - t["start"], "predict": t["predicted"] - t["exported"],
               "import": t["end"] - t["predicted"]}
    elif mode == "train-xgb":
        import xgboost as xgb
        data = export(cur, FEATURES + ["y::float8"])
        X, y = data[:, :-1].astype(np.float32), data[:, -1]
        t["exported"] = time.perf_counter()
        dtrain = xgb.DMatrix(X, label=y, nthread=threads)
        t["matrix"] = time.perf_counter()
        xgb.train(dict(XGB_PARAMS, nthread=threads), dtrain, num_boost_round=100)
        t["end"] = time.perf_counter()
        out = {"export": t["exported"] - t["start"], "matrix": t["matrix"] - t["exported"],
               "train": t["end"] - t["matrix"]}
    else:
        from sklearn.linear_model import LinearRegression, LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        target = "target" if mode == "train-linear" else "y::float8"
        data = export(cur, FEATURES + [target])
        t["exported"] = time.perf_counter()
        model = LinearRegression() if mode == "train-linear" else LogisticRegression(C=1.0, max_iter=100)
        make_pipeline(StandardScaler(), model).fit(data[:, :-1], data[:, -1])
        t["end"] = time.perf_counter()
        out = {"export": t["exported"] - t["start"], "train": t["end"] - t["exported"]}
    out["total"] = t["end"] - t["start"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
