"""Shared fixtures for the black-box API tests of cloudhands.

The binary under test is $CLOUDHANDS_BIN (default: <repo>/build/cloudhands). Every server
runs on a free port with a fresh data directory; its stdout and stderr go to files in the
test's tmp dir. Stopping a server sends SIGTERM, asserts that it exits and that its stderr
holds no sanitizer report (the same is checked for every CLI invocation).

Tests import the plain helpers below with `from conftest import ...` (pytest puts this
directory on sys.path because tests/api has no __init__.py).

With CLOUDHANDS_TEST_PG set to a PostgreSQL URL (one whose user may CREATE DATABASE, such as
scripts/pg.sh prints), the suite runs on PostgreSQL: every data directory (each Server's, and
each one the CLI is pointed at) gets a fresh database of its own, made with psql on first use
and passed as CLOUDHANDS_DB; tests that read the SQLite file itself are skipped (`sqlite_only`).
"""

import itertools
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("CLOUDHANDS_BIN") or str(REPO_ROOT / "build" / "cloudhands")

KEY_RE = re.compile(r"oh_[0-9a-f]{64}")
KEY_FULL_RE = re.compile(r"^oh_[0-9a-f]{64}$")
CONV_ID_RE = re.compile(r"^[0-9a-f]{32}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 10.0

_counter = itertools.count(1)
_counter_lock = threading.Lock()


def unique(prefix="u"):
    """A name unique within this pytest process (and across processes via the pid)."""
    with _counter_lock:
        n = next(_counter)
    return f"{prefix}{os.getpid()}x{n}"


# -- PostgreSQL (CLOUDHANDS_TEST_PG) --------------------------------------------------------
PG_ADMIN_URL = os.environ.get("CLOUDHANDS_TEST_PG") or None
_pg_dbs = {}  # resolved data directory -> the URL of its database
_pg_lock = threading.Lock()

sqlite_only = pytest.mark.skipif(
    PG_ADMIN_URL is not None, reason="reads the SQLite database file itself (CLOUDHANDS_TEST_PG)"
)


def _psql(sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", PG_ADMIN_URL, "-c", sql],
                   check=True, capture_output=True, text=True, timeout=60)


def _pg_drop_all():
    for url in list(_pg_dbs.values()):
        name = urllib.parse.urlsplit(url).path.lstrip("/")
        try:
            _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except (subprocess.SubprocessError, OSError):
            pass


def db_url_for(data_dir):
    """The database of a data directory: None for the default (SQLite in the directory) or,
    with CLOUDHANDS_TEST_PG, a fresh PostgreSQL database made on first use (the same one for
    every later server or CLI run on that directory), dropped when pytest exits."""
    if not PG_ADMIN_URL or data_dir is None:
        return None
    key = str(Path(data_dir).resolve())
    with _pg_lock:
        url = _pg_dbs.get(key)
        if url is None:
            if not _pg_dbs:
                import atexit
                atexit.register(_pg_drop_all)
            name = unique("chtest_").lower()
            _psql(f'CREATE DATABASE "{name}"')
            url = urllib.parse.urlsplit(PG_ADMIN_URL)._replace(path="/" + name).geturl()
            _pg_dbs[key] = url
    return url


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The repositories the server-core tests name (all public in the default forge).
DEFAULT_REPOS = ("yourusername/your-repo", "octo/hello-world", "a/b", "my-org/my.repo_name-2",
                 "org/alpha", "org/beta", "org/paged", "org/other", "org/none", "keep/me", "o/r",
                 "owner/repo")
_forge = None
_forge_lock = threading.Lock()


def default_forge():
    """The shared test forge of this pytest process, started on first use, stopped at exit."""
    global _forge
    with _forge_lock:
        if _forge is None:
            import atexit
            import shutil
            import tempfile
            from forge import GitForge
            root = tempfile.mkdtemp(prefix="cloudhands-forge-")
            forge = GitForge(root)
            for name in DEFAULT_REPOS:
                forge.make_repo(name, {"README.md": f"# {name}\n"})
            forge.setup(public="*")

            def stop():
                forge.close()
                shutil.rmtree(root, ignore_errors=True)

            atexit.register(stop)
            _forge = forge
    return _forge


def assert_no_sanitizer_report(text, what):
    for marker in SANITIZER_MARKERS:
        assert marker not in text, f"{what}: sanitizer report ({marker!r}) in stderr:\n{text[-6000:]}"


def run_cli(*args, data_dir=None, env=None, check=True, timeout=20, input=None):
    """Runs `cloudhands ARGS [--data DIR]`. Returns the CompletedProcess (text mode)."""
    argv = [BIN, *[str(a) for a in args]]
    if data_dir is not None:
        argv += ["--data", str(data_dir)]
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    db = db_url_for(data_dir if data_dir is not None else full_env.get("CLOUDHANDS_DATA"))
    if db and "CLOUDHANDS_DB" not in full_env and "--db" not in argv:
        full_env["CLOUDHANDS_DB"] = db
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=full_env, input=input
    )
    assert_no_sanitizer_report(proc.stderr, "cli " + " ".join(argv[1:]))
    if check:
        assert proc.returncode == 0, (
            f"cli {argv[1:]} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


class Api(requests.Session):
    """A requests.Session bound to a base URL and (optionally) an API key.

    Paths passed to get/post/... are relative ("/api/conversations").
    """

    def __init__(self, base_url, key=None):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.key = key
        if key is not None:
            self.headers["Authorization"] = f"Bearer {key}"

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return super().request(method, url, *args, **kwargs)

    # Small conveniences used all over the suite.
    def create(self, msg="Fix the README", expect=200, headers=None, **fields):
        body = {"initial_user_msg": msg, **fields}
        r = self.post("/api/conversations", json=body, headers=headers)
        if expect is not None:
            assert r.status_code == expect, f"create: {r.status_code} {r.text}"
        return r

    def create_id(self, msg="Fix the README", **fields):
        return self.create(msg, **fields).json()["conversation_id"]

    def conv(self, cid):
        r = self.get(f"/api/conversations/{cid}")
        assert r.status_code == 200, f"GET conversation: {r.status_code} {r.text}"
        return r.json()

    def list_all(self, **params):
        """All of the caller's conversations (pages of 100)."""
        out, page_id = [], None
        for _ in range(1000):
            p = {"limit": 100, **params}
            if page_id:
                p["page_id"] = page_id
            r = self.get("/api/conversations", params=p)
            assert r.status_code == 200, f"list: {r.status_code} {r.text}"
            body = r.json()
            out += body["results"]
            page_id = body["next_page_id"]
            if not page_id:
                return out
        raise AssertionError("list_all: paging never ended")

    def count(self, **params):
        return len(self.list_all(**params))

    def stop_conv(self, cid):
        r = self.post(f"/api/conversations/{cid}/stop")
        assert r.status_code == 200, f"stop: {r.status_code} {r.text}"
        return r


class Server:
    """One `cloudhands serve` process on a data directory that outlives restarts."""

    def __init__(self, workdir, args=(), env=None, listen=True, data_dir=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir) if data_dir else self.workdir / "data"
        self.args = list(args)
        self.env = dict(env or {})
        self.listen = listen  # False: no --listen flag (the caller sets the port via env)
        self.port = None
        self.proc = None
        self.starts = 0
        self.stdout_path = None
        self.stderr_path = None
        self._admin_key = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, port=None):
        assert self.proc is None, "already running"
        self.starts += 1
        self.port = port or self.port or free_port()
        self.stdout_path = self.workdir / f"serve{self.starts}.stdout"
        self.stderr_path = self.workdir / f"serve{self.starts}.stderr"
        argv = [BIN, "serve", "--data", str(self.data_dir)]
        if self.listen:
            argv += ["--listen", f"127.0.0.1:{self.port}"]
        argv += self.args
        # Repositories: unless a test brings its own, every provider points at one shared test
        # forge (tests/fixtures/git_forge.py) holding the public repositories the tests name.
        if "--github-api-url" not in self.args:
            f = default_forge()
            argv += ["--github-api-url", f.url, "--github-url", f.url, "--gitlab-url", f.url]
            if "--git-url-template" not in self.args:
                argv += ["--git-url-template", f.url + "/{owner}/{repo}.git"]
        # Unless a test runs agents, no runner takes conversations: they stay queued (STARTING)
        # and count toward the limit, which is what the server-core tests check.
        if "--runners" not in self.args:
            argv += ["--runners", "0"]
        env = dict(os.environ)
        env.update(self.env)
        db = db_url_for(self.data_dir)
        if db and "CLOUDHANDS_DB" not in self.env and "--db" not in self.args:
            env["CLOUDHANDS_DB"] = db
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env
            )
        self._wait_ready()
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise AssertionError(
                    f"server exited with {rc} before it was ready\nstdout:\n{self.stdout()}\n"
                    f"stderr:\n{self.stderr()}"
                )
            try:
                r = requests.get(self.base_url + "/alive", timeout=1)
                if r.status_code == 200 and r.json() == {"status": "ok"}:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except (requests.RequestException, ValueError) as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        raise AssertionError(
            f"server not ready after {READY_TIMEOUT}s (last: {last})\nstderr:\n{self.stderr()}"
        )

    def stop(self):
        """SIGTERM; asserts the process exits and left no sanitizer report. Returns rc."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise AssertionError(
                f"server did not exit within {STOP_TIMEOUT}s of SIGTERM\nstderr:\n{self.stderr()}"
            )
        self.proc = None
        assert_no_sanitizer_report(self.stderr(), "server")
        return rc

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    # -- output ------------------------------------------------------------------------
    def stdout(self):
        return self.stdout_path.read_text(errors="replace") if self.stdout_path else ""

    def stderr(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path else ""

    def wait_stdout(self, pattern, timeout=3.0):
        """The first match of `pattern` in the current run's stdout, or None."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.stdout())
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    # -- accessors ---------------------------------------------------------------------
    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_key(self):
        """The key printed on the first start (stdout of run 1)."""
        if self._admin_key is None:
            text = (self.workdir / "serve1.stdout")
            deadline = time.monotonic() + 3
            while True:
                m = KEY_RE.search(text.read_text(errors="replace")) if text.exists() else None
                if m or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert m, f"no admin key on the first start's stdout:\n{text.read_text() if text.exists() else ''}"
            self._admin_key = m.group(0)
        return self._admin_key

    def api(self, key=None):
        return Api(self.base_url, key)

    def cli(self, *args, **kw):
        return run_cli(*args, data_dir=self.data_dir, **kw)

    def add_user(self, name=None, admin=False, max_concurrent=None):
        name = name or unique("user")
        args = ["user", "add", name]
        if admin:
            args.append("--admin")
        if max_concurrent is not None:
            args += ["--max-concurrent", str(max_concurrent)]
        self.cli(*args)
        return name

    def create_key(self, user, label=None, expires=None):
        args = ["key", "create", "--user", user, "--name", label or unique("key")]
        if expires:
            args += ["--expires", expires]
        p = self.cli(*args)
        key = p.stdout.strip()
        assert KEY_FULL_RE.match(key), f"key create printed {p.stdout!r}"
        return key

    def new_account(self, max_concurrent=None, admin=False):
        """A fresh account via the CLI; returns an Api session with its key."""
        user = self.add_user(max_concurrent=max_concurrent, admin=admin)
        s = self.api(self.create_key(user))
        s.user = user
        return s


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def binary():
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"CLOUDHANDS_BIN {BIN} is not an executable file")
    return BIN


@pytest.fixture(scope="session")
def shared_server(binary, tmp_path_factory):
    """One server for read-mostly tests; each test makes its own account for isolation."""
    srv = Server(tmp_path_factory.mktemp("shared"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def server(shared_server):
    """The shared server (tests must use their own accounts: see `account`)."""
    assert shared_server.proc is not None and shared_server.proc.poll() is None, (
        f"the shared server died\nstderr:\n{shared_server.stderr()}"
    )
    return shared_server


@pytest.fixture
def account(server):
    """A fresh account on the shared server (an Api session with its key)."""
    return server.new_account()


@pytest.fixture
def api(server):
    """api(key) -> a requests.Session bound to the shared server, sending that key."""
    sessions = []

    def make(key=None):
        s = server.api(key)
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        s.close()


@pytest.fixture
def server_factory(binary, tmp_path):
    """Starts fresh servers (own port and data dir); stops them all at teardown."""
    servers = []

    def make(args=(), env=None, listen=True, start=True, name=None, data_dir=None):
        srv = Server(tmp_path / (name or f"srv{len(servers)}"), args=args, env=env, listen=listen,
                     data_dir=data_dir)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    errors = []
    for srv in servers:
        try:
            srv.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture
def fresh_server(server_factory):
    return server_factory()
