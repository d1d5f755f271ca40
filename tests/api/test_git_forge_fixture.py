"""Self-test of the fake git forge (tests/fixtures/git_forge.py): real git clones and pushes
over smart HTTP, the GitHub and GitLab REST subsets, the auth rules and the control
endpoints. It needs no cloudhands binary."""

import os
from urllib.parse import quote

import pytest
import requests

from forge import GitForge, basic_auth_header, git

ALICE, READONLY, BOB = "ghp_alice", "ghp_readonly", "ghp_bob"
TOKENS = {
    ALICE: {"login": "alice", "repos": ["alice/app", "group/sub/proj", "alice/trunk"]},
    READONLY: {"login": "carol", "repos": ["alice/app", "group/sub/proj"], "push": False},
    BOB: {"login": "bob", "repos": ["bob/secret"], "push": True},
}
PUBLIC = ["alice/pub"]


@pytest.fixture(scope="module")
def forge(tmp_path_factory):
    root = tmp_path_factory.mktemp("forge")
    f = GitForge(root)
    f.make_repo("alice/app", {"README.md": "# app\n", "src/main.c": "int main(void){}\n"})
    f.make_repo("alice/pub", {"README.md": "public\n"})
    f.make_repo("alice/trunk", {"README.md": "trunk\n"}, branch="trunk",
                extra_branches={"feature": {"feature.txt": "x\n"}})
    f.make_repo("bob/secret", {"README.md": "secret\n"})
    f.make_repo("group/sub/proj", {"README.md": "gitlab\n"}, extra_branches=["topic"])
    yield f
    f.close()


@pytest.fixture
def gf(forge):
    forge.setup(tokens=TOKENS, public=PUBLIC)
    forge.reset()
    return forge


def gh(gf, method, path, token=None, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, gf.url + path, headers=headers, timeout=10, **kw)


def clone(gf, full, dest, token=None, user="x-access-token"):
    args = ["-c", f"http.extraHeader={basic_auth_header(token, user)}"] if token else []
    return git(*args, "clone", "-q", gf.clone_url(full), dest, check=False)


# -- git smart HTTP --------------------------------------------------------------------------

def test_clone_with_token(gf, tmp_path):
    p = clone(gf, "alice/app", tmp_path / "app", ALICE)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "app" / "README.md").read_text() == "# app\n"
    assert (tmp_path / "app" / "src" / "main.c").exists()
    log = [r for r in gf.requests() if r["kind"] == "git"]
    assert log and all(r["auth"] == ALICE for r in log)
    assert log[0]["path"] == "/alice/app.git/info/refs?service=git-upload-pack"


def test_clone_any_user_name_and_bearer(gf, tmp_path):
    p = clone(gf, "alice/app", tmp_path / "a", ALICE, user="oauth2")
    assert p.returncode == 0, p.stderr
    p = git("-c", f"http.extraHeader=Authorization: Bearer {ALICE}", "clone", "-q",
            gf.clone_url("alice/app"), tmp_path / "b", check=False)
    assert p.returncode == 0, p.stderr


def test_clone_private_without_token_fails(gf, tmp_path):
    p = clone(gf, "alice/app", tmp_path / "x")
    assert p.returncode != 0
    assert not (tmp_path / "x" / "README.md").exists()
    assert [r["status"] for r in gf.requests() if r["kind"] == "git"] == [401]


def test_clone_public_without_token(gf, tmp_path):
    p = clone(gf, "alice/pub", tmp_path / "pub")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "pub" / "README.md").read_text() == "public\n"


def test_clone_wrong_token_fails(gf, tmp_path):
    p = clone(gf, "alice/app", tmp_path / "x", "ghp_wrong")
    assert p.returncode != 0
    assert [r["status"] for r in gf.requests() if r["kind"] == "git"] == [401]
    # Another user's valid token: the repository does not exist for it.
    p = clone(gf, "alice/app", tmp_path / "y", BOB)
    assert p.returncode != 0 and "not found" in p.stderr.lower(), p.stderr
    p = clone(gf, "alice/missing", tmp_path / "z", ALICE)
    assert p.returncode != 0 and "not found" in p.stderr.lower(), p.stderr


def test_push_with_and_without_push_permission(gf, tmp_path):
    work = tmp_path / "w"
    assert clone(gf, "alice/app", work, ALICE).returncode == 0
    git("checkout", "-q", "-b", "fix", cwd=work)
    # Over 1 MB, so git sends the pack with Transfer-Encoding: chunked.
    (work / "big.bin").write_bytes(os.urandom(3 << 20))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "big", cwd=work)
    p = git("-c", f"http.extraHeader={basic_auth_header(READONLY)}", "push", "-q", "origin",
            "fix", cwd=work, check=False)
    assert p.returncode != 0 and "403" in p.stderr, p.stderr
    p = git("-c", f"http.extraHeader={basic_auth_header(ALICE)}", "push", "-q", "origin", "fix",
            cwd=work, check=False)
    assert p.returncode == 0, p.stderr
    bare = gf.root / "alice" / "app.git"
    sha = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert git("--git-dir", bare, "rev-parse", "refs/heads/fix").stdout.strip() == sha
    statuses = [(r["method"], r["path"].split("?")[0], r["auth"], r["status"])
                for r in gf.requests() if r["kind"] == "git"]
    assert ("POST", "/alice/app.git/git-receive-pack", ALICE, 200) in statuses
    # The pushed branch comes back intact through a fresh clone.
    back = tmp_path / "back"
    p = git("-c", f"http.extraHeader={basic_auth_header(ALICE)}", "clone", "-q", "-b", "fix",
            gf.clone_url("alice/app"), back, check=False)
    assert p.returncode == 0, p.stderr
    assert (back / "big.bin").read_bytes() == (work / "big.bin").read_bytes()


# -- GitHub REST ----------------------------------------------------------------------------

def test_github_user_and_repo(gf):
    r = gh(gf, "GET", "/user", ALICE)
    assert r.status_code == 200 and r.json()["login"] == "alice" and r.json()["type"] == "User"
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.headers["X-RateLimit-Limit"] == "5000"
    assert int(r.headers["X-RateLimit-Reset"]) > 1_600_000_000
    assert gh(gf, "GET", "/user", "nope").json()["message"] == "Bad credentials"

    r = gh(gf, "GET", "/repos/alice/app", ALICE)
    assert r.status_code == 200, r.text
    repo = r.json()
    assert repo["full_name"] == "alice/app" and repo["default_branch"] == "main"
    assert repo["private"] is True and repo["owner"]["login"] == "alice"
    assert repo["permissions"] == {"admin": False, "maintain": False, "push": True,
                                   "triage": True, "pull": True}
    assert repo["clone_url"] == f"{gf.url}/alice/app.git"
    assert repo["html_url"] == f"{gf.url}/alice/app"
    r = gh(gf, "GET", "/repos/alice/trunk", ALICE)
    assert r.json()["default_branch"] == "trunk"
    r = gh(gf, "GET", "/repos/alice/app", headers={"Authorization": f"token {READONLY}"})
    assert r.status_code == 200 and r.json()["permissions"]["push"] is False

    r = gh(gf, "GET", "/repos/bob/secret", ALICE)
    assert r.status_code == 404 and r.json()["message"] == "Not Found"
    assert gh(gf, "GET", "/repos/alice/nothing", ALICE).status_code == 404
    assert gh(gf, "GET", "/repos/alice/app").status_code == 404
    r = gh(gf, "GET", "/repos/alice/app", "ghp_bad")
    assert r.status_code == 401 and r.json()["message"] == "Bad credentials"
    r = gh(gf, "GET", "/repos/alice/pub")
    assert r.status_code == 200 and r.json()["private"] is False
    assert r.json()["permissions"]["push"] is False
    assert [q["auth"] for q in gf.requests()][:2] == [ALICE, None]


def test_github_pull_requests(gf):
    body = {"title": "Add feature", "head": "feature", "base": "trunk", "body": "Closes #1"}
    r = gh(gf, "POST", "/repos/alice/trunk/pulls", ALICE, json=body)
    assert r.status_code == 201, r.text
    pr = r.json()
    assert pr["number"] == 1 and pr["state"] == "open" and pr["title"] == "Add feature"
    assert pr["html_url"] == f"{gf.url}/alice/trunk/pull/1"
    assert pr["head"]["ref"] == "feature" and pr["head"]["label"] == "alice:feature"
    assert len(pr["head"]["sha"]) == 40 and pr["base"]["ref"] == "trunk"
    assert pr["user"]["login"] == "alice"

    r = gh(gf, "POST", "/repos/alice/trunk/pulls", ALICE, json={**body, "head": "alice:feature"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["message"] == "A pull request already exists for alice:feature."

    r = gh(gf, "POST", "/repos/alice/trunk/pulls", ALICE, json={**body, "head": "nope"})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]
    r = gh(gf, "POST", "/repos/alice/trunk/pulls", ALICE, json={**body, "base": "nope"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "base"
    r = gh(gf, "POST", "/repos/alice/trunk/pulls", ALICE, json={"head": "feature", "base": "trunk"})
    assert r.status_code == 422 and r.json()["message"] == "Validation Failed"
    r = gh(gf, "POST", "/repos/alice/app/pulls", READONLY,
           json={"title": "t", "head": "main", "base": "main"})
    assert r.status_code == 403
    assert r.json()["message"] == "Resource not accessible by personal access token"
    r = gh(gf, "POST", "/repos/alice/trunk/pulls", ALICE, data=b"{not json",
           headers={"Content-Type": "application/json"})
    assert r.status_code == 400

    r = gh(gf, "GET", "/repos/alice/trunk/pulls?head=alice:feature&state=open", ALICE)
    assert r.status_code == 200 and [p["number"] for p in r.json()] == [1]
    r = gh(gf, "GET", "/repos/alice/trunk/pulls?head=alice:other&state=open", ALICE)
    assert r.json() == []
    assert gf.pulls() == [{"provider": "github", "repo": "alice/trunk", "number": 1,
                           "title": "Add feature", "body": "Closes #1", "head": "feature",
                           "base": "trunk", "url": f"{gf.url}/alice/trunk/pull/1",
                           "state": "open", "draft": False, "user": "alice"}]


def test_github_rate_limit(gf):
    gf.setup(tokens=TOKENS, public=PUBLIC, rate_limited=True)
    for path in ("/user", "/repos/alice/app"):
        r = gh(gf, "GET", path, ALICE)
        assert r.status_code == 403
        assert r.json()["message"] == "API rate limit exceeded for user ID 1."
        assert r.headers["X-RateLimit-Remaining"] == "0"
        assert int(r.headers["X-RateLimit-Reset"]) > 1_600_000_000
    # git is not rate limited
    assert requests.get(gf.url + "/alice/pub.git/info/refs?service=git-upload-pack",
                        timeout=10).status_code == 200


# -- GitLab REST ----------------------------------------------------------------------------

def test_gitlab_projects_and_merge_requests(gf):
    tok = {"PRIVATE-TOKEN": ALICE}
    api = gf.url + "/api/v4"
    r = requests.get(api + "/user", headers=tok, timeout=10)
    assert r.status_code == 200 and r.json()["username"] == "alice"
    assert requests.get(api + "/user", timeout=10).status_code == 401
    r = requests.get(api + "/user", headers={"PRIVATE-TOKEN": "bad"}, timeout=10)
    assert r.status_code == 401 and r.json() == {"message": "401 Unauthorized"}

    enc = quote("group/sub/proj", safe="")
    r = requests.get(f"{api}/projects/{enc}", headers=tok, timeout=10)
    assert r.status_code == 200, r.text
    proj = r.json()
    assert proj["path_with_namespace"] == "group/sub/proj" and proj["path"] == "proj"
    assert proj["default_branch"] == "main" and proj["visibility"] == "private"
    assert proj["web_url"] == f"{gf.url}/group/sub/proj"
    assert proj["http_url_to_repo"] == f"{gf.url}/group/sub/proj.git"
    assert proj["permissions"]["project_access"]["access_level"] == 30
    r = requests.get(f"{api}/projects/{proj['id']}", headers={"PRIVATE-TOKEN": READONLY},
                     timeout=10)
    assert r.status_code == 200 and r.json()["permissions"]["project_access"]["access_level"] == 20
    r = requests.get(f"{api}/projects/{enc}", headers={"Authorization": f"Bearer {BOB}"},
                     timeout=10)
    assert r.status_code == 404 and r.json() == {"message": "404 Project Not Found"}

    mr = {"source_branch": "topic", "target_branch": "main", "title": "Topic",
          "description": "desc"}
    r = requests.post(f"{api}/projects/{enc}/merge_requests", headers=tok, json=mr, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["iid"] == 1 and r.json()["state"] == "opened"
    assert r.json()["web_url"] == f"{gf.url}/group/sub/proj/-/merge_requests/1"
    # Form-encoded, by numeric id: the same source branch is refused.
    r = requests.post(f"{api}/projects/{proj['id']}/merge_requests", headers=tok, data=mr,
                      timeout=10)
    assert r.status_code == 409
    assert r.json() == {"message": ["Another open merge request already exists for this source "
                                    "branch: !1"]}
    r = requests.post(f"{api}/projects/{enc}/merge_requests", headers=tok,
                      json={**mr, "source_branch": "gone"}, timeout=10)
    assert r.status_code == 400 and isinstance(r.json()["message"], list)
    r = requests.post(f"{api}/projects/{enc}/merge_requests", headers={"PRIVATE-TOKEN": READONLY},
                      json=mr, timeout=10)
    assert r.status_code == 403 and r.json() == {"message": "403 Forbidden"}
    r = requests.get(f"{api}/projects/{enc}/merge_requests?source_branch=topic&state=opened",
                     headers=tok, timeout=10)
    assert [m["iid"] for m in r.json()] == [1]
    assert [(p["provider"], p["repo"], p["head"], p["base"]) for p in gf.pulls()] == [
        ("gitlab", "group/sub/proj", "topic", "main")]


def test_gitlab_nested_clone(gf, tmp_path):
    p = git("-c", f"http.extraHeader={basic_auth_header(ALICE, 'oauth2')}", "clone", "-q",
            "-b", "topic", gf.clone_url("group/sub/proj"), tmp_path / "p", check=False)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "p" / "README.md").read_text() == "gitlab\n"


# -- control and robustness -----------------------------------------------------------------

def test_control_and_errors(gf):
    r = requests.post(gf.url + "/_setup", data=b"{bad", timeout=10)
    assert r.status_code == 400
    r = requests.post(gf.url + "/_setup", json={"tokens": {"t": {"login": "x", "repo": []}}},
                      timeout=10)
    assert r.status_code == 400 and "unknown keys" in r.json()["message"]
    r = requests.get(gf.url + "/no/such/thing", timeout=10)
    assert r.status_code == 404 and r.json()["message"] == "Not Found"
    r = requests.get(gf.url + "/api/v4/nothing", timeout=10)
    assert r.status_code == 404
    r = requests.get(gf.url + "/nobody/nothing.git/info/refs?service=git-upload-pack",
                     timeout=10)
    assert r.status_code == 404  # a repository that does not exist
    log = gf.requests()
    assert [(q["kind"], q["status"]) for q in log] == [
        ("control", 400), ("control", 400), ("github", 404), ("gitlab", 404), ("git", 404)]
    gf.reset()
    assert gf.requests() == [] and gf.pulls() == []
