"""Featurization parity with scikit-learn.

- Frozen statistics equal scikit-learn's fitted SimpleImputer, StandardScaler,
  MinMaxScaler, MaxAbsScaler, RobustScaler and OneHotEncoder on the same
  training rows, and mlops.featurize equals the scikit-learn transform row by
  row (1e-9 relative).
- Models on mixed data (NULLs, text factors, dates) are as good as the
  equivalent scikit-learn pipeline + XGBoost / LogisticRegression on the same
  split (accuracy and AUC within 0.01).
- `linear` with one-hot categories predicts what OneHotEncoder(
  handle_unknown='ignore') + LinearRegression predicts (1e-6 relative), a
  rank-deficient design since the one-hot columns sum to the intercept.
"""
import json
import warnings

import numpy as np
import sklearn.metrics as skm
import xgboost as xgb
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import (MaxAbsScaler, MinMaxScaler, OneHotEncoder, OrdinalEncoder,
                                   RobustScaler, StandardScaler)

import refdata
import tap

warnings.filterwarnings("ignore")  # newton-cg's convergence chatter at tol=1e-12
conn = tap.connect()
cur = conn.cursor()


def query(sql, args=None):
    cur.execute(sql, args)
    return cur.fetchall()


def train(project, table, label, algorithm="xgboost", preprocess=None, hp=None, exclude="{id,ord}"):
    cur.execute(f"SELECT model_id, metrics FROM mlops.train(%s, %s, %s, algorithm => %s, preprocess => %s, "
                f"hyperparams => %s, exclude => %s, split => 'last', order_by => 'ord', test_size => 0.25, "
                f"deploy => 'never')",
                (project, table, label, algorithm, json.dumps(preprocess or {}), json.dumps(hp or {}), exclude))
    return cur.fetchone()


def featurize(model_id, table):
    rows = query(f"SELECT mlops.featurize(%s, t) FROM {table} t ORDER BY ord", (model_id,))
    return np.array([[np.nan if v is None else v for v in r[0]] for r in rows], dtype=float)


def columns(table, label):
    cur.execute(f"SELECT * FROM {table} LIMIT 0")
    return [d[0] for d in cur.description if d[0] not in ("id", "ord", label)]


def inputs(model_id):
    return {r[0]: r[1] for r in query("SELECT input, transform FROM mlops.model_features "
                                      "WHERE model_id = %s", (model_id,))}


# --- numeric transforms on Pima (NULLs in five columns) ---------------------
refdata.load(conn, "pima", "pima_diabetes.csv", "diabetes", "text")
X, y, ntrain = refdata.fetch(conn, "pima", "diabetes")
names = columns("pima", "diabetes")
SCALERS = {"standard": StandardScaler(), "min_max": MinMaxScaler(), "max_abs": MaxAbsScaler(),
           "robust": RobustScaler()}
IMPUTERS = {"mean": SimpleImputer(strategy="mean"), "median": SimpleImputer(strategy="median"),
            "mode": SimpleImputer(strategy="most_frequent"),
            "constant": SimpleImputer(strategy="constant", fill_value=-7.5)}
for (iname, imp), (sname, sc) in zip(IMPUTERS.items(), SCALERS.items()):
    setting = {"impute": {"constant": -7.5} if iname == "constant" else iname, "scale": sname}
    model_id, _ = train(f"pima_{iname}_{sname}", "pima", "diabetes", "logistic",
                        {n: setting for n in names})
    Xi = imp.fit(X[:ntrain]).transform(X)
    ref = sc.fit(Xi[:ntrain]).transform(Xi)
    got = inputs(model_id)
    fills = [got[n]["fill"] for n in names]
    tap.is_close(fills, list(imp.statistics_), rel=1e-9, abs=1e-12,
                 name=f"impute {iname}: the frozen fill values equal SimpleImputer's")
    if sname == "standard":
        stats = (list(sc.mean_) + list(sc.scale_))
    elif sname == "min_max":
        stats = (list(sc.data_min_) + list(sc.data_max_ - sc.data_min_))
    elif sname == "max_abs":
        stats = [0.0] * len(names) + list(sc.max_abs_)
    else:
        stats = (list(sc.center_) + list(sc.scale_))
    tap.is_close([got[n]["center"] for n in names] + [got[n]["scale_by"] for n in names], stats,
                 rel=1e-9, abs=1e-12, name=f"scale {sname}: the frozen statistics equal {type(sc).__name__}'s")
    tap.is_close(list(featurize(model_id, "pima").ravel()), list(ref.ravel()), rel=1e-9, abs=1e-12,
                 name=f"{iname} + {sname}: mlops.featurize equals the scikit-learn pipeline on every row")

# --- one-hot on the original Wisconsin data (text factors with NULLs) -------
tap.load_csv(conn, "bcw", tap.datasets_dir() / "breast_cancer_wisconsin.csv", "class", "text",
             types={c: "text" for c in ["cl_thickness", "cell_size", "cell_shape", "marg_adhesion",
                                        "epith_c_size", "bare_nuclei", "bl_cromatin", "normal_nucleoli",
                                        "mitoses"]} | {"id": "bigint"}, id_col="row_id")
cur.execute("ALTER TABLE bcw ADD COLUMN ord int; UPDATE bcw SET ord = row_id * 104729 % 1000003")
rows = query("SELECT * FROM bcw ORDER BY ord")
cols = [d[0] for d in cur.description]
factor_names = [c for c in cols if c not in ("row_id", "id", "ord", "class")]
F = np.array([[r[cols.index(c)] for c in factor_names] for r in rows], dtype=object)
yb = [r[cols.index("class")] for r in rows]
ntrain_b = len(rows) - int(np.ceil(0.25 * len(rows)))
model_id, metrics = train("bcw_lin", "bcw", "class", "logistic", exclude="{row_id,id,ord}")
ohe = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(F[:ntrain_b])
got_cats = inputs(model_id)
tap.ok(all(got_cats[c]["categories"] == [v for v in ohe.categories_[i] if v is not None]
           and got_cats[c]["null_category"] == (None in list(ohe.categories_[i]))
           for i, c in enumerate(factor_names)),
       "one-hot: the frozen categories (NULL last) equal OneHotEncoder's")
feat = np.array([[v for v in r[0]] for r in query("SELECT mlops.featurize(%s, t) FROM bcw t ORDER BY ord",
                                                  (model_id,))], dtype=float)
tap.is_close(list(feat.ravel()), list(ohe.transform(F).ravel()), rel=0, abs=0,
             name="one-hot: mlops.featurize equals OneHotEncoder(handle_unknown='ignore') on every row")
yi, labels = refdata.label_indices(yb)
lr = LogisticRegression(solver="newton-cg", tol=1e-12, max_iter=10000).fit(ohe.transform(F[:ntrain_b]), yi[:ntrain_b])
p_ref = lr.predict_proba(ohe.transform(F[ntrain_b:]))[:, 1]
tap.is_close(metrics["roc_auc"], skm.roc_auc_score(yi[ntrain_b:], p_ref), abs=0.01,
             name="bcw logistic one-hot: roc_auc within 0.01 of scikit-learn's pipeline")
tap.is_close(metrics["accuracy"], skm.accuracy_score(yi[ntrain_b:], p_ref > 0.5), abs=0.01,
             name="bcw logistic one-hot: accuracy within 0.01 of scikit-learn's pipeline")

# XGBoost with ordinal-encoded factors against OrdinalEncoder + XGBoost
model_id, metrics = train("bcw_xgb", "bcw", "class", hp={"n_estimators": 30}, exclude="{row_id,id,ord}")
# NULL is a missing value for ordinal encoding (OrdinalEncoder treats None as a category, NaN as missing)
F_nan = np.where(F == None, np.nan, F)  # noqa: E711
oe = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                    encoded_missing_value=np.nan).fit(F_nan[:ntrain_b])
Fo = oe.transform(F_nan).astype(np.float32)
bst = xgb.train({"objective": "binary:logistic", "tree_method": "hist", "max_depth": 6, "eta": 0.3,
                 "seed": 42, "nthread": 1}, xgb.DMatrix(Fo[:ntrain_b], label=yi[:ntrain_b]), 30)
p_ref = bst.predict(xgb.DMatrix(Fo[ntrain_b:]))
tap.is_close(list(featurize(model_id, "bcw").ravel()), list(Fo.astype(float).ravel()), rel=0, abs=0,
             name="ordinal: mlops.featurize equals OrdinalEncoder (NULL and unknown missing)")
tap.is_close(metrics["roc_auc"], skm.roc_auc_score(yi[ntrain_b:], p_ref), abs=0.01,
             name="bcw xgboost ordinal: roc_auc within 0.01 of OrdinalEncoder + XGBoost")
tap.is_close(metrics["accuracy"], skm.accuracy_score(yi[ntrain_b:], p_ref > 0.5), abs=0.01,
             name="bcw xgboost ordinal: accuracy within 0.01 of OrdinalEncoder + XGBoost")

# --- a mixed data set: Pima with a date, text categories and NULLs ------------
cur.execute("""
    DROP TABLE IF EXISTS pima_mixed; CREATE TABLE pima_mixed AS
    SELECT id, ord, diabetes,
           glucose, mass, pedigree, insulin,
           CASE WHEN age < 30 THEN 'young' WHEN age < 50 THEN 'middle' ELSE 'senior' END AS age_group,
           CASE WHEN pregnant IS NULL THEN NULL WHEN pregnant = 0 THEN 'none'
                WHEN pregnant < 4 THEN 'few' ELSE 'many' END AS pregnancies,
           date '2020-01-01' + (id * 37 % 1400)::int AS visit
      FROM pima""")
Xm_rows = query("SELECT glucose, mass, pedigree, insulin, age_group, pregnancies, visit, diabetes "
                "FROM pima_mixed ORDER BY ord")
num = np.array([[np.nan if v is None else float(v) for v in r[:4]] for r in Xm_rows])
cat = np.array([[r[4], r[5]] for r in Xm_rows], dtype=object)
dates = [r[6] for r in Xm_rows]
date_parts = np.array([[(d - __import__("datetime").date(1970, 1, 1)).days * 86400.0, d.year, d.month, d.day,
                        (d.weekday() + 1) % 7] for d in dates])  # a date has no hour
ym, _ = refdata.label_indices([r[7] for r in Xm_rows])
nt = len(Xm_rows) - int(np.ceil(0.25 * len(Xm_rows)))

model_id, metrics = train("mixed_lin", "pima_mixed", "diabetes", "logistic", hp={"tol": 1e-10})
num_all = np.hstack([num, date_parts])
imp = SimpleImputer(strategy="mean").fit(num_all[:nt])
sc = StandardScaler().fit(imp.transform(num_all[:nt]))
numz = sc.transform(imp.transform(num_all))
ohe = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(cat[:nt])
catz = ohe.transform(cat)
# mlops's order: glucose, mass, pedigree, insulin, age_group (3), pregnancies (4), visit (5 parts)
ours = np.hstack([numz[:, :4], catz, numz[:, 4:]])
tap.is_close(list(featurize(model_id, "pima_mixed").ravel()), list(ours.ravel()), rel=1e-9, abs=1e-9,
             name="mixed: mlops.featurize equals SimpleImputer+StandardScaler / OneHotEncoder / date parts")
lr = LogisticRegression(solver="newton-cg", tol=1e-12, max_iter=10000).fit(ours[:nt], ym[:nt])
p_ref = lr.predict_proba(ours[nt:])[:, 1]
got = np.array([r[0][1] for r in query("SELECT mlops.predict_proba(%s, t) FROM pima_mixed t ORDER BY ord "
                                       "OFFSET %s", (model_id, nt))])
tap.is_close(list(got), list(p_ref), rel=1e-4, abs=1e-6,
             name="mixed logistic: probabilities equal the scikit-learn pipeline's (1e-4)")
tap.is_close([metrics["accuracy"], metrics["roc_auc"]],
             [skm.accuracy_score(ym[nt:], p_ref > 0.5), skm.roc_auc_score(ym[nt:], p_ref)], abs=0.01,
             name="mixed logistic: accuracy and AUC within 0.01 of the scikit-learn pipeline")

model_id, metrics = train("mixed_xgb", "pima_mixed", "diabetes", hp={"n_estimators": 30})
cat_nan = np.where(cat == None, np.nan, cat)  # noqa: E711
oe = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                    encoded_missing_value=np.nan).fit(cat_nan[:nt])
Xo = np.hstack([num, oe.transform(cat_nan), date_parts]).astype(np.float32)
bst = xgb.train({"objective": "binary:logistic", "tree_method": "hist", "max_depth": 6, "eta": 0.3,
                 "seed": 42, "nthread": 1}, xgb.DMatrix(Xo[:nt], label=ym[:nt]), 30)
p_ref = bst.predict(xgb.DMatrix(Xo[nt:]))
tap.is_close([metrics["accuracy"], metrics["roc_auc"]],
             [skm.accuracy_score(ym[nt:], p_ref > 0.5), skm.roc_auc_score(ym[nt:], p_ref)], abs=0.01,
             name="mixed xgboost: accuracy and AUC within 0.01 of OrdinalEncoder + XGBoost")

# --- linear regression with one-hot categories: a rank-deficient design --------
refdata.load(conn, "diab", "diabetes.csv", "progression", "float8")
cur.execute("""DROP TABLE IF EXISTS diab_cat; CREATE TABLE diab_cat AS
               SELECT id, ord, progression, bmi, bp, s5,
                      CASE WHEN sex = 1 THEN 'f' ELSE 'm' END AS sex,
                      CASE WHEN age < 40 THEN 'a' WHEN age < 55 THEN 'b' ELSE 'c' END AS age_band
                 FROM diab""")
model_id, _ = train("diab_cat", "diab_cat", "progression", "linear")
rows = query("SELECT bmi, bp, s5, sex, age_band, progression FROM diab_cat ORDER BY ord")
num = np.array([[r[0], r[1], r[2]] for r in rows], dtype=float)
cat = np.array([[r[3], r[4]] for r in rows], dtype=object)
yd = np.array([r[5] for r in rows], dtype=float)
nt = len(rows) - int(np.ceil(0.25 * len(rows)))
ohe = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(cat[:nt])
sc = StandardScaler().fit(num[:nt])
Xd = np.hstack([sc.transform(num), ohe.transform(cat)])
lin = LinearRegression().fit(Xd[:nt], yd[:nt])
got = [r[0] for r in query("SELECT mlops.predict(%s, t) FROM diab_cat t ORDER BY ord OFFSET %s", (model_id, nt))]
tap.is_close(got, list(lin.predict(Xd[nt:])), rel=1e-6, abs=1e-8,
             name="linear one-hot (rank-deficient): predictions equal OneHotEncoder + LinearRegression")
got = [r[0] for r in query("SELECT mlops.predict(%s, t) FROM (SELECT bmi, bp, s5, 'x' AS sex, age_band "
                           "FROM diab_cat ORDER BY ord LIMIT 5) t", (model_id,))]
ref = lin.predict(np.hstack([sc.transform(num[:5]), ohe.transform(np.column_stack([["x"] * 5, cat[:5, 1]]))]))
tap.is_close(got, list(ref), rel=1e-6, abs=1e-8,
             name="linear one-hot: an unseen category predicts as OneHotEncoder's all-zero encoding")
tap.done_testing()
