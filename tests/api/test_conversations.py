"""Conversation CRUD, listing and paging, stop/start, events."""

import pytest

from conftest import CONV_ID_RE, TS_RE

SEED_MSG = ("Check whether there is any incorrect information in the README.md file "
            "and send a PR to fix it if so.")


# -- create / get ---------------------------------------------------------------------------
def test_create_answer_shape(account):
    r = account.create(SEED_MSG, repository="yourusername/your-repo")
    body = r.json()
    assert "application/json" in r.headers.get("Content-Type", "")
    assert body["status"] == "ok"
    assert CONV_ID_RE.match(body["conversation_id"]), body
    assert body["conversation_status"] == "STARTING"
    assert body["id"] == body["conversation_id"]


def test_create_ids_are_unique(account):
    ids = set()
    for i in range(5):
        ids.add(account.create_id(f"task {i}"))
    assert len(ids) == 5


def test_get_conversation_fields(account):
    cid = account.create_id(SEED_MSG, repository="octo/hello-world", selected_branch="main",
                            git_provider="github")
    c = account.conv(cid)
    assert isinstance(c, dict), c
    assert c["conversation_id"] == cid
    assert isinstance(c["title"], str) and c["title"].strip(), c
    assert TS_RE.match(c["created_at"]), c["created_at"]
    assert TS_RE.match(c["last_updated_at"]), c["last_updated_at"]
    assert c["last_updated_at"] >= c["created_at"]
    assert c["status"] == "STARTING"
    assert c["selected_repository"] == "octo/hello-world"
    assert c["selected_branch"] == "main"
    assert c["git_provider"] == "github"
    assert c["trigger"] == "openhands_api"
    assert "runtime_status" in c
    assert "url" in c
    assert isinstance(c["pr_number"], list)
    assert all(isinstance(n, int) for n in c["pr_number"])
    assert c["conversation_version"] == "V0"
    assert isinstance(c["num_connections"], int) and not isinstance(c["num_connections"], bool)
    assert c["session_api_key"] is None
    assert isinstance(c["agent_state"], str) and c["agent_state"], c
    assert "branch" in c
    assert isinstance(c["pull_requests"], list)
    assert "error" in c
    m = c["metrics"]
    assert isinstance(m, dict), m
    for k in ("llm_calls", "prompt_tokens", "completion_tokens", "cost_usd"):
        assert k in m, m
        assert isinstance(m[k], (int, float)) and not isinstance(m[k], bool), m


def test_get_conversation_without_repository(account):
    cid = account.create_id("no repo here")
    c = account.conv(cid)
    assert c["selected_repository"] is None
    assert c["trigger"] == "openhands_api"


@pytest.mark.parametrize("provider", ["github", "gitlab", "git"])
def test_create_accepts_every_git_provider(account, provider):
    cid = account.create_id("x", repository="a/b", git_provider=provider)
    assert account.conv(cid)["git_provider"] == provider


def test_create_with_all_optional_fields(account):
    r = account.create("do it", repository="my-org/my.repo_name-2", selected_branch="feature/x",
                       git_provider="gitlab", conversation_instructions="be brief",
                       image_urls=["https://example.com/a.png", "https://example.com/b.png"])
    cid = r.json()["conversation_id"]
    c = account.conv(cid)
    assert c["selected_repository"] == "my-org/my.repo_name-2"
    assert c["selected_branch"] == "feature/x"


@pytest.mark.parametrize("bad_id", ["0" * 32, "f" * 32, "not-an-id", "xyz", "0" * 31, "g" * 32,
                                    "0" * 33, "A" * 32])
def test_get_missing_or_malformed_id_is_null(account, bad_id):
    r = account.get(f"/api/conversations/{bad_id}")
    assert r.status_code == 200, r.text
    assert r.json() is None
    assert r.text.strip() == "null"


def test_other_accounts_conversation_is_null(server, account):
    cid = account.create_id("private")
    other = server.new_account()
    r = other.get(f"/api/conversations/{cid}")
    assert r.status_code == 200, r.text
    assert r.json() is None
    assert other.patch(f"/api/conversations/{cid}", json={"title": "mine now"}).json() is False
    assert other.delete(f"/api/conversations/{cid}").json() is False
    assert other.post(f"/api/conversations/{cid}/stop").status_code == 404
    assert other.post(f"/api/conversations/{cid}/start").status_code == 404
    ev = other.get(f"/api/conversations/{cid}/events")
    assert ev.status_code == 404 or ev.json() in (None, {"events": [], "has_more": False}), ev.text
    # still intact for the owner
    c = account.conv(cid)
    assert c["status"] == "STARTING" and c["title"] != "mine now"


def test_uppercase_id_is_not_an_alias(account):
    cid = account.create_id("case")
    r = account.get(f"/api/conversations/{cid.upper()}")
    assert r.status_code == 200
    assert r.json() is None or r.json()["conversation_id"] == cid


# -- list -----------------------------------------------------------------------------------
def make_stopped(account, n, **fields):
    ids = []
    for i in range(n):
        cid = account.create_id(f"task {i}", **fields)
        account.stop_conv(cid)
        ids.append(cid)
    return ids


def test_list_shape_and_newest_first(account):
    ids = make_stopped(account, 3)
    r = account.get("/api/conversations")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"results", "next_page_id"}
    assert body["next_page_id"] is None
    assert [c["conversation_id"] for c in body["results"]] == ids[::-1]
    for c in body["results"]:
        assert TS_RE.match(c["created_at"])
        assert c["trigger"] == "openhands_api"
        assert c["status"] == "STOPPED"


def test_list_default_limit_is_20_and_pages_cover_everything(account):
    ids = make_stopped(account, 25)
    r = account.get("/api/conversations")
    body = r.json()
    assert len(body["results"]) == 20
    assert isinstance(body["next_page_id"], str) and body["next_page_id"]
    assert [c["conversation_id"] for c in body["results"]] == ids[::-1][:20]
    # page through with limit 7
    seen, page_id, pages = [], None, 0
    while True:
        params = {"limit": 7}
        if page_id:
            params["page_id"] = page_id
        body = account.get("/api/conversations", params=params).json()
        pages += 1
        assert len(body["results"]) <= 7
        seen += [c["conversation_id"] for c in body["results"]]
        page_id = body["next_page_id"]
        if not page_id:
            break
        assert pages < 10
    assert seen == ids[::-1]
    assert len(set(seen)) == 25
    assert pages == 4


def test_paging_with_exact_multiple(account):
    ids = make_stopped(account, 4)
    body = account.get("/api/conversations", params={"limit": 2}).json()
    assert len(body["results"]) == 2
    body2 = account.get("/api/conversations", params={"limit": 2, "page_id": body["next_page_id"]}).json()
    assert len(body2["results"]) == 2
    got = [c["conversation_id"] for c in body["results"] + body2["results"]]
    assert got == ids[::-1]
    if body2["next_page_id"]:  # allowed to hand out one more (empty) page, but nothing in it
        body3 = account.get("/api/conversations",
                            params={"limit": 2, "page_id": body2["next_page_id"]}).json()
        assert body3["results"] == [] and body3["next_page_id"] is None


def test_paging_is_stable_when_new_conversations_arrive(account):
    ids = make_stopped(account, 5)
    body = account.get("/api/conversations", params={"limit": 3}).json()
    newer = account.create_id("arrived during paging")
    body2 = account.get("/api/conversations", params={"limit": 3, "page_id": body["next_page_id"]}).json()
    got = [c["conversation_id"] for c in body["results"] + body2["results"]]
    assert got == ids[::-1]
    assert newer not in got


@pytest.mark.parametrize("limit", [0, -1, 101, 1000])
def test_list_limit_out_of_range_is_422(account, limit):
    r = account.get("/api/conversations", params={"limit": limit})
    assert r.status_code == 422, r.text


def test_list_limit_bounds_accepted(account):
    make_stopped(account, 2)
    assert len(account.get("/api/conversations", params={"limit": 1}).json()["results"]) == 1
    assert len(account.get("/api/conversations", params={"limit": 100}).json()["results"]) == 2


@pytest.mark.parametrize("limit", ["abc", "1.5", ""])
def test_list_limit_not_integer_is_422(account, limit):
    r = account.get(f"/api/conversations?limit={limit}")
    assert r.status_code == 422 or (limit == "" and r.status_code == 200), r.text


@pytest.mark.parametrize("page_id", ["garbage!!", "x" * 300, "-1", "%00"])
def test_list_bad_page_id_is_422(account, page_id):
    make_stopped(account, 2)
    r = account.get(f"/api/conversations?page_id={page_id}")
    assert r.status_code == 422, r.text


def test_list_filters(account):
    a = make_stopped(account, 2, repository="org/alpha")
    b = make_stopped(account, 1, repository="org/beta")
    running = account.create_id("still starting", repository="org/alpha")
    got = account.list_all(selected_repository="org/alpha")
    assert [c["conversation_id"] for c in got] == [running] + a[::-1]
    got = account.list_all(selected_repository="org/beta")
    assert [c["conversation_id"] for c in got] == b
    assert account.list_all(selected_repository="org/none") == []
    assert len(account.list_all(conversation_trigger="openhands_api")) == 4
    assert account.list_all(conversation_trigger="gui") == []
    got = account.list_all(status="STOPPED")
    assert sorted(c["conversation_id"] for c in got) == sorted(a + b)
    assert all(c["status"] == "STOPPED" for c in got)
    got = account.list_all(status="STARTING")
    assert [c["conversation_id"] for c in got] == [running]
    got = account.list_all(status="STOPPED", selected_repository="org/alpha")
    assert [c["conversation_id"] for c in got] == a[::-1]


def test_paging_with_filters(account):
    stopped = make_stopped(account, 7, repository="org/paged")
    make_stopped(account, 3, repository="org/other")
    for i in range(2):
        account.create_id(f"active {i}", repository="org/paged")
    seen, page_id = [], None
    for _ in range(10):
        params = {"limit": 3, "status": "STOPPED", "selected_repository": "org/paged"}
        if page_id:
            params["page_id"] = page_id
        r = account.get("/api/conversations", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [c["conversation_id"] for c in body["results"]]
        page_id = body["next_page_id"]
        if not page_id:
            break
    assert seen == stopped[::-1]


def test_page_id_of_another_account_shows_only_own(server, account):
    make_stopped(account, 5)
    page_id = account.get("/api/conversations", params={"limit": 2}).json()["next_page_id"]
    other = server.new_account()
    mine = other.create_id("other's only conversation")
    r = other.get("/api/conversations", params={"limit": 2, "page_id": page_id})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        ids = [c["conversation_id"] for c in r.json()["results"]]
        assert set(ids) <= {mine}, ids


@pytest.mark.parametrize("status", ["BOGUS", "stopped", "", "RUNNING;DROP TABLE"])
def test_list_bad_status_filter_is_422(account, status):
    r = account.get("/api/conversations", params={"status": status})
    if status == "":
        assert r.status_code in (200, 422), r.text
    else:
        assert r.status_code == 422, r.text


def test_list_only_callers_conversations(server, account):
    mine = make_stopped(account, 2)
    other = server.new_account()
    theirs = other.create_id("someone else's")
    assert [c["conversation_id"] for c in account.list_all()] == mine[::-1]
    assert [c["conversation_id"] for c in other.list_all()] == [theirs]


# -- patch ----------------------------------------------------------------------------------
def test_patch_title(account):
    cid = account.create_id("rename me")
    r = account.patch(f"/api/conversations/{cid}", json={"title": "Update README.md"})
    assert r.status_code == 200, r.text
    assert r.json() is True
    c = account.conv(cid)
    assert c["title"] == "Update README.md"
    assert account.list_all()[0]["title"] == "Update README.md"


def test_patch_title_unicode_and_200_chars(account):
    cid = account.create_id("rename me")
    title = "修正 README — ✓ " + "x" * 186
    assert len(title) == 200
    assert account.patch(f"/api/conversations/{cid}", json={"title": title}).json() is True
    assert account.conv(cid)["title"] == title


def test_patch_missing_conversation_is_false(account):
    r = account.patch("/api/conversations/" + "0" * 32, json={"title": "x"})
    assert r.status_code == 200, r.text
    assert r.json() is False


@pytest.mark.parametrize("body", [{}, {"title": 5}, {"title": None}, {"title": ["a"]},
                                  {"title": "ok", "unknown_field": 1}, {"title": "x" * 201}])
def test_patch_invalid_is_422(account, body):
    cid = account.create_id("keep my title")
    before = account.conv(cid)["title"]
    r = account.patch(f"/api/conversations/{cid}", json=body)
    assert r.status_code == 422, r.text
    assert "detail" in r.json()
    assert account.conv(cid)["title"] == before


# -- delete ---------------------------------------------------------------------------------
def test_delete_conversation(account):
    cid = account.create_id("delete me")
    keep = account.create_id("keep me")
    r = account.delete(f"/api/conversations/{cid}")
    assert r.status_code == 200, r.text
    assert r.json() is True
    assert account.get(f"/api/conversations/{cid}").json() is None
    assert [c["conversation_id"] for c in account.list_all()] == [keep]
    r = account.delete(f"/api/conversations/{cid}")
    assert r.status_code == 200
    assert r.json() is False


def test_delete_frees_a_slot(server):
    acct = server.new_account(max_concurrent=1)
    cid = acct.create_id("one")
    acct.create("two", expect=429)
    assert acct.delete(f"/api/conversations/{cid}").json() is True
    acct.create("three", expect=200)


# -- stop / start ---------------------------------------------------------------------------
def test_stop_and_start(account):
    cid = account.create_id("stop me")
    r = account.post(f"/api/conversations/{cid}/stop")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["conversation_id"] == cid
    assert isinstance(body["message"], str)
    assert body["conversation_status"] == "STOPPED"
    assert account.conv(cid)["status"] == "STOPPED"
    r = account.post(f"/api/conversations/{cid}/start")
    assert r.status_code == 200, r.text
    assert account.conv(cid)["status"] == "STARTING"


def test_stop_and_start_missing_is_404(account):
    for action in ("stop", "start"):
        r = account.post(f"/api/conversations/{'0' * 32}/{action}")
        assert r.status_code == 404, r.text
        assert "detail" in r.json()


def test_last_updated_at_moves_on_change(account):
    cid = account.create_id("timestamps")
    c0 = account.conv(cid)
    account.patch(f"/api/conversations/{cid}", json={"title": "new"})
    c1 = account.conv(cid)
    assert c1["created_at"] == c0["created_at"]
    assert c1["last_updated_at"] >= c0["last_updated_at"]


# -- events ---------------------------------------------------------------------------------
def test_first_event_is_the_users_message(account):
    urls = ["https://example.com/shot.png"]
    cid = account.create_id(SEED_MSG, repository="a/b", image_urls=urls)
    r = account.get(f"/api/conversations/{cid}/events")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"events", "has_more"}
    assert isinstance(body["has_more"], bool)
    assert body["events"], body
    e = body["events"][0]
    assert e["id"] == 0
    assert isinstance(e["timestamp"], str) and e["timestamp"]
    assert e["source"] == "user"
    assert e["message"] == SEED_MSG
    assert e["action"] == "message"
    assert e["args"]["content"] == SEED_MSG
    assert e["args"]["image_urls"] == urls


def test_first_event_without_images(account):
    cid = account.create_id("plain")
    e = account.get(f"/api/conversations/{cid}/events").json()["events"][0]
    assert e["args"]["content"] == "plain"
    assert e["args"]["image_urls"] in ([], None)


def test_events_limit_over_100_is_400(account):
    cid = account.create_id("events")
    r = account.get(f"/api/conversations/{cid}/events", params={"limit": 101})
    assert r.status_code == 400, r.text
    r = account.get(f"/api/conversations/{cid}/events", params={"limit": 100})
    assert r.status_code == 200, r.text


def test_events_start_id_and_limit(account):
    cid = account.create_id("events")
    r = account.get(f"/api/conversations/{cid}/events", params={"start_id": 0, "limit": 1})
    body = r.json()
    assert len(body["events"]) == 1 and body["events"][0]["id"] == 0
    r = account.get(f"/api/conversations/{cid}/events", params={"start_id": 100000})
    assert r.json()["events"] == []
    assert r.json()["has_more"] is False
