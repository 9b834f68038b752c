"""Minimal TAP helpers for the mlops Python reference tests.

A test file (test/python/test_*.py, run by test/run.sh with /usr/bin/python3
under prove) looks like:

    import tap
    conn = tap.connect()
    tap.load_csv(conn, "iris", tap.datasets_dir() / "iris.csv", "species", "text")
    tap.is_close(got, expected, rel=1e-9, name="...")
    tap.done_testing()

The process exits non-zero when a test failed or the plan was not met.
"""

import atexit
import csv
import math
import os
import sys
from pathlib import Path

import psycopg2
from psycopg2 import sql

_planned = None
_run = 0
_failed = 0


def plan(n):
    """Declare the number of tests up front."""
    global _planned
    _planned = n
    print(f"1..{n}", flush=True)


def done_testing():
    """Print the plan at the end, when plan() was not called."""
    global _planned
    if _planned is None:
        _planned = _run
        print(f"1..{_run}", flush=True)


def _diag(message):
    """Print a diagnostic message as TAP comment lines."""
    for line in str(message).splitlines():
        print(f"# {line}", flush=True)


def ok(cond, name, diag=None):
    """Record one test; print diag when it failed. Returns cond."""
    global _run, _failed
    _run += 1
    cond = bool(cond)
    if not cond:
        _failed += 1
    print(f"{'ok' if cond else 'not ok'} {_run} - {name}", flush=True)
    if not cond and diag is not None:
        _diag(diag)
    return cond


def _close(got, expected, rel, abs_):
    """True when two numbers agree within rel or abs_ (NaN equals NaN)."""
    if got is None or expected is None:
        return got is None and expected is None
    got, expected = float(got), float(expected)
    if math.isnan(got) or math.isnan(expected):
        return math.isnan(got) and math.isnan(expected)
    return math.isclose(got, expected, rel_tol=rel, abs_tol=abs_)


def _is_sequence(value):
    """True for lists, tuples and NumPy arrays, not for strings or numbers."""
    return hasattr(value, "__len__") and not isinstance(value, (str, bytes))


def is_close(got, expected, rel=1e-9, abs=1e-12, name=""):
    """Test that got matches expected within a relative or absolute tolerance.

    Both may be numbers or equal-length sequences (compared element by
    element). On failure the worst element and its differences are printed.
    """
    if _is_sequence(got) != _is_sequence(expected):
        return ok(False, name, f"got {got!r}\nexpected {expected!r}")
    if not _is_sequence(got):
        got, expected = [got], [expected]
    if len(got) != len(expected):
        return ok(False, name, f"got {len(got)} values, expected {len(expected)}")
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if not _close(g, e, rel, abs)]
    if not bad:
        return ok(True, name)
    lines = [f"{len(bad)} of {len(got)} values differ (rel={rel}, abs={abs})"]
    numeric = [i for i in bad if got[i] is not None and expected[i] is not None]
    if numeric:
        worst = max(numeric, key=lambda i: math.fabs(float(got[i]) - float(expected[i])))
        diff = math.fabs(float(got[worst]) - float(expected[worst]))
        scale = math.fabs(float(expected[worst]))
        lines += [
            f"worst at index {worst}: got {got[worst]!r}, expected {expected[worst]!r}",
            f"abs diff {diff:.6g}, rel diff {diff / scale if scale else math.inf:.6g}",
        ]
    else:
        lines.append(f"at index {bad[0]}: got {got[bad[0]]!r}, expected {expected[bad[0]]!r}")
    return ok(False, name, "\n".join(lines))


def connect():
    """Connect with the PG* environment variables, in autocommit mode."""
    conn = psycopg2.connect("")
    conn.autocommit = True
    return conn


def datasets_dir():
    """The repository's contrib/datasets directory."""
    return Path(__file__).resolve().parents[2] / "contrib" / "datasets"


def load_csv(conn, table, path, label_col, label_type="text", types=None, id_col="id"):
    """Create table from the CSV header and load the file; return the row count.

    Columns are float8 except label_col (label_type) and those named in
    types ({column: SQL type}). A first column id_col bigserial numbers the
    rows in file order. NA is read as NULL. An existing table is replaced.
    """
    types = dict(types or {})
    types[label_col] = label_type
    with open(path, newline="") as f:
        header = next(csv.reader(f))
    unknown = set(types) - set(header)
    if unknown:
        raise ValueError(f"{path} has no column named {', '.join(sorted(unknown))}")
    if id_col in header:
        raise ValueError(f"{path} already has a column {id_col}; pass another id_col")
    ident = sql.Identifier(*table.split("."))
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in header)
    definitions = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types.get(c, "float8"))) for c in header
    )
    with conn.cursor() as cur, open(path) as f:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
        cur.execute(
            sql.SQL("CREATE TABLE {} ({} bigserial, {})").format(ident, sql.Identifier(id_col), definitions)
        )
        cur.copy_expert(
            sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true, NULL 'NA')")
            .format(ident, columns)
            .as_string(conn),
            f,
        )
        return cur.rowcount


def _finish():
    """At exit: report a missed plan and make the exit status non-zero on failure."""
    sys.stdout.flush()
    if _planned is not None and _run != _planned:
        _diag(f"Looks like you planned {_planned} tests but ran {_run}.")
        os._exit(255)
    if _failed:
        _diag(f"Looks like you failed {_failed} test(s) of {_run}.")
        os._exit(min(_failed, 254))


atexit.register(_finish)
