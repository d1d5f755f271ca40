"""The API reference: GET /openapi.json (src/api/openapi.json) against the route table and against
real answers.

- Completeness: every row of src/api/routes.c (method + pattern, `{param}` segments as they are)
  is an operation of the document, and the document has no other operation: the rule is "exactly
  the route table", web UI pages and /swagger-ui/ included (tagged "web UI").
- Structure: OpenAPI 3.1.0, info, every $ref resolves, path parameters match the path, the
  security of each operation matches its row (ROUTE_PUBLIC: none; ROUTE_ACCOUNT: the API key, or
  the session cookie plus the CSRF token for methods that change something), every schema is a
  valid JSON Schema (2020-12, the dialect of OpenAPI 3.1).
- Truth: a representative run against a live server (conversations, events, workspace, settings,
  secrets, keys, sessions, webhooks, service routes, and the errors 400/401/403/404/405/409/413/
  415/422/429) validates each answer against the schema the document gives for its route and
  status with a JSON Schema validator (python3-jsonschema, Draft 2020-12); an undocumented status
  fails. Every operation must have been answered with a documented 2xx at least once.
"""

import http.server
import json
import re
import threading

import pytest
import requests
from jsonschema import Draft202012Validator

from agent_helpers import wait_for, wait_stopped
from conftest import CONV_ID_RE, KEY_FULL_RE, REPO_ROOT, unique
from llm import ScriptedLLM, call

ROUTES_C = REPO_ROOT / "src" / "api" / "routes.c"
DOC_FILE = REPO_ROOT / "src" / "api" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ROW_RE = re.compile(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*(ROUTE_[A-Z_]+)\s*,'
                    r'\s*(?:0|ROUTE_[A-Z_]+(?:\s*\|\s*ROUTE_[A-Z_]+)*)\s*\}')
SEED_TASK = ("Check whether there is any incorrect information in the README.md file and send a "
             "PR to fix it if so.")


def route_table():
    """[(METHOD, pattern, handler, auth)] from the rows of api_routes[]."""
    text = ROUTES_C.read_text()
    body = text[text.index("api_routes[]"):]
    rows = ROW_RE.findall(body)
    # Every line that looks like a row must have been understood (a reformatted row must not
    # silently drop out of the check).
    row_lines = [ln for ln in body.splitlines() if ln.lstrip().startswith('{"')]
    assert len(rows) == len(row_lines), (
        f"routes.c: {len(row_lines)} row lines but {len(rows)} parsed rows:\n" + "\n".join(row_lines))
    assert rows, "no routes parsed from routes.c"
    return rows


@pytest.fixture(scope="module")
def doc():
    return json.loads(DOC_FILE.read_text())


def operations(doc):
    """{(METHOD, path): operation}."""
    return {(m.upper(), p): op for p, item in doc["paths"].items()
            for m, op in item.items() if m in METHODS}


def pointer(doc, ref):
    assert ref.startswith("#/"), f"only local $refs are used: {ref}"
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"$ref {ref} does not resolve"
        node = node[part]
    return node


def deref(doc, node):
    """A Reference Object followed to what it names (once)."""
    while isinstance(node, dict) and "$ref" in node:
        node = pointer(doc, node["$ref"])
    return node


def inline(doc, node, stack=()):
    """The schema with every $ref replaced by what it names (siblings kept beside it, in an
    allOf), so any jsonschema version validates it without a resolver."""
    if isinstance(node, list):
        return [inline(doc, x, stack) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        assert ref not in stack, f"recursive schema through {ref}"
        target = inline(doc, pointer(doc, ref), stack + (ref,))
        rest = {k: inline(doc, v, stack) for k, v in node.items() if k != "$ref"}
        return {"allOf": [target], **rest} if rest else target
    return {k: inline(doc, v, stack) for k, v in node.items()}


# ---- completeness and structure -----------------------------------------------------------


def test_served_document_is_the_file(server, doc):
    r = requests.get(server.base_url + "/openapi.json", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert r.json() == doc


def test_every_route_is_documented_and_nothing_else(doc):
    table = {(m, p) for m, p, _, _ in route_table()}
    documented = set(operations(doc))
    missing = sorted(table - documented)
    extra = sorted(documented - table)
    assert not missing, f"routes of src/api/routes.c missing from src/api/openapi.json: {missing}"
    assert not extra, f"operations in src/api/openapi.json that src/api/routes.c lacks: {extra}"


def test_security_matches_the_route_table(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "http", "scheme": "bearer"}
    assert schemes["session"] == {**schemes["session"], "type": "apiKey", "in": "cookie",
                                  "name": "cloudhands_session"}
    assert schemes["csrfToken"] == {**schemes["csrfToken"], "type": "apiKey", "in": "header",
                                    "name": "X-CSRF-Token"}
    ops = operations(doc)
    for method, path, _, auth in route_table():
        op = ops[(method, path)]
        security = op.get("security", doc.get("security"))
        where = f"{method} {path}"
        for req in security or []:
            for name in req:
                assert name in schemes, f"{where}: unknown security scheme {name}"
        if auth == "ROUTE_PUBLIC":
            assert security == [], f"{where} is public: its security must be []"
            continue
        assert {"apiKey": []} in security, f"{where} needs an API key: {security}"
        session = {"session": [], "csrfToken": []} if method != "GET" else {"session": []}
        assert session in security, f"{where}: the session requirement should be {session}"
        assert "401" in op["responses"], f"{where} needs a key: document its 401"
        if method != "GET":
            assert "403" in op["responses"], f"{where}: document the 403 without a CSRF token"


def test_document_structure(doc):
    assert doc["openapi"] == "3.1.0"
    cmake = (REPO_ROOT / "CMakeLists.txt").read_text()
    version = re.search(r"project\(cloudhands VERSION ([0-9.]+)", cmake).group(1)
    assert doc["info"]["title"] == "cloudhands"
    assert doc["info"]["version"] == version, "info.version is the project's version (CMakeLists.txt)"
    declared_tags = {t["name"] for t in doc.get("tags", [])}

    # every $ref anywhere resolves
    def walk(node, where):
        if isinstance(node, dict):
            if "$ref" in node:
                pointer(doc, node["$ref"])
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")
    walk(doc, "#")

    operation_ids = set()
    for path, item in doc["paths"].items():
        assert path.startswith("/"), path
        in_path = re.findall(r"\{([^}]+)\}", path)
        shared = [deref(doc, p) for p in item.get("parameters", [])]
        for method, op in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            assert op.get("operationId") and op["operationId"] not in operation_ids, where
            operation_ids.add(op["operationId"])
            assert op.get("summary"), f"{where}: a summary"
            for tag in op.get("tags", []):
                assert tag in declared_tags, f"{where}: undeclared tag {tag}"
            params = shared + [deref(doc, p) for p in op.get("parameters", [])]
            path_params = [p["name"] for p in params if p["in"] == "path"]
            assert sorted(path_params) == sorted(in_path), f"{where}: path parameters {path_params}"
            for p in params:
                assert p["in"] in ("path", "query", "header", "cookie"), where
                assert "schema" in p or "content" in p, f"{where}: parameter {p['name']} has no schema"
                if p["in"] == "path":
                    assert p.get("required") is True, f"{where}: path parameter {p['name']}"
            responses = op["responses"]
            assert any(s.startswith("2") for s in responses), f"{where}: no 2xx response"
            for status, resp in responses.items():
                assert re.fullmatch(r"[1-5][0-9][0-9]", status), f"{where}: status {status}"
                resp = deref(doc, resp)
                assert resp.get("description"), f"{where} {status}: a description"
                for media, content in resp.get("content", {}).items():
                    assert "schema" in content, f"{where} {status} {media}: no schema"
                if status in ("400", "401", "403", "404", "409", "413", "415", "422", "429", "503"):
                    assert "application/json" in resp["content"], f"{where} {status}: JSON error"
            if "requestBody" in op:
                body = deref(doc, op["requestBody"])
                assert "application/json" in body["content"], where
                for status in ("400", "413", "422"):
                    assert status in responses, f"{where} takes a body: document its {status}"

    # every schema is a valid 2020-12 schema (with $refs inlined)
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(inline(doc, schema))
    # ... and the examples given next to schemas validate against them
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            contents = []
            if "requestBody" in op:
                contents.append(("request", deref(doc, op["requestBody"])["content"]))
            for status, resp in op["responses"].items():
                contents.append((status, deref(doc, resp).get("content", {})))
            for what, content in contents:
                media = content.get("application/json")
                if media and "example" in media:
                    errors = list(Draft202012Validator(inline(doc, media["schema"]))
                                  .iter_errors(media["example"]))
                    assert not errors, f"{method.upper()} {path} {what}: example: {errors[0].message}"
    for name, resp in doc["components"]["responses"].items():
        media = resp.get("content", {}).get("application/json")
        if media and "example" in media:
            Draft202012Validator(inline(doc, media["schema"])).validate(media["example"])


# ---- real answers -------------------------------------------------------------------------


class Checker:
    """Validates answers against the document and records which operations answered 2xx."""

    def __init__(self, doc):
        self.doc = doc
        self.ops = operations(doc)
        self.seen = set()  # (METHOD, path, status)

    def __call__(self, r, path, status=None, method=None):
        method = method or r.request.method
        where = f"{method} {path} -> {r.status_code} {r.text[:300]!r}"
        if status is not None:
            assert r.status_code == status, f"expected {status}: {where}"
        op = self.ops.get((method, path))
        assert op is not None, f"{method} {path} is not in the document"
        responses = op["responses"]
        assert str(r.status_code) in responses, f"undocumented status: {where}"
        resp = deref(self.doc, responses[str(r.status_code)])
        content = resp.get("content", {})
        ctype = r.headers.get("Content-Type", "").split(";")[0].strip()
        assert ctype in content, f"Content-Type {ctype!r} not documented ({list(content)}): {where}"
        if ctype == "application/json":
            schema = inline(self.doc, content[ctype]["schema"])
            errors = sorted(Draft202012Validator(schema).iter_errors(r.json()), key=lambda e: e.path)
            assert not errors, (f"{where}\ndoes not match its schema: {errors[0].message} at "
                                f"{list(errors[0].absolute_path)}")
        for name in resp.get("headers", {}):
            if name == "Retry-After" and r.status_code == 429:
                assert r.headers.get("Retry-After", "").isdigit(), f"Retry-After: {where}"
        self.seen.add((method, path, r.status_code))
        return r


def session_login(server, checker):
    """A user with a password, signed in: (requests.Session with the cookie, csrf_token, user)."""
    name, password = unique("web"), unique("pw-") + "-Secret!"
    server.cli("user", "add", name, "--password-stdin", input=password + "\n")
    s = requests.Session()
    r = checker(s.post(server.base_url + "/api/auth/login",
                       json={"username": name, "password": password}, timeout=10),
                "/api/auth/login", 200)
    return s, r.json()["csrf_token"], name, password


def test_real_answers_validate_against_the_document(server, server_factory, doc, tmp_path):
    check = Checker(doc)
    base = server.base_url
    anon = server.api()
    acct = server.new_account()
    other = server.new_account()
    table = route_table()
    cid_unknown = "0" * 32

    # -- service and pages
    check(anon.get("/alive"), "/alive", 200)
    check(anon.get("/health"), "/health", 200)
    check(anon.get("/metrics"), "/metrics", 200)
    check(anon.get("/openapi.json"), "/openapi.json", 200)
    check(anon.get("/swagger-ui/"), "/swagger-ui/", 200)
    for f in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-init.js", "favicon-32x32.png"):
        check(anon.get(f"/swagger-ui/{f}"), "/swagger-ui/{file}", 200)
    check(anon.get("/swagger-ui/no-such-file.js"), "/swagger-ui/{file}", 404)
    for page in ("/", "/login", "/settings", "/conversations"):
        check(anon.get(page), page, 200)
    check(anon.get(f"/conversations/{cid_unknown}"), "/conversations/{id}", 200)
    asset = sorted(p.name for p in (REPO_ROOT / "web" / "assets").iterdir() if p.suffix == ".js")[0]
    check(anon.get(f"/assets/{asset}"), "/assets/{file}", 200)
    check(anon.get("/assets/no-such-file.js"), "/assets/{file}", 404)

    # -- 401 on every account route, without a key (and with a malformed one)
    for method, path, _, auth in table:
        if auth != "ROUTE_ACCOUNT":
            continue
        url = path.replace("{id}", cid_unknown)
        kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        check(anon.request(method, url, **kwargs), path, 401, method=method)
    check(server.api("oh_nope").get("/api/conversations"), "/api/conversations", 401)

    # -- conversations
    created = check(acct.post("/api/conversations",
                              json={"initial_user_msg": SEED_TASK,
                                    "repository": "yourusername/your-repo"}),
                    "/api/conversations", 200).json()
    cid = created["conversation_id"]
    assert CONV_ID_RE.match(cid)
    idem = {"Idempotency-Key": unique("idem")}
    first = check(acct.post("/api/conversations", json={"initial_user_msg": "once"}, headers=idem),
                  "/api/conversations", 200).json()
    again = check(acct.post("/api/conversations", json={"initial_user_msg": "once"}, headers=idem),
                  "/api/conversations", 200).json()
    assert first == again
    check(acct.post("/api/conversations", json={"initial_user_msg": "x",
                                                "repository": "nobody/not-there"}),
          "/api/conversations", 401)
    check(acct.post("/api/conversations", data="{nope", headers={"Content-Type": "application/json"}),
          "/api/conversations", 400)
    check(acct.post("/api/conversations", json={"repository": "a/b"}), "/api/conversations", 422)
    check(acct.post("/api/conversations", json={"initial_user_msg": "x", "bogus": 1}),
          "/api/conversations", 422)
    check(acct.post("/api/conversations", json={"initial_user_msg": "x" * (1024 * 1024 + 10)}),
          "/api/conversations", 413)

    check(acct.get(f"/api/conversations/{cid}"), "/api/conversations/{id}", 200)
    assert check(acct.get(f"/api/conversations/{cid_unknown}"),
                 "/api/conversations/{id}", 200).json() is None
    page = check(acct.get("/api/conversations", params={"limit": 1}), "/api/conversations", 200).json()
    assert page["next_page_id"]
    check(acct.get("/api/conversations", params={"limit": 1, "page_id": page["next_page_id"]}),
          "/api/conversations", 200)
    check(acct.get("/api/conversations", params={"status": "STARTING",
                                                 "selected_repository": "yourusername/your-repo",
                                                 "conversation_trigger": "openhands_api"}),
          "/api/conversations", 200)
    check(acct.get("/api/conversations", params={"limit": 0}), "/api/conversations", 422)
    check(acct.get("/api/conversations", params={"status": "SLEEPING"}), "/api/conversations", 422)

    path = "/api/conversations/{id}"
    assert check(acct.patch(f"/api/conversations/{cid}", json={"title": "Renamed"}), path, 200).json() is True
    assert check(acct.patch(f"/api/conversations/{cid_unknown}", json={"title": "x"}), path, 200).json() is False
    check(acct.patch(f"/api/conversations/{cid}", json={"title": ""}), path, 422)
    check(acct.patch(f"/api/conversations/{cid}", data="", headers={"Content-Type": "application/json"}),
          path, 400)

    # -- events
    path = "/api/conversations/{id}/events"
    ev = check(acct.get(f"/api/conversations/{cid}/events"), path, 200).json()
    assert ev["events"][0]["id"] == 0 and ev["events"][0]["source"] == "user"
    check(acct.get(f"/api/conversations/{cid}/events", params={"reverse": "true", "limit": 5,
                                                              "start_id": 0, "end_id": 3}), path, 200)
    check(acct.get(f"/api/conversations/{cid}/events", params={"limit": 101}), path, 400)
    check(acct.get(f"/api/conversations/{cid}/events", params={"reverse": "maybe"}), path, 422)
    check(acct.get(f"/api/conversations/{cid_unknown}/events"), path, 404)
    check(other.get(f"/api/conversations/{cid}/events"), path, 404)
    check(acct.post(f"/api/conversations/{cid}/events",
                    json={"action": "message", "args": {"content": "Also the changelog."}}), path, 200)
    check(acct.post(f"/api/conversations/{cid}/events", json={"action": "run", "args": {}}), path, 422)
    check(acct.post(f"/api/conversations/{cid_unknown}/events",
                    json={"action": "message", "args": {"content": "x"}}), path, 404)
    path = "/api/conversations/{id}/message"
    check(acct.post(f"/api/conversations/{cid}/message", json={"message": "And the docs."}), path, 200)
    check(acct.post(f"/api/conversations/{cid}/message", json={"message": ""}), path, 422)
    check(acct.post(f"/api/conversations/{cid_unknown}/message", json={"message": "x"}), path, 404)
    traj = check(acct.get(f"/api/conversations/{cid}/trajectory"),
                 "/api/conversations/{id}/trajectory", 200).json()
    assert len(traj["trajectory"]) == 3
    check(acct.get(f"/api/conversations/{cid_unknown}/trajectory"),
          "/api/conversations/{id}/trajectory", 404)

    # -- stop, the event stream of a stopped conversation (it ends), start
    check(acct.post(f"/api/conversations/{cid}/stop"), "/api/conversations/{id}/stop", 200)
    check(acct.post(f"/api/conversations/{cid_unknown}/stop"), "/api/conversations/{id}/stop", 404)
    path = "/api/conversations/{id}/events/stream"
    r = check(acct.get(f"/api/conversations/{cid}/events/stream", timeout=20), path, 200)
    assert r.text.startswith("id: 0\ndata: {"), r.text[:200]
    for block in r.text.strip().split("\n\n"):
        data = json.loads(block.split("data: ", 1)[1])
        Draft202012Validator(inline(doc, {"$ref": "#/components/schemas/Event"})).validate(data)
    check(acct.get(f"/api/conversations/{cid}/events/stream", params={"last_event_id": "x"}), path, 422)
    check(acct.get(f"/api/conversations/{cid_unknown}/events/stream"), path, 404)
    check(acct.post(f"/api/conversations/{cid}/start"), "/api/conversations/{id}/start", 200)
    check(acct.post(f"/api/conversations/{cid_unknown}/start"), "/api/conversations/{id}/start", 404)

    # -- 429 at the concurrency limit: create, start and message
    limited = server.new_account(max_concurrent=1)
    one = check(limited.post("/api/conversations", json={"initial_user_msg": "one"}),
                "/api/conversations", 200).json()["conversation_id"]
    r = check(limited.post("/api/conversations", json={"initial_user_msg": "two"}),
              "/api/conversations", 429)
    assert r.json()["detail"]["limit"] == 1
    limited.stop_conv(one)
    check(limited.post("/api/conversations", json={"initial_user_msg": "two"}), "/api/conversations", 200)
    check(limited.post(f"/api/conversations/{one}/start"), "/api/conversations/{id}/start", 429)
    check(limited.post(f"/api/conversations/{one}/message", json={"message": "go on"}),
          "/api/conversations/{id}/message", 429)
    check(limited.post(f"/api/conversations/{one}/events",
                       json={"action": "message", "args": {"content": "go on"}}),
          "/api/conversations/{id}/events", 429)

    # -- workspace: files put where the server keeps the conversation's workspace
    ws = server.data_dir / "workspaces" / cid
    check(acct.get(f"/api/conversations/{cid}/list-files"), "/api/conversations/{id}/list-files", 200)
    (ws / "repo").mkdir(parents=True)
    (ws / "repo" / "README.md").write_text("# repo\n")
    (ws / "logo.bin").write_bytes(b"\x89PNG\x00\x01")
    files = check(acct.get(f"/api/conversations/{cid}/list-files"),
                  "/api/conversations/{id}/list-files", 200).json()
    assert files == ["logo.bin", "repo/"], files
    check(acct.get(f"/api/conversations/{cid}/list-files", params={"path": "repo"}),
          "/api/conversations/{id}/list-files", 200)
    check(acct.get(f"/api/conversations/{cid}/list-files", params={"path": "nope"}),
          "/api/conversations/{id}/list-files", 404)
    path = "/api/conversations/{id}/select-file"
    assert check(acct.get(f"/api/conversations/{cid}/select-file", params={"file": "repo/README.md"}),
                 path, 200).json() == {"code": "# repo\n"}
    check(acct.get(f"/api/conversations/{cid}/select-file", params={"file": "logo.bin"}), path, 415)
    check(acct.get(f"/api/conversations/{cid}/select-file", params={"file": "nope"}), path, 404)
    check(acct.get(f"/api/conversations/{cid}/select-file"), path, 422)
    check(acct.get(f"/api/conversations/{cid}/git/changes"), "/api/conversations/{id}/git/changes", 200)
    check(acct.get(f"/api/conversations/{cid_unknown}/git/changes"),
          "/api/conversations/{id}/git/changes", 404)
    path = "/api/conversations/{id}/git/diff"
    check(acct.get(f"/api/conversations/{cid}/git/diff", params={"path": "repo/README.md"}), path, 200)
    check(acct.get(f"/api/conversations/{cid}/git/diff", params={"path": "logo.bin"}), path, 415)
    check(acct.get(f"/api/conversations/{cid}/git/diff"), path, 422)
    check(acct.get(f"/api/conversations/{cid}/git/diff", params={"path": "../x"}), path, 422)
    r = check(acct.get(f"/api/conversations/{cid}/zip-directory"),
              "/api/conversations/{id}/zip-directory", 200)
    assert r.content[:2] == b"PK"
    check(acct.get(f"/api/conversations/{cid_unknown}/zip-directory"),
          "/api/conversations/{id}/zip-directory", 404)

    # -- delete
    path = "/api/conversations/{id}"
    assert check(acct.delete(f"/api/conversations/{first['conversation_id']}"), path, 200).json() is True
    assert check(acct.delete(f"/api/conversations/{first['conversation_id']}"), path, 200).json() is False

    # -- settings
    check(acct.get("/api/settings"), "/api/settings", 200)
    check(acct.post("/api/settings", json={"llm_model": "gpt-4o", "max_iterations": 50}),
          "/api/settings", 200)
    s = check(acct.get("/api/settings"), "/api/settings", 200).json()
    assert s["llm_model"] == "gpt-4o" and s["max_iterations"] == 50
    check(acct.post("/api/settings", json={"bogus": 1}), "/api/settings", 422)
    check(acct.post("/api/settings", json={"llm_base_url": "ftp://x"}), "/api/settings", 422)
    check(acct.get("/api/options/models"), "/api/options/models", 200)
    path = "/api/add-git-providers"
    check(acct.post(path, json={"provider_tokens": {"github": {"token": "ghp_not_a_real_token"}}}),
          path, 401)
    check(acct.post(path, json={"provider_tokens": {"github": {"token": "", "host": "elsewhere.example"}}}),
          path, 422)
    check(acct.post(path, json={"provider_tokens": {"github": {"token": ""}}}), path, 200)
    check(acct.post(path, json={}), path, 422)
    check(acct.post("/api/unset-provider-tokens"), "/api/unset-provider-tokens", 200)

    # -- secrets
    check(acct.get("/api/secrets"), "/api/secrets", 200)
    check(acct.post("/api/secrets", json={"name": "NPM_TOKEN", "value": "npm_123456",
                                          "description": "publishes"}), "/api/secrets", 201)
    check(acct.post("/api/secrets", json={"name": "NPM_TOKEN", "value": "x"}), "/api/secrets", 409)
    check(acct.post("/api/secrets", json={"name": "1bad", "value": "x"}), "/api/secrets", 422)
    listed = check(acct.get("/api/secrets"), "/api/secrets", 200).json()
    assert listed == {"custom_secrets": [{"name": "NPM_TOKEN", "description": "publishes"}]}
    path = "/api/secrets/{id}"
    check(acct.put("/api/secrets/NPM_TOKEN", json={"value": "npm_654321"}), path, 200)
    check(acct.put("/api/secrets/NPM_TOKEN", json={"name": "OTHER"}), path, 422)
    check(acct.put("/api/secrets/NOPE", json={"value": "x"}), path, 404)
    check(acct.delete("/api/secrets/NPM_TOKEN"), path, 200)
    check(acct.delete("/api/secrets/NPM_TOKEN"), path, 404)

    # -- keys
    made = check(acct.post("/api/keys", json={"name": "CI", "expires_at": "2099-01-01T00:00:00Z"}),
                 "/api/keys", 200).json()
    assert KEY_FULL_RE.match(made["key"])
    check(acct.post("/api/keys", json={"name": "old", "expires_at": "2001-01-01T00:00:00Z"}),
          "/api/keys", 422)
    check(acct.post("/api/keys", json={"name": "x", "expires_at": "soon"}), "/api/keys", 422)
    check(acct.get("/api/keys"), "/api/keys", 200)
    ci = server.api(made["key"])
    assert check(ci.get("/api/keys/current"), "/api/keys/current", 200).json()["id"] == made["id"]
    check(acct.get("/api/keys/current"), "/api/keys/current", 200)
    check(other.delete(f"/api/keys/{made['id']}"), "/api/keys/{id}", 404)
    check(acct.delete(f"/api/keys/{made['id']}"), "/api/keys/{id}", 200)
    check(ci.get("/api/keys/current"), "/api/keys/current", 401)
    check(acct.delete("/api/keys/nope"), "/api/keys/{id}", 404)

    # -- sessions, CSRF, the sign-in lock
    s, csrf, name, password = session_login(server, check)
    who = check(s.get(base + "/api/auth/session", timeout=10), "/api/auth/session", 200).json()
    assert who["via"] == "session" and who["account"]["name"] == name
    assert check(acct.get("/api/auth/session"), "/api/auth/session", 200).json()["via"] == "api_key"
    check(s.post(base + "/api/conversations", json={"initial_user_msg": "x"}, timeout=10),
          "/api/conversations", 403)
    check(s.post(base + "/api/conversations", json={"initial_user_msg": "from the page"},
                 headers={"X-CSRF-Token": csrf}, timeout=10), "/api/conversations", 200)
    check(s.post(base + "/api/auth/logout", timeout=10), "/api/auth/logout", 403)
    check(s.post(base + "/api/auth/logout", headers={"X-CSRF-Token": csrf}, timeout=10),
          "/api/auth/logout", 200)
    check(s.get(base + "/api/auth/session", timeout=10), "/api/auth/session", 401)
    check(acct.post("/api/auth/logout"), "/api/auth/logout", 200)
    login = "/api/auth/login"
    check(anon.post(login, json={"username": name}), login, 422)
    for _ in range(5):
        check(anon.post(login, json={"username": name, "password": "wrong"}), login, 401)
    check(anon.post(login, json={"username": name, "password": password}), login, 429)

    # -- routing errors the document describes in general terms
    r = anon.put("/api/conversations", json={})
    assert r.status_code == 405 and r.headers.get("Allow")
    Draft202012Validator(inline(doc, {"$ref": "#/components/schemas/ErrorDetail"})).validate(r.json())
    r = acct.get("/api/no-such-route")
    assert r.status_code == 404
    Draft202012Validator(inline(doc, {"$ref": "#/components/schemas/ErrorDetail"})).validate(r.json())

    # -- webhooks (on a server that lets them target this machine)
    if any(p.startswith("/api/webhooks") for _, p, _, _ in table):
        exercise_webhooks(check, server_factory)

    # -- every operation answered with a documented 2xx at least once
    answered = {(m, p) for m, p, s in check.seen if 200 <= s < 300}
    never = sorted(set(check.ops) - answered)
    assert not never, f"operations never answered 2xx in this test (exercise them): {never}"


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers 200 and keeps what it got."""

    def __init__(self):
        got = self.got = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def exercise_webhooks(check, server_factory):
    """Webhooks on a server that lets them target this machine and runs an agent (the scripted
    LLM finishes at once), so that a conversation has agent events and deliveries happen."""
    llm, receiver = ScriptedLLM(), Receiver()
    try:
        srv = server_factory(args=["--webhook-allow-private", "--runners", "1",
                                   "--no-change-timeout", "2", "--llm-model", "gpt-4o",
                                   "--llm-base-url", llm.base_url])
        acct = srv.new_account()
        path = "/api/webhooks"
        hook = check(acct.post(path, json={"url": receiver.url,
                                           "events": ["conversation.finished", "conversation.status"],
                                           "description": "CI"}), path, 201).json()
        check(acct.post(path, json={"url": receiver.url, "events": ["no.such.event"]}), path, 422)
        check(acct.post(path, json={"events": ["conversation.finished"]}), path, 422)
        listed = check(acct.get(path), path, 200).json()
        assert [w["id"] for w in listed["webhooks"]] == [hook["id"]]
        assert "secret" not in listed["webhooks"][0]
        one = f"/api/webhooks/{hook['id']}"
        check(acct.get(one), "/api/webhooks/{id}", 200)
        check(acct.get("/api/webhooks/" + "0" * 32), "/api/webhooks/{id}", 404)

        # a run: its conversation, its events and the deliveries it made validate too
        llm.script([{"tool_calls": [call("think", thought="Nothing to do.")]},
                    {"tool_calls": [call("finish", message="Done.")]}])
        cid = acct.create_id("Say done")
        conv = wait_stopped(acct, cid, timeout=30)
        assert conv["agent_state"] == "finished", conv
        check(acct.get(f"/api/conversations/{cid}"), "/api/conversations/{id}", 200)
        events = check(acct.get(f"/api/conversations/{cid}/events", params={"limit": 100}),
                       "/api/conversations/{id}/events", 200).json()["events"]
        assert {"think", "finish"} <= {e.get("action") for e in events}, events
        check(acct.get(f"/api/conversations/{cid}/trajectory"),
              "/api/conversations/{id}/trajectory", 200)
        deliveries = "/api/webhooks/{id}/deliveries"

        def delivered():
            r = check(acct.get(one + "/deliveries", params={"limit": 5}), deliveries, 200)
            items = r.json()["deliveries"]
            return items if any(d["status"] == "delivered" for d in items) else None
        items = wait_for(delivered, timeout=20, what="a webhook delivery")
        assert {d["event"] for d in items} <= {"conversation.finished", "conversation.status"}
        check(acct.get(one + "/deliveries", params={"limit": 0}), deliveries, 422)
        check(acct.get("/api/webhooks/" + "0" * 32 + "/deliveries"), deliveries, 404)
        check(acct.delete(one), "/api/webhooks/{id}", 200)
        check(acct.delete(one), "/api/webhooks/{id}", 404)
        # the default server refuses a loopback target
        d = server_factory().new_account()
        check(d.post(path, json={"url": receiver.url, "events": ["conversation.finished"]}), path, 422)
    finally:
        receiver.close()
        llm.close()


def test_the_checker_catches_drift(doc):
    """The validation itself: a conversation as the server writes it passes; an undocumented
    field, a missing one or a wrong type does not."""
    example = doc["paths"]["/api/conversations/{id}"]["get"]["responses"]["200"]["content"][
        "application/json"]["example"]
    v = Draft202012Validator(inline(doc, {"$ref": "#/components/schemas/Conversation"}))
    assert v.is_valid(example)
    assert not v.is_valid({**example, "undocumented": 1})
    assert not v.is_valid({k: x for k, x in example.items() if k != "status"})
    assert not v.is_valid({**example, "pr_number": "12"})
    assert not v.is_valid({**example, "created_at": "2025-04-29 15:13"})
