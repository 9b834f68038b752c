"""Shared data handling of the Python reference tests.

Tables get an `ord` column, a fixed pseudo-random permutation of the rows
(ord = id * 104729 mod 1000003), and are trained with split => 'last',
order_by => 'ord': the held-out rows are the last ceil(test_size * n) rows by
ord, which Python reproduces exactly.
"""
import numpy as np

import tap

TEST_SIZE = 0.25
SPLIT_SQL = "exclude => '{id,ord}', split => 'last', order_by => 'ord', test_size => 0.25"


def load(conn, table, csv, label, label_type, types=None):
    """Load a data set from contrib/datasets and add its ord column."""
    tap.load_csv(conn, table, tap.datasets_dir() / csv, label, label_type, types)
    with conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {table} ADD COLUMN ord int; UPDATE {table} SET ord = id * 104729 % 1000003")


def fetch(conn, table, label):
    """(X, y, ntrain): features in column order (NULL as NaN), labels, by ord."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY ord")
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    feats = [i for i, n in enumerate(names) if n not in ("id", "ord", label)]
    X = np.array([[np.nan if r[i] is None else float(r[i]) for i in feats] for r in rows], dtype=float)
    y = [r[names.index(label)] for r in rows]
    ntest = int(np.ceil(TEST_SIZE * len(y)))
    return X, y, len(y) - ntest


MASK = (1 << 64) - 1


def splitmix64(x):
    """The key cv.c gives a training row (x: the seed in the high half, the position in the low)."""
    z = (x + 0x9e3779b97f4a7c15) & MASK
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK
    return z ^ (z >> 31)


def cv_folds(classes, k, seed):
    """The fold cv.c deals each training row (classes: class index per row, all 0 for regression)."""
    n = len(classes)
    rows = sorted(range(n), key=lambda i: (classes[i], splitmix64(((seed & 0xffffffff) << 32) ^ i), i))
    fold = np.empty(n, dtype=int)
    for j, i in enumerate(rows):
        fold[i] = j % k
    return fold


def label_indices(y):
    """Class indices in label order (sorted), and the labels."""
    labels = sorted(set(y))
    return np.array([labels.index(v) for v in y]), labels
