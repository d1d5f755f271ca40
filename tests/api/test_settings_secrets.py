"""GET/POST /api/settings and /api/secrets: shapes, validation, per-account isolation, the
account's LLM settings over the server's flags, credentials that never come back out and are
encrypted at rest, and secrets as environment variables in the agent's sandbox."""

import hashlib
import json

import pytest

from agent_helpers import (FAST_ENV, agent_args, all_events, db_dump, db_query, db_raw, kinds,
                           wait_stopped)
from llm import ScriptedLLM, call

JSON = {"Content-Type": "application/json"}
DEFAULTS = {
    "llm_model": None,
    "llm_base_url": None,
    "llm_api_key": None,
    "llm_api_key_set": False,
    "max_iterations": 100,
    "git_user_name": "openhands",
    "git_user_email": "openhands@all-hands.dev",
    "provider_tokens_set": {},
}


@pytest.fixture
def llm():
    server = ScriptedLLM()
    yield server
    server.close()


def settings(api):
    r = api.get("/api/settings")
    assert r.status_code == 200, r.text
    return r.json()


def post_settings(api, body, expect=200):
    r = api.post("/api/settings", json=body)
    assert r.status_code == expect, f"POST /api/settings {body}: {r.status_code} {r.text}"
    return r


# ---- settings ------------------------------------------------------------------------------

def test_settings_defaults(account):
    assert settings(account) == DEFAULTS


def test_settings_round_trip_and_key_is_write_only(account):
    body = {"llm_model": "openai/gpt-4o-mini", "llm_base_url": "https://llm.example.com/v1",
            "llm_api_key": "sk-round-trip-secret-4242", "max_iterations": 7,
            "git_user_name": "Ada Lovelace", "git_user_email": "ada@example.com"}
    r = post_settings(account, body)
    assert r.json() == {"message": "Settings stored"}
    got = settings(account)
    assert got == {**DEFAULTS, **body, "llm_api_key": None, "llm_api_key_set": True}
    assert "sk-round-trip-secret-4242" not in json.dumps(got)

    # A partial update changes only what it names.
    post_settings(account, {"max_iterations": 9})
    assert settings(account) == {**got, "max_iterations": 9}
    # An empty string goes back to the server's default; an empty key removes the key.
    post_settings(account, {"llm_base_url": "", "llm_api_key": ""})
    after = settings(account)
    assert after["llm_base_url"] is None
    assert after["llm_api_key_set"] is False and after["llm_api_key"] is None
    assert after["llm_model"] == "openai/gpt-4o-mini"
    post_settings(account, {"llm_api_key": None, "llm_model": None})
    assert settings(account)["llm_model"] is None


def test_settings_are_per_account(server, account):
    other = server.new_account()
    post_settings(account, {"llm_model": "mine", "llm_api_key": "sk-only-mine-1111",
                            "max_iterations": 3, "git_user_name": "Me"})
    assert settings(other) == DEFAULTS
    post_settings(other, {"llm_model": "theirs"})
    assert settings(account)["llm_model"] == "mine"
    assert settings(account)["llm_api_key_set"] is True
    assert settings(other)["llm_api_key_set"] is False


@pytest.mark.parametrize("body,field", [
    ({"llm_modle": "typo"}, "llm_modle"),
    ({"llm_model": 5}, "llm_model"),
    ({"llm_model": ["a"]}, "llm_model"),
    ({"llm_api_key": 12345}, "llm_api_key"),
    ({"llm_base_url": {"url": "http://x"}}, "llm_base_url"),
    ({"llm_base_url": "ftp://llm.example.com"}, "llm_base_url"),
    ({"llm_base_url": "file:///etc/passwd"}, "llm_base_url"),
    ({"llm_base_url": "llm.example.com:8000/v1"}, "llm_base_url"),
    ({"max_iterations": "10"}, "max_iterations"),
    ({"max_iterations": 1.5}, "max_iterations"),
    ({"max_iterations": True}, "max_iterations"),
    ({"max_iterations": 0}, "max_iterations"),
    ({"max_iterations": -1}, "max_iterations"),
    ({"max_iterations": 100001}, "max_iterations"),
    ({"max_iterations": 2 ** 62}, "max_iterations"),
    ({"git_user_name": 1}, "git_user_name"),
    ({"git_user_email": False}, "git_user_email"),
    ({"llm_model": "m" * 201}, "llm_model"),
])
def test_settings_validation_is_422_and_stores_nothing(account, body, field):
    post_settings(account, {"llm_model": "kept", "max_iterations": 5})
    before = settings(account)
    r = account.post("/api/settings", json=body)
    assert r.status_code == 422, r.text
    assert field in json.dumps(r.json()["detail"]), r.text
    assert settings(account) == before


def test_settings_valid_max_iterations_bounds(account):
    post_settings(account, {"max_iterations": 1})
    assert settings(account)["max_iterations"] == 1
    post_settings(account, {"max_iterations": 100000})
    assert settings(account)["max_iterations"] == 100000


@pytest.mark.parametrize("raw,status", [(b"{", 400), (b'{"llm_model": "x",}', 400),
                                        (b"\xff\xfe", 400), (b"[]", 422), (b'"x"', 422),
                                        (b"null", 422)])
def test_settings_bad_bodies(account, raw, status):
    r = account.post("/api/settings", data=raw, headers=JSON)
    assert r.status_code == status, r.text
    assert "detail" in r.json()
    assert settings(account) == DEFAULTS


def test_settings_need_authentication(server):
    anon = server.api()
    assert anon.get("/api/settings").status_code == 401
    assert anon.post("/api/settings", json={"llm_model": "x"}).status_code == 401
    assert server.api("oh_" + "0" * 64).get("/api/secrets").status_code == 401


def test_account_settings_drive_the_agent_without_server_flags(server_factory):
    """A server started without --llm-*: the account's settings are what the runner uses, and
    the key set there is the one the model provider receives — and it goes nowhere else."""
    key = "sk-account-key-7f3e9a1c5b"
    llm = ScriptedLLM(require_key=key)
    try:
        srv = server_factory(args=agent_args(None), env=FAST_ENV)
        api = srv.new_account()
        # Nothing configured anywhere: the conversation ends with a reason, not a hang.
        cid0 = api.create_id("no model yet")
        c = wait_stopped(api, cid0)
        assert c["agent_state"] == "error"
        assert "llm_model" in c["error"] and "/api/settings" in c["error"]

        post_settings(api, {"llm_model": "my-model", "llm_base_url": llm.base_url,
                            "llm_api_key": key})
        llm.script([{"tool_calls": [call("execute_bash", command="echo from-settings")]},
                    {"tool_calls": [call("finish", message="done")]}])
        cid = api.create_id("use my model")
        c = wait_stopped(api, cid)
        assert c["agent_state"] == "finished", c
        reqs = llm.requests()
        assert len(reqs) == 2 and all(q["rejected"] is None for q in reqs), reqs
        assert reqs[0]["headers"]["authorization"] == f"Bearer {key}"
        assert reqs[0]["body"]["model"] == "my-model"

        # The key never comes back: not in settings, events, trajectory, errors, logs, DB.
        seen = [api.get("/api/settings").text,
                api.get(f"/api/conversations/{cid}").text,
                api.get(f"/api/conversations/{cid}/trajectory").text,
                json.dumps(all_events(api, cid)),
                api.post("/api/settings", json={"llm_api_key": 5}).text,
                api.post("/api/settings", json={"llm_api_key": key, "bogus": 1}).text,
                api.post("/api/settings", json={"llm_api_key": key,
                                                "llm_base_url": "ftp://x"}).text,
                api.get("/api/conversations").text]
        for text in seen:
            assert key not in text
        assert key not in srv.stderr() and key not in srv.stdout()
        tables, dump = db_dump(srv.data_dir)
        assert "settings" in tables
        assert key not in dump
        assert key.encode() not in db_raw(srv.data_dir)
        ((body,),) = db_query(srv.data_dir, "SELECT body FROM settings")
        stored = json.loads(body)
        assert stored["llm_model"] == "my-model"
        assert "llm_api_key" not in stored
        assert stored["llm_api_key_sealed"] and key not in stored["llm_api_key_sealed"]
    finally:
        llm.close()


def test_account_settings_override_server_flags(server_factory, llm):
    """The account's model, URL and key win over --llm-model/--llm-base-url/--llm-api-key."""
    decoy = ScriptedLLM()
    try:
        srv = server_factory(args=agent_args(decoy, model="server-model"),
                             env={**FAST_ENV, "CLOUDHANDS_LLM_API_KEY": "sk-server-key-aaaa1111"})
        api = srv.new_account()
        assert settings(api)["llm_model"] == "server-model"
        assert settings(api)["llm_base_url"] == decoy.base_url
        assert settings(api)["llm_api_key_set"] is True  # the server's key applies

        post_settings(api, {"llm_model": "account-model", "llm_base_url": llm.base_url,
                            "llm_api_key": "sk-account-key-bbbb2222"})
        llm.script([{"tool_calls": [call("finish", message="ok")]}])
        decoy.script([{"content": "the server's model must not be asked"}])
        c = wait_stopped(api, api.create_id("whose model?"))
        assert c["agent_state"] == "finished", c
        reqs = llm.requests()
        assert len(reqs) == 1
        assert reqs[0]["body"]["model"] == "account-model"
        assert reqs[0]["headers"]["authorization"] == "Bearer sk-account-key-bbbb2222"
        assert decoy.requests() == []

        # Another account on the same server still gets the server's defaults.
        other = srv.new_account()
        decoy.script([{"tool_calls": [call("finish", message="ok")]}])
        c = wait_stopped(other, other.create_id("defaults"))
        assert c["agent_state"] == "finished", c
        dreqs = decoy.requests()
        assert dreqs[0]["body"]["model"] == "server-model"
        assert dreqs[0]["headers"]["authorization"] == "Bearer sk-server-key-aaaa1111"
        assert "sk-server-key-aaaa1111" not in srv.stderr()
        assert "sk-account-key-bbbb2222" not in srv.stderr()
    finally:
        decoy.close()


def test_server_key_is_not_sent_to_an_accounts_own_base_url(server_factory, llm):
    """An account that points llm_base_url at its own endpoint without setting a key must not
    receive the server's --llm-api-key: the key goes only to the URL it was configured for."""
    srv = server_factory(args=agent_args(None, extra=["--llm-model", "gpt-4o", "--llm-base-url",
                                                      "http://127.0.0.1:9/v1"]),
                         env={**FAST_ENV, "CLOUDHANDS_LLM_API_KEY": "sk-operator-only-5555"})
    api = srv.new_account()
    post_settings(api, {"llm_base_url": llm.base_url})
    assert settings(api)["llm_api_key_set"] is False
    llm.script([{"tool_calls": [call("finish", message="ok")]}])
    c = wait_stopped(api, api.create_id("where does the key go?"))
    assert c["agent_state"] == "finished", c
    for q in llm.requests():
        assert "sk-operator-only-5555" not in json.dumps(q["headers"])


def test_max_iterations_from_settings_stops_the_agent(server_factory, llm):
    srv = server_factory(args=agent_args(llm), env=FAST_ENV)
    api = srv.new_account()
    post_settings(api, {"max_iterations": 2})
    llm.script([{"tool_calls": [call("think", thought=f"step {i}")]} for i in range(5)])
    cid = api.create_id("never finishes")
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "error"
    assert c["status"] == "STOPPED"
    assert "max_iterations" in c["error"] and "2" in c["error"]
    assert len(llm.requests()) == 2
    evs = all_events(api, cid)
    assert kinds(evs).count("think") == 4  # two actions, two observations
    assert evs[-1]["extras"]["agent_state"] == "error"
    # The slot is free: the account's count of active conversations is 0.
    assert api.count(status="RUNNING") == 0 and api.count(status="STARTING") == 0


# ---- secrets -------------------------------------------------------------------------------

def secrets(api):
    r = api.get("/api/secrets")
    assert r.status_code == 200, r.text
    return r.json()


def test_secrets_crud(account):
    assert secrets(account) == {"custom_secrets": []}
    r = account.post("/api/secrets", json={"name": "GH_TOKEN", "value": "ghp-value-1",
                                           "description": "GitHub"})
    assert r.status_code == 201, r.text
    assert r.json() == {"message": "Secret created successfully"}
    r = account.post("/api/secrets", json={"name": "A_FIRST", "value": "v2"})
    assert r.status_code == 201, r.text
    assert secrets(account) == {"custom_secrets": [{"name": "A_FIRST", "description": ""},
                                                   {"name": "GH_TOKEN", "description": "GitHub"}]}

    r = account.post("/api/secrets", json={"name": "GH_TOKEN", "value": "other"})
    assert r.status_code == 409, r.text
    assert "GH_TOKEN" in r.json()["detail"]

    r = account.put("/api/secrets/GH_TOKEN", json={"value": "ghp-value-2"})
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Secret updated successfully"}
    assert secrets(account)["custom_secrets"][1] == {"name": "GH_TOKEN", "description": "GitHub"}
    r = account.put("/api/secrets/GH_TOKEN", json={"name": "GH_TOKEN", "description": "new"})
    assert r.status_code == 200, r.text
    assert secrets(account)["custom_secrets"][1] == {"name": "GH_TOKEN", "description": "new"}

    assert account.put("/api/secrets/MISSING", json={"value": "x"}).status_code == 404
    r = account.delete("/api/secrets/A_FIRST")
    assert r.status_code == 200 and r.json() == {"message": "Secret deleted successfully"}
    assert account.delete("/api/secrets/A_FIRST").status_code == 404
    assert secrets(account) == {"custom_secrets": [{"name": "GH_TOKEN", "description": "new"}]}
    for text in (account.get("/api/secrets").text, account.get("/api/settings").text):
        assert "ghp-value" not in text


@pytest.mark.parametrize("body,field", [
    ({"name": "1ABC", "value": "v"}, "name"),
    ({"name": "has-dash", "value": "v"}, "name"),
    ({"name": "has space", "value": "v"}, "name"),
    ({"name": "", "value": "v"}, "name"),
    ({"name": "X" * 101, "value": "v"}, "name"),
    ({"name": "ÄÖ", "value": "v"}, "name"),
    ({"name": "A=B", "value": "v"}, "name"),
    ({"name": 5, "value": "v"}, "name"),
    ({"value": "v"}, "name"),
    ({"name": "OK_NAME"}, "value"),
    ({"name": "OK_NAME", "value": 5}, "value"),
    ({"name": "OK_NAME", "value": None}, "value"),
    ({"name": "OK_NAME", "value": "v", "description": 3}, "description"),
    ({"name": "OK_NAME", "value": "v", "secret": "x"}, "secret"),
])
def test_secret_create_validation(account, body, field):
    r = account.post("/api/secrets", json=body)
    assert r.status_code == 422, r.text
    assert field in json.dumps(r.json()["detail"]), r.text
    assert secrets(account) == {"custom_secrets": []}


def test_secret_bad_bodies_and_names(account):
    assert account.post("/api/secrets", data=b"{", headers=JSON).status_code == 400
    assert account.post("/api/secrets", data=b"[1]", headers=JSON).status_code == 422
    assert account.post("/api/secrets", json={"name": "S", "value": "v"}).status_code == 201
    assert account.put("/api/secrets/S", data=b"{", headers=JSON).status_code == 400
    r = account.put("/api/secrets/S", json={"value": 1})
    assert r.status_code == 422 and "value" in r.text
    r = account.put("/api/secrets/S", json={"name": "RENAMED", "value": "x"})
    assert r.status_code == 422 and "name" in r.text
    assert account.put("/api/secrets/S", json={"bogus": 1}).status_code == 422
    for bad in ("bad-name", "1X", "%00", "a%2Fb"):
        assert account.put(f"/api/secrets/{bad}", json={"value": "x"}).status_code == 404, bad
        assert account.delete(f"/api/secrets/{bad}").status_code == 404, bad
    assert [s["name"] for s in secrets(account)["custom_secrets"]] == ["S"]


def test_secrets_are_per_account(server, account):
    other = server.new_account()
    assert account.post("/api/secrets", json={"name": "SHARED", "value": "a"}).status_code == 201
    assert secrets(other) == {"custom_secrets": []}
    assert other.put("/api/secrets/SHARED", json={"value": "b"}).status_code == 404
    assert other.delete("/api/secrets/SHARED").status_code == 404
    assert other.post("/api/secrets", json={"name": "SHARED", "value": "b"}).status_code == 201
    assert account.delete("/api/secrets/SHARED").status_code == 200
    assert secrets(other)["custom_secrets"] == [{"name": "SHARED", "description": ""}]


def test_secret_is_an_environment_variable_in_the_sandbox(server_factory, llm):
    value = "s3cr3t-Value-91b2c7"
    digest = hashlib.sha256(value.encode()).hexdigest()
    srv = server_factory(args=agent_args(llm), env=FAST_ENV)
    api = srv.new_account()
    r = api.post("/api/secrets", json={"name": "MY_SECRET", "value": value,
                                       "description": "for the test"})
    assert r.status_code == 201, r.text
    other = srv.new_account()  # another account's secret is not passed in
    assert other.post("/api/secrets", json={"name": "NOT_MINE", "value": "x"}).status_code == 201
    llm.script([
        {"tool_calls": [call("execute_bash",
                             command='printf %s "$MY_SECRET" | sha256sum; echo "len=${#MY_SECRET}"'
                                     '; echo "other=[${NOT_MINE:-unset}]"')]},
        {"tool_calls": [call("execute_bash", command='echo "plain: $MY_SECRET"')]},
        {"tool_calls": [call("finish", message="done")]},
    ])
    cid = api.create_id("use the secret")
    c = wait_stopped(api, cid)
    assert c["agent_state"] == "finished", c
    evs = all_events(api, cid)
    runs = [e for e in evs if e.get("observation") == "run"]
    assert digest in runs[0]["content"], runs[0]["content"]
    assert f"len={len(value)}" in runs[0]["content"]
    assert "other=[unset]" in runs[0]["content"]
    assert runs[1]["extras"]["metadata"]["exit_code"] == 0
    # As in OpenHands, the value is masked in what the agent's output shows and the model reads.
    assert "plain: <secret_hidden>" in runs[1]["content"], runs[1]["content"]
    assert value not in json.dumps(llm.requests())

    # The value never comes back out of the API, and is not stored in plain text.
    texts = [api.get("/api/secrets").text, api.get(f"/api/conversations/{cid}").text,
             api.get(f"/api/conversations/{cid}/trajectory").text, json.dumps(evs)]
    for text in texts:
        assert value not in text
    assert value not in srv.stderr()
    _, dump = db_dump(srv.data_dir)
    assert "MY_SECRET" in dump
    assert value not in dump
    assert value.encode() not in db_raw(srv.data_dir)
