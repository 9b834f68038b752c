"""The mlops benchmark suite; test/bench/run.sh runs it on a throwaway cluster.

Every comparison runs side by side in one run, REPS times (default 3,
interleaved), and the table shows medians:

  1. batch scoring of 1,000,000 rows x 20 float features with a 100-tree
     depth-6 binary XGBoost model: CREATE TABLE AS SELECT id, mlops.predict()
     against the Python path (COPY out, xgboost inplace_predict, COPY back)
     and against libxgboost's own batch predict on the in-memory float32
     matrix (the inplace_predict call alone, timed inside the Python path);
  2. single-row serving: pgbench -M prepared on SELECT mlops.predict('p',
     $1::float8[]) with 1, 2 and 8 clients against the same query without
     predict (SELECT ($1::float8[])[1]: the same array input, one float8
     out) and against a Python HTTP service (ThreadingHTTPServer +
     xgboost) driven by wrk at the same concurrency, with the default idle
     states and with /dev/cpu_dma_latency held at 0 (tuned's
     latency-performance setting); the load of a model by the first predict
     of a connection;
  3. training that model: mlops.train against libxgboost on the in-memory
     matrix (DMatrix + xgboost.train, timed inside the Python path) plus one
     sequential scan of the table, and against the Python path end to end;
  4. linear and logistic training against the Python path (scikit-learn
     StandardScaler + LinearRegression / LogisticRegression).

The Python path moves data with binary COPY parsed by NumPy, the fastest
way we know; batch scoring and XGBoost training (one thread) also run it
with CSV COPY and numpy.loadtxt/savetxt, the way scripts commonly do it.

"Equal threads": mlops.threads = 1 and no parallel query in the database,
nthread = 1 and OMP/OpenBLAS at one thread in Python.  Batch scoring and
XGBoost training are also run with 2 threads (mlops.threads = 2, one
parallel worker; nthread = 2).  Peak memory is the backend's private
resident memory (RssAnon, sampled every 10 ms; VmHWM would also count the
shared buffers it read) and the maximum resident set of the Python process.

Environment: PG* (the cluster), MLOPS_PGBIN (pgbench), MLOPS_BENCH_REPS,
MLOPS_BENCH_ROWS, MLOPS_BENCH_SECONDS (per pgbench/wrk run).  Progress goes
to stderr, the markdown table to stdout.
"""
import contextlib
import json
import os
import platform
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psycopg2

HERE = Path(__file__).resolve().parent
PY = "/usr/bin/python3"
REPS = int(os.environ.get("MLOPS_BENCH_REPS", "3"))
ROWS = int(os.environ.get("MLOPS_BENCH_ROWS", "1000000"))
SECONDS = int(os.environ.get("MLOPS_BENCH_SECONDS", "5"))
SIZE = f"{ROWS // 1000000}M" if ROWS % 1000000 == 0 else f"{ROWS:,}"
PGBENCH = str(Path(os.environ.get("MLOPS_PGBIN", "/usr/lib/postgresql/15/bin")) / "pgbench")
FEATURES = [f"f{i}" for i in range(1, 21)]
ROW = [round(((7 * j) % 20) / 10 - 0.95, 2) for j in range(20)]
XGB_HP = '{"n_estimators": 100, "max_depth": 6}'
CLIENTS = (1, 2, 8)
# a second process scans and predicts with 2 threads (the planner would not choose it for 1M cheap rows)
PARALLEL = {1: ["SET max_parallel_workers_per_gather = 0"],
            2: ["SET max_parallel_workers_per_gather = 1", "SET parallel_setup_cost = 0",
                "SET parallel_tuple_cost = 0"]}

results = []


def log(message):
    """Progress on stderr."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def connect():
    """A new autocommit connection (a new backend)."""
    conn = psycopg2.connect("")
    conn.autocommit = True
    return conn


def proc_mb(pid, field):
    """A memory figure of /proc/PID/status (VmHWM, RssAnon), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(field + r":\s+(\d+) kB", status).group(1)) / 1024


class PrivatePeak:
    """Samples a process's private resident memory (RssAnon) every 10 ms.

    A backend's VmHWM also counts the shared buffers it touched (the whole
    206 MB table for a scan), so the private peak is the figure comparable
    with a Python process's maximum resident set.
    """

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        """Sample until stopped."""
        while True:
            self.peak = max(self.peak, proc_mb(self.pid, "RssAnon"))
            if self.stop.wait(0.01):
                return

    def done(self):
        """Stop sampling; the peak in MB."""
        self.stop.set()
        self.thread.join()
        return self.peak


def threads_env(threads):
    """Environment of a Python process limited to that many threads."""
    return dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))


def timed_sql(sql, args=None, settings=()):
    """Run a statement on a new backend: (seconds, backend private peak MB, rows)."""
    conn = connect()
    cur = conn.cursor()
    for setting in settings:
        cur.execute(setting)
    cur.execute("SELECT pg_backend_pid()")
    sampler = PrivatePeak(cur.fetchone()[0])
    start = time.perf_counter()
    cur.execute(sql, args)
    elapsed = time.perf_counter() - start
    peak = sampler.done()
    rows = cur.fetchall() if cur.description else None
    conn.close()
    return elapsed, peak, rows


def python_path(*args, threads=1, csv=False):
    """pypath.py under /usr/bin/time -v (with --csv: text COPY and NumPy's text I/O): (timings, peak MB)."""
    res = subprocess.run(["/usr/bin/time", "-v", PY, str(HERE / "pypath.py"), *(["--csv"] if csv else []),
                          args[0], str(threads), *args[1:]],
                         env=threads_env(threads), capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"pypath.py {' '.join(args)} failed:\n{res.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1))
    return json.loads(res.stdout.strip().splitlines()[-1]), rss / 1024


def med(values):
    """Median."""
    return statistics.median(values)


def row(comparison, mlops, reference, ratio, target="", met=None):
    """One line of the result table."""
    results.append((comparison, mlops, reference, ratio, target,
                    "" if met is None else ("yes" if met else "**no**")))


def make_data(cur):
    """The bench table: ROWS rows, 20 uniform features, a binary label y and a numeric target."""
    log(f"data: {ROWS} rows x 20 features")
    draws = ", ".join(f"random() * 2 - 1 AS f{i}" for i in range(1, 21))
    cur.execute("SELECT setseed(0.42)")
    cur.execute(f"""
        DROP TABLE IF EXISTS bench;
        CREATE TABLE bench AS
        SELECT id, {', '.join(FEATURES)},
               (f1 + f2 * f3 - f4 + 0.5 * f5 * f6 + 0.3 * (random() - 0.5) > 0)::int AS y,
               3 * f1 - 2 * f2 + f3 * f4 + random() - 0.5 AS target
          FROM (SELECT g::bigint AS id, {draws} FROM generate_series(1, {ROWS}) g) s""")
    cur.execute("VACUUM ANALYZE bench")
    cur.execute("CREATE VIEW bench_small AS SELECT * FROM bench WHERE id <= 50000")


def train_sql(project, relation, target, algorithm, exclude, hp="{}"):
    """The mlops.train call of a benchmark model (all rows, deployed)."""
    return ("SELECT model_id, metrics->>'fit_seconds' FROM mlops.train("
            f"'{project}', '{relation}', '{target}', algorithm => '{algorithm}', hyperparams => '{hp}', "
            f"exclude => '{exclude}', test_size => 0, deploy => 'always')")


def bench_xgb_training():
    """XGBoost training: mlops vs libxgboost in memory + a scan vs the Python path.

    Returns the id of the first model trained with one thread, deployed for
    the scoring comparisons.
    """
    log("training: XGBoost, 100 trees of depth 6")
    scan = "SELECT sum(" + " + ".join(FEATURES) + " + y) FROM bench"
    timed_sql(scan)
    res = {t: {"mlops": [], "fit": [], "hwm": [], "py": [], "py_csv": [], "floor": [], "rss": []} for t in (1, 2)}
    scans = []
    model_id = None
    for rep in range(REPS):
        scans.append(timed_sql(scan)[0])
        for threads in (1, 2):
            r = res[threads]
            elapsed, peak, rows = timed_sql(train_sql("bench_xgb", "bench", "y", "xgboost", "{id,target}", XGB_HP),
                                            settings=[f"SET mlops.threads = {threads}"])
            if threads == 1 and model_id is None:
                model_id = rows[0][0]
            r["mlops"].append(elapsed)
            r["fit"].append(float(rows[0][1]))
            r["hwm"].append(peak)
            py, rss = python_path("train-xgb", threads=threads)
            r["py"].append(py["total"])
            r["floor"].append(py["matrix"] + py["train"])
            r["rss"].append(rss)
            if threads == 1:
                r["py_csv"].append(python_path("train-xgb", threads=threads, csv=True)[0]["total"])
            log(f"  rep {rep + 1}, {threads} thread(s): mlops {elapsed:.2f} s (fit {float(rows[0][1]):.2f} s), "
                f"Python path {py['total']:.2f} s, libxgboost in memory {py['matrix'] + py['train']:.2f} s"
                + (f", Python path with CSV {r['py_csv'][-1]:.2f} s" if threads == 1 else ""))
    connect().cursor().execute("SELECT mlops.deploy('bench_xgb', 'specific', %s)", (model_id,))
    for threads in (1, 2):
        r = res[threads]
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        floor = med(r["floor"]) + med(scans)
        ratio = med(r["mlops"]) / floor
        row(f"XGBoost training, {SIZE} x 20, 100 trees depth 6 ({label}): mlops.train vs libxgboost "
            "in memory (DMatrix + train) + one sequential scan",
            f"{med(r['mlops']):.2f} s (libxgboost fit {med(r['fit']):.2f} s)",
            f"{med(r['floor']):.2f} s + {med(scans):.2f} s", f"{ratio:.2f}x",
            "<= 1.15x" if threads == 1 else "", ratio <= 1.15 if threads == 1 else None)
        ratio = med(r["py"]) / med(r["mlops"])
        row(f"XGBoost training ({label}): Python path (COPY out + xgboost.train) vs mlops.train",
            f"{med(r['mlops']):.2f} s", f"{med(r['py']):.2f} s", f"{ratio:.2f}x faster",
            ">= 2x" if threads == 1 else "", ratio >= 2 if threads == 1 else None)
        if threads == 1:
            ratio = med(r["py_csv"]) / med(r["mlops"])
            row(f"XGBoost training ({label}): Python path with CSV COPY + numpy.loadtxt (COPY out + xgboost.train) "
                "vs mlops.train", f"{med(r['mlops']):.2f} s", f"{med(r['py_csv']):.2f} s", f"{ratio:.2f}x faster",
                ">= 2x", ratio >= 2)
        row(f"XGBoost training ({label}): peak memory", f"{med(r['hwm']):.0f} MB (backend, private)",
            f"{med(r['rss']):.0f} MB (Python max RSS)", "", "", None)
    return model_id


def bench_batch(model_id):
    """Batch scoring: CTAS with mlops.predict vs the Python path vs libxgboost's batch predict."""
    log(f"batch scoring: {SIZE} rows")
    ctas = "CREATE TABLE bench_scored AS SELECT id, mlops.predict('bench_xgb', b) AS p FROM bench b"
    res = {t: {"mlops": [], "hwm": [], "py": [], "py_csv": [], "floor": [], "rss": []} for t in (1, 2)}
    admin = connect().cursor()
    for rep in range(REPS):
        for threads in (1, 2):
            r = res[threads]
            admin.execute("DROP TABLE IF EXISTS bench_scored")
            elapsed, peak, _ = timed_sql(ctas, settings=PARALLEL[threads])
            r["mlops"].append(elapsed)
            r["hwm"].append(peak)
            py, rss = python_path("score", str(model_id), threads=threads)
            r["py"].append(py["total"])
            r["floor"].append(py["predict"])
            r["rss"].append(rss)
            log(f"  rep {rep + 1}, {threads} thread(s): mlops {elapsed:.2f} s, Python path {py['total']:.2f} s "
                f"(export {py['export']:.2f}, predict {py['predict']:.2f}, import {py['import']:.2f})")
            if threads == 1:
                py, _ = python_path("score", str(model_id), threads=threads, csv=True)
                r["py_csv"].append(py["total"])
                log(f"  rep {rep + 1}, 1 thread: Python path with CSV {py['total']:.2f} s "
                    f"(export {py['export']:.2f}, predict {py['predict']:.2f}, import {py['import']:.2f})")
    admin.execute("SELECT count(*), count(*) FILTER (WHERE s.p IS DISTINCT FROM q.p) "
                  "FROM bench_scored s FULL JOIN bench_scored_py q USING (id)")
    total, differ = admin.fetchone()
    for threads in (1, 2):
        r = res[threads]
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        ratio = med(r["py"]) / med(r["mlops"])
        row(f"Batch scoring, {SIZE} rows ({label}): Python path (COPY out, inplace_predict, COPY back) vs "
            "CREATE TABLE AS SELECT id, mlops.predict()", f"{med(r['mlops']):.2f} s", f"{med(r['py']):.2f} s",
            f"{ratio:.1f}x faster", ">= 10x" if threads == 1 else "", ratio >= 10 if threads == 1 else None)
        if threads == 1:
            ratio = med(r["py_csv"]) / med(r["mlops"])
            row(f"Batch scoring ({label}): Python path with CSV COPY, numpy.loadtxt and savetxt vs CREATE TABLE AS "
                "SELECT id, mlops.predict()", f"{med(r['mlops']):.2f} s", f"{med(r['py_csv']):.2f} s",
                f"{ratio:.1f}x faster", ">= 10x", ratio >= 10)
        ratio = med(r["mlops"]) / med(r["floor"])
        row(f"Batch scoring ({label}): mlops vs libxgboost's batch predict on the in-memory matrix "
            "(inplace_predict alone)", f"{med(r['mlops']):.2f} s", f"{med(r['floor']):.2f} s", f"{ratio:.2f}x",
            "<= 1.5x" if threads == 1 else "", ratio <= 1.5 if threads == 1 else None)
        row(f"Batch scoring ({label}): peak memory", f"{med(r['hwm']):.0f} MB (backend, private)",
            f"{med(r['rss']):.0f} MB (Python max RSS)", "", "", None)
    row("Batch scoring: predictions that differ between mlops and the Python path",
        f"{differ} of {total}", "", "", "0", differ == 0)


def first_call_ms(model_id, warm_id):
    """The load cost of a model: its first predict on a connection minus its second, in ms."""
    conn = connect()
    cur = conn.cursor()
    args = (model_id, "{" + ",".join(map(str, ROW)) + "}")
    cur.execute("SELECT mlops.predict(%s::bigint, %s::float8[])", (warm_id, args[1]))
    times = []
    for _ in range(2):
        start = time.perf_counter()
        cur.execute("SELECT mlops.predict(%s::bigint, %s::float8[])", args)
        times.append(time.perf_counter() - start)
    conn.close()
    return (times[0] - times[1]) * 1000


def bench_load(model_id):
    """Model load by the first predict of a connection: the 100-tree model and a 500-tree one."""
    log("model load: 100 and 500 trees")
    cur = connect().cursor()
    cur.execute(train_sql("bench_tiny", "bench_small", "y", "xgboost", "{id,target}",
                          '{"n_estimators": 1, "max_depth": 1}'))
    tiny = cur.fetchone()[0]
    cur.execute(train_sql("bench_xgb500", "bench_small", "y", "xgboost", "{id,target}",
                          '{"n_estimators": 500, "max_depth": 6}'))
    big = cur.fetchone()[0]
    for mid, what in ((model_id, "100 trees depth 6"), (big, "500 trees depth 6 (trained on 50,000 rows)")):
        cur.execute("SELECT length(model) FROM mlops.models WHERE id = %s", (mid,))
        size = cur.fetchone()[0]
        ms = med([first_call_ms(mid, tiny) for _ in range(REPS)])
        row(f"Model load by the first predict of a connection, {what}, {size / 1e6:.2f} MB UBJSON",
            f"{ms:.1f} ms", "", "", "", None)


def pgbench_tps(sql, clients, user=None):
    """Transactions per second of one prepared statement (:x is the feature array), as user if given."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(sql + "\n")
        script.flush()
        os.chmod(script.name, 0o644)
        res = subprocess.run([PGBENCH, "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
                              "-T", str(SECONDS), "-f", script.name, "-D", "x={" + ",".join(map(str, ROW)) + "}"]
                             + (["-U", user] if user else []),
                             capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"pgbench failed:\n{res.stdout}\n{res.stderr}")
    return float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", res.stdout).group(1))


def wrk_rps(port, clients):
    """Requests per second of the Python service."""
    res = subprocess.run(["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{SECONDS}s",
                          "-s", str(HERE / "post.lua"), f"http://127.0.0.1:{port}/predict"],
                         env=dict(os.environ, BENCH_ROW=",".join(map(str, ROW))), capture_output=True, text=True)
    if res.returncode != 0 or "Non-2xx" in res.stdout or "Socket errors" in res.stdout:
        sys.exit(f"wrk failed:\n{res.stdout}\n{res.stderr}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", res.stdout).group(1))


class LowLatencyIdle:
    """Hold /dev/cpu_dma_latency at 0 while active, as tuned's latency-performance profile does.

    An idle CPU then polls instead of halting, so a process woken by another
    one (a client's query reaching its backend) starts without the virtual
    machine's wake-up delay.  It applies to everything that runs meanwhile,
    mlops and the Python service alike.
    """

    def __enter__(self):
        self.fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
        os.write(self.fd, struct.pack("i", 0))
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def low_latency_available():
    """True when this process may hold /dev/cpu_dma_latency (root, and the device exists)."""
    return os.access("/dev/cpu_dma_latency", os.W_OK)


def bench_serving(model_id):
    """Single-row serving: pgbench with and without predict, and the Python HTTP service.

    Every measurement runs twice: with the machine's default idle states and
    with the low-latency idle policy (LowLatencyIdle), which matters for one
    client, where each query waits for a sleeping process to wake up.
    """
    log("single-row serving")
    idles = ["default"] + (["low-latency"] if low_latency_available() else [])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    service = subprocess.Popen([PY, str(HERE / "serve.py"), str(port), str(model_id)],
                               env=threads_env(1), stdout=subprocess.PIPE, text=True)
    try:
        if service.stdout.readline().strip() != "ready":
            sys.exit("the Python service did not start")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/predict",
                                         data=json.dumps({"features": ROW}).encode(), method="POST")
        answer = json.loads(urllib.request.urlopen(request).read())
        cur = connect().cursor()
        cur.execute("SELECT mlops.predict('bench_xgb', %s::float8[])", ("{" + ",".join(map(str, ROW)) + "}",))
        if cur.fetchone()[0] != answer["prediction"]:
            sys.exit("the Python service and mlops disagree")
        # a role holding only the predict privilege takes the privilege check a superuser skips
        cur.execute("DROP ROLE IF EXISTS bench_scorer; CREATE ROLE bench_scorer LOGIN")
        cur.execute("SELECT mlops.grant('bench_xgb', 'bench_scorer', 'predict')")
        tps = {(kind, idle, c): [] for kind in ("trivial", "predict", "predict_role", "python")
               for idle in idles for c in CLIENTS}
        for rep in range(REPS):
            for idle in idles:
                with (LowLatencyIdle() if idle == "low-latency" else contextlib.nullcontext()):
                    for c in CLIENTS:
                        tps[("trivial", idle, c)].append(pgbench_tps("SELECT (:x::float8[])[1];", c))
                        tps[("predict", idle, c)].append(
                            pgbench_tps("SELECT mlops.predict('bench_xgb', :x::float8[]);", c))
                        tps[("predict_role", idle, c)].append(
                            pgbench_tps("SELECT mlops.predict('bench_xgb', :x::float8[]);", c, "bench_scorer"))
                        tps[("python", idle, c)].append(wrk_rps(port, c))
                        log(f"  rep {rep + 1}, {idle} idle, {c} client(s): trivial "
                            f"{tps[('trivial', idle, c)][-1]:.0f}, predict {tps[('predict', idle, c)][-1]:.0f}, "
                            f"Python service {tps[('python', idle, c)][-1]:.0f} per s")
        service_mb = proc_mb(service.pid, "VmHWM")
    finally:
        service.terminate()
        service.wait()
    for idle in idles:
        for c in CLIENTS:
            trivial, predict, python = (med(tps[(k, idle, c)]) for k in ("trivial", "predict", "python"))
            added = trivial / predict - 1
            row(f"Single-row, {c} client{'s' if c > 1 else ''}, {idle} idle: latency mlops.predict adds to the "
                "same prepared query without it, SELECT ($1::float8[])[1] (pgbench -M prepared)",
                f"{predict:,.0f} tps", f"{trivial:,.0f} tps",
                f"{100 * added:+.0f}%", "<= +25%" if c == 2 else "", added <= 0.25 if c == 2 else None)
            role = med(tps[("predict_role", idle, c)])
            added = trivial / role - 1
            row(f"Single-row, {c} client{'s' if c > 1 else ''}, {idle} idle, as a role holding only the predict "
                "privilege: latency mlops.predict adds to the same query without it",
                f"{role:,.0f} tps", f"{trivial:,.0f} tps", f"{100 * added:+.0f}%", "<= +25%", added <= 0.25)
    for idle in idles:
        for c in CLIENTS:
            predict, python = (med(tps[(k, idle, c)]) for k in ("predict", "python"))
            row(f"Single-row, {c} client{'s' if c > 1 else ''}, {idle} idle: mlops.predict vs the Python HTTP "
                "service (wrk)", f"{predict:,.0f} tps", f"{python:,.0f} req/s", f"{predict / python:.1f}x",
                ">= 8x", predict / python >= 8)
    conn = connect()
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    cur.execute("PREPARE one(float8[]) AS SELECT mlops.predict('bench_xgb', $1)")
    for _ in range(2000):
        cur.execute("EXECUTE one(%s)", ("{" + ",".join(map(str, ROW)) + "}",))
    row("Single-row serving: memory", f"{proc_mb(pid, 'RssAnon'):.0f} MB (backend, private, after 2,000 predicts)",
        f"{service_mb:.0f} MB (Python service VmHWM)", "", "", None)
    conn.close()


def bench_linear():
    """linear and logistic training against scikit-learn."""
    for algorithm, target, exclude, mode in (("linear", "target", "{id,y}", "train-linear"),
                                             ("logistic", "y", "{id,target}", "train-logistic")):
        log(f"training: {algorithm}")
        mlops, hwm, py, rss = [], [], [], []
        for rep in range(REPS):
            elapsed, peak, _ = timed_sql(train_sql(f"bench_{algorithm}", "bench", target, algorithm, exclude))
            mlops.append(elapsed)
            hwm.append(peak)
            res, mb = python_path(mode)
            py.append(res["total"])
            rss.append(mb)
            log(f"  rep {rep + 1}: mlops {elapsed:.2f} s, Python path {res['total']:.2f} s "
                f"(export {res['export']:.2f}, fit {res['train']:.2f})")
        ratio = med(py) / med(mlops)
        sk = "LinearRegression" if algorithm == "linear" else "LogisticRegression (lbfgs)"
        row(f"{algorithm} training, {SIZE} x 20: Python path (COPY out + StandardScaler + {sk}) vs mlops.train",
            f"{med(mlops):.2f} s", f"{med(py):.2f} s", f"{ratio:.1f}x faster", ">= 2x", ratio >= 2)
        row(f"{algorithm} training: peak memory", f"{med(hwm):.0f} MB (backend, private)",
            f"{med(rss):.0f} MB (Python max RSS)", "", "", None)


def machine(cur):
    """One line describing the machine and the software versions."""
    cpu = re.search(r"Model name:\s+(.*)", subprocess.run(["lscpu"], capture_output=True, text=True).stdout)
    mem = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    cur.execute("SHOW server_version")
    version = cur.fetchone()[0]
    versions = subprocess.run([PY, "-c", "import numpy, sklearn, xgboost; "
                               "print(xgboost.__version__, sklearn.__version__, numpy.__version__)"],
                              capture_output=True, text=True).stdout.split()
    debian = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?"
    return (f"{cpu.group(1).strip() if cpu else platform.processor()}, {os.cpu_count()} cores, "
            f"{int(mem.group(1)) / 1024 / 1024:.0f} GB RAM, Debian {debian}, PostgreSQL {version}, "
            f"libxgboost/xgboost {versions[0]}, scikit-learn {versions[1]}, NumPy {versions[2]}, "
            f"Python {platform.python_version()}")


def main():
    """Run every comparison and print the table."""
    started = time.perf_counter()
    cur = connect().cursor()
    make_data(cur)
    model_id = bench_xgb_training()
    bench_batch(model_id)
    bench_load(model_id)
    bench_serving(model_id)
    bench_linear()
    print(f"Machine: {machine(cur)}. {REPS} repetitions, medians; {ROWS:,} rows; "
          f"suite ran in {(time.perf_counter() - started) / 60:.1f} min.\n")
    print("| Comparison | mlops | Reference | Ratio | Target | Met |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
