#!/usr/bin/python3
"""bench/clone.py: a conversation on a 50 MB repository (issue 4, "Speed").

Measures the time from POST /api/conversations (with "repository") to the agent's first LLM
request, for a repository of ~50 MB served locally, beside a plain `git clone` of the same
repository in the same run. Target: the server's median within 1.5x of the plain clone's.

The repository is built once per run, with real git, in a temporary directory: a bare
ROOT/bench/big.git holding 200 files of 256 KiB of random bytes (incompressible) in four
directories plus some text files, in four commits. It is served two ways, each to its own
`cloudhands serve --runners 2` (fresh data directory, the scripted LLM of the tests answering
every model request with a `finish` tool call):

  file   the plain git provider: --default-git-provider git
         --git-url-template file:///ROOT/{owner}/{repo}.git
         baselines: git clone file:///ROOT/bench/big.git DEST, and the same with --depth 1
  http   git smart HTTP through the test forge (tests/fixtures/git_forge.py) as "GitHub":
         --github-api-url and --github-url at the forge, its token in CLOUDHANDS_GITHUB_TOKEN
         baselines: git -c http.extraHeader="Authorization: Basic ..." clone URL DEST, and the
         same with --depth 1

The server clones with --depth 1 (its default, --git-clone-depth): the full clone is the
baseline the issue names, the depth-1 clone the like-for-like one; both ratios are printed.
Each round runs the six measurements once, in an order rotated from round to round, so that
baselines and servers share the machine's noise; a warm-up round comes first and is not
counted. The server's time is split with its log lines ("conversation claimed", "repository
ready") and the `running` event. Then, unless CLONE_TRACE=0, CLONE_TRACE more conversations per
setup run on servers whose PATH starts with a `git` wrapper that logs when each git command the
server runs starts and ends: where the server's time goes, git command by git command (a
separate pass, so the wrapper's cost stays out of the figures above).

Only reports: a slow result never fails. A broken setup does (exit 1): the repository cannot be
built, a server or fixture does not start, a baseline clone fails, no conversation of a setup
reaches its first LLM request. Everything started here is stopped, and the temporary directory
removed, on exit (also on Ctrl-C and SIGTERM).

Environment:
  CLOUDHANDS_BIN   server binary (default build/cloudhands)
  CLONE_ROUNDS     measured rounds (default 8)
  CLONE_TRACE      traced conversations per setup after the rounds (default 2; 0: none)
  CLONE_FILES      random files of 256 KiB in the repository (default 200, ~50 MB)
Raw results: bench/out/clone.json; servers' and fixtures' logs: bench/out/clone-*.log.
"""

import base64
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT_DIR, "bench", "out")
FIXTURES = os.path.join(ROOT_DIR, "tests", "fixtures")
PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
BIN = os.environ.get("CLOUDHANDS_BIN", "build/cloudhands")
if not os.path.isabs(BIN):
    BIN = os.path.join(ROOT_DIR, BIN)


def env_int(name, default, lo):
    try:
        v = int(os.environ.get(name, default))
    except ValueError:
        sys.exit(f"bench/clone: {name} must be an integer")
    if v < lo:
        sys.exit(f"bench/clone: {name} must be at least {lo}")
    return v


ROUNDS = env_int("CLONE_ROUNDS", 8, 1)
TRACE = env_int("CLONE_TRACE", 2, 0)
FILES = env_int("CLONE_FILES", 200, 1)
FILE_KB = 256
TARGET = 1.5
FULL_NAME = "bench/big"
TOKEN = "ghp_bench" + secrets.token_hex(16)
FINISH = {"tool_calls": [{"name": "finish", "arguments": {"message": "done"}}]}
STOP_BOUND = 120  # seconds a conversation may take to reach STOPPED


class Broken(Exception):
    """The setup is broken: the run ends with exit status 1."""


def log(*a):
    print("bench/clone:", *a, flush=True)


def ms(x):
    return None if x is None else x * 1000


# ---- HTTP -----------------------------------------------------------------------------------

class Conn:
    """A keep-alive HTTP connection that reconnects once on failure."""

    def __init__(self, port, auth=None, timeout=30):
        self.addr, self.auth, self.timeout, self.c = ("127.0.0.1", port), auth, timeout, None

    def req(self, method, path, body=None):
        headers = {}
        if self.auth:
            headers["Authorization"] = "Bearer " + self.auth
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(*self.addr, timeout=self.timeout)
                self.c.request(method, path, body=data, headers=headers)
                r = self.c.getresponse()
                raw = r.read()
                try:
                    doc = json.loads(raw) if raw else None
                except ValueError:
                    doc = raw.decode("utf-8", "replace")
                return r.status, doc
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise

    def close(self):
        if self.c:
            self.c.close()
        self.c = None


def iso(ts):
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- git ------------------------------------------------------------------------------------

REAL_GIT = shutil.which("git")


def git_env(isolated=False):
    """The environment the server gives its git (its own minus GIT_* and CLOUDHANDS_*, no
    prompts, LC_ALL=C); isolated: no user or system configuration either (building the
    repository)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "CLOUDHANDS_"))}
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    if isolated:
        env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    return env


def git(*args, cwd=None, timeout=300):
    p = subprocess.run([REAL_GIT, "-c", "user.name=b", "-c", "user.email=b@x", *map(str, args)],
                       cwd=cwd, env=git_env(isolated=True), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise Broken(f"git {' '.join(map(str, args))} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def build_repository(root, work):
    """ROOT/bench/big.git: FILES files of 256 KiB of random bytes in four directories and some
    text, in four commits (the last rewrites a few of the random files, so the history holds
    a little more than the head). Returns a description."""
    t0 = time.monotonic()
    bare = os.path.join(root, *FULL_NAME.split("/")) + ".git"
    os.makedirs(os.path.dirname(bare))
    git("init", "--bare", "-q", "-b", "main", bare)
    git("init", "-q", "-b", "main", work)
    dirs = ["assets/images", "assets/media", "data/blobs", "vendor/lib"]
    binaries = [f"{dirs[i % len(dirs)]}/blob-{i:03d}.bin" for i in range(FILES)]

    def write(rel, data):
        path = os.path.join(work, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def text(n, seed):
        words = ("repository clone branch commit agent sandbox workspace server request "
                 "answer stream event token mirror push fetch").split()
        lines = []
        for i in range(n):
            lines.append(" ".join(words[(seed * 7 + i * 3 + j) % len(words)] for j in range(12)))
        return ("\n".join(lines) + "\n").encode()

    texts = {"README.md": b"# big\n\nA repository for bench/clone.py.\n"}
    for i in range(30):
        texts[f"src/module_{i:02d}.c"] = b"/* generated */\n" + text(80, i)
    for i in range(10):
        texts[f"docs/page_{i:02d}.md"] = text(60, 100 + i)
    cuts = [0, FILES // 2, FILES * 4 // 5, FILES]
    for c in range(3):
        if c == 0:
            for rel, data in texts.items():
                write(rel, data)
        else:
            write("README.md", texts["README.md"] + f"\nRevision {c}.\n".encode())
            write(f"src/module_{c:02d}.c", text(90, 200 + c))
        for rel in binaries[cuts[c]:cuts[c + 1]]:
            write(rel, os.urandom(FILE_KB * 1024))
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", f"commit {c + 1}", cwd=work)
    rewritten = binaries[:min(4, FILES)]
    for rel in rewritten:
        write(rel, os.urandom(FILE_KB * 1024))
    write("docs/page_00.md", text(70, 300))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "commit 4: rewrite a few blobs", cwd=work)
    git("push", "-q", "file://" + bare, "main:refs/heads/main", cwd=work)
    git("-C", bare, "repack", "-a", "-d", "-q")
    pack_dir = os.path.join(bare, "objects", "pack")
    pack = sum(os.path.getsize(os.path.join(pack_dir, f)) for f in os.listdir(pack_dir)
               if f.endswith(".pack"))
    head = sum(len(v) for v in texts.values()) + FILES * FILE_KB * 1024
    return {"bare": bare, "files": FILES, "file_kib": FILE_KB, "text_files": len(texts),
            "commits": 4, "pack_bytes": pack, "head_bytes_approx": head,
            "build_seconds": time.monotonic() - t0}


# ---- processes ------------------------------------------------------------------------------

class State:
    tmp = None
    fixtures = []   # Popen with a stdin pipe (--exit-on-stdin-eof)
    servers = []    # Server objects
    cleaned = False


def start_fixture(name, argv):
    """A fixture that prints `PORT n` first and exits when its stdin closes. Returns
    (Popen, port)."""
    logf = open(os.path.join(OUT, f"clone-{name}.log"), "w")
    p = subprocess.Popen([PY, *argv, "--port", "0", "--exit-on-stdin-eof"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf, text=True,
                         cwd=ROOT_DIR)
    logf.close()
    State.fixtures.append(p)
    line = p.stdout.readline()
    if not line.startswith("PORT "):
        raise Broken(f"the {name} fixture did not start (log: bench/out/clone-{name}.log)")
    return p, int(line.split()[1])


class Server:
    def __init__(self, name, llm_port, args, env=None, path_prefix=None):
        self.name, self.args, self.extra_env, self.path_prefix = name, args, env or {}, path_prefix
        self.llm_port = llm_port
        self.proc = self.api = None
        self.active = None  # a conversation not yet seen STOPPED
        self.log_path = os.path.join(OUT, f"clone-server-{name}.log")
        self.log_pos = 0
        self.log_times = {}  # conversation -> {msg: epoch seconds}

    def start(self):
        self.data = tempfile.mkdtemp(prefix=f"data-{self.name}-", dir=State.tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDHANDS_")}
        env.update(self.extra_env)
        if self.path_prefix:
            env["PATH"] = self.path_prefix + ":" + env.get("PATH", "/usr/bin:/bin")
        State.servers.append(self)
        for attempt in range(5):
            self.port = free_port()
            with open(self.log_path, "w") as logf:
                self.proc = subprocess.Popen(
                    [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", self.data,
                     "--runners", "2", "--llm-model", "gpt-4o",
                     "--llm-base-url", f"http://127.0.0.1:{self.llm_port}/v1", *self.args],
                    stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env)
            deadline = time.monotonic() + 15
            up = False
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    st, _ = Conn(self.port, timeout=1).req("GET", "/alive")
                    if st == 200:
                        up = True
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            if up:
                break
            self.terminate()
            with open(self.log_path, errors="replace") as f:
                text = f.read()
            if "Address already in use" in text and attempt < 4:
                continue
            raise Broken(f"the {self.name} server did not start (log: {self.log_path}):\n"
                         + "\n".join(text.splitlines()[-15:]))
        p = subprocess.run([BIN, "key", "create", "--user", "admin", "--name", "bench",
                            "--data", self.data], capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        m = re.search(r"oh_[0-9a-f]{64}", p.stdout)
        if p.returncode != 0 or not m:
            raise Broken(f"key create failed: {p.stdout}{p.stderr}")
        self.api = Conn(self.port, m.group(0))
        self.log_pos = os.path.getsize(self.log_path)

    def read_log(self):
        """Picks up the log lines written since the last call: `time=... msg="..."
        conversation=ID` -> log_times[ID][msg]."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_pos)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self.log_pos += end
        for line in chunk[:end].decode("utf-8", "replace").splitlines():
            m = re.match(r'time=(\S+) level=\w+ msg="([^"]*)".*?\bconversation=(\w+)', line)
            if m:
                self.log_times.setdefault(m.group(3), {}).setdefault(m.group(2), iso(m.group(1)))

    def terminate(self):
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            if self.active and self.api:
                try:
                    self.api.timeout = 5
                    self.api.close()
                    self.api.req("POST", f"/api/conversations/{self.active}/stop")
                except OSError:
                    pass
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"the {self.name} server did not stop within 30 s of SIGTERM; killing it")
                p.kill()
                p.wait()
        if self.api:
            self.api.close()
        self.proc = None


def cleanup():
    if State.cleaned:
        return
    State.cleaned = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for s in State.servers:
        try:
            s.terminate()
        except Exception as e:  # keep cleaning up
            log(f"stopping the {s.name} server: {e!r}")
    for p in State.fixtures:
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p.stdout:
            p.stdout.close()
    if State.tmp:
        shutil.rmtree(State.tmp, ignore_errors=True)


# ---- the measurements -----------------------------------------------------------------------

class Bench:
    def __init__(self, tmp, root, forge_port, llm):
        self.tmp, self.root, self.forge_port, self.llm = tmp, root, forge_port, llm
        self.file_url = f"file://{root}/{FULL_NAME}.git"
        self.http_url = f"http://127.0.0.1:{forge_port}/{FULL_NAME}.git"
        b64 = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
        self.http_cfg = ["-c", f"http.extraHeader=Authorization: Basic {b64}"]
        self.n = 0

    def clone(self, url, depth, cfg=()):
        """Seconds a `git clone` takes (the clone is removed afterwards, untimed)."""
        self.n += 1
        dest = os.path.join(self.tmp, f"clone-{self.n}")
        argv = [REAL_GIT, *cfg, "clone", "--quiet", *(["--depth", "1"] if depth else []),
                "--", url, dest]
        t0 = time.perf_counter()
        p = subprocess.run(argv, env=git_env(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           timeout=600)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise Broken(f"git clone {url} exited {p.returncode}: {p.stderr.strip()}")
        shutil.rmtree(dest, ignore_errors=True)
        return dt

    def load_script(self):
        st, doc = self.llm.req("POST", "/_script", {"responses": [FINISH] * 4})
        if st != 200:
            raise Broken(f"the scripted LLM refused the script: {doc}")

    def conversation(self, srv):
        """One conversation on the repository: its timeline in seconds from just before the
        POST (driver clock; the LLM fixture and the server log on the same host clock), or
        {"error": ...}."""
        self.load_script()  # also clears the fixture's request log
        api = srv.api
        t0 = time.time()
        st, doc = api.req("POST", "/api/conversations",
                          {"initial_user_msg": "bench clone: say done", "repository": FULL_NAME})
        t1 = time.time()
        if st // 100 != 2 or not isinstance(doc, dict) or not doc.get("conversation_id"):
            return {"error": f"POST answered {st}: {doc}"}
        cid = doc["conversation_id"]
        srv.active = cid
        deadline = time.monotonic() + STOP_BOUND
        c = None
        while time.monotonic() < deadline:
            st, c = api.req("GET", f"/api/conversations/{cid}")
            if st == 200 and c.get("status") == "STOPPED":
                break
            time.sleep(0.01)
        t_stopped = time.time()
        srv.active = None
        row = {"cid": cid, "t0": t0, "post": t1 - t0}
        if not c or c.get("status") != "STOPPED":
            row["error"] = f"{cid}: not STOPPED after {STOP_BOUND} s"
            return row
        row["post_to_stopped_seen"] = t_stopped - t0
        st, reqs = self.llm.req("GET", "/_requests")
        reqs = [r for r in (reqs if st == 200 else []) if r.get("status") == 200]
        if c.get("agent_state") != "finished" or not reqs:
            row["error"] = (f"{cid}: {c.get('status')}/{c.get('agent_state')}, "
                            f"{len(reqs)} LLM requests: {c.get('error')}")
            return row
        row["ttfr"] = min(r["time"] for r in reqs) - t0
        st, page = api.req("GET", f"/api/conversations/{cid}/events?limit=100")
        evs = page.get("events", []) if st == 200 and isinstance(page, dict) else []
        for e in evs:
            if e.get("extras", {}).get("agent_state") == "running" and "running" not in row:
                row["running"] = iso(e["timestamp"]) - t0
        srv.read_log()
        times = srv.log_times.get(cid, {})
        for key, msg in (("claimed", "conversation claimed"), ("ready", "repository ready"),
                         ("stopped", "conversation stopped")):
            if msg in times:
                row[key] = times[msg] - t0
        # the workspace (clone + mirror) goes at once, so that its ~150 MB are not written
        # back to the disk while the next measurements run (the baselines' clones go too)
        api.req("DELETE", f"/api/conversations/{cid}")
        return row


def summarize(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median_ms": ms(statistics.median(xs)), "min_ms": ms(min(xs)),
            "max_ms": ms(max(xs)), "n": len(xs), "all_ms": [round(ms(x), 2) for x in xs]}


def parts(rows):
    """The server's time split at its log lines and events: medians of each part."""
    def d(row, a, b):
        if a in row and b in row:
            return row[b] - row[a]
        return None

    spec = [("post", lambda r: r.get("post")),
            ("post_to_claimed", lambda r: r.get("claimed")),
            ("claimed_to_ready", lambda r: d(r, "claimed", "ready")),
            ("ready_to_running", lambda r: d(r, "ready", "running")),
            ("ready_to_llm", lambda r: d(r, "ready", "ttfr")),
            ("llm_to_stopped", lambda r: d(r, "ttfr", "stopped")),
            ("post_to_stopped", lambda r: r.get("stopped")),
            ("post_to_stopped_seen", lambda r: r.get("post_to_stopped_seen"))]
    return {k: summarize([f(r) for r in rows]) for k, f in spec}


# ---- the git trace (where the server's time goes) ------------------------------------------

def write_shim(tmp):
    d = os.path.join(tmp, "shim")
    os.makedirs(d)
    trace = os.path.join(tmp, "git-trace.log")
    with open(os.path.join(d, "git"), "w") as f:
        f.write("#!/bin/bash\n"
                "s=$EPOCHREALTIME\n"
                f"{REAL_GIT} \"$@\"\n"
                "rc=$?\n"
                f"printf '%s %s %s %s\\n' \"$s\" \"$EPOCHREALTIME\" \"$rc\" \"$*\" >>{trace}\n"
                "exit $rc\n")
    os.chmod(os.path.join(d, "git"), 0o755)
    return d, trace


def classify(args):
    """(subcommand, the command line without its paths and URLs) of a traced git command."""
    a = args.split()
    words = [w for i, w in enumerate(a) if not w.startswith("-")
             and not (i and a[i - 1] in ("--git-dir", "-c", "-C"))]
    shown = [w for i, w in enumerate(a) if "/" not in w and w != "--"
             and not (i and a[i - 1] == "--git-dir") and w != "--git-dir"]
    text = " ".join(shown)
    return (words[0] if words else "?"), (text if len(text) <= 60 else text[:57] + "...")


def trace_pass(bench, kinds, shim, trace_file, llm_port, n):
    """n conversations per setup on servers whose PATH starts with the git wrapper: each
    conversation's git commands (start offset from the POST, duration)."""
    out = {}
    for kind, (args, env) in kinds.items():
        srv = Server(f"{kind}-traced", llm_port, args, env, path_prefix=shim)
        srv.start()
        convs = []
        for _ in range(n):
            open(trace_file, "w").close()
            row = bench.conversation(srv)
            cmds = []
            with open(trace_file) as f:
                for line in f:
                    s, e, rc, args_text = (line.rstrip("\n").split(" ", 3) + [""])[:4]
                    what, shown = classify(args_text)
                    cmds.append({"what": what, "args": shown, "rc": int(rc),
                                 "start_ms": ms(float(s) - row.get("t0", 0)),
                                 "ms": ms(float(e) - float(s))})
            row["git"] = cmds
            convs.append(row)
        srv.terminate()
        out[kind] = convs
    return out


def trace_summary(convs):
    """Medians over the traced conversations: each git command the server ran (by subcommand
    and order), its start from the POST and its duration; and how much of the time to the first
    LLM request git accounts for."""
    good = [c for c in convs if "ttfr" in c]
    if not good:
        return None
    rows, shown = {}, {}
    for c in good:
        seen = {}
        for g in c["git"]:
            if g["what"] == "upload-pack":  # under the publish's fetch
                continue
            k = seen[g["what"]] = seen.get(g["what"], 0) + 1
            key = (g["what"], k)
            rows.setdefault(key, []).append((g["start_ms"], g["ms"]))
            shown.setdefault(key, g["args"])
    timeline = sorted((statistics.median(s for s, _ in v), statistics.median(d for _, d in v),
                       shown[key], len(v)) for key, v in rows.items())
    before = []
    for c in good:
        t = ms(c["ttfr"])
        before.append(sum(g["ms"] for g in c["git"]
                          if g["start_ms"] < t and g["what"] != "upload-pack"))
    return {"n": len(good), "ttfr_ms": statistics.median(ms(c["ttfr"]) for c in good),
            "git_before_llm_ms": statistics.median(before),
            "timeline": [{"start_ms": s, "ms": d, "what": w, "n": k} for s, d, w, k in timeline]}


# ---- the report -----------------------------------------------------------------------------

def report(meta, res):
    rows = []

    def row(what, med=None, mn=None, ratio="", target="", status=""):
        f = (lambda x: "" if x is None else f"{x:.0f} ms" if x >= 100 else f"{x:.1f} ms")
        rows.append((what, f(med), f(mn), ratio, target, status))

    verdicts = []
    for kind, title in (("file", "file://"), ("http", "smart HTTP (forge)")):
        s = res["summary"][kind]
        full, d1, srv = s["clone_full"], s["clone_depth1"], s["server"]
        row(f"{title}: git clone (full), the baseline", full["median_ms"], full["min_ms"])
        row(f"{title}: git clone --depth 1", d1["median_ms"], d1["min_ms"],
            f"{d1['median_ms'] / full['median_ms']:.2f}x full")
        if not srv:
            row(f"{title}: server, POST -> first LLM request", None, None, "", f"<= {TARGET}x",
                "FAILED")
            verdicts.append(f"{title}: no conversation reached its first LLM request")
            continue
        r_full = srv["median_ms"] / full["median_ms"]
        r_d1 = srv["median_ms"] / d1["median_ms"]
        met = r_full <= TARGET
        row(f"{title}: server, POST -> first LLM request (n={srv['n']})", srv["median_ms"],
            srv["min_ms"], f"{r_full:.2f}x full", f"<= {TARGET}x",
            "met" if met else "NOT MET")
        row("  same, against the depth-1 clone (like for like)", None, None,
            f"{r_d1:.2f}x depth 1", f"<= {TARGET}x", "met" if r_d1 <= TARGET else "NOT MET")
        row("  same, fastest runs (server min / clone min)", None, None,
            f"{srv['min_ms'] / full['min_ms']:.2f}x full")
        p = s["parts"]
        for key, label in (("post_to_claimed",
                            "  of which POST -> claimed by a runner (the POST checks access)"),
                           ("claimed_to_ready",
                            "  of which claimed -> repository ready (lookup, clone, branch)"),
                           ("ready_to_llm",
                            "  of which ready -> first LLM request (sandbox start)"),
                           ("post", "  the POST's answer alone (access check)")):
            if p.get(key):
                row(label, p[key]["median_ms"], p[key]["min_ms"])
        if p.get("llm_to_stopped"):
            row("  after it: first LLM request -> stopped (finish, publish)",
                p["llm_to_stopped"]["median_ms"], p["llm_to_stopped"]["min_ms"])
        if p.get("post_to_stopped"):
            row(f"{title}: server, POST -> conversation stopped", p["post_to_stopped"]["median_ms"],
                p["post_to_stopped"]["min_ms"])
        verdicts.append(f"{title}: {'MET' if met else 'NOT MET'} - POST -> first LLM request "
                        f"{srv['median_ms']:.0f} ms, {r_full:.2f}x the plain clone's "
                        f"{full['median_ms']:.0f} ms ({r_d1:.2f}x the depth-1 clone's "
                        f"{d1['median_ms']:.0f} ms); target <= {TARGET}x")
    print()
    print(meta)
    w = max(len(r[0]) for r in rows)
    print(f"{'figure':{w}}  {'median':>9}  {'min':>9}  {'vs baseline':>14}  {'target':>7}  status")
    for what, med, mn, ratio, target, status in rows:
        print(f"{what:{w}}  {med:>9}  {mn:>9}  {ratio:>14}  {target:>7}  {status}")
    for kind in ("file", "http"):
        per = res["summary"][kind].get("per_round")
        if per:
            print(f"{kind}: server / full clone per round: "
                  + " ".join(f"{x:.2f}" for x in per) + f" (median {statistics.median(per):.2f})")
    for kind, t in (res.get("trace_summary") or {}).items():
        if not t:
            continue
        print(f"{kind}, traced (git wrapper on the server's PATH, median of {t['n']}): first LLM "
              f"request at {t['ttfr_ms']:.0f} ms, of which git commands "
              f"{t['git_before_llm_ms']:.0f} ms")
        for x in t["timeline"]:
            print(f"  at {x['start_ms']:7.1f} ms  {x['ms']:7.1f} ms  git {x['what']}")
    for v in verdicts:
        print("target:", v)


# ---- main -----------------------------------------------------------------------------------

def run():
    if not REAL_GIT:
        raise Broken("git not found")
    if not os.access(BIN, os.X_OK):
        raise Broken(f"{BIN} not found or not executable (make build, or set CLOUDHANDS_BIN)")
    if not shutil.which("bwrap"):
        raise Broken("bwrap not found (Debian package bubblewrap)")
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.startswith("clone-") or f == "clone.json":
            os.remove(os.path.join(OUT, f))
    State.tmp = tmp = tempfile.mkdtemp(prefix="cloudhands-clone-bench.")
    root = os.path.join(tmp, "git")
    t_start = time.monotonic()
    log(f"{os.cpu_count()} cores, load {' '.join(open('/proc/loadavg').read().split()[:3])}; "
        f"building the repository ({FILES} x {FILE_KB} KiB of random bytes) in {tmp}")
    repo = build_repository(root, os.path.join(tmp, "work"))
    shutil.rmtree(os.path.join(tmp, "work"))
    log(f"repository built in {repo['build_seconds']:.1f} s: "
        f"pack {repo['pack_bytes'] / 1e6:.1f} MB")

    llm_proc, llm_port = start_fixture("llm", [os.path.join(FIXTURES, "scripted_llm.py")])
    forge_proc, forge_port = start_fixture("forge", [os.path.join(FIXTURES, "git_forge.py"),
                                                     "--root", root])
    forge = Conn(forge_port)
    st, doc = forge.req("POST", "/_setup", {"tokens": {TOKEN: {"login": "bench", "repos": "*",
                                                               "push": True}}})
    forge.close()
    if st != 200:
        raise Broken(f"the forge refused its setup: {doc}")
    llm = Conn(llm_port)
    bench = Bench(tmp, root, forge_port, llm)

    forge_url = f"http://127.0.0.1:{forge_port}"
    kinds = {
        "file": (["--default-git-provider", "git", "--git-url-template",
                  f"file://{root}/{{owner}}/{{repo}}.git"], {}),
        "http": (["--default-git-provider", "github", "--github-api-url", forge_url,
                  "--github-url", forge_url], {"CLOUDHANDS_GITHUB_TOKEN": TOKEN}),
    }
    servers = {}
    for kind, (args, env) in kinds.items():
        servers[kind] = Server(kind, llm_port, args, env)
        servers[kind].start()

    steps = [("file", "clone_full"), ("file", "clone_depth1"), ("file", "server"),
             ("http", "clone_full"), ("http", "clone_depth1"), ("http", "server")]
    samples = []
    errors = []

    def one(rnd, kind, what):
        if what == "server":
            row = bench.conversation(servers[kind])
            row.update({"round": rnd, "kind": kind, "what": what})
            if "error" in row:
                errors.append(f"round {rnd}, {kind}: {row['error']}")
                log(f"round {rnd}, {kind}: {row['error']}")
            return row
        url, cfg = (bench.file_url, ()) if kind == "file" else (bench.http_url, bench.http_cfg)
        dt = bench.clone(url, what == "clone_depth1", cfg)
        return {"round": rnd, "kind": kind, "what": what, "seconds": dt}

    log(f"warm-up round, then {ROUNDS} rounds of: " + ", ".join(f"{k} {w}" for k, w in steps))
    for rnd in range(ROUNDS + 1):
        order = steps[rnd % len(steps):] + steps[:rnd % len(steps)]
        got = {}
        for kind, what in order:
            row = one(rnd, kind, what)
            got[(kind, what)] = row
            if rnd:
                samples.append(row)
            elif what == "server" and "ttfr" not in row:
                raise Broken(f"the warm-up conversation on the {kind} server failed: "
                             f"{row.get('error')} (log: {servers[kind].log_path})")
        line = []
        for kind in ("file", "http"):
            s = got[(kind, "server")]
            line.append(f"{kind}: clone {got[(kind, 'clone_full')]['seconds'] * 1000:.0f} / "
                        f"depth-1 {got[(kind, 'clone_depth1')]['seconds'] * 1000:.0f} / server "
                        + (f"{s['ttfr'] * 1000:.0f}" if "ttfr" in s else "failed") + " ms")
        log(f"{'warm-up' if rnd == 0 else f'round {rnd}'}: " + "; ".join(line))
    for s in servers.values():
        s.terminate()

    summary = {}
    for kind in ("file", "http"):
        def pick(what):
            return [r for r in samples if r["kind"] == kind and r["what"] == what]
        conv = [r for r in pick("server") if "ttfr" in r]
        full = pick("clone_full")
        per_round = []
        for rnd in range(1, ROUNDS + 1):
            a = [r["ttfr"] for r in conv if r["round"] == rnd]
            b = [r["seconds"] for r in full if r["round"] == rnd]
            if a and b:
                per_round.append(a[0] / b[0])
        summary[kind] = {"clone_full": summarize([r["seconds"] for r in full]),
                         "clone_depth1": summarize([r["seconds"] for r in pick("clone_depth1")]),
                         "server": summarize([r["ttfr"] for r in conv]),
                         "parts": parts(conv), "per_round": per_round}

    traces = trace_summ = None
    if TRACE:
        log(f"traced pass: {TRACE} conversation(s) per setup with a git wrapper on the "
            "server's PATH")
        shim, trace_file = write_shim(tmp)
        traces = trace_pass(bench, kinds, shim, trace_file, llm_port, TRACE)
        trace_summ = {k: trace_summary(v) for k, v in traces.items()}

    load = open("/proc/loadavg").read().split()[:3]
    gitv = subprocess.run([REAL_GIT, "--version"], capture_output=True, text=True).stdout.split()
    meta = (f"cloudhands clone bench ({datetime.now(timezone.utc):%Y-%m-%d}): {os.cpu_count()} "
            f"cores, load {' '.join(load)}, git {gitv[-1] if gitv else '?'}; repository "
            f"{FULL_NAME}: {FILES} x {FILE_KB} KiB random + {repo['text_files']} text files, "
            f"{repo['commits']} commits, pack {repo['pack_bytes'] / 1e6:.1f} MB; {ROUNDS} rounds "
            f"(+1 warm-up); {time.monotonic() - t_start:.0f} s; raw results in "
            "bench/out/clone.json")
    res = {"meta": {"date": datetime.now(timezone.utc).isoformat(), "cores": os.cpu_count(),
                    "load": load, "git": gitv[-1] if gitv else None, "rounds": ROUNDS,
                    "binary": BIN, "target_ratio": TARGET},
           "repository": {k: v for k, v in repo.items() if k != "bare"},
           "summary": summary, "samples": samples, "errors": errors,
           "trace": traces, "trace_summary": trace_summ}
    with open(os.path.join(OUT, "clone.json"), "w") as f:
        json.dump(res, f, indent=1)
    report(meta, res)
    for e in errors[:10]:
        log("error:", e)
    if any(not summary[k]["server"] for k in summary):
        raise Broken("a setup had no conversation that reached its first LLM request")


def main():
    def on_signal(signum, _frame):
        print(f"bench/clone: stopped by signal {signum}", file=sys.stderr, flush=True)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    # Ctrl-C, also when started from a shell that ignores SIGINT in background jobs
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rc = 0
    try:
        run()
    except Broken as e:
        print(f"bench/clone: {e}", file=sys.stderr, flush=True)
        rc = 1
    except KeyboardInterrupt:
        print("bench/clone: interrupted", file=sys.stderr, flush=True)
        rc = 130
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    finally:
        cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
