"""GET /api/conversations/{id}/events/stream: Server-Sent Events of a conversation's events,
in order, `id:` = the event's id and `data:` = the event exactly as GET .../events shows it,
resumable with Last-Event-ID, ending by itself once the agent stops. Many streams at once and
clients that go away mid-stream must not hurt the server."""

import json
import socket
import threading
import time

import pytest
import requests

from agent_helpers import FAST_ENV, agent_args, all_events, wait_stopped
from llm import ScriptedLLM, call


@pytest.fixture(scope="module")
def llm():
    server = ScriptedLLM()
    yield server
    server.close()


@pytest.fixture(scope="module")
def agent_server(tmp_path_factory, llm):
    from conftest import Server
    srv = Server(tmp_path_factory.mktemp("stream"), args=agent_args(llm, runners=2), env=FAST_ENV)
    srv.start()
    yield srv
    srv.stop()


def stream_url(cid):
    return f"/api/conversations/{cid}/events/stream"


def open_stream(api, cid, headers=None, params=None, timeout=10):
    r = api.get(stream_url(cid), headers=headers, params=params, stream=True, timeout=timeout)
    return r


def read_sse(resp, limit=None):
    """Parses an SSE response into [(id, data-object)] until it ends (or `limit` events).
    Comment lines (": keep-alive") are skipped; every event must have exactly one id and data."""
    out, fields = [], {}
    for line in resp.iter_lines(decode_unicode=True):
        if line == "":
            if fields:
                assert set(fields) == {"id", "data"}, fields
                out.append((int(fields["id"]), json.loads(fields["data"])))
                fields = {}
                if limit and len(out) >= limit:
                    return out
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        assert name in ("id", "data"), line
        assert name not in fields, f"two {name} lines in one event: {line}"
        fields[name] = value[1:] if value.startswith(" ") else value
    assert not fields, f"the stream ended inside an event: {fields}"
    return out


def slow_script(llm, n=4, delay=0.15):
    llm.script([{"tool_calls": [call("think", thought=f"step {i}")], "delay": delay}
                for i in range(n)]
               + [{"tool_calls": [call("finish", message="all done")], "delay": delay}])


def test_stream_delivers_every_event_in_order_and_ends(agent_server, llm):
    slow_script(llm)
    api = agent_server.new_account()
    cid = api.create_id("stream me")
    t0 = time.monotonic()
    with open_stream(api, cid) as r:
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/event-stream")
        got = read_sse(r)
    # The stream ended by itself, once the agent stopped.
    assert time.monotonic() - t0 < 10
    c = api.conv(cid)
    assert c["status"] == "STOPPED" and c["agent_state"] == "finished"
    evs = all_events(api, cid)
    assert [i for i, _ in got] == [e["id"] for e in evs] == list(range(len(evs)))
    assert [d for _, d in got] == evs
    assert got[-1][1]["extras"]["agent_state"] == "finished"


def test_stream_of_a_stopped_conversation_sends_everything_then_ends(agent_server, llm):
    llm.script([{"tool_calls": [call("execute_bash", command="echo hi")]},
                {"tool_calls": [call("finish", message="ok")]}])
    api = agent_server.new_account()
    cid = api.create_id("already done")
    wait_stopped(api, cid)
    evs = all_events(api, cid)
    with open_stream(api, cid, timeout=5) as r:
        got = read_sse(r)
    assert [d for _, d in got] == evs

    # Last-Event-ID: N resumes after N (the header a reconnecting EventSource sends).
    with open_stream(api, cid, headers={"Last-Event-ID": "3"}, timeout=5) as r:
        assert r.status_code == 200
        got = read_sse(r)
    assert [i for i, _ in got] == list(range(4, len(evs)))
    assert [d for _, d in got] == evs[4:]
    with open_stream(api, cid, params={"last_event_id": 1}, timeout=5) as r:
        assert [i for i, _ in read_sse(r)] == list(range(2, len(evs)))
    with open_stream(api, cid, headers={"Last-Event-ID": "-1"}, timeout=5) as r:
        assert len(read_sse(r)) == len(evs)
    with open_stream(api, cid, headers={"Last-Event-ID": str(len(evs) + 50)}, timeout=5) as r:
        assert r.status_code == 200 and read_sse(r) == []


def test_stream_resumes_mid_run(agent_server, llm):
    """A client that drops the stream after a few events and reconnects with Last-Event-ID
    gets the rest, with nothing repeated or lost."""
    slow_script(llm, n=5, delay=0.12)
    api = agent_server.new_account()
    cid = api.create_id("reconnect")
    with open_stream(api, cid) as r:
        first = read_sse(r, limit=3)
    last = first[-1][0]
    with open_stream(api, cid, headers={"Last-Event-ID": str(last)}) as r:
        rest = read_sse(r)
    evs = all_events(api, cid)
    assert [d for _, d in first + rest] == evs


@pytest.mark.parametrize("value", ["abc", "1.5", "-2", "1 2", "9" * 30, str(2 ** 63 - 1),
                                   str(-2 ** 63)])
def test_stream_bad_last_event_id_is_422(account, value):
    cid = account.create_id("queued")
    r = account.get(stream_url(cid), headers={"Last-Event-ID": value}, timeout=5)
    assert r.status_code == 422, r.text
    assert "Last-Event-ID" in r.text


@pytest.mark.parametrize("value", ["x", "-5", "9" * 30, str(2 ** 63 - 1)])
def test_stream_bad_last_event_id_query_is_422(account, value):
    cid = account.create_id("queued")
    r = account.get(stream_url(cid), params={"last_event_id": value}, timeout=5)
    assert r.status_code == 422, r.text


def test_stream_of_another_account_or_unknown_id_is_404(server, account):
    cid = account.create_id("mine")
    other = server.new_account()
    r = other.get(stream_url(cid), timeout=5)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    for bad in ("0" * 32, "nope", cid.upper()):
        assert account.get(stream_url(bad), timeout=5).status_code == 404
    assert server.api().get(stream_url(cid), timeout=5).status_code == 401
    assert account.post(stream_url(cid), timeout=5).status_code == 405


def test_stream_of_a_queued_conversation_waits_then_ends_on_stop(server, account):
    """With no runner the conversation stays STARTING: the stream sends event 0 and waits;
    a follow-up message arrives on it; stopping the conversation ends it."""
    cid = account.create_id("queued forever")
    got = []
    with open_stream(account, cid) as r:
        lines = r.iter_lines(decode_unicode=True)

        def next_event():
            fields = {}
            for line in lines:
                if line == "" and fields:
                    return int(fields["id"]), json.loads(fields["data"])
                if line and not line.startswith(":"):
                    k, _, v = line.partition(": ")
                    fields[k] = v
            return None

        got.append(next_event())
        r2 = account.post(f"/api/conversations/{cid}/message", json={"message": "more"})
        assert r2.status_code == 200
        got.append(next_event())
        t0 = time.monotonic()
        account.stop_conv(cid)
        assert next_event() is None  # the stream ended
        assert time.monotonic() - t0 < 3
    assert [e["args"]["content"] for _, e in got] == ["queued forever", "more"]


def test_stream_ends_when_the_conversation_is_deleted(server, account):
    cid = account.create_id("to delete")
    with open_stream(account, cid) as r:
        lines = r.iter_lines(decode_unicode=True)
        assert next(lines).startswith("id: 0")
        account.delete(f"/api/conversations/{cid}")
        t0 = time.monotonic()
        rest = list(lines)
        assert time.monotonic() - t0 < 3
    assert [ln for ln in rest if ln.startswith("id:")] == []


def test_idle_streams_do_not_hold_server_threads(server):
    """More open streams than the server has request threads: the API still answers."""
    acct = server.new_account()
    cids = [acct.create_id(f"idle {i}") for i in range(6)]
    streams = [open_stream(server.api(acct.key), cid) for cid in cids]
    try:
        for s in streams:
            assert s.status_code == 200
            assert next(s.iter_lines(decode_unicode=True)).startswith("id: 0")
        t0 = time.monotonic()
        for _ in range(5):
            assert acct.get("/api/conversations").status_code == 200
        assert acct.get(f"/api/conversations/{cids[0]}/events").status_code == 200
        assert time.monotonic() - t0 < 3
    finally:
        for s in streams:
            s.close()
    for cid in cids:
        acct.stop_conv(cid)


def test_many_streams_and_clients_that_go_away(agent_server, llm):
    """Several readers at once on a running conversation; some hang up after one event, one
    never reads, one sends half a request. The others get everything; the server is fine."""
    slow_script(llm, n=6, delay=0.1)
    api = agent_server.new_account()
    cid = api.create_id("popular")
    results, errors = {}, []

    def full_reader(i):
        try:
            with open_stream(agent_server.api(api.key), cid) as r:
                results[i] = read_sse(r)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    def quitter(i):
        try:
            r = open_stream(agent_server.api(api.key), cid)
            read_sse(r, limit=1)
            r.close()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    raw = []
    for half in (False, True):
        s = socket.create_connection(("127.0.0.1", agent_server.port), timeout=5)
        req = (f"GET {stream_url(cid)} HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {api.key}\r\n")
        s.sendall((req if half else req + "\r\n").encode())
        raw.append(s)
    threads = [threading.Thread(target=full_reader, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=quitter, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    for s in raw:
        s.close()
    for t in threads:
        t.join(timeout=20)
    assert not errors, errors
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "finished"
    evs = all_events(api, cid)
    assert len(results) == 4
    for got in results.values():
        assert [d for _, d in got] == evs
    assert requests.get(agent_server.base_url + "/alive", timeout=5).json() == {"status": "ok"}
    # The server still streams for new clients afterwards.
    with open_stream(api, cid, timeout=5) as r:
        assert [d for _, d in read_sse(r)] == evs


def test_sigterm_with_open_streams_exits_cleanly(fresh_server):
    """Streams waiting (suspended) on idle conversations do not keep the server from stopping,
    and leave nothing behind (conftest checks the sanitizer report on stop)."""
    acct = fresh_server.new_account()
    cid = acct.create_id("idle")
    streams = [open_stream(fresh_server.api(acct.key), cid) for _ in range(3)]
    for s in streams:
        assert next(s.iter_lines(decode_unicode=True)).startswith("id: 0")
    streams[0].close()  # one client already gone
    t0 = time.monotonic()
    rc = fresh_server.stop()
    assert rc in (0, -15, 143), rc
    assert time.monotonic() - t0 < 5
    for s in streams[1:]:
        rest = list(s.iter_lines(decode_unicode=True))  # ends: the server closed it
        assert not [ln for ln in rest if ln.startswith("id:")]
        s.close()
