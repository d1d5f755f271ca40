"""Webhooks (issue 7): /api/webhooks and its bad input, the per-account limit and isolation, the
SSRF rule (loopback, private, link-local... refused at creation and again at delivery unless
--webhook-allow-private), and delivery to a receiver running in the test: signed bodies that
carry the conversation exactly as GET returns it, each delivery id once, redelivery of the same
bytes after a 500, deliveries that survive a restart, giving up after the retry window, and a
signing secret that never shows again (GET answers, logs, the database)."""

import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent_helpers import FAST_ENV, agent_args, db_dump, db_raw, wait_for, wait_stopped
from conftest import CONV_ID_RE, TS_RE, Server, free_port
from llm import ScriptedLLM, call

ALL_EVENTS = ["conversation.finished", "conversation.error", "conversation.awaiting_input",
              "conversation.status"]
SECRET_RE = re.compile(r"^whsec_[0-9a-f]{64}$")
# Retries within a tenth of a second, so a test sees the second attempt at once.
WEBHOOK_ENV = {**FAST_ENV, "CLOUDHANDS_WEBHOOK_RETRY_MS": "100"}
ALLOW = ["--webhook-allow-private"]


class Receiver:
    """A webhook receiver on 127.0.0.1: records every request (path, headers, exact body) and
    answers from a script of status codes (then `default`)."""

    def __init__(self, answers=(), default=200):
        self.requests = []
        self.answers = list(answers)
        self.default = default
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.cond:
                    status = receiver.answers.pop(0) if receiver.answers else receiver.default
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body, "status": status})
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def script(self, answers=(), default=200):
        with self.cond:
            self.answers = list(answers)
            self.default = default

    def got(self):
        with self.cond:
            return list(self.requests)

    def wait(self, pred, timeout=15.0, what="webhook requests"):
        """Waits until pred(requests) is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred(list(self.requests))
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; got "
                                         f"{[(r['headers'].get('X-Cloudhands-Event'), r['status']) for r in self.requests]}")
                self.cond.wait(left)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def by_event(reqs, event):
    return [r for r in reqs if r["headers"].get("X-Cloudhands-Event") == event]


def body(req):
    return json.loads(req["body"])


def verify_signature(req, secret):
    expected = "sha256=" + hmac.new(secret.encode(), req["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req["headers"]["X-Cloudhands-Signature"], expected), req["headers"]


def create_webhook(api, url, events=ALL_EVENTS, expect=201, **extra):
    r = api.post("/api/webhooks", json={"url": url, "events": events, **extra})
    assert r.status_code == expect, f"POST /api/webhooks {url}: {r.status_code} {r.text}"
    return r.json()


def deliveries(api, hook_id, **params):
    r = api.get(f"/api/webhooks/{hook_id}/deliveries", params=params)
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


# ---- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def llm():
    server = ScriptedLLM()
    yield server
    server.close()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def hook_server(tmp_path_factory, llm):
    """Runs agents, and lets webhooks reach the test's receiver on 127.0.0.1."""
    srv = Server(tmp_path_factory.mktemp("webhooks"), args=agent_args(llm, extra=ALLOW),
                 env=WEBHOOK_ENV)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_receiver(receiver):
    receiver.script()
    with receiver.cond:
        receiver.requests.clear()
    return receiver


# ---- the resource --------------------------------------------------------------------------

def test_create_returns_the_secret_once(account):
    made = create_webhook(account, "https://hooks.example.com/cloudhands",
                          ["conversation.finished", "conversation.error"], description="CI")
    assert set(made) == {"id", "url", "events", "description", "created_at", "secret"}
    assert CONV_ID_RE.match(made["id"])
    assert SECRET_RE.match(made["secret"])
    assert made["url"] == "https://hooks.example.com/cloudhands"
    assert made["events"] == ["conversation.finished", "conversation.error"]
    assert made["description"] == "CI"
    assert TS_RE.match(made["created_at"])
    shown = {k: v for k, v in made.items() if k != "secret"}

    listed = account.get("/api/webhooks")
    assert listed.status_code == 200
    assert listed.json() == {"webhooks": [shown]}
    one = account.get(f"/api/webhooks/{made['id']}")
    assert one.status_code == 200
    assert one.json() == shown
    assert made["secret"] not in listed.text + one.text
    assert account.get(f"/api/webhooks/{made['id']}/deliveries").json() == {"deliveries": []}

    r = account.delete(f"/api/webhooks/{made['id']}")
    assert r.status_code == 200
    assert r.json() == {"message": "Webhook deleted"}
    assert account.get(f"/api/webhooks/{made['id']}").status_code == 404
    assert account.delete(f"/api/webhooks/{made['id']}").status_code == 404
    assert account.get("/api/webhooks").json() == {"webhooks": []}


def test_each_webhook_has_its_own_secret_and_duplicate_events_collapse(account):
    a = create_webhook(account, "https://a.example.com/", ["conversation.status"] * 3)
    b = create_webhook(account, "https://a.example.com/", ["conversation.status"])
    assert a["events"] == ["conversation.status"]
    assert a["secret"] != b["secret"] and a["id"] != b["id"]
    assert [w["id"] for w in account.get("/api/webhooks").json()["webhooks"]] == [a["id"], b["id"]]


@pytest.mark.parametrize("payload,field", [
    ({"url": "not a url", "events": ["conversation.finished"]}, "url"),
    ({"url": "example.com/hook", "events": ["conversation.finished"]}, "url"),
    ({"url": "ftp://example.com/hook", "events": ["conversation.finished"]}, "url"),
    ({"url": "file:///etc/passwd", "events": ["conversation.finished"]}, "url"),
    ({"url": "gopher://example.com/", "events": ["conversation.finished"]}, "url"),
    ({"url": "http://", "events": ["conversation.finished"]}, "url"),
    ({"url": "", "events": ["conversation.finished"]}, "url"),
    ({"url": "https://" + "a" * 1990 + ".com/", "events": ["conversation.finished"]}, "url"),
    ({"url": 5, "events": ["conversation.finished"]}, "url"),
    ({"events": ["conversation.finished"]}, "url"),
    ({"url": "https://example.com/", "events": []}, "events"),
    ({"url": "https://example.com/", "events": ["conversation.done"]}, "events"),
    ({"url": "https://example.com/", "events": ["conversation.finished", "push"]}, "events"),
    ({"url": "https://example.com/", "events": "conversation.finished"}, "events"),
    ({"url": "https://example.com/", "events": [7]}, "events"),
    ({"url": "https://example.com/"}, "events"),
    ({"url": "https://example.com/", "events": ["conversation.status"], "description": 3},
     "description"),
    ({"url": "https://example.com/", "events": ["conversation.status"],
      "description": "d" * 1001}, "description"),
    ({"url": "https://example.com/", "events": ["conversation.status"], "secret": "mine"},
     "secret"),
])
def test_bad_input_is_422_naming_the_field(account, payload, field):
    r = account.post("/api/webhooks", json=payload)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["loc"] == ["body", field], detail
    assert account.get("/api/webhooks").json() == {"webhooks": []}


def test_bad_bodies(account):
    assert account.post("/api/webhooks", data="{", headers={"Content-Type": "application/json"}
                        ).status_code == 400
    assert account.post("/api/webhooks", json=["https://example.com/"]).status_code == 422


def test_at_most_20_webhooks_per_account(account):
    for i in range(20):
        create_webhook(account, f"https://example.com/{i}", ["conversation.status"])
    r = account.post("/api/webhooks", json={"url": "https://example.com/21",
                                            "events": ["conversation.status"]})
    assert r.status_code == 422, r.text
    assert "20" in r.json()["detail"][0]["msg"]
    assert len(account.get("/api/webhooks").json()["webhooks"]) == 20


def test_another_accounts_webhook_is_404(server, account):
    other = server.new_account()
    theirs = create_webhook(other, "https://example.com/theirs", ["conversation.status"])
    for method, path in [("GET", ""), ("DELETE", ""), ("GET", "/deliveries")]:
        r = account.request(method, f"/api/webhooks/{theirs['id']}{path}")
        assert r.status_code == 404, (method, path, r.text)
        assert r.json() == {"detail": "Webhook not found"}
    assert account.get("/api/webhooks").json() == {"webhooks": []}
    assert other.get(f"/api/webhooks/{theirs['id']}").status_code == 200
    for bad in ["nope", "0" * 31, "A" * 32, "0" * 33]:
        assert account.get(f"/api/webhooks/{bad}").status_code == 404


def test_webhooks_need_a_key(server):
    anon = server.api()
    assert anon.get("/api/webhooks").status_code == 401
    assert anon.post("/api/webhooks", json={"url": "https://example.com/",
                                            "events": ["conversation.status"]}).status_code == 401


def test_deliveries_limit_is_checked(account):
    hook = create_webhook(account, "https://example.com/", ["conversation.status"])
    for bad in ["0", "101", "x", "-1"]:
        r = account.get(f"/api/webhooks/{hook['id']}/deliveries", params={"limit": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"][0]["loc"] == ["query", "limit"]


# ---- SSRF: the default server refuses targets that are not public ---------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/hook",
    "http://127.1.2.3/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0:{port}/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://[::1]/",
    "http://[::1]:{port}/hook",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.1.2.3]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://017700000001/",
    "https://localhost:{port}/hook",
    "http://LocalHost:{port}/",
    "http://localhost/",
])
def test_private_targets_are_refused(account, url):
    r = account.post("/api/webhooks", json={"url": url.format(port=free_port()),
                                            "events": ["conversation.status"]})
    assert r.status_code == 422, (url, r.text)
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "url"]
    assert "address" in detail["msg"] and "--webhook-allow-private" in detail["msg"], detail
    assert account.get("/api/webhooks").json() == {"webhooks": []}


def test_a_public_address_literal_is_accepted(account):
    create_webhook(account, "http://93.184.215.14:8080/hook", ["conversation.status"])
    create_webhook(account, "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook",
                   ["conversation.status"])


def test_a_host_that_does_not_resolve_is_accepted_then_fails_at_delivery(tmp_path):
    """Nothing to refuse yet when the webhook is made (its DNS may come later); each delivery
    resolves the name again and records why it could not send."""
    srv = Server(tmp_path / "s", env=WEBHOOK_ENV).start()
    try:
        api = srv.new_account()
        hook = create_webhook(api, "https://no-such-host.invalid/hook", ["conversation.status"])
        api.stop_conv(api.create_id("never runs"))
        d = wait_for(lambda: [d for d in deliveries(api, hook["id"]) if d["last_error"]],
                     what="a failed attempt")[0]
        assert d["status"] == "pending" and d["last_status_code"] is None
        assert "no-such-host.invalid does not resolve" in d["last_error"], d
        assert TS_RE.match(d["next_attempt_at"])
    finally:
        srv.stop()


# ---- delivery ------------------------------------------------------------------------------

def test_a_finished_run_delivers_signed_events_once_each(hook_server, llm, fresh_receiver):
    rx = fresh_receiver
    llm.script([{"tool_calls": [call("finish", message="all done")]}])
    api = hook_server.new_account()
    hook = create_webhook(api, rx.url)
    cid = api.create_id("finish at once")
    final = wait_stopped(api, cid)
    assert final["agent_state"] == "finished", final

    reqs = rx.wait(lambda rs: len(rs) >= 3 and rs, what="finished + 2 status deliveries")
    time.sleep(0.6)  # time for a duplicate, were there one
    reqs = rx.got()
    assert sorted(r["headers"]["X-Cloudhands-Event"] for r in reqs) == [
        "conversation.finished", "conversation.status", "conversation.status"], reqs
    ids = [r["headers"]["X-Cloudhands-Delivery"] for r in reqs]
    assert len(set(ids)) == len(ids) == 3
    for r in reqs:
        assert r["path"] == "/hook"
        h = r["headers"]
        assert h["Content-Type"] == "application/json"
        assert h["User-Agent"].startswith("cloudhands/")
        verify_signature(r, hook["secret"])
        b = body(r)
        assert set(b) == {"event", "delivery_id", "conversation"}
        assert b["event"] == h["X-Cloudhands-Event"]
        assert b["delivery_id"] == h["X-Cloudhands-Delivery"]
        assert b["conversation"]["conversation_id"] == cid

    finished = body(by_event(reqs, "conversation.finished")[0])
    assert finished["conversation"] == api.conv(cid)  # the final state, exactly as GET has it
    statuses = sorted(body(r)["conversation"]["status"] for r in by_event(reqs, "conversation.status"))
    assert statuses == ["RUNNING", "STOPPED"]
    running = next(body(r) for r in by_event(reqs, "conversation.status")
                   if body(r)["conversation"]["status"] == "RUNNING")
    assert running["conversation"]["agent_state"] == "running"

    listed = deliveries(api, hook["id"])
    assert sorted(d["id"] for d in listed) == sorted(ids)
    for d in listed:
        assert set(d) == {"id", "event", "conversation_id", "status", "attempts",
                          "last_status_code", "last_error", "created_at", "delivered_at",
                          "next_attempt_at"}
        assert d["status"] == "delivered" and d["attempts"] == 1, d
        assert d["last_status_code"] == 200 and d["last_error"] is None
        assert d["conversation_id"] == cid and d["next_attempt_at"] is None
        assert TS_RE.match(d["created_at"]) and TS_RE.match(d["delivered_at"])
    created = [d["created_at"] for d in listed]
    assert created == sorted(created, reverse=True)  # newest first
    assert len(deliveries(api, hook["id"], limit=1)) == 1


def test_a_run_on_a_repository_reports_running_once(hook_server, llm, fresh_receiver):
    """With a repository the conversation is RUNNING from the clone on: one RUNNING, one
    STOPPED."""
    rx = fresh_receiver
    llm.script([{"tool_calls": [call("finish", message="nothing to change")]}])
    api = hook_server.new_account()
    create_webhook(api, rx.url, ["conversation.status", "conversation.finished"])
    cid = api.create_id("look at the repository", repository="octo/hello-world")
    assert wait_stopped(api, cid)["agent_state"] == "finished"
    rx.wait(lambda rs: len(rs) >= 3, what="three deliveries")
    time.sleep(0.6)
    reqs = rx.got()
    assert sorted(body(r)["conversation"]["status"] for r in by_event(reqs, "conversation.status")
                  ) == ["RUNNING", "STOPPED"], [body(r) for r in reqs]
    assert len(by_event(reqs, "conversation.finished")) == 1
    assert body(by_event(reqs, "conversation.finished")[0])["conversation"][
        "selected_repository"] == "octo/hello-world"


def test_only_subscribed_events_and_only_the_accounts_webhooks(hook_server, llm, fresh_receiver):
    rx = fresh_receiver
    llm.script([{"content": "Which file do you mean?"}])
    api = hook_server.new_account()
    other = hook_server.new_account()
    create_webhook(other, rx.url.replace("/hook", "/other"))
    hook = create_webhook(api, rx.url, ["conversation.awaiting_input", "conversation.finished"])
    cid = api.create_id("ask me something")
    assert wait_stopped(api, cid)["agent_state"] == "awaiting_user_input"
    rx.wait(lambda rs: rs, what="the awaiting_input delivery")
    time.sleep(0.6)
    reqs = rx.got()
    assert [r["headers"]["X-Cloudhands-Event"] for r in reqs] == ["conversation.awaiting_input"]
    assert reqs[0]["path"] == "/hook"
    verify_signature(reqs[0], hook["secret"])
    assert body(reqs[0])["conversation"]["agent_state"] == "awaiting_user_input"


def test_an_error_run_delivers_conversation_error(hook_server, fresh_receiver):
    rx = fresh_receiver
    api = hook_server.new_account()
    # The account's model is somewhere nothing listens: the run ends in an error.
    r = api.post("/api/settings", json={"llm_base_url": f"http://127.0.0.1:{free_port()}/v1",
                                        "llm_api_key": "sk-nothing-there"})
    assert r.status_code == 200, r.text
    hook = create_webhook(api, rx.url, ["conversation.error"])
    cid = api.create_id("this will fail")
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "error", c
    req = rx.wait(lambda rs: rs and rs[0], what="the error delivery")
    verify_signature(req, hook["secret"])
    b = body(req)
    assert b["event"] == "conversation.error"
    assert b["conversation"]["agent_state"] == "error" and b["conversation"]["error"]


def test_redelivery_after_a_500_sends_the_same_bytes(hook_server, llm, fresh_receiver):
    rx = fresh_receiver
    rx.script([500])
    llm.script([{"tool_calls": [call("finish", message="done")]}])
    api = hook_server.new_account()
    hook = create_webhook(api, rx.url, ["conversation.finished"])
    cid = api.create_id("finish")
    wait_stopped(api, cid)
    reqs = rx.wait(lambda rs: len(rs) >= 2 and rs, what="a redelivery")
    time.sleep(0.6)
    reqs = rx.got()
    assert [r["status"] for r in reqs] == [500, 200]
    first, second = reqs
    for h in ("X-Cloudhands-Delivery", "X-Cloudhands-Signature", "X-Cloudhands-Event"):
        assert first["headers"][h] == second["headers"][h]
    assert first["body"] == second["body"]
    verify_signature(second, hook["secret"])
    [d] = wait_for(lambda: [d for d in deliveries(api, hook["id"]) if d["status"] == "delivered"],
                   what="the delivery to be recorded")
    assert d["id"] == first["headers"]["X-Cloudhands-Delivery"]
    assert d["attempts"] == 2 and d["last_status_code"] == 200 and d["last_error"] is None


def test_a_user_stop_of_a_running_conversation_is_a_status_event(tmp_path, fresh_receiver):
    """Without runners a conversation stays STARTING; stopping it is a status change."""
    rx = fresh_receiver
    srv = Server(tmp_path / "s", args=ALLOW, env=WEBHOOK_ENV).start()
    try:
        api = srv.new_account()
        hook = create_webhook(api, rx.url, ["conversation.status"])
        cid = api.create_id("never runs")
        api.stop_conv(cid)
        req = rx.wait(lambda rs: rs and rs[0], what="the STOPPED delivery")
        assert body(req)["conversation"]["status"] == "STOPPED"
        assert body(req)["conversation"] == api.conv(cid)
        api.stop_conv(cid)  # already stopped: no status change, no delivery
        time.sleep(0.6)
        assert len(rx.got()) == 1
        verify_signature(req, hook["secret"])
    finally:
        srv.stop()


def test_a_pending_delivery_survives_a_restart(tmp_path, fresh_receiver):
    rx = fresh_receiver
    rx.script(default=503)
    env = {**WEBHOOK_ENV, "CLOUDHANDS_WEBHOOK_RETRY_MS": "300"}
    srv = Server(tmp_path / "s", args=ALLOW, env=env).start()
    try:
        api = srv.new_account()
        hook = create_webhook(api, rx.url, ["conversation.status"])
        cid = api.create_id("never runs")
        api.stop_conv(cid)
        rx.wait(lambda rs: rs, what="the first attempt")
        [pending] = deliveries(api, hook["id"])
        assert pending["status"] == "pending", pending
        srv.stop()
        before = len(rx.got())
        rx.script(default=200)
        srv.start()
        ok = rx.wait(lambda rs: [r for r in rs if r["status"] == 200], what="delivery after restart")
        assert ok[0]["headers"]["X-Cloudhands-Delivery"] == pending["id"]
        assert all(r["headers"]["X-Cloudhands-Delivery"] == pending["id"] for r in rx.got())
        assert len(rx.got()) > before
        [d] = wait_for(lambda: [d for d in deliveries(api, hook["id"]) if d["status"] == "delivered"],
                       what="the delivery to be recorded")
        assert d["attempts"] >= 2 and d["last_status_code"] == 200
    finally:
        srv.stop()


def test_a_delivery_fails_for_good_after_the_retry_window(tmp_path, fresh_receiver):
    rx = fresh_receiver
    rx.script(default=500)
    env = {**WEBHOOK_ENV, "CLOUDHANDS_WEBHOOK_GIVE_UP_MS": "1500"}
    srv = Server(tmp_path / "s", args=ALLOW, env=env).start()
    try:
        api = srv.new_account()
        hook = create_webhook(api, rx.url, ["conversation.status"])
        api.stop_conv(api.create_id("never runs"))
        [d] = wait_for(lambda: [d for d in deliveries(api, hook["id"]) if d["status"] == "failed"],
                       timeout=15, what="the delivery to fail")
        assert d["attempts"] >= 2 and d["last_status_code"] == 500
        assert "500" in d["last_error"] and d["next_attempt_at"] is None
        n = len(rx.got())
        assert n == d["attempts"]
        time.sleep(0.5)
        assert len(rx.got()) == n  # no attempt after giving up
    finally:
        srv.stop()


def test_a_hostname_target_is_connected_to_its_checked_address(tmp_path, fresh_receiver):
    """With private targets allowed, a name is still resolved once and the request pinned to
    the checked addresses (CURLOPT_RESOLVE): localhost reaches the receiver."""
    rx = fresh_receiver
    srv = Server(tmp_path / "s", args=ALLOW, env=WEBHOOK_ENV).start()
    try:
        api = srv.new_account()
        hook = create_webhook(api, f"http://localhost:{rx.port}/pinned", ["conversation.status"])
        api.stop_conv(api.create_id("never runs"))
        req = rx.wait(lambda rs: rs and rs[0], what="the delivery")
        assert req["path"] == "/pinned"
        verify_signature(req, hook["secret"])
    finally:
        srv.stop()


def test_targets_are_checked_again_at_delivery(tmp_path, fresh_receiver):
    """A webhook made while the operator allowed private targets is not called once they are
    refused: the check runs again before every attempt."""
    rx = fresh_receiver
    srv = Server(tmp_path / "s", args=ALLOW, env=WEBHOOK_ENV).start()
    try:
        api = srv.new_account()
        hook = create_webhook(api, rx.url, ["conversation.status"])
        srv.stop()
        srv.args = []
        srv.start()
        api.stop_conv(api.create_id("never runs"))
        d = wait_for(lambda: [d for d in deliveries(api, hook["id"]) if d["attempts"] >= 1
                              and d["last_error"]], what="a refused attempt")[0]
        assert d["status"] == "pending" and d["last_status_code"] is None
        assert "127.0.0.1" in d["last_error"] and "loopback" in d["last_error"], d
        time.sleep(0.5)
        assert rx.got() == []
    finally:
        srv.stop()


def test_the_secret_is_never_shown_logged_or_stored_in_clear(tmp_path, fresh_receiver):
    rx = fresh_receiver
    srv = Server(tmp_path / "s", args=ALLOW, env=WEBHOOK_ENV).start()
    try:
        api = srv.new_account()
        hook = create_webhook(api, rx.url, ["conversation.status"])
        secret = hook["secret"]
        api.stop_conv(api.create_id("never runs"))
        req = rx.wait(lambda rs: rs and rs[0], what="the delivery")
        verify_signature(req, secret)
        wait_for(lambda: deliveries(api, hook["id"])[0]["status"] == "delivered",
                 what="the delivery to be recorded")
        answers = [api.get("/api/webhooks").text, api.get(f"/api/webhooks/{hook['id']}").text,
                   api.get(f"/api/webhooks/{hook['id']}/deliveries").text]
        for text in answers:
            assert secret not in text and secret[6:] not in text
        assert secret not in json.dumps(body(req))
        tables, dump = db_dump(srv.data_dir)
        assert "webhooks" in tables and "webhook_deliveries" in tables
        assert secret[6:] not in dump and secret[6:].encode() not in db_raw(srv.data_dir)
    finally:
        srv.stop()
    assert secret[6:] not in srv.stderr() + srv.stdout()
    assert "webhook delivered" in srv.stderr()


def test_help_documents_the_flag(binary):
    from conftest import run_cli
    out = run_cli("serve", "--help").stdout
    assert "--webhook-allow-private" in out
