"""import_xgboost on real data with NULLs and text columns (issue 11).

pima_diabetes.csv has NULLs (XGBoost's missing values); we add text
columns: age_band ('young', 'mid', 'old', with NULLs) and the text label.
A data scientist encodes a text column as numbers before XGBoost sees it;
here Python encodes age_band as its index among the sorted categories (NaN
for NULL) and the database does the same in a view, so the booster's
features are numeric columns of the view while the rows mlops scores still
hold the text columns (ignored: a row is matched to the model by name).
Boosters trained by Python XGBoost (binary:logistic, multi:softprob,
reg:squarederror) and saved with save_model('m.json') are served by
mlops.import_xgboost; predict/predict_proba on every row, as a record and
as jsonb with the text keys, equal Python's predict within 1e-6 relative.
mlops.explain equals pred_contribs on them too.  A booster with XGBoost's
own categorical splits (enable_categorical) is refused with a clear error.
"""
import json
import os
import tempfile

import numpy as np
import psycopg2
import xgboost as xgb

import tap

conn = tap.connect()
cur = conn.cursor()
NUMERIC = ["pregnant", "glucose", "pressure", "triceps", "insulin", "mass", "pedigree", "age"]
BANDS = ["mid", "old", "young"]
cur.execute("DROP VIEW IF EXISTS imp_pima_encoded")
tap.load_csv(conn, "imp_pima", tap.datasets_dir() / "pima_diabetes.csv", "diabetes")
cur.execute("""ALTER TABLE imp_pima ADD COLUMN age_band text;
    UPDATE imp_pima SET age_band = CASE WHEN age < 30 THEN 'young' WHEN age < 50 THEN 'mid' ELSE 'old' END;
    UPDATE imp_pima SET age_band = NULL WHERE id % 9 = 0;
    CREATE VIEW imp_pima_encoded AS
    SELECT *, CASE age_band WHEN 'mid' THEN 0 WHEN 'old' THEN 1 WHEN 'young' THEN 2 END::float8 AS age_band_code
      FROM imp_pima""")
cur.execute(f"SELECT {', '.join(NUMERIC)}, age_band, diabetes FROM imp_pima ORDER BY id")
rows = cur.fetchall()
X = np.array([[np.nan if v is None else v for v in r[:8]]
              + [np.nan if r[8] is None else BANDS.index(r[8])] for r in rows], dtype=np.float32)
tap.ok(np.isnan(X[:, :8]).any() and np.isnan(X[:, 8]).any(), "numeric and text columns have NULLs")
y = np.array([1.0 if r[9] == "pos" else 0.0 for r in rows])
features = NUMERIC[:5] + ["age_band_code"] + NUMERIC[5:7]  # the booster's own order, not the table's
Xb = X[:, [0, 1, 2, 3, 4, 8, 5, 6]]
cur.execute("SELECT pg_typeof(age_band)::text, pg_typeof(diabetes)::text FROM imp_pima LIMIT 1")
tap.ok(cur.fetchone() == ("text", "text"), "the scored rows hold text columns")

for objective, label, extra, task, labels in [
    ("binary:logistic", y, {}, "classification", ["neg", "pos"]),
    ("multi:softprob", np.nan_to_num(X[:, 8], nan=1), {"num_class": 3}, "classification", BANDS),
    ("reg:squarederror", np.nan_to_num(X[:, 7]), {}, "regression", None),
]:
    params = {"objective": objective, "max_depth": 5, "eta": 0.2, "seed": 5, "tree_method": "hist", "nthread": 2, **extra}
    booster = xgb.train(params, xgb.DMatrix(Xb, label=label), num_boost_round=30)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.json")
        booster.save_model(path)
        with open(path) as f:
            doc = f.read()
    project = "imp_" + objective.split(":")[0]
    cur.execute("SELECT model_id FROM mlops.import_xgboost(%s, %s, %s, %s, %s)",
                (project, doc, features, task, labels))
    model_id = cur.fetchone()[0]
    ref = np.asarray(booster.predict(xgb.DMatrix(Xb)), dtype=float)
    fn = "predict" if task == "regression" else "predict_proba"
    cur.execute(f"SELECT mlops.{fn}(%s, t) FROM imp_pima_encoded t ORDER BY id", (model_id,))
    got = np.array([r[0] for r in cur.fetchall()], dtype=float)
    if objective == "binary:logistic":
        got = got[:, 1]
    tap.is_close(got.ravel().tolist(), ref.ravel().tolist(), rel=1e-6, abs=1e-7,
                 name=f"{objective}: rows with NULLs and text columns predict what Python XGBoost predicts")
    cur.execute(f"SELECT mlops.{fn}(%s, to_jsonb(t)) FROM imp_pima_encoded t ORDER BY id", (model_id,))
    got = np.array([r[0] for r in cur.fetchall()], dtype=float)
    if objective == "binary:logistic":
        got = got[:, 1]
    tap.is_close(got.ravel().tolist(), ref.ravel().tolist(), rel=1e-6, abs=1e-7,
                 name=f"{objective}: and so do the rows as jsonb, text keys included")
    contribs = booster.predict(xgb.DMatrix(Xb), pred_contribs=True)
    margin = booster.predict(xgb.DMatrix(Xb), output_margin=True)
    if contribs.ndim == 2:
        contribs, margin = contribs[:, None, :], margin[:, None]
    cur.execute("SELECT e.contribution FROM imp_pima_encoded t CROSS JOIN LATERAL mlops.explain(%s::bigint, t) "
                "WITH ORDINALITY e ORDER BY t.id, e.ordinality", (model_id,))
    ex = np.array([r[0] for r in cur.fetchall()]).reshape(contribs.shape)
    err = float((np.abs(ex - contribs) / np.maximum(1, np.abs(margin))[:, :, None]).max())
    tap.ok(err <= 1e-5, f"{objective}: explain equals pred_contribs", f"worst {err:.3g}")

# libxgboost trusts a tree's parents and its categorical arrays (it indexes
# with them unchecked): a document that lies about them is refused before
# libxgboost reads it, and the backend lives on
def lying(change):
    d = json.loads(doc)
    change(d["learner"]["gradient_booster"]["model"]["trees"][0])
    return json.dumps(d)


def refused(document):
    try:
        cur.execute("SELECT model_id FROM mlops.import_xgboost('imp_lie', %s, %s, 'regression')",
                    (document, features))
        return None, "accepted"
    except psycopg2.Error as e:
        return e.pgcode, e.pgerror


code, message = refused(lying(lambda t: t["parents"].__setitem__(1, 99999)))
tap.ok(code == "XX001" and "has parent 99999" in message and "before libxgboost reads it" in message,
       "a parent out of range is refused before libxgboost reads the document", message)
code, message = refused(lying(lambda t: t["parents"].__setitem__(2, 1)))
tap.ok(code == "XX001" and "whose parents are" in message, "a parent that is not the node's parent is refused",
       message)
code, message = refused(lying(lambda t: t.update(categories_nodes=[0], categories_segments=[7],
                                                  categories_sizes=[3], categories=[1])))
tap.ok(code == "XX001" and "categories" in message and "no categorical split" in message,
       "categorical arrays on a tree without categorical splits are refused", message)
cur.execute("SELECT count(*) FROM mlops.lineage WHERE project = 'imp_lie'")
tap.ok(cur.fetchone()[0] == 0, "and nothing was registered")

# XGBoost's own categorical splits cannot be served natively: a clear refusal
Xc = Xb.copy()
Xc[:, 5] = np.nan_to_num(Xc[:, 5], nan=1)
booster = xgb.train({"objective": "binary:logistic", "tree_method": "hist", "max_cat_to_onehot": 1, "max_depth": 3},
                    xgb.DMatrix(Xc, label=y, feature_types=["q"] * 5 + ["c"] + ["q"] * 2, enable_categorical=True),
                    num_boost_round=5)
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "m.json")
    booster.save_model(path)
    with open(path) as f:
        doc = f.read()


def refusal(document):
    try:
        cur.execute("SELECT model_id FROM mlops.import_xgboost('imp_cat', %s, %s, 'classification')",
                    (document, features))
        return None, "accepted"
    except psycopg2.Error as e:
        return e.pgcode, e.pgerror


# XGBoost writes NaN split conditions for categorical nodes: not JSON, so jsonb refuses the document
code, message = refusal(doc)
tap.ok(code == "22P02" and "NaN" in message, "its JSON (NaN conditions) is refused by jsonb", message)
# with the NaN replaced, mlops names the reason
code, message = refusal(doc.replace("NaN", "0"))
tap.ok(code == "0A000" and "categorical splits" in message, "and with numbers there, its categorical splits are",
       message)
tap.done_testing()
