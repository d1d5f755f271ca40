#!/usr/bin/python3
"""bench/multinode.py: cloudhands on PostgreSQL with several processes (issue 6, "Speed").

Two parts, each beside the SQLite single-node figure measured in the same run, and printed as a
ratio to it:

  http    requests/s of an authenticated GET /api/conversations/{id} and of
          POST /api/conversations/{id}/message (bench/message.lua: one conversation in each of
          MN_ACCOUNTS accounts, taken in turn) against
            sqlite   one `serve --runners 0` on SQLite (the default deployment)
            pg-1     one `serve --runners 0` on PostgreSQL
            pg-2     two `serve --runners 0` on the same PostgreSQL and data directory
          The client is the same for all three: two wrk processes at once (`wrk -t1`, half of
          MN_CONNS connections each), both at the one node or one at each of the two nodes.
          Each round measures the six (three setups x GET, POST) once, in that order; the median
          round of each is reported, with the CPU every cloudhands process and every PostgreSQL
          process used per request.
  claims  conversations taken from the queue per second by 16 runners: MN_CLAIMS conversations
          are queued first (through a `serve --runners 0`, which is then stopped), then
            sqlite     `serve --runners 16` on SQLite
            pg-1x16    one `worker --runners 16` on PostgreSQL
            pg-2x8     two `worker --runners 8` on PostgreSQL (started together)
          take them all. "claim cycle": no LLM is configured, so each run ends at once with an
          error: the claim (SKIP LOCKED on PostgreSQL), the settings and events read, and the
          final event written with the status, in one transaction — the queue's own cost. "full
          run" (MN_RUNS conversations): the scripted LLM of the tests answers every model
          request at once with a plain message, so each run also starts a bubblewrap sandbox,
          writes its `running` event, calls the model and stores its answer. The rate is
          conversations / (last "conversation stopped" - first "conversation claimed"), from the
          processes' own log lines, so process start-up is not counted.

  forward GET /api/conversations/{id}/list-files of a conversation whose workspace is on a
          worker (`worker --listen`, its own data directory): asked of the worker itself (served
          from its disk: the baseline) and of an API node, which relays it to the worker
          (api/forward.c). Same wrk client, MN_ROUNDS rounds alternating the two; the median
          round of each, and the ratio relayed/direct.

Only reports: a slow result never fails. A broken setup does (exit 1): PostgreSQL or a node does
not start, a key cannot be made, a GET does not answer 200, a conversation does not end.
Everything started here is stopped, and the temporary directories removed, on exit (also on
Ctrl-C and SIGTERM).

Environment:
  CLOUDHANDS_BIN   the binary (default build/cloudhands)
  MN_PHASES        the parts to run, in order (default "http claims forward")
  MN_SECONDS       seconds per wrk measurement (default 10)
  MN_ROUNDS        rounds of the six HTTP measurements (default 3)
  MN_CONNS         connections in all, split over two wrk processes (default 64)
  MN_ACCOUNTS      accounts the POST spreads over (default 16)
  MN_CLAIMS        conversations of the claim-cycle measurement (default 5000)
  MN_RUNS          conversations of the full-run measurement (default 200; 0 skips it)
  MN_NODE_ARGS     extra flags for the three HTTP nodes, e.g. "--threads 8" (default none)
Raw wrk outputs and the processes' logs: bench/out/mn-*.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BIN = os.environ.get("CLOUDHANDS_BIN") or str(ROOT / "build" / "cloudhands")
PHASES = (os.environ.get("MN_PHASES") or "http claims forward").split()
SECS = int(os.environ.get("MN_SECONDS") or 10)
ROUNDS = int(os.environ.get("MN_ROUNDS") or 3)
CONNS = int(os.environ.get("MN_CONNS") or 64)
ACCOUNTS = int(os.environ.get("MN_ACCOUNTS") or 16)
CLAIMS = int(os.environ.get("MN_CLAIMS") or 5000)
RUNS = int(os.environ.get("MN_RUNS") if os.environ.get("MN_RUNS") is not None else 200)
NODE_ARGS = (os.environ.get("MN_NODE_ARGS") or "").split()
HZ = os.sysconf("SC_CLK_TCK")
KEY_RE = re.compile(r"oh_[0-9a-f]{64}")
LOG_RE = re.compile(r'^time=(\S+) level=info msg="conversation (claimed|stopped)" '
                    r'conversation=(\w+)', re.M)

procs = []          # every process started here, stopped at exit
temp_dirs = []      # removed at exit
pg_dir = None       # the throwaway PostgreSQL (scripts/pg.sh)


def die(msg):
    print(f"multinode: {msg}", file=sys.stderr)
    sys.exit(1)


def note(msg):
    print(f"multinode: {msg}", flush=True)


# ---- processes ---------------------------------------------------------------------------------

def cleanup():
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    procs.clear()
    if pg_dir:
        subprocess.run([str(ROOT / "scripts" / "pg.sh"), "stop", pg_dir], capture_output=True,
                       timeout=60)
    for d in temp_dirs:
        shutil.rmtree(d, ignore_errors=True)


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in procs:
        procs.remove(p)


def env_with(db):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDHANDS_")}
    if db:
        env["CLOUDHANDS_DB"] = db
    return env


class Node:
    """A `cloudhands serve` (HTTP) or `cloudhands worker` process; its log in bench/out."""

    def __init__(self, name, data, db=None, args=(), serve=True, env=None):
        self.name, self.data, self.db = name, data, db
        self.port = free_port() if serve else None
        self.log = OUT / f"mn-{name}.log"
        argv = [BIN, "serve" if serve else "worker", "--data", str(data), *args]
        if serve:
            argv += ["--listen", f"127.0.0.1:{self.port}"]
        e = env_with(db)
        e.update(env or {})
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=e)
        procs.append(self.proc)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                die(f"{name} exited with {self.proc.returncode} at start (log: {self.log})")
            if serve:
                try:
                    status, _ = request(self.port, "GET", "/alive")
                    if status == 200:
                        break
                except OSError:
                    pass
            elif 'msg="working"' in self.log.read_text(errors="replace") or \
                    "msg=working" in self.log.read_text(errors="replace"):
                break
            if time.monotonic() > deadline:
                die(f"{name} not ready after 20 s (log: {self.log})")
            time.sleep(0.05)

    def stop(self):
        stop(self.proc)

    def events(self):
        """[(time, "claimed"|"stopped", conversation)] from the log."""
        return [(parse_time(t), kind, cid)
                for t, kind, cid in LOG_RE.findall(self.log.read_text(errors="replace"))]


def parse_time(text):
    return datetime.fromisoformat(text.rstrip("Z")).replace(tzinfo=timezone.utc).timestamp()


def cli(data, db, *args):
    p = subprocess.run([BIN, *args, "--data", str(data)], capture_output=True, text=True,
                       env=env_with(db), stdin=subprocess.DEVNULL, timeout=60)
    if p.returncode != 0:
        die(f"cloudhands {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout


def new_key(data, db, max_concurrent=100000000):
    user = f"bench{os.getpid()}x{next_id()}"
    cli(data, db, "user", "add", user, "--max-concurrent", str(max_concurrent))
    m = KEY_RE.search(cli(data, db, "key", "create", "--user", user, "--name", "bench"))
    if not m:
        die("no key in the output of `key create`")
    return m.group(0)


_ids = iter(range(1, 1 << 30))
_ids_lock = threading.Lock()


def next_id():
    with _ids_lock:
        return next(_ids)


class Client:
    """Keep-alive HTTP to one node."""

    def __init__(self, port, key=None):
        self.port, self.key = port, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        return None


def request(port, method, path, key=None, body=None):
    c = Client(port, key)
    try:
        return c.call(method, path, body)
    finally:
        c.conn.close()


def create(port, key, msg="bench task"):
    status, body = request(port, "POST", "/api/conversations", key, {"initial_user_msg": msg})
    if status != 200:
        die(f"POST /api/conversations answered {status}: {body[:300]!r}")
    return json.loads(body)["conversation_id"]


def create_many(port, key, n, threads=4):
    """n conversations through `threads` keep-alive connections."""
    errors = []

    def work(count):
        c = Client(port, key)
        for _ in range(count):
            status, body = c.call("POST", "/api/conversations", {"initial_user_msg": "queued"})
            if status != 200:
                errors.append(f"{status} {body[:200]!r}")
                return

    ts = [threading.Thread(target=work, args=(n // threads + (i < n % threads),))
          for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        die(f"queueing conversations: {errors[0]}")


# ---- CPU ---------------------------------------------------------------------------------------

def ticks(pid):
    """utime + stime of a process (all its threads), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def pg_pids():
    """The PostgreSQL server's processes: the postmaster and its children."""
    try:
        master = int((Path(pg_dir) / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError, TypeError):
        return []
    pids = [master]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        pids.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def cpu_snapshot(node_pids):
    pg = pg_pids()
    return ({p: ticks(p) for p in node_pids}, {p: ticks(p) for p in pg})


def cpu_delta(before, after):
    """(seconds of CPU of the nodes, of PostgreSQL) between two snapshots. PostgreSQL backends
    that exited in between are not counted (connections are pooled: they live on)."""
    nodes = sum(after[0].get(p, 0) - before[0].get(p, 0) for p in after[0]) / HZ
    pg = sum(after[1][p] - before[1].get(p, 0) for p in after[1]) / HZ
    return nodes, pg


# ---- wrk ---------------------------------------------------------------------------------------

def parse_wrk(text):
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in", text, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\b", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors:(.*)", text)
    ms = None
    if p99:
        v, unit = float(p99.group(1)), p99.group(2)
        ms = v / 1000 if unit == "us" else v * 1000 if unit == "s" else v * 60000 if unit == "m" \
            else v
    errs = int(non2xx.group(1)) if non2xx else 0
    timeouts = 0
    if sock:  # "connect 0, read 0, write 0, timeout 12"
        counts = dict((k, int(v)) for k, v in re.findall(r"(\w+) (\d+)", sock.group(1)))
        timeouts = counts.pop("timeout", 0)
        errs += sum(counts.values())
    return {"rps": float(rps.group(1)) if rps else 0.0, "requests": int(total.group(1)) if total
            else 0, "p99_ms": ms, "errors": errs, "timeouts": timeouts}


def run_wrk(name, ports, path, args, env=None, node_pids=()):
    """Two wrk processes at once (-t1, CONNS/2 connections each), at ports[0] and ports[1] (the
    same port twice for one node). Returns the summed figures."""
    e = dict(os.environ)
    e.update(env or {})
    before = cpu_snapshot(node_pids)
    ws = []
    for i, port in enumerate(ports):
        f = OUT / f"mn-wrk-{name}-{i}.txt"
        argv = ["wrk", "-t1", f"-c{CONNS // 2}", f"-d{SECS}s", "--latency", *args,
                f"http://127.0.0.1:{port}{path}"]
        ws.append((subprocess.Popen(argv, stdout=open(f, "w"), stderr=subprocess.STDOUT, env=e,
                                    cwd=ROOT), f))
    for p, f in ws:
        if p.wait(timeout=SECS + 60) != 0:
            die(f"wrk failed ({name}): {f.read_text()[-500:]}")
    after = cpu_snapshot(node_pids)
    parts = [parse_wrk(f.read_text()) for _, f in ws]
    nodes_cpu, pg_cpu = cpu_delta(before, after)
    n = sum(x["requests"] for x in parts)
    return {"rps": sum(x["rps"] for x in parts), "requests": n,
            "p99_ms": max((x["p99_ms"] or 0) for x in parts),
            "errors": sum(x["errors"] for x in parts),
            "timeouts": sum(x["timeouts"] for x in parts),
            "cpu_nodes_us": nodes_cpu * 1e6 / n if n else None,
            "cpu_pg_us": pg_cpu * 1e6 / n if n else None}


# ---- PostgreSQL --------------------------------------------------------------------------------

def start_pg():
    global pg_dir
    pg_dir = tempfile.mkdtemp(prefix="cloudhands-mn-pg-", dir="/tmp")
    os.chmod(pg_dir, 0o755)
    p = subprocess.run([str(ROOT / "scripts" / "pg.sh"), "start", pg_dir], capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        die(f"cannot start PostgreSQL (scripts/pg.sh): {p.stderr.strip()}")
    return p.stdout.strip()


def new_database(admin_url):
    name = f"mn{os.getpid()}x{next_id()}"
    p = subprocess.run(["psql", "-X", "-q", "-d", admin_url, "-c", f'CREATE DATABASE "{name}"'],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        die(f"CREATE DATABASE: {p.stderr.strip()}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def pg_settings(admin_url):
    p = subprocess.run(["psql", "-X", "-A", "-t", "-d", admin_url, "-c",
                        "SELECT current_setting('server_version'), current_setting('fsync'), "
                        "current_setting('synchronous_commit')"],
                       capture_output=True, text=True, timeout=60)
    return p.stdout.strip().replace("|", ", ")


def count_stopped(data, db):
    sql = "SELECT count(*) FROM conversations WHERE status = 'STOPPED'"
    if db:
        p = subprocess.run(["psql", "-X", "-A", "-t", "-d", db, "-c", sql], capture_output=True,
                           text=True, timeout=30)
        return int(p.stdout.strip() or 0)
    import sqlite3
    c = sqlite3.connect(f"file:{data / 'cloudhands.db'}?mode=ro", uri=True, timeout=10)
    try:
        return c.execute(sql).fetchone()[0]
    finally:
        c.close()


# ---- the HTTP part -----------------------------------------------------------------------------

def data_dirs(*names):
    """Fresh data directories under one temporary directory (removed at exit)."""
    tmp = Path(tempfile.mkdtemp(prefix="cloudhands-mn-"))
    temp_dirs.append(tmp)
    dirs = [tmp / name for name in names]
    for d in dirs:
        d.mkdir()
    return dirs


def http_part(admin_url):
    sdata, pdata = data_dirs("sqlite", "pg")
    pdb = new_database(admin_url)
    note("starting the nodes: one on SQLite, two on PostgreSQL (same data directory)")
    s = Node("http-sqlite", sdata, None, ["--runners", "0", *NODE_ARGS])
    a = Node("http-pg-a", pdata, pdb, ["--runners", "0", *NODE_ARGS])
    b = Node("http-pg-b", pdata, pdb, ["--runners", "0", *NODE_ARGS])
    setups = {}
    for label, data, db, ports, pids in (
            ("sqlite", sdata, None, [s.port, s.port], [s.proc.pid]),
            ("pg-1", pdata, pdb, [a.port, a.port], [a.proc.pid]),
            ("pg-2", pdata, pdb, [a.port, b.port], [a.proc.pid, b.proc.pid])):
        if label == "pg-2":
            setups[label] = dict(setups["pg-1"], ports=ports, pids=pids)
            continue
        keys = [new_key(data, db) for _ in range(ACCOUNTS)]
        convs = [create(ports[0], k, "bench task") for k in keys]
        setups[label] = {"ports": ports, "pids": pids, "key": keys[0], "conv": convs[0],
                         "targets": ",".join(f"{k}:{c}" for k, c in zip(keys, convs))}
    for label, st in setups.items():
        for port in st["ports"]:
            status, body = request(port, "GET", f"/api/conversations/{st['conv']}", st["key"])
            if status != 200:
                die(f"{label}: GET answered {status}: {body[:200]!r}")
    note(f"warming up; then {ROUNDS} rounds of 6 runs of {SECS} s (~{ROUNDS * 6 * (SECS + 1)} s)")
    for label, st in setups.items():
        run_wrk(f"warm-{label}", st["ports"], f"/api/conversations/{st['conv']}",
                ["-H", f"Authorization: Bearer {st['key']}", "-d2s"], node_pids=st["pids"])
    results = {(k, lbl): [] for k in ("get", "post") for lbl in setups}
    for r in range(1, ROUNDS + 1):
        for label, st in setups.items():
            res = run_wrk(f"get-{label}-{r}", st["ports"], f"/api/conversations/{st['conv']}",
                          ["-H", f"Authorization: Bearer {st['key']}"], node_pids=st["pids"])
            results[("get", label)].append(res)
            print(f"  round {r} GET  {label:7} {res['rps']:9.0f} req/s  non-2xx {res['errors']}"
                  f"  timeouts {res['timeouts']}", flush=True)
        for label, st in setups.items():
            res = run_wrk(f"post-{label}-{r}", st["ports"], "/", ["-s", "bench/message.lua"],
                          env={"BENCH_TARGETS": st["targets"]}, node_pids=st["pids"])
            results[("post", label)].append(res)
            print(f"  round {r} POST {label:7} {res['rps']:9.0f} req/s  non-2xx {res['errors']}"
                  f"  timeouts {res['timeouts']}", flush=True)
    for n in (s, a, b):
        n.stop()
    return results


def median_run(runs):
    return sorted(runs, key=lambda x: x["rps"])[(len(runs) - 1) // 2]


def print_http(results):
    print()
    print(f"{'benchmark':34} {'setup':7} {'req/s':>9} {'p99 ms':>8} {'vs SQLite':>10} "
          f"{'non-2xx':>8} {'timeouts':>8} {'CPU us/req: nodes + PG':>24}")
    names = {"get": "GET /api/conversations/{id}", "post": "POST .../{id}/message"}
    out = {}
    for kind in ("get", "post"):
        base = median_run(results[(kind, "sqlite")])["rps"]
        for label in ("sqlite", "pg-1", "pg-2"):
            m = median_run(results[(kind, label)])
            out[f"{kind}-{label}"] = m
            cpu = f"{m['cpu_nodes_us']:.1f}"
            cpu += f" + {m['cpu_pg_us']:.1f}" if label != "sqlite" else ""
            print(f"{names[kind]:34} {label:7} {m['rps']:9.0f} {m['p99_ms'] or 0:8.2f} "
                  f"{100 * m['rps'] / base if base else 0:9.0f}% {m['errors']:8} "
                  f"{m['timeouts']:8} {cpu:>24}")
        rounds = " ".join(f"{x['rps']:.0f}" for x in results[(kind, "sqlite")])
        for label in ("pg-1", "pg-2"):
            ratios = " ".join(f"{100 * x['rps'] / y['rps']:.0f}%" if y["rps"] else "n/a"
                              for x, y in zip(results[(kind, label)], results[(kind, "sqlite")]))
            print(f"  {kind.upper()} {label}/sqlite per round: {ratios}")
        print(f"  {kind.upper()} sqlite req/s per round: {rounds}")
    bad = sum(x["errors"] for runs in results.values() for x in runs)
    late = sum(x["timeouts"] for runs in results.values() for x in runs)
    if bad:
        print(f"note: {bad} non-2xx answers or socket errors in the HTTP runs: those figures "
              f"are not valid (see {OUT}/mn-wrk-*.txt)")
    if late:
        print(f"note: {late} requests got no answer within wrk's 2 s timeout (counted apart, "
              f"not in the latencies): the machine was busy, or the nodes were; run again")
    return out


# ---- the claims part ---------------------------------------------------------------------------

def start_llm():
    """The scripted LLM of the tests, answering every request at once with a plain message, with
    a listen backlog large enough for 16 runners (as bench/agent.sh does)."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import scripted_llm\n"
            "scripted_llm.Server.request_queue_size = 4096\n"
            "sys.argv = ['scripted_llm', '--port', '0', '--on-exhausted', 'finish', "
            "'--exit-on-stdin-eof']\n"
            "sys.exit(scripted_llm.main())\n") % str(ROOT / "tests" / "fixtures")
    p = subprocess.Popen(["/usr/bin/python3", "-c", code], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=open(OUT / "mn-llm.log", "wb"), text=True)
    procs.append(p)
    line = p.stdout.readline()
    if not line.startswith("PORT "):
        die(f"the scripted LLM did not start: {line!r}")
    return f"http://127.0.0.1:{int(line.split()[1])}/v1"


def claims_scenario(name, store_url, n, llm_url, layout):
    """Queues n conversations, then lets `layout` take them: "sqlite" (serve --runners 16),
    "pg-1x16" (one worker) or "pg-2x8" (two workers). Returns conversations per second."""
    data, = data_dirs("data")
    db = new_database(store_url) if layout != "sqlite" else None
    api = Node(f"{name}-api", data, db, ["--runners", "0"])
    key = new_key(data, db)
    create_many(api.port, key, n)
    api.stop()
    pg_before = cpu_snapshot([])[1]
    llm = ["--llm-model", "gpt-4o", "--llm-base-url", llm_url] if llm_url else []
    env = {"CLOUDHANDS_LLM_RETRY_MS": "20"}
    if layout == "sqlite":
        runners = [Node(f"{name}-serve", data, None, ["--runners", "16", *llm], env=env)]
    elif layout == "pg-1x16":
        runners = [Node(f"{name}-worker", data, db, ["--runners", "16", *llm], serve=False,
                        env=env)]
    else:
        runners = [None, None]

        def start(i):
            runners[i] = Node(f"{name}-worker{i + 1}", data, db, ["--runners", "8", *llm],
                              serve=False, env=env)

        starters = [threading.Thread(target=start, args=(i,)) for i in range(2)]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        if None in runners:
            die(f"{name}: a worker did not start")
    deadline = time.monotonic() + max(120, n / 5)
    while count_stopped(data, db) < n:
        if time.monotonic() > deadline:
            die(f"{name}: only {count_stopped(data, db)} of {n} conversations ended "
                f"(logs: {OUT}/mn-{name}-*.log)")
        for r in runners:
            if r.proc.poll() is not None:
                die(f"{name}: {r.name} exited (log: {r.log})")
        time.sleep(0.1)
    events = [e for r in runners for e in r.events()]
    # CPU: the runner processes over their whole life (start-up is a few ms of it), PostgreSQL
    # since just before they started. Sandboxes and the LLM fixture are not counted.
    runners_cpu = sum(ticks(r.proc.pid) for r in runners) / HZ
    pg_cpu = cpu_delta(({}, pg_before), ({}, cpu_snapshot([])[1]))[1] if db else 0.0
    for r in runners:
        r.stop()
    first = min(t for t, kind, _ in events if kind == "claimed")
    last = max(t for t, kind, _ in events if kind == "stopped")
    per = {r.name: len({c for _, kind, c in r.events() if kind == "claimed"}) for r in runners}
    claimed = len([1 for _, kind, _ in events if kind == "claimed"])
    return {"rate": n / (last - first) if last > first else 0.0, "seconds": last - first,
            "n": n, "claims": claimed, "per_process": per,
            "cpu_runners_us": runners_cpu * 1e6 / n, "cpu_pg_us": pg_cpu * 1e6 / n}


def claims_part(admin_url):
    results = {}
    llm_url = start_llm() if RUNS > 0 else None
    for label, n, url in (("claim", CLAIMS, None), ("run", RUNS, llm_url)):
        if n <= 0:
            continue
        for layout in ("sqlite", "pg-1x16", "pg-2x8"):
            note(f"{label}: {n} conversations, {layout}")
            results[(label, layout)] = claims_scenario(f"{label}-{layout}", admin_url, n, url,
                                                       layout)
            r = results[(label, layout)]
            print(f"  {r['rate']:.0f} conversations/s ({r['seconds']:.2f} s; claims "
                  f"{r['claims']}; by process {r['per_process']})", flush=True)
    return results


def print_claims(results):
    print()
    print(f"{'queue':52} {'setup':8} {'conv/s':>8} {'seconds':>8} {'vs SQLite':>10} "
          f"{'CPU us/conv: runners + PG':>26}  by process")
    names = {"claim": "claim cycle (no LLM: claim, read, one final write)",
             "run": "full run (sandbox, running event, LLM, answer)"}
    out = {}
    for label in ("claim", "run"):
        if (label, "sqlite") not in results:
            continue
        base = results[(label, "sqlite")]["rate"]
        for layout in ("sqlite", "pg-1x16", "pg-2x8"):
            r = results[(label, layout)]
            out[f"{label}-{layout}"] = r
            split = "/".join(str(v) for v in r["per_process"].values())
            cpu = f"{r['cpu_runners_us']:.0f}"
            cpu += f" + {r['cpu_pg_us']:.0f}" if layout != "sqlite" else ""
            print(f"{names[label]:52} {layout:8} {r['rate']:8.0f} {r['seconds']:8.2f} "
                  f"{100 * r['rate'] / base if base else 0:9.0f}% {cpu:>26}  {split}")
    return out


# ---- the forward part --------------------------------------------------------------------------

def forward_part(admin_url):
    api_data, worker_data = data_dirs("api", "worker")
    db = new_database(admin_url)
    api = Node("fwd-api", api_data, db, ["--runners", "0", *NODE_ARGS])
    (worker_data / "secret.key").write_bytes((api_data / "secret.key").read_bytes())
    (worker_data / "secret.key").chmod(0o600)
    wport = free_port()
    llm = start_llm()
    worker = Node("fwd-worker", worker_data, db,
                  ["--runners", "1", "--listen", f"127.0.0.1:{wport}", "--llm-model", "gpt-4o",
                   "--llm-base-url", llm], serve=False)
    key = new_key(api_data, db)
    conv = create(api.port, key, "bench task")
    deadline = time.monotonic() + 60
    while count_stopped(api_data, db) < 1:
        if time.monotonic() > deadline:
            die(f"the forward bench's conversation did not end (log: {worker.log})")
        time.sleep(0.1)
    path = f"/api/conversations/{conv}/list-files"
    for port in (wport, api.port):
        status, body = request(port, "GET", path, key)
        if status != 200:
            die(f"GET {path} at port {port} answered {status}: {body[:200]!r}")
    pids = [api.proc.pid, worker.proc.pid]
    auth = ["-H", f"Authorization: Bearer {key}"]
    note(f"warming up; then {ROUNDS} rounds of 2 runs of {SECS} s")
    for label, port in (("direct", wport), ("relayed", api.port)):
        run_wrk(f"fwd-warm-{label}", [port, port], path, [*auth, "-d2s"], node_pids=pids)
    results = {"direct": [], "relayed": []}
    for r in range(1, ROUNDS + 1):
        for label, port in (("direct", wport), ("relayed", api.port)):
            res = run_wrk(f"fwd-{label}-{r}", [port, port], path, auth, node_pids=pids)
            results[label].append(res)
            print(f"  round {r} {label:8} {res['rps']:9.0f} req/s  non-2xx {res['errors']}"
                  f"  timeouts {res['timeouts']}", flush=True)
    worker.stop()
    api.stop()
    return results


def print_forward(results):
    print()
    print(f"{'GET .../list-files (c=' + str(CONNS) + ')':44} {'req/s':>9} {'p99 ms':>8} "
          f"{'vs direct':>10} {'CPU us/req: API node + worker + PG':>36}")
    base = median_run(results["direct"])["rps"]
    out = {}
    for label, name in (("direct", "at the worker (its own disk)"),
                        ("relayed", "at an API node, relayed to the worker")):
        m = median_run(results[label])
        out[label] = m
        print(f"{name:44} {m['rps']:9.0f} {m['p99_ms'] or 0:8.2f} "
              f"{100 * m['rps'] / base if base else 0:9.0f}% "
              f"{m['cpu_nodes_us'] or 0:>26.1f} (both) + {m['cpu_pg_us'] or 0:.1f}")
    ratios = " ".join(f"{100 * x['rps'] / y['rps']:.0f}%" if y["rps"] else "n/a"
                      for x, y in zip(results["relayed"], results["direct"]))
    print(f"  relayed/direct per round: {ratios}")
    return out


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not os.access(BIN, os.X_OK):
        die(f"{BIN} not found or not executable (make build, or set CLOUDHANDS_BIN)")
    if shutil.which("wrk") is None and "http" in PHASES:
        die("wrk not found (Debian package wrk; make test-deps installs it)")
    OUT.mkdir(parents=True, exist_ok=True)
    for f in OUT.glob("mn-*"):
        f.unlink()
    try:
        load = os.getloadavg()
        print(f"cloudhands multinode bench: {os.cpu_count()} cores, load {load[0]:.2f} "
              f"{load[1]:.2f} {load[2]:.2f}; phases {' '.join(PHASES)}", flush=True)
        admin_url = start_pg()
        note(f"PostgreSQL {pg_settings(admin_url)} (version, fsync, synchronous_commit: "
             f"scripts/pg.sh's settings, for speed, not durability)")
        report = {}
        http_results = claims_results = forward_results = None
        if "http" in PHASES:
            http_results = http_part(admin_url)
        if "claims" in PHASES:
            claims_results = claims_part(admin_url)
        if "forward" in PHASES:
            forward_results = forward_part(admin_url)
        if http_results:
            report["http"] = print_http(http_results)
        if claims_results:
            report["claims"] = print_claims(claims_results)
        if forward_results:
            report["forward"] = print_forward(forward_results)
        with open(OUT / "mn-results.json", "w") as f:
            json.dump(report, f, indent=1, default=str)
        print(f"\nnote: every process (wrk, the nodes, the workers, PostgreSQL) shares this "
              f"machine's {os.cpu_count()} cores: a second node adds no CPU, so pg-2 cannot "
              f"show scale-out here; read it as the cost of spreading the same load over two "
              f"processes and one database (docs/PERFORMANCE.md).")
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
