"""The command-line client: `cloudhands run`, `send`, `conversations`, `logs`, `stop` against a
real server whose agents talk to the scripted LLM. The client is a plain HTTP client of the API:
it needs no data directory, reads the server and key from CLOUDHANDS_SERVER and
CLOUDHANDS_API_KEY, prints one readable line per agent step (plain on a pipe, with a status line
on a terminal) or the events as JSON lines, follows the event stream to the end (reconnecting
where it left off) and exits 0 only when the agent finished."""

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from agent_helpers import (FAST_ENV, agent_args, all_events, pgrep, unique_sleep, wait_event,
                           wait_for, wait_stopped)
from conftest import BIN, assert_no_sanitizer_report, free_port
from llm import ScriptedLLM, call

ESC = "\x1b"
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


@pytest.fixture(scope="module")
def llm():
    server = ScriptedLLM()
    yield server
    server.close()


@pytest.fixture(scope="module")
def agent_server(tmp_path_factory, llm):
    from conftest import Server
    srv = Server(tmp_path_factory.mktemp("cli-client"), args=agent_args(llm, runners=1),
                 env=FAST_ENV)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def user(agent_server):
    """A fresh account on the agent server: an Api session (its key in .key)."""
    return agent_server.new_account()


def client_env(server_url, key, extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CLOUDHANDS_") and k not in ("LANG", "LC_ALL", "LC_CTYPE")}
    if server_url is not None:
        env["CLOUDHANDS_SERVER"] = server_url
    if key is not None:
        env["CLOUDHANDS_API_KEY"] = key
    env.update(extra or {})
    return env


def cli(srv, key, *args, cwd=None, timeout=60, extra_env=None, server_url=None, input=None):
    """Runs `cloudhands ARGS` as a client of srv (stdout and stderr pipes)."""
    env = client_env(server_url or (srv.base_url if srv else None), key, extra_env)
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                       timeout=timeout, input=input)
    assert_no_sanitizer_report(p.stderr, "cloudhands " + " ".join(map(str, args)))
    return p


def spawn(srv, key, *args, server_url=None, extra_env=None):
    env = client_env(server_url or srv.base_url, key, extra_env)
    return subprocess.Popen([BIN, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def read_lines(proc, n):
    """The first n lines of proc's stdout, read a byte at a time from the pipe itself: a
    buffered reader would take lines beyond the nth, which communicate() then never sees."""
    fd, lines, line = proc.stdout.fileno(), [], b""
    while len(lines) < n:
        b = os.read(fd, 1)
        if not b:
            break
        line += b
        if b == b"\n":
            lines.append(line.decode())
            line = b""
    return lines


def finish(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    assert_no_sanitizer_report(err, "cloudhands client")
    return out, err


def newest_id(api):
    return api.list_all()[0]["conversation_id"]


def work_script(llm, marker):
    """A bash step printing marker, an edit, and finish with a message."""
    llm.script([
        {"content": "Let me look around first.",
         "tool_calls": [call("execute_bash", command=f"echo {marker}")]},
        {"tool_calls": [call("str_replace_editor", command="create", path="/workspace/notes.txt",
                             file_text="hello\n")]},
        {"tool_calls": [call("finish", message=f"All done: wrote notes.txt ({marker})")]},
    ])


# ---- run ---------------------------------------------------------------------------------------

def test_run_prints_each_step_and_the_final_message_and_exits_0(agent_server, llm, user,
                                                                tmp_path):
    marker = f"MARK-{os.getpid()}-plain"
    work_script(llm, marker)
    p = cli(agent_server, user.key, "run", "write", "the notes", cwd=tmp_path)
    assert p.returncode == 0, (p.stdout, p.stderr)
    out = p.stdout
    assert ESC not in out and "\r" not in out  # plain: not a terminal
    lines = out.splitlines()

    def index(pred, what):
        for i, line in enumerate(lines):
            if pred(line):
                return i
        raise AssertionError(f"no line with {what} in:\n{out}")

    task = index(lambda l: "write the notes" in l, "the task")
    thought = index(lambda l: "Let me look around first." in l, "the thought")
    command = index(lambda l: l.startswith(f"$ echo {marker}") and "exit 0" in l,
                    "the command and its exit code")
    edit = index(lambda l: "created notes.txt" in l, "the edited file")
    final = index(lambda l: f"All done: wrote notes.txt ({marker})" in l, "the final message")
    done = index(lambda l: "finished" in l, "the end")
    assert task < thought < command < edit < final < done, out
    cid = newest_id(user)
    assert f"{agent_server.base_url}/conversations/{cid}" in out
    c = user.conv(cid)
    assert c["status"] == "STOPPED" and c["agent_state"] == "finished"
    # A client: no data directory, no database.
    assert list(tmp_path.iterdir()) == []


def test_run_json_prints_only_the_events(agent_server, llm, user):
    work_script(llm, "MARK-json")
    p = cli(agent_server, user.key, "run", "--json", "json please")
    assert p.returncode == 0, (p.stdout, p.stderr)
    events = [json.loads(line) for line in p.stdout.splitlines()]
    assert events and all(isinstance(e, dict) and isinstance(e.get("id"), int) for e in events)
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids)) and ids[0] == 0
    assert events[-1]["observation"] == "agent_state_changed"
    assert events[-1]["extras"]["agent_state"] == "finished"
    cid = newest_id(user)
    assert events == all_events(user, cid)  # exactly the event objects
    assert f"/conversations/{cid}" in p.stderr


def test_run_failing_exits_non_zero_with_the_error(agent_server, llm, user):
    llm.script([{"status": 401, "body": {"error": {"message": "scripted bad key"}}}])
    p = cli(agent_server, user.key, "run", "this will fail")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "refused the API key" in p.stdout and "scripted bad key" in p.stdout
    assert "failed" in p.stdout
    c = user.conv(newest_id(user))
    assert c["agent_state"] == "error"


def test_run_awaiting_input_exits_3_and_send_answers(agent_server, llm, user):
    llm.script([{"content": "Which file should I change?"}])
    p = cli(agent_server, user.key, "run", "change a file")
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert "Which file should I change?" in p.stdout
    cid = newest_id(user)
    assert f"cloudhands send {cid}" in p.stdout

    llm.script([{"tool_calls": [call("finish", message="Changed README.md as asked")]}])
    p = cli(agent_server, user.key, "send", cid, "README.md", "please")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "README.md please" in p.stdout  # the message sent, as the stream shows it
    assert "Which file" not in p.stdout  # only what came after it
    assert "Changed README.md as asked" in p.stdout


def test_wrong_key_prints_the_servers_401_message(agent_server):
    bad = "oh_" + "0" * 64
    message = agent_server.api(bad).get("/api/conversations").json()["error"]
    p = cli(agent_server, bad, "run", "anything")
    assert p.returncode == 1
    assert "401" in p.stderr and message in p.stderr, p.stderr
    p = cli(agent_server, bad, "conversations")
    assert p.returncode == 1 and message in p.stderr


def test_no_key_is_a_usage_error_saying_how_to_get_one(agent_server, tmp_path):
    for command in (["run", "a task"], ["conversations"], ["logs", "0" * 32], ["stop", "0" * 32]):
        p = cli(agent_server, None, *command, cwd=tmp_path)
        assert p.returncode == 2, (command, p.stderr)
        assert "CLOUDHANDS_API_KEY" in p.stderr and "key create" in p.stderr
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_says_what_to_do(user):
    url = f"http://127.0.0.1:{free_port()}"
    for command in (["run", "a task"], ["conversations"], ["stop", "0" * 32]):
        p = cli(None, user.key, *command, server_url=url)
        assert p.returncode == 1, (command, p.stderr)
        assert f"cannot reach {url}" in p.stderr
        assert "cloudhands serve" in p.stderr and "CLOUDHANDS_SERVER" in p.stderr


def test_usage_errors_and_help(agent_server, user):
    p = cli(agent_server, user.key, "run", "--help")
    assert p.returncode == 0
    for text in ("--server", "--key", "CLOUDHANDS_API_KEY", "ps", "--repo", "--json", "examples",
                 "exit codes"):
        assert text in p.stdout, text
    assert "--data" not in p.stdout and "--db" not in p.stdout
    for command in ("conversations", "logs", "stop", "send"):
        p = cli(agent_server, user.key, command, "--help")
        assert p.returncode == 0 and "--server" in p.stdout and "example" in p.stdout, command
    assert cli(agent_server, user.key, "run").returncode == 2
    assert cli(agent_server, user.key, "run", "--data", "/tmp/x", "task").returncode == 2
    assert cli(agent_server, user.key, "run", "--branch", "main", "task").returncode == 2
    p = cli(agent_server, user.key, "logs", "not-an-id")
    assert p.returncode == 2 and "conversation id" in p.stderr
    p = cli(agent_server, user.key, "run", "x", server_url="ftp://example.com")
    assert p.returncode == 2


def test_run_refusal_prints_the_servers_detail(agent_server, user):
    p = cli(agent_server, user.key, "run", "--repo", "no/such-repo-here", "task")
    assert p.returncode == 1
    assert "the server answered 401" in p.stderr, p.stderr
    p = cli(agent_server, user.key, "run", "--repo", "a b", "task")
    assert p.returncode == 1 and "422" in p.stderr and "repository" in p.stderr, p.stderr


def test_run_reads_the_task_from_stdin(agent_server, llm, user):
    llm.script([{"tool_calls": [call("finish", message="ok")]}])
    p = cli(agent_server, user.key, "run", "--json", "-", input="a task\nfrom stdin\n")
    assert p.returncode == 0, p.stderr
    first = json.loads(p.stdout.splitlines()[0])
    assert first["args"]["content"] == "a task\nfrom stdin"


def test_run_on_a_repository_prints_the_pull_request(server_factory, llm, tmp_path):
    from forge import GitForge
    token = "ghp_" + os.urandom(16).hex()
    forge = GitForge(tmp_path / "forge")
    try:
        forge.make_repo("acme/cli", {"README.md": "This is writen in C.\n"})
        forge.setup(tokens={token: {"login": "alice", "repos": "*"}})
        srv = server_factory(args=agent_args(llm, extra=["--github-api-url", forge.url,
                                                          "--github-url", forge.url]),
                             env=FAST_ENV)
        api = srv.new_account()
        r = api.post("/api/add-git-providers",
                     json={"provider_tokens": {"github": {"token": token, "host": ""}}})
        assert r.status_code == 200, r.text
        llm.script([
            {"tool_calls": [call("str_replace_editor", command="str_replace",
                                 path="/workspace/cli/README.md", old_str="writen",
                                 new_str="written")]},
            {"tool_calls": [call("finish", message="Fix a typo in the README")]},
        ])
        p = cli(srv, api.key, "run", "--repo", "acme/cli", "fix the typo")
        assert p.returncode == 0, (p.stdout, p.stderr)
        pulls = forge.pulls()
        assert len(pulls) == 1
        assert "+ edited cli/README.md" in p.stdout
        assert f"  pull request: {pulls[0]['url']}" in p.stdout.splitlines(), p.stdout
        assert "git: " in p.stdout  # the server's push and pull request, as a step
    finally:
        forge.close()


# ---- on a terminal -----------------------------------------------------------------------------

def screen(raw):
    """What a terminal shows after `raw`: \\r returns to column 0, ESC[K clears to the end of the
    line, colours are dropped."""
    raw = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    lines = []
    for line in raw.split("\n"):
        cells, col = [], 0
        for token in re.split(r"(\r|\x1b\[K)", line):
            if token == "\r":
                col = 0
            elif token == "\x1b[K":
                del cells[col:]
            else:
                for ch in token:
                    if col < len(cells):
                        cells[col] = ch
                    else:
                        cells.append(ch)
                    col += 1
        lines.append("".join(cells).rstrip())
    return lines


def run_in_pty(args, env, timeout=60):
    """Runs the client with stdout and stderr on a pseudo-terminal; (exit code, raw output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([BIN, *args], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the client did not end:\n" + b"".join(chunks).decode())
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the other side closed
                data = b""
            if not data:
                break
            chunks.append(data)
    os.close(master)
    rc = proc.wait(timeout=10)
    raw = b"".join(chunks).decode("utf-8", errors="replace")
    assert_no_sanitizer_report(raw, "cloudhands in a pty")
    return rc, raw


def test_run_on_a_terminal_shows_a_status_line_and_ends_clean(agent_server, llm, user):
    marker = f"MARK-{os.getpid()}-tty"
    llm.script([
        {"tool_calls": [call("execute_bash", command=f"sleep 1.2; echo {marker}")]},
        {"tool_calls": [call("think", thought="checking the result")], "delay": 0.6},
        {"tool_calls": [call("finish", message="Finished on a terminal")]},
    ])
    env = client_env(agent_server.base_url, user.key,
                     {"LANG": "C.UTF-8", "TERM": "xterm-256color"})
    env.pop("NO_COLOR", None)
    rc, raw = run_in_pty(["run", "tty task"], env)
    assert rc == 0, raw
    # The status line: a spinner, the state and the elapsed time, rewritten in place.
    assert "\r\x1b[K" in raw
    assert any(s in raw for s in SPINNER), raw
    assert re.search(r"running · 0:0[1-9]", raw), raw
    assert f"$ sleep 1.2; echo {marker}" in raw  # the step in progress, shown in the status
    assert re.search(r"\x1b\[32m→ exit 0", raw)  # colours on a terminal
    shown = [line for line in screen(raw) if line]
    # What stays on the screen: the steps, the final message and the link, no status line.
    assert not any(ch in line for line in shown for ch in SPINNER), shown
    assert not any(re.search(r"· \d+:\d\d", line) for line in shown), shown
    text = "\n".join(shown)
    assert f"$ sleep 1.2; echo {marker}  → exit 0" in text, shown
    assert "checking the result" in text
    assert "✓ Finished on a terminal" in text
    cid = newest_id(user)
    assert shown[-1] == f"  conversation: {agent_server.base_url}/conversations/{cid}", shown
    assert shown[-2].startswith("✓ finished after 0:0"), shown


# ---- conversations, logs, stop -----------------------------------------------------------------

def test_conversations_lists_the_runs(agent_server, llm, user):
    llm.script([{"tool_calls": [call("finish", message="listed")]}])
    assert cli(agent_server, user.key, "run", "a run to list").returncode == 0
    cid = newest_id(user)
    p = cli(agent_server, user.key, "conversations")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "STATE", "UPDATED", "REPOSITORY"]
    row = next(line for line in lines if line.startswith(cid))
    assert "finished" in row and "a run to list" in row and "ago" in row
    p = cli(agent_server, user.key, "conversations", "--json", "--limit", "5")
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert rows[0]["conversation_id"] == cid and rows[0]["agent_state"] == "finished"
    assert rows == user.list_all()[:5]
    other = agent_server.new_account()
    p = cli(agent_server, other.key, "conversations")
    assert p.returncode == 0 and cid not in p.stdout and "No conversations" in p.stderr
    assert cli(agent_server, user.key, "conversations", "--limit", "0").returncode == 2


def test_logs_replays_the_same_events_as_the_api(agent_server, llm, user):
    # More than one page (100) of events.
    llm.script([{"tool_calls": [call("think", thought=f"thought {i}")]} for i in range(55)]
               + [{"tool_calls": [call("execute_bash", command="echo LOGGED")]},
                  {"tool_calls": [call("finish", message="logged it")]}])
    cid = user.create_id("many events")
    wait_stopped(user, cid)
    events = all_events(user, cid)
    assert len(events) > 100
    p = cli(agent_server, user.key, "logs", cid, "--json")
    assert p.returncode == 0, p.stderr
    assert [json.loads(line) for line in p.stdout.splitlines()] == events
    p = cli(agent_server, user.key, "logs", cid)
    assert p.returncode == 0
    assert "thought 54" in p.stdout and "$ echo LOGGED  -> exit 0" in p.stdout
    assert "logged it" in p.stdout and "finished" in p.stdout
    # Another account's conversation, or none at all.
    other = agent_server.new_account()
    p = cli(agent_server, other.key, "logs", cid)
    assert p.returncode == 1 and "no conversation" in p.stderr


def test_logs_follow_ends_when_the_conversation_stops(agent_server, llm, user):
    llm.script([{"tool_calls": [call("execute_bash", command="sleep 1; echo FOLLOWED")]},
                {"tool_calls": [call("finish", message="followed to the end")], "delay": 0.5}])
    cid = user.create_id("follow me")
    wait_event(user, cid, lambda e: e.get("action") == "run", what="the command")
    t0 = time.monotonic()
    p = cli(agent_server, user.key, "logs", cid, "--follow", "--json")
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - t0 < 20
    got = [json.loads(line) for line in p.stdout.splitlines()]
    assert got == all_events(user, cid)
    assert got[-1]["extras"]["agent_state"] == "finished"


def test_stop_stops_a_running_conversation_and_run_says_so(agent_server, llm, user):
    marker = unique_sleep(60)
    llm.script([{"tool_calls": [call("execute_bash", command=marker, timeout=120)]}])
    proc = spawn(agent_server, user.key, "run", "sleep for a long time")
    try:
        wait_for(lambda: pgrep(marker), 20, what="the command to start")
        cid = newest_id(user)
        p = cli(agent_server, user.key, "stop", cid)
        assert p.returncode == 0, p.stderr
        assert cid in p.stdout and "STOPPED" in p.stdout
        out, err = finish(proc, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, (out, err)
    assert f"$ {marker}" in out and "no result" in out and "stopped" in out
    c = user.conv(cid)
    assert c["status"] == "STOPPED"
    wait_for(lambda: not pgrep(marker), 10, what="the sandbox to go")
    # A conversation that is not there.
    p = cli(agent_server, user.key, "stop", "0" * 32)
    assert p.returncode == 1 and "404" in p.stderr


def test_ctrl_c_stops_following_not_the_conversation(agent_server, llm, user):
    marker = unique_sleep(60)
    llm.script([{"tool_calls": [call("execute_bash", command=marker, timeout=120)]}])
    proc = spawn(agent_server, user.key, "run", "keep going without me")
    try:
        wait_for(lambda: pgrep(marker), 20, what="the command to start")
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc, timeout=10)
        assert proc.returncode == 130, (out, err)
        cid = newest_id(user)
        assert f"cloudhands logs {cid} --follow" in err
        assert user.conv(cid)["status"] == "RUNNING"
        assert pgrep(marker)
    finally:
        if proc.poll() is None:
            proc.kill()
        user.stop_conv(newest_id(user))
    wait_for(lambda: not pgrep(marker), 10, what="the sandbox to go")


# ---- a dropped stream --------------------------------------------------------------------------

class CuttingProxy:
    """A TCP proxy in front of the server whose open connections the test can cut."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        self.conns = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.conns += [client, upstream]
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.listener.close()
        self.cut()


def test_run_resumes_a_dropped_stream_without_repeating_events(agent_server, llm, user):
    llm.script([{"tool_calls": [call("think", thought=f"step {i}")], "delay": 0.25}
                for i in range(8)]
               + [{"tool_calls": [call("finish", message="survived the drop")]}])
    proxy = CuttingProxy(agent_server.port)
    try:
        proc = spawn(agent_server, user.key, "run", "--json", "through a flaky network",
                     server_url=proxy.url)
        try:
            lines = read_lines(proc, 4)
            proxy.cut()  # mid-run: the client must reconnect after event 3
            rest, err = finish(proc, timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, (lines, rest, err)
        assert proxy.accepted >= 3  # the POST, the first stream, the stream again
        assert "reconnect" in err
        events = [json.loads(line) for line in lines + rest.splitlines()]
        ids = [e["id"] for e in events]
        assert ids == list(range(len(ids))), ids  # nothing twice, nothing lost
        assert events == all_events(user, newest_id(user))
        assert events[-1]["extras"]["agent_state"] == "finished"
    finally:
        proxy.close()


def test_run_follows_the_conversation_across_a_server_restart(server_factory, llm):
    srv = server_factory(args=agent_args(llm), env=FAST_ENV)
    api = srv.new_account()
    steps = [{"tool_calls": [call("think", thought=f"step {i}")], "delay": 0.3} for i in range(8)]
    # A step interrupted by the restart is asked again: let the model finish whatever comes.
    llm.script(steps + [{"tool_calls": [call("finish", message="survived the restart")]}],
               on_exhausted="finish")
    proc = spawn(srv, api.key, "run", "--json", "across a restart")
    lines = []
    try:
        lines = read_lines(proc, 5)
        srv.restart()  # SIGTERM: the conversation is handed back and resumed
        rest, err = finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (lines, rest, err)
    # The stream either broke (the client says so) or ended with the old server and the client
    # found the conversation still active and followed it on the new one: the events tell.
    events = [json.loads(line) for line in lines + rest.splitlines()]
    assert [e["id"] for e in events] == list(range(len(events))), err
    # the run really was interrupted: it was resumed (running again) on the new server
    running = [e for e in events if e.get("observation") == "agent_state_changed"
               and e["extras"]["agent_state"] == "running"]
    assert len(running) >= 2, events
    assert events == all_events(api, newest_id(api))
    assert events[-1]["extras"]["agent_state"] == "finished"
