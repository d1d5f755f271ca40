"""Helpers shared by the agent-runtime API tests (test_runtime_api, test_settings_secrets,
test_stream, test_restart_agent): servers that run agents against the scripted LLM, waiting for
a conversation to settle, reading every event, and looking into the server's database (its
SQLite file, or its PostgreSQL database when the suite runs on PostgreSQL: CLOUDHANDS_TEST_PG).

Tests import them with `from agent_helpers import ...` (tests/api is on sys.path).
"""

import random
import sqlite3
import subprocess
import time

FAST_ENV = {"CLOUDHANDS_LLM_RETRY_MS": "20"}


def agent_args(llm, runners=1, model="gpt-4o", extra=()):
    """serve flags for a server whose runners talk to `llm` (a ScriptedLLM)."""
    args = ["--runners", str(runners), "--no-change-timeout", "2"]
    if llm is not None:
        args += ["--llm-model", model, "--llm-base-url", llm.base_url]
    return args + list(extra)


def wait_for(predicate, timeout=15.0, interval=0.05, what="condition"):
    """Polls predicate() until it returns a truthy value; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_stopped(api, cid, timeout=20.0):
    """The conversation once it is STOPPED (the agent released its runtime)."""
    last = {}

    def stopped():
        last["c"] = api.conv(cid)
        return last["c"] if last["c"]["status"] == "STOPPED" else None

    try:
        return wait_for(stopped, timeout, what=f"{cid} to stop")
    except AssertionError:
        c = last.get("c") or {}
        raise AssertionError(f"conversation still {c.get('status')}/{c.get('agent_state')} "
                             f"after {timeout}s (error: {c.get('error')})") from None


def all_events(api, cid):
    """Every event of the conversation, through the paged GET .../events."""
    out, start = [], 0
    while True:
        r = api.get(f"/api/conversations/{cid}/events", params={"start_id": start, "limit": 100})
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["events"]
        if not page["has_more"]:
            return out
        start = out[-1]["id"] + 1


def kinds(events):
    return [e.get("action") or e.get("observation") for e in events]


def wait_event(api, cid, pred, timeout=15.0, what="an event"):
    """The first event matching pred once it exists."""
    def find():
        return next((e for e in all_events(api, cid) if pred(e)), None)

    return wait_for(find, timeout, interval=0.05, what=what)


def _pg_url(data_dir):
    from conftest import db_url_for
    return db_url_for(data_dir)


def _psql_rows(url, sql):
    """Rows of a query as lists of strings (NULL as ""), through psql."""
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "\x1f",
                        "-R", "\x1e", "-d", url, "-c", sql],
                       check=True, capture_output=True, text=True, timeout=60)
    out = p.stdout[:-1] if p.stdout.endswith("\n") else p.stdout
    return [r.split("\x1f") for r in out.split("\x1e") if r]


def db_query(data_dir, sql):
    """Rows of a query on the server's database (SQLite or PostgreSQL): lists of strings."""
    url = _pg_url(data_dir)
    if url:
        return _psql_rows(url, sql)
    db = sqlite3.connect(f"file:{data_dir / 'cloudhands.db'}?mode=ro", uri=True, timeout=5)
    try:
        return [["" if v is None else str(v) for v in row] for row in db.execute(sql)]
    finally:
        db.close()


def db_execute(data_dir, sql):
    """Runs a statement that writes on the server's database (SQLite or PostgreSQL)."""
    url = _pg_url(data_dir)
    if url:
        _psql_rows(url, sql)
        return
    db = sqlite3.connect(data_dir / "cloudhands.db", timeout=5)
    try:
        db.execute(sql)
        db.commit()
    finally:
        db.close()


def db_dump(data_dir):
    """Every value of every table of the server's database, as one text (read-only)."""
    url = _pg_url(data_dir)
    if url:
        tables = [r[0] for r in _psql_rows(
            url, "SELECT table_name FROM information_schema.tables "
                 "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")]
        parts = []
        for t in tables:
            for row in _psql_rows(url, f'SELECT * FROM "{t}"'):
                parts += row
        return tables, "\n".join(parts)
    path = f"file:{data_dir / 'cloudhands.db'}?mode=ro"
    db = sqlite3.connect(path, uri=True, timeout=5)
    try:
        parts = []
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for t in tables:
            for row in db.execute(f'SELECT * FROM "{t}"'):
                parts += [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row]
        return tables, "\n".join(parts)
    finally:
        db.close()


def db_raw(data_dir):
    """The database files' bytes (main file and WAL), for "not stored in plain text" checks.
    On PostgreSQL: the files of the database's tables and their TOAST tables, row versions not
    yet vacuumed included, after a CHECKPOINT (this needs a superuser on the same machine, as
    scripts/pg.sh makes; elsewhere, the values of every table)."""
    url = _pg_url(data_dir)
    if url:
        try:
            _psql_rows(url, "CHECKPOINT")
            paths = _psql_rows(
                url, "SELECT current_setting('data_directory') || '/' || pg_relation_filepath(c.oid) "
                     "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE c.relkind IN ('r', 't') "
                     "AND n.nspname IN (current_schema(), 'pg_toast')")
            import glob
            out = b""
            for (p,) in paths:
                for f in [p] + sorted(glob.glob(p + ".*")):
                    with open(f, "rb") as fh:
                        out += fh.read()
            return out
        except (subprocess.CalledProcessError, OSError):
            return db_dump(data_dir)[1].encode()
    out = b""
    for name in ("cloudhands.db", "cloudhands.db-wal"):
        p = data_dir / name
        if p.exists():
            out += p.read_bytes()
    return out


def unique_sleep(seconds):
    """A `sleep` command no other test (or concurrent test run) uses: pgrep finds only it."""
    return f"sleep {seconds}.{random.randint(100000, 999999)}"


def pgrep(pattern):
    """Pids of processes whose command line matches pattern."""
    p = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return p.stdout.split()
