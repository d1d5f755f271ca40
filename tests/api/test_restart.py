"""First start (admin key on stdout) and restarts on the same data directory."""

import re
import subprocess

import requests

from conftest import KEY_FULL_RE, KEY_RE


def test_first_start_prints_admin_key_and_curl(fresh_server):
    srv = fresh_server
    m = srv.wait_stdout(KEY_RE.pattern)
    assert m, f"no key on stdout:\n{srv.stdout()}\nstderr:\n{srv.stderr()}"
    key = m.group(0)
    out = srv.stdout()
    assert len(set(KEY_RE.findall(out))) == 1, out
    curl_lines = [ln for ln in out.splitlines() if "curl" in ln]
    assert curl_lines, out
    assert any(f"Authorization: Bearer {key}" in ln for ln in curl_lines), out
    # the key is the admin's and works
    s = srv.api(key)
    r = s.get("/api/keys/current")
    assert r.status_code == 200, r.text
    assert s.get("/api/conversations").status_code == 200
    assert KEY_FULL_RE.match(key)
    # it never goes to stderr (logs)
    assert key not in srv.stderr()
    users = srv.cli("user", "list").stdout
    assert "admin" in users


def test_printed_curl_command_works(fresh_server):
    """The one-line curl on stdout, run as printed, answers 200 from this server."""
    srv = fresh_server
    srv.wait_stdout(KEY_RE.pattern)
    line = [ln for ln in srv.stdout().splitlines() if "curl" in ln][0]
    cmd = line[line.index("curl"):]
    p = subprocess.run(["bash", "-c", cmd + " -s -o /dev/null -w '%{http_code}'"],
                       capture_output=True, text=True, timeout=20)
    # a command that points at another host/port would not reach this server
    assert str(srv.port) in cmd, cmd
    assert p.stdout.strip() in ("200",), (cmd, p.stdout, p.stderr)


def test_restart_keeps_everything(fresh_server):
    srv = fresh_server
    admin = srv.api(srv.admin_key)
    cli_acct = srv.new_account()
    made = admin.post("/api/keys", json={"name": "made over http"}).json()
    http_key = srv.api(made["key"])
    revoked = admin.post("/api/keys", json={"name": "revoked"}).json()
    assert admin.delete(f"/api/keys/{revoked['id']}").status_code == 200
    c1 = admin.create_id("first", repository="o/r")
    c2 = admin.create_id("second")
    admin.stop_conv(c2)
    assert admin.patch(f"/api/conversations/{c1}", json={"title": "Kept title"}).json() is True
    c3 = cli_acct.create_id("cli account's")
    before_admin = admin.list_all()
    before_keys = admin.get("/api/keys").json()

    srv.restart()

    out = srv.stdout()
    assert not KEY_RE.search(out), f"second start printed a key:\n{out}"
    # all keys still work, the revoked one still does not
    for s in (admin, cli_acct, http_key):
        assert s.get("/api/keys/current").status_code == 200
    assert srv.api(revoked["key"]).get("/api/keys/current").status_code == 401
    after_keys = admin.get("/api/keys").json()
    assert sorted(k["id"] for k in after_keys) == sorted(k["id"] for k in before_keys)
    # conversations are all there
    after_admin = admin.list_all()
    assert [c["conversation_id"] for c in after_admin] == [c["conversation_id"] for c in before_admin]
    assert admin.conv(c1)["title"] == "Kept title"
    assert admin.conv(c1)["selected_repository"] == "o/r"
    assert admin.conv(c2)["status"] == "STOPPED"
    assert admin.conv(c1)["created_at"] == before_admin[1]["created_at"]
    assert cli_acct.conv(c3)["conversation_id"] == c3
    e = admin.get(f"/api/conversations/{c1}/events").json()["events"][0]
    assert e["args"]["content"] == "first"
    # and new work is accepted
    admin.create("after restart", expect=200)

    srv.restart()  # a third start prints no key either
    assert not KEY_RE.search(srv.stdout())
    assert requests.get(srv.base_url + "/alive", timeout=5).json() == {"status": "ok"}


def test_sigterm_exits_cleanly(fresh_server):
    srv = fresh_server
    srv.api(srv.admin_key).create("busy", expect=200)
    rc = srv.stop()
    assert rc in (0, -15, 143), f"exit code {rc}\nstderr:\n{srv.stderr()}"


def test_idempotency_survives_restart(fresh_server):
    srv = fresh_server
    s = srv.new_account()
    first = s.create("once", headers={"Idempotency-Key": "restart-key-1"}).json()
    srv.restart()
    again = s.create("once", headers={"Idempotency-Key": "restart-key-1"}).json()
    assert again == first
    assert s.count() == 1


def test_stdout_key_matches_only_one_account(fresh_server):
    srv = fresh_server
    key = srv.admin_key
    cur = srv.api(key).get("/api/keys/current").json()
    keys = srv.api(key).get("/api/keys").json()
    assert [k["id"] for k in keys] == [cur["id"]]
    assert re.fullmatch(r"oh_[0-9a-f]{64}", key)
