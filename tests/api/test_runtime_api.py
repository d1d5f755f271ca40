"""The conversation routes that go live with the agent runtime: POST .../events (a raw user
message), GET .../trajectory, GET .../list-files and .../select-file on a workspace the agent
populated (including what a hostile agent plants there), and DELETE removing the workspace and
killing the sandbox. Each with its bad input."""

import json
import time

import pytest
import requests

from agent_helpers import (FAST_ENV, agent_args, all_events, pgrep, unique_sleep, wait_event,
                           wait_for, wait_stopped)
from llm import ScriptedLLM, call

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def llm():
    server = ScriptedLLM()
    yield server
    server.close()


@pytest.fixture(scope="module")
def agent_server(tmp_path_factory, llm):
    """One agent-running server for this module (tests use their own accounts)."""
    from conftest import Server
    srv = Server(tmp_path_factory.mktemp("runtime"), args=agent_args(llm, runners=2), env=FAST_ENV)
    srv.start()
    yield srv
    srv.stop()


# ---- POST .../events -----------------------------------------------------------------------

def test_post_message_event_resumes_a_stopped_conversation(agent_server, llm):
    llm.script([
        {"content": "Which file?"},
        {"tool_calls": [call("execute_bash", command="echo via-events > answer.txt")]},
        {"tool_calls": [call("finish", message="done")]},
    ])
    api = agent_server.new_account()
    cid = api.create_id("write a file")
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "awaiting_user_input"
    n_before = len(all_events(api, cid))

    r = api.post(f"/api/conversations/{cid}/events",
                 json={"action": "message", "args": {"content": "answer.txt please"}})
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}
    # The message is stored at once, as the user's, and the conversation is queued again.
    evs = all_events(api, cid)
    assert evs[n_before]["source"] == "user"
    assert evs[n_before]["action"] == "message"
    assert evs[n_before]["args"]["content"] == "answer.txt please"
    wait_for(lambda: api.conv(cid)["agent_state"] != "awaiting_user_input", 10,
             what="the conversation to resume")
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "finished", (c["agent_state"], c.get("error"), c.get("runtime_status"))
    ws = agent_server.data_dir / "workspaces" / cid / "answer.txt"
    assert ws.read_text() == "via-events\n"
    assert llm.requests()[1]["body"]["messages"][-1] == {"role": "user",
                                                         "content": "answer.txt please"}


@pytest.mark.parametrize("body,field", [
    ({"action": "run", "args": {"command": "rm -rf /"}}, "action"),
    ({"action": "finish", "args": {}}, "action"),
    ({"action": "change_agent_state", "args": {"agent_state": "stopped"}}, "action"),
    ({"args": {"content": "no action"}}, "action"),
    ({"action": 5, "args": {"content": "x"}}, "action"),
    ({"action": "message"}, "args"),
    ({"action": "message", "args": {}}, "args"),
    ({"action": "message", "args": {"content": ""}}, "args"),
    ({"action": "message", "args": {"content": 7}}, "args"),
    ({"action": "message", "args": "content"}, "args"),
    ({"action": "message", "args": {"content": "x" * 200001}}, "args"),
    ({"action": "message", "args": {"content": None}}, "args"),
    ({"action": "message", "args": {"content": "x", "image_urls": [1, 2]}}, "image_urls"),
    ({"action": "message", "args": {"content": "x", "image_urls": "http://a/b.png"}},
     "image_urls"),
    ({"action": "message", "args": {"content": "x", "image_urls": ["u"] * 21}}, "image_urls"),
    ({"action": "message", "args": {"content": "x", "file_urls": {"a": 1}}}, "file_urls"),
    ({"action": "message", "args": {"content": "x", "wait_for_response": "yes"}},
     "wait_for_response"),
])
def test_post_event_other_than_a_message_is_422(account, body, field):
    cid = account.create_id("queued")
    r = account.post(f"/api/conversations/{cid}/events", json=body)
    assert r.status_code == 422, r.text
    assert field in json.dumps(r.json()["detail"]), r.text
    evs = account.get(f"/api/conversations/{cid}/events").json()["events"]
    assert len(evs) == 1  # nothing stored


def test_post_event_bad_bodies_and_ids(server, account):
    cid = account.create_id("queued")
    url = f"/api/conversations/{cid}/events"
    assert account.post(url, data=b"{", headers=JSON).status_code == 400
    assert account.post(url, data=b'{"action": "message",}', headers=JSON).status_code == 400
    assert account.post(url, data=b"[]", headers=JSON).status_code == 422
    msg = {"action": "message", "args": {"content": "hi"}}
    for bad in ("0" * 32, "not-an-id", cid.upper()):
        r = account.post(f"/api/conversations/{bad}/events", json=msg)
        assert r.status_code == 404, (bad, r.text)
    other = server.new_account()
    assert other.post(url, json=msg).status_code == 404
    assert server.api().post(url, json=msg).status_code == 401
    assert len(account.get(url).json()["events"]) == 1
    # A message to a conversation that is still queued is stored and keeps it queued.
    r = account.post(url, json=msg)
    assert r.status_code == 200 and r.json() == {"success": True}
    evs = account.get(url).json()["events"]
    assert [e["args"]["content"] for e in evs] == ["queued", "hi"]
    assert account.conv(cid)["status"] == "STARTING"


def test_post_event_keeps_image_urls_and_ignores_other_openhands_fields(account):
    cid = account.create_id("queued")
    body = {"action": "message", "source": "user", "timestamp": "2025-01-01T00:00:00",
            "args": {"content": "look", "image_urls": ["https://example.com/a.png"],
                     "file_urls": [], "wait_for_response": False}}
    r = account.post(f"/api/conversations/{cid}/events", json=body)
    assert r.status_code == 200, r.text
    r = account.post(f"/api/conversations/{cid}/events",
                     json={"action": "message", "args": {"content": "no images",
                                                        "image_urls": None}})
    assert r.status_code == 200, r.text
    evs = account.get(f"/api/conversations/{cid}/events").json()["events"]
    assert evs[1]["args"]["image_urls"] == ["https://example.com/a.png"]
    assert evs[1]["source"] == "user" and evs[1]["id"] == 1
    assert evs[1]["timestamp"] != "2025-01-01T00:00:00"  # the server stamps its own events
    assert evs[2]["args"]["image_urls"] == []


@pytest.mark.parametrize("body,status", [
    ({"message": ""}, 422), ({"message": 5}, 422), ({}, 422), ({"message": None}, 422),
    ({"message": "x", "extra": 1}, 422), ({"message": "x", "image_urls": [3]}, 422),
    ({"message": "x" * 200001}, 422),
])
def test_post_message_bad_input(account, body, status):
    cid = account.create_id("queued")
    r = account.post(f"/api/conversations/{cid}/message", json=body)
    assert r.status_code == status, r.text
    assert len(account.get(f"/api/conversations/{cid}/events").json()["events"]) == 1


def test_post_message_bad_json_and_ids(server, account):
    cid = account.create_id("queued")
    url = f"/api/conversations/{cid}/message"
    assert account.post(url, data=b'{"message": ', headers=JSON).status_code == 400
    for bad in ("0" * 32, "zz"):
        assert account.post(f"/api/conversations/{bad}/message",
                            json={"message": "x"}).status_code == 404
    assert server.new_account().post(url, json={"message": "x"}).status_code == 404
    assert len(account.get(f"/api/conversations/{cid}/events").json()["events"]) == 1


def test_options_models(server, server_factory):
    acct = server.new_account()
    assert acct.get("/api/options/models").json() == []  # nothing configured
    assert acct.post("/api/settings", json={"llm_model": "acct/model"}).status_code == 200
    assert acct.get("/api/options/models").json() == ["acct/model"]
    srv = server_factory(args=["--llm-model", "server/model"])
    a = srv.new_account()
    assert a.get("/api/options/models").json() == ["server/model"]
    a.post("/api/settings", json={"llm_model": "server/model"})
    assert a.get("/api/options/models").json() == ["server/model"]
    a.post("/api/settings", json={"llm_model": "mine"})
    assert a.get("/api/options/models").json() == ["server/model", "mine"]
    assert srv.api().get("/api/options/models").status_code == 401


def test_post_event_to_a_stopped_conversation_respects_the_limit(server):
    acct = server.new_account(max_concurrent=1)
    first = acct.create_id("one")
    acct.stop_conv(first)
    acct.create_id("two")  # holds the only slot
    r = acct.post(f"/api/conversations/{first}/events",
                  json={"action": "message", "args": {"content": "again"}})
    assert r.status_code == 429, r.text
    assert r.json()["detail"]["error"] == "CONCURRENCY_LIMIT_REACHED"
    assert acct.conv(first)["status"] == "STOPPED"
    assert len(acct.get(f"/api/conversations/{first}/events").json()["events"]) == 1


# ---- GET .../trajectory --------------------------------------------------------------------

def test_trajectory_is_every_event(agent_server, llm):
    llm.script([{"tool_calls": [call("think", thought=f"thought {i}")]} for i in range(12)]
               + [{"tool_calls": [call("finish", message="done thinking")]}])
    api = agent_server.new_account()
    cid = api.create_id("think a lot")
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "finished", (c["agent_state"], c.get("error"), c.get("runtime_status"))
    r = api.get(f"/api/conversations/{cid}/trajectory")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    traj = r.json()
    assert list(traj) == ["trajectory"]
    evs = all_events(api, cid)
    assert len(evs) > 20  # more than one default page of /events
    assert traj["trajectory"] == evs
    assert [e["id"] for e in traj["trajectory"]] == list(range(len(evs)))


def test_trajectory_of_a_queued_conversation_and_bad_ids(server, account):
    cid = account.create_id("just queued")
    traj = account.get(f"/api/conversations/{cid}/trajectory").json()["trajectory"]
    assert [e["args"]["content"] for e in traj] == ["just queued"]
    for bad in ("0" * 32, "xyz", cid[:-1]):
        assert account.get(f"/api/conversations/{bad}/trajectory").status_code == 404
    assert server.new_account().get(f"/api/conversations/{cid}/trajectory").status_code == 404
    assert account.post(f"/api/conversations/{cid}/trajectory").status_code == 405


# ---- list-files / select-file --------------------------------------------------------------

@pytest.fixture(scope="module")
def populated(agent_server, llm):
    """A finished conversation whose agent wrote files, a subdirectory, a binary file, a FIFO
    and symlinks that point out of the workspace (to /etc/passwd, the server's data dir and
    database). Returns (api, cid)."""
    data = agent_server.data_dir
    script = " && ".join([
        "echo 'print(1)' > main.py",
        "mkdir -p sub/deep .git",
        "echo nested > sub/n.txt",
        "echo deeper > sub/deep/d.txt",
        "echo git > .git/config",
        "printf 'PK\\003\\004\\000\\001binary' > blob.bin",
        "printf 'caf\\303\\251 \\342\\234\\223\\n' > utf8.txt",
        "ln -s /etc/passwd leak",
        "ln -s /etc etcdir",
        "ln -s ../.. datadir",
        "ln -s ../../cloudhands.db dblink",
        f"ln -s {data}/cloudhands.db absdb",
        f"ln -s {data}/secret.key keylink",
        "ln -s main.py alias.py",
        "mkfifo pipe",
        "echo ok",
    ])
    llm.script([{"tool_calls": [call("execute_bash", command=script)]},
                {"tool_calls": [call("finish", message="populated")]}])
    api = agent_server.new_account()
    cid = api.create_id("populate the workspace")
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "finished", (c["agent_state"], c.get("error"), c.get("runtime_status"))
    run = [e for e in all_events(api, cid) if e.get("observation") == "run"][0]
    assert run["extras"]["metadata"]["exit_code"] == 0, run["content"]
    return api, cid


def list_files(api, cid, path=None):
    params = {} if path is None else {"path": path}
    return api.get(f"/api/conversations/{cid}/list-files", params=params, timeout=5)


def select_file(api, cid, file):
    return api.get(f"/api/conversations/{cid}/select-file", params={"file": file}, timeout=5)


def test_list_files(populated):
    api, cid = populated
    r = list_files(api, cid)
    assert r.status_code == 200, r.text
    assert r.json() == ["absdb", "alias.py", "blob.bin", "datadir", "dblink", "etcdir",
                        "keylink", "leak", "main.py", "pipe", "sub/", "utf8.txt"]
    assert list_files(api, cid, "").json() == r.json()
    assert list_files(api, cid, "/workspace").json() == r.json()
    assert list_files(api, cid, "sub").json() == ["sub/deep/", "sub/n.txt"]
    assert list_files(api, cid, "sub/").json() == ["sub/deep/", "sub/n.txt"]
    assert list_files(api, cid, "/workspace/sub/deep").json() == ["sub/deep/d.txt"]


@pytest.mark.parametrize("path", ["missing", "main.py", "pipe", "etcdir", "datadir", "..", "../..",
                                  "sub/../..", "/etc", "/workspace/../..", "sub/deep/../../.."])
def test_list_files_never_leaves_the_workspace(populated, path):
    api, cid = populated
    r = list_files(api, cid, path)
    assert r.status_code == 404, (path, r.status_code, r.text)
    assert "root:" not in r.text and "cloudhands.db" not in r.text


def test_select_file(populated):
    api, cid = populated
    r = select_file(api, cid, "main.py")
    assert r.status_code == 200, r.text
    assert r.json() == {"code": "print(1)\n"}
    assert select_file(api, cid, "/workspace/main.py").json() == {"code": "print(1)\n"}
    assert select_file(api, cid, "sub/deep/d.txt").json() == {"code": "deeper\n"}
    assert select_file(api, cid, "utf8.txt").json() == {"code": "café ✓\n"}


def test_select_binary_file_is_415(populated):
    api, cid = populated
    r = select_file(api, cid, "blob.bin")
    assert r.status_code == 415, r.text
    assert "detail" in r.json()


@pytest.mark.parametrize("file", ["leak", "etcdir/passwd", "datadir/cloudhands.db", "dblink",
                                  "absdb", "keylink", "datadir/secret.key", "../../cloudhands.db",
                                  "../../secret.key", "/etc/passwd", "sub/../../../cloudhands.db",
                                  "/workspace/../../secret.key"])
def test_select_file_never_follows_links_out(populated, file):
    api, cid = populated
    r = select_file(api, cid, file)
    assert r.status_code == 404, (file, r.status_code, r.text)
    assert "root:" not in r.text and "SQLite" not in r.text and "code" not in r.json()


def test_select_file_on_a_fifo_does_not_hang(agent_server, populated):
    """A FIFO the agent planted must not block a server thread waiting for a writer."""
    api, cid = populated
    for _ in range(4):  # more than the server's request threads
        r = select_file(api, cid, "pipe")
        assert r.status_code == 404, r.text
    assert requests.get(agent_server.base_url + "/alive", timeout=5).status_code == 200


def test_select_file_errors(server, populated):
    api, cid = populated
    assert select_file(api, cid, "missing.txt").status_code == 404
    assert select_file(api, cid, "sub").status_code == 404  # a directory
    r = api.get(f"/api/conversations/{cid}/select-file", timeout=5)
    assert r.status_code == 422 and "file" in r.text
    assert select_file(api, cid, "").status_code == 422
    assert select_file(api, cid, "/workspace").status_code == 422


def test_files_of_another_account_or_unknown_id_are_404(agent_server, populated):
    api, cid = populated
    other = agent_server.new_account()
    assert list_files(other, cid).status_code == 404
    assert select_file(other, cid, "main.py").status_code == 404
    for bad in ("0" * 32, "nope", cid.upper()):
        assert list_files(api, bad).status_code == 404
        assert select_file(api, bad, "main.py").status_code == 404
    assert agent_server.api().get(f"/api/conversations/{cid}/list-files").status_code == 401


def test_list_files_before_the_workspace_exists(account):
    cid = account.create_id("queued, no workspace yet")
    r = list_files(account, cid)
    assert r.status_code == 200 and r.json() == []
    assert select_file(account, cid, "x.txt").status_code == 404


# ---- DELETE --------------------------------------------------------------------------------

def test_delete_removes_the_workspace_and_kills_the_sandbox(agent_server, llm):
    marker = unique_sleep(47)
    llm.script([{"tool_calls": [call("execute_bash", command=f"echo x > f.txt; {marker}",
                                     timeout=100)]}])
    api = agent_server.new_account()
    cid = api.create_id("long job")
    ws = agent_server.data_dir / "workspaces" / cid
    wait_event(api, cid, lambda e: e.get("action") == "run", what="the run action")
    wait_for(lambda: pgrep(marker), 10, what="the command to start")
    assert (ws / "f.txt").exists()

    r = api.delete(f"/api/conversations/{cid}")
    assert r.status_code == 200 and r.json() is True
    assert not ws.exists()
    wait_for(lambda: not pgrep(marker), 3, what="the sandbox to die")
    assert api.get(f"/api/conversations/{cid}").json() is None
    assert api.get(f"/api/conversations/{cid}/events").status_code == 404
    assert api.delete(f"/api/conversations/{cid}").json() is False
    # The runner let go: the account's slot is free and the server keeps working.
    time.sleep(0.3)
    assert not ws.exists()
    assert api.count() == 0
    assert requests.get(agent_server.base_url + "/alive", timeout=5).status_code == 200


def test_delete_of_a_stopped_conversation_removes_its_workspace(agent_server, llm):
    llm.script([{"tool_calls": [call("execute_bash", command="mkdir -p a/b && chmod 0500 a")]},
                {"tool_calls": [call("finish", message="ok")]}])
    api = agent_server.new_account()
    cid = api.create_id("make a read-only dir")
    assert wait_stopped(api, cid)["agent_state"] == "finished"
    ws = agent_server.data_dir / "workspaces" / cid
    assert (ws / "a" / "b").is_dir()
    other = agent_server.new_account()
    assert other.delete(f"/api/conversations/{cid}").json() is False
    assert ws.exists()
    assert api.delete(f"/api/conversations/{cid}").json() is True
    assert not ws.exists()
