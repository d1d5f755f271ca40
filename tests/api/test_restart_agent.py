"""Restart safety of the agent runtime: after `kill -9` or SIGTERM of the server mid-run, the
conversation is resumed from its stored events (the LLM sees the same history) and reaches a
defined end; nothing acknowledged before the crash is lost; none stays RUNNING forever. And
`--runners 0`: conversations wait queued, count toward the limit, and a server with runners
picks them up."""

import time

import pytest

from agent_helpers import (FAST_ENV, agent_args, all_events, kinds, pgrep, unique_sleep,
                           wait_event, wait_for, wait_stopped)
from llm import ScriptedLLM, call


@pytest.fixture
def llm():
    server = ScriptedLLM()
    yield server
    server.close()


def user_and_tool_messages(request):
    return [(m["role"], m.get("tool_call_id"), m.get("content"))
            for m in request["body"]["messages"][1:]]


def test_kill_9_mid_command_resumes_and_finishes(server_factory, llm):
    marker = unique_sleep(29)
    srv = server_factory(args=agent_args(llm, extra=["--lease-seconds", "2"]), env=FAST_ENV)
    llm.script([
        {"tool_calls": [call("execute_bash", command="echo one > one.txt")]},
        {"tool_calls": [call("execute_bash", command=marker, timeout=100)]},
        {"tool_calls": [call("finish", message="finished after the crash")]},
    ])
    api = srv.new_account()
    cid = api.create_id("survive a crash")
    wait_event(api, cid, lambda e: e.get("action") == "run" and e["args"]["command"] == marker,
               what="the long command")
    wait_for(lambda: pgrep(marker), 10, what="the command to start")
    before = all_events(api, cid)
    assert api.conv(cid)["status"] == "RUNNING"

    srv.kill()  # kill -9: no chance to hand anything back
    # The sandbox does not outlive the server.
    wait_for(lambda: not pgrep(marker), 5, what="the sandbox to die with the server")

    t0 = time.monotonic()
    srv.start()
    c = wait_stopped(api, cid, timeout=20)
    assert c["agent_state"] == "finished", (c, srv.stderr())
    assert c["error"] is None
    assert time.monotonic() - t0 < 12  # lease 2 s, then the next claim

    after = all_events(api, cid)
    assert after[:len(before)] == before  # every acknowledged event, same ids and content
    assert [e["id"] for e in after] == list(range(len(after)))
    new = kinds(after[len(before):])
    assert new[0] == "agent_state_changed" and after[len(before)]["extras"]["agent_state"] == \
        "running"
    assert new[-2:] == ["finish", "agent_state_changed"]
    assert (srv.data_dir / "workspaces" / cid / "one.txt").read_text() == "one\n"

    # The model saw the same history after the restart, the interrupted call answered.
    reqs = llm.requests()
    assert len(reqs) == 3
    resumed = user_and_tool_messages(reqs[2])
    assert resumed[0] == ("user", None, "survive a crash")
    assert [m[:2] for m in resumed[1:]] == [("assistant", None), ("tool", "call_1"),
                                            ("assistant", None), ("tool", "call_2")]
    assert "server stopped" in resumed[4][2]  # the interrupted call is answered
    assert reqs[2]["body"]["messages"][:4] == reqs[1]["body"]["messages"][:4]


def test_kill_9_while_waiting_for_the_llm(server_factory, llm):
    srv = server_factory(args=agent_args(llm, extra=["--lease-seconds", "2"]), env=FAST_ENV)
    llm.script([
        {"tool_calls": [call("think", thought="first")]},
        {"tool_calls": [call("think", thought="never seen")], "delay": 4},
        {"tool_calls": [call("finish", message="done")]},
    ])
    api = srv.new_account()
    cid = api.create_id("slow model")
    wait_for(lambda: len(llm.requests()) == 2, 10, what="the second model call")
    before = all_events(api, cid)
    srv.kill()
    srv.start()
    c = wait_stopped(api, cid, timeout=20)
    assert c["agent_state"] == "finished", (c, srv.stderr())
    after = all_events(api, cid)
    assert after[:len(before)] == before
    assert "never seen" not in str(after)
    assert c["metrics"]["llm_calls"] >= 2


@pytest.mark.parametrize("phase", ["llm", "command"])
def test_sigterm_mid_run_hands_back_and_resumes(server_factory, llm, phase):
    """A graceful stop hands the conversation back at once: a restart resumes it without
    waiting for the (here long) lease to run out."""
    marker = unique_sleep(28)
    srv = server_factory(args=agent_args(llm, extra=["--lease-seconds", "60"]), env=FAST_ENV)
    slow = ({"tool_calls": [call("think", thought="slow")], "delay": 5} if phase == "llm" else
            {"tool_calls": [call("execute_bash", command=marker, timeout=100)]})
    llm.script([{"tool_calls": [call("execute_bash", command="echo a > a.txt")]}, slow,
                {"tool_calls": [call("finish", message="resumed")]}])
    api = srv.new_account()
    cid = api.create_id("graceful")
    if phase == "llm":
        wait_for(lambda: len(llm.requests()) == 2, 10, what="the second model call")
    else:
        wait_for(lambda: pgrep(marker), 10, what="the command to start")
    before = all_events(api, cid)

    t0 = time.monotonic()
    rc = srv.stop()
    assert rc in (0, -15, 143), rc
    assert time.monotonic() - t0 < 5, "SIGTERM took too long with a run in progress"
    assert not pgrep(marker)

    t0 = time.monotonic()
    srv.start()
    c = wait_stopped(api, cid, timeout=15)
    assert c["agent_state"] == "finished", (c, srv.stderr())
    assert time.monotonic() - t0 < 8  # not the 60 s lease
    after = all_events(api, cid)
    assert after[:len(before)] == before
    assert [e["id"] for e in after] == list(range(len(after)))
    assert (srv.data_dir / "workspaces" / cid / "a.txt").read_text() == "a\n"


def test_runners_0_queues_then_a_server_with_runners_picks_up(server_factory, llm):
    queue_only = server_factory(name="api", args=["--runners", "0"])
    api = queue_only.new_account(max_concurrent=2)
    cids = [api.create_id("queued one"), api.create_id("queued two")]
    r = api.create("over the limit", expect=429)
    assert r.json()["detail"]["current"] == 2
    time.sleep(1.2)  # more than a runner's idle poll: nobody takes them
    for cid in cids:
        c = api.conv(cid)
        assert (c["status"], c["agent_state"]) == ("STARTING", "loading"), c
    assert llm.requests() == []

    # A second process with runners on the same database takes the queue; the first keeps
    # serving the API and sees the results.
    llm.script([{"tool_calls": [call("finish", message="first")]},
                {"tool_calls": [call("finish", message="second")]}])
    worker = server_factory(name="worker", data_dir=queue_only.data_dir,
                            args=agent_args(llm, runners=1), env=FAST_ENV)
    for cid in cids:
        c = wait_stopped(api, cid, timeout=15)
        assert c["agent_state"] == "finished", (c, worker.stderr())
    assert len(llm.requests()) == 2
    assert sorted(q["body"]["messages"][1]["content"] for q in llm.requests()) == \
        ["queued one", "queued two"]
    # The slots are free again.
    api.create("now there is room", expect=200)
    assert worker.api(api.key).conv(cids[0])["agent_state"] == "finished"
