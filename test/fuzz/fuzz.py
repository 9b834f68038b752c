#!/usr/bin/env python3
"""Fuzz every SQL function of schema mlops; fail on a backend crash.

Run by test/fuzz/run.sh on its throwaway cluster (fixtures loaded). Two phases:

  functions   every function of schema mlops, discovered from pg_proc, called
              as the non-superuser role (--role) with arguments drawn per type
              and parameter name: NULL, valid and unknown names, injection-ish,
              long and unicode strings, NaN, infinities, integer extremes, huge,
              empty, multidimensional and NULL-holding arrays, odd jsonb (deep,
              huge numbers, wrong kinds, every hyperparameter, preprocess and
              policy key with wrong values), intervals, rows of the fixtures
  corruption  as superuser: copies of trained models with randomly corrupted
              columns of mlops.models (labels, features, profile, hyperparams,
              metrics, model bytes, ...), then predict*, featurize, weights,
              drift, evaluate, deploy, retrain and every function taking a
              model_id on them, as superuser and as the owner role

Each call is its own transaction under statement_timeout. Errors are expected
and counted by SQLSTATE. A lost connection, a crash line in the server log
("terminated by signal", TRAP, PANIC) or a call running past --hang seconds is
a failure, printed with the SQL that reproduces it. Exit status 1 on failure.
"""

import argparse
import collections
import json
import os
import random
import re
import sys
import time

import psycopg2
import psycopg2.extensions

# Server log lines that mean a process died
CRASH_RE = re.compile(r"terminated by signal|TRAP:|PANIC:|server process \(PID \d+\) exited with exit code")

# Known crashes and hangs kept out of the run until fixed: (name, predicate on a
# Call, reason).  Empty: the random-forest hang it held was fixed (issue 10).
SKIP = []

# Corruptions of a copy of a fixture model of an algorithm that crashed a
# backend once: (name, algorithm, SET clause), replayed first on every run
REGRESSIONS = [
    ("NULL label", "logistic", "labels = labels || NULL::text"),
    ("non-string feature name", "linear", "features = jsonb_set(features, '{inputs,0,features,0}', '1')"),
    ("feature list that is an object", "ridge",
     "features = jsonb_set(features, '{inputs,0,features}', '{\"a\": \"b\"}')"),
]

HYPERPARAMS = ["n_estimators", "num_boost_round", "max_depth", "learning_rate", "eta", "subsample",
               "colsample_bytree", "colsample_bynode", "min_child_weight", "reg_lambda", "lambda",
               "reg_alpha", "gamma", "min_split_loss", "max_bin", "scale_pos_weight",
               "early_stopping_rounds", "alpha", "l1_ratio", "C", "penalty", "max_iter", "tol",
               "fit_intercept"]
TREE_SIZE_KEYS = {"n_estimators", "num_boost_round", "max_depth", "max_bin"}
PREPROCESS_KEYS = ["impute", "scale", "encode", "max_categories"]
PREPROCESS_VALUES = ["mean", "median", "mode", "min", "max", "zero", "error", "constant", "none",
                     "standard", "min_max", "max_abs", "robust", "one_hot", "ordinal", "target"]
POLICY_KEYS = ["retrain", "drift_share", "min_improvement", "deploy"]
POLICY_VALUES = ["on_drift", "always", "auto", "never"]

# Names by parameter name: the valid ones first, a few invalid ones after
NAMED_CHOICES = {
    "algorithm": ["xgboost", "random_forest", "logistic", "linear", "ridge", "lasso", "elastic_net",
                  "XGBoost", "svm", "xgboost "],
    "task": ["classification", "regression", "clustering", "Classification"],
    "strategy": ["best_score", "most_recent", "rollback", "specific", "canary", "shadow", "promote", "abort",
                 "worst"],
    "split": ["random", "stratified", "last", "kfold"],
    "deploy": ["auto", "always", "never", "sometimes"],
    "method": ["auto", "ks", "wasserstein", "psi", "jensen_shannon", "chi2", "l_infinity", "t_test"],
    "privilege": ["predict", "train", "deploy", "approve", "admin", "all", "select"],
    "stage": ["none", "staging", "archived", "production"],
}

NASTY_STRINGS = [
    "", " ", "nope", "x'); DROP TABLE fz.iris; --", "'; SELECT pg_sleep(10); --", "\"; SELECT 1; --",
    "fz.iris; DROP TABLE fz.iris", "%s%s%s%n%x", "\\", "\"", "\"\"", "'", "a.b.c.d", "fz.", ".iris",
    "ünï©ødé ✓ 𝔘", "\u200b", "NULL", "null", "public", "pg_catalog.pg_authid", "mlops.models",
    "-1", "1e308", "NaN", "Infinity", "{}", "[]", "$1", "\t\n", "A" * 64, "x" * 10240,
]

NUMBERS = ["0", "-0", "1", "-1", "2", "0.25", "0.5", "1.5", "10", "100", "1e12", "1e300", "-1e300",
           "1e-320", "2147483647", "2147483648", "-2147483649", "9223372036854775807",
           "1e100000", "-1e100000", "123456789012345678901234567890", "0.000000000000000000001"]


# Target columns of the fixture relations, for coherent (relation, target) pairs
TARGETS = {
    "fz.iris": ["species"], "fz.diabetes": ["progression"], "fz.pima": ["diabetes"], "fz.wine": ["cultivar"],
    "fz.odd": ["y", "yr", "ycat", "cat", "flag", "d", "m", "x"], "fz.empty": ["y", "yr"], "fz.one_row": ["y"],
    "fz.one_class": ["y"], "fz.constant": ["y", "yr"], "fz.all_null": ["y"], "fz.no_features": ["y"],
    "fz.ragged": ["y"], "fz.huge": ["y"], "fz.many_classes": ["y"], "fz.odd_view": ["y"], "fz.private": ["y"],
}


class Raw(str):
    """A JSON token written as is (numbers beyond float, deep nesting)."""


def jdump(v):
    """JSON text of a Python value, Raw tokens verbatim."""
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, dict):
        return "{" + ", ".join(json.dumps(str(k)) + ": " + jdump(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(jdump(x) for x in v) + "]"
    if isinstance(v, float) and v != v:
        return "null"
    return json.dumps(v)


def jload(text):
    """A Python value of JSON text; numbers beyond float and int limits stay Raw tokens."""
    if text is None:
        return None
    return json.loads(text, parse_int=lambda t: int(t) if len(t) < 100 else Raw(t),
                      parse_float=lambda t: float(t) if abs(float(t)) < float("inf") else Raw(t),
                      parse_constant=Raw)


# jsonb and json come back as text, read by jload
psycopg2.extensions.register_type(psycopg2.extensions.new_type((3802, 114), "JSONTEXT", lambda v, cur: jload(v)))


def lit(s):
    """SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


class Call:
    """One SQL statement, with what the skip-list looks at."""

    def __init__(self, fname, sql, role, setup=()):
        self.fname = fname
        self.sql = sql
        self.role = role
        self.setup = setup        # superuser statements that made the registry rows it uses


class World:
    """What exists on the server: projects, models, relations, columns, jobs."""

    def __init__(self):
        self.fixture_projects = None
        self.fixture_models = None
        self.projects = []
        self.models = []          # dicts: id, project, algorithm, relation, names, ninputs, nfeatures
        self.relations = []
        self.columns = []
        self.jobs = []

    def refresh(self, cur):
        """Read it all again (as superuser); the first time also notes the fixtures."""
        cur.execute("SELECT name FROM mlops.projects ORDER BY id")
        self.projects = [r[0] for r in cur.fetchall()]
        cur.execute("""SELECT m.id, p.name, m.algorithm, m.training->>'relation', m.features
                         FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id ORDER BY m.id""")
        self.models = []
        for mid, project, alg, rel, feats in cur.fetchall():
            names, ninputs, nfeatures = [], 0, 0
            if isinstance(feats, dict):
                cols = feats.get("columns")
                if isinstance(cols, list):
                    names = [c.get("name") for c in cols if isinstance(c, dict) and isinstance(c.get("name"), str)]
                ins = feats.get("inputs")
                ninputs = len(ins) if isinstance(ins, list) else 0
                nfeatures = feats.get("nfeatures") if isinstance(feats.get("nfeatures"), int) else 0
            self.models.append(dict(id=mid, project=project, algorithm=alg, relation=rel, names=names,
                                    ninputs=ninputs, nfeatures=nfeatures))
        cur.execute("""SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                         JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = 'fz' AND c.relkind IN ('r', 'v') ORDER BY 1""")
        self.relations = [r[0] for r in cur.fetchall()]
        cur.execute("""SELECT DISTINCT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                         JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = 'fz' AND a.attnum > 0 ORDER BY 1""")
        self.columns = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT id FROM mlops.jobs ORDER BY id DESC LIMIT 20")
        self.jobs = [r[0] for r in cur.fetchall()]
        if self.fixture_projects is None:
            self.fixture_projects = set(self.projects)
            self.fixture_models = {m["id"] for m in self.models}

    def scratch_projects(self):
        """Projects the fuzzer made (drop_* may take them, not the fixtures)."""
        return [p for p in self.projects if p not in self.fixture_projects]

    def scratch_models(self):
        """Models the fuzzer made."""
        return [m for m in self.models if m["id"] not in self.fixture_models]


class Gen:
    """Arguments drawn per type and parameter name."""

    def __init__(self, rng, world):
        self.rng = rng
        self.w = world
        self.protect = False      # drawing for a drop_* function: keep the fixtures
        self.tame = False         # drawing mostly valid arguments, so that calls get deep

    def projects(self):
        """The projects this draw may name."""
        return self.w.scratch_projects() if self.protect else self.w.projects

    def models(self):
        """The models this draw may name."""
        return self.w.scratch_models() if self.protect else self.w.models

    def pick(self, seq):
        """One element of seq."""
        return self.rng.choice(seq)

    def model(self):
        """A model this draw may name, or None."""
        models = self.models()
        return self.pick(models) if models else None

    # --- scalars -------------------------------------------------------------

    def text(self, pname):
        """A text argument: a name that fits the parameter, or a nasty string."""
        r = self.rng.random() * (0.6 if self.tame else 1.0)
        if r < 0.08 and not self.tame:
            return "NULL"
        if r < 0.6:
            if pname in ("project", "name"):
                if self.rng.random() < 0.25 or not self.projects():
                    return lit("scratch_%d" % self.rng.randint(1, 30))
                return lit(self.pick(self.projects()))
            if pname in ("relation", "reference") and self.w.relations:
                return lit(self.pick(self.w.relations + ["fz.private", "mlops.models", "pg_catalog.pg_class",
                                                         "pg_authid", "fz.nope", "FZ.IRIS", "fz.\"iris\""]))
            if pname in ("target", "order_by", "column") and self.w.columns:
                return lit(self.pick(self.w.columns + ["ctid", "xmin", "tableoid", "*", "1", "random()"]))
            if pname in NAMED_CHOICES:
                return lit(self.pick(NAMED_CHOICES[pname]))
            if pname == "role":
                return lit(self.pick(["fuzzer", "postgres", "public", "PUBLIC", "nobody", "pg_monitor"]))
        if r < 0.75 and self.w.projects and not self.protect:
            return lit(self.pick(self.w.projects + self.w.relations + self.w.columns))
        return lit(self.pick(NASTY_STRINGS))

    def bigint(self, pname):
        """A bigint argument: a model or job id, or an extreme."""
        r = self.rng.random() * (0.6 if self.tame else 1.0)
        if r < 0.08 and not self.tame:
            return "NULL"
        if r < 0.6 and pname in ("job_id", "request_id") and self.w.jobs:
            return str(self.pick(self.w.jobs))
        if r < 0.6 and self.models():
            return str(self.model()["id"])
        return self.pick(["0", "-1", "1", "2", "9223372036854775807", "(-9223372036854775807 - 1)",
                          "2147483648", "4294967296", "1000000"])

    def integer(self, pname):
        """An integer argument, extremes included."""
        if self.rng.random() < 0.1:
            return "NULL"
        return self.pick(["0", "-1", "1", "2", "3", "10", "100", "2147483647", "(-2147483647 - 1)", "1000000",
                          "65536", "42"])

    def float8(self, pname):
        """A float8 argument: NaN, infinities, extremes, the odd test_size."""
        if self.rng.random() < 0.1:
            return "NULL"
        return self.pick(["0", "'-0'", "1", "-1", "0.25", "0.5", "0.999999", "1.0000001", "2", "'NaN'",
                          "'Infinity'", "'-Infinity'", "1e308", "-1e308", "5e-324", "1e-12", "100"]) + "::float8"

    def boolean(self, pname):
        """A boolean argument."""
        return self.pick(["true", "false", "NULL"])

    def interval(self, pname):
        """An interval argument: zero, negative, tiny, huge."""
        return self.pick(["NULL", "'1 second'", "'0'", "'-1 day'", "'1 microsecond'", "'178000000 years'",
                          "'-178000000 years'", "'1 mon'", "'1 hour'", "'1 day -86400 seconds'", "'100 ms'"]) \
            + "::interval"

    # --- arrays --------------------------------------------------------------

    def float_array(self, pname, elem="float8"):
        """A float8[] or real[] argument: the model's length or an odd shape."""
        r = self.rng.random()
        m = self.model()
        if r < 0.07:
            return "NULL"
        if r < 0.45 and m:
            n = self.pick([m["ninputs"], m["nfeatures"], len(m["names"]), max(m["ninputs"] - 1, 0),
                           m["ninputs"] + 1])
            return "ARRAY[%s]::%s[]" % (", ".join(self.float_elem() for _ in range(n)), elem) if n else \
                "'{}'::%s[]" % elem
        return self.pick([
            "'{}'::%s[]" % elem, "'{NULL}'::%s[]" % elem, "'{NULL,NULL,NULL,NULL}'::%s[]" % elem,
            "'{1,2,3,4}'::%s[]" % elem, "'{{1,2},{3,4}}'::%s[]" % elem, "'[0:3]={1,2,3,4}'::%s[]" % elem,
            "'[-2147483648:-2147483645]={1,2,3,4}'::%s[]" % elem,
            "'{NaN,Infinity,-Infinity,0}'::%s[]" % elem, "'{1e38,-1e38,1e-45,0}'::%s[]" % elem,
            "array_fill(1::%s, ARRAY[%d])" % (elem, self.pick([1, 2, 1000, 100000, 1000000])),
            "array_fill(NULL::%s, ARRAY[1000])" % elem,
            "array_fill(2::%s, ARRAY[2, 2, 2])" % elem,
            "(SELECT array_agg(random())::%s[] FROM generate_series(1, %d))" % (elem, self.pick([3, 50, 5000])),
            "(SELECT array_agg((g %% 7)::%s) FROM generate_series(1, %d) g)" % (elem, self.pick([10, 3000])),
        ])

    def float_elem(self):
        """One element of a feature array."""
        return self.pick(["0", "1", "-1", "3.5", "NULL", "'NaN'", "'Infinity'", "'-Infinity'", "1e38", "-1e38",
                          "1e-40", str(self.rng.uniform(-10, 10))])

    def int_array(self, pname):
        """An integer[] argument (class indexes)."""
        return self.pick([
            "NULL", "'{}'::int[]", "'{NULL}'::int[]", "'{0,1,0,1}'::int[]", "'{0,1,2}'::int[]", "'{-1,5}'::int[]",
            "'{2147483647,-2147483648}'::int[]", "'{{0,1},{1,0}}'::int[]", "'[5:8]={0,1,1,0}'::int[]",
            "array_fill(0, ARRAY[100000])", "(SELECT array_agg(g %% 3) FROM generate_series(1, %d) g)" % self.pick([4, 60, 3000]),
        ])

    def proba_array(self, pname):
        """An n x k probability array, odd shapes and values included."""
        n, k = self.pick([(4, 2), (4, 3), (3, 2), (60, 3), (3000, 3), (0, 0), (4, 1)])
        return self.pick([
            "NULL", "'{}'::float8[]", "'{0.5,0.5,0.5,0.5}'::float8[]", "'{{NaN,1},{0.5,0.5}}'::float8[]",
            "array_fill(0.5::float8, ARRAY[%d, %d])" % (n, k),
            "array_fill(NULL::float8, ARRAY[%d, %d])" % (n, k),
            "array_fill(-1::float8, ARRAY[%d, %d])" % (n, k),
            "array_fill(2::float8, ARRAY[%d, %d, 2])" % (n, k),
            "(SELECT array_agg(ARRAY[random(), 'NaN', 'Infinity']) FROM generate_series(1, %d))" % max(n, 1),
        ])

    def text_array(self, pname):
        """A text[] argument: column names or odd arrays."""
        r = self.rng.random()
        if r < 0.1:
            return "NULL"
        if r < 0.45 and self.w.columns:
            k = self.rng.randint(0, 4)
            return "ARRAY[%s]::text[]" % ", ".join(lit(self.pick(self.w.columns)) for _ in range(k)) \
                if k else "'{}'::text[]"
        return self.pick([
            "'{}'::text[]", "'{NULL}'::text[]", "'{a,b,a,NULL,\"\"}'::text[]", "'{{a,b},{c,d}}'::text[]",
            "ARRAY[%s, %s]" % (lit("x" * 10240), lit("ünï©ødé")), "'[3:4]={a,b}'::text[]",
            "array_fill('a'::text, ARRAY[100000])",
            "(SELECT array_agg('c' || (g %% %d)) FROM generate_series(1, %d) g)" % (self.pick([1, 2, 50, 5000]),
                                                                                    self.pick([10, 5000, 20000])),
            "ARRAY[%s]" % ", ".join(lit(s) for s in self.rng.sample(NASTY_STRINGS, 4)),
        ])

    # --- jsonb ---------------------------------------------------------------

    def odd_value(self, depth=0):
        """A random JSON value of any kind."""
        r = self.rng.random()
        if r < 0.25:
            return Raw(self.pick(NUMBERS))
        if r < 0.45:
            return self.pick(NASTY_STRINGS[:-1] + PREPROCESS_VALUES + POLICY_VALUES)
        if r < 0.55:
            return self.pick([None, True, False])
        if depth > 3 or r < 0.75:
            return [self.odd_value(depth + 1) for _ in range(self.rng.randint(0, 3))]
        return {self.pick(HYPERPARAMS + PREPROCESS_KEYS + POLICY_KEYS + ["", "x"]): self.odd_value(depth + 1)
                for _ in range(self.rng.randint(0, 3))}

    def jsonb(self, pname):
        """A jsonb argument: hyperparameters, preprocess or policy objects with wrong values,
        a feature object of a model, or an odd document."""
        r = self.rng.random()
        if self.tame and pname in ("preprocess", "policy"):
            return "'{}'::jsonb"
        if self.tame and pname == "hyperparams":
            r = 0.3
        if r < 0.07:
            return "NULL"
        if r < 0.2:
            v = self.pick(["{}", "[]", "null", "1", "\"s\"", "true", "[" * 2000 + "]" * 2000,
                           "{\"a\":" * 500 + "1" + "}" * 500, "{\"a\": 1e100000}", "[1e-100000]",
                           "{\"\": null}", "{\"a\": 1, \"a\": 2}", jdump({"k%d" % i: i for i in range(3000)})])
            return lit(v) + "::jsonb"
        if pname == "hyperparams" and r < 0.4:
            return self.pick(["'{}'", "'{\"n_estimators\": 3}'", "'{\"max_depth\": 2, \"n_estimators\": 2}'",
                              "'{\"alpha\": 0.1}'", "'{\"C\": 0.5, \"max_iter\": 50}'"]) + "::jsonb"
        if pname == "hyperparams" or (pname not in ("preprocess", "policy", "features") and r < 0.4):
            obj = {}
            for _ in range(self.rng.randint(1, 4)):
                obj[self.pick(HYPERPARAMS)] = self.odd_value(2) if self.rng.random() < 0.7 else \
                    Raw(self.pick(["1", "2", "5", "0.3", "0.9"]))
            return lit(jdump(obj)) + "::jsonb"
        if pname == "preprocess":
            obj = {}
            for _ in range(self.rng.randint(1, 3)):
                col = self.pick(self.w.columns + ["nope", ""]) if self.w.columns else "x"
                if self.rng.random() < 0.2:
                    obj[col] = self.odd_value(2)
                else:
                    obj[col] = {self.pick(PREPROCESS_KEYS): self.pick(
                        PREPROCESS_VALUES + [{"constant": self.odd_value(3)}, Raw(self.pick(NUMBERS)), None, [], {}])
                        for _ in range(self.rng.randint(1, 3))}
            return lit(jdump(obj)) + "::jsonb"
        if pname == "policy":
            obj = {self.pick(POLICY_KEYS + ["nope"]): self.pick(POLICY_VALUES + [Raw(self.pick(NUMBERS)), None, [],
                                                                               "x", {}])
                   for _ in range(self.rng.randint(1, 3))}
            return lit(jdump(obj)) + "::jsonb"
        m = self.model()
        if m and m["names"]:
            obj = {n: (self.odd_value(3) if self.rng.random() < 0.4 else self.rng.uniform(-5, 5))
                   for n in m["names"] if self.rng.random() < 0.9}
            return lit(jdump(obj)) + "::jsonb"
        return lit(jdump(self.odd_value())) + "::jsonb"

    # --- records -------------------------------------------------------------

    def record(self, pname):
        """A record argument: a fixture row, a row with the model's column names and odd types, or an odd row."""
        r = self.rng.random()
        m = self.model()
        if r < 0.05:
            return "NULL::record"
        if r < 0.5 and m and m["relation"]:
            return "(SELECT t FROM %s t OFFSET %d LIMIT 1)" % (m["relation"], self.rng.randint(0, 200))
        if r < 0.65 and self.w.relations:
            return "(SELECT t FROM %s t OFFSET %d LIMIT 1)" % (self.pick(self.w.relations), self.rng.randint(0, 5))
        if r < 0.9 and m and m["names"]:
            vals = []
            for n in m["names"]:
                if self.rng.random() < 0.1:
                    continue
                v = self.pick(["NULL", "'NaN'::float8", "'Infinity'::float8", "1e308::float8", "-1::int",
                               "'a'::text", "''::text", lit("x" * 10240), "true", "now()", "'infinity'::date",
                               "ARRAY[1.0, 2.0]::float8[]", "'{}'::float8[]", "1::bigint", "1e300::numeric",
                               "'{\"a\": 1}'::jsonb", "%g::float8" % self.rng.uniform(-5, 5)])
                vals.append('%s AS "%s"' % (v, n.replace('"', '""')))
            if not vals:
                return "ROW()"
            return "(SELECT t FROM (SELECT %s) t)" % ", ".join(vals)
        return self.pick(["ROW()", "ROW(1)", "ROW(NULL, NULL)", "ROW(1.0::float8, 'x'::text, NULL::int)",
                          "(SELECT t FROM mlops.projects t LIMIT 1)", "(SELECT t FROM pg_class t LIMIT 1)",
                          "(SELECT t FROM (SELECT 1 AS a, 1 AS a) t)", "ROW(ROW(1, 2), ARRAY[1])"])

    def value(self, typ, pname):
        """An argument expression of type typ for parameter pname."""
        if typ == "text" or typ == "name":
            v = self.text(pname)
        elif typ == "bigint":
            v = self.bigint(pname)
        elif typ in ("integer", "smallint"):
            v = self.integer(pname)
        elif typ in ("double precision", "real", "numeric"):
            v = self.float8(pname)
        elif typ == "boolean":
            v = self.boolean(pname)
        elif typ == "interval":
            v = self.interval(pname)
        elif typ == "jsonb" or typ == "json":
            v = self.jsonb(pname)
        elif typ == "record":
            return self.record(pname)
        elif typ == "double precision[]":
            v = self.proba_array(pname) if pname == "proba" else self.float_array(pname)
        elif typ == "real[]":
            v = self.float_array(pname, "float4")
        elif typ == "integer[]":
            v = self.int_array(pname)
        elif typ == "text[]":
            v = self.text_array(pname)
        else:
            v = "NULL"
        return "(%s)::%s" % (v, typ)


class Function:
    """A function of schema mlops: its input parameters (name, type), defaults."""

    def __init__(self, name, params, ndefaults):
        self.name = name
        self.params = params
        self.ndefaults = ndefaults

    def call_sql(self, gen, forced=None):
        """SELECT of a call with drawn arguments; forced maps a parameter name to an expression."""
        n = len(self.params)
        nreq = n - self.ndefaults
        names = {p for p, _ in self.params}
        forced = dict(forced or {})
        gen.protect = self.name.startswith("drop_")
        gen.tame = gen.rng.random() < 0.3
        if {"relation", "target"} <= names and gen.rng.random() < 0.6:
            rel = gen.pick(sorted(TARGETS))
            forced.setdefault("relation", lit(rel))
            forced.setdefault("target", lit(gen.pick(TARGETS[rel])))
            forced.setdefault("project", lit("scratch_%d" % gen.rng.randint(1, 30)))
        elif {"project", "relation"} <= names and gen.rng.random() < 0.6 and gen.model():
            m = gen.model()
            forced.setdefault("project", lit(m["project"]))
            forced.setdefault("relation", lit(m["relation"] or "fz.iris"))
        args = []
        for i, (pname, typ) in enumerate(self.params):
            if pname in forced:
                expr = forced[pname]
            else:
                if i >= nreq and gen.rng.random() < (0.9 if gen.tame else 0.4):
                    continue
                expr = gen.value(typ, pname)
            args.append(expr if i < nreq else '"%s" => %s' % (pname, expr))
        return "SELECT * FROM mlops.%s(%s)" % (self.name, ", ".join(args))


def discover(cur):
    """Every plain function of schema mlops, from pg_proc."""
    cur.execute("""
        SELECT p.proname, p.pronargdefaults, p.proargnames, p.proargmodes::text[],
               ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) WITH ORDINALITY u(t, i) ORDER BY i)
          FROM pg_proc p
         WHERE p.pronamespace = 'mlops'::regnamespace AND p.prokind = 'f'
         ORDER BY p.proname, p.oid""")
    functions = []
    for name, ndefaults, argnames, modes, types in cur.fetchall():
        argnames = argnames or [""] * len(types)
        if modes:
            argnames = [n for n, m in zip(argnames, modes) if m in ("i", "b", "v")]
        functions.append(Function(name, list(zip(argnames, types)), ndefaults))
    return functions


class Fuzzer:
    """Connections, the call loop, crash detection and the tallies."""

    def __init__(self, args):
        """Seeded from --seed; watches the server log from its current end."""
        self.args = args
        self.rng = random.Random(args.seed)
        self.world = World()
        self.gen = Gen(self.rng, self.world)
        self.log = open(args.log, "rb")
        self.log.seek(0, 2)
        self.conns = {}
        self.calls = 0
        self.by_state = collections.Counter()
        self.by_function = collections.defaultdict(collections.Counter)
        self.skipped = collections.Counter()
        self.failures = []
        self.internal = []        # calls that failed with XX000 (elog: "cannot happen")
        self.start = time.monotonic()

    # --- connections ---------------------------------------------------------

    def conn(self, role):
        """The open connection of role, made again when lost."""
        c = self.conns.get(role)
        if c is None or c.closed:
            c = self.connect(role)
            self.conns[role] = c
        return c

    def connect(self, role):
        """A new autocommit connection of role with the time limits set; waits for a restarting server."""
        deadline = time.monotonic() + 120
        while True:
            try:
                c = psycopg2.connect("", user=role, application_name="mlops fuzz")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute("SET statement_timeout = %s", ("%ds" % self.args.timeout,))
            cur.execute("SET lock_timeout = '1s'")
            cur.execute("SET client_min_messages = error")
        return c

    def drop_connections(self):
        """Close every connection (after a crash the server closed them)."""
        for c in self.conns.values():
            try:
                c.close()
            except psycopg2.Error:
                pass
        self.conns = {}

    def super_cur(self):
        """A cursor of the superuser connection."""
        return self.conn(self.args.superuser).cursor()

    # --- one call ------------------------------------------------------------

    def new_crash_lines(self):
        """Crash lines (and their DETAIL) the server logged since the last look."""
        data = self.log.read()
        if not data:
            return []
        lines = data.decode("utf-8", "replace").splitlines()
        return [ln for i, ln in enumerate(lines) if CRASH_RE.search(ln) or
                (i > 0 and CRASH_RE.search(lines[i - 1]) and "Failed process was running" in ln)]

    def run(self, call, fname):
        """Run one call; record errors by SQLSTATE and crashes/hangs as failures."""
        for name, pred, _ in SKIP:
            if pred(call):
                self.skipped[name] += 1
                return None
        self.calls += 1
        lost = None
        rows = None
        t0 = time.monotonic()
        try:
            with self.conn(call.role).cursor() as cur:
                cur.execute(call.sql)
                rows = cur.fetchall()
            state = "ok"
        except psycopg2.Error as e:
            state = e.pgcode or "connection"
            if self.args.verbose:
                print("# %s %s: %s" % (fname, state, (e.pgerror or str(e)).strip().splitlines()[0][:300]))
            if e.pgcode is None or self.conn(call.role).closed:
                lost = str(e).strip()
        except (ValueError, OverflowError) as e:
            state = "client:" + type(e).__name__
        elapsed = time.monotonic() - t0
        self.by_state[state] += 1
        self.by_function[fname][state] += 1
        crash = self.new_crash_lines()
        if state == "XX000":
            self.internal.append(call)
            if self.args.strict:
                self.failures.append(("internal error", call, [state]))
                self.report_failure("internal error", call, [state])
        if lost or crash or state in ("57P01", "57P02", "57P03"):
            kind = "crash" if (crash or lost) else "error " + state
            self.failures.append((kind, call, crash or [lost or state]))
            self.report_failure(kind, call, crash or [lost or state])
            if crash or lost:
                self.drop_connections()
                time.sleep(1)
                for ln in self.new_crash_lines():
                    print("#   %s" % ln[:1000], flush=True)
        elif elapsed > self.args.hang:
            self.failures.append(("hang", call, ["%.1f s (statement_timeout %d s)" % (elapsed, self.args.timeout)]))
            self.report_failure("hang", call, ["%.1f s" % elapsed])
        return rows

    def report_failure(self, kind, call, lines):
        """Print a failure; write the complete SQL reproducing it to a file."""
        path = os.path.join(self.args.out, "failure-%d.sql" % len(self.failures))
        with open(path, "w") as f:
            f.write("-- %s: %s\n" % (kind, " ".join(" | ".join(lines).split())))
            f.writelines(stmt + ("\n" if stmt.startswith("--") else ";\n") for stmt in call.setup)
            f.write("SET ROLE %s;\n%s;\n" % (call.role, call.sql))
        print("# FAILURE (%s) as role %s, reproduced by %s:" % (kind, call.role, path), flush=True)
        print("#   %s;" % call.sql[:2000], flush=True)
        for ln in lines:
            print("#   %s" % " ".join(ln.split())[:1000], flush=True)

    def budget_left(self, share):
        """Whether the phase with this share of --calls/--seconds may go on."""
        if self.args.seconds:
            return time.monotonic() - self.start < self.args.seconds * share
        return self.calls < self.args.calls * share

    # --- phase 1: every function as the non-superuser --------------------------

    def phase_functions(self, functions, share):
        """Call the functions as the non-superuser role while the budget share lasts."""
        by_name = collections.defaultdict(list)
        for f in functions:
            by_name[f.name].append(f)
        names = sorted(by_name)
        i = 0
        while self.budget_left(share):
            if i % 200 == 0:
                self.world.refresh(self.super_cur())
            i += 1
            # every overload once first, then names drawn uniformly
            f = functions[i - 1] if i <= len(functions) else self.rng.choice(by_name[self.rng.choice(names)])
            self.run(Call(f.name, f.call_sql(self.gen), self.args.role), f.name)

    # --- phase 2: corrupted registry rows --------------------------------------

    def copy_model(self, cur, src):
        """Insert a copy of model src (next version of its project); its id."""
        cur.execute("""SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                        WHERE attrelid = 'mlops.models'::regclass AND attnum > 0 AND NOT attisdropped
                          AND attname NOT IN ('id', 'version')""")
        cols = cur.fetchone()[0]
        copy = """INSERT INTO mlops.models (version, %s)
                  SELECT (SELECT max(version) + 1 FROM mlops.models WHERE project_id = m.project_id), %s
                    FROM mlops.models m WHERE id = %d RETURNING id""" % (cols, cols, src)
        cur.execute(copy)
        return cur.fetchone()[0], copy

    def mutate_json(self, v):
        """v with one mutation at a node: a field drawn uniformly among the
        distinct paths (array indexes as *), then one of its instances."""
        shapes = collections.defaultdict(list)

        def walk(x, parent, key, shape):
            shapes[shape].append((x, parent, key))
            if isinstance(x, dict):
                for k in list(x):
                    walk(x[k], x, k, shape + "." + k)
            elif isinstance(x, list):
                for i, y in enumerate(x):
                    walk(y, x, i, shape + ".*")

        walk(v, None, None, "")
        rng = self.rng
        x, parent, key = rng.choice(shapes[rng.choice(sorted(shapes))])
        r = rng.random()
        if parent is not None and r < 0.15:
            del parent[key]
            return v
        if r < 0.6:
            # another kind of JSON value
            kinds = [None, True, -1, 1e308, Raw("1e100000"), "s", [], [None], ["a", 1], {}, {"a": None}]
            new = rng.choice([k for k in kinds if type(k) is not type(x)])
        elif isinstance(x, list) and x:
            if rng.random() < 0.5:
                del x[rng.randrange(len(x)):]
            else:
                x.extend(x[:rng.randint(1, len(x))])
            return v
        elif isinstance(x, dict) and x:
            k = rng.choice(list(x))
            x[k + "x" if rng.random() < 0.5 else ""] = x.pop(k)
            return v
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            new = Raw(rng.choice(["-1", "0", "1e308", "-1e308", "1e100000", "2147483648", "-2147483649",
                                  "9223372036854775808", "0.5", "65536", "1e-320", "-0", "3"]))
        elif isinstance(x, str):
            new = rng.choice(["", "x" * 10240, x + "x", "ünï©ødé", "mean", "categorical", "numeric", "one_hot",
                              "target", "robust", "none"])
        else:
            new = rng.choice([None, True, False, 0, "s"])
        if parent is None:
            return new
        parent[key] = new
        return v

    def corrupt(self, cur, mid):
        """Corrupt one to three columns of model mid; the UPDATE statements."""
        cur.execute("""SELECT attname, format_type(atttypid, NULL) FROM pg_attribute
                        WHERE attrelid = 'mlops.models'::regclass AND attnum > 0 AND NOT attisdropped
                          AND attname NOT IN ('id', 'project_id', 'version')""")
        cols = cur.fetchall()
        weights = {"features": 5, "labels": 4, "model": 4, "profile": 3, "hyperparams": 2, "metrics": 2,
                   "preprocess": 1, "training": 2, "importance": 1, "algorithm": 1, "format": 1}
        done = []
        for _ in range(self.rng.choice([1, 1, 1, 2, 3])):
            col, typ = self.rng.choices(cols, [weights.get(c, 0.5) for c, _ in cols])[0]
            cur.execute("SELECT %s FROM mlops.models WHERE id = %%s" % col, (mid,))
            old = cur.fetchone()[0]
            if typ in ("jsonb", "json"):
                v = old
                for _ in range(self.rng.choice([1, 1, 2, 4])):
                    v = self.mutate_json(v)
                new = jdump(v)
            elif typ == "text[]":
                v = list(old or [])
                new = self.rng.choice([None, v + [None], [None] + v[1:], v[:-1], [], v + ["extra"], v * 2,
                                       ["x" * 10240] + v[1:], [None] * len(v)])
            elif typ == "bytea":
                new = self.corrupt_bytes(cur, mid, bytes(old))
            elif typ in ("integer", "bigint", "smallint"):
                new = self.rng.choice([0, -1, 1, 2, 99, 2147483647])
            elif typ == "text":
                new = self.rng.choice(NAMED_CHOICES["algorithm"] + ["", "x" * 10240])
            else:
                continue
            if not isinstance(new, Raw):
                new = cur.mogrify("%s", (new,)).decode()
            update = "UPDATE mlops.models SET %s = %s WHERE id = %d" % (col, new, mid)
            try:
                cur.execute(update)
                done.append(update)
            except psycopg2.Error:
                pass
        return done

    def corrupt_bytes(self, cur, mid, b):
        """An SQL expression of corrupted model bytes b (as Raw)."""
        r = self.rng.random()
        if r < 0.3 and b:
            return Raw("substr(model, 1, %d)" % self.rng.randrange(len(b)))
        if r < 0.6 and b:
            expr = "model"
            for _ in range(self.rng.randint(1, 8)):
                i = self.rng.randrange(len(b))
                expr = "set_byte(%s, %d, %d)" % (expr, i, b[i] ^ (1 << self.rng.randrange(8)))
            return Raw(expr)
        if r < 0.7:
            return Raw("''::bytea")
        if r < 0.8:
            return Raw("'\\x%s'::bytea" % bytes(self.rng.randrange(256)
                                                 for _ in range(self.rng.randint(1, 300))).hex())
        cur.execute("SELECT id FROM mlops.models WHERE id <> %s ORDER BY random() LIMIT 1", (mid,))
        return Raw("(SELECT model FROM mlops.models WHERE id = %d)" % cur.fetchone()[0])

    def corruption_calls(self, src, mid, with_model):
        """(function, SQL) of the calls made on corrupted model mid, a copy of src."""
        rel = src["relation"] or "fz.iris"
        row = "(SELECT t FROM %s t OFFSET %d LIMIT 1)" % (rel, self.rng.randint(0, 100))
        lp = lit(src["project"])
        calls = [(fn, "SELECT mlops.%s(%d, %s)" % (fn, mid, feats))
                 for fn in ("predict", "predict_proba", "predict_label")
                 for feats in (row, self.rng.choice(["(SELECT to_jsonb(t) FROM %s t LIMIT 1)" % rel,
                                                     self.gen.float_array("features")]))]
        calls += [
            ("featurize", "SELECT mlops.featurize(%d, %s)" % (mid, row)),
            ("predict", "SELECT count(mlops.predict(%d, t)), count(mlops.predict_label(%d, t)) FROM %s t"
             % (mid, mid, rel)),
            ("weights", "SELECT * FROM mlops.weights(%d)" % mid),
            ("drift", "SELECT * FROM mlops.drift(%s, %s, model_id => %d)" % (lp, lit(rel), mid)),
            ("evaluate", "SELECT mlops.evaluate(%s, %s, %d)" % (lp, lit(rel), mid)),
            ("deploy", "SELECT * FROM mlops.deploy(%s, 'specific', %d)" % (lp, mid)),
            ("predict", "SELECT mlops.predict_proba(%s, %s)" % (lp, row)),
        ]
        if self.rng.random() < 0.25:
            calls.append(("retrain", "SELECT * FROM mlops.retrain(%s, %s, true)" % (lp, lit(rel))))
        for f in with_model:
            if self.rng.random() < 0.3:
                calls.append((f.name, f.call_sql(self.gen, {"model_id": str(mid)})))
        self.rng.shuffle(calls)
        return calls

    def run_corrupted(self, calls, mid, setup, prefix):
        """Make the calls on corrupted model mid, each as superuser or as the owner role."""
        what = ",".join(u.split()[3] for u in setup[2:])
        for fn, sql in calls:
            role = self.rng.choice([self.args.superuser, self.args.role])
            self.run(Call(fn, sql + " /* model %d corrupted: %s */" % (mid, what), role, setup), prefix + fn)

    def phase_regressions(self, originals, with_model):
        """The corruptions that crashed a backend once, on every run."""
        for name, algorithm, change in REGRESSIONS:
            src = next(m for m in originals if m["algorithm"] == algorithm)
            cur = self.super_cur()
            mid, copy = self.copy_model(cur, src["id"])
            update = "UPDATE mlops.models SET %s WHERE id = %d" % (change, mid)
            cur.execute(update)
            calls = [c for c in self.corruption_calls(src, mid, with_model) if c[0] != "retrain"]
            before = self.calls
            self.run_corrupted(calls, mid, ["-- makes model %d (%s)" % (mid, name), copy, update], "regression:")
            print("# regression %s: %d calls on model %d" % (name, self.calls - before, mid), flush=True)

    def phase_corruption(self, functions):
        """The regressions, then corrupted copies of fixture models until the budget ends; their count."""
        with_model = [f for f in functions if any(p == "model_id" and t == "bigint" for p, t in f.params)]
        self.world.refresh(self.super_cur())
        originals = [m for m in self.world.models if m["id"] in self.world.fixture_models]
        self.phase_regressions(originals, with_model)
        rounds = 0
        while self.budget_left(1.0):
            src = self.rng.choice(originals)
            cur = self.super_cur()
            try:
                mid, copy = self.copy_model(cur, src["id"])
                updates = self.corrupt(cur, mid)
            except psycopg2.Error as e:
                print("# corruption setup failed: %s" % str(e).strip().splitlines()[0], flush=True)
                self.conn(self.args.superuser)
                continue
            rounds += 1
            calls = self.corruption_calls(src, mid, with_model)[:self.rng.randint(3, 8)]
            self.run_corrupted(calls, mid, ["-- makes model %d" % mid, copy] + updates, "corrupt:")
        return rounds

    # --- main ------------------------------------------------------------------

    def main(self):
        """Both phases, then the summary; the exit status."""
        os.makedirs(self.args.out, exist_ok=True)
        functions = discover(self.super_cur())
        names = sorted({f.name for f in functions})
        print("# %d functions (%d names) of schema mlops; seed %d" % (len(functions), len(names), self.args.seed),
              flush=True)
        self.phase_functions(functions, 0.5)
        ncalls = self.calls
        rounds = self.phase_corruption(functions)
        self.new_crash_lines()
        elapsed = time.monotonic() - self.start
        print("# functions phase: %d calls; corruption phase: %d calls on %d corrupted models"
              % (ncalls, self.calls - ncalls, rounds))
        print("# by SQLSTATE: " + ", ".join("%s %d" % kv for kv in self.by_state.most_common()))
        uncalled = [n for n in names if n not in self.by_function]
        for fname in sorted(self.by_function):
            c = self.by_function[fname]
            print("#   %-24s %5d calls, %5d ok; %s" % (fname, sum(c.values()), c["ok"], ", ".join(
                "%s %d" % kv for kv in c.most_common(4) if kv[0] != "ok")))
        for name, n in self.skipped.items():
            reason = next(r for s, _, r in SKIP if s == name)
            print("# skipped %d calls (%s): %s" % (n, name, reason))
        if uncalled:
            print("# FAILURE: functions never called: " + ", ".join(uncalled))
        for call in self.internal[:10]:
            print("# internal error (XX000) as role %s: %s" % (call.role, call.sql[:300]))
        crashes = sum(1 for k, _, _ in self.failures if k == "crash")
        print("fuzz: %d calls in %.0f s, %d crashes, %d other failures, %d internal errors"
              % (self.calls, elapsed, crashes, len(self.failures) - crashes, len(self.internal)), flush=True)
        return 1 if self.failures or uncalled else 0


def parse_args():
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--calls", type=int, default=10000, help="calls in all (ignored with --seconds)")
    p.add_argument("--seconds", type=float, default=0, help="run for this long instead of --calls")
    p.add_argument("--log", required=True, help="the server log file to watch")
    p.add_argument("--role", default="fuzzer", help="the non-superuser role")
    p.add_argument("--superuser", default="postgres")
    p.add_argument("--timeout", type=int, default=2, help="statement_timeout in seconds")
    p.add_argument("--out", default="/tmp/mlops-fuzz", help="directory of the failure-N.sql reproductions")
    p.add_argument("--strict", action="store_true", help="an internal error (XX000) is a failure too")
    p.add_argument("--verbose", action="store_true", help="print the first line of every error")
    p.add_argument("--hang", type=float, default=30, help="a call running longer than this is a failure")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(Fuzzer(parse_args()).main())
