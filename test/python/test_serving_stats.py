#!/usr/bin/python3
"""Check mlops.serving_stats against its histogram, with NumPy as reference.

The latency percentiles of mlops.serving_stats are read from a fixed
log-scale histogram (mlops.serving_latency_histogram): the q-quantile is
the upper bound of the bucket holding the ceil(q * calls)-th smallest
latency, clamped to max_us.  That is NumPy's "inverted_cdf" percentile of
the bucket upper bounds, each repeated by its count, so:

  p50_us, p95_us, p99_us   numpy.percentile(bounds, q, method="inverted_cdf"),
                           clamped to max_us, within 1e-12 (rel)
  calls                    the sum of the histogram's counts
  mean_us                  between the means of the buckets' lower and upper
                           bounds (the true latencies lie in their buckets)
  max_us                   inside the highest non-empty bucket
  mean_us                  below the mean round trip the client measured
  errors                   the calls that failed after the model was known

Run with the system Python (NumPy, psycopg2) against a server that
preloads mlops; the connection comes from the PG* environment variables:

  /usr/bin/python3 test/python/test_serving_stats.py
"""

import time

import numpy as np

import tap

BUCKET_RATIO = 2 ** 0.25
SINGLE_CALLS = 300
BAD_CALLS = 5


def main():
    tap.plan(7)
    conn = tap.connect()
    cur = conn.cursor()
    tap.load_csv(conn, "py_srv_iris", tap.datasets_dir() / "iris.csv", "species")
    cur.execute("SET client_min_messages = warning")
    cur.execute("SELECT mlops.drop_project('py_srv') FROM mlops.projects WHERE name = 'py_srv'")
    cur.execute(
        "SELECT model_id FROM mlops.train('py_srv', 'py_srv_iris', 'species', exclude => '{id}', "
        "hyperparams => '{\"n_estimators\": 30}')"
    )
    model_id = cur.fetchone()[0]
    cur.execute("SELECT mlops.serving_stats_reset()")

    # many calls in a few statements, then single calls timed by the client
    cur.execute("SELECT count(mlops.predict('py_srv', t)) FROM py_srv_iris t, generate_series(1, 10)")
    cur.execute("SELECT count(mlops.predict_proba('py_srv', to_jsonb(t))) FROM py_srv_iris t")
    round_trips = []
    for i in range(SINGLE_CALLS):
        start = time.perf_counter()
        cur.execute("SELECT mlops.predict('py_srv', t) FROM py_srv_iris t WHERE id = %s", (i % 150 + 1,))
        cur.fetchall()
        round_trips.append((time.perf_counter() - start) * 1e6)
    for _ in range(BAD_CALLS):
        try:
            cur.execute("SELECT mlops.predict('py_srv', '{\"sepal_length_cm\": 1}'::jsonb)")
        except Exception:  # noqa: BLE001 - the error is what is counted
            pass
    expected_calls = 1500 + 150 + SINGLE_CALLS

    cur.execute(
        "SELECT model_id, calls, errors, mean_us, p50_us, p95_us, p99_us, max_us "
        "FROM mlops.serving_stats WHERE project = 'py_srv'"
    )
    rows = cur.fetchall()
    tap.ok(len(rows) == 1 and rows[0][0] == model_id, "one serving_stats row for the deployed model", repr(rows))
    _, calls, errors, mean_us, p50, p95, p99, max_us = rows[0]
    tap.ok(
        calls == expected_calls and errors == BAD_CALLS,
        "calls and errors are counted",
        f"calls {calls} (expected {expected_calls}), errors {errors} (expected {BAD_CALLS})",
    )

    cur.execute(
        "SELECT le_us, calls FROM mlops.serving_latency_histogram WHERE project = 'py_srv' ORDER BY le_us"
    )
    hist = cur.fetchall()
    bounds = np.array([h[0] for h in hist])
    counts = np.array([h[1] for h in hist])
    tap.ok(counts.sum() == calls, "the histogram holds every call", f"{counts.sum()} vs {calls}")

    values = np.repeat(bounds, counts)
    expected = [min(float(np.percentile(values, q, method="inverted_cdf")), max_us) for q in (50, 95, 99)]
    tap.is_close([p50, p95, p99], expected, rel=1e-12, abs=0, name="p50, p95, p99 equal NumPy's inverted-CDF percentiles of the histogram")

    lower = np.where(bounds <= bounds.min(), 0.0, bounds / BUCKET_RATIO)
    low_mean = float((lower * counts).sum() / counts.sum())
    high_mean = float((bounds * counts).sum() / counts.sum())
    tap.ok(
        low_mean <= mean_us <= high_mean,
        "mean_us lies between the means of the buckets' bounds",
        f"{low_mean} <= {mean_us} <= {high_mean}",
    )
    top = bounds.max()
    tap.ok(top / BUCKET_RATIO * (1 - 1e-12) <= max_us < top, "max_us lies in the highest non-empty bucket", f"{max_us} in [{top / BUCKET_RATIO}, {top})")
    tap.ok(
        mean_us < float(np.mean(round_trips)),
        "the server-side mean is below the client's mean round trip",
        f"mean_us {mean_us}, round trip {np.mean(round_trips)} us",
    )
    cur.execute("SELECT mlops.drop_project('py_srv')")
    cur.execute("DROP TABLE py_srv_iris")


if __name__ == "__main__":
    main()
