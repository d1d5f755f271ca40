"""Bad input to POST /api/conversations: the right error, nothing stored, server still up."""

import json
import socket

import pytest
import requests

URL = "/api/conversations"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def acct(account):
    """An account holding one conversation, so "nothing changed" is checkable."""
    account.existing = account.create_id("already here", repository="keep/me")
    return account


def assert_unchanged(server, acct):
    r = requests.get(server.base_url + "/alive", timeout=5)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    listed = acct.list_all()
    assert [c["conversation_id"] for c in listed] == [acct.existing]
    assert acct.conv(acct.existing)["selected_repository"] == "keep/me"


def detail_names(r, field):
    body = r.json()
    assert "detail" in body, body
    assert field in json.dumps(body["detail"]), f"detail does not name {field!r}: {body}"


def assert_pydantic_shape(r, field):
    body = r.json()
    detail = body.get("detail")
    assert isinstance(detail, list) and detail, body
    for item in detail:
        assert {"type", "loc", "msg"} <= set(item), item
        assert isinstance(item["msg"], str) and item["msg"]
        assert isinstance(item["loc"], list)
    assert any(item["loc"] == ["body", field] for item in detail), body


def test_malformed_json_is_400(server, acct):
    r = acct.post(URL, data=b'{"initial_user_msg": "x", ', headers=JSON)
    assert r.status_code == 400, r.text
    assert "detail" in r.json()
    assert_unchanged(server, acct)


@pytest.mark.parametrize("raw", [b"{", b"nope", b'{"initial_user_msg": "x"} trailing', b"\x00\x01",
                                 b'{"initial_user_msg": "x",}'])
def test_other_malformed_json_is_400(server, acct, raw):
    r = acct.post(URL, data=raw, headers=JSON)
    assert r.status_code == 400, r.text
    assert_unchanged(server, acct)


def test_non_utf8_in_string_is_400(server, acct):
    r = acct.post(URL, data=b'{"initial_user_msg": "caf\xe9 \xff\xfe"}', headers=JSON)
    assert r.status_code == 400, r.text
    assert_unchanged(server, acct)


def test_json_array_is_422(server, acct):
    r = acct.post(URL, json=[{"initial_user_msg": "x"}])
    assert r.status_code == 422, r.text
    assert "detail" in r.json()
    assert_unchanged(server, acct)


@pytest.mark.parametrize("raw", [b'"a string"', b"42", b"null", b"true"])
def test_json_scalar_is_422(server, acct, raw):
    r = acct.post(URL, data=raw, headers=JSON)
    assert r.status_code == 422, r.text
    assert_unchanged(server, acct)


@pytest.mark.parametrize("value", [5, None, ["x"], {"a": 1}, True])
def test_wrong_type_is_422_naming_field(server, acct, value):
    r = acct.post(URL, json={"initial_user_msg": value})
    assert r.status_code == 422, r.text
    detail_names(r, "initial_user_msg")
    assert_unchanged(server, acct)


@pytest.mark.parametrize("field,value", [("repository", 5), ("selected_branch", 1),
                                         ("image_urls", "https://x/y.png"), ("image_urls", [1, 2]),
                                         ("conversation_instructions", {"a": 1})])
def test_wrong_type_optional_field_is_422(server, acct, field, value):
    r = acct.post(URL, json={"initial_user_msg": "x", field: value})
    assert r.status_code == 422, r.text
    detail_names(r, field)
    assert_unchanged(server, acct)


def test_missing_initial_user_msg_is_422_pydantic_shape(server, acct):
    r = acct.post(URL, json={"repository": "a/b"})
    assert r.status_code == 422, r.text
    assert_pydantic_shape(r, "initial_user_msg")
    assert_unchanged(server, acct)


def test_empty_object_is_422(server, acct):
    r = acct.post(URL, json={})
    assert r.status_code == 422, r.text
    detail_names(r, "initial_user_msg")
    assert_unchanged(server, acct)


def test_unknown_field_is_422_naming_it(server, acct):
    r = acct.post(URL, json={"initial_user_msg": "x", "surprise_field": 1})
    assert r.status_code == 422, r.text
    detail_names(r, "surprise_field")
    assert_unchanged(server, acct)


@pytest.mark.parametrize("repo", ["noslash", "a/b/c", "../x", "a b/c", "/repo", "owner/", "",
                                  "a/../b", "own\ner/repo"])
def test_bad_repository_is_422(server, acct, repo):
    r = acct.post(URL, json={"initial_user_msg": "x", "repository": repo})
    assert r.status_code == 422, r.text
    detail_names(r, "repository")
    assert_unchanged(server, acct)


def test_bad_git_provider_is_422(server, acct):
    r = acct.post(URL, json={"initial_user_msg": "x", "git_provider": "svn"})
    assert r.status_code == 422, r.text
    detail_names(r, "git_provider")
    assert_unchanged(server, acct)


def test_too_long_message_is_422(server, acct):
    r = acct.post(URL, json={"initial_user_msg": "x" * 200001})
    assert r.status_code == 422, r.text
    detail_names(r, "initial_user_msg")
    assert_unchanged(server, acct)


def test_message_of_200000_chars_is_accepted(server, acct):
    msg = "é" * 200000  # characters, not bytes: 400000 bytes
    raw = json.dumps({"initial_user_msg": msg}, ensure_ascii=False).encode()
    r = acct.post(URL, data=raw, headers=JSON)
    assert r.status_code == 200, r.text[:500]
    cid = r.json()["conversation_id"]
    e = acct.get(f"/api/conversations/{cid}/events").json()["events"][0]
    assert e["args"]["content"] == msg


def raw_request(server, head, body, timeout=10):
    """Sends a raw HTTP/1.1 request; returns (status, response bytes)."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        try:
            s.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer before reading the whole body
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    assert data.startswith(b"HTTP/1."), f"no HTTP answer: {data[:200]!r}"
    return int(data.split(b" ", 2)[1]), data


def test_body_over_1mib_is_413(server, acct):
    body = json.dumps({"initial_user_msg": "y" * (1024 * 1024 + 100)}).encode()
    head = (f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {acct.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    status, data = raw_request(server, head, body)
    assert status == 413, data[:500]
    assert_unchanged(server, acct)


def test_chunked_body_over_1mib_is_413(server, acct):
    payload = json.dumps({"initial_user_msg": "z" * (1024 * 1024 + 100)}).encode()
    chunks = b""
    step = 64 * 1024
    for i in range(0, len(payload), step):
        part = payload[i:i + step]
        chunks += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    chunks += b"0\r\n\r\n"
    head = (f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {acct.key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n").encode()
    status, data = raw_request(server, head, chunks)
    assert status == 413, data[:500]
    assert_unchanged(server, acct)


def test_empty_body_is_400(server, acct):
    r = acct.post(URL, data=b"", headers=JSON)
    assert r.status_code == 400, r.text
    assert_unchanged(server, acct)


def test_nul_in_string_does_not_truncate_or_crash(server, acct):
    r = acct.post(URL, json={"initial_user_msg": "before\u0000after"})
    assert r.status_code in (200, 400, 422), r.text
    if r.status_code == 200:
        cid = r.json()["conversation_id"]
        e = acct.get(f"/api/conversations/{cid}/events").json()["events"][0]
        assert e["args"]["content"] == "before\u0000after"
    assert requests.get(server.base_url + "/alive", timeout=5).status_code == 200


def test_deeply_nested_json_does_not_crash(server, acct):
    raw = b'{"initial_user_msg": "x", "image_urls": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    r = acct.post(URL, data=raw, headers=JSON)
    assert r.status_code in (400, 422), r.text[:300]
    assert_unchanged(server, acct)
