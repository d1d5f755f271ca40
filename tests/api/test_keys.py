"""/api/keys: create, list, current, delete; validation."""

from datetime import datetime, timedelta, timezone

import pytest

from conftest import KEY_FULL_RE, TS_RE

RECORD_FIELDS = {"id", "name", "created_at", "last_used_at", "expires_at"}


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_create_key_returns_record_and_key_once(account):
    r = account.post("/api/keys", json={"name": "ci runner"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= RECORD_FIELDS | {"key"}, body
    assert body["name"] == "ci runner"
    assert KEY_FULL_RE.match(body["key"]), body["key"]
    assert TS_RE.match(body["created_at"]), body["created_at"]
    assert body["last_used_at"] is None
    assert body["expires_at"] is None
    assert body["key"] != account.key


def test_new_key_works_at_once_and_current_describes_it(server, account):
    body = account.post("/api/keys", json={"name": "second"}).json()
    other = server.api(body["key"])
    r = other.get("/api/keys/current")
    assert r.status_code == 200, r.text
    cur = r.json()
    assert "key" not in cur
    assert set(cur) >= RECORD_FIELDS, cur
    assert cur["id"] == body["id"]
    assert cur["name"] == "second"
    assert cur["created_at"] == body["created_at"]
    # the new key belongs to the same account: it sees the same conversations
    cid = account.create_id("made with the first key")
    assert other.conv(cid)["conversation_id"] == cid


def test_list_keys_has_records_without_key(account):
    made = [account.post("/api/keys", json={"name": f"k{i}"}).json() for i in range(3)]
    r = account.get("/api/keys")
    assert r.status_code == 200, r.text
    listed = r.json()
    assert isinstance(listed, list)
    by_id = {k["id"]: k for k in listed}
    for m in made:
        assert m["id"] in by_id, (m, listed)
        rec = by_id[m["id"]]
        assert rec["name"] == m["name"]
        assert rec["created_at"] == m["created_at"]
    for rec in listed:
        assert "key" not in rec, rec
        assert set(rec) >= RECORD_FIELDS
        for v in rec.values():
            assert not (isinstance(v, str) and KEY_FULL_RE.match(v)), rec
    assert len(listed) == 4  # the CLI-made key plus three
    for m in made:
        assert m["key"] not in r.text


def test_keys_of_other_accounts_are_not_listed(server, account):
    other = server.new_account()
    mine = account.post("/api/keys", json={"name": "mine"}).json()
    ids = [k["id"] for k in other.get("/api/keys").json()]
    assert mine["id"] not in ids


def test_delete_key(server, account):
    body = account.post("/api/keys", json={"name": "temp"}).json()
    s = server.api(body["key"])
    assert s.get("/api/keys/current").status_code == 200
    r = account.delete(f"/api/keys/{body['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "API key deleted successfully"}
    assert s.get("/api/keys/current").status_code == 401
    assert s.get("/api/conversations").status_code == 401
    ids = [k["id"] for k in account.get("/api/keys").json()]
    assert body["id"] not in ids
    # deleting it again: it is gone
    r = account.delete(f"/api/keys/{body['id']}")
    assert r.status_code == 404, r.text


def test_delete_other_accounts_key_is_404(server, account):
    other = server.new_account()
    theirs = other.post("/api/keys", json={"name": "theirs"}).json()
    r = account.delete(f"/api/keys/{theirs['id']}")
    assert r.status_code == 404, r.text
    assert server.api(theirs["key"]).get("/api/keys/current").status_code == 200


def test_delete_unknown_key_is_404(account):
    r = account.delete("/api/keys/987654321")
    assert r.status_code == 404, r.text
    r = account.delete("/api/keys/not-an-id")
    assert r.status_code in (404, 422), r.text
    assert account.get("/api/keys/current").status_code == 200


def test_create_key_without_name_is_422(account):
    before = len(account.get("/api/keys").json())
    r = account.post("/api/keys", json={})
    assert r.status_code == 422, r.text
    assert "name" in r.text
    r = account.post("/api/keys", json={"expires_at": iso(datetime.now(timezone.utc) + timedelta(days=1))})
    assert r.status_code == 422, r.text
    assert len(account.get("/api/keys").json()) == before


@pytest.mark.parametrize("expires", [
    iso(datetime.now(timezone.utc) - timedelta(days=1)),
    "2001-01-01T00:00:00Z",
    "not-a-date",
    "tomorrow",
    "2030-13-45T99:99:99Z",
])
def test_create_key_bad_expires_at_is_422(account, expires):
    before = len(account.get("/api/keys").json())
    r = account.post("/api/keys", json={"name": "x", "expires_at": expires})
    assert r.status_code == 422, r.text
    assert "expires_at" in r.text
    assert len(account.get("/api/keys").json()) == before


def test_create_key_with_future_expiry(server, account):
    when = datetime.now(timezone.utc) + timedelta(days=30)
    r = account.post("/api/keys", json={"name": "monthly", "expires_at": iso(when)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert TS_RE.match(body["expires_at"]), body
    got = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs((got - when).total_seconds()) < 1.0
    assert server.api(body["key"]).get("/api/keys/current").json()["expires_at"] == body["expires_at"]


def test_last_used_at_is_set_after_use(server, account):
    body = account.post("/api/keys", json={"name": "usage"}).json()
    rec = [k for k in account.get("/api/keys").json() if k["id"] == body["id"]][0]
    assert rec["last_used_at"] is None
    assert server.api(body["key"]).get("/api/conversations").status_code == 200
    rec = [k for k in account.get("/api/keys").json() if k["id"] == body["id"]][0]
    assert rec["last_used_at"] is not None
    assert TS_RE.match(rec["last_used_at"]), rec
    assert rec["last_used_at"] >= rec["created_at"]
