"""Several API nodes on one PostgreSQL database (issue 6): they share the data directory's
secret.key (API keys are hashed with it) and the database, and PostgreSQL alone coordinates them.
Runs only when the suite runs on PostgreSQL (CLOUDHANDS_TEST_PG; see conftest.py)."""

import threading

import pytest
import requests

from conftest import PG_ADMIN_URL, Server

pytestmark = pytest.mark.skipif(PG_ADMIN_URL is None, reason="needs CLOUDHANDS_TEST_PG")


def test_two_nodes_share_the_concurrency_limit(server_factory):
    """50 parallel POSTs from one account spread over two nodes: exactly 10 conversations, the
    rest 429; both nodes list the same 10."""
    a = server_factory(name="node-a")
    b = server_factory(name="node-b", data_dir=a.data_dir)
    key = a.create_key(a.add_user())
    nodes = [a.api(key), b.api(key)]
    codes = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def post(i):
        start.wait()
        r = nodes[i % 2].post("/api/conversations", json={"initial_user_msg": f"job {i}"},
                              timeout=30)
        with lock:
            codes.append(r.status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(codes)) == [200, 429], codes
    assert codes.count(200) == 10 and codes.count(429) == 40
    ids_a = sorted(c["conversation_id"] for c in nodes[0].list_all())
    ids_b = sorted(c["conversation_id"] for c in nodes[1].list_all())
    assert len(ids_a) == 10 and ids_a == ids_b


def test_nodes_starting_together_on_an_empty_database(server_factory, tmp_path):
    """Three nodes started at once on a fresh database: the migrations run once (under the
    advisory lock) and every node comes up and serves the same accounts."""
    first = server_factory(name="n0", start=False)
    nodes = [first] + [server_factory(name=f"n{i}", start=False, data_dir=first.data_dir)
                       for i in range(1, 3)]
    errors = []

    def start(srv):
        try:
            srv.start()
        except AssertionError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=start, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    key = first.create_key(first.add_user())
    for n in nodes:
        r = requests.get(n.base_url + "/api/conversations", timeout=10,
                         headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
    # exactly one admin account was bootstrapped, whichever node did it
    users = first.cli("user", "list").stdout
    assert users.count("admin") == 1, users
