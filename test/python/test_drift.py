#!/usr/bin/python3
"""Check mlops.drift and the reference profiles against NumPy and SciPy 1.10.

Seeded synthetic data with numeric, integer-with-NULLs, text, date and
array columns.  The reference rows are the training rows of
split => 'last', order_by => 'ord', so Python knows them exactly.

  profile      per input, on the training rows: counts, NULLs, mean,
               population std, min, max (1e-12 rel), quantile edges
               (numpy.quantile, 1e-12 rel), histogram counts (exact),
               category counts (exact); the value sample is a sorted subset
               of the training values of the size mlops.drift_sample_size
               says, and the same seed gives the same sample; the
               prediction profile equals mlops.predict on the held-out rows.
  statistics   for every method, on shifted data, on a fresh sample and on
               20,000 rows (where the current values are radix-sorted), the
               statistic of every feature and of the prediction row
               (regression and classification) equals SciPy on the
               reference taken from the profile JSON (sample, histogram,
               category counts) and the current rows: ks_2samp (statistic
               1e-12, p-value 1e-9), wasserstein_distance / max(std, 0.001)
               (1e-9 rel), PSI and jensenshannon(base=2) over the frozen bins
               or the union of categories (1e-9 rel),
               chi2_contingency(correction=False) (statistic 1e-9 rel,
               p-value 1e-9), L-infinity (1e-9 rel); null, out-of-range and
               unseen shares (1e-15).
  detection    with method auto, on data with a known shift in x1, x3 and
               cat, exactly those three drift; on a fresh sample of the same
               distribution nothing drifts, both with a large reference
               (wasserstein / jensen_shannon) and a small one (ks / chi2).
  records      every call adds a drift_reports row (counting the 7 source
               columns, not the 13 inputs), its drift_results rows (one per
               input and the prediction), a drift_check event, and
               drift_status shows the latest one.
  selection    the quantile edges select their order statistics instead of
               sorting: profiles of adversarial columns (one value, two
               values, many duplicates with NULLs, ascending, descending,
               organ pipe, 16 and 17 distinct values (a profile counts at
               most 16 instead of selecting), -0.0 and 0.0 mixed) of 2, 3,
               17, 1000, 30000 and 200000 rows have exactly NumPy's quantile
               edges, histogram counts, min and max, and a sample drawn from
               the values (all of them up to the sample size); test_stats.py
               has single values and many bins, through mlops.psi.

Run with the system Python; the connection comes from the PG* environment
variables and the database must have the mlops extension:

  /usr/bin/python3 test/python/test_drift.py
"""

import base64
import collections
import datetime
import io
import json
import math

import numpy as np
from psycopg2.extras import execute_values
from scipy import stats
from scipy.spatial.distance import jensenshannon

import tap

REL = 1e-9
KS_STAT_TOL = 1e-12
P_TOL = 1e-9
SPLIT = "split => 'last', order_by => 'ord', test_size => 0.25"
NUMERIC = ["x1", "x2", "x3", "k", "arr[1]", "arr[2]"]
CATEGORIES = ["a", "b", "c", "d"]


def make_rows(rng, n, shift=False):
    """Rows (x1, x2, x3, k, cat, d, arr, y); shift moves x1, x3 and cat."""
    x1 = rng.normal(0.0, 1.0, n) + (0.5 if shift else 0.0)
    x2 = rng.uniform(0.0, 10.0, n)
    x3 = rng.exponential(2.0, n) * (1.6 if shift else 1.0)
    k = rng.poisson(3.0, n).astype(float)
    k[rng.random(n) < 0.1] = np.nan
    p = [0.1, 0.2, 0.3, 0.35, 0.05] if shift else [0.4, 0.3, 0.2, 0.1, 0.0]
    cat = rng.choice(CATEGORIES + ["e"], n, p=p)
    d = [datetime.date(2023, 1, 1) + datetime.timedelta(days=int(v)) for v in rng.integers(0, 365, n)]
    arr = rng.normal(0.0, 1.0, (n, 2))
    y = 2 * x1 + x2 - x3 + (cat == "a") + np.nan_to_num(k) * 0.3 + rng.normal(0, 0.5, n)
    return [(x1[i], x2[i], x3[i], None if np.isnan(k[i]) else int(k[i]), cat[i], d[i],
             list(arr[i]), y[i]) for i in range(n)]


def load(cur, table, rows):
    """Create a table of rows with an id and an ord column (a fixed shuffle)."""
    cur.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    cur.execute(f"CREATE TABLE {table} (id int, ord int, x1 float8, x2 float8, x3 float8, k int, "
                "cat text, d date, arr float8[], y float8)")
    execute_values(cur, f"INSERT INTO {table} VALUES %s",
                   [(i + 1, (i + 1) * 104729 % 1000003) + tuple(r) for i, r in enumerate(rows)])


def column_values(cur, table, order="id"):
    """Current values per input name (NaN for NULL), cat as text or None."""
    cur.execute(f"SELECT x1, x2, x3, k, arr[1], arr[2], cat FROM {table} ORDER BY {order}")
    rows = cur.fetchall()
    out = {}
    for j, name in enumerate(NUMERIC):
        out[name] = np.array([np.nan if r[j] is None else float(r[j]) for r in rows])
    out["cat"] = [r[6] for r in rows]
    return out


def train(cur, project, table, extra="", target="y"):
    """Train an xgboost model; returns (model_id, profile)."""
    cur.execute(f"SELECT model_id FROM mlops.train('{project}', '{table}', '{target}', exclude => '{{id,ord}}', "
                f"hyperparams => '{{\"n_estimators\": 20}}', {SPLIT}{extra})")
    model_id = cur.fetchone()[0]
    cur.execute("SELECT profile FROM mlops.models WHERE id = %s", (model_id,))
    return model_id, decode_samples(cur.fetchone()[0])


def decode_samples(profile):
    """The profile with each binary sample (base64 of little-endian float8) as a list of numbers."""
    for f in profile["features"] + ([profile["prediction"]] if profile["prediction"] else []):
        if isinstance(f.get("sample"), str):
            f["sample"] = np.frombuffer(base64.b64decode(f["sample"]), dtype="<f8").tolist()
    return profile


def rel_close(got, expected, rel=REL, abs_=1e-300):
    """math.isclose that also accepts both NaN / None."""
    if got is None or expected is None:
        return got is None and expected is None
    if math.isnan(got) or math.isnan(expected):
        return math.isnan(got) and math.isnan(expected)
    return math.isclose(got, expected, rel_tol=rel, abs_tol=abs_)


class Checks:
    """Many comparisons reported as one TAP line, with the first failures."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.count = 0
        self.worst = 0.0
        self.worst_p = None

    def expect(self, cond, what):
        self.count += 1
        if not cond:
            self.failures.append(what)

    def close(self, got, expected, what, rel=REL, abs_=1e-300):
        self.expect(rel_close(got, expected, rel, abs_), f"{what}: got {got!r}, expected {expected!r}")
        if got is not None and expected is not None and expected != 0 and not math.isnan(expected):
            self.worst = max(self.worst, abs(got - expected) / abs(expected))

    def done(self):
        tap.ok(not self.failures, f"{self.name} ({self.count} checks)",
               "\n".join(self.failures[:8]))
        print(f"#   largest relative difference {self.worst:.3g}", flush=True)
        if self.worst_p is not None:
            print(f"#   largest p-value difference {self.worst_p:.3g}", flush=True)


def check_profile(profile, train_values, sample_size, name):
    """The profile of the training rows, against NumPy."""
    c = Checks(f"profile of the training rows: {name}")
    feats = {f["name"]: f for f in profile["features"]}
    c.expect([col["name"] for col in profile["columns"]] == ["x1", "x2", "x3", "k", "cat", "d", "arr"],
             f"columns {profile['columns']}")
    c.expect([col["kind"] for col in profile["columns"]] ==
             ["numeric", "numeric", "numeric", "numeric", "categorical", "datetime", "array"],
             "column kinds")
    c.expect(profile["columns"][6]["array_length"] == 2, "array length")
    c.expect(list(feats) == ["x1", "x2", "x3", "k", "cat", "d.epoch", "d.year", "d.month", "d.day",
                             "d.dow", "arr[1]", "arr[2]"], f"inputs {list(feats)}")
    for name in NUMERIC:
        f, v = feats[name], train_values[name]
        vals = np.sort(v[~np.isnan(v)])
        c.expect(f["rows"] == len(v) and f["count"] == len(vals) and f["nulls"] == len(v) - len(vals),
                 f"{name} counts")
        c.close(f["null_fraction"], (len(v) - len(vals)) / len(v), f"{name} null_fraction", abs_=1e-15)
        c.close(f["mean"], vals.mean(), f"{name} mean", 1e-12)
        c.close(f["std"], vals.std(), f"{name} std", 1e-12)
        c.close(f["min"], vals[0], f"{name} min")
        c.close(f["max"], vals[-1], f"{name} max")
        edges = np.quantile(vals, np.arange(1, 10) / 10)
        c.expect(np.allclose(f["edges"], edges, rtol=1e-12, atol=0), f"{name} edges {f['edges']} vs {edges}")
        hist = np.bincount(np.searchsorted(np.array(f["edges"]), vals, side="right"), minlength=10)
        c.expect(f["histogram"] == hist.tolist(), f"{name} histogram {f['histogram']} vs {hist.tolist()}")
        sample = np.array(f["sample"])
        c.expect(len(sample) == min(len(vals), sample_size), f"{name} sample size {len(sample)}")
        c.expect(np.all(np.diff(sample) >= 0), f"{name} sample sorted")
        c.expect(not (collections.Counter(sample.tolist()) - collections.Counter(vals.tolist())),
                 f"{name} sample is a subset of the training values")
    f = feats["cat"]
    counts = collections.Counter(v for v in train_values["cat"] if v is not None)
    c.expect(dict(zip(f["categories"], f["counts"])) == counts, f"cat counts {f['categories']} {f['counts']}")
    c.expect(f["counts"] == sorted(f["counts"], reverse=True), "categories most frequent first")
    c.done()


def expected_numeric(method, ref, values):
    """SciPy's statistic, p-value and raw statistic of a numeric feature."""
    cur = values[~np.isnan(values)]
    sample = np.array(ref["sample"])
    if method == "ks":
        r = stats.ks_2samp(sample, cur)
        return r.statistic, r.pvalue, None
    if method == "wasserstein":
        w = stats.wasserstein_distance(sample, cur)
        return w / max(ref["std"], 0.001), None, w
    rp = np.array(ref["histogram"]) / ref["count"]
    cp = np.bincount(np.searchsorted(np.array(ref["edges"]), cur, side="right"), minlength=10) / len(cur)
    if method == "psi":
        r, c = np.where(rp == 0, 1e-4, rp), np.where(cp == 0, 1e-4, cp)
        return float(np.sum((c - r) * np.log(c / r))), None, None
    return float(jensenshannon(rp, cp, base=2)), None, None


def expected_categorical(method, ref, values):
    """SciPy's statistic and p-value of a categorical feature (list of texts)."""
    counts = collections.Counter(v for v in values if v is not None)
    cats = list(ref["categories"]) + sorted(set(counts) - set(ref["categories"]))
    r = np.array([dict(zip(ref["categories"], ref["counts"])).get(x, 0) for x in cats], dtype=float)
    c = np.array([counts.get(x, 0) for x in cats], dtype=float)
    if method == "chi2":
        res = stats.chi2_contingency(np.array([r, c]), correction=False)
        return res[0], res[1], None
    if method == "jensen_shannon":
        return float(jensenshannon(r, c, base=2)), None, None
    rp, cp = r / r.sum(), c / c.sum()
    if method == "l_infinity":
        return float(np.max(np.abs(rp - cp))), None, None
    rp, cp = np.where(rp == 0, 1e-4, rp), np.where(cp == 0, 1e-4, cp)
    return float(np.sum((cp - rp) * np.log(cp / rp))), None, None


ADVERSARIAL = ["flat", "two", "dup", "few16", "few17", "up", "down", "organ", "zeros"]


def adversarial_columns(rng, n):
    """Columns that stress the selection of order statistics (NaN is NULL)."""
    i = np.arange(n, dtype=float)
    dup = rng.integers(0, 13, n).astype(float)
    dup[rng.random(n) < 0.2] = np.nan
    signed_zero = np.where(rng.random(n) < 0.5, -0.0, 0.0)
    return {
        "flat": np.full(n, 7.25),
        "two": np.where(rng.random(n) < 0.7, 1.0, 2.0),
        "dup": dup,
        # at most 16 distinct values are counted, not selected (StatsEqualFrequencyBins);
        # drawn apart, so that the other columns keep their data
        "few16": np.random.default_rng(n).integers(-8, 8, n).astype(float) / 4,
        "few17": np.random.default_rng(n + 1).integers(-8, 9, n).astype(float) / 4,
        "up": i,
        "down": n - i,
        "organ": np.minimum(i, n - 1 - i),
        "zeros": np.where(rng.random(n) < 0.6, signed_zero, rng.normal(size=n)),
    }


def check_adversarial_profile(cur, rng, n):
    """Train on adversarial columns of n rows; the profile equals NumPy exactly."""
    cols = adversarial_columns(rng, n)
    cur.execute("DROP TABLE IF EXISTS drift_adv")
    cur.execute("CREATE TABLE drift_adv (id int, " + ", ".join(f"{c} float8" for c in ADVERSARIAL) + ", y float8)")
    data = io.StringIO()
    y = rng.normal(size=n)
    for r in range(n):
        values = [cols[c][r] for c in ADVERSARIAL] + [y[r]]
        data.write("\t".join([str(r)] + ["\\N" if math.isnan(v) else repr(float(v)) for v in values]) + "\n")
    data.seek(0)
    cur.copy_from(data, "drift_adv")
    cur.execute("SELECT model_id FROM mlops.train('drift_adv', 'drift_adv', 'y', exclude => '{id}', "
                "hyperparams => '{\"n_estimators\": 1}', test_size => 0, deploy => 'never')")
    cur.execute("SELECT profile FROM mlops.models WHERE id = %s", (cur.fetchone()[0],))
    feats = {f["name"]: f for f in decode_samples(cur.fetchone()[0])["features"]}
    c = Checks(f"selection: profiles of adversarial columns, {n} rows, equal NumPy exactly")
    for name in ADVERSARIAL:
        f = feats[name]
        vals = np.sort(cols[name][~np.isnan(cols[name])])
        edges = np.quantile(vals, np.arange(1, 10) / 10)
        hist = np.bincount(np.searchsorted(edges, vals, side="right"), minlength=10)
        c.expect(f["count"] == len(vals), f"{name} count {f['count']}")
        c.expect(f["edges"] == edges.tolist(), f"{name} edges {f['edges']} vs {edges.tolist()}")
        c.expect(f["histogram"] == hist.tolist(), f"{name} histogram {f['histogram']} vs {hist.tolist()}")
        c.expect(f["min"] == vals[0] and f["max"] == vals[-1], f"{name} min {f['min']} max {f['max']}")
        # summation order decides the last digits of a mean near zero
        c.close(f["mean"], vals.mean(), f"{name} mean", 1e-12, 1e-12 * np.abs(vals).mean())
        c.close(f["std"], vals.std(), f"{name} std", 1e-12, 1e-15)
        sample = np.array(f["sample"])
        if len(vals) <= 10000:
            c.expect(f["sample"] == vals.tolist(), f"{name}: the sample is every value")
        else:
            c.expect(len(sample) == 10000 and np.all(np.diff(sample) >= 0) and
                     not (collections.Counter(sample.tolist()) - collections.Counter(vals.tolist())),
                     f"{name}: the sample is 10000 of the values, sorted")
    c.done()


DEFAULT_THRESHOLD = {"ks": 0.05, "chi2": 0.05, "wasserstein": 0.1, "jensen_shannon": 0.1,
                     "psi": 0.2, "l_infinity": 0.3}


CALLS = collections.Counter()  # project -> result rows returned


def drift_rows(cur, project, table, method, model_id, threshold=None):
    """mlops.drift as {feature: row dict}, in order."""
    cur.execute("SELECT * FROM mlops.drift(%s, %s, method => %s, threshold => %s, model_id => %s)",
                (project, table, method, threshold, model_id))
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    CALLS[project, "reports"] += 1
    CALLS[project, "rows"] += len(rows)
    return collections.OrderedDict((r[0], dict(zip(names, r))) for r in rows)


def check_method(cur, project, table, method, model_id, profile, current, predictions):
    """Every row of one mlops.drift call against SciPy."""
    rows = drift_rows(cur, project, table, method, model_id)
    c = Checks(f"{method} on {table}: statistics equal SciPy")
    feats = {f["name"]: f for f in profile["features"]}
    checked = [n for n in NUMERIC + ["cat"] if n in feats]
    for name in checked + ["prediction"]:
        ref = profile["prediction"] if name == "prediction" else feats[name]
        row = rows[name]
        used = method
        if method == "auto" or (name == "prediction" and method in ("chi2", "l_infinity")):
            small = ref["rows"] <= 1000
            used = ("chi2" if small else "jensen_shannon") if ref["kind"] == "categorical" else \
                ("ks" if small else "wasserstein")
        values = predictions if name == "prediction" else current[name]
        if ref["kind"] == "categorical":
            stat, p, raw = expected_categorical(used, ref, values)
            nonnull = [v for v in values if v is not None]
            c.close(row["unseen_share"], sum(v not in ref["categories"] for v in nonnull) / len(nonnull),
                    f"{name} unseen_share", abs_=1e-15)
            c.close(row["null_share"], (len(values) - len(nonnull)) / len(values), f"{name} null_share", abs_=1e-15)
        else:
            stat, p, raw = expected_numeric(used, ref, values)
            v = values[~np.isnan(values)]
            c.close(row["null_share"], 1 - len(v) / len(values), f"{name} null_share", abs_=1e-15)
            c.close(row["out_of_range_share"], float(np.mean((v < ref["min"]) | (v > ref["max"]))),
                    f"{name} out_of_range_share", abs_=1e-15)
        c.expect(row["method"] == used and row["kind"] == ref["kind"], f"{name} method {row['method']} kind {row['kind']}")
        c.close(row["statistic"], stat, f"{name} {used} statistic", KS_STAT_TOL if used == "ks" else REL, 1e-15)
        if p is None:
            c.expect(row["p_value"] is None, f"{name} p_value {row['p_value']}")
        else:
            c.expect(abs(row["p_value"] - p) <= P_TOL, f"{name} p_value {row['p_value']!r} vs {p!r}")
            c.worst_p = max(c.worst_p or 0.0, abs(row["p_value"] - p))
        c.close(row["raw_statistic"], raw, f"{name} raw_statistic")
        threshold = DEFAULT_THRESHOLD[used]
        c.close(row["threshold"], threshold, f"{name} threshold")
        drifted = (p < threshold) if p is not None else (stat >= threshold)
        c.expect(row["drifted"] == drifted, f"{name} drifted {row['drifted']} vs {drifted}")
    c.expect(list(rows) == [f["name"] for f in profile["features"]] + ["prediction"], f"rows {list(rows)}")
    c.done()
    return rows


def main():
    conn = tap.connect()
    cur = conn.cursor()
    rng = np.random.default_rng(4)
    cur.execute("SET client_min_messages = warning")
    for p in ("drift_big", "drift_small", "drift_band", "drift_adv"):
        cur.execute("SELECT mlops.drop_project(name) FROM mlops.projects WHERE name = %s", (p,))
    load(cur, "drift_ref", make_rows(rng, 4000))
    load(cur, "drift_same", make_rows(rng, 3000))
    load(cur, "drift_shift", make_rows(rng, 3000, shift=True))
    load(cur, "drift_ref_small", make_rows(rng, 1200))
    load(cur, "drift_large", make_rows(rng, 20000, shift=True))

    # training rows: the first 75 % by ord
    ref_values = column_values(cur, "drift_ref", "ord")
    ntrain = 3000
    train_values = {k: v[:ntrain] for k, v in ref_values.items()}

    model, profile = train(cur, "drift_big", "drift_ref")
    check_profile(profile, train_values, 10000, "default sample size, all 3000 values kept")
    cur.execute("SET mlops.drift_sample_size = 500")
    small_model, small_profile = train(cur, "drift_big", "drift_ref", ", deploy => 'never'")
    again_model, again_profile = train(cur, "drift_big", "drift_ref", ", deploy => 'never'")
    cur.execute("RESET mlops.drift_sample_size")
    check_profile(small_profile, train_values, 500, "mlops.drift_sample_size = 500")
    tap.ok(small_profile == again_profile and small_model != again_model,
           "the same data and seed give the same profile, sample included")

    # the prediction profile is the model's output on the held-out rows
    cur.execute(f"SELECT mlops.predict({model}, to_jsonb(t)) FROM drift_ref t ORDER BY ord OFFSET {ntrain}")
    held_out = np.array([r[0] for r in cur.fetchall()])
    pred = profile["prediction"]
    tap.ok(pred["kind"] == "numeric" and pred["rows"] == 1000 and
           np.allclose(pred["sample"], np.sort(held_out), rtol=1e-12, atol=0) and
           rel_close(pred["mean"], held_out.mean(), 1e-12),
           "prediction profile: the stored model's outputs on the 1000 held-out rows")

    # statistics against SciPy, every method, on the shifted and the fresh data
    numeric_model, numeric_profile = train(cur, "drift_big", "drift_ref",
                                           ", features => '{x1,x2,x3,k,arr}', deploy => 'never'")
    for table in ("drift_shift", "drift_same", "drift_large"):
        current = column_values(cur, table)
        cur.execute(f"SELECT mlops.predict({model}, to_jsonb(t)) FROM {table} t ORDER BY id")
        preds = np.array([r[0] for r in cur.fetchall()])
        cur.execute(f"SELECT mlops.predict({numeric_model}, to_jsonb(t)) FROM {table} t ORDER BY id")
        numeric_preds = np.array([r[0] for r in cur.fetchall()])
        for method in ("auto", "psi", "jensen_shannon"):
            check_method(cur, "drift_big", table, method, model, profile, current, preds)
        for method in ("ks", "wasserstein"):
            check_method(cur, "drift_big", table, method, numeric_model, numeric_profile, current, numeric_preds)

    # categorical-only methods, on a model of the categorical column alone
    cat_model, cat_profile = train(cur, "drift_big", "drift_ref", ", features => '{cat}', deploy => 'never'")
    current = column_values(cur, "drift_shift")
    cur.execute(f"SELECT mlops.predict({cat_model}, to_jsonb(t)) FROM drift_shift t ORDER BY id")
    cat_preds = np.array([r[0] for r in cur.fetchall()])
    for method in ("chi2", "l_infinity"):
        check_method(cur, "drift_big", "drift_shift", method, cat_model, cat_profile, current, cat_preds)

    # classification: the prediction row compares predicted class counts
    for table in ("drift_ref", "drift_shift"):
        cur.execute(f"CREATE OR REPLACE VIEW {table}_band AS SELECT id, ord, x1, x2, x3, k, cat, d, arr, "
                    f"CASE WHEN y > 6 THEN 'high' WHEN y > 2 THEN 'mid' ELSE 'low' END AS band FROM {table}")
    band_model, band_profile = train(cur, "drift_band", "drift_ref_band", target="band")
    cur.execute(f"SELECT mlops.predict_label({band_model}, to_jsonb(t)) FROM drift_ref_band t "
                f"ORDER BY ord OFFSET {ntrain}")
    held_out = collections.Counter(r[0] for r in cur.fetchall())
    pred = band_profile["prediction"]
    tap.ok(pred["kind"] == "categorical" and dict(zip(pred["categories"], pred["counts"])) == held_out,
           "classification: the prediction profile counts the predicted labels of the held-out rows",
           f"{pred} vs {held_out}")
    current = column_values(cur, "drift_shift")
    cur.execute(f"SELECT mlops.predict_label({band_model}, to_jsonb(t)) FROM drift_shift_band t ORDER BY id")
    labels = [r[0] for r in cur.fetchall()]
    for method in ("auto", "psi"):
        check_method(cur, "drift_band", "drift_shift_band", method, band_model, band_profile, current, labels)

    # detection: exactly the shifted columns drift, nothing on a fresh sample
    expected = {"x1", "x3", "cat"}
    small, _ = train(cur, "drift_small", "drift_ref_small")
    for project, method_of in (("drift_big", {"numeric": "wasserstein", "categorical": "jensen_shannon"}),
                               ("drift_small", {"numeric": "ks", "categorical": "chi2"})):
        shifted = drift_rows(cur, project, "drift_shift", "auto", None)
        same = drift_rows(cur, project, "drift_same", "auto", None)
        flagged = {f for f, r in shifted.items() if r["drifted"] and f != "prediction"}
        methods = {r["method"] for f, r in shifted.items() if f != "prediction"}
        tap.ok(flagged == expected and methods == set(method_of.values()),
               f"{project}: auto ({', '.join(sorted(methods))}) flags exactly x1, x3 and cat on shifted data",
               f"flagged {sorted(flagged)}, methods {methods}")
        tap.ok(not any(r["drifted"] for r in same.values()),
               f"{project}: nothing drifts on a fresh sample of the same distribution",
               json.dumps({f: (r["method"], r["statistic"], r["p_value"]) for f, r in same.items() if r["drifted"]}))

    # the records of the last call (drift_small on drift_same)
    cur.execute("SELECT id, relation, rows, method, features, drifted, drift_share, dataset_drift, "
                "prediction_drift FROM mlops.drift_reports ORDER BY id DESC LIMIT 1")
    report = cur.fetchone()
    cur.execute("SELECT count(*), bool_or(drifted) FROM mlops.drift_results WHERE report_id = %s", (report[0],))
    nresults, any_drift = cur.fetchone()
    cur.execute("SELECT detail FROM mlops.events WHERE action = 'drift_check' ORDER BY id DESC LIMIT 1")
    detail = cur.fetchone()[0]
    cur.execute("SELECT report_id, features_checked, features_drifted, dataset_drift "
                "FROM mlops.drift_status WHERE project = 'drift_small'")
    status = cur.fetchone()
    tap.ok(report[1:] == ("public.drift_same", 3000, "auto", 7, 0, 0.0, False, False) and nresults == 13 and
           not any_drift and detail["report_id"] == report[0] and detail["drifted"] == 0 and
           status == (report[0], 7, 0, False),
           "the call is recorded: drift_reports, drift_results, drift_check event, drift_status",
           f"{report} {nresults} {detail} {status}")
    cur.execute("SELECT count(DISTINCT report_id), count(*) FROM mlops.drift_history WHERE project = 'drift_big' "
                "AND time IS NOT NULL")
    nreports, nrows = cur.fetchone()
    tap.ok(nreports == CALLS["drift_big", "reports"] and nrows == CALLS["drift_big", "rows"],
           "drift_history has one row per report and feature",
           f"{nreports} reports, {nrows} rows")

    adversarial_rng = np.random.default_rng(5)
    for n in (2, 3, 17, 1000, 30000, 200000):
        check_adversarial_profile(cur, adversarial_rng, n)
    tap.done_testing()


main()
