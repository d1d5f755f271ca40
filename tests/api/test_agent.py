"""The agent runtime end to end: a real runner, the real LLM client against the scripted LLM
server, tools run in a real bubblewrap sandbox, events in OpenHands' shape."""

import random
import subprocess
import time

import pytest

from llm import ScriptedLLM, call

LLM_KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def llm():
    server = ScriptedLLM(require_key=LLM_KEY)
    yield server
    server.close()


@pytest.fixture
def agent_server(server_factory, llm):
    args = ["--runners", "2", "--llm-model", "gpt-4o", "--llm-base-url", llm.base_url,
            "--no-change-timeout", "2"]
    srv = server_factory(args=args, env={"CLOUDHANDS_LLM_API_KEY": LLM_KEY,
                                         "CLOUDHANDS_LLM_RETRY_MS": "20"})
    return srv


def wait_stopped(api, cid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = api.conv(cid)
        if c["status"] == "STOPPED":
            return c
        time.sleep(0.1)
    raise AssertionError(f"conversation still {c['status']}/{c['agent_state']} after {timeout}s")


def events(api, cid):
    out, start = [], 0
    while True:
        page = api.get(f"/api/conversations/{cid}/events", params={"start_id": start,
                                                                   "limit": 100}).json()
        out += page["events"]
        if not page["has_more"]:
            return out
        start = out[-1]["id"] + 1


def test_agent_edits_runs_and_finishes(agent_server, llm):
    llm.script([
        {"content": "I will create the file.", "tool_calls": [
            call("str_replace_editor", command="create", path="/workspace/hello.py",
                 file_text="print('hello')\n")]},
        {"tool_calls": [call("execute_bash", command="python3 hello.py")]},
        {"tool_calls": [call("str_replace_editor", command="str_replace",
                             path="/workspace/hello.py", old_str="hello", new_str="world")]},
        {"tool_calls": [call("str_replace_editor", command="view", path="/workspace/hello.py")]},
        {"tool_calls": [call("finish", message="Created hello.py and changed it to say world.")],
         "usage": {"prompt_tokens": 1000, "completion_tokens": 50}},
    ])
    api = agent_server.new_account()
    cid = api.create_id("Write hello.py")
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "finished", (c["error"], agent_server.stderr())
    assert c["error"] is None
    assert c["metrics"]["llm_calls"] == 5
    assert c["metrics"]["prompt_tokens"] == 4 * 100 + 1000
    assert c["metrics"]["completion_tokens"] == 4 * 20 + 50

    evs = events(api, cid)
    assert [e["id"] for e in evs] == list(range(len(evs)))
    kinds = [(e.get("action") or e.get("observation")) for e in evs]
    assert kinds == ["message", "agent_state_changed", "edit", "edit", "run", "run", "edit",
                     "edit", "read", "read", "finish", "agent_state_changed"], kinds
    create_obs, run_obs, replace_obs, view_obs = evs[3], evs[5], evs[7], evs[9]
    assert create_obs["content"] == "File created successfully at: /workspace/hello.py"
    assert create_obs["cause"] == evs[2]["id"]
    assert run_obs["extras"]["metadata"]["exit_code"] == 0
    assert run_obs["extras"]["metadata"]["working_dir"] == "/workspace"
    assert "hello" in run_obs["content"]
    assert "-print('hello')" in replace_obs["extras"]["diff"]
    assert "+print('world')" in replace_obs["extras"]["diff"]
    assert view_obs["content"] == ("Here's the result of running `cat -n` on /workspace/hello.py:"
                                   "\n     1\tprint('world')\n     2\t\n")
    assert evs[2]["tool_call_metadata"]["function_name"] == "str_replace_editor"
    assert evs[10]["args"]["final_thought"] == "Created hello.py and changed it to say world."
    assert evs[11]["extras"]["agent_state"] == "finished"

    ws = agent_server.data_dir / "workspaces" / cid / "hello.py"
    assert ws.read_text() == "print('world')\n"

    reqs = llm.requests()
    assert len(reqs) == 5
    assert reqs[0]["headers"]["authorization"] == f"Bearer {LLM_KEY}"
    body = reqs[0]["body"]
    assert body["model"] == "gpt-4o"
    assert [t["function"]["name"] for t in body["tools"]] == [
        "execute_bash", "str_replace_editor", "think", "finish"]
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][1] == {"role": "user", "content": "Write hello.py"}
    second = reqs[1]["body"]["messages"]
    assert second[-1]["role"] == "tool"
    assert second[-1]["content"] == "File created successfully at: /workspace/hello.py"
    # The API key reaches the model provider and nowhere else.
    assert LLM_KEY not in agent_server.stderr()
    assert LLM_KEY not in str(evs)


def test_plain_answer_waits_for_user_then_follow_up_resumes(agent_server, llm):
    llm.script([
        {"content": "Which file do you mean?"},
        {"tool_calls": [call("execute_bash", command="echo resumed > note.txt")]},
        {"tool_calls": [call("finish", message="Wrote note.txt")]},
    ])
    api = agent_server.new_account()
    cid = api.create_id("Fix the file")
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "awaiting_user_input"
    r = api.post(f"/api/conversations/{cid}/message", json={"message": "note.txt please"})
    assert r.status_code == 200 and r.json() == {"success": True}
    time.sleep(0.2)
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "finished"
    assert (agent_server.data_dir / "workspaces" / cid / "note.txt").read_text() == "resumed\n"
    # The follow-up saw the whole history: the first answer and the new message.
    msgs = llm.requests()[1]["body"]["messages"]
    assert msgs[1:] == [{"role": "user", "content": "Fix the file"},
                        {"role": "assistant", "content": "Which file do you mean?"},
                        {"role": "user", "content": "note.txt please"}]


def test_llm_authentication_error(server_factory, llm):
    srv = server_factory(args=["--runners", "1", "--llm-model", "gpt-4o", "--llm-base-url",
                               llm.base_url],
                         env={"CLOUDHANDS_LLM_API_KEY": "sk-wrong-key-999999"})
    llm.script([{"content": "never served"}])
    api = srv.new_account()
    cid = api.create_id("anything")
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "error"
    assert c["runtime_status"] == "STATUS$ERROR_LLM_AUTHENTICATION"
    assert "401" in c["error"]
    assert "sk-wrong-key-999999" not in str(c) and "sk-wrong-key-999999" not in srv.stderr()


def test_llm_unavailable_after_retries(agent_server, llm):
    llm.script([{"status": 503}] * 10)
    api = agent_server.new_account()
    cid = api.create_id("anything")
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "error"
    assert c["runtime_status"] == "STATUS$ERROR_LLM_SERVICE_UNAVAILABLE"


def test_bad_tool_calls_become_observations(agent_server, llm):
    llm.script([
        {"tool_calls": [{"name": "execute_bash", "arguments": "{not json"}]},
        {"tool_calls": [call("launch_rocket", target="moon")]},
        {"status": 200, "body": {"nonsense": True}},
        {"tool_calls": [call("finish", message="ok")]},
    ])
    api = agent_server.new_account()
    cid = api.create_id("try things")
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "finished", (c["error"], agent_server.stderr())
    errors = [e["content"] for e in events(api, cid) if e.get("observation") == "error"]
    assert errors[0] == "Failed to parse tool call arguments: {not json"
    assert errors[1].startswith("Tool launch_rocket is not registered.")
    assert "not a chat completion" in errors[2]
    # The model saw each error and carried on.
    assert llm.requests()[1]["body"]["messages"][-1]["content"] == errors[0]


def test_stop_kills_a_running_command(agent_server, llm):
    # A duration no other process on this machine uses, so pgrep finds only ours.
    marker = f"sleep 60.{random.randint(100000, 999999)}"
    llm.script([{"tool_calls": [call("execute_bash", command=marker, timeout=100)]}])
    api = agent_server.new_account()
    cid = api.create_id("wait a minute")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(e.get("action") == "run" for e in events(api, cid)):
            break
        time.sleep(0.1)
    time.sleep(0.5)
    t0 = time.monotonic()
    r = api.post(f"/api/conversations/{cid}/stop")
    assert r.status_code == 200
    c = api.conv(cid)
    assert c["status"] == "STOPPED"
    time.sleep(1.0)
    # Within a second the sandbox is gone: no such sleep left anywhere.
    ps = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert ps.stdout.strip() == "", f"sandbox still running after {time.monotonic() - t0:.1f}s"
