"""A scoring query stays flat in memory whatever its pattern of models.

One call site of mlops.predict that meets a different model on every row
(a CASE over model ids or project names, or a column of model ids) must not grow the
backend: the peak resident size after 3,000,000 rows is compared with the
peak after 300,000 rows, each in a fresh backend.  The answers are checked
against the same rows scored one model at a time.
"""
import tap

conn = tap.connect()
cur = conn.cursor()
cur.execute("SELECT mlops.drop_project(name) FROM mlops.projects WHERE name IN ('predmem', 'predmem_a', 'predmem_b')")
cur.execute("DROP TABLE IF EXISTS predmem_train")
cur.execute("CREATE TABLE predmem_train AS SELECT (g % 97)::float8 AS a, (g % 13)::float8 AS b, "
            "((g % 97) * 0.5 + (g % 13) * 2 + g % 3)::float8 AS y FROM generate_series(1, 2000) g")
models = []
for algorithm, hyperparams in (("linear", "{}"), ("xgboost", '{"n_estimators": 5, "max_depth": 3}'),
                               ("ridge", '{"alpha": 100}')):
    cur.execute("SELECT model_id FROM mlops.train('predmem', 'predmem_train', 'y', task => 'regression', "
                "algorithm => %s, hyperparams => %s::jsonb, deploy => 'never')", (algorithm, hyperparams))
    models.append(cur.fetchone()[0])
m1, m2, m3 = models
# two projects whose deployed models are told apart by name
for project, algorithm, hyperparams in (("predmem_a", "linear", "{}"), ("predmem_b", "xgboost", '{"n_estimators": 5}')):
    cur.execute("SELECT model_id FROM mlops.train(%s, 'predmem_train', 'y', task => 'regression', "
                "algorithm => %s, hyperparams => %s::jsonb)", (project, algorithm, hyperparams))

# rows as a row type (columns matched by name) or raw arrays, the model switching on every row
ROWS = "SELECT g, (g % 97)::float8 AS a, (g % 13)::float8 AS b FROM generate_series(1, NROWS) g"
SWITCH = {
    "CASE over model ids, row form":
        f"SELECT sum(mlops.predict(CASE WHEN r.g % 3 = 0 THEN {m1} WHEN r.g % 3 = 1 THEN {m2} ELSE {m3} END, r)) "
        f"FROM ({ROWS}) r",
    "a column of model ids, array form":
        f"SELECT sum(mlops.predict(r.model, ARRAY[r.a, r.b])) "
        f"FROM (SELECT (ARRAY[{m1}, {m2}, {m3}])[g % 3 + 1] AS model, a, b FROM ({ROWS}) s) r",
    "CASE over project names, row form":
        f"SELECT sum(mlops.predict(CASE WHEN r.g % 2 = 0 THEN 'predmem_a' ELSE 'predmem_b' END, r)) "
        f"FROM ({ROWS}) r",
}
SINGLE = {
    "CASE over model ids, row form": [(m1, 0, 3), (m2, 1, 3), (m3, 2, 3)],
    "a column of model ids, array form": [(m1, 0, 3), (m2, 1, 3), (m3, 2, 3)],
    "CASE over project names, row form": [("'predmem_a'", 0, 2), ("'predmem_b'", 1, 2)],
}


def peak_kb(query, n):
    """Run query over n rows in a fresh backend; its result and peak resident size (VmHWM, kB)."""
    c = tap.connect()
    with c.cursor() as k:
        k.execute("SET jit = off")  # LLVM, loaded only for the costlier query, would add its own tens of MB
        k.execute(query.replace("NROWS", str(n)))
        result = k.fetchone()[0]
        k.execute("SELECT pg_read_file('/proc/self/status')")
        status = k.fetchone()[0]
    c.close()
    return result, next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))


for name, query in SWITCH.items():
    small, small_kb = peak_kb(query, 300000)
    large, large_kb = peak_kb(query, 3000000)
    print(f"# {name}: VmHWM {small_kb} kB at 300,000 rows, {large_kb} kB at 3,000,000 rows", flush=True)
    tap.ok(large_kb - small_kb < 20000,
           f"{name}: 3,000,000 rows peak less than 20 MB above 300,000 rows",
           f"VmHWM {small_kb} kB at 300,000 rows, {large_kb} kB at 3,000,000 rows")

    # the same rows scored by one model at a time give the same sum
    cur.execute(" UNION ALL ".join(f"SELECT sum(mlops.predict({key}, r)) FROM ({ROWS}) r WHERE r.g % {n} = {rest}"
                                   for key, rest, n in SINGLE[name]).replace("NROWS", "300000"))
    tap.is_close(small, sum(row[0] for row in cur.fetchall()), rel=1e-9,
                 name=f"{name}: each row is scored by its own model")

# a call site keeps a few models; more than that still gives each row its own model
many = list(models)
for alpha in range(1, 11):
    cur.execute("SELECT model_id FROM mlops.train('predmem', 'predmem_train', 'y', task => 'regression', "
                "algorithm => 'ridge', hyperparams => jsonb_build_object('alpha', %s), deploy => 'never')",
                (alpha,))
    many.append(cur.fetchone()[0])
ids = "ARRAY[" + ", ".join(str(m) for m in many) + "]::bigint[]"
cur.execute(f"SELECT array_agg(mlops.predict(({ids})[g % {len(many)} + 1], ARRAY[a, b]) ORDER BY g) "
            f"FROM ({ROWS}) r".replace("NROWS", str(3 * len(many))))
switched = cur.fetchone()[0]
expected = []
for g in range(1, 3 * len(many) + 1):
    cur.execute("SELECT mlops.predict(%s::bigint, ARRAY[%s, %s]::float8[])", (many[g % len(many)], float(g % 97),
                                                                              float(g % 13)))
    expected.append(cur.fetchone()[0])
tap.is_close(switched, expected, rel=1e-12,
             name=f"{len(many)} models cycling through one call site: each row scored by its own model")
tap.done_testing()
