"""mlops.explain against XGBoost's own pred_contribs, one thread each.

    PG* environment -> /usr/bin/python3 test/bench/explain_bench.py [--rows N] [--repeat N]

Makes a table of N rows (default 100,000) of 20 uniform features and a
binary label (the bench.py data), trains a 100-round depth-6 XGBoost model
with mlops.train, then times, best of --repeat runs (default 3):

  mlops.explain         SELECT count(*) FROM t, mlops.explain('p', t): every row
                        read, featurized and explained in SQL (21 rows each)
  mlops.explain_global  the same rows in one call, mean |SHAP| recorded
  XGBoost               Booster.predict(DMatrix, pred_contribs=True), nthread 1,
                        on the rows already in memory as a DMatrix

so the XGBoost side does strictly less (no reading, no result rows).  The
two must agree (1e-5 relative to the margin) on the first 2,000 rows.
Prints a markdown table and the ratio (target: at most 1.5).  On a shared
machine the timings are noisy: re-run it on a quiet one.
"""
import argparse
import time

import numpy as np
import psycopg2
import xgboost as xgb

ap = argparse.ArgumentParser()
ap.add_argument("--rows", type=int, default=100000)
ap.add_argument("--repeat", type=int, default=3)
args = ap.parse_args()

FEATURES = [f"f{i}" for i in range(1, 21)]
conn = psycopg2.connect("")
conn.autocommit = True
cur = conn.cursor()
cur.execute("SET max_parallel_workers_per_gather = 0")
cur.execute("SELECT setseed(0.42)")
draws = ", ".join(f"random() * 2 - 1 AS {f}" for f in FEATURES)
cur.execute(f"""
    DROP TABLE IF EXISTS bench_explain;
    CREATE TABLE bench_explain AS
    SELECT id, {', '.join(FEATURES)},
           (f1 + f2 * f3 - f4 + 0.5 * f5 * f6 + 0.3 * (random() - 0.5) > 0)::int AS y
      FROM (SELECT g::bigint AS id, {draws} FROM generate_series(1, {args.rows}) g) s""")
cur.execute("VACUUM ANALYZE bench_explain")
cur.execute("SELECT mlops.drop_project('bench_explain') FROM mlops.projects WHERE name = 'bench_explain'")
cur.execute("SELECT model_id FROM mlops.train('bench_explain', 'bench_explain', 'y', exclude => '{id}', "
            "hyperparams => '{\"n_estimators\": 100, \"max_depth\": 6}', test_size => 0.2)")
model_id = cur.fetchone()[0]
cur.execute("SELECT model FROM mlops.models WHERE id = %s", (model_id,))
booster = xgb.Booster()
booster.load_model(bytearray(cur.fetchone()[0]))
booster.set_param({"nthread": 1})
cur.execute(f"SELECT {', '.join(FEATURES)} FROM bench_explain ORDER BY id")
X = np.array(cur.fetchall(), dtype=np.float32)
dm = xgb.DMatrix(X, nthread=1)


def best(fn):
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


t_sql = best(lambda: cur.execute("SELECT count(*) FROM bench_explain b, mlops.explain('bench_explain', b)"))
t_global = best(lambda: cur.execute("SELECT count(*) FROM mlops.explain_global('bench_explain', 'bench_explain')"))
t_xgb = best(lambda: booster.predict(dm, pred_contribs=True))

# agreement on the first rows
n = min(2000, args.rows)
ref = booster.predict(xgb.DMatrix(X[:n]), pred_contribs=True)
margin = booster.predict(xgb.DMatrix(X[:n]), output_margin=True)
cur.execute("SELECT e.contribution FROM (SELECT * FROM bench_explain ORDER BY id LIMIT %s) b "
            "CROSS JOIN LATERAL mlops.explain('bench_explain', b) WITH ORDINALITY e ORDER BY b.id, e.ordinality", (n,))
got = np.array([r[0] for r in cur.fetchall()]).reshape(n, -1)
err = float((np.abs(got - ref) / np.maximum(1, np.abs(margin))[:, None]).max())

print(f"explain of {args.rows} rows x 20 features, 100 trees of depth 6, one thread, best of {args.repeat}\n")
print("| path | seconds | ratio to XGBoost |")
print("|---|---|---|")
print(f"| XGBoost Booster.predict(pred_contribs=True), nthread 1 | {t_xgb:.2f} | 1.00 |")
print(f"| SELECT count(*) FROM t, mlops.explain('p', t) | {t_sql:.2f} | {t_sql / t_xgb:.2f} |")
print(f"| mlops.explain_global('p', 't') | {t_global:.2f} | {t_global / t_xgb:.2f} |")
print(f"\nworst difference on {n} rows: {err:.2g} of the margin; target ratio <= 1.5: "
      f"{'met' if t_sql / t_xgb <= 1.5 else 'NOT met'}")
