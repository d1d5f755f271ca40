#!/usr/bin/env bash
# bench/agent.sh: the agent runtime's speed (issue 3, "Speed"), with the scripted LLM server
# (tests/fixtures/scripted_llm.py) answering at once. The measurements, each on a fresh server
# and data directory:
#   ttfr    time from POST /api/conversations to the first LLM request the scripted server
#           receives, over AGENT_TTFR_N conversations run one after another (p50/p90)
#   steps   server overhead per agent step: AGENT_STEPS tool calls running `true`, then a
#           `sleep 2` (while it runs, the CPU used so far by the server and the sandbox is read),
#           then finish; (first LLM request to the one answered with the sleep) / steps, minus
#           the LLM server's own answer time (the same requests replayed to it). Also the CPU
#           per step (server, sandbox), less that of a calibration conversation without steps
#   steps-many-runners
#           the same, one conversation, on a server started with --runners = the largest level
#           (as the levels need): what idle runner threads cost a conversation that works
#   mem     resident memory per running conversation: AGENT_MEM_M conversations each holding a
#           `sleep 60`; RSS and PSS of the server and every process of the sandboxes, growth
#           over the idle server divided by M
#   levels  the most conversations running at once without errors: AGENT_LEVELS (100 200 500)
#           conversations each running a long sleep; all must reach RUNNING with a sandbox (a
#           `run` action, the sleep process alive) and the server must still answer GETs
# Prints a table (figure, target, met / not met). Only reports: a slow result never fails; a
# broken setup does. Everything started here is stopped at exit (conversations through the API,
# then SIGTERM to the server, then the LLM fixture).
#
# Environment:
#   CLOUDHANDS_BIN     server binary (default build/cloudhands)
#   AGENT_PHASES       which measurements (default "ttfr steps steps-many-runners mem levels")
#   AGENT_TTFR_N       conversations for ttfr (default 50)
#   AGENT_STEPS        tool steps per conversation for steps (default 50)
#   AGENT_STEP_RUNS    conversations for steps, median reported (default 3)
#   AGENT_MEM_M        conversations for mem (default 50)
#   AGENT_LEVELS       levels for levels (default "100 200 500")
#   AGENT_RUNNERS      --runners for ttfr and steps (default 8, the server's default)
# Raw results (JSON) and logs are kept in bench/out/agent-*.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${CLOUDHANDS_BIN:-build/cloudhands}
PHASES=${AGENT_PHASES:-ttfr steps steps-many-runners mem levels}
TTFR_N=${AGENT_TTFR_N:-50}
STEPS=${AGENT_STEPS:-50}
STEP_RUNS=${AGENT_STEP_RUNS:-3}
MEM_M=${AGENT_MEM_M:-50}
LEVELS=${AGENT_LEVELS:-100 200 500}
RUNNERS=${AGENT_RUNNERS:-8}
OUT=bench/out

die() {
    echo "bench/agent: $*" >&2
    exit 1
}
note() { echo "bench/agent: $*"; }

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || die "python3 not found"
command -v curl >/dev/null || die "curl not found"
command -v bwrap >/dev/null || die "bwrap not found (Debian package bubblewrap)"
[ -x "$BIN" ] || die "$BIN not found or not executable (make build, or set CLOUDHANDS_BIN)"
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
mkdir -p "$OUT"
rm -f "$OUT"/agent-*.json

# Every sandbox holds pipes, a pty, pidfds and the server's sockets: 500 conversations need a few
# thousand descriptors in the server.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

# --- the measuring side (Python, standard library only) --------------------------------------
DRIVER=$(
    cat <<'PY'
import http.client, json, math, os, statistics, sys, time
from datetime import datetime, timezone

SRV = ("127.0.0.1", int(os.environ.get("SRV_PORT", "0") or 0))
LLM = ("127.0.0.1", int(os.environ["LLM_PORT"]))
KEY = os.environ.get("KEY", "")
PID = int(os.environ.get("SERVER_PID", "0") or 0)
OUT = os.environ["OUT"]


def log(*a):
    print("bench/agent:", *a, flush=True)


class Conn:
    """A keep-alive HTTP connection that reconnects once on failure."""

    def __init__(self, addr, auth=None, timeout=30):
        self.addr, self.auth, self.timeout, self.c = addr, auth, timeout, None

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
                if self.c:
                    self.c.close()
                self.c = None
                if attempt:
                    raise


api = Conn(SRV, KEY)
llm = Conn(LLM)


def pct(xs, p):
    """Nearest-rank percentile."""
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def iso(ts):
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def save(name, doc):
    with open(os.path.join(OUT, f"agent-{name}.json"), "w") as f:
        json.dump(doc, f, indent=1)


def load_script(steps):
    st, doc = llm.req("POST", "/_script", {"responses": steps})
    if st != 200:
        sys.exit(f"bench/agent: the scripted LLM refused the script: {doc}")


def llm_requests():
    st, doc = llm.req("GET", "/_requests")
    return doc if st == 200 else []


def create(text):
    st, doc = api.req("POST", "/api/conversations", {"initial_user_msg": text})
    if st // 100 != 2 or not isinstance(doc, dict) or not doc.get("conversation_id"):
        return None, st, doc
    return doc["conversation_id"], st, doc


def conv(cid):
    st, doc = api.req("GET", f"/api/conversations/{cid}")
    return doc if st == 200 else None


def events(cid, conn=None, limit=100):
    conn = conn or api
    out, start = [], 0
    while True:
        st, page = conn.req("GET", f"/api/conversations/{cid}/events?start_id={start}&limit={limit}")
        if st != 200:
            return out
        out += page["events"]
        if not page.get("has_more") or not page["events"]:
            return out
        start = out[-1]["id"] + 1


def wait_stopped(cid, bound, every=0.01):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        c = conv(cid)
        if c and c["status"] == "STOPPED":
            return c
        time.sleep(every)
    return conv(cid)


def bash_step(command, timeout=None):
    args = {"command": command}
    if timeout is not None:
        args["timeout"] = timeout
    return {"tool_calls": [{"name": "execute_bash", "arguments": args}]}


FINISH = {"tool_calls": [{"name": "finish", "arguments": {"message": "done"}}]}


# ---- processes ------------------------------------------------------------------------------

def proc_table():
    """pid -> (ppid, comm) for every process."""
    t = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        t[int(d)] = (ppid, comm)
    return t


def tree(root):
    """[(pid, comm, depth)] of root and all its descendants."""
    t = proc_table()
    kids = {}
    for pid, (ppid, _) in t.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [(root, 0)]
    while todo:
        pid, depth = todo.pop()
        if pid not in t:
            continue
        out.append((pid, t[pid][1], depth))
        todo += [(k, depth + 1) for k in kids.get(pid, [])]
    return out


def mem_of(pid):
    """(rss_kb, pss_kb) of a process; pss None when smaps_rollup cannot be read."""
    rss = pss = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        return None, None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss or 0, pss


def kind(comm, depth):
    if depth == 0:
        return "server"
    if comm == "bwrap":
        return "bwrap" if depth == 1 else "bwrap-init"
    if comm == "cloudhands":
        return "sandbox-agent"
    return comm


def snapshot():
    """Memory of the server's process tree, by kind of process."""
    by = {}
    for pid, comm, depth in tree(PID):
        rss, pss = mem_of(pid)
        if rss is None:
            continue
        k = by.setdefault(kind(comm, depth), {"n": 0, "rss_kb": 0, "pss_kb": 0})
        k["n"] += 1
        k["rss_kb"] += rss
        k["pss_kb"] += pss if pss is not None else rss
    tot = {"rss_kb": sum(v["rss_kb"] for v in by.values()),
           "pss_kb": sum(v["pss_kb"] for v in by.values())}
    return {"total": tot, "by_kind": by}


def meminfo():
    m = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            m[k] = int(v.split()[0])
    return m


def runtime(pid):
    """CPU seconds of a process's live threads, at nanosecond precision from
    /proc/PID/task/*/sched (se.sum_exec_runtime, in ms), else from /proc/PID/stat in clock
    ticks."""
    total, seen = 0.0, False
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/sched") as f:
                for line in f:
                    if line.startswith("se.sum_exec_runtime"):
                        total += float(line.split(":")[1]) / 1000
                        seen = True
                        break
        except OSError:
            pass
    if seen:
        return total
    try:
        with open(f"/proc/{pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def tree_cpu(children=False):
    """CPU seconds used so far by the server and by its descendants: (server, sandboxes). With
    children, the sandboxes' count also has what their reaped children used (bash's command
    substitutions...), from /proc/PID/stat's cutime and cstime (clock ticks, summed by the
    kernel in nanoseconds)."""
    hz = os.sysconf("SC_CLK_TCK")
    srv = box = 0.0
    for pid, _, depth in tree(PID):
        t = runtime(pid)
        if depth == 0:
            srv += t
            continue
        box += t
        if children:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    v = f.read().rsplit(")", 1)[1].split()
                box += (int(v[13]) + int(v[14])) / hz
            except OSError:
                pass
    return srv, box


def idle_cpu(seconds=5.0):
    """Percent of one core used by the server, and by all its sandboxes, over `seconds` when
    nothing is asked of them (processes that start or end meanwhile make this approximate)."""
    s0, b0 = tree_cpu()
    time.sleep(seconds)
    s1, b1 = tree_cpu()
    return {"server_pct": 100 * (s1 - s0) / seconds, "sandboxes_pct": 100 * (b1 - b0) / seconds}


def count_sleeps():
    return sum(1 for _, comm, _ in tree(PID) if comm == "sleep")


def threads_of(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None


# ---- the measurements -----------------------------------------------------------------------

def phase_ttfr(n):
    warm = 3
    rows, errors = [], []
    for i in range(warm + n):
        load_script([FINISH])
        t0 = time.time()
        cid, st, doc = create(f"bench ttfr {i}")
        t1 = time.time()
        if not cid:
            errors.append(f"POST answered {st}: {doc}")
            continue
        c = wait_stopped(cid, 30)
        reqs = [r for r in llm_requests() if r.get("status") == 200]
        if not c or c["agent_state"] != "finished" or not reqs:
            errors.append(f"{cid}: {c and c['status']}/{c and c['agent_state']}: "
                          f"{c and c.get('error')}")
            continue
        evs = events(cid)
        running = next((e for e in evs if e.get("extras", {}).get("agent_state") == "running"),
                       None)
        first = min(r["time"] for r in reqs)
        if i < warm:
            continue
        row = {"ttfr": first - t0, "post": t1 - t0}
        if running:
            row["claim"] = iso(running["timestamp"]) - t0
            row["sandbox_and_prompt"] = first - iso(running["timestamp"])
        rows.append(row)
    res = {"n": len(rows), "errors": errors}
    for k in ("ttfr", "post", "claim", "sandbox_and_prompt"):
        xs = [r[k] * 1000 for r in rows if k in r]
        if xs:
            res[k + "_ms"] = {"p50": pct(xs, 50), "p90": pct(xs, 90), "min": min(xs),
                              "max": max(xs)}
    save("ttfr", res)
    log(f"ttfr: {res['n']} conversations, p50 {res['ttfr_ms']['p50']:.1f} ms, "
        f"p90 {res['ttfr_ms']['p90']:.1f} ms; errors {len(errors)}")
    for e in errors[:5]:
        log("  error:", e)


def replay_llm(bodies, steps):
    """Times the scripted server answering the same requests, each on a new connection as the
    server's client makes them: the LLM side's share of a step."""
    load_script(steps)
    times = []
    for b in bodies:
        t0 = time.perf_counter()
        c = Conn(LLM)
        st, _ = c.req("POST", "/v1/chat/completions", b)
        times.append(time.perf_counter() - t0)
        c.c and c.c.close()
    return times


def sandbox_started_cpu(bound):
    """Waits for the conversation's `sleep` (the step after the measured ones) to appear in the
    server's tree, then returns the CPU seconds of the server and of the sandbox so far."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if count_sleeps():
            return tree_cpu(children=True)
        time.sleep(0.005)
    return None


def one_steps_conversation(k, tag):
    """A conversation of k `true` steps, then a `sleep 2` (while it runs, the CPU used so far
    by the server and the sandbox is read) and finish. Returns a result dict or an error text."""
    steps = [bash_step("true") for _ in range(k)] + [bash_step("sleep 2", 10), FINISH]
    load_script(steps)
    srv0, _ = tree_cpu(children=True)
    t0 = time.time()
    cid, st, doc = create(f"bench steps {tag}")
    if not cid:
        return f"POST answered {st}: {doc}"
    cpu = sandbox_started_cpu(60 + k)
    c = wait_stopped(cid, 60 + k, every=0.05)
    reqs = sorted((r for r in llm_requests() if r.get("status") == 200), key=lambda r: r["time"])
    if not c or c["agent_state"] != "finished" or len(reqs) != k + 2 or cpu is None:
        return (f"{cid}: {c and c['status']}/{c and c['agent_state']} after {len(reqs)} LLM "
                f"requests: {c and c.get('error')}")
    return {"cid": cid, "t0": t0, "reqs": reqs, "steps": steps, "events": events(cid),
            "cpu_server": cpu[0] - srv0, "cpu_sandbox": cpu[1]}


def phase_steps(k, runs, name="steps"):
    out, errors = [], []
    # A warm-up conversation (not counted), then one without `true` steps: the CPU of starting
    # a sandbox and of the first model call, subtracted from the measured runs.
    for tag, kk in (("warm-up", k), ("calibration", 0)):
        r = one_steps_conversation(kk, tag)
        if isinstance(r, str):
            errors.append(r)
            r = None
    base = r
    for run in range(1, runs + 1):
        r = one_steps_conversation(k, run)
        if isinstance(r, str):
            errors.append(r)
            continue
        reqs, evs = r["reqs"], r["events"]
        llm_t = replay_llm([q["body"] for q in reqs], r["steps"])
        # reqs[0] is answered with the first `true`, reqs[k] with the sleep: k whole steps.
        per_step = (reqs[k]["time"] - reqs[0]["time"]) / k
        llm_mean = statistics.mean(llm_t[:k])
        # Per step, from the events: the tool's run in the sandbox (action -> observation),
        # and the rest of the server's work (observation -> next LLM request).
        acts = {e["id"]: e for e in evs
                if e.get("action") == "run" and e.get("args", {}).get("command") == "true"}
        obs = [e for e in evs if e.get("observation") == "run" and e.get("cause") in acts]
        tool = [iso(o["timestamp"]) - iso(acts[o["cause"]]["timestamp"]) for o in obs]
        after = []
        for o in obs:
            t = iso(o["timestamp"])
            nxt = [q["time"] for q in reqs if q["time"] >= t]
            if nxt:
                after.append(min(nxt) - t)
        before = []  # LLM request arrival -> action built: LLM answer, parsing, metrics update
        for a in acts.values():
            t = iso(a["timestamp"])
            prev = [q["time"] for q in reqs if q["time"] <= t]
            if prev:
                before.append(t - max(prev))
        gaps = [(b["time"] - a["time"]) * 1000 for a, b in zip(reqs[:k + 1], reqs[1:k + 1])]

        def mean_ms(xs):
            return statistics.mean(xs) * 1000 if xs else None

        row = {"conversation": r["cid"], "per_step_ms": per_step * 1000,
               "llm_ms": llm_mean * 1000, "overhead_ms": (per_step - llm_mean) * 1000,
               "step_p50_ms": pct(gaps, 50), "step_p90_ms": pct(gaps, 90),
               "step_max_ms": max(gaps), "steps_ms": gaps,
               "tool_ms": mean_ms(tool), "after_tool_ms": mean_ms(after),
               "before_tool_ms": mean_ms(before)}
        if base:
            row["cpu_server_ms"] = (r["cpu_server"] - base["cpu_server"]) * 1000 / k
            row["cpu_sandbox_ms"] = (r["cpu_sandbox"] - base["cpu_sandbox"]) * 1000 / k
            row["cpu_ms"] = row["cpu_server_ms"] + row["cpu_sandbox_ms"]
        out.append(row)
        log(f"steps run {run}: {per_step * 1000:.2f} ms/step, LLM {llm_mean * 1000:.2f} ms, "
            f"overhead {(per_step - llm_mean) * 1000:.2f} ms (tool in sandbox "
            f"{row['tool_ms']:.2f} ms); CPU/step server {row.get('cpu_server_ms', 0):.2f} ms "
            f"sandbox {row.get('cpu_sandbox_ms', 0):.2f} ms")
    res = {"k": k, "runs": out, "errors": errors}
    if base:
        res["sandbox_start_cpu_ms"] = {"server": base["cpu_server"] * 1000,
                                       "sandbox": base["cpu_sandbox"] * 1000}
    if out:
        res["median"] = sorted(out, key=lambda r: r["overhead_ms"])[(len(out) - 1) // 2]
        if base:
            res["median_cpu_ms"] = sorted(r["cpu_ms"] for r in out)[(len(out) - 1) // 2]
    save(name, res)
    for e in errors[:5]:
        log("  error:", e)


def start_many(n, command, timeout, tag, lat=None):
    """Loads n sleep steps and POSTs n conversations; returns (ids, POST errors). The POSTs'
    latencies go to `lat`."""
    load_script([bash_step(command, timeout) for _ in range(n)])
    ids, errors = [], []
    for i in range(n):
        t0 = time.perf_counter()
        cid, st, doc = create(f"bench {tag} {i}")
        if lat is not None:
            lat.append(time.perf_counter() - t0)
        if cid:
            ids.append(cid)
        else:
            errors.append(f"POST answered {st}: {str(doc)[:200]}")
    return ids, errors


def sandbox_log(error):
    """The sandbox's own log (bwrap's messages) named in an error, quoted, since the data
    directory is removed at the end."""
    if not error or "; see " not in error:
        return ""
    try:
        with open(error.rsplit("; see ", 1)[1].strip(), errors="replace") as f:
            return " [sandbox log: " + " | ".join(f.read().strip().splitlines()[-3:]) + "]"
    except OSError:
        return ""


def wait_running(ids, bound):
    """Until every conversation has a `run` action and as many sleeps run as conversations.
    Returns (ok ids, failed {id: reason}, seconds, GET latencies seen meanwhile)."""
    t0 = time.monotonic()
    pending, ok, failed, lat = set(ids), set(), {}, []
    while time.monotonic() - t0 < bound:
        for cid in list(pending):
            q0 = time.perf_counter()
            evs = events(cid, limit=5)
            lat.append(time.perf_counter() - q0)
            if any(e.get("action") == "run" for e in evs):
                pending.discard(cid)
                ok.add(cid)
            elif any(e.get("extras", {}).get("agent_state") in ("error", "finished",
                                                                  "stopped") for e in evs):
                c = conv(cid)
                pending.discard(cid)
                failed[cid] = f"{c and c['status']}/{c and c['agent_state']}: " \
                              f"{c and c.get('error')}" + sandbox_log(c and c.get("error"))
        if not pending and count_sleeps() >= len(ok):
            break
        time.sleep(0.5 if pending else 0.2)
    for cid in pending:
        failed[cid] = "no run action within the bound"
    return ok, failed, time.monotonic() - t0, lat


def get_latency(ids, n=200):
    lat = []
    c = Conn(SRV, KEY)
    for i in range(n):
        cid = ids[i % len(ids)]
        t0 = time.perf_counter()
        st, _ = c.req("GET", f"/api/conversations/{cid}")
        lat.append((time.perf_counter() - t0, st))
    bad = sum(1 for _, st in lat if st != 200)
    xs = [t * 1000 for t, _ in lat]
    return {"p50_ms": pct(xs, 50), "p99_ms": pct(xs, 99), "max_ms": max(xs), "non200": bad}


def stop_all(ids, bound=60):
    for cid in ids:
        try:
            api.req("POST", f"/api/conversations/{cid}/stop")
        except OSError:
            pass
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and count_sleeps() > 0:
        time.sleep(0.2)
    left = count_sleeps()
    if left:
        log(f"warning: {left} sandboxed sleeps still running {bound} s after the stops")
    return left


def phase_mem(m):
    time.sleep(1.0)
    idle = snapshot()
    mi0 = meminfo()
    ids, post_err = start_many(m, "sleep 60", 120, "mem")
    ok, failed, secs, _ = wait_running(ids, 60 + m)
    time.sleep(1.0)
    busy = snapshot()
    mi1 = meminfo()
    cpu = idle_cpu()
    sleeps = count_sleeps()
    n = len(ok)
    res = {"m": m, "running": n, "sleeps": sleeps, "start_seconds": secs, "idle_cpu": cpu,
           "idle": idle,
           "busy": busy, "errors": post_err + [f"{k}: {v}" for k, v in failed.items()]}
    if n:
        res["rss_per_conv_mb"] = (busy["total"]["rss_kb"] - idle["total"]["rss_kb"]) / n / 1024
        res["pss_per_conv_mb"] = (busy["total"]["pss_kb"] - idle["total"]["pss_kb"]) / n / 1024
        res["server_rss_growth_per_conv_mb"] = (busy["by_kind"]["server"]["rss_kb"] -
                                                idle["by_kind"]["server"]["rss_kb"]) / n / 1024
        kern = ("Slab", "PageTables", "KernelStack", "Shmem", "Percpu")
        res["kernel_per_conv_mb"] = sum(mi1.get(k, 0) - mi0.get(k, 0) for k in kern) / n / 1024
        res["used_per_conv_mb"] = ((mi0["MemAvailable"] - mi1["MemAvailable"]) / n / 1024)
    save("mem", res)
    log(f"mem: {n}/{m} running ({sleeps} sleeps) after {secs:.1f} s; "
        f"RSS {res.get('rss_per_conv_mb', 0):.2f} MB/conv, PSS {res.get('pss_per_conv_mb', 0):.2f} "
        f"MB/conv")
    for kname, v in sorted(busy["by_kind"].items()):
        log(f"  {kname:14s} n={v['n']:4d}  RSS {v['rss_kb'] / max(v['n'], 1) / 1024:7.2f} MB each"
            f"  PSS {v['pss_kb'] / max(v['n'], 1) / 1024:7.2f} MB each")
    stop_all(ids)


def phase_levels(levels):
    results = []
    for level in levels:
        llm.req("DELETE", "/_requests")
        t0 = time.monotonic()
        post_lat = []
        ids, post_err = start_many(level, "sleep 900", 1200, f"level{level}", post_lat)
        post_s = time.monotonic() - t0
        ok, failed, _, ramp_lat = wait_running(ids, 60 + level * 0.5)
        secs = time.monotonic() - t0
        sleeps = count_sleeps()
        lat = get_latency(list(ok) or ids)
        snap = snapshot()
        cpu = idle_cpu()
        reqs = llm_requests()
        llm_bad = [r for r in reqs if r.get("status") != 200]
        errs = post_err + [f"{k}: {v}" for k, v in list(failed.items())[:20]]
        if sleeps < level:
            errs.append(f"only {sleeps} sandboxed sleeps for {level} conversations")
        if llm_bad:
            errs.append(f"{len(llm_bad)} LLM requests not answered 200")
        if lat["non200"]:
            errs.append(f"{lat['non200']} GETs not answered 200")
        rx = [t * 1000 for t in ramp_lat]
        px = [t * 1000 for t in post_lat]
        r = {"level": level, "running": len(ok), "sleeps": sleeps, "post_seconds": post_s,
             "ramp_seconds": secs, "get": lat, "threads": threads_of(PID),
             "get_during_ramp": {"p50_ms": pct(rx, 50), "p99_ms": pct(rx, 99),
                                 "max_ms": max(rx) if rx else None},
             "post_during_ramp": {"p50_ms": pct(px, 50), "p99_ms": pct(px, 99),
                                  "max_ms": max(px) if px else None},
             "pss_per_conv_mb": snap["total"]["pss_kb"] / level / 1024,
             "rss_per_conv_mb": snap["total"]["rss_kb"] / level / 1024,
             "idle_cpu": cpu, "failed": len(failed), "errors": errs, "ok": not errs}
        results.append(r)
        log(f"level {level}: {len(ok)} running, {sleeps} sleeps, {secs:.1f} s to start all; "
            f"GET p50 {lat['p50_ms']:.2f} ms p99 {lat['p99_ms']:.2f} ms; idle CPU server "
            f"{cpu['server_pct']:.1f}% sandboxes {cpu['sandboxes_pct']:.1f}%; errors {len(errs)}")
        for e in errs[:5]:
            log("  error:", e)
        t1 = time.monotonic()
        left = stop_all(ids, bound=120)
        r["stop_seconds"] = time.monotonic() - t1
        if left:
            r["errors"].append(f"{left} sleeps left after stopping")
            r["ok"] = False
        save("levels", {"levels": results})
        if not r["ok"]:
            break
    save("levels", {"levels": results})


def stop_everything():
    """Stops every active conversation of the account (cleanup)."""
    ids, page = [], None
    for _ in range(100):
        q = "/api/conversations?limit=100" + (f"&page_id={page}" if page else "")
        try:
            st, doc = api.req("GET", q)
        except OSError:
            return
        if st != 200:
            return
        ids += [c["conversation_id"] for c in doc.get("results", [])
                if c.get("status") in ("STARTING", "RUNNING")]
        page = doc.get("next_page_id")
        if not page:
            break
    for cid in ids:
        try:
            api.req("POST", f"/api/conversations/{cid}/stop")
        except OSError:
            pass
    if ids:
        log(f"stopped {len(ids)} conversations left running")


# ---- the report -----------------------------------------------------------------------------

def meta_runners():
    return os.environ.get("MANY_RUNNERS", "?")


def report(meta):
    def get(name):
        try:
            with open(os.path.join(OUT, f"agent-{name}.json")) as f:
                return json.load(f)
        except OSError:
            return None

    rows = []

    def row(what, value, target, met):
        rows.append((what, value, target, "n/a" if met is None else ("met" if met else "NOT MET")))

    t = get("ttfr")
    if t and "ttfr_ms" in t:
        x = t["ttfr_ms"]
        row(f"POST -> first LLM request, p50 (n={t['n']})", f"{x['p50']:.1f} ms", "< 50 ms",
            x["p50"] < 50 and not t["errors"])
        row("POST -> first LLM request, p90", f"{x['p90']:.1f} ms", "", None)
        if "claim_ms" in t:
            row("  of which POST -> claimed (running event), p50",
                f"{t['claim_ms']['p50']:.1f} ms", "", None)
            row("  of which claimed -> LLM request (sandbox), p50",
                f"{t['sandbox_and_prompt_ms']['p50']:.1f} ms", "", None)
        if t["errors"]:
            row("  errors", str(len(t["errors"])), "0", False)
    s = get("steps")
    if s and s.get("median"):
        m = s["median"]
        row(f"server overhead per step, `true` (K={s['k']}, median of {len(s['runs'])})",
            f"{m['overhead_ms']:.2f} ms", "< 5 ms", m["overhead_ms"] < 5 and not s["errors"])
        row("  wall per step (LLM request to LLM request)", f"{m['per_step_ms']:.2f} ms", "", None)
        row("  of which the LLM server's answer (replayed)", f"{m['llm_ms']:.2f} ms", "", None)
        row("  of which the tool in the sandbox (action -> observation)",
            f"{m['tool_ms']:.2f} ms", "", None)
        row("  of which observation stored -> next LLM request", f"{m['after_tool_ms']:.2f} ms",
            "", None)
        if "cpu_ms" in m:
            row("  CPU per step, server + sandbox (median run)",
                f"{s['median_cpu_ms']:.2f} ms", "", None)
            row("  CPU per step, server / sandbox (that run)",
                f"{m['cpu_server_ms']:.2f} / {m['cpu_sandbox_ms']:.2f} ms", "", None)
        if "sandbox_start_cpu_ms" in s:
            c = s["sandbox_start_cpu_ms"]
            row("  CPU of a conversation's start, server / sandbox",
                f"{c['server']:.1f} / {c['sandbox']:.1f} ms", "", None)
    elif s:
        row("server overhead per step", "failed", "< 5 ms", False)
    sm = get("steps-many-runners")
    if sm and sm.get("median"):
        m = sm["median"]
        row(f"  same with --runners {meta_runners()} (idle runners), overhead per step",
            f"{m['overhead_ms']:.2f} ms", "< 5 ms", m["overhead_ms"] < 5 and not sm["errors"])
        if "cpu_ms" in m:
            row("    CPU per step, server / sandbox",
                f"{m['cpu_server_ms']:.2f} / {m['cpu_sandbox_ms']:.2f} ms", "", None)
    mm = get("mem")
    if mm and "pss_per_conv_mb" in mm:
        okm = not mm["errors"] and mm["running"] == mm["m"]
        row(f"memory per running conversation, PSS (M={mm['m']})",
            f"{mm['pss_per_conv_mb']:.2f} MB", "< 8 MB", mm["pss_per_conv_mb"] < 8 and okm)
        row("memory per running conversation, RSS", f"{mm['rss_per_conv_mb']:.2f} MB", "< 8 MB",
            mm["rss_per_conv_mb"] < 8 and okm)
        row("  kernel (slab, page tables, stacks, percpu) per conversation",
            f"{mm['kernel_per_conv_mb']:.2f} MB", "", None)
        row("  MemAvailable drop per conversation (whole machine, noisy)",
            f"{mm['used_per_conv_mb']:.2f} MB", "", None)
    elif mm:
        row("memory per running conversation", "failed", "< 8 MB", False)
    lv = get("levels")
    if lv and lv["levels"]:
        good = [r for r in lv["levels"] if r["ok"]]
        best = good[-1] if good else None
        target = 500
        row("most conversations running at once, no errors",
            str(best["level"]) if best else "none", f">= {target}",
            bool(best) and best["level"] >= target)
        for r in lv["levels"]:
            g = r["get"]
            row(f"  level {r['level']}: running / sandboxed sleeps / errors",
                f"{r['running']} / {r['sleeps']} / {len(r['errors'])}", "", None)
            row(f"  level {r['level']}: first POST -> all running", f"{r['ramp_seconds']:.1f} s",
                "", None)
            pr, gr = r["post_during_ramp"], r["get_during_ramp"]
            row(f"  level {r['level']}: while starting: POST p50 / p99",
                f"{pr['p50_ms']:.1f} / {pr['p99_ms']:.1f} ms", "", None)
            row(f"  level {r['level']}: while starting: GET events p50 / p99",
                f"{gr['p50_ms']:.1f} / {gr['p99_ms']:.1f} ms", "", None)
            row(f"  level {r['level']}: all running: GET conversation p50 / p99",
                f"{g['p50_ms']:.2f} / {g['p99_ms']:.2f} ms", "", None)
            row(f"  level {r['level']}: PSS / RSS per conversation",
                f"{r['pss_per_conv_mb']:.2f} / {r['rss_per_conv_mb']:.2f} MB", "", None)
            row(f"  level {r['level']}: CPU when idle, server / sandboxes",
                f"{r['idle_cpu']['server_pct']:.1f}% / {r['idle_cpu']['sandboxes_pct']:.1f}%",
                "", None)
    print()
    print(meta)
    w = max(len(r[0]) for r in rows) if rows else 40
    print(f"{'measure':{w}}  {'result':>18}  {'target':>8}  status")
    for what, value, target, met in rows:
        print(f"{what:{w}}  {value:>18}  {target:>8}  {met if target else ''}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "ttfr":
        phase_ttfr(int(sys.argv[2]))
    elif cmd == "steps":
        phase_steps(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4
                    else "steps")
    elif cmd == "mem":
        phase_mem(int(sys.argv[2]))
    elif cmd == "levels":
        phase_levels([int(x) for x in sys.argv[2:]])
    elif cmd == "stopall":
        stop_everything()
    elif cmd == "report":
        report(sys.argv[2])
PY
)

# --- cleanup: everything started here is stopped on exit ---------------------------------
SERVER_PID=""
LLM_PID=""
DATA=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cloudhands-agent-bench.XXXXXX")
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    set +e
    stop_server
    if [ -n "$LLM_PID" ]; then
        exec 7>&- # the fixture exits when its stdin closes
        kill "$LLM_PID" 2>/dev/null
        wait "$LLM_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Below the kernel's ephemeral range (32768-60999 by default): after hundreds of sandboxes'
# LLM calls, thousands of client ports sit in TIME_WAIT there and cannot be bound.
free_port() {
    local p _
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 12000))
        if ! port_in_use "$p" && [ "$p" != "${LLM_PORT:-}" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# --- the scripted LLM server -----------------------------------------------------------------
# Run through a wrapper that raises the listen backlog (http.server's default is 5; hundreds of
# runners connect at once in the levels measurement). The fixture itself is unchanged.
mkfifo "$TMP/llm.in"
"$PY" -c '
import sys
sys.path.insert(0, "tests/fixtures")
import scripted_llm
scripted_llm.Server.request_queue_size = 4096
sys.argv = ["scripted_llm", "--port", "0", "--exit-on-stdin-eof"]
sys.exit(scripted_llm.main())' <"$TMP/llm.in" >"$TMP/llm.out" 2>"$OUT/agent-llm.log" &
LLM_PID=$!
exec 7>"$TMP/llm.in"
for _ in $(seq 1 100); do
    LLM_PORT=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$TMP/llm.out")
    [ -n "$LLM_PORT" ] && break
    kill -0 "$LLM_PID" 2>/dev/null || die "the scripted LLM server exited (log: $OUT/agent-llm.log)"
    sleep 0.1
done
[ -n "$LLM_PORT" ] || die "the scripted LLM server did not start within 10 s"
export LLM_PORT OUT
max_level=0
for l in $LEVELS; do [ "$l" -gt "$max_level" ] && max_level=$l; done
export MANY_RUNNERS=$max_level

# --- the server ------------------------------------------------------------------------------
# start_server NAME RUNNERS: a fresh data directory, the server, an API key (KEY, SRV_PORT,
# SERVER_PID exported for the driver).
start_server() {
    local name=$1 runners=$2 log="$OUT/agent-server-$1.log" _ try
    DATA=$(mktemp -d "$TMP/data-$name.XXXXXX")
    # The port is free when picked but another process may take it first: a few tries.
    for try in 1 2 3 4 5; do
        SRV_PORT=$(free_port) || die "no free port"
        "$BIN" serve --listen "127.0.0.1:$SRV_PORT" --data "$DATA" --runners "$runners" \
            --max-concurrent 100000 --max-iterations $((STEPS + 20)) --llm-model gpt-4o \
            --llm-base-url "http://127.0.0.1:$LLM_PORT/v1" >"$log" 2>&1 7>&- &
        SERVER_PID=$!
        for _ in $(seq 1 150); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$SRV_PORT/alive" && break
            sleep 0.1
        done
        kill -0 "$SERVER_PID" 2>/dev/null && break
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
        grep -q "Address already in use" "$log" && [ "$try" -lt 5 ] && continue
        tail -n 20 "$log" >&2
        die "the server exited during start-up (log: $log)"
    done
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$SRV_PORT/alive" ||
        die "the server did not answer within 15 s (log: $log)"
    local out
    out=$("$BIN" key create --user admin --name bench --data "$DATA" 2>&1 7>&-) ||
        die "key create failed: $out"
    KEY=$(printf '%s\n' "$out" | grep -o 'oh_[0-9a-f]\{64\}' | head -n1 || true)
    [ -n "$KEY" ] || die "no key in the output of 'key create': $out"
    export KEY SRV_PORT SERVER_PID
}

# stop_server: stops the conversations still running, then SIGTERM (SIGKILL after 30 s).
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        timeout 120 "$PY" -c "$DRIVER" stopall 7>&- || true
        kill "$SERVER_PID" 2>/dev/null || true
        local _
        for _ in $(seq 1 300); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            note "the server did not stop within 30 s of SIGTERM; killing it"
            kill -9 "$SERVER_PID" 2>/dev/null || true
        fi
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    [ -n "$DATA" ] && rm -rf "$DATA"
    DATA=""
}

# --- the measurements ------------------------------------------------------------------------
oom_kills() { awk '$1 == "oom_kill" {print $2}' /proc/vmstat 2>/dev/null || echo 0; }
OOM0=$(oom_kills)
echo "cloudhands agent bench: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' \
    /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg), ulimit -n $NOFILE," \
    "bwrap $(bwrap --version | awk '{print $2}'), phases: $PHASES"
for phase in $PHASES; do
    case $phase in
    ttfr)
        note "ttfr: $TTFR_N conversations one after another, --runners $RUNNERS"
        start_server ttfr "$RUNNERS"
        timeout $((60 + TTFR_N * 35)) "$PY" -c "$DRIVER" ttfr "$TTFR_N" 7>&- ||
            note "ttfr failed or timed out"
        stop_server
        ;;
    steps)
        note "steps: $STEP_RUNS conversations of $STEPS \`true\` steps (after a warm-up and" \
            "a calibration), --runners $RUNNERS"
        start_server steps "$RUNNERS"
        timeout $(((STEP_RUNS + 2) * (90 + STEPS * 2))) "$PY" -c "$DRIVER" steps "$STEPS" \
            "$STEP_RUNS" 7>&- || note "steps failed or timed out"
        stop_server
        ;;
    steps-many-runners)
        note "steps-many-runners: 1 conversation of $STEPS \`true\` steps (after a warm-up" \
            "and a calibration), --runners $max_level (as for the levels): what idle runners" \
            "cost a busy one"
        start_server steps-many "$max_level"
        timeout $((3 * (90 + STEPS * 2))) "$PY" -c "$DRIVER" steps "$STEPS" 1 \
            steps-many-runners 7>&- || note "steps-many-runners failed or timed out"
        stop_server
        ;;
    mem)
        note "mem: $MEM_M conversations each running sleep 60, --runners $MEM_M"
        start_server mem "$MEM_M"
        timeout $((240 + MEM_M * 2)) "$PY" -c "$DRIVER" mem "$MEM_M" 7>&- ||
            note "mem failed or timed out"
        stop_server
        ;;
    levels)
        [ "$max_level" -gt 0 ] || continue
        note "levels: $LEVELS conversations at once, --runners $max_level"
        start_server levels "$max_level"
        # shellcheck disable=SC2086
        timeout $((600 + max_level * 3)) "$PY" -c "$DRIVER" levels $LEVELS 7>&- ||
            note "levels failed or timed out"
        stop_server
        ;;
    *) die "unknown phase $phase (ttfr steps steps-many-runners mem levels)" ;;
    esac
done
OOM=$(($(oom_kills) - OOM0))
"$PY" -c "$DRIVER" report "agent runtime ($(date -u +%Y-%m-%d), load $(cut -d' ' -f1-3 \
    /proc/loadavg)); raw results in $OUT/agent-*.json" 7>&-
[ "$OOM" -gt 0 ] && echo "note: the kernel's OOM killer killed $OOM processes during the run" \
    "(see dmesg): the machine was short of memory, the figures above are not representative"
exit 0
