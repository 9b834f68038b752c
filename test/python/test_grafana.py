"""Every query of the Grafana dashboard contrib/grafana/mlops.json runs.

Each PostgreSQL target's rawSql is executed, with Grafana's macros expanded
as Grafana's PostgreSQL data source expands them, by a superuser and by a
role that holds only privilege "predict" on the project (the role a
dashboard should use): no error, and rows for a project that was trained,
scored for drift, served and monitored.  Each Prometheus target must name a
series that contrib/prometheus/queries.yaml exports.
"""
import json
import pathlib
import re

import refdata
import tap

root = pathlib.Path(__file__).resolve().parents[2]
dashboard = json.loads((root / "contrib/grafana/mlops.json").read_text())
queries_yaml = (root / "contrib/prometheus/queries.yaml").read_text()

admin = tap.connect()
cur = admin.cursor()
refdata.load(admin, "gf_iris", "iris.csv", "species", "text")
cur.execute("ALTER TABLE gf_iris ADD COLUMN at timestamptz")
cur.execute("UPDATE gf_iris SET at = now() - (id % 3) * interval '1 day'")
cur.execute("SELECT mlops.drop_project(name) FROM mlops.projects WHERE name = 'gf_iris'")
cur.execute("SELECT model_id FROM mlops.train('gf_iris', 'gf_iris', 'species', exclude => '{id,ord,at}')")
cur.execute("SELECT count(*) FROM mlops.drift('gf_iris', 'gf_iris')")
cur.execute("SELECT count(mlops.predict('gf_iris', t)) FROM gf_iris t")
cur.execute("SELECT count(*) FROM mlops.monitor('gf_iris', 'gf_iris', 'species', time_column => 'at')")
cur.execute("DROP ROLE IF EXISTS gf_viewer")
cur.execute("CREATE ROLE gf_viewer")
cur.execute("SELECT mlops.grant('gf_iris', 'gf_viewer', 'predict')")


# panels a fresh project need not fill: no job ran, no alert fired
MAY_BE_EMPTY = {"Jobs", "Open alerts"}


def expand(sql):
    """Grafana's macros, over the dashboard's default range (the last 7 days)."""
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)",
                 r"\1 BETWEEN now() - interval '7 days' AND now() + interval '1 minute'", sql)
    sql = sql.replace("$__timeFrom()", "(now() - interval '7 days')").replace("$__timeTo()", "now()")
    return sql


targets = [(p["title"], t) for p in dashboard["panels"] for t in p["targets"]]
sql_targets = [(title, t["rawSql"]) for title, t in targets if "rawSql" in t]
prom_targets = [(title, t["expr"]) for title, t in targets if "expr" in t]
tap.ok(len(sql_targets) >= 6 and len(prom_targets) >= 2, "the dashboard has SQL and Prometheus panels",
       f"{len(sql_targets)} SQL, {len(prom_targets)} Prometheus")

for role in ("postgres", "gf_viewer"):
    cur.execute("SET ROLE " + role)
    for title, sql in sql_targets:
        try:
            cur.execute(expand(sql))
            rows = cur.fetchall()
            tap.ok(len(rows) > 0 or title in MAY_BE_EMPTY, f"as {role}: panel \"{title}\" runs and returns rows",
                   f"{len(rows)} rows")
        except Exception as e:  # a failing panel is a test failure, not an abort
            admin.rollback()
            tap.ok(False, f"as {role}: panel \"{title}\" runs", str(e))
    cur.execute("RESET ROLE")

# The viewer sees only its project's rows
cur.execute("SET ROLE gf_viewer")
cur.execute(expand(sql_targets[0][1]))
tap.ok({r[0] for r in cur.fetchall()} == {"gf_iris"}, "the viewer's deployed-models panel shows only its project")
cur.execute("RESET ROLE")

# Every Prometheus series comes from queries.yaml (prefix_column)
exported = set()
for prefix, body in re.findall(r"^(mlops_\w+):\n((?:[ \t]+.*\n|\n)+)", queries_yaml, re.M):
    for column in re.findall(r"^\s+- (\w+): \{usage: \"(?:GAUGE|COUNTER)\"", body, re.M):
        exported.add(f"{prefix}_{column}")
for title, expr in prom_targets:
    names = set(re.findall(r"\bmlops_\w+", expr))
    tap.ok(names and names <= exported, f"panel \"{title}\" reads exported series", f"{names} of {sorted(exported)}")

cur.execute("SELECT mlops.drop_project('gf_iris')")
cur.execute("DROP ROLE gf_viewer")
tap.done_testing()
