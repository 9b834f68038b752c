#!/usr/bin/python3
"""Time mlops.drift against the Python path on the tables test/bench/drift.sh made.

Python path: COPY the current rows out as CSV, numpy.loadtxt, score them with
the linear model refitted by scikit-learn on the same training rows (the fit
is not timed), then for every feature and for the predictions
scipy.stats.wasserstein_distance(profile sample, values) / max(std, 0.001),
the NULL share and the share outside the reference range.  The reference
comes from the stored profile for both paths and is not timed.

Also counts the sequential scans of the relation that one mlops.drift call
makes (pg_stat_user_tables).  Connection from the PG* environment.
"""

import base64
import io
import os
import time

import numpy as np
import psycopg2
from scipy import stats
from sklearn.linear_model import LinearRegression

FEATURES = [f"x{i}" for i in range(1, 21)]
REPEAT = int(os.environ.get("DRIFT_BENCH_REPEAT", "5"))


def best_of(fn):
    """(best seconds, result of the last run) over REPEAT runs."""
    best, result = None, None
    for _ in range(REPEAT):
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best, result


def seq_scans(cur):
    """Sequential scans of bench_current so far, as the statistics system has them."""
    cur.execute("SELECT pg_stat_clear_snapshot()")
    cur.execute("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'bench_current'")
    return cur.fetchone()[0]


def main():
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    watcher = psycopg2.connect("")
    watcher.autocommit = True
    before = seq_scans(watcher.cursor())
    cur.execute("SELECT profile FROM mlops.models WHERE id = (SELECT max(id) FROM mlops.models)")
    profile = cur.fetchone()[0]
    refs = profile["features"] + [profile["prediction"]]
    samples = [np.frombuffer(base64.b64decode(f["sample"]), dtype="<f8") if isinstance(f["sample"], str)
               else np.array(f["sample"]) for f in refs]

    # the same linear model, refitted on the training rows (first 75 % by id)
    cur.execute(f"SELECT {', '.join(FEATURES)}, y FROM bench_reference ORDER BY id LIMIT 30000")
    train = np.array(cur.fetchall(), dtype=float)
    model = LinearRegression().fit(train[:, :-1], train[:, -1])

    def in_database():
        cur.execute("SELECT feature, statistic, raw_statistic, null_share, out_of_range_share "
                    "FROM mlops.drift('bench', 'bench_current')")
        return cur.fetchall()

    times = {}

    def python_path():
        start = time.perf_counter()
        buf = io.BytesIO()
        cur.copy_expert(f"COPY (SELECT {', '.join(FEATURES)} FROM bench_current) TO STDOUT WITH (FORMAT csv)", buf)
        copied = time.perf_counter()
        buf.seek(0)
        X = np.loadtxt(buf, delimiter=",", ndmin=2)
        parsed = time.perf_counter()
        columns = [X[:, j] for j in range(X.shape[1])] + [model.predict(X)]
        scored = time.perf_counter()
        out = []
        for ref, sample, values in zip(refs, samples, columns):
            present = values[~np.isnan(values)]
            raw = stats.wasserstein_distance(sample, present)
            out.append((raw / max(ref["std"], 0.001), raw, 1 - len(present) / len(values),
                        float(np.mean((present < ref["min"]) | (present > ref["max"])))))
        done = time.perf_counter()
        parts = (copied - start, parsed - copied, scored - parsed, done - scored)
        if "python" not in times or sum(parts) < sum(times["python"]):
            times["python"] = parts
        return out

    # one call, then its scans of the relation as another session sees them
    in_database()
    cur.execute("SELECT pg_stat_force_next_flush()")
    time.sleep(1.5)
    scans = seq_scans(watcher.cursor()) - before
    cur.execute("SELECT rows FROM mlops.drift_reports ORDER BY id DESC LIMIT 1")
    nrows = cur.fetchone()[0]

    t_db, rows = best_of(in_database)
    t_py, expected = best_of(python_path)

    worst_feature = worst_pred = 0.0
    for i, (row, exp) in enumerate(zip(rows, expected)):
        for got, want in zip(row[1:], exp):
            diff = abs(got - want) / abs(want) if want else abs(got)
            if i < len(FEATURES):
                worst_feature = max(worst_feature, diff)
            else:
                worst_pred = max(worst_pred, diff)
    drifted = [r[0] for r in rows if r[1] >= 0.1]
    copy_s, parse_s, score_s, scipy_s = times["python"]

    print(f"drift check of {nrows:,} rows x {len(FEATURES)} features + prediction "
          f"(auto: normed Wasserstein), best of {REPEAT}")
    print(f"  mlops.drift            {t_db:7.2f} s   ({scans} sequential scan of the relation)")
    print(f"  Python path            {t_py:7.2f} s   (COPY {copy_s:.2f} s, numpy.loadtxt {parse_s:.2f} s, "
          f"predict {score_s:.2f} s, SciPy {scipy_s:.2f} s)")
    print(f"  ratio                  {t_py / t_db:7.1f}x   (SciPy statistics alone: {scipy_s / t_db:.1f}x)")
    print(f"  drifted: {', '.join(drifted)}")
    print(f"  largest relative difference: features {worst_feature:.2g}, prediction {worst_pred:.2g}")
    ok = worst_feature <= 1e-9 and worst_pred <= 1e-6 and scans == 1
    print("  results agree" if ok else "  MISMATCH: the two paths disagree, or the relation was scanned more than once")
    raise SystemExit(0 if ok else 1)


main()
