"""Lifecycle operations of one project serialize on its mlops.projects row,
and privileges reach other sessions.

Two sessions race deploy against drop_model (and train's deploy), in both orders, under READ
COMMITTED (the second waits, then its checks see what the first
committed) and REPEATABLE READ (the second fails with a serialization
failure); the deployment is never lost to a cascading delete.  A revoke in
one session refuses the next execution of another session's prepared
predict.
"""
import threading
import time

import psycopg2
import psycopg2.errors

import refdata
import tap

admin = tap.connect()
ca = admin.cursor()
a = tap.connect()
b = tap.connect()
refdata.load(admin, "diabetes", "diabetes.csv", "progression", "float8")
ca.execute("SELECT mlops.drop_project(name) FROM mlops.projects WHERE name = 'lockp'")


def train(deploy):
    """Train a model of project lockp; return its id."""
    ca.execute("SELECT model_id FROM mlops.train('lockp', 'diabetes', 'progression', algorithm => 'ridge', "
               "exclude => '{id,ord}', deploy => %s)", (deploy,))
    return ca.fetchone()[0]


def deployed():
    """The deployed model of lockp, as a third session sees it."""
    ca.execute("SELECT model_id FROM mlops.deployed_models d JOIN mlops.projects p ON p.id = d.project_id "
               "WHERE p.name = 'lockp'")
    return ca.fetchone()[0]


def wait_blocked(conn):
    """Wait until the session of conn waits for a lock; true when it does."""
    pid = conn.get_backend_pid()
    for _ in range(200):
        ca.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,))
        if ca.fetchone()[0] == "Lock":
            return True
        time.sleep(0.05)
    return False


def race(first, second, isolation):
    """Run statement "first" in session a without committing, then "second"
    in session b (in a transaction of the isolation level): check that b
    waits for a, commit a, and return b's error (None when it succeeded)."""
    result = {}

    def run_second():
        try:
            with b.cursor() as cur:
                cur.execute(second)
            b.commit()
            result["error"] = None
        except psycopg2.Error as e:
            b.rollback()
            result["error"] = e

    a.autocommit = False
    b.autocommit = False
    b.set_session(isolation_level=isolation)
    with b.cursor() as cur:
        cur.execute("SELECT 1")  # b's snapshot, for REPEATABLE READ, is taken before a's change
    with a.cursor() as cur:
        cur.execute(first)
    t = threading.Thread(target=run_second)
    t.start()
    blocked = wait_blocked(b)
    a.commit()
    t.join(60)
    a.autocommit = True
    b.set_session(isolation_level="READ COMMITTED", autocommit=True)
    return blocked, result.get("error", "no result")


x = train("always")
y = train("never")
tap.is_close(deployed(), x, name="model x is deployed, y is not")

# READ COMMITTED: deploy y, then drop y
blocked, err = race(f"SELECT * FROM mlops.deploy('lockp', 'specific', {y})", f"SELECT mlops.drop_model({y})",
                    "READ COMMITTED")
tap.ok(blocked, "read committed: drop_model waits for the uncommitted deploy of the same model")
tap.ok(isinstance(err, psycopg2.errors.ObjectInUse) and f"model {y} is deployed" in str(err),
       "then fails: the model is deployed", str(err))
tap.is_close(deployed(), y, name="and the deployment still points at the model")

# READ COMMITTED: drop z, then deploy z
z = train("never")
blocked, err = race(f"SELECT mlops.drop_model({z})", f"SELECT * FROM mlops.deploy('lockp', 'specific', {z})",
                    "READ COMMITTED")
tap.ok(blocked, "read committed: deploy waits for the uncommitted drop of the same model")
tap.ok(isinstance(err, psycopg2.errors.UndefinedObject) and f"model {z} does not exist" in str(err),
       "then fails: the model does not exist", str(err))
tap.is_close(deployed(), y, name="and the deployment is unchanged")
ca.execute("SELECT count(*) FROM mlops.models WHERE id = %s", (z,))
tap.is_close(ca.fetchone()[0], 0, name="and the model is gone")

# REPEATABLE READ: deploy x, then drop x
blocked, err = race(f"SELECT * FROM mlops.deploy('lockp', 'specific', {x})", f"SELECT mlops.drop_model({x})",
                    "REPEATABLE READ")
tap.ok(blocked, "repeatable read: drop_model waits for the uncommitted deploy")
tap.ok(isinstance(err, psycopg2.errors.SerializationFailure),
       "then fails with a serialization failure", str(err))
tap.is_close(deployed(), x, name="and the deployment still points at the model")

# REPEATABLE READ: drop w, then deploy w
w = train("never")
blocked, err = race(f"SELECT mlops.drop_model({w})", f"SELECT * FROM mlops.deploy('lockp', 'specific', {w})",
                    "REPEATABLE READ")
tap.ok(blocked, "repeatable read: deploy waits for the uncommitted drop")
tap.ok(isinstance(err, psycopg2.errors.SerializationFailure),
       "then fails with a serialization failure", str(err))
tap.is_close(deployed(), x, name="and the deployment is unchanged")

# READ COMMITTED: deploy y, then train with deploy => always: the training run
# waits for the deploy and replaces the model it deployed, not the one its
# statement's snapshot showed
blocked, err = race(f"SELECT * FROM mlops.deploy('lockp', 'specific', {y})",
                    "SELECT * FROM mlops.train('lockp', 'diabetes', 'progression', algorithm => 'ridge', "
                    "exclude => '{id,ord}', deploy => 'always')", "READ COMMITTED")
tap.ok(blocked and err is None, "train's deploy waits for an uncommitted deploy, then succeeds", str(err))
ca.execute("SELECT (detail->>'previous_model_id')::bigint FROM mlops.events "
           "WHERE project = 'lockp' AND action = 'deploy' ORDER BY id DESC LIMIT 1")
tap.is_close(ca.fetchone()[0], y, name="and records the model the concurrent deploy committed as the one it replaced")

# READ COMMITTED: drop_project waits for a deploy, then drops everything
blocked, err = race(f"SELECT * FROM mlops.deploy('lockp', 'specific', {y})", "SELECT mlops.drop_project('lockp')",
                    "READ COMMITTED")
tap.ok(blocked and err is None, "drop_project waits for a deploy, then succeeds", str(err))
ca.execute("SELECT count(*) FROM mlops.models m JOIN mlops.projects p ON p.id = m.project_id "
           "WHERE p.name = 'lockp'")
tap.is_close(ca.fetchone()[0], 0, name="and leaves no model behind")

# --- a revoke reaches another session's prepared predict -------------------------
ca.execute("DROP ROLE IF EXISTS lock_bob")
ca.execute("CREATE ROLE lock_bob")
ca.execute("GRANT SELECT ON diabetes TO lock_bob")
train("always")
ca.execute("SELECT mlops.grant('lockp', 'lock_bob', 'predict')")
cb = b.cursor()
cb.execute("SET ROLE lock_bob")
cb.execute("PREPARE p AS SELECT sum(mlops.predict('lockp', d)) FROM diabetes d")
cb.execute("EXECUTE p")
tap.ok(cb.fetchone()[0] is not None, "bob's prepared predict runs with predict granted")
ca.execute("SELECT mlops.revoke('lockp', 'lock_bob', 'predict')")
try:
    cb.execute("EXECUTE p")
    tap.ok(False, "after a revoke in another session, bob's next execution is refused")
except psycopg2.errors.InsufficientPrivilege as e:
    tap.ok('permission denied for project "lockp"' in str(e),
           "after a revoke in another session, bob's next execution is refused", str(e))
ca.execute("SELECT mlops.grant('lockp', 'lock_bob', 'predict')")
cb.execute("EXECUTE p")
tap.ok(cb.fetchone()[0] is not None, "and a grant in another session lets it run again")
cb.execute("RESET ROLE")
ca.execute("SELECT mlops.drop_project('lockp')")
ca.execute("REVOKE SELECT ON diabetes FROM lock_bob")
ca.execute("DROP ROLE lock_bob")

tap.done_testing()
