#!/usr/bin/python3
"""Serving statistics stay exact under concurrent calls and resets.

Each backend counts in a slot of its own in shared memory, which readers
copy while it may be writing, and which is folded into a shared hash
when the backend exits or needs more entries than a slot holds; a reset
removes hash entries and voids slot entries other backends are counting
in (serving_stats.c).  Checks, with 4 sessions scoring single rows in
parallel:

  calls        exactly the number of calls made, after concurrent calls
               (the sessions have exited: their slots were folded)
  histogram    holds every call (its sum equals calls)
  reset        concurrent resets during calls break nothing, and the
               sessions count exactly again afterwards; a session whose
               entry another session reset counts from zero again
  many models  a session scoring more models than its slot holds (so it
               folds its slot while it runs) counts each exactly, before
               and after it exits

Run with the system Python (psycopg2) against a server that preloads
mlops; the connection comes from the PG* environment variables:

  /usr/bin/python3 test/python/test_serving_concurrency.py
"""

import threading
import time

import tap

SESSIONS = 4
CALLS = 300
# more models than a backend's slot holds (SERVING_SLOT_ENTRIES, 16)
MODELS = 20
ROUNDS = 3
ROW = "'{5.1,3.5,1.4,0.2}'::float8[]"


def score(n, errors):
    """n single-row predict statements on a session of its own."""
    try:
        conn = tap.connect()
        cur = conn.cursor()
        for _ in range(n):
            cur.execute(f"SELECT mlops.predict('py_conc', {ROW})")
            cur.fetchall()
        conn.close()
    except Exception as e:  # noqa: BLE001 - reported by the test
        errors.append(repr(e))


def resetting(stop, errors):
    """Reset the statistics until told to stop."""
    try:
        conn = tap.connect()
        cur = conn.cursor()
        while not stop.is_set():
            cur.execute("SELECT mlops.serving_stats_reset()")
        conn.close()
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))


def run(n, with_resets):
    """SESSIONS threads of n calls each, optionally beside a resetting one."""
    errors = []
    stop = threading.Event()
    threads = [threading.Thread(target=score, args=(n, errors)) for _ in range(SESSIONS)]
    resetter = threading.Thread(target=resetting, args=(stop, errors)) if with_resets else None
    if resetter:
        resetter.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    if resetter:
        resetter.join()
    return errors


def stats(cur):
    cur.execute(
        "SELECT calls, errors, (SELECT sum(calls) FROM mlops.serving_latency_histogram "
        "WHERE project = 'py_conc') FROM mlops.serving_stats WHERE project = 'py_conc'"
    )
    return cur.fetchone()


def main():
    tap.plan(6)
    conn = tap.connect()
    cur = conn.cursor()
    tap.load_csv(conn, "py_conc_iris", tap.datasets_dir() / "iris.csv", "species")
    cur.execute("SET client_min_messages = warning")
    cur.execute("SELECT mlops.drop_project('py_conc') FROM mlops.projects WHERE name = 'py_conc'")
    cur.execute(
        "SELECT model_id FROM mlops.train('py_conc', 'py_conc_iris', 'species', exclude => '{id}', "
        "hyperparams => '{\"n_estimators\": 10}')"
    )
    cur.execute("SELECT mlops.serving_stats_reset()")

    errors = run(CALLS, False)
    row = stats(cur)
    expected = SESSIONS * CALLS
    tap.ok(
        not errors and row is not None and row[0] == expected and row[1] == 0 and row[2] == expected,
        "concurrent single-row calls are counted exactly, each in the histogram",
        f"calls, errors, histogram {row} (expected {expected}); {errors}",
    )

    errors = run(CALLS, True)
    tap.ok(not errors, "calls beside concurrent resets raise no error", repr(errors))

    # new sessions: counted exactly after the resets
    cur.execute("SELECT mlops.serving_stats_reset()")
    errors = run(CALLS // 3, False)
    row = stats(cur)
    expected = SESSIONS * (CALLS // 3)
    tap.ok(
        not errors and row is not None and row[0] == expected and row[2] == expected,
        "after a reset, concurrent calls are counted exactly again",
        f"calls, errors, histogram {row} (expected {expected}); {errors}",
    )

    # one session that remembers its entry across a reset by another
    other = tap.connect().cursor()
    cur.execute(f"SELECT mlops.predict('py_conc', {ROW})")
    other.execute("SELECT mlops.serving_stats_reset()")
    for _ in range(7):
        cur.execute(f"SELECT mlops.predict('py_conc', {ROW})")
    row = stats(other)
    tap.ok(row is not None and row[0] == 7 and row[2] == 7,
           "a session whose entry another session reset counts into a new entry", repr(row))

    # one session scoring more models than its slot holds, in rounds
    cur.execute("SELECT mlops.drop_project('py_conc_many') FROM mlops.projects WHERE name = 'py_conc_many'")
    ids = []
    for _ in range(MODELS):
        cur.execute(
            "SELECT model_id FROM mlops.train('py_conc_many', 'py_conc_iris', 'petal_width_cm', "
            "algorithm => 'linear', exclude => '{id,species}', deploy => 'never')"
        )
        ids.append(cur.fetchone()[0])
    many = tap.connect()
    many_cur = many.cursor()
    for _ in range(ROUNDS):
        for model_id in ids:
            many_cur.execute("SELECT mlops.predict(%s, '{5.1,3.5,1.4}'::float8[])", (model_id,))
    count_sql = (
        "SELECT count(*), min(calls), max(calls), sum(calls) FROM mlops.serving_stats "
        "WHERE project = 'py_conc_many'"
    )
    cur.execute(count_sql)
    row = cur.fetchone()
    tap.ok(row == (MODELS, ROUNDS, ROUNDS, MODELS * ROUNDS),
           f"a live session scoring {MODELS} models counts each exactly", repr(row))
    pid = many.get_backend_pid()
    many.close()
    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
    for _ in range(100):
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        if cur.fetchone()[0] == 0:
            break
        time.sleep(0.05)
    cur.execute(count_sql)
    row = cur.fetchone()
    tap.ok(row == (MODELS, ROUNDS, ROUNDS, MODELS * ROUNDS),
           "and the same after it exited (its slot folded into the shared hash)", repr(row))

    cur.execute("SELECT mlops.drop_project('py_conc_many')")
    cur.execute("SELECT mlops.drop_project('py_conc')")
    cur.execute("DROP TABLE py_conc_iris")


if __name__ == "__main__":
    main()
