"""Signing in to the web UI (issue 5): passwords from the CLI (asked, or --password-stdin) and
the first start's printed one, POST /api/auth/login, the session cookie's flags, server-side
expiry, sign-out, the CSRF token on state-changing requests, the lock after repeated failures,
cookies that never reach another account's data, and the pages' security headers. Each bad
input with what it gets."""

import re
import time

import pytest
import requests

from agent_helpers import db_raw
from conftest import KEY_FULL_RE, unique

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    from conftest import Server
    srv = Server(tmp_path_factory.mktemp("web"))
    srv.start()
    yield srv
    srv.stop()


def add_user(srv, password=PASSWORD):
    name = unique("web")
    srv.cli("user", "add", name, "--password-stdin", input=password + "\n")
    return name


def login(srv, name, password=PASSWORD):
    s = requests.Session()
    r = s.post(srv.base_url + "/api/auth/login", json={"username": name, "password": password},
               timeout=10)
    return s, r


def signed_in(srv, name=None):
    name = name or add_user(srv)
    s, r = login(srv, name)
    assert r.status_code == 200, r.text
    s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return s, name


def test_login_sets_an_httponly_strict_cookie_and_a_csrf_token(web):
    name = add_user(web)
    s, r = login(web, name)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["account"]["name"] == name and body["account"]["is_admin"] is False
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf_token"])
    assert body["via"] == "session"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("cloudhands_session=")
    # Max-Age: the session's 12 hours plus a day, so the server (not the browser) says "expired"
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=129600"):
        assert flag in cookie
    assert "Secure" not in cookie
    # the cookie's value is stored only as a hash
    value = s.cookies["cloudhands_session"]
    assert value.encode() not in db_raw(web.data_dir)
    r = s.get(web.base_url + "/api/auth/session")
    assert r.status_code == 200 and r.json()["csrf_token"] == body["csrf_token"]
    assert s.get(web.base_url + "/api/conversations").status_code == 200


def test_secure_cookie_behind_an_https_proxy(web):
    name = add_user(web)
    r = requests.post(web.base_url + "/api/auth/login", json={"username": name, "password": PASSWORD},
                      headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert r.status_code == 200 and "; Secure" in r.headers["Set-Cookie"]


@pytest.mark.parametrize("username,password", [
    ("nobody-here", PASSWORD),  # unknown account
    (None, "wrong password"),   # wrong password
])
def test_wrong_credentials_are_401_with_one_message(web, username, password):
    name = add_user(web)
    _, r = login(web, username or name, password)
    assert r.status_code == 401
    assert r.json() == {"error": "Wrong account name or password."}
    assert "Set-Cookie" not in r.headers


def test_an_account_without_a_password_cannot_sign_in(web):
    name = web.add_user()  # no password: API keys only
    _, r = login(web, name, "")
    assert r.status_code == 401
    _, r = login(web, name, "anything at all")
    assert r.status_code == 401 and r.json()["error"] == "Wrong account name or password."


@pytest.mark.parametrize("body,field", [
    ({}, "username"),
    ({"username": "a"}, "password"),
    ({"username": 5, "password": "x"}, "username"),
    ({"username": "a", "password": "x" * 1025}, "password"),
    ({"username": "a", "password": "x", "extra": 1}, "extra"),
])
def test_malformed_login_is_422(web, body, field):
    r = requests.post(web.base_url + "/api/auth/login", json=body, timeout=10)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == field


def test_login_body_that_is_not_json_is_400(web):
    r = requests.post(web.base_url + "/api/auth/login", data=b"{nope",
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400


def test_state_changing_requests_need_the_csrf_token(web):
    s, _ = signed_in(web)
    token = s.headers.pop("X-CSRF-Token")
    url = web.base_url + "/api/keys"
    r = s.post(url, json={"name": "x"})
    assert r.status_code == 403
    assert r.json() == {"detail": "Missing or wrong CSRF token: reload the page and try again."}
    r = s.post(url, json={"name": "x"}, headers={"X-CSRF-Token": "0" * 64})
    assert r.status_code == 403
    r = s.post(url, json={"name": "x"}, headers={"X-CSRF-Token": token[:-1]})
    assert r.status_code == 403
    # reads need no token; with it, writes work
    assert s.get(url).status_code == 200
    r = s.post(url, json={"name": "x"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and KEY_FULL_RE.match(r.json()["key"])
    # a conversation made from the web UI has the trigger "gui"
    r = s.post(web.base_url + "/api/conversations", json={"initial_user_msg": "from the UI"},
               headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    c = s.get(web.base_url + f"/api/conversations/{r.json()['conversation_id']}").json()
    assert c["trigger"] == "gui"


def test_an_api_key_wins_over_a_cookie_and_needs_no_csrf(web):
    s, _ = signed_in(web)
    other = web.new_account()
    s.headers.pop("X-CSRF-Token")
    r = s.post(web.base_url + "/api/conversations", json={"initial_user_msg": "as the key"},
               headers={"Authorization": f"Bearer {other.key}"})
    assert r.status_code == 200, r.text
    cid = r.json()["conversation_id"]
    assert other.conv(cid)["trigger"] == "openhands_api"
    # and the cookie's own account does not see it
    assert s.get(web.base_url + f"/api/conversations/{cid}").json() is None


def test_a_session_never_reaches_another_account(web):
    s, _ = signed_in(web)
    other = web.new_account()
    cid = other.create_id("private")
    base = web.base_url + f"/api/conversations/{cid}"
    assert s.get(base).json() is None
    for path in ("/events", "/trajectory", "/list-files", "/git/changes"):
        assert s.get(base + path).status_code == 404
    assert s.delete(base).json() is False
    assert s.post(base + "/stop").status_code == 404
    assert other.conv(cid)["status"] == "STARTING"


def test_logout_ends_the_session_on_the_server(web):
    s, _ = signed_in(web)
    value = s.cookies["cloudhands_session"]
    r = s.post(web.base_url + "/api/auth/logout")
    assert r.status_code == 200 and r.json() == {"message": "Signed out"}
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    # the old value, replayed, is refused
    r = requests.get(web.base_url + "/api/auth/session", cookies={"cloudhands_session": value},
                     timeout=10)
    assert r.status_code == 401
    assert r.json() == {"error": "Your session has expired: sign in again."}


@pytest.mark.parametrize("value", ["", "x", "0" * 64, "g" * 64, "a" * 5000])
def test_unknown_or_malformed_cookies_are_401(web, value):
    r = requests.get(web.base_url + "/api/conversations", cookies={"cloudhands_session": value},
                     timeout=10)
    assert r.status_code == 401


def test_sessions_expire_on_the_server(tmp_path):
    from conftest import Server
    srv = Server(tmp_path, args=["--session-ttl", "1"])
    srv.start()
    try:
        s, r = login(srv, add_user(srv))
        assert r.status_code == 200 and "Max-Age=86401" in r.headers["Set-Cookie"]
        assert s.get(srv.base_url + "/api/auth/session").status_code == 200
        time.sleep(1.3)
        r = s.get(srv.base_url + "/api/auth/session")
        assert r.status_code == 401
        assert r.json() == {"error": "Your session has expired: sign in again."}
    finally:
        srv.stop()


def test_repeated_failures_lock_the_account_for_a_while(web):
    name = add_user(web)
    for _ in range(5):  # five free tries; the fifth failure locks the account
        assert login(web, name, "wrong password")[1].status_code == 401
    r = login(web, name)[1]  # even the right password waits now
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 30
    assert "Too many failed sign-ins" in r.json()["detail"]
    # the operator lifts it by setting a new password
    web.cli("user", "passwd", name, "--password-stdin", input="a brand new one\n")
    assert login(web, name, "a brand new one")[1].status_code == 200


def test_cli_password_input(web, tmp_path):
    from conftest import run_cli
    name = unique("cli")
    r = web.cli("user", "add", name, "--password-stdin", input="short\n", check=False)
    assert r.returncode == 2 and "8 to 1024" in r.stderr
    r = web.cli("user", "add", name, "--password-stdin", input="", check=False)
    assert r.returncode == 2 and "no password on stdin" in r.stderr
    r = web.cli("user", "add", name)  # no terminal, no flag: no password
    assert "no password" in r.stdout and "user passwd" in r.stdout
    r = web.cli("user", "passwd", name, check=False)
    assert r.returncode == 2 and "--password-stdin" in r.stderr
    r = web.cli("user", "passwd", "nobody-like-this", "--password-stdin", input=PASSWORD + "\n",
                check=False)
    assert r.returncode == 1 and "not found" in r.stderr
    web.cli("user", "passwd", name, "--password-stdin", input=PASSWORD + "\r\n")
    assert login(web, name)[1].status_code == 200
    web.cli("user", "passwd", name, "--remove")
    assert login(web, name)[1].status_code == 401


def test_the_first_start_prints_a_password_for_admin(tmp_path):
    from conftest import Server
    srv = Server(tmp_path)
    srv.start()
    try:
        out = (srv.workdir / "serve1.stdout").read_text()
        m = re.search(r"password: (\S+)", out)
        assert m, out
        assert login(srv, "admin", m.group(1))[1].status_code == 200
        assert f"{srv.base_url}/login" in out
    finally:
        srv.stop()
    # a second start prints nothing of the sort
    srv.start()
    try:
        assert "password:" not in (srv.workdir / "serve2.stdout").read_text()
    finally:
        srv.stop()


def test_pages_carry_the_content_security_policy(web):
    for path in ("/", "/login", "/settings", "/conversations", "/conversations/" + "a" * 32):
        r = requests.get(web.base_url + path, timeout=10)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert '<script type="module" src="/assets/app.js"></script>' in r.text
    r = requests.get(web.base_url + "/assets/app.js", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    for bad in ("/assets/nope.js", "/assets/..%2Findex.html", "/assets/.hidden", "/assets/"):
        assert requests.get(web.base_url + bad, timeout=10).status_code == 404, bad
