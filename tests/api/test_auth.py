"""401 for every kind of bad credential, with {"error": ...} and without echoing the key."""

import base64
import secrets
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

PROTECTED = [
    ("GET", "/api/conversations", None),
    ("POST", "/api/conversations", {"initial_user_msg": "hello"}),
    ("GET", "/api/keys", None),
    ("GET", "/api/keys/current", None),
]


def assert_401(r, sent_secret=None):
    assert r.status_code == 401, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    body = r.json()
    assert isinstance(body, dict) and set(body) >= {"error"}, body
    assert isinstance(body["error"], str) and body["error"].strip(), body
    if sent_secret:
        assert sent_secret not in r.text, "the error body echoes the key that was sent"
        for v in r.headers.values():
            assert sent_secret not in v, "a response header echoes the key that was sent"


def call(server, method, path, body, headers):
    return requests.request(method, server.base_url + path, json=body, headers=headers, timeout=10)


@pytest.mark.parametrize("method,path,body", PROTECTED)
def test_no_authorization_header(server, method, path, body):
    assert_401(call(server, method, path, body, {}))


@pytest.mark.parametrize("method,path,body", PROTECTED)
def test_bearer_garbage(server, method, path, body):
    garbage = "not-a-key-" + secrets.token_hex(8)
    assert_401(call(server, method, path, body, {"Authorization": "Bearer " + garbage}), garbage)


def test_bearer_empty(server):
    assert_401(call(server, "GET", "/api/conversations", None, {"Authorization": "Bearer "}))
    assert_401(call(server, "GET", "/api/conversations", None, {"Authorization": "Bearer"}))


@pytest.mark.parametrize("method,path,body", PROTECTED)
def test_well_formed_unknown_key(server, method, path, body):
    key = "oh_" + secrets.token_hex(32)
    assert_401(call(server, method, path, body, {"Authorization": "Bearer " + key}), key)


def test_basic_scheme_is_refused_even_with_a_valid_key(server, account):
    key = account.key
    assert account.get("/api/keys/current").status_code == 200  # the key itself is fine
    basic = base64.b64encode(f"admin:{key}".encode()).decode()
    r = call(server, "GET", "/api/conversations", None, {"Authorization": "Basic " + basic})
    assert_401(r, key)
    assert basic not in r.text
    r = call(server, "GET", "/api/conversations", None, {"Authorization": "Basic " + key})
    assert_401(r, key)


def test_revoked_key_is_refused_at_once(server, account):
    r = account.post("/api/keys", json={"name": "to-revoke"})
    assert r.status_code == 200, r.text
    rec = r.json()
    victim = server.api(rec["key"])
    assert victim.get("/api/conversations").status_code == 200
    r = account.delete(f"/api/keys/{rec['id']}")
    assert r.status_code == 200, r.text
    for method, path, body in PROTECTED:
        assert_401(call(server, method, path, body, {"Authorization": "Bearer " + rec["key"]}),
                   rec["key"])


def test_expired_key_is_refused(server, account):
    expires = (datetime.now(timezone.utc) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    r = account.post("/api/keys", json={"name": "short-lived", "expires_at": expires})
    assert r.status_code == 200, r.text
    key = r.json()["key"]
    assert server.api(key).get("/api/conversations").status_code == 200
    time.sleep(2.6)
    assert_401(call(server, "GET", "/api/conversations", None, {"Authorization": "Bearer " + key}), key)
    assert_401(call(server, "POST", "/api/conversations", {"initial_user_msg": "x"},
                    {"Authorization": "Bearer " + key}), key)


def test_unauthenticated_create_creates_nothing(server, account):
    before = account.count()
    bad = "oh_" + secrets.token_hex(32)
    assert_401(call(server, "POST", "/api/conversations", {"initial_user_msg": "x"},
                    {"Authorization": "Bearer " + bad}), bad)
    assert account.count() == before


def test_public_routes_need_no_auth(server):
    assert requests.get(server.base_url + "/alive", timeout=5).status_code == 200
    assert requests.get(server.base_url + "/health", timeout=5).status_code == 200


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/conversations/" + "0" * 32),
    ("PATCH", "/api/conversations/" + "0" * 32),
    ("DELETE", "/api/conversations/" + "0" * 32),
    ("POST", "/api/conversations/" + "0" * 32 + "/stop"),
    ("POST", "/api/conversations/" + "0" * 32 + "/start"),
    ("GET", "/api/conversations/" + "0" * 32 + "/events"),
    ("POST", "/api/keys"),
    ("DELETE", "/api/keys/1"),
])
def test_every_api_route_needs_a_key(server, method, path):
    body = {"title": "x"} if method == "PATCH" else ({"name": "x"} if path == "/api/keys" else None)
    assert_401(call(server, method, path, body, {}))


def test_no_auth_cannot_touch_existing_data(server, account):
    cid = account.create_id("guarded")
    kid = account.get("/api/keys/current").json()["id"]
    for method, path in [("GET", f"/api/conversations/{cid}"), ("DELETE", f"/api/conversations/{cid}"),
                         ("POST", f"/api/conversations/{cid}/stop"), ("DELETE", f"/api/keys/{kid}")]:
        assert_401(call(server, method, path, None, {}))
    assert account.conv(cid)["status"] == "STARTING"
    assert account.get("/api/keys/current").status_code == 200
