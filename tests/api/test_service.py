"""Service routes, routing errors."""

import requests


def test_alive_needs_no_auth(server):
    r = requests.get(server.base_url + "/alive", timeout=5)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert "application/json" in r.headers.get("Content-Type", "")


def test_health_is_json_ok(server):
    r = requests.get(server.base_url + "/health", timeout=5)
    assert r.status_code == 200
    assert r.json() == "OK"


def test_unknown_route_is_404(server, account):
    r = account.get("/api/no-such-route")
    assert r.status_code == 404, r.text
    r = requests.get(server.base_url + "/no/such/page/at/all", timeout=5)
    assert r.status_code == 404, r.text


def test_wrong_method_is_405(server, account):
    before = account.count()
    r = account.put("/api/conversations", json={"initial_user_msg": "x"})
    assert r.status_code == 405, r.text
    r = account.delete("/api/conversations")
    assert r.status_code == 405, r.text
    assert account.count() == before
    assert requests.get(server.base_url + "/alive", timeout=5).json() == {"status": "ok"}
