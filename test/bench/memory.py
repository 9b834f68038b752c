"""Training memory and the time outside the fit; test/bench/memory.sh runs it.

Measures, on the cluster of the PG* environment (mlops installed):

  xgb-1m    XGBoost on 1M x 20 (the bench table of bench.py, 100 trees depth
            6, one thread): the backend's private peak against the Python
            path's maximum resident set (pypath.py train-xgb: binary COPY +
            NumPy + DMatrix + xgboost.train), and mlops.train's time against
            libxgboost's in-memory fit (DMatrix + train, timed inside the
            Python path) plus one sequential scan of the table.
            Targets: peak <= 0.5 x Python; time <= 1.15 x (fit + scan).
  big       a table of MLOPS_BENCH_BIG_ROWS (20,000,000) rows x 20 float8
            columns and a float8 target, built once (bench_big): XGBoost
            (MLOPS_BENCH_BIG_TREES trees, 20, depth 6: the peak does not grow
            with the trees) under 4 GB, and linear under 100 MB, of backend
            private memory (MLOPS_BENCH_BIG_ALGORITHMS: linear,xgboost).
  linear-big  the same table, linear only (it trains from blocks of rows:
            src/train/train_stream.c).
  wide      the fingerprint workload: WIDE_ROWS (20,000) rows of a real[]
            of 2048, 1000 and 200 0/1 elements, XGBoost 100 trees depth 6 on
            one thread: the CPU time outside the fit against the fit's.
            Target: <= 20 %.  The training runs as a job (mlops.train_async)
            whose phases mlops.job_progress_info() shows: polled every 2 ms,
            the worker's CPU time (/proc/PID/schedstat, time on a CPU, which
            waiting for one under load does not add to) is read at each
            phase change; the fit is the "fitting" phase (what the metrics'
            fit_seconds times), the call from "reading" to the last poll
            (the job's start-up and commit are not counted).  The wall-clock
            ratio (the call minus fit_seconds) is logged too.  A scan of
            the table (arrays detoasted) comes first, so that the rows are
            read from shared buffers.

Private memory is the backend's RssAnon (anonymous resident pages: its
heap, libxgboost's, not the shared buffers it reads), sampled every 10 ms;
VmHWM would count the shared buffers too.  Timings depend on the load of
the machine; memory figures do not.  mlops.max_train_memory is raised for
the run (superuser).

    /usr/bin/python3 memory.py [xgb-1m] [big] [linear-big] [wide]     (default: xgb-1m big wide)

Progress goes to stderr, a markdown table to stdout.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2

from bench import PrivatePeak, connect, log, proc_mb

HERE = Path(__file__).resolve().parent
PY = "/usr/bin/python3"
ROWS = 1000000
BIG_ROWS = int(os.environ.get("MLOPS_BENCH_BIG_ROWS", "20000000"))
BIG_TREES = int(os.environ.get("MLOPS_BENCH_BIG_TREES", "20"))
BIG_ALGORITHMS = os.environ.get("MLOPS_BENCH_BIG_ALGORITHMS", "linear,xgboost").split(",")
WIDE_ROWS = int(os.environ.get("MLOPS_BENCH_WIDE_ROWS", "20000"))
FEATURES = [f"f{i}" for i in range(1, 21)]
# max_train_memory is raised for the in-memory paths; linear and ridge then
# stream only when told to (with the default limit, 1GB, the 20M-row table's
# 3.8 GB heap streams under mlops.stream_training = auto)
SETTINGS = ["SET mlops.max_train_memory = '64GB'", "SET mlops.threads = 1",
            "SET max_parallel_workers_per_gather = 0", "SET mlops.stream_training = always"]
results = []


def timed_sql(sql):
    """Run a statement on a new backend: (seconds, private peak MB, idle private MB, rows)."""
    conn = connect()
    cur = conn.cursor()
    for setting in SETTINGS:
        cur.execute(setting)
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    idle = proc_mb(pid, "RssAnon")
    sampler = PrivatePeak(pid)
    start = time.perf_counter()
    cur.execute(sql)
    elapsed = time.perf_counter() - start
    peak = sampler.done()
    rows = cur.fetchall() if cur.description else None
    conn.close()
    return elapsed, peak, idle, rows


def train_sql(project, relation, target, algorithm, hp, exclude="{}", test_size=0.25):
    """An mlops.train call returning the fit seconds."""
    return ("SELECT (metrics->>'fit_seconds')::float8 FROM mlops.train("
            f"'{project}', '{relation}', '{target}', algorithm => '{algorithm}', hyperparams => '{hp}', "
            f"exclude => '{exclude}', test_size => {test_size}, deploy => 'never')")


def row(what, mlops, reference, ratio, target, met):
    """One line of the result table."""
    results.append((what, mlops, reference, ratio, target, "yes" if met else "**no**"))


def table_rows(cur, name):
    """The row count of a table, or -1 when it does not exist."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
    if not cur.fetchone()[0]:
        return -1
    cur.execute(f"SELECT count(*) FROM {name}")
    return cur.fetchone()[0]


def bench_xgb_1m():
    """XGBoost on 1M x 20: private peak vs the Python path, time vs libxgboost + a scan."""
    cur = connect().cursor()
    if table_rows(cur, "bench") != ROWS:
        log(f"data: bench, {ROWS} rows x 20 features (as bench.py)")
        draws = ", ".join(f"random() * 2 - 1 AS f{i}" for i in range(1, 21))
        cur.execute("SELECT setseed(0.42)")
        cur.execute(f"""
            DROP TABLE IF EXISTS bench CASCADE;
            CREATE TABLE bench AS
            SELECT id, {', '.join(FEATURES)},
                   (f1 + f2 * f3 - f4 + 0.5 * f5 * f6 + 0.3 * (random() - 0.5) > 0)::int AS y,
                   3 * f1 - 2 * f2 + f3 * f4 + random() - 0.5 AS target
              FROM (SELECT g::bigint AS id, {draws} FROM generate_series(1, {ROWS}) g) s""")
        cur.execute("VACUUM ANALYZE bench")
    log("xgb-1m: mlops.train (100 trees depth 6, one thread, test_size 0)")
    scan = timed_sql("SELECT sum(" + " + ".join(FEATURES) + " + y) FROM bench")[0]
    scan = timed_sql("SELECT sum(" + " + ".join(FEATURES) + " + y) FROM bench")[0]
    elapsed, peak, idle, rows = timed_sql(train_sql("mem_xgb", "bench", "y", "xgboost",
                                                    '{"n_estimators": 100, "max_depth": 6}', "{id,target}", 0))
    log(f"  mlops {elapsed:.2f} s (fit {rows[0][0]:.2f} s), private peak {peak:.0f} MB (idle {idle:.0f} MB)")
    res = subprocess.run(["/usr/bin/time", "-v", PY, str(HERE / "pypath.py"), "train-xgb", "1"],
                         env=dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1"),
                         capture_output=True, text=True, check=True)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1)) / 1024
    py = json.loads(res.stdout.strip().splitlines()[-1])
    floor = py["matrix"] + py["train"]
    log(f"  Python path {py['total']:.2f} s, max RSS {rss:.0f} MB; libxgboost in memory {floor:.2f} s, scan {scan:.2f} s")
    row("XGBoost 1M x 20, 100 trees depth 6: backend private peak vs the Python path's max RSS",
        f"{peak:.0f} MB", f"{rss:.0f} MB", f"{peak / rss:.2f}x", "<= 0.5x", peak <= 0.5 * rss)
    ratio = elapsed / (floor + scan)
    row("XGBoost 1M x 20: mlops.train vs libxgboost in memory (DMatrix + train) + one scan",
        f"{elapsed:.2f} s", f"{floor:.2f} s + {scan:.2f} s", f"{ratio:.2f}x", "<= 1.15x", ratio <= 1.15)


def bench_big(algorithms=None):
    """20M x 20 float8: XGBoost under 4 GB and linear under 100 MB of private memory."""
    algorithms = algorithms or BIG_ALGORITHMS
    cur = connect().cursor()
    if table_rows(cur, "bench_big") != BIG_ROWS:
        log(f"data: bench_big, {BIG_ROWS} rows x 20 float8 (once; takes a while)")
        draws = ", ".join(f"random() AS f{i}" for i in range(1, 21))
        cur.execute("SELECT setseed(0.42)")
        cur.execute(f"""
            DROP TABLE IF EXISTS bench_big;
            CREATE TABLE bench_big AS
            SELECT {', '.join(FEATURES)}, f1 + 2 * f2 - f3 + f4 * f5 + 0.1 * random() AS y
              FROM (SELECT {draws} FROM generate_series(1, {BIG_ROWS})) s""")
        cur.execute("VACUUM ANALYZE bench_big")
    cur.execute("SELECT pg_size_pretty(pg_total_relation_size('bench_big'))")
    size = cur.fetchone()[0]
    for algorithm, hp, limit in (("linear", "{}", 100), ("xgboost", f'{{"n_estimators": {BIG_TREES}, "max_depth": 6}}', 4096)):
        if algorithm not in algorithms:
            continue
        log(f"big: {algorithm} on {BIG_ROWS} rows ({size})")
        elapsed, peak, idle, rows = timed_sql(train_sql(f"mem_big_{algorithm}", "bench_big", "y", algorithm, hp))
        log(f"  {elapsed:.1f} s (fit {rows[0][0]:.1f} s), private peak {peak:.0f} MB (idle {idle:.0f} MB)")
        row(f"{algorithm} on {BIG_ROWS:,} x 20 float8 ({size}): backend private peak",
            f"{peak:.0f} MB", "", "", f"< {limit} MB", peak < limit)


def job_cpu(sql):
    """Run a train_async call; CPU seconds of the job's worker per phase, and the model's fit_seconds."""
    conn = connect()
    conn.autocommit = True
    cur = conn.cursor()
    # the job's worker takes the role's settings, not this session's
    cur.execute("ALTER ROLE CURRENT_USER SET mlops.max_train_memory = '64GB'")
    cur.execute(sql)
    job = cur.fetchone()[0]
    seen = {}
    last = None
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        cur.execute("SELECT pid, phase FROM mlops.job_progress_info() WHERE job_id = %s", (job,))
        row = cur.fetchone()
        if row is None and seen:
            break
        if row is not None and row[0]:
            try:
                with open(f"/proc/{row[0]}/schedstat") as f:
                    cpu = int(f.read().split()[0]) / 1e9
            except OSError:
                continue
            seen.setdefault(row[1], cpu)
            last = cpu
        time.sleep(0.002)
    cur.execute("SELECT status, error, (result->'metrics'->>'fit_seconds')::float8, "
                "extract(epoch FROM finished_at - started_at) FROM mlops.jobs WHERE id = %s", (job,))
    status, error, fit_wall, job_wall = cur.fetchone()
    cur.execute("ALTER ROLE CURRENT_USER RESET mlops.max_train_memory")
    conn.close()
    if status != "succeeded":
        raise RuntimeError(f"job {job} {status}: {error}")
    fit = seen["evaluating"] - seen["fitting"]
    total = last - seen["reading"]
    return total, fit, job_wall, fit_wall


def bench_wide():
    """The fingerprint workload: CPU time outside the fit <= 20 % of the fit's."""
    cur = connect().cursor()
    for width in (2048, 1000, 200):
        name = f"bench_fp{width}"
        if table_rows(cur, name) != WIDE_ROWS:
            log(f"data: {name}, {WIDE_ROWS} rows x real[{width}] of 0/1")
            cur.execute("SELECT setseed(0.5)")
            cur.execute(f"""
                DROP TABLE IF EXISTS {name};
                CREATE TABLE {name} AS
                SELECT i AS id, fp, ((fp[1] + fp[7] + fp[100] + fp[150] + fp[{width}]) >= 2 OR random() < 0.1) AS active
                  FROM (SELECT i, ARRAY(SELECT (random() < 0.12)::int::real
                                          FROM generate_series(1, {width}) WHERE i > 0) AS fp
                          FROM generate_series(1, {WIDE_ROWS}) i) s""")
            cur.connection.commit()
        log(f"wide: XGBoost on {name}")
        # the rows and their TOAST in shared buffers, as for the other parts' scans
        cur.execute(f"SELECT sum(cardinality(fp)) FROM {name}")
        total, fit, job_wall, fit_wall = job_cpu(
            train_sql(f"mem_{name}", name, "active", "xgboost", '{"n_estimators": 100, "max_depth": 6}',
                      "{id}").replace("SELECT (metrics->>'fit_seconds')::float8 FROM mlops.train(",
                                      "SELECT mlops.train_async("))
        outside = total - fit
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        log(f"  CPU: call {total:.2f} s, fit {fit:.2f} s, outside {outside:.2f} s ({100 * outside / fit:.1f} %); "
            f"wall: job {job_wall:.2f} s, fit {fit_wall:.2f} s; load average {load}")
        row(f"fingerprints {WIDE_ROWS:,} x real[{width}], XGBoost 100 trees depth 6: CPU time outside the fit vs the fit",
            f"{outside:.2f} s", f"{fit:.2f} s", f"{100 * outside / fit:.0f} %", "<= 20 %", outside <= 0.2 * fit)


def main():
    """Run the chosen parts and print the table."""
    parts = sys.argv[1:] or ["xgb-1m", "big", "wide"]
    for part in parts:
        {"xgb-1m": bench_xgb_1m, "big": bench_big, "linear-big": lambda: bench_big(["linear"]),
         "wide": bench_wide}[part]()
    print("| measurement | mlops | reference | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print("| " + " | ".join(r) + " |")


main()
