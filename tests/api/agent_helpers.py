"""Helpers shared by the agent-runtime API tests (test_runtime_api, test_settings_secrets,
test_stream, test_restart_agent): servers that run agents against the scripted LLM, waiting for
a conversation to settle, reading every event, and looking into the server's SQLite file.

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


def db_dump(data_dir):
    """Every value of every table of the server's SQLite database, as one text (read-only)."""
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
    """The database files' bytes (main file and WAL), for "not stored in plain text" checks."""
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
