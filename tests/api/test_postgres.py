"""Several API nodes and workers on one PostgreSQL database (issue 6): they share the data
directory's secret.key (API keys are hashed with it) and the database, and PostgreSQL alone
coordinates them: the concurrency limit across nodes, migrations when nodes start together, a
killed worker's conversation finished by another, live events and stops crossing processes
(LISTEN/NOTIFY), and PostgreSQL itself going away for 5 seconds under load. Runs only when the
suite runs on PostgreSQL (CLOUDHANDS_TEST_PG; see conftest.py)."""

import io
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from agent_helpers import (FAST_ENV, all_events, kinds, pgrep, unique_sleep, wait_event,
                           wait_for, wait_stopped)
from conftest import (BIN, PG_ADMIN_URL, REPO_ROOT, STOP_TIMEOUT, assert_no_sanitizer_report,
                      db_url_for, run_cli, unique)
from forge import git, make_bare_repo
from llm import ScriptedLLM, call

pytestmark = pytest.mark.skipif(PG_ADMIN_URL is None, reason="needs CLOUDHANDS_TEST_PG")


def test_two_nodes_share_the_concurrency_limit(server_factory):
    """50 parallel POSTs from one account spread over two nodes: exactly 10 conversations, the
    rest 429; both nodes list the same 10."""
    a = server_factory(name="node-a")
    b = server_factory(name="node-b", data_dir=a.data_dir)
    key = a.create_key(a.add_user())
    nodes = [a.api(key), b.api(key)]
    codes = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def post(i):
        start.wait()
        r = nodes[i % 2].post("/api/conversations", json={"initial_user_msg": f"job {i}"},
                              timeout=30)
        with lock:
            codes.append(r.status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(codes)) == [200, 429], codes
    assert codes.count(200) == 10 and codes.count(429) == 40
    ids_a = sorted(c["conversation_id"] for c in nodes[0].list_all())
    ids_b = sorted(c["conversation_id"] for c in nodes[1].list_all())
    assert len(ids_a) == 10 and ids_a == ids_b


def test_any_node_answers_the_same(server_factory):
    """State lives in the database, not in a node: an Idempotency-Key used on node A replays on
    node B; a web session made on A works on B; sign-in failures on A and B count together; a key
    revoked through B is refused by A at once."""
    a = server_factory(name="node-a")
    b = server_factory(name="node-b", data_dir=a.data_dir)
    user = unique("same")
    a.cli("user", "add", user, "--password-stdin", input="a-long-password\n")
    key = a.create_key(user)
    on_a, on_b = a.api(key), b.api(key)

    idem = {"Idempotency-Key": unique("idem")}
    first = on_a.create("once", headers=idem)
    again = on_b.create("once", headers=idem)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(on_b.list_all()) == 1

    web = requests.Session()
    r = web.post(a.base_url + "/api/auth/login", json={"username": user,
                                                       "password": "a-long-password"}, timeout=10)
    assert r.status_code == 200, r.text
    r = web.get(b.base_url + "/api/auth/session", timeout=10)
    assert r.status_code == 200 and r.json()["account"]["name"] == user, r.text

    other = unique("lock")
    a.cli("user", "add", other, "--password-stdin", input="a-long-password\n")
    for i in range(5):  # five failures, alternating nodes, lock the account on both
        node = (a, b)[i % 2]
        r = requests.post(node.base_url + "/api/auth/login",
                          json={"username": other, "password": "wrong password"}, timeout=10)
        assert r.status_code == 401, r.text
    for node in (a, b):
        r = requests.post(node.base_url + "/api/auth/login",
                          json={"username": other, "password": "a-long-password"}, timeout=10)
        assert r.status_code == 429, r.text

    key_id = on_b.get("/api/keys/current").json()["id"]
    assert on_b.delete(f"/api/keys/{key_id}").status_code == 200
    assert on_a.get("/api/conversations").status_code == 401


def test_nodes_starting_together_on_an_empty_database(server_factory, tmp_path):
    """Three nodes started at once on a fresh database: the migrations run once (under the
    advisory lock) and every node comes up and serves the same accounts."""
    first = server_factory(name="n0", start=False)
    nodes = [first] + [server_factory(name=f"n{i}", start=False, data_dir=first.data_dir)
                       for i in range(1, 3)]
    errors = []

    def start(srv):
        try:
            srv.start()
        except AssertionError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=start, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    key = first.create_key(first.add_user())
    for n in nodes:
        r = requests.get(n.base_url + "/api/conversations", timeout=10,
                         headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
    # exactly one admin account was bootstrapped, whichever node did it
    users = first.cli("user", "list").stdout
    assert users.count("admin") == 1, users


# -- API nodes and workers in separate processes ---------------------------------------------
# The tests below run `cloudhands serve --runners 0` (API only) beside `cloudhands worker`
# processes on the same data directory (the same secret.key) and database, as
# docs/DEPLOYMENT.md describes, and the scripted LLM (tests/fixtures/scripted_llm.py).

CLAIM_RE = re.compile(r'^time=(\S+) level=info msg="conversation claimed" conversation=(\w+) '
                      r'runner=(\S+)', re.M)


def parse_time(text):
    """An ISO time as the server writes it (logs, event timestamps) -> seconds since the epoch."""
    text = text.rstrip("Z")
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


class Worker:
    """One `cloudhands worker` process (no HTTP) on a data directory and its database; ready
    once it logs "working". stop() is SIGTERM and checks the exit like Server.stop."""

    def __init__(self, workdir, data_dir, args=(), env=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir)
        self.args = list(args)
        self.env = dict(env or {})
        self.proc = None
        self.starts = 0
        self.stderr_path = None

    def start(self):
        self.starts += 1
        self.stderr_path = self.workdir / f"worker{self.starts}.stderr"
        env = dict(os.environ)
        env.update(self.env)
        env.setdefault("CLOUDHANDS_DB", db_url_for(self.data_dir))
        argv = [BIN, "worker", "--data", str(self.data_dir), *self.args]
        with open(self.workdir / f"worker{self.starts}.stdout", "wb") as out, \
                open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env=env)
        deadline = time.monotonic() + 10
        while 'msg="working"' not in self.stderr() and "msg=working" not in self.stderr():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not working after 10 s:\n{self.stderr()}")
            time.sleep(0.05)
        return self

    def stderr(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path else ""

    def claims(self):
        """[(time, conversation, runner)] of the "conversation claimed" log lines."""
        return [(parse_time(t), c, r) for t, c, r in CLAIM_RE.findall(self.stderr())]

    def kill(self):
        """kill -9: no chance to hand anything back."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self):
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"worker did not exit within {STOP_TIMEOUT}s of SIGTERM\n"
                                 f"{self.stderr()}")
        self.proc = None
        assert_no_sanitizer_report(self.stderr(), "worker")
        return rc


@pytest.fixture
def llm():
    server = ScriptedLLM()
    yield server
    server.close()


@pytest.fixture
def workers(tmp_path):
    """workers(data_dir, llm, runners=1, lease=3, name=None, extra=(), env=None) -> a started
    Worker running against the scripted LLM `llm`, on the database of `data_dir` (or env's
    CLOUDHANDS_DB); all are stopped (SIGTERM, sanitizer check) at teardown."""
    made = []

    def make(data_dir, llm, runners=1, lease=3, name=None, extra=(), env=None):
        args = ["--runners", str(runners), "--lease-seconds", str(lease),
                "--llm-model", "gpt-4o", "--llm-base-url", llm.base_url,
                "--no-change-timeout", "2", *extra]
        w = Worker(tmp_path / (name or f"worker{len(made)}"), data_dir, args,
                   {**FAST_ENV, **(env or {})})
        made.append(w)
        return w.start()

    yield make
    errors = []
    for w in made:
        try:
            w.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


def tool_messages(request):
    return [(m["role"], m.get("tool_call_id"), m.get("content"))
            for m in request["body"]["messages"][1:]]


def test_a_killed_worker_s_conversation_is_finished_by_another(server_factory, workers, llm):
    """kill -9 of the worker running a conversation mid-command: a second worker, idle beside it
    all along, leaves it alone while the first holds the lease, takes it over once the lease has
    run out, and finishes it from the stored events; nothing repeats, nothing is lost."""
    # Long enough to be still running when the kill comes (after more than a lease, below);
    # the kill ends it long before.
    marker = unique_sleep(30)
    api_node = server_factory(name="api")  # --runners 0: the API only
    llm.script([
        {"tool_calls": [call("execute_bash", command="echo one > one.txt")]},
        {"tool_calls": [call("execute_bash", command=marker, timeout=100)]},
        {"tool_calls": [call("finish", message="finished by another worker")]},
    ])
    a = workers(api_node.data_dir, llm, name="worker-a")
    api = api_node.new_account()
    cid = api.create_id("survive a worker")
    wait_event(api, cid, lambda e: e.get("action") == "run" and e["args"]["command"] == marker,
               what="the long command")
    wait_for(lambda: pgrep(marker), 10, what="the command to start")
    b = workers(api_node.data_dir, llm, name="worker-b")
    # Longer than the lease (3 s): A's heartbeat keeps the conversation A's, B stays idle.
    time.sleep(3.5)
    assert b.claims() == [], b.stderr()
    assert api.conv(cid)["status"] == "RUNNING"
    assert pgrep(marker), "the command ended early"
    before = all_events(api, cid)

    a.kill()
    killed_at = time.time()
    # The sandbox does not outlive its worker.
    wait_for(lambda: not pgrep(marker), 5, what="the sandbox to die with worker A")
    c = wait_stopped(api, cid, timeout=15)
    finished_at = time.time()
    assert c["agent_state"] == "finished" and c["error"] is None, (c, b.stderr())

    # B claimed it after the kill, within the lease (3 s) and a claim poll (1 s) and some.
    claims_a = [x for x in a.claims() if x[1] == cid]
    claims_b = [x for x in b.claims() if x[1] == cid]
    assert len(claims_a) == 1 and len(claims_b) == 1, (a.claims(), b.claims())
    assert claims_a[0][2] != claims_b[0][2]
    assert killed_at - 0.5 < claims_b[0][0] < killed_at + 3 + 1 + 2.5, (killed_at, claims_b)
    assert finished_at - killed_at < 10

    after = all_events(api, cid)
    assert after[:len(before)] == before  # every stored event, same ids and content
    assert [e["id"] for e in after] == list(range(len(after)))  # no id twice, none missing
    states = [e["extras"]["agent_state"] for e in after
              if e.get("observation") == "agent_state_changed"]
    # One run per worker, and the second began only after the first's lease ran out: a
    # "running" (A), then B's "running" and the end; no other state between.
    assert states == ["running", "running", "finished"], states
    new = kinds(after[len(before):])
    assert new[0] == "agent_state_changed" and new[-2:] == ["finish", "agent_state_changed"]
    # The interrupted command has no observation: its result is lost, and the model is told so.
    sleep_action = next(e for e in before if e.get("action") == "run"
                        and e["args"]["command"] == marker)
    assert not [e for e in after if e.get("cause") == sleep_action["id"]]
    reqs = llm.requests()
    assert len(reqs) == 3, [r["body"]["messages"][-1] for r in reqs]
    resumed = tool_messages(reqs[2])
    assert [m[:2] for m in resumed] == [("user", None), ("assistant", None), ("tool", "call_1"),
                                        ("assistant", None), ("tool", "call_2")]
    assert "server stopped" in resumed[4][2] and "lost" in resumed[4][2]
    # What the model saw before the crash is what it saw again after it.
    assert reqs[2]["body"]["messages"][:4] == reqs[1]["body"]["messages"][:4]
    assert (api_node.data_dir / "workspaces" / cid / "one.txt").read_text() == "one\n"


def read_sse_timed(resp, out):
    """Appends (arrival time, id, event) for each event of an SSE response until it ends."""
    fields = {}
    for line in resp.iter_lines(decode_unicode=True):
        if line == "":
            if fields:
                out.append((time.time(), int(fields["id"]), json.loads(fields["data"])))
                fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


def test_live_events_cross_from_a_worker_to_another_node_s_stream(server_factory, workers, llm):
    """A stream open on an API node that runs nothing shows the events a worker process writes
    as they are stored (LISTEN/NOTIFY), not at the stream's 15-second keep-alive tick."""
    api_node = server_factory(name="api")
    api = api_node.new_account()
    # Model turns 0.4 s apart: the events arrive one by one, with quiet gaps between them.
    llm.script([{"tool_calls": [call("think", thought=f"step {i}")], "delay": 0.4}
                for i in range(5)]
               + [{"tool_calls": [call("finish", message="all done")], "delay": 0.4}])
    cid = api.create_id("stream me across nodes")
    got = []
    with api.get(f"/api/conversations/{cid}/events/stream", stream=True, timeout=30) as r:
        assert r.status_code == 200, r.text
        reader = threading.Thread(target=read_sse_timed, args=(r, got), daemon=True)
        reader.start()
        wait_for(lambda: got, 5, what="the stored first event")
        workers(api_node.data_dir, llm, name="worker")  # starts only now: the stream waits
        reader.join(20)
        assert not reader.is_alive(), f"the stream did not end; got {len(got)} events"
    c = api.conv(cid)
    assert (c["status"], c["agent_state"]) == ("STOPPED", "finished"), c
    evs = all_events(api, cid)
    assert [i for _, i, _ in got] == [e["id"] for e in evs] == list(range(len(evs)))
    assert [d for _, _, d in got] == evs
    assert len(evs) >= 13
    # Each event reached the client within 2 s of its timestamp (the worker's clock is this
    # machine's; typically a few milliseconds): far from the 15 s tick a stream waits for
    # without a signal.
    lags = [round(at - parse_time(d["timestamp"]), 3) for at, _, d in got[1:]]
    assert max(lags) < 2.0, lags


def test_a_stop_on_an_api_node_kills_the_worker_s_sandbox_at_once(server_factory, workers, llm):
    """POST .../stop on the API node while a worker runs `sleep 60`: STOPPED at once, and the
    worker kills the sandbox within a couple of seconds. The lease is 30 s (renewed every 10 s),
    so only the cross-process stop signal can be that quick."""
    marker = unique_sleep(60)
    api_node = server_factory(name="api")
    llm.script([{"tool_calls": [call("execute_bash", command=marker, timeout=120)]},
                {"tool_calls": [call("finish", message="never")]}])
    w = workers(api_node.data_dir, llm, lease=30, name="worker")
    api = api_node.new_account()
    cid = api.create_id("stop me from elsewhere")
    wait_for(lambda: pgrep(marker), 10, what="the command to start")
    time.sleep(0.3)
    t0 = time.monotonic()
    r = api.post(f"/api/conversations/{cid}/stop")
    assert r.status_code == 200, r.text
    assert r.json()["conversation_status"] == "STOPPED"
    wait_for(lambda: not pgrep(marker), 2.5, interval=0.02,
             what="the worker to kill the sandbox")
    gone = time.monotonic() - t0
    assert gone < 2.5, gone
    c = api.conv(cid)
    assert (c["status"], c["agent_state"]) == ("STOPPED", "stopped"), c
    # The worker let the conversation go (its next claim finds nothing) and stays usable.
    assert 'msg="conversation cancelled" conversation=' + cid + " reason=stopped" in w.stderr()
    assert len(llm.requests()) == 1
    time.sleep(1.5)
    assert api.conv(cid)["status"] == "STOPPED"
    assert not pgrep(marker)
    events = all_events(api, cid)
    assert [e["id"] for e in events] == list(range(len(events)))
    assert w.proc.poll() is None


@pytest.fixture
def own_pg():
    """A PostgreSQL server of this test's own (scripts/pg.sh, in a directory under /tmp that the
    `postgres` user can reach when the tests run as root), so stopping it disturbs no other
    test; yields (url, pause, resume)."""
    pg_dir = tempfile.mkdtemp(prefix="cloudhands-pg-outage-", dir="/tmp")
    os.chmod(pg_dir, 0o755)
    script = str(REPO_ROOT / "scripts" / "pg.sh")

    def pg(cmd):
        p = subprocess.run([script, cmd, pg_dir], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"pg.sh {cmd}: {p.stderr}"
        return p.stdout.strip()

    url = pg("start")
    try:
        yield url, lambda: pg("pause"), lambda: pg("resume")
    finally:
        subprocess.run([script, "stop", pg_dir], capture_output=True, timeout=60)


def test_postgres_stopped_for_5_seconds_under_load(own_pg, server_factory, workers, llm):
    """PostgreSQL stops (fast shutdown: every connection cut) for 5 s while clients create
    conversations, post messages and read, and a worker runs them. During the outage every
    request is answered 503 with a body that says why (no crash, no reset connection); then
    both processes recover by themselves, every write that was answered 200 is there, event ids
    stay contiguous, and every conversation reaches an end."""
    url, pause, resume = own_pg
    db = {"CLOUDHANDS_DB": url}
    api_node = server_factory(name="api", env=db)
    # Every model request answers with a plain message: the agent then waits for the user
    # (STOPPED, awaiting_user_input) until the next posted message queues it again.
    llm.script([], on_exhausted="finish")
    worker = workers(api_node.data_dir, llm, runners=2, lease=3, name="worker", env=db)
    user = unique("outage")
    run_cli("user", "add", user, "--max-concurrent", "100000", "--password-stdin",
            data_dir=api_node.data_dir, env=db, input="a-long-password\n")
    key = run_cli("key", "create", "--user", user, "--name", "k", data_dir=api_node.data_dir,
                  env=db).stdout.strip()

    lock = threading.Lock()
    created = []      # conversation ids answered 200
    messages = []     # (conversation id, text) answered 200
    log = []          # (start, end, op, status or exception text, body)
    stop = threading.Event()
    seed = api_node.api(key)
    created.append(seed.create_id("seed"))

    def client(n):
        s = api_node.api(key)
        i = 0
        while not stop.is_set():
            i += 1
            op = ("create", "message", "get", "events")[i % 4]
            t0 = time.time()
            try:
                if op == "create":
                    r = s.post("/api/conversations", json={"initial_user_msg": f"c{n}.{i}"})
                else:
                    with lock:
                        cid = created[(n * 7 + i) % len(created)]
                    if op == "message":
                        text = f"m{n}.{i}"
                        r = s.post(f"/api/conversations/{cid}/message", json={"message": text})
                    elif op == "get":
                        r = s.get(f"/api/conversations/{cid}")
                    else:
                        r = s.get(f"/api/conversations/{cid}/events", params={"limit": 100})
            except requests.RequestException as e:
                with lock:
                    log.append((t0, time.time(), op, repr(e), None))
                continue
            with lock:
                log.append((t0, time.time(), op, r.status_code, r.text))
                if r.status_code == 200 and op == "create":
                    created.append(r.json()["conversation_id"])
                if r.status_code == 200 and op == "message":
                    messages.append((cid, text))
            time.sleep(0.01)
        s.close()

    clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in clients:
        t.start()
    try:
        time.sleep(2)
        pause()
        down = time.time()
        time.sleep(5)
        back = time.time()  # PostgreSQL starts again from here on
        resume()
        up = time.time()
        time.sleep(8)  # the node retries its connection with a backoff of at most 5 s
    finally:
        stop.set()
        for t in clients:
            t.join(30)

    # Never a reset, refused or timed-out connection; never anything but 200 or 503.
    broken = [x for x in log if not isinstance(x[3], int)]
    assert not broken, broken[:5]
    assert {x[3] for x in log} <= {200, 503}, sorted({x[3] for x in log})
    during = [x for x in log if down < x[0] and x[1] < back]
    assert len(during) > 20 and {x[3] for x in during} == {503}, during[:5]
    for x in during:
        body = json.loads(x[4])
        assert set(body) == {"detail"} and "database" in body["detail"].lower(), x
    # Back by itself: everything started a backoff's length after PostgreSQL's return is 200.
    late = [x for x in log if x[0] > up + 6]
    assert len(late) > 20 and {x[3] for x in late} == {200}, [x for x in late if x[3] != 200][:5]
    assert api_node.proc.poll() is None and worker.proc.poll() is None
    ok_before = [x for x in log if x[1] < down and x[3] == 200]
    assert len(ok_before) > 20, "too little load before the outage"

    # No acknowledged write lost: every conversation answered 200 exists with its events
    # (contiguous ids), every message answered 200 is among them exactly once; and the worker
    # brings every conversation to an end (those it was running when the database went away
    # are taken again once their lease expires).
    check = api_node.api(key)
    listed = {c["conversation_id"] for c in check.list_all()}
    assert set(created) <= listed, set(created) - listed
    for cid in created:
        wait_stopped(check, cid, timeout=20)
    texts = {}
    for cid in created:
        evs = all_events(check, cid)
        assert [e["id"] for e in evs] == list(range(len(evs))), (cid, [e["id"] for e in evs])
        for e in evs:
            if e.get("source") == "user" and e.get("action") == "message":
                texts.setdefault(cid, []).append(e["args"]["content"])
    for cid, text in messages:
        assert texts.get(cid, []).count(text) == 1, (cid, text, texts.get(cid))
    assert len(messages) > 10


# -- workspaces on several machines ---------------------------------------------------------
# Each "machine" below is a data directory of its own (its own node.id and workspaces), holding
# a copy of the API node's secret.key, on the API node's database: what docs/DEPLOYMENT.md has
# an operator set up on separate hosts.

def machine(tmp_path, name, api_node):
    """A fresh data directory with the API node's secret.key (and nothing else)."""
    d = tmp_path / name
    d.mkdir()
    key = d / "secret.key"
    key.write_bytes((api_node.data_dir / "secret.key").read_bytes())
    key.chmod(0o600)
    return d


def two_machines(server_factory, tmp_path):
    """A bare repository acme/demo (the `git` provider), an API node using it, and two machines'
    data directories on its database: (repos, git flags, API node, {"CLOUDHANDS_DB": ...}, machine
    A's directory, machine B's)."""
    repos = tmp_path / "bare"
    make_bare_repo(repos, "acme/demo", {"README.md": "# Demo\n"})
    git_args = ["--default-git-provider", "git",
                "--git-url-template", f"file://{repos}/{{owner}}/{{repo}}.git"]
    api_node = server_factory(name="api", args=git_args)
    db = {"CLOUDHANDS_DB": db_url_for(api_node.data_dir)}
    return (repos, git_args, api_node, db, machine(tmp_path, "machine-a", api_node),
            machine(tmp_path, "machine-b", api_node))


def worker_url(w):
    """The URL a worker started with --listen 127.0.0.1:0 logged as its own."""
    m = re.search(r'url=(http://127\.0\.0\.1:\d+)', w.stderr())
    assert m, w.stderr()
    return m.group(1)


def node_rows(api_node, db):
    """`cloudhands node list` as {node id: [HERE, STATE, URL, WORKSPACES]} (HERE may be empty)."""
    out = run_cli("node", "list", data_dir=api_node.data_dir, env=db).stdout.splitlines()
    assert out[0].split() == ["NODE", "HERE", "STATE", "URL", "WORKSPACES"], out
    rows = {}
    for line in out[1:]:
        node, here, rest = line[:32], line[33:38].strip(), line[39:].split()
        rows[node] = [here, " ".join(rest[:-2]), *rest[-2:]]
    return rows


def test_workspaces_follow_their_conversation_across_machines(server_factory, workers, llm,
                                                               tmp_path):
    """A conversation run by worker A on machine A: the API node (which holds no workspace)
    answers list-files, git/changes, git/diff and zip-directory from A. A follow-up goes back to
    A while A lives, though B idles beside it. Once A is killed, the next follow-up runs on B,
    which rebuilds the workspace from the pushed work branch (same branch, same base, the model
    told), pushes on top of it, and from then on serves the workspace. DELETE on the API node
    removes B's copy, and A's stale copy goes when A starts again."""
    repos, git_args, api_node, db, dir_a, dir_b = two_machines(server_factory, tmp_path)
    listen = ["--listen", "127.0.0.1:0", *git_args]
    a = workers(dir_a, llm, name="worker-a", extra=listen, env=db)
    user = unique("fwd")
    api_node.cli("user", "add", user, "--password-stdin", input="a-long-password\n")
    api = api_node.api(api_node.create_key(user))

    llm.script([
        {"tool_calls": [call("execute_bash", command="echo one > one.txt")]},
        {"tool_calls": [call("finish", message="Add one.txt")]},
    ])
    cid = api.create_id("add one.txt", repository="acme/demo")
    first = wait_stopped(api, cid, timeout=30)
    assert first["agent_state"] == "finished", first.get("error")
    branch = first["branch"]
    assert (dir_a / "workspaces" / cid / "demo" / "one.txt").read_text() == "one\n"
    assert not (api_node.data_dir / "workspaces" / cid).exists()

    # The API node answers from machine A.
    r = api.get(f"/api/conversations/{cid}/list-files", params={"path": "demo"})
    assert r.status_code == 200, r.text
    assert "demo/one.txt" in r.json() and "demo/README.md" in r.json()
    r = api.get(f"/api/conversations/{cid}/git/changes")
    assert r.status_code == 200 and r.json() == [{"status": "A", "path": "demo/one.txt"}], r.text
    r = api.get(f"/api/conversations/{cid}/git/diff", params={"path": "demo/one.txt"})
    assert r.status_code == 200 and r.json() == {"modified": "one\n", "original": ""}, r.text
    r = api.get(f"/api/conversations/{cid}/select-file", params={"file": "/workspace/demo/one.txt"})
    assert r.status_code == 200 and r.json() == {"code": "one\n"}, r.text
    r = api.get(f"/api/conversations/{cid}/zip-directory")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(r.content)).read("workspace/demo/one.txt") == b"one\n"
    # The web UI's session cookie is relayed as well as an API key.
    web = requests.Session()
    r = web.post(api_node.base_url + "/api/auth/login",
                 json={"username": user, "password": "a-long-password"}, timeout=10)
    assert r.status_code == 200, r.text
    r = web.get(f"{api_node.base_url}/api/conversations/{cid}/list-files", params={"path": "demo"},
                timeout=10)
    assert r.status_code == 200 and "demo/one.txt" in r.json(), r.text
    # Errors come back as A answered them; another account's request is refused as anywhere.
    r = api.get(f"/api/conversations/{cid}/list-files", params={"path": "nowhere"})
    assert r.status_code == 404 and "nowhere" in r.text, r.text
    other = api_node.new_account()
    assert other.get(f"/api/conversations/{cid}/list-files").status_code == 404
    # A client that sends the forwarding mark itself gets no answer from the wrong disk, and its
    # value cannot forge fields of the log line.
    r = api.get(f"/api/conversations/{cid}/list-files",
                headers={"X-Cloudhands-Forwarded": 'x" level=info msg="forged'})
    assert r.status_code == 503 and "--node-url" in r.text, r.text
    assert 'from="x\\" level=info msg=\\"forged"' in api_node.stderr(), api_node.stderr()
    # A worker serves workspaces and nothing else.
    assert requests.get(worker_url(a) + "/api/conversations", timeout=5,
                        headers=api.headers).status_code == 404
    assert requests.get(worker_url(a) + "/alive", timeout=5).status_code == 200

    # A follow-up goes back to A while A lives, though B is idle.
    b = workers(dir_b, llm, name="worker-b", extra=listen, env=db)
    llm.script([
        {"tool_calls": [call("execute_bash", command="echo two > two.txt")]},
        {"tool_calls": [call("finish", message="Add two.txt")]},
    ])
    assert api.post(f"/api/conversations/{cid}/message", json={"message": "add two"}).ok
    second = wait_stopped(api, cid, timeout=30)
    assert second["agent_state"] == "finished", second.get("error")
    assert [c for _, c, _ in a.claims()].count(cid) == 2 and b.claims() == []
    # The operator's view: both nodes alive, A holding the workspace.
    id_a, id_b = ((d / "node.id").read_text() for d in (dir_a, dir_b))
    rows = node_rows(api_node, db)
    assert rows[id_a][1:] == ["alive", worker_url(a), "1"], rows
    assert rows[id_b][1:] == ["alive", worker_url(b), "0"], rows

    # A dies. Its workspace cannot be read meanwhile, and the API node says so.
    a.kill()
    time.sleep(3.5)  # past A's lease (3 s): A counts as gone
    r = api.get(f"/api/conversations/{cid}/list-files")
    assert r.status_code == 503 and "not running" in r.text, r.text
    assert node_rows(api_node, db)[id_a][1].startswith("gone ")

    # The next follow-up runs on B, from the pushed branch.
    llm.script([
        {"tool_calls": [call("execute_bash", command="git branch --show-current && ls -1")]},
        {"tool_calls": [call("execute_bash", command="echo three > three.txt")]},
        {"tool_calls": [call("finish", message="Add three.txt")]},
    ])
    assert api.post(f"/api/conversations/{cid}/message", json={"message": "add three"}).ok
    third = wait_stopped(api, cid, timeout=30)
    assert third["agent_state"] == "finished", (third.get("error"), b.stderr())
    assert [c for _, c, _ in b.claims()] == [cid]
    assert third["branch"] == branch
    evs = all_events(api, cid)
    restored = [e for e in evs if e.get("observation") == "git" and e["extras"].get("restored")]
    assert len(restored) == 1 and branch in restored[0]["content"]
    shown = [e for e in evs if e.get("observation") == "run"][-2]["content"]
    assert shown.split("\n")[:4] == [branch, "README.md", "one.txt", "two.txt"], shown
    # The model was told before its first step on B.
    told = llm.requests()[-3]["body"]["messages"]
    assert "rebuilt on another machine" in told[-1]["content"]
    subjects = git("--git-dir", str(repos / "acme/demo.git"), "log", "--format=%s", branch,
                   "-n", "4").stdout.split("\n")
    assert subjects[:3] == ["Add three.txt", "Add two.txt", "Add one.txt"], subjects
    # The API node now answers from B, with the same base as before.
    r = api.get(f"/api/conversations/{cid}/git/changes")
    assert r.status_code == 200, r.text
    assert sorted(c["path"] for c in r.json()) == ["demo/one.txt", "demo/three.txt",
                                                   "demo/two.txt"]
    assert all(c["status"] == "A" for c in r.json())

    # DELETE on the API node: B removes its copy on the stop signal.
    assert (dir_b / "workspaces" / cid).is_dir()
    assert api.delete(f"/api/conversations/{cid}").status_code == 200
    wait_for(lambda: not (dir_b / "workspaces" / cid).exists()
             and not (dir_b / "workspaces" / f"{cid}.git").exists(), 5,
             what="B to remove the deleted conversation's workspace")
    # A was down then: its stale copy goes when it starts again.
    assert (dir_a / "workspaces" / cid).is_dir()
    a.start()
    wait_for(lambda: not (dir_a / "workspaces" / cid).exists(), 5,
             what="A to sweep the deleted conversation's workspace")


def test_a_node_with_another_secret_key_is_refused(server_factory, workers, llm, tmp_path):
    """Every node must hold the same secret.key (API keys are hashed and tokens sealed with it): a
    worker whose data directory has another one refuses to start, and says what to do."""
    api_node = server_factory(name="api")
    db = {"CLOUDHANDS_DB": db_url_for(api_node.data_dir)}
    stranger = tmp_path / "stranger"  # no secret.key: the worker makes a new one
    with pytest.raises(AssertionError) as e:
        workers(stranger, llm, name="stranger", env=db)
    assert "worker exited with 1" in str(e.value)
    assert "is not the key this database was set up with" in str(e.value)
    assert "same secret.key" in str(e.value)
    # The database is untouched: the API node serves on.
    assert api_node.new_account().get("/api/conversations").status_code == 200


def test_a_wrong_node_url_and_a_deleted_work_branch(server_factory, workers, llm, tmp_path):
    """Worker A records a URL that leads to the API node instead of itself (a --node-url mistake):
    a workspace request relayed there is answered 503 naming the mistake, not from the API node's
    own (empty) disk. Then A dies and the work branch is deleted on the provider (say, merged):
    the follow-up on B makes the branch again from the base, and the model is told so."""
    repos, git_args, api_node, db, dir_a, dir_b = two_machines(server_factory, tmp_path)
    a = workers(dir_a, llm, name="worker-a", env=db,
                extra=["--listen", "127.0.0.1:0", "--node-url", api_node.base_url, *git_args])
    api = api_node.new_account()
    llm.script([{"tool_calls": [call("execute_bash", command="echo one > one.txt")]},
                {"tool_calls": [call("finish", message="Add one.txt")]}])
    cid = api.create_id("add one.txt", repository="acme/demo")
    first = wait_stopped(api, cid, timeout=30)
    assert first["agent_state"] == "finished", first.get("error")
    r = api.get(f"/api/conversations/{cid}/list-files")
    assert r.status_code == 503 and "--node-url" in r.text, r.text
    assert "reached the wrong node" in api_node.stderr()

    a.kill()
    bare = repos / "acme/demo.git"
    git("--git-dir", str(bare), "branch", "-D", first["branch"])
    b = workers(dir_b, llm, name="worker-b", env=db, extra=["--listen", "127.0.0.1:0", *git_args])
    llm.script([{"tool_calls": [call("execute_bash", command="ls -1")]},
                {"tool_calls": [call("execute_bash", command="echo two > two.txt")]},
                {"tool_calls": [call("finish", message="Add two.txt")]}])
    assert api.post(f"/api/conversations/{cid}/message", json={"message": "add two"}).ok
    second = wait_stopped(api, cid, timeout=30)
    assert second["agent_state"] == "finished", (second.get("error"), b.stderr())
    assert second["branch"] == first["branch"]
    note = [e for e in all_events(api, cid)
            if e.get("observation") == "git" and e["extras"].get("restored")]
    assert len(note) == 1 and "no longer on the git provider" in note[0]["content"], note
    assert "made again from \"main\"" in note[0]["content"]
    shown = [e for e in all_events(api, cid) if e.get("observation") == "run"][-2]["content"]
    assert shown.split("\n")[:2] == ["README.md", "[The command completed with exit code 0.]"], \
        shown
    log = git("--git-dir", str(bare), "log", "--format=%s", first["branch"]).stdout.split("\n")
    assert log[:3] == ["Add two.txt", "initial commit", ""], log
    r = api.get(f"/api/conversations/{cid}/git/changes")
    assert r.status_code == 200 and r.json() == [{"status": "A", "path": "demo/two.txt"}], r.text
