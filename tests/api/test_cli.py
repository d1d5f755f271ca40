"""The operator's CLI: users, keys, --help, --version, env vars vs flags."""

import os
import re
import subprocess
import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests

from conftest import KEY_FULL_RE, free_port, run_cli, unique


def test_version(binary):
    p = run_cli("--version")
    assert re.search(r"\d+\.\d+", p.stdout), p.stdout


@pytest.mark.parametrize("argv,options", [
    (["serve"], ["--listen", "--data", "--max-concurrent", "--node-url"]),
    (["worker"], ["--listen", "--runners", "--lease-seconds", "--node-url", "--data"]),
    (["user", "add"], ["--admin", "--max-concurrent", "--data"]),
    (["user", "list"], ["--data"]),
    (["key", "create"], ["--user", "--name", "--expires", "--data"]),
    (["key", "list"], ["--user", "--data"]),
    (["key", "revoke"], ["--data"]),
    (["node", "list"], ["--data", "--db"]),
])
def test_help(binary, argv, options):
    p = run_cli(*argv, "--help", timeout=10)
    out = p.stdout
    assert out.strip(), f"{argv} --help printed nothing on stdout (stderr: {p.stderr!r})"
    assert re.search(r"usage", out, re.I), out
    for opt in options:
        assert opt in out, f"{argv} --help does not mention {opt}:\n{out}"


def test_top_level_help(binary):
    p = run_cli("--help")
    for cmd in ("serve", "user", "key"):
        assert cmd in p.stdout, p.stdout


def test_unknown_command_fails(binary, tmp_path):
    p = run_cli("frobnicate", data_dir=tmp_path / "d", check=False)
    assert p.returncode != 0
    assert p.stderr.strip(), "no message on stderr"


@pytest.mark.parametrize("argv", [["serve", "--bogus-option"], ["user", "add", "x", "--bogus"],
                                  ["key", "create", "--user", "admin", "--name", "n", "--nope"],
                                  ["user", "list", "--what"]])
def test_unknown_option_fails(binary, tmp_path, argv):
    env = {"CLOUDHANDS_LISTEN": f"127.0.0.1:{free_port()}"}
    try:
        p = run_cli(*argv, data_dir=tmp_path / "d", check=False, timeout=5, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{argv}: still running after 5 s (the unknown option was accepted)")
    assert p.returncode != 0, p.stdout
    assert p.stderr.strip(), "no message on stderr"


def test_user_add_and_list(server):
    name = server.add_user()
    admin_name = server.add_user(admin=True)
    limited = server.add_user(max_concurrent=7)
    out = server.cli("user", "list").stdout
    for n in ("admin", name, admin_name, limited):
        assert re.search(rf"\b{re.escape(n)}\b", out), (n, out)


def test_user_add_duplicate_fails(server):
    name = server.add_user()
    p = server.cli("user", "add", name, check=False)
    assert p.returncode != 0
    assert p.stderr.strip()


def test_key_create_prints_only_the_key(server):
    user = server.add_user()
    p = server.cli("key", "create", "--user", user, "--name", "laptop")
    assert p.stdout.endswith("\n")
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout
    assert KEY_FULL_RE.match(lines[0]), p.stdout
    s = server.api(lines[0])
    r = s.get("/api/keys/current")
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "laptop"
    s.create("made with a CLI key", expect=200)


def test_key_create_for_unknown_user_fails(server):
    p = server.cli("key", "create", "--user", unique("ghost"), "--name", "x", check=False)
    assert p.returncode != 0
    assert p.stderr.strip()
    assert not KEY_FULL_RE.match(p.stdout.strip())


def test_key_list_shows_labels_not_keys(server):
    user = server.add_user()
    k1 = server.create_key(user, "alpha-label")
    k2 = server.create_key(user, "beta-label")
    out = server.cli("key", "list", "--user", user).stdout
    assert "alpha-label" in out and "beta-label" in out, out
    assert k1 not in out and k2 not in out
    assert k1[3:] not in out and k2[3:] not in out


def test_key_revoke_via_cli(server):
    user = server.add_user()
    key = server.create_key(user, "to-revoke")
    s = server.api(key)
    rec = s.get("/api/keys/current").json()
    assert str(rec["id"]) in server.cli("key", "list", "--user", user).stdout
    server.cli("key", "revoke", rec["id"])
    r = s.get("/api/conversations")
    assert r.status_code == 401, r.text
    assert r.json()["error"]
    # revoking it again, or an unknown id, fails
    p = server.cli("key", "revoke", rec["id"], check=False)
    assert p.returncode != 0
    p = server.cli("key", "revoke", "987654321", check=False)
    assert p.returncode != 0


def test_key_create_with_expiry_via_cli(server):
    user = server.add_user()
    future = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = server.create_key(user, "expiring", expires=future)
    rec = server.api(key).get("/api/keys/current").json()
    assert rec["expires_at"].startswith(future[:19]), rec
    past = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    p = server.cli("key", "create", "--user", user, "--name", "old", "--expires", past, check=False)
    assert p.returncode != 0
    p = server.cli("key", "create", "--user", user, "--name", "bad", "--expires", "soon", check=False)
    assert p.returncode != 0


def test_user_max_concurrent_via_cli_is_enforced(server):
    s = server.new_account(max_concurrent=2)
    s.create_id("a")
    s.create_id("b")
    r = s.create("c", expect=429)
    assert r.json()["detail"]["limit"] == 2


def test_env_data_dir(fresh_server):
    """CLOUDHANDS_DATA stands in for --data."""
    srv = fresh_server
    name = unique("envuser")
    run_cli("user", "add", name, env={"CLOUDHANDS_DATA": str(srv.data_dir)})
    p = run_cli("user", "list", env={"CLOUDHANDS_DATA": str(srv.data_dir)})
    assert name in p.stdout
    key = run_cli("key", "create", "--user", name, "--name", "env",
                  env={"CLOUDHANDS_DATA": str(srv.data_dir)}).stdout.strip()
    assert srv.api(key).get("/api/keys/current").status_code == 200


def test_data_flag_wins_over_env(fresh_server, tmp_path):
    srv = fresh_server
    name = unique("flaguser")
    other = tmp_path / "other-data"
    run_cli("user", "add", name, data_dir=srv.data_dir, env={"CLOUDHANDS_DATA": str(other)})
    assert name in srv.cli("user", "list").stdout


def test_env_listen(server_factory):
    port = free_port()
    srv = server_factory(listen=False, env={"CLOUDHANDS_LISTEN": f"127.0.0.1:{port}"}, start=False)
    srv.start(port=port)
    assert requests.get(f"http://127.0.0.1:{port}/alive", timeout=5).json() == {"status": "ok"}


def test_listen_flag_wins_over_env(server_factory):
    env_port = free_port()
    srv = server_factory(env={"CLOUDHANDS_LISTEN": f"127.0.0.1:{env_port}"}, start=False)
    srv.start()  # with --listen 127.0.0.1:<another port>
    assert srv.port != env_port
    assert requests.get(srv.base_url + "/alive", timeout=5).json() == {"status": "ok"}
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{env_port}/alive", timeout=2)


def test_cli_works_while_server_runs_under_load(server):
    """CLI writes while the server handles requests: no 'database is locked' failures."""
    acct = server.new_account()

    stop = threading.Event()
    errors = []

    def load():
        s = server.api(acct.key)
        while not stop.is_set():
            r = s.get("/api/conversations")
            if r.status_code != 200:
                errors.append((r.status_code, r.text))
        s.close()

    t = threading.Thread(target=load)
    t.start()
    try:
        for _ in range(5):
            server.new_account()
    finally:
        stop.set()
        t.join()
    assert not errors, errors[:3]


@pytest.mark.parametrize("argv,says", [
    (["serve", "--node-url", "ftp://host:3001"], "--node-url must start with http:// or https://"),
    (["worker", "--node-url", "host:3001"], "--node-url must start with http:// or https://"),
    (["worker", "--listen", "everywhere"], "--listen must be HOST:PORT"),
    (["worker", "--listen", "example.com:3001"], "is not an IP address"),
])
def test_bad_node_flags_are_refused(binary, tmp_path, argv, says):
    """What a bad --node-url or worker --listen gets: a non-zero exit and a message that says
    what to give instead; the worker starts nothing."""
    p = run_cli(*argv, data_dir=tmp_path / "d", check=False, timeout=10)
    assert p.returncode != 0, p
    assert says in p.stderr, p.stderr
    assert "working" not in p.stderr


def test_a_data_directory_with_another_secret_key_is_refused(server_factory):
    """secret.key replaced behind the database's back (a bad restore, a copy from elsewhere):
    every command refuses to start and says what is wrong, instead of answering 401 to every API
    key; with the right key back, all works as before."""
    srv = server_factory()
    key = srv.create_key(srv.add_user())
    srv.stop()
    path = srv.data_dir / "secret.key"
    right = path.read_bytes()
    path.write_bytes(os.urandom(32))
    p = run_cli("user", "list", data_dir=srv.data_dir, check=False)
    assert p.returncode == 1, p
    assert "secret.key is not the key this database was set up with" in p.stderr, p.stderr
    assert key not in p.stderr and right.hex() not in p.stderr
    path.write_bytes(right)
    srv.start()
    assert srv.api(key).get("/api/conversations").status_code == 200
