"""For operators (issue 7, "Operations"): GET /metrics in Prometheus' text format (parsed with
prometheus_client's own parser) whose counters move with requests and agent runs, the request
log (one line per request, logfmt or --log-format json, carrying the request id that
X-Request-Id also returns), values a client sent that cannot break a log line, and no secret in
any log line."""

import json
import re

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from agent_helpers import FAST_ENV, agent_args, wait_stopped
from llm import ScriptedLLM, call


def scrape(srv):
    r = requests.get(srv.base_url + "/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


@pytest.fixture(scope="module")
def llm():
    server = ScriptedLLM()
    yield server
    server.close()


@pytest.fixture(scope="module")
def ops(tmp_path_factory, llm):
    from conftest import Server
    srv = Server(tmp_path_factory.mktemp("ops"),
                 args=agent_args(llm, runners=1, extra=["--log-format", "json"]), env=FAST_ENV)
    srv.start()
    yield srv
    srv.stop()


def log_lines(srv):
    return [json.loads(line) for line in srv.stderr().splitlines() if line.startswith("{")]


def test_metrics_parse_and_move(ops, llm):
    api = ops.new_account()
    before = scrape(ops)
    info = [(labels, v) for (name, labels), v in before.items() if name == "cloudhands_build_info"]
    assert len(info) == 1 and info[0][1] == 1 and dict(info[0][0])["version"]
    for _ in range(3):
        assert api.get("/api/conversations").status_code == 200
    assert requests.get(ops.base_url + "/api/conversations", timeout=10).status_code == 401
    llm.script([
        {"tool_calls": [call("execute_bash", command="echo hi")], "usage":
         {"prompt_tokens": 120, "completion_tokens": 7}},
        {"tool_calls": [call("finish", message="done")], "usage":
         {"prompt_tokens": 130, "completion_tokens": 5}},
    ])
    cid = api.create_id("say hi")
    assert wait_stopped(api, cid)["agent_state"] == "finished"
    after = scrape(ops)
    route = dict(method="GET", route="/api/conversations")
    assert value(after, "cloudhands_http_requests_total", status="200", **route) - \
        value(before, "cloudhands_http_requests_total", status="200", **route) == 3
    assert value(after, "cloudhands_http_requests_total", status="401", **route) - \
        value(before, "cloudhands_http_requests_total", status="401", **route) == 1
    post = dict(method="POST", route="/api/conversations")
    assert value(after, "cloudhands_http_requests_total", status="200", **post) >= 1
    assert value(after, "cloudhands_http_request_duration_seconds_count", **route) >= 4
    assert value(after, "cloudhands_http_request_duration_seconds_bucket", le="+Inf", **route) == \
        value(after, "cloudhands_http_request_duration_seconds_count", **route)
    assert value(after, "cloudhands_llm_calls_total", outcome="ok") - \
        value(before, "cloudhands_llm_calls_total", outcome="ok") == 2
    assert value(after, "cloudhands_llm_tokens_total", kind="prompt") - \
        value(before, "cloudhands_llm_tokens_total", kind="prompt") == 250
    assert value(after, "cloudhands_llm_tokens_total", kind="completion") - \
        value(before, "cloudhands_llm_tokens_total", kind="completion") == 12
    assert value(after, "cloudhands_sandbox_starts_total", outcome="ok") - \
        value(before, "cloudhands_sandbox_starts_total", outcome="ok") == 1
    assert value(after, "cloudhands_runs_started_total") - \
        value(before, "cloudhands_runs_started_total") == 1
    assert value(after, "cloudhands_conversations", status="STOPPED") >= 1
    assert value(after, "cloudhands_runners", state="idle") + \
        value(after, "cloudhands_runners", state="busy") == 1
    # an unknown path counts under "unmatched", never under its raw path
    requests.get(ops.base_url + "/no/such/path/123", timeout=10)
    text = requests.get(ops.base_url + "/metrics", timeout=10).text
    assert "/no/such/path" not in text and 'route="unmatched"' in text


def test_request_ids_and_the_request_log(ops):
    api = ops.new_account()
    r = api.get("/api/conversations", headers={"X-Request-Id": "trace-42.a_b"})
    assert r.headers["X-Request-Id"] == "trace-42.a_b"
    fresh = api.get("/api/conversations").headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
    for bad in ("x" * 65, "has space", "new\u00e9line"):
        rid = requests.get(ops.base_url + "/alive", headers={"X-Request-Id": bad.encode()},
                           timeout=10).headers["X-Request-Id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid)
    lines = log_lines(ops)
    mine = [l for l in lines if l.get("request_id") == "trace-42.a_b"]
    assert len(mine) == 1
    line = mine[0]
    assert line["msg"] == "request" and line["level"] == "info"
    assert line["method"] == "GET" and line["path"] == "/api/conversations"
    assert line["route"] == "/api/conversations" and line["status"] == 200
    assert isinstance(line["duration_ms"], (int, float)) and line["account"] == api.user
    assert any(l.get("request_id") == fresh for l in lines)
    # state changes of conversations are logged too
    assert any(l.get("msg") == "conversation stopped" for l in lines)


def test_a_client_cannot_break_a_log_line_and_secrets_stay_out(ops):
    api = ops.new_account()
    raw = requests.get(ops.base_url + '/x%0Afake%20level=error%22', timeout=10)
    assert raw.status_code == 404
    text = ops.stderr()
    assert "\nfake level=error" not in text
    for line in text.splitlines():
        if line.startswith("{"):
            json.loads(line)  # every line is whole JSON
    assert api.key not in text and api.key[3:] not in text
    r = api.post("/api/secrets", json={"name": "MY_TOKEN", "value": "s3cr3t-value-xyz"})
    assert r.status_code in (200, 201), r.text
    r = requests.post(ops.base_url + "/api/auth/login",
                      json={"username": api.user, "password": "pw-not-in-logs-123"}, timeout=10)
    assert "s3cr3t-value-xyz" not in ops.stderr() and "pw-not-in-logs-123" not in ops.stderr()


def test_logfmt_is_the_default_and_bad_formats_are_refused(tmp_path):
    from conftest import Server, run_cli
    srv = Server(tmp_path / "a")
    srv.start()
    try:
        requests.get(srv.base_url + "/alive", headers={"X-Request-Id": "logfmt-1"}, timeout=10)
        line = next(l for l in srv.stderr().splitlines() if "request_id=logfmt-1" in l)
        assert re.match(r'time=\S+ level=info msg="request" request_id=logfmt-1 method=GET '
                        r'path=/alive route=/alive status=200 duration_ms=[0-9.]+$', line)
    finally:
        srv.stop()
    r = run_cli("serve", "--log-format", "xml", data_dir=tmp_path / "b", check=False)
    assert r.returncode == 2 and "logfmt or json" in r.stderr


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    from agent_helpers import db_execute
    from conftest import run_cli
    run_cli("user", "list", data_dir=tmp_path)  # creates and migrates the database
    db_execute(tmp_path, "INSERT INTO schema_migrations VALUES (999, '999_future.sql', 0)")
    r = run_cli("user", "list", data_dir=tmp_path, check=False)
    assert r.returncode == 1
    assert "schema version 999, newer than this cloudhands knows" in r.stderr
    r = run_cli("serve", data_dir=tmp_path, check=False)
    assert r.returncode == 1 and "newer than this cloudhands knows" in r.stderr
