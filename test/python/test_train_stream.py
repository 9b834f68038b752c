"""linear and ridge trained from blocks of rows equal the in-memory path.

mlops.train reads the relation in blocks (src/train/train_stream.c) for
linear and ridge with a random split, no cv and no model to compare with,
on numeric (non-integer) columns whose preprocess settings need no sort.
With cv => 2 the same training runs from the rows in memory.  Both must
store the same model bytes, transform, importance, data fingerprint,
held-out metrics and reference profile (the profile's std to rounding: it
is summed in another order), and refuse bad input with the same errors.
"""
import io

import numpy as np
import psycopg2

import tap

conn = tap.connect()
conn.autocommit = True
cur = conn.cursor()
# the tables here are small: mlops.stream_training = auto would keep them in memory
cur.execute("SET mlops.stream_training = always")


def load(table, n, seed):
    """n rows: float8 columns (c with NULLs), integers (an id, k), a date, a real[3], y; some NULL targets."""
    rng = np.random.default_rng(seed)
    a = rng.normal(3, 2, n)
    b = rng.uniform(-5, 5, n)
    c = np.where(rng.random(n) < 0.15, np.nan, rng.normal(100, 10, n))
    days = rng.integers(0, 3000, n)
    arr = rng.normal(0, 1, (n, 3))
    y = 2 * a - b + 0.05 * np.nan_to_num(c) + 0.001 * days + arr[:, 0] + rng.normal(0, 0.5, n)
    buf = io.StringIO()
    for i in range(n):
        cv = "\\N" if np.isnan(c[i]) else repr(c[i])
        yv = "\\N" if i % 50 == 7 else repr(y[i])
        arrv = "{" + ",".join(repr(float(v)) for v in arr[i]) + "}"
        buf.write(f"{a[i]!r}\t{b[i]!r}\t{cv}\t{int(days[i])}\t{arrv}\t{yv}\t{i}\t{int(days[i]) % 37}\n")
    buf.seek(0)
    cur.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (a float8, b float8, c float8, "
                "dd int, arr real[], y float8, id int, k bigint)")
    cur.copy_from(buf, table, columns=("a", "b", "c", "dd", "arr", "y", "id", "k"))
    cur.execute(f"ALTER TABLE {table} ADD COLUMN d date; UPDATE {table} SET d = date '2020-01-01' + dd; "
                f"ALTER TABLE {table} DROP COLUMN dd")


def train(project, table, algorithm, hyperparams, preprocess, test_size, cv):
    """Train; returns (model id, whether the rows were read in blocks)."""
    cur.execute("SET client_min_messages = debug1")
    del conn.notices[:]
    cur.execute("SELECT model_id FROM mlops.train(%s, %s, 'y', algorithm => %s, hyperparams => %s, "
                "preprocess => %s, test_size => %s, deploy => 'never', cv => %s)",
                (project, table, algorithm, hyperparams, preprocess, test_size, cv))
    model_id = cur.fetchone()[0]
    cur.execute("SET client_min_messages = notice")
    notices = sorted(m for m in conn.notices if "NOTICE" in m and "like an id" in m)
    return model_id, any("read in blocks" in m for m in conn.notices), notices


def without_std(profile):
    """The profile without the std of its features and prediction, and those std values."""
    stds = []
    for f in profile["features"] + ([profile["prediction"]] if profile["prediction"] else []):
        stds.append(f.pop("std", None))
    return profile, stds


def compare(name, table, algorithm, hyperparams="{}", preprocess="{}", test_size=0.25):
    streamed, blocks, ids = train(f"s_{name}", table, algorithm, hyperparams, preprocess, test_size, None)
    memory, blocks_cv, ids_cv = train(f"m_{name}", table, algorithm, hyperparams, preprocess, test_size, 2)
    tap.ok(blocks and not blocks_cv, f"{name}: read in blocks without cv, in memory with it")
    tap.ok(len(ids) == 1 and '"id"' in ids[0] and ids == ids_cv, f"{name}: the same id-like column NOTICE",
           f"{ids}\n{ids_cv}")
    cur.execute("SELECT model, features, importance, data_fingerprint, metrics - 'fit_seconds' - 'cv', "
                "profile, training - 'fit_seconds' FROM mlops.models WHERE id = %s", (streamed,))
    s = cur.fetchone()
    cur.execute("SELECT model, features, importance, data_fingerprint, metrics - 'fit_seconds' - 'cv', "
                "profile, training - 'fit_seconds' FROM mlops.models WHERE id = %s", (memory,))
    m = cur.fetchone()
    tap.ok(bytes(s[0]) == bytes(m[0]), f"{name}: the same model bytes")
    tap.ok(s[1] == m[1], f"{name}: the same transform")
    tap.ok(s[2] == m[2], f"{name}: the same importance")
    tap.ok(s[3] == m[3], f"{name}: the same data fingerprint", f"{s[3]} vs {m[3]}")
    tap.ok(s[4] == m[4], f"{name}: the same held-out metrics", f"{s[4]}\n{m[4]}")
    sp, sstd = without_std(s[5])
    mp, mstd = without_std(m[5])
    tap.ok(sp == mp, f"{name}: the same profile but std")
    tap.is_close([x if x is not None else 0 for x in sstd], [x if x is not None else 0 for x in mstd],
                 rel=1e-12, abs=1e-15, name=f"{name}: the profile's std to rounding")


def error_of(sql, args):
    try:
        cur.execute(sql, args)
    except psycopg2.Error as e:
        return e.pgcode, e.pgerror.splitlines()[0]
    return None


def same_error(name, table, test_size=0.25):
    sql = ("SELECT * FROM mlops.train(%s, %s, 'y', algorithm => 'linear', test_size => %s, "
           "deploy => 'never', cv => %s)")
    streamed = error_of(sql, (f"e_{name}", table, test_size, None))
    memory = error_of(sql, (f"e_{name}", table, test_size, 2))
    tap.ok(streamed is not None and streamed == memory, f"{name}: the same error read in blocks",
           f"{streamed}\n{memory}")


load("ts", 30000, 5)
compare("linear", "ts", "linear")
compare("ridge", "ts", "ridge", '{"alpha": 3.5}')
compare("no_intercept", "ts", "linear", '{"fit_intercept": false}')
compare("preprocess", "ts", "linear", "{}",
        '{"c": {"impute": "zero", "scale": "min_max"}, "a": {"scale": "max_abs"}, "b": {"scale": "none"}}')
compare("constant_fill", "ts", "ridge", '{"alpha": 0.5}', '{"c": {"impute": {"constant": -7}, "scale": "standard"}}')
compare("all_rows", "ts", "linear", test_size=0)



def compare_deployed(name, cv):
    """deploy auto against a deployed XGBoost model on the same held-out rows: the not_deployed event."""
    project = f"cmp_{name}"
    cur.execute("SELECT model_id FROM mlops.train(%s, 'ts', 'y', algorithm => 'xgboost', "
                "hyperparams => '{\"n_estimators\": 30}', deploy => 'always')", (project,))
    deployed = cur.fetchone()[0]
    cur.execute("SET client_min_messages = debug1")
    del conn.notices[:]
    cur.execute("SELECT model_id, deployed FROM mlops.train(%s, 'ts', 'y', algorithm => 'linear', "
                "features => '{a}', deploy => 'auto', cv => %s)", (project, cv))
    model_id, was_deployed = cur.fetchone()
    cur.execute("SET client_min_messages = notice")
    tap.ok(any("read in blocks" in m for m in conn.notices) == (cv is None),
           f"deploy auto, cv {cv}: read in blocks only without cv")
    cur.execute("SELECT detail - 'reason' - 'deployed_model_id' FROM mlops.events "
                "WHERE action = 'not_deployed' AND model_id = %s", (model_id,))
    rows = cur.fetchall()
    return deployed, was_deployed, rows[0][0] if rows else None


_, dep_s, ev_s = compare_deployed("s", None)
_, dep_m, ev_m = compare_deployed("m", 2)
tap.ok(not dep_s and not dep_m and ev_s is not None, "deploy auto: the worse linear model is not deployed either way")
tap.ok(ev_s is not None and ev_s.get("basis") == "same_rows" and ev_s == ev_m,
       "deploy auto: the deployed model scored on the same held-out rows, with the same metrics, read in blocks",
       f"{ev_s}\n{ev_m}")

cur.execute("DROP TABLE IF EXISTS ts_small; CREATE TABLE ts_small AS SELECT a, b, y FROM ts LIMIT 2000")
cur.execute("SET mlops.max_train_memory = '2MB'")
small_id, small_blocks, _ = train("small_memory", "ts_small", "linear", "{}", "{}", 0.25, None)
cur.execute("SELECT (training->>'train_rows')::int + (training->>'test_rows')::int = "
            "(SELECT count(y) FROM ts_small) FROM mlops.models WHERE id = %s", (small_id,))
tap.ok(small_blocks and cur.fetchone()[0],
       "a small table trains from blocks, every row with a target read, under a 2 MB mlops.max_train_memory")
cur.execute("RESET mlops.max_train_memory")
# auto (the default) streams a relation whose heap is larger than mlops.max_train_memory
cur.execute("SET mlops.stream_training = auto")
cur.execute("DROP TABLE IF EXISTS ts_auto; CREATE TABLE ts_auto AS SELECT a, b, 2 * a - b + random() AS y "
            "FROM (SELECT random() AS a, random() AS b FROM generate_series(1, 900000)) s")
cur.execute("SELECT pg_relation_size('ts_auto') / 1024")
heap_kb = cur.fetchone()[0]
_, blocks_default, _ = train("auto_default", "ts_auto", "linear", "{}", "{}", 0.25, None)
cur.execute(f"SET mlops.max_train_memory = '{heap_kb - 1024}kB'")
_, blocks_below, _ = train("auto_below", "ts_auto", "linear", "{}", "{}", 0.25, None)
tap.ok(not blocks_default and blocks_below,
       f"stream_training auto: a {heap_kb} kB heap trains in memory under the default limit and from blocks "
       "under a limit 1 MB below its size")
cur.execute("SET mlops.stream_training = always")
cur.execute("RESET mlops.max_train_memory")

cur.execute("DROP TABLE IF EXISTS ts_const; CREATE TABLE ts_const AS SELECT a, b, 4.0::float8 AS y FROM ts")
same_error("constant_target", "ts_const")
cur.execute("DROP TABLE IF EXISTS ts_empty; CREATE TABLE ts_empty (a float8, y float8)")
same_error("empty", "ts_empty")
cur.execute("DROP TABLE IF EXISTS ts_nulls; CREATE TABLE ts_nulls AS SELECT a, NULL::float8 AS y FROM ts LIMIT 10")
same_error("null_targets", "ts_nulls")
cur.execute("DROP TABLE IF EXISTS ts_one; CREATE TABLE ts_one AS SELECT a, y FROM ts WHERE y IS NOT NULL LIMIT 1")
same_error("single_row", "ts_one")
same_error("single_row_all", "ts_one", 0)
cur.execute("DROP TABLE IF EXISTS ts_nan; CREATE TABLE ts_nan AS SELECT a, y FROM ts; "
            "UPDATE ts_nan SET a = 'NaN' WHERE ctid = (SELECT max(ctid) FROM ts_nan)")
same_error("nan_feature", "ts_nan")
cur.execute("DROP TABLE IF EXISTS ts_inf; CREATE TABLE ts_inf AS SELECT a, y FROM ts; "
            "UPDATE ts_inf SET y = 'Infinity' WHERE ctid = (SELECT min(ctid) FROM ts_inf)")
same_error("infinite_target", "ts_inf")
cur.execute("DROP TABLE IF EXISTS ts_allnull; CREATE TABLE ts_allnull AS SELECT NULL::float8 AS a, y FROM ts")
same_error("all_null_feature", "ts_allnull")
tap.done_testing()
