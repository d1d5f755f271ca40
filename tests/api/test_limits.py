"""The concurrency limit (429) and Idempotency-Key."""

import json
import threading
import uuid

import requests

from conftest import CONV_ID_RE


def assert_429(r, limit, current):
    assert r.status_code == 429, f"{r.status_code} {r.text}"
    body = r.json()
    assert set(body) == {"detail"}, body
    d = body["detail"]
    assert set(d) == {"error", "message", "limit", "current"}, d
    assert d["error"] == "CONCURRENCY_LIMIT_REACHED"
    assert isinstance(d["message"], str) and d["message"]
    assert d["limit"] == limit and not isinstance(d["limit"], bool)
    assert d["current"] == current and not isinstance(d["current"], bool)
    ra = r.headers.get("Retry-After")
    assert ra is not None, dict(r.headers)
    assert ra.strip().isdigit() and int(ra) > 0, ra


def test_eleventh_active_conversation_is_429(account):
    ids = [account.create_id(f"job {i}") for i in range(10)]
    assert len(set(ids)) == 10
    r = account.create("one too many", expect=None)
    assert_429(r, 10, 10)
    assert account.count() == 10
    # again: still refused, nothing stored
    assert_429(account.create("still too many", expect=None), 10, 10)
    assert account.count() == 10


def test_stopping_one_frees_a_slot(account):
    ids = [account.create_id(f"job {i}") for i in range(10)]
    account.create("blocked", expect=429)
    account.stop_conv(ids[3])
    r = account.create("now fits", expect=200)
    assert CONV_ID_RE.match(r.json()["conversation_id"])
    assert_429(account.create("full again", expect=None), 10, 10)
    assert account.count() == 11
    assert account.count(status="STOPPED") == 1


def test_start_at_the_limit_is_429(account):
    first = account.create_id("first")
    account.stop_conv(first)
    for i in range(10):
        account.create_id(f"job {i}")
    r = account.post(f"/api/conversations/{first}/start")
    assert_429(r, 10, 10)
    assert account.conv(first)["status"] == "STOPPED"


def test_limit_is_per_account(server, account):
    for i in range(10):
        account.create_id(f"job {i}")
    account.create("blocked", expect=429)
    other = server.new_account()
    other.create("another account is not affected", expect=200)


def test_parallel_creates_respect_the_limit(fresh_server):
    acct = fresh_server.new_account()
    n = 50
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        s = fresh_server.api(acct.key)
        try:
            barrier.wait(timeout=10)
            r = s.post("/api/conversations", json={"initial_user_msg": f"parallel {i}"}, timeout=30)
            results[i] = (r.status_code, r.text)
        except Exception as e:  # noqa: BLE001 - recorded and asserted below
            results[i] = ("exception", repr(e))
        finally:
            s.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    codes = [r[0] for r in results]
    others = [r for r in results if r[0] not in (200, 429)]
    assert not others, others[:5]
    assert codes.count(200) == 10, codes
    assert codes.count(429) == 40, codes
    listed = acct.list_all()
    assert len(listed) == 10
    ok_ids = sorted(json.loads(t)["conversation_id"] for c, t in results if c == 200)
    assert sorted(c["conversation_id"] for c in listed) == ok_ids
    # still alive
    assert requests.get(fresh_server.base_url + "/alive", timeout=5).json() == {"status": "ok"}


def test_limit_holds_across_server_processes_sharing_one_database(server_factory):
    """API.md: the limit holds across every server process sharing one database."""
    a = server_factory(name="a")
    b = server_factory(name="b", data_dir=a.data_dir)
    assert not b.wait_stdout(r"oh_[0-9a-f]{64}", timeout=0.5), "the second process printed a key"
    acct = a.new_account()
    n = 40
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        srv = (a, b)[i % 2]
        s = srv.api(acct.key)
        try:
            barrier.wait(timeout=10)
            r = s.post("/api/conversations", json={"initial_user_msg": f"multi {i}"}, timeout=30)
            results[i] = (r.status_code, r.text)
        except Exception as e:  # noqa: BLE001
            results[i] = ("exception", repr(e))
        finally:
            s.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    codes = [r[0] for r in results]
    assert not [r for r in results if r[0] not in (200, 429)], results
    assert codes.count(200) == 10, codes
    assert acct.count() == 10
    assert b.api(acct.key).count() == 10


def test_per_account_override(server):
    acct = server.new_account(max_concurrent=3)
    for i in range(3):
        acct.create_id(f"job {i}")
    assert_429(acct.create("fourth", expect=None), 3, 3)
    assert acct.count() == 3


def test_server_wide_limit(server_factory):
    srv = server_factory(args=["--max-concurrent", "2"])
    acct = srv.new_account()
    acct.create_id("one")
    acct.create_id("two")
    assert_429(acct.create("three", expect=None), 2, 2)
    # an account with its own override is not bound by the server's default
    big = srv.new_account(max_concurrent=4)
    for i in range(4):
        big.create_id(f"job {i}")
    assert_429(big.create("fifth", expect=None), 4, 4)


# -- Idempotency-Key ------------------------------------------------------------------------
def test_idempotency_key_replays_the_first_answer(account):
    key = str(uuid.uuid4())
    r1 = account.create("idempotent", headers={"Idempotency-Key": key})
    r2 = account.create("idempotent", headers={"Idempotency-Key": key})
    assert r2.json() == r1.json()
    assert r2.text == r1.text
    assert account.count() == 1
    r3 = account.create("idempotent", headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r3.json()["conversation_id"] != r1.json()["conversation_id"]
    assert account.count() == 2
    r4 = account.create("idempotent")  # no key: always new
    assert r4.json()["conversation_id"] not in (r1.json()["conversation_id"], r3.json()["conversation_id"])
    assert account.count() == 3


def test_idempotency_key_is_per_account(server, account):
    key = "shared-" + str(uuid.uuid4())
    r1 = account.create("mine", headers={"Idempotency-Key": key})
    other = server.new_account()
    r2 = other.create("theirs", headers={"Idempotency-Key": key})
    assert r2.json()["conversation_id"] != r1.json()["conversation_id"]
    assert other.count() == 1
    assert account.count() == 1
    assert other.conv(r2.json()["conversation_id"])["conversation_id"] == r2.json()["conversation_id"]


def test_idempotency_replay_does_not_count_against_the_limit(account):
    key = str(uuid.uuid4())
    first = account.create("first", headers={"Idempotency-Key": key}).json()
    for i in range(9):
        account.create_id(f"job {i}")
    # at the limit now; replaying the first request still returns its answer
    r = account.create("first", headers={"Idempotency-Key": key})
    assert r.status_code == 200, r.text
    assert r.json() == first
    assert account.count() == 10


def test_idempotency_key_parallel_duplicates_create_one(account):
    key = str(uuid.uuid4())
    n = 8
    barrier = threading.Barrier(n)
    bodies = [None] * n

    def worker(i):
        s = type(account)(account.base_url, account.key)
        try:
            barrier.wait(timeout=10)
            r = s.post("/api/conversations", json={"initial_user_msg": "dup"},
                       headers={"Idempotency-Key": key})
            bodies[i] = (r.status_code, r.text)
        finally:
            s.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(b is not None and b[0] == 200 for b in bodies), bodies
    assert len({b[1] for b in bodies}) == 1, bodies
    assert account.count() == 1
