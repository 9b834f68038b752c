"""Native tree inference against libxgboost, bad stored models, parallel scans.

mlops compiles every XGBoost model into its own node arrays when a backend
loads it and never calls libxgboost's predict.  Here many models trained by
mlops (binary, 3 and 10 classes, regression, random forests, depth 0 to 12,
early stopping, 12 to 150 trees, 8 to 64 features, NULLs in the training
rows so that default directions matter, features split on all 255 or 63
cuts of max_bin 256 or 64, for the binned walk) score random and adversarial rows,
with and without NULLs, with mlops.vector_tree_walk off and on (rows
without NULLs take the AVX-512 walk where the processor has it): values exactly equal to split thresholds and doubles
that round onto them in float32, signed zeros, denormals, +-huge values
(beyond float32: infinity).  Python's libxgboost
loads the very bytes stored in mlops.models.model and predicts the same
float32 matrix with inplace_predict; every output must agree within 1e-6
relative (in practice they are bit-identical, which is tested too).  Models
with a non-default base_score and extreme leaves are crafted through
libxgboost's JSON.  Corrupted models (garbage, truncated, out-of-range or
cyclic children, unknown features or classes, another objective, 150
randomly damaged blobs) must be clean errors naming the model, an unknown
format version is refused with a hint, and predict must run in a parallel
sequential scan.
"""
import io
import json

import numpy as np
import psycopg2
import xgboost as xgb

import tap

NFEAT = 8
NROWS = 2400
REL = 1e-6
conn = tap.connect()
cur = conn.cursor()
rng = np.random.default_rng(20240601)


def make_table(name, target_type, y_of, nfeat=NFEAT):
    """A table of nfeat float features (15 % NULL) and a target from y_of(X)."""
    X = rng.normal(0, 1.5, size=(NROWS, nfeat))
    y = y_of(X)
    X[rng.random(X.shape) < 0.15] = np.nan
    cols = ", ".join(f"f{j} float8" for j in range(nfeat))
    cur.execute(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int, {cols}, y {target_type})")
    buf = io.StringIO()
    for i in range(NROWS):
        vals = ["\\N" if np.isnan(v) else repr(float(v)) for v in X[i]]
        buf.write("\t".join([str(i)] + vals + [repr(y[i].item())]) + "\n")
    buf.seek(0)
    cur.copy_from(buf, name)


def noisy(X):
    """A signal that depends on several features, plus noise."""
    return X[:, 0] + 0.7 * X[:, 1] * X[:, 2] - 0.5 * np.abs(X[:, 3]) + rng.normal(0, 0.5, len(X))


make_table("nat_bin", "int", lambda X: (noisy(X) > 0).astype(int))
make_table("nat_multi3", "int", lambda X: np.digitize(noisy(X), [-0.8, 0.8]))
make_table("nat_multi10", "int", lambda X: np.digitize(noisy(X), np.linspace(-3, 3, 9)))
make_table("nat_reg", "float8", lambda X: 10 + 3 * noisy(X))


def train(project, table, algorithm, **hp):
    """Train a model with mlops; returns its id."""
    cur.execute("SELECT model_id FROM mlops.train(%s, %s, 'y', algorithm => %s, hyperparams => %s, "
                "exclude => '{id}', deploy => 'always')",
                (project, table, algorithm, json.dumps(hp)))
    return cur.fetchone()[0]


def booster_of(model_id):
    """Python libxgboost loading the model bytes mlops stored."""
    cur.execute("SELECT model FROM mlops.models WHERE id = %s", (model_id,))
    bst = xgb.Booster()
    bst.load_model(bytearray(cur.fetchone()[0]))
    return bst


def with_nulls(X, share):
    """X with about share of its values replaced by NaN (NULL)."""
    X[rng.random(X.shape) < share] = np.nan
    return X


def probe_rows(bst):
    """Random and adversarial raw feature rows (float64, NaN = NULL) for a model.

    Every kind of row comes with and without NULLs: rows without any take
    the vector walk on processors with AVX-512, the others the scalar one.
    """
    nfeat = bst.num_features()
    rows = [with_nulls(rng.normal(0, 2, size=(300, nfeat)), 0.2), rng.normal(0, 2, size=(300, nfeat))]
    model = json.loads(bytes(bst.save_raw("json")))
    splits = set()
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for left, feat, cond in zip(tree["left_children"], tree["split_indices"], tree["split_conditions"]):
            if left != -1:
                splits.add((feat, cond))
    splits = sorted(splits)
    picked = [splits[i] for i in rng.choice(len(splits), size=min(150, len(splits)), replace=False)]
    for feat, cond in picked:
        c32 = np.float32(cond)
        below32 = np.nextafter(c32, np.float32(-np.inf))
        half_ulp = float(np.spacing(c32)) / 4
        for v in (float(c32), float(below32), float(c32) - half_ulp, float(c32) + half_ulp):
            for share in (0.3, 0):
                r = with_nulls(rng.normal(0, 2, size=(1, nfeat)), share)
                r[0, feat] = v
                rows.append(r)
    extremes = [0.0, -0.0, 1e-40, -1e-40, 1e30, -1e30, 3.4e38, -3.4e38, 1e300, -1e300]
    rows += [with_nulls(rng.choice(extremes, size=(200, nfeat)), 0.2), rng.choice(extremes, size=(200, nfeat)),
             np.full((1, nfeat), np.nan), rng.normal(0, 1, size=(1, nfeat))]
    return np.vstack(rows)


def sql_array(row):
    """A float8[] literal, NULL for NaN, every double written exactly."""
    return "{" + ",".join("NULL" if np.isnan(v) else repr(float(v)) for v in row) + "}"


def mlops_outputs(model_id, X, classification):
    """mlops.predict_proba (classification) or predict (regression) on every row."""
    cur.execute("DROP TABLE IF EXISTS probe; CREATE TABLE probe (i int, x float8[])")
    buf = io.StringIO("".join(f"{i}\t{sql_array(r)}\n" for i, r in enumerate(X)))
    cur.copy_from(buf, "probe")
    fn = "predict_proba" if classification else "predict"
    cur.execute(f"SELECT mlops.{fn}(%s, x) FROM probe ORDER BY i", (model_id,))
    return np.array([r[0] for r in cur.fetchall()], dtype=float)


def reference(bst, X, nclasses):
    """libxgboost's prediction on the float32 matrix; binary as two columns."""
    with np.errstate(over="ignore"):
        X32 = X.astype(np.float32)
    ref = bst.inplace_predict(X32).astype(float)
    if nclasses == 2:
        ref = np.column_stack([1.0 - ref, ref])
    return ref


def max_rel(got, ref):
    """Largest relative difference (absolute where the reference is 0)."""
    diff = np.abs(got - ref)
    scale = np.where(ref == 0, 1.0, np.abs(ref))
    return float(np.max(diff / scale))


stats = {"values": 0, "identical": 0}


def deployed_project(model_id):
    """The project whose deployed model model_id is, and the model's source columns; (None, None) if none."""
    cur.execute("SELECT o.project, (SELECT array_agg(c->>'name' ORDER BY n) FROM "
                "jsonb_array_elements(m.features->'columns') WITH ORDINALITY a(c, n)) "
                "FROM mlops.overview o JOIN mlops.models m ON m.id = o.model_id WHERE o.model_id = %s", (model_id,))
    found = cur.fetchone()
    return found if found is not None else (None, None)


def column_outputs(project, columns, X, classification):
    """The planned form on a table of the model's columns: (batched, one row at a time, labels equal).

    A whole target-list entry of the planned form is scored by the MlopsBatchPredict node in
    batches of rows (mlops.batch_predict on), else one row at a time; the labels of both must agree.
    """
    cur.execute("DROP TABLE IF EXISTS probe_cols; CREATE TABLE probe_cols (i int, "
                + ", ".join(f'"{c}" float8' for c in columns) + ")")
    buf = io.StringIO("".join(f"{i}\t" + "\t".join("\\N" if np.isnan(v) else repr(float(v)) for v in r) + "\n"
                              for i, r in enumerate(X)))
    cur.copy_from(buf, "probe_cols")
    fn = "predict_proba" if classification else "predict"
    got = {}
    for batch in ("on", "off"):
        cur.execute(f"SET mlops.batch_predict = {batch}")
        sql = (f"SELECT mlops.{fn}(%(p)s, t), "
               + ("mlops.predict_label(%(p)s, t)" if classification else "NULL") + " FROM probe_cols t ORDER BY i")
        cur.execute("EXPLAIN " + sql, {"p": project})
        used = "MlopsBatchPredict" in "\n".join(r[0] for r in cur.fetchall())
        cur.execute(sql, {"p": project})
        rows = cur.fetchall()
        got[batch] = (used, np.array([r[0] for r in rows], dtype=float), [r[1] for r in rows])
    cur.execute("RESET mlops.batch_predict")
    return got


def check(name, model_id, nclasses, bst=None):
    """Compare mlops with libxgboost on the probe rows of a model, with each tree walk.

    With mlops.vector_tree_walk off every row takes the scalar walk; on, the
    rows without NULLs take the AVX-512 walk where the processor has it.
    """
    bst = bst or booster_of(model_id)
    X = probe_rows(bst)
    ref = reference(bst, X, nclasses)
    if nclasses == 0:
        ref = ref.ravel()
    for walk in ("off", "on"):
        cur.execute(f"SET mlops.vector_tree_walk = {walk}")
        got = mlops_outputs(model_id, X, nclasses > 0)
        ok = got.shape == ref.shape
        worst = max_rel(got, ref) if ok else float("inf")
        if ok:
            stats["values"] += ref.size
            stats["identical"] += int(np.sum(got == ref))
        tap.ok(ok and worst <= REL, f"{name}, vector_tree_walk {walk}: {len(X)} rows equal libxgboost's "
               f"within {REL:g} relative", f"shapes {got.shape} {ref.shape}, max relative difference {worst:.3g}")
    cur.execute("RESET mlops.vector_tree_walk")
    project, columns = deployed_project(model_id)
    if project is None:
        return
    got = column_outputs(project, columns, X, nclasses > 0)
    batched, single = got["on"], got["off"]
    same = batched[1].shape == ref.shape and np.array_equal(batched[1], ref)
    tap.ok(batched[0] and not single[0] and same and np.array_equal(batched[1], single[1])
           and batched[2] == single[2],
           f"{name}, table columns: batched (MlopsBatchPredict), one row at a time and libxgboost "
           f"give the same bits on {len(X)} rows",
           f"batch node used {batched[0]}/{single[0]}, equal to libxgboost {same}, "
           f"equal to one row at a time {np.array_equal(batched[1], single[1])}, labels {batched[2] == single[2]}")


# models trained by mlops: every objective, depths 1..8, early stopping, forests
for depth in range(1, 9):
    mid = train(f"nat_bin_d{depth}", "nat_bin", "xgboost", n_estimators=12, max_depth=depth)
    check(f"binary:logistic depth {depth}", mid, 2)
mid = train("nat_bin_es", "nat_bin", "xgboost", n_estimators=300, max_depth=4, learning_rate=0.5,
            early_stopping_rounds=3)
cur.execute("SELECT training->>'best_iteration', training->>'rounds' FROM mlops.models WHERE id = %s", (mid,))
best, rounds = cur.fetchone()
tap.ok(best is not None and int(best) + 1 < int(rounds), f"early stopping cut the trees ({best}, {rounds} rounds)")
check("binary:logistic with early stopping", mid, 2)
check("binary random forest", train("nat_bin_rf", "nat_bin", "random_forest", n_estimators=25, max_depth=7), 2)
for depth in (2, 6):
    check(f"multi:softprob 3 classes depth {depth}",
          train(f"nat_m3_d{depth}", "nat_multi3", "xgboost", n_estimators=10, max_depth=depth), 3)
check("multi:softprob 3 classes with early stopping",
      train("nat_m3_es", "nat_multi3", "xgboost", n_estimators=200, max_depth=3, early_stopping_rounds=2), 3)
check("3-class random forest", train("nat_m3_rf", "nat_multi3", "random_forest", n_estimators=15, max_depth=5), 3)
check("multi:softprob 10 classes depth 5",
      train("nat_m10", "nat_multi10", "xgboost", n_estimators=8, max_depth=5), 10)
check("10-class random forest", train("nat_m10_rf", "nat_multi10", "random_forest", n_estimators=10, max_depth=8), 10)
for depth in (1, 5, 8):
    check(f"reg:squarederror depth {depth}",
          train(f"nat_reg_d{depth}", "nat_reg", "xgboost", n_estimators=15, max_depth=depth), 0)
check("reg:squarederror with early stopping",
      train("nat_reg_es", "nat_reg", "xgboost", n_estimators=300, max_depth=3, early_stopping_rounds=3), 0)
check("regression random forest", train("nat_reg_rf", "nat_reg", "random_forest", n_estimators=20, max_depth=6), 0)


def store(model_id, blob):
    """Overwrite a stored model (as superuser); returns nothing."""
    cur.execute("UPDATE mlops.models SET model = %s WHERE id = %s", (psycopg2.Binary(bytes(blob)), model_id))


def crafted(model_id, edit):
    """Apply edit() to a stored model's libxgboost JSON and store the result as UBJSON."""
    bst = booster_of(model_id)
    model = json.loads(bytes(bst.save_raw("json")))
    edit(model)
    out = xgb.Booster()
    out.load_model(bytearray(json.dumps(model).encode()))
    store(model_id, out.save_raw("ubj"))
    return out


def trees(model):
    """The tree list of a model's JSON."""
    return model["learner"]["gradient_booster"]["model"]["trees"]


def set_base_score(value):
    """An edit: set base_score."""
    def edit(model):
        model["learner"]["learner_model_param"]["base_score"] = value
    return edit


def extreme_leaves(model):
    """An edit: leaves of -100 and +95 in the first tree (sigmoid/softmax overflow guards)."""
    t = trees(model)[0]
    leaves = [i for i, left in enumerate(t["left_children"]) if left == -1]
    t["split_conditions"][leaves[0]] = -100.0
    t["split_conditions"][leaves[-1]] = 95.0


# crafted models: base_score (probability space for binary:logistic), extreme margins
mid = train("nat_craft_bin", "nat_bin", "xgboost", n_estimators=10, max_depth=4)
check("binary:logistic with base_score 0.3", mid, 2, crafted(mid, set_base_score("3E-1")))
mid = train("nat_craft_bin2", "nat_bin", "xgboost", n_estimators=10, max_depth=4)
check("binary:logistic with leaves of -100 and 95", mid, 2, crafted(mid, extreme_leaves))
mid = train("nat_craft_reg", "nat_reg", "xgboost", n_estimators=10, max_depth=4)
check("reg:squarederror with base_score 2.5", mid, 0, crafted(mid, set_base_score("2.5E0")))
mid = train("nat_craft_m3", "nat_multi3", "xgboost", n_estimators=10, max_depth=4)
check("multi:softprob with base_score 0.2 and leaves of -100 and 95", mid, 3,
      crafted(mid, lambda m: (set_base_score("2E-1")(m), extreme_leaves(m))))


def deepest_leaf(bst):
    """The depth of the deepest leaf of a model's trees."""
    deepest = 0
    for tree in trees(json.loads(bytes(bst.save_raw("json")))):
        stack = [(0, 0)]
        while stack:
            node, depth = stack.pop()
            deepest = max(deepest, depth)
            if tree["left_children"][node] != -1:
                stack += [(tree["left_children"][node], depth + 1), (tree["right_children"][node], depth + 1)]
    return deepest


# the vector walk's edge cases (processors with AVX-512; elsewhere these take the scalar walk too):
# tree counts that are not a multiple of 16 or need several blocks of 128 trees, single-leaf trees,
# depth 10 (its deepest) and beyond (the scalar walk), rows of 31, 32 and 63 features (one and two
# tables of 32 values with the NaN slot) and of 64 features (the scalar walk)
check("binary:logistic with 37 trees",
      train("nat_bin_37", "nat_bin", "xgboost", n_estimators=37, max_depth=4), 2)
check("reg:squarederror with 150 trees",
      train("nat_reg_150", "nat_reg", "xgboost", n_estimators=150, max_depth=3, learning_rate=0.1), 0)
check("multi:softprob with 3 classes and 135 trees",
      train("nat_m3_135", "nat_multi3", "xgboost", n_estimators=45, max_depth=3, learning_rate=0.1), 3)
mid = train("nat_bin_leaves", "nat_bin", "xgboost", n_estimators=20, gamma=1e12)
tap.ok(deepest_leaf(booster_of(mid)) == 0, "gamma 1e12 grows single-leaf trees")
check("binary:logistic of single-leaf trees", mid, 2)
for depth in (10, 12):
    mid = train(f"nat_reg_deep{depth}", "nat_reg", "xgboost", n_estimators=12, max_depth=depth, min_child_weight=0)
    tap.ok(deepest_leaf(booster_of(mid)) == depth, f"max_depth {depth} grows leaves {depth} deep")
    check(f"reg:squarederror depth {depth}", mid, 0)
for nfeat in (31, 32, 63, 64):
    make_table(f"nat_wide{nfeat}", "int", lambda X: (noisy(X[:, ::-1]) > 0).astype(int), nfeat)
    check(f"binary:logistic on {nfeat} features",
          train(f"nat_wide{nfeat}", f"nat_wide{nfeat}", "xgboost", n_estimators=20, max_depth=5), 2)



def thresholds_per_feature(bst):
    """The number of distinct float32 split thresholds of each feature of a model."""
    seen = {}
    for tree in trees(json.loads(bytes(bst.save_raw("json")))):
        for left, feat, cond in zip(tree["left_children"], tree["split_indices"], tree["split_conditions"]):
            if left != -1:
                seen.setdefault(feat, set()).add(np.float32(cond))
    return [len(v) for v in seen.values()]


# the binned walk (processors with AVX-512): features with as many thresholds as hist's max_bin allows,
# 255 of 256 bins and 63 of 64, and more than 255 (max_bin 1024), on rows of many distinct values;
# deep trees use most cuts
cur.execute("DROP TABLE IF EXISTS nat_bins; CREATE TABLE nat_bins AS SELECT g AS id, "
            + ", ".join(f"(random() * 8 - 4)::float8 AS f{j}" for j in range(4))
            + ", (random() * 8 - 4)::float8 AS y FROM generate_series(1, 30000) g")
cur.execute("UPDATE nat_bins SET y = f0 * 3 + sin(f1 * 5) * 2 + f2 * f3 + y * 0.1")
for max_bin in (256, 64, 1024):
    mid = train(f"nat_bins{max_bin}", "nat_bins", "xgboost", n_estimators=40, max_depth=10,
                max_bin=max_bin, min_child_weight=0, learning_rate=0.3)
    most = max(thresholds_per_feature(booster_of(mid)))
    if max_bin <= 256:
        tap.ok(most == max_bin - 1, f"max_bin {max_bin}: a feature splits on all {max_bin - 1} cuts", most)
    else:
        tap.ok(most > 255, f"max_bin {max_bin}: a feature splits on more than 255 cuts (three levels of "
               "tables in the binned walk)", most)
    check(f"reg:squarederror with max_bin {max_bin}", mid, 0)

def thresholds_on_f0(count, ntrees):
    """An edit: ntrees trees (the model's, repeated), every other split on feature 0 against count thresholds.

    The other splits on feature 0 move to feature 1, so that feature 0 has exactly count thresholds.
    """
    def edit(model):
        g = model["learner"]["gradient_booster"]["model"]
        base, info = g["trees"], g["tree_info"]
        g["trees"] = [dict(json.loads(json.dumps(base[t % len(base)])), id=t) for t in range(ntrees)]
        g["tree_info"] = [info[t % len(base)] for t in range(ntrees)]
        g["gbtree_model_param"]["num_trees"] = str(ntrees)
        for key in ("best_iteration", "best_ntree_limit"):
            model["learner"].get("attributes", {}).pop(key, None)
        values = np.linspace(-4, 4, count, dtype=np.float32)
        k = 0
        for tree in g["trees"]:
            for i, left in enumerate(tree["left_children"]):
                if left != -1 and i % 2 == 0:
                    tree["split_indices"][i] = 0
                    tree["split_conditions"][i] = float(values[k % count])
                    k += 1
                elif left != -1 and tree["split_indices"][i] == 0:
                    tree["split_indices"][i] = 1
        assert k >= count, (k, count)
    return edit


# the rows-in-lanes batch walk (AVX-512BW and VBMI): trees at most 6 deep, 64 rows in 8-bit lanes when
# every feature has at most 255 thresholds, else 32 rows in 16-bit lanes up to 32767 thresholds (more:
# no binned form); depth 6 is its deepest, depth 7 takes the 16-tree walk
for depth in (6, 7):
    mid = train(f"nat_lanes_d{depth}", "nat_bins", "xgboost", n_estimators=30, max_depth=depth, max_bin=256,
                min_child_weight=0, learning_rate=0.3)
    tap.ok(deepest_leaf(booster_of(mid)) == depth, f"max_depth {depth} grows leaves {depth} deep")
    check(f"reg:squarederror depth {depth} with max_bin 256", mid, 0)
for count, ntrees, table, nclasses in ((255, 30, "nat_bins", 0), (256, 30, "nat_bins", 0),
                                       (256, 60, "nat_multi3", 3), (32767, 1100, "nat_bins", 0),
                                       (32768, 1100, "nat_bins", 0)):
    mid = train(f"nat_lanes_{count}_{nclasses}", table, "xgboost", n_estimators=10, max_depth=6,
                min_child_weight=0)
    bst = crafted(mid, thresholds_on_f0(count, ntrees))
    tap.ok(max(thresholds_per_feature(bst)) == count, f"a crafted model of {ntrees} trees 6 deep splits "
           f"feature 0 on {count} thresholds", thresholds_per_feature(bst))
    check(f"{'multi:softprob 3 classes' if nclasses else 'reg:squarederror'}, depth 6, {count} thresholds "
          "on one feature", mid, nclasses, bst)


def layout_outputs(project, columns, X, before, after=None, late=None):
    """Batched and one-row-at-a-time predict_proba of X's rows in a table of another layout.

    The model's columns follow the columns of `before` (DDL); `after` (SQL) runs once half of the
    rows are in; `late`, one of the model's columns, is added (DEFAULT 0.5) only then.
    """
    cols = [c for c in columns if c != late]
    cur.execute("DROP TABLE IF EXISTS probe_layout; CREATE TABLE probe_layout (i int" + before + ", "
                + ", ".join(f'"{c}" float8' for c in cols) + ")")
    half = len(X) // 2
    for part, rows in ((0, X[:half]), (1, X[half:])):
        if part == 1 and after:
            cur.execute(after)
        if part == 1 and late:
            cur.execute(f'ALTER TABLE probe_layout ADD COLUMN "{late}" float8 DEFAULT 0.5')
            cols = columns
        picked = [columns.index(c) for c in cols]
        buf = io.StringIO("".join(f"{i + part * half}\t" + "\t".join("\\N" if np.isnan(r[j]) else repr(float(r[j]))
                                                                    for j in picked) + "\n"
                                  for i, r in enumerate(rows)))
        cur.copy_from(buf, "probe_layout", columns=["i"] + cols)
    got = {}
    for batch in ("on", "off"):
        cur.execute(f"SET mlops.batch_predict = {batch}")
        cur.execute("SELECT mlops.predict_proba(%s, t) FROM probe_layout t ORDER BY i", (project,))
        got[batch] = np.array([r[0] for r in cur.fetchall()], dtype=float)
    cur.execute("RESET mlops.batch_predict")
    return got


# batch predict reads a row's float8 columns in place when the row has no NULLs and only fixed-width
# columns up to them, and deforms it otherwise: the same bits either way, whatever the table's layout
mid = train("nat_layout", "nat_bin", "xgboost", n_estimators=20, max_depth=6)
bst = booster_of(mid)
project, columns = deployed_project(mid)
X = probe_rows(bst)
for what, before, after, late in (
        ("after a text column (every row deformed)", ", note text DEFAULT 'a note'", None, None),
        ("after int and float4 columns", ", n int DEFAULT 7, r real DEFAULT 0.25, b bool DEFAULT true", None, None),
        ("after a column dropped once half of the rows are in", ", extra float8 DEFAULT 1.5",
         "ALTER TABLE probe_layout DROP COLUMN extra", None),
        ("with the last one added once half of the rows are in (DEFAULT 0.5)", "", None, columns[-1])):
    ref_X = X.copy()
    if late:
        ref_X[: len(X) // 2, columns.index(late)] = 0.5
    ref = reference(bst, ref_X, 2)
    got = layout_outputs(project, columns, X, before, after, late)
    tap.ok(np.array_equal(got["on"], ref) and np.array_equal(got["off"], ref),
           f"batch predict of the model's columns {what}: batched, one row at a time and libxgboost give "
           f"the same bits on {len(X)} rows",
           f"batched equal {np.array_equal(got['on'], ref)}, one row at a time equal {np.array_equal(got['off'], ref)}")


tap.ok(stats["identical"] == stats["values"],
       f"all {stats['values']} outputs are bit-identical to libxgboost's",
       f"{stats['values'] - stats['identical']} differ in the last bits")

# bad stored models: a clean error naming the model, the backend stays up
bad_cases = [
    ("garbage", lambda mid, blob: store(mid, b"this is not a model at all" * 10),
     "stored XGBoost model is corrupted"),
    ("a truncated blob", lambda mid, blob: store(mid, blob[: len(blob) // 2]),
     "stored XGBoost model is corrupted"),
    ("an empty blob", lambda mid, blob: store(mid, b""), "stored XGBoost model is corrupted"),
    ("a child index out of range",
     lambda mid, blob: crafted(mid, lambda m: trees(m)[1]["left_children"].__setitem__(0, 100000)),
     "Node 0 of tree 1 has children 100000"),
    ("a cycle back to the root",
     lambda mid, blob: crafted(mid, lambda m: trees(m)[0]["right_children"].__setitem__(1, 0)),
     "Node 1 of tree 0 has children"),
    ("a split on a feature the model does not have",
     lambda mid, blob: crafted(mid, lambda m: trees(m)[2]["split_indices"].__setitem__(0, NFEAT + 3)),
     f"splits on feature {NFEAT + 3} of {NFEAT}"),
    ("a tree adding to a class that does not exist",
     lambda mid, blob: crafted(mid, lambda m: m["learner"]["gradient_booster"]["model"]["tree_info"]
                               .__setitem__(0, 5)),
     "Tree 0 adds to output 5 of 1"),
    ("another objective",
     lambda mid, blob: crafted(mid, lambda m: m["learner"]["objective"].__setitem__("name", "reg:squarederror")),
     "does not match its metadata"),
]
for what, corrupt, expect in bad_cases:
    mid = train("nat_bad", "nat_bin", "xgboost", n_estimators=5, max_depth=3)
    cur.execute("SELECT model FROM mlops.models WHERE id = %s", (mid,))
    corrupt(mid, bytes(cur.fetchone()[0]))
    other = tap.connect()
    ocur = other.cursor()
    try:
        ocur.execute("SELECT mlops.predict(%s, ARRAY[1,2,3,4,5,6,7,8]::float8[])", (mid,))
        message = "no error"
    except psycopg2.Error as e:
        message = f"{e.pgcode} {e.pgerror}"
    tap.ok(message.startswith("XX001") and expect in message and f"loading model {mid}" in message,
           f"a stored model with {what} is a data-corrupted error naming model {mid}", message)
    ocur.execute("SELECT 1")
    tap.ok(ocur.fetchone() == (1,), f"the backend is alive after the model with {what}")
    other.close()

# random damage (flipped bytes, truncations, insertions): a model or a clean error, never a crash
mid = train("nat_fuzz", "nat_multi3", "xgboost", n_estimators=4, max_depth=3)
cur.execute("SELECT model FROM mlops.models WHERE id = %s", (mid,))
blob = bytes(cur.fetchone()[0])
outcomes = {}
for it in range(150):
    damaged = bytearray(blob)
    kind = rng.random()
    if kind < 0.3:
        damaged = damaged[: rng.integers(len(damaged))]
    elif kind < 0.8:
        for _ in range(rng.integers(1, 5)):
            damaged[rng.integers(len(damaged))] = rng.integers(256)
    else:
        at = rng.integers(len(damaged))
        damaged[at:at] = rng.integers(0, 256, size=rng.integers(1, 9), dtype=np.uint8).tobytes()
    store(mid, damaged)
    other = tap.connect()
    try:
        other.cursor().execute("SELECT mlops.predict_proba(%s, ARRAY[1,NULL,3,4,5,6,7,8]::float8[])", (mid,))
        outcome = "loaded"
    except psycopg2.Error as e:
        outcome = f"{e.pgcode} {e.diag.message_primary}"
    outcomes[outcome] = outcomes.get(outcome, 0) + 1
    other.close()
cur.execute("SELECT 1")
tap.ok(set(outcomes) <= {"loaded", "XX001 stored XGBoost model is corrupted",
                         "XX001 stored XGBoost model does not match its metadata",
                         "0A000 stored XGBoost model uses categorical splits"}
       and outcomes.get("XX001 stored XGBoost model is corrupted", 0) > 50 and cur.fetchone() == (1,),
       "150 randomly damaged models load or fail cleanly", outcomes)

mid = train("nat_fmt", "nat_bin", "xgboost", n_estimators=5, max_depth=3)
cur.execute("UPDATE mlops.models SET format = 99 WHERE id = %s", (mid,))
other = tap.connect()
try:
    other.cursor().execute("SELECT mlops.predict(%s, ARRAY[1,2,3,4,5,6,7,8]::float8[])", (mid,))
    err = None
except psycopg2.Error as e:
    err = e
tap.ok(err is not None and err.pgcode == "0A000" and "unknown format version 99" in err.pgerror
       and err.diag.message_hint is not None and "retrain" in err.diag.message_hint,
       "a model of format 99 is refused with a hint", err and err.pgerror)
other.close()

# predict is parallel safe and runs inside a parallel sequential scan
cur.execute("DROP TABLE IF EXISTS nat_big; CREATE TABLE nat_big AS "
            "SELECT g AS id, " + ", ".join(f"(random() * 4 - 2)::float8 AS f{j}" for j in range(NFEAT))
            + " FROM generate_series(1, 20000) g")
cur.execute("ANALYZE nat_big")
cur.execute("SELECT proparallel FROM pg_proc WHERE proname = 'predict' AND pronamespace = 'mlops'::regnamespace")
tap.ok({r[0] for r in cur.fetchall()} == {"s"}, "every mlops.predict is PARALLEL SAFE")
cur.execute("SELECT sum(mlops.predict('nat_reg_d5', t)), count(*) FROM nat_big t")
serial = cur.fetchone()
cur.execute("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; "
            "SET max_parallel_workers_per_gather = 2")
cur.execute("EXPLAIN (VERBOSE, COSTS OFF) SELECT id, mlops.predict('nat_reg_d5', t) FROM nat_big t")
plan = "\n".join(r[0] for r in cur.fetchall())
tap.ok("Gather" in plan and "Parallel Seq Scan on public.nat_big" in plan
       and 0 <= plan.find("Custom Scan (MlopsBatchPredict)") < plan.find("Parallel Seq Scan")
       and "mlops.predict('nat_reg_d5'::text, t.*)" in plan,
       "EXPLAIN shows predict batched above a Parallel Seq Scan", plan)
cur.execute("EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
            "SELECT sum(mlops.predict('nat_reg_d5', t)), count(*) FROM nat_big t")
plan = "\n".join(r[0] for r in cur.fetchall())
tap.ok("Workers Launched: 2" in plan or "Workers Launched: 1" in plan, "parallel workers ran predict", plan)
cur.execute("SELECT sum(mlops.predict('nat_reg_d5', t)), count(*) FROM nat_big t")
parallel = cur.fetchone()
tap.is_close(parallel[0], serial[0], rel=1e-12, name="the parallel scan predicts what the serial scan does")
cur.execute("RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; "
            "RESET max_parallel_workers_per_gather")

tap.done_testing()
