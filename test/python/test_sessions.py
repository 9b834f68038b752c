"""What one session does, another sees: transactional cache invalidation,
pg_dump round trips, and no memory growth from failed or cancelled training.
"""
import os
import subprocess

import psycopg2

import refdata
import tap

a = tap.connect()
b = tap.connect()
ca, cb = a.cursor(), b.cursor()
refdata.load(a, "diabetes", "diabetes.csv", "progression", "float8")
ca.execute("SELECT mlops.drop_project(name) FROM mlops.projects WHERE name IN ('sess', 'churn')")
ca.execute("SELECT model_id FROM mlops.train('sess', 'diabetes', 'progression', algorithm => 'linear', "
           "exclude => '{id,ord}')")
m1 = ca.fetchone()[0]
ca.execute("SELECT model_id FROM mlops.train('sess', 'diabetes', 'progression', algorithm => 'lasso', "
           "hyperparams => '{\"alpha\": 5}', exclude => '{id,ord}', deploy => 'never')")
m2 = ca.fetchone()[0]

PREDICT = "SELECT mlops.predict('sess', d) FROM diabetes d WHERE id = 1"
PIN = "SELECT mlops.predict(%s, d) FROM diabetes d WHERE id = 1"


def predict(cur, sql=PREDICT, args=None):
    cur.execute(sql, args)
    return cur.fetchone()[0]


p1 = predict(cb, PIN, (m1,))
p2 = predict(cb, PIN, (m2,))
tap.ok(p1 != p2, "the two models predict differently")
tap.is_close(predict(cb), p1, name="session B scores with the deployed model (cached now)")

# a deploy in A is invisible to B until A commits
a.autocommit = False
ca.execute("SELECT * FROM mlops.deploy('sess', 'specific', %s)", (m2,))
tap.is_close(predict(ca), p2, name="A sees its own uncommitted deploy")
tap.is_close(predict(cb), p1, name="B does not see A's uncommitted deploy")
a.rollback()
tap.is_close(predict(cb), p1, name="B still uses the old model after A's rollback")
tap.is_close(predict(ca), p1, name="A uses the old model after its rollback")
ca.execute("SELECT * FROM mlops.deploy('sess', 'specific', %s)", (m2,))
a.commit()
tap.is_close(predict(cb), p2, name="B's next statement after A's commit uses the new model")

# inside B's repeatable-read transaction the cache follows B's snapshot rules
b.autocommit = False
cb.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
tap.is_close(predict(cb), p2, name="B in a transaction uses the deployed model")
ca.execute("SELECT * FROM mlops.deploy('sess', 'rollback')")
a.commit()
b.commit()
b.autocommit = True
tap.is_close(predict(cb), p1, name="after a rollback deploy B uses the previous model again")

# dropping a model in A: B's pinned predictions fail cleanly after the commit
tap.is_close(predict(cb, PIN, (m2,)), p2, name="B can pin the undeployed model")
ca.execute("SELECT mlops.drop_model(%s)", (m2,))
a.commit()
a.autocommit = True
try:
    predict(cb, PIN, (m2,))
    tap.ok(False, "B's pinned model is gone after A dropped it")
except psycopg2.Error as e:
    tap.ok("does not exist" in str(e), "B's pinned model is gone after A dropped it", str(e))

# pg_dump keeps projects, models and deployments; the restored copy predicts the same
env = dict(os.environ)
db = env.get("PGDATABASE", "postgres")
ca.execute("DROP DATABASE IF EXISTS mlops_restored")
ca.execute("CREATE DATABASE mlops_restored")
dump = subprocess.run(["pg_dump", "-d", db], capture_output=True, check=True, env=env)
subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "mlops_restored"], input=dump.stdout,
               capture_output=True, check=True, env=env)
r = psycopg2.connect(dbname="mlops_restored")
rc = r.cursor()
rc.execute("SELECT count(*) FROM mlops.models WHERE project_id = (SELECT id FROM mlops.projects WHERE name = 'sess')")
tap.ok(rc.fetchone()[0] == 1, "pg_dump kept the project's model")
tap.is_close(predict(rc), p1, name="the restored database predicts with the same deployed model")
rc.execute("SELECT model_id FROM mlops.train('sess', 'diabetes', 'progression', algorithm => 'ridge', "
           "exclude => '{id,ord}')")
tap.ok(rc.fetchone()[0] > m2, "the restored id sequence continues after the restored ids")
r.close()
ca.execute("DROP DATABASE mlops_restored")

# failed and cancelled training frees everything, libxgboost memory included
cb.execute("SELECT pg_backend_pid()")
pid = cb.fetchone()[0]


def rss_kb():
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


ca.execute("DROP TABLE IF EXISTS big; CREATE TABLE big AS SELECT g::float8 AS a, (g * 7 % 13)::float8 AS b, (g % 5)::float8 AS y "
           "FROM generate_series(1, 200000) g")


def churn(rounds):
    for i in range(rounds):
        try:
            cb.execute("SET statement_timeout = '500ms'")
            cb.execute("SELECT * FROM mlops.train('churn', 'big', 'y', task => 'regression', "
                       "hyperparams => '{\"n_estimators\": 100000}')")
        except psycopg2.Error:
            pass
        try:
            cb.execute("SELECT * FROM mlops.train('churn', 'big', 'y', task => 'regression', "
                       "hyperparams => '{\"max_depth\": -1}')")
        except psycopg2.Error:
            pass
    cb.execute("RESET statement_timeout")


churn(3)
before = rss_kb()
churn(10)
after = rss_kb()
tap.ok(after - before < 20000, "10 trainings cancelled mid-boosting of 200000 rows grow the backend by less than 20 MB",
       f"RSS {before} kB -> {after} kB")
tap.done_testing()
