"""Benchmark of mlops.tune against scikit-learn's RandomizedSearchCV + XGBClassifier.

    PG... /usr/bin/python3 test/bench/tune_bench.py   (test/bench/tune.sh runs it on a throwaway cluster)

Both sides do the same work on a table of MLOPS_BENCH_ROWS (200,000) rows x
20 float features and a boolean label: hold out 25 % of the rows
(stratified), search MLOPS_BENCH_TRIALS (20) random candidates of the space
below by stratified MLOPS_BENCH_FOLDS-fold (5) cross-validation on the
other 75 % with f1 as the score, refit the best on all of them and score the
held-out rows.  Equal threads: mlops.threads = T against XGBClassifier
n_jobs = T with RandomizedSearchCV n_jobs = 1, for T in MLOPS_BENCH_THREADS
("1 2").  The Python path starts connected and exports the rows with binary
COPY parsed by NumPy (pypath.export, the fastest way we know); its time
includes the export.  The space (smaller trees than the default space of
xgboost, so a run takes minutes, not an hour) is the same on both sides:

    max_depth [3, 4, 5, 6]; learning_rate log-uniform on [0.05, 0.3];
    n_estimators integer uniform on [20, 60]; subsample uniform on [0.6, 1]

Runs MLOPS_BENCH_REPS (1) times, interleaved, and prints medians as a
markdown table on stdout.  On a shared or loaded machine the ratios are
noisy: re-run on a quiet one.
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pypath  # noqa: E402

ROWS = int(os.environ.get("MLOPS_BENCH_ROWS", 200000))
TRIALS = int(os.environ.get("MLOPS_BENCH_TRIALS", 20))
FOLDS = int(os.environ.get("MLOPS_BENCH_FOLDS", 5))
REPS = int(os.environ.get("MLOPS_BENCH_REPS", 1))
THREADS = [int(t) for t in os.environ.get("MLOPS_BENCH_THREADS", "1 2").split()]
FEATURES = [f"f{i}" for i in range(1, 21)]
SPACE = {"max_depth": [3, 4, 5, 6], "learning_rate": {"min": 0.05, "max": 0.3, "log": True},
         "n_estimators": {"min": 20, "max": 60, "int": True}, "subsample": {"min": 0.6, "max": 1.0}}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def setup(cur):
    """The table bench_tune: 20 normal features, a label from a noisy nonlinear function of them."""
    cur.execute("SELECT count(*) FROM pg_class WHERE relname = 'bench_tune'")
    if cur.fetchone()[0]:
        cur.execute("SELECT count(*) FROM bench_tune")
        if cur.fetchone()[0] == ROWS:
            return
        cur.execute("DROP TABLE bench_tune")
    cols = ", ".join(f"f{i} float8" for i in range(1, 21))
    cur.execute(f"CREATE TABLE bench_tune (id int, {cols}, y boolean)")
    rng = np.random.default_rng(42)
    X = rng.normal(size=(ROWS, 20))
    z = X[:, 0] + 0.5 * X[:, 1] * X[:, 2] - np.abs(X[:, 3]) + 0.3 * np.sin(3 * X[:, 4]) + rng.normal(size=ROWS)
    y = z > 0
    import io
    text = io.StringIO()
    for i in range(ROWS):
        text.write(f"{i}\t" + "\t".join(repr(v) for v in X[i]) + ("\tt\n" if y[i] else "\tf\n"))
    text.seek(0)
    cur.copy_expert("COPY bench_tune FROM STDIN", text)
    cur.execute("ANALYZE bench_tune")


def run_mlops(cur, threads):
    cur.execute(f"SET mlops.threads = {threads}")
    start = time.perf_counter()
    cur.execute("SELECT model_id, metrics->>'f1', cv_score, tune_id FROM mlops.tune("
                "'bench_tune', 'bench_tune', 'y', search_space => %s, trials => %s, cv => %s, "
                "exclude => '{id}', deploy => 'never')", (json.dumps(SPACE), TRIALS, FOLDS))
    model_id, f1, cv_score, tune_id = cur.fetchone()
    total = time.perf_counter() - start
    cur.execute("SELECT sum(seconds) FROM mlops.trials WHERE tune_id = %s", (tune_id,))
    return {"total": total, "trials": cur.fetchone()[0], "f1": float(f1), "cv": cv_score}


def run_python(cur, threads):
    from scipy.stats import loguniform, randint, uniform
    from sklearn.metrics import f1_score
    from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold, train_test_split
    from xgboost import XGBClassifier

    start = time.perf_counter()
    data = pypath.export(cur, FEATURES + ["y::int::float8"], table="bench_tune")
    X, y = data[:, :-1], data[:, -1].astype(int)
    exported = time.perf_counter()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=42)
    search = RandomizedSearchCV(
        XGBClassifier(tree_method="hist", n_jobs=threads, random_state=42, max_bin=256),
        {"max_depth": [3, 4, 5, 6], "learning_rate": loguniform(0.05, 0.3),
         "n_estimators": randint(20, 61), "subsample": uniform(0.6, 0.4)},
        n_iter=TRIALS, cv=StratifiedKFold(FOLDS, shuffle=True, random_state=42), scoring="f1",
        n_jobs=1, refit=True, random_state=42)
    search.fit(Xtr, ytr)
    f1 = f1_score(yte, search.predict(Xte))
    end = time.perf_counter()
    return {"total": end - start, "export": exported - start, "search": end - exported, "f1": f1,
            "cv": search.best_score_}


def main():
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    log(f"tune benchmark: {ROWS} rows, {TRIALS} trials x {FOLDS} folds, threads {THREADS}, {REPS} reps")
    setup(cur)
    results = {}
    for rep in range(REPS):
        for threads in THREADS:
            for side, fn in (("mlops", run_mlops), ("python", run_python)):
                cur.execute("SELECT mlops.drop_project('bench_tune') FROM mlops.projects WHERE name = 'bench_tune'")
                r = fn(cur, threads)
                log(f"rep {rep + 1} threads {threads} {side}: {json.dumps(r)}")
                results.setdefault((threads, side), []).append(r)
    print(f"| threads | mlops.tune (s) | RandomizedSearchCV + XGBClassifier (s) | ratio | held-out f1 mlops / python |")
    print("|---|---|---|---|---|")
    for threads in THREADS:
        m = statistics.median(r["total"] for r in results[(threads, "mlops")])
        p = statistics.median(r["total"] for r in results[(threads, "python")])
        fm = statistics.median(r["f1"] for r in results[(threads, "mlops")])
        fp = statistics.median(r["f1"] for r in results[(threads, "python")])
        print(f"| {threads} | {m:.1f} | {p:.1f} | {p / m:.2f}x | {fm:.4f} / {fp:.4f} |")


if __name__ == "__main__":
    main()
