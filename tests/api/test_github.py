"""Repositories (issue 4) on GitHub and GitLab: the server talks to the fake forge
(tests/fixtures/git_forge.py) through its production REST client and real git over smart HTTP,
the scripted LLM plays the model. The seed's task end to end (a README typo fixed, a pull request
opened whose head branch holds the fix), follow-ups on the same pull request, no changes, the
access check at POST /api/conversations, token hygiene, GitHub's rate limit, GitLab merge requests
in nested groups, --expose-provider-token, selected_branch and bad input.

One server and one forge serve the module; every test makes its own accounts and its own
repositories (PR numbers count per repository), and waits for its conversations to stop so the
shared scripted LLM serves one test at a time."""

import base64
import json
import os
import re
import subprocess

import pytest
import requests

from agent_helpers import FAST_ENV, agent_args, all_events, db_dump, db_raw, wait_for, wait_stopped
from conftest import CONV_ID_RE, Server, unique
from forge import GitForge, git
from llm import ScriptedLLM, call

BRANCH_RE = re.compile(r"^openhands-workspace-[a-z0-9]{8}$")
README = "# Demo\n\nThis project is writen in C.\n"
FIXED = README.replace("writen", "written")
SUMMARY = "Fix a typo in the README\n\nwriten -> written"
TITLE = "Fix a typo in the README"

TOKEN = "ghp_" + os.urandom(16).hex()          # alice: every repository, push
LIMITED = "ghp_" + os.urandom(16).hex()        # bob: only bob/own
REVOKED = "ghp_" + os.urandom(16).hex()        # valid until a test revokes it
GL_TOKEN = "glpat-" + os.urandom(12).hex()     # GitLab: every project
HYGIENE = "ghp_" + os.urandom(16).hex()        # the token-hygiene test's own token
SERVER_TOKEN = "ghp_" + os.urandom(16).hex()   # the --expose-provider-token server's own token
READONLY = "ghp_" + os.urandom(16).hex()       # dave: reads everything, pushes nothing


def tokens(revoked=True):
    t = {
        TOKEN: {"login": "alice", "repos": "*"},
        LIMITED: {"login": "bob", "repos": ["bob/own"]},
        GL_TOKEN: {"login": "gl-alice", "repos": "*"},
        HYGIENE: {"login": "hygiene", "repos": "*"},
        SERVER_TOKEN: {"login": "operator", "repos": "*"},
        READONLY: {"login": "dave", "repos": "*", "push": False},
    }
    if revoked:
        t[REVOKED] = {"login": "carol", "repos": "*"}
    return t


PUBLIC = ["pub/lib"]


@pytest.fixture(scope="module")
def llm():
    s = ScriptedLLM()
    yield s
    s.close()


@pytest.fixture(scope="module")
def forge(tmp_path_factory):
    f = GitForge(tmp_path_factory.mktemp("forge"))
    f.make_repo("pub/lib", {"README.md": "a public library\n"})
    f.make_repo("bob/own", {"README.md": "bob's\n"})
    f.setup(tokens=tokens(), public=PUBLIC)
    yield f
    f.close()


def forge_flags(forge):
    return ["--github-api-url", forge.url, "--github-url", forge.url, "--gitlab-url", forge.url]


@pytest.fixture(scope="module")
def server(tmp_path_factory, llm, forge):
    srv = Server(tmp_path_factory.mktemp("gh-srv"),
                 args=agent_args(llm, runners=2, extra=forge_flags(forge)), env=FAST_ENV)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def gf(forge, server):
    """The forge in its standard configuration (a test may change it; the next gets it back)."""
    assert server.proc is not None and server.proc.poll() is None, \
        f"the server died\nstderr:\n{server.stderr()}"
    forge.setup(tokens=tokens(), public=PUBLIC)
    yield forge
    forge.setup(tokens=tokens(), public=PUBLIC)


# -- helpers ---------------------------------------------------------------------------------

def account(server, token=TOKEN, provider="github"):
    """A fresh account that added `token` for `provider` (None: no token)."""
    api = server.new_account()
    if token is not None:
        r = api.post("/api/add-git-providers",
                     json={"provider_tokens": {provider: {"token": token, "host": ""}}})
        assert r.status_code == 200, r.text
    return api


def new_repo(forge, owner="alice", files=None, **kw):
    full = f"{owner}/{unique('r')}"
    forge.make_repo(full, files or {"README.md": README, "src/main.c": "int main(void){}\n"}, **kw)
    return full


def bare(forge, full):
    return forge.root / f"{full}.git"


def pulls_of(forge, full):
    return [p for p in forge.pulls() if p["repo"] == full]


def git_events(api, cid):
    return [e for e in all_events(api, cid) if e.get("observation") == "git"]


def branches(forge, full):
    out = git("--git-dir", bare(forge, full), "for-each-ref", "--format=%(refname:short)",
              "refs/heads").stdout
    return sorted(out.split())


def fix_typo_script(repo_dir, summary=SUMMARY, first=()):
    return [*first,
            {"tool_calls": [call("str_replace_editor", command="str_replace",
                                 path=f"/workspace/{repo_dir}/README.md", old_str="writen",
                                 new_str="written")]},
            {"tool_calls": [call("finish", message=summary)]}]


def wait_git_events(api, cid, n, timeout=30):
    wait_for(lambda: len(git_events(api, cid)) >= n, timeout, what=f"{n} git events")
    return wait_stopped(api, cid, timeout=timeout)


def check_pr_run(forge, api, cid, full, base="main", title=TITLE):
    """The run finished with one pull request whose head branch holds the fix."""
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "finished", c.get("error")
    branch = c["branch"]
    assert BRANCH_RE.match(branch or ""), c
    prs = pulls_of(forge, full)
    assert len(prs) == 1, prs
    pr = prs[0]
    assert pr["provider"] == "github"
    assert (pr["head"], pr["base"], pr["title"], pr["state"]) == (branch, base, title, "open")
    assert c["pull_requests"] == [{"number": pr["number"], "url": pr["url"]}]
    assert c["pr_number"] == [pr["number"]] == [1]
    assert pr["url"] == f"{forge.url}/{full}/pull/1"
    g = bare(forge, full)
    assert git("--git-dir", g, "show", f"{branch}:README.md").stdout == FIXED
    assert git("--git-dir", g, "rev-parse", f"{branch}^").stdout == \
        git("--git-dir", g, "rev-parse", base).stdout
    return c, pr


# -- 1. the seed's task ----------------------------------------------------------------------

def test_the_seed_task_opens_a_pull_request_with_the_fix(server, llm, gf):
    full = new_repo(gf)
    name = full.split("/")[1]
    llm.script(fix_typo_script(name))
    api = account(server)
    cid = api.create_id("Check whether there is any incorrect information in the README.md file "
                        "and send a PR to fix it if so.", repository=full)
    c, pr = check_pr_run(gf, api, cid, full)
    assert c["selected_repository"] == full and c["git_provider"] == "github"
    assert c["selected_branch"] is None
    assert pr["user"] == "alice"
    assert pr["body"].startswith(SUMMARY)
    g = bare(gf, full)
    log = git("--git-dir", g, "log", "-n", "1", "--format=%an <%ae>|%s", c["branch"]).stdout
    assert log.strip() == f"openhands <openhands@all-hands.dev>|{TITLE}"
    assert git("--git-dir", g, "show", "main:README.md").stdout == README  # main untouched
    # the forge's own view of the PR: its head is the branch's tip
    tip = git("--git-dir", g, "rev-parse", c["branch"]).stdout.strip()
    got = requests.get(f"{gf.url}/repos/{full}/pulls/1",
                       headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
    assert got["head"]["sha"] == tip and got["html_url"] == pr["url"]
    # the PR was opened with the account's token, the clone and push used it too
    reqs = [r for r in gf.requests() if full in r["path"]]
    posts = [r for r in reqs if r["method"] == "POST" and r["path"] == f"/repos/{full}/pulls"]
    assert len(posts) == 1 and posts[0]["auth"] == TOKEN and posts[0]["status"] == 201
    pushes = [r for r in reqs if r["kind"] == "git" and "receive-pack" in r["path"]]
    assert pushes and all(r["auth"] == TOKEN for r in pushes)
    # the event says what happened
    ev = git_events(api, cid)
    assert len(ev) == 1
    assert ev[0]["extras"]["pushed"] is True and ev[0]["extras"]["changed"] is True
    assert ev[0]["extras"]["pull_request"] == {"number": 1, "url": pr["url"]}
    assert f"opened pull request #1: {pr['url']}" in ev[0]["content"]


# -- 2. the seed's own Python example --------------------------------------------------------

def test_the_seed_python_example_ends_with_a_pull_request(server, llm, gf, tmp_path):
    from test_seed import SEED_REPO, materialize
    full = SEED_REPO
    gf.make_repo(full, {"README.md": README})
    llm.script(fix_typo_script(full.split("/")[1]))
    api = account(server)
    script = materialize("create_conversation.py", tmp_path, server.base_url, api.key)
    p = subprocess.run(["/usr/bin/python3", str(script)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    m = re.search(r"^Conversation Link: \S+/conversations/(\S+)$", p.stdout, re.M)
    assert m and CONV_ID_RE.match(m.group(1)), p.stdout
    assert re.search(r"^Status: ok$", p.stdout, re.M), p.stdout
    check_pr_run(gf, api, m.group(1), full)


# -- 3. a follow-up pushes to the same branch and the same PR --------------------------------

def test_a_follow_up_adds_a_commit_to_the_same_pull_request(server, llm, gf):
    full = new_repo(gf)
    name = full.split("/")[1]
    llm.script(fix_typo_script(name) + [
        {"tool_calls": [call("execute_bash", command="echo 'More docs.' >> README.md")]},
        {"tool_calls": [call("finish", message="Add more docs")]},
    ])
    api = account(server)
    cid = api.create_id("fix the README", repository=full)
    first, pr = check_pr_run(gf, api, cid, full)
    r = api.post(f"/api/conversations/{cid}/message", json={"message": "add more docs"})
    assert r.status_code == 200, r.text
    second = wait_git_events(api, cid, 2)
    assert second["agent_state"] == "finished", second.get("error")
    assert second["branch"] == first["branch"]
    assert second["pull_requests"] == first["pull_requests"] == [{"number": 1, "url": pr["url"]}]
    assert second["pr_number"] == [1]
    prs = pulls_of(gf, full)
    assert len(prs) == 1 and prs[0]["number"] == 1
    g = bare(gf, full)
    subjects = git("--git-dir", g, "log", "--format=%s", first["branch"], "-n", "2").stdout
    assert subjects.split("\n")[:2] == ["Add more docs", TITLE]
    assert git("--git-dir", g, "show", f"{first['branch']}:README.md").stdout == \
        FIXED + "More docs.\n"
    ev = git_events(api, cid)
    assert ev[1]["extras"]["pushed"] is True and ev[1]["extras"]["pull_request"] is None
    assert ev[1]["content"] == f"Pushed branch {first['branch']} to {full}."
    # one PR creation request only: the second run did not even try
    posts = [r for r in gf.requests() if r["method"] == "POST" and r["path"] ==
             f"/repos/{full}/pulls"]
    assert len(posts) == 1


# -- 4. no changes ---------------------------------------------------------------------------

def test_no_changes_no_push_no_pull_request(server, llm, gf):
    full = new_repo(gf)
    llm.script([
        {"tool_calls": [call("execute_bash", command="cat README.md")]},
        {"tool_calls": [call("finish", message="The README is correct.")]},
    ])
    api = account(server)
    cid = api.create_id("check the README", repository=full)
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "finished", c.get("error")
    assert c["branch"] is None and c["pull_requests"] == [] and c["pr_number"] == []
    assert branches(gf, full) == ["main"]
    assert pulls_of(gf, full) == []
    assert not [r for r in gf.requests() if full in r["path"] and
                ("receive-pack" in r["path"] or r["path"].endswith("/pulls"))]
    ev = git_events(api, cid)
    assert len(ev) == 1
    assert ev[0]["extras"]["changed"] is False and ev[0]["extras"]["pushed"] is False
    assert ev[0]["extras"]["pull_request"] is None
    assert ev[0]["content"] == (f"The agent made no changes to {full}: nothing was pushed and no "
                                "pull request opened.")


# -- 5. the access check ---------------------------------------------------------------------

def test_access_check_at_create(server, llm, gf):
    full = new_repo(gf)

    # a repository that does not exist
    api = account(server)
    r = api.create("task", expect=None, repository="alice/does-not-exist")
    assert r.status_code == 401, r.text
    assert "alice/does-not-exist" in r.json()["error"]
    assert api.list_all() == []

    # a repository the token cannot see
    bob = account(server, LIMITED)
    r = bob.create("task", expect=None, repository=full)
    assert r.status_code == 401, r.text
    assert full in r.json()["error"]
    assert bob.list_all() == []

    # a bad token: refused when added; a token revoked after it was added, refused at create
    bad = server.new_account()
    bogus = {"github": {"token": "ghp_not_a_real_token", "host": ""}}
    r = bad.post("/api/add-git-providers", json={"provider_tokens": bogus})
    assert r.status_code == 401, r.text
    assert "ghp_not_a_real_token" not in r.text
    assert bad.get("/api/settings").json()["provider_tokens_set"] == {}
    carol = account(server, REVOKED)
    gf.setup(tokens=tokens(revoked=False), public=PUBLIC)
    r = carol.create("task", expect=None, repository=full)
    assert r.status_code == 401, r.text
    assert "Bad credentials" in r.json()["error"] and REVOKED not in r.text
    assert carol.list_all() == []
    gf.setup(tokens=tokens(), public=PUBLIC)

    # no token at all, a private repository: 401 that says how to add one
    none = account(server, None)
    r = none.create("task", expect=None, repository=full)
    assert r.status_code == 401, r.text
    assert "add-git-providers" in r.json()["error"]
    assert none.list_all() == []

    # no token, a public repository: created, cloned anonymously, the agent runs
    llm.script([{"tool_calls": [call("finish", message="Nothing to change.")]}])
    cid = none.create_id("look at it", repository="pub/lib")
    c = wait_stopped(none, cid, timeout=30)
    assert c["agent_state"] == "finished", c.get("error")
    assert c["selected_repository"] == "pub/lib"
    assert [x["conversation_id"] for x in none.list_all()] == [cid]
    recall = [e for e in all_events(none, cid) if e.get("observation") == "recall"]
    assert recall and recall[0]["extras"]["repo_directory"] == "/workspace/lib"


# -- 6. token hygiene ------------------------------------------------------------------------

def test_the_token_shows_nowhere(server, llm, gf):
    full = new_repo(gf)
    name = full.split("/")[1]
    llm.script(fix_typo_script(name, first=[
        {"tool_calls": [call("execute_bash", command="git config --list --show-origin | cat; "
                                                     "env | sort; cat .git/config")]},
    ]))
    api = account(server, HYGIENE)
    cid = api.create_id("fix the README", repository=full)
    check_pr_run(gf, api, cid, full)
    assert any(r["auth"] == HYGIENE for r in gf.requests())  # it really was the token used

    basic = base64.b64encode(f"x-access-token:{HYGIENE}".encode()).decode()
    needles = [HYGIENE, basic]

    def clean(text, where):
        for n in needles:
            assert n not in text, f"the token ({n[:8]}...) is in {where}"

    answers = {
        "conversation": api.get(f"/api/conversations/{cid}").text,
        "list": api.get("/api/conversations").text,
        "settings": api.get("/api/settings").text,
        "trajectory": api.get(f"/api/conversations/{cid}/trajectory").text,
        "events": json.dumps(all_events(api, cid)),
        "git/changes": api.get(f"/api/conversations/{cid}/git/changes").text,
    }
    for where, text in answers.items():
        clean(text, where)
    assert json.loads(answers["settings"])["provider_tokens_set"] == {"github": None}
    # the agent looked at its git configuration and environment: nothing there either
    runs = [e for e in all_events(api, cid) if e.get("observation") == "run"]
    assert runs and f"{gf.url}/{full}.git" in runs[0]["content"]

    clean(server.stdout(), "the server's stdout")
    clean(server.stderr(), "the server's stderr")

    ws = server.data_dir / "workspaces"
    files = [p for p in ws.rglob("*") if p.is_file() and
             (p.name == f"{cid}.log" or cid in p.relative_to(ws).parts[0])]
    assert any(p.name == "config" and p.parent.name == ".git" for p in files)
    assert any(p.parts[-2:] == (f"{cid}.git", "config") for p in files)
    for p in files:
        data = p.read_bytes()
        for n in needles:
            assert n.encode() not in data, f"the token is in {p}"
    cfg = (ws / cid / name / ".git" / "config").read_text()
    assert f"url = {gf.url}/{full}.git" in cfg and "extraheader" not in cfg.lower()

    raw = db_raw(server.data_dir)
    for n in needles:
        assert n.encode() not in raw, "the token is in the database in plain text"
    _, dump = db_dump(server.data_dir)
    assert "token_sealed" in dump and HYGIENE not in dump


# -- 7. GitHub's rate limit ------------------------------------------------------------------

def test_rate_limit_at_create_is_503(server, llm, gf):
    full = new_repo(gf)
    api = account(server)
    gf.setup(tokens=tokens(), public=PUBLIC, rate_limited=True)
    r = api.create("task", expect=None, repository=full)
    assert r.status_code == 503, r.text
    assert "GitHub's API rate limit" in r.json()["detail"], r.text
    assert 0 < int(r.headers["Retry-After"]) <= 3600
    assert api.list_all() == []


def test_rate_limit_during_the_run_is_a_clear_error(server, llm, gf):
    full = new_repo(gf)
    name = full.split("/")[1]
    steps = fix_typo_script(name)
    steps[0]["delay"] = 1.0   # the model "thinks" while the test exhausts the rate limit
    llm.script(steps + [{"tool_calls": [call("finish", message=SUMMARY)]}])
    api = account(server)
    cid = api.create_id("fix the README", repository=full)
    wait_for(lambda: len(llm.requests()) >= 1, 15, what="the first model request")
    gf.setup(tokens=tokens(), public=PUBLIC, rate_limited=True)
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "error"
    assert "GitHub's API rate limit" in (c["error"] or ""), c
    assert pulls_of(gf, full) == [] and c["pull_requests"] == []

    # once the limit is over, a follow-up publishes what is there: the same branch, one PR
    gf.setup(tokens=tokens(), public=PUBLIC)
    r = api.post(f"/api/conversations/{cid}/message", json={"message": "try again"})
    assert r.status_code == 200, r.text
    wait_for(lambda: len(git_events(api, cid)) >= 1, 30, what="the git event")
    check_pr_run(gf, api, cid, full)


def test_a_read_only_token_is_a_clear_error_on_the_conversation(server, llm, gf):
    full = new_repo(gf)
    llm.script(fix_typo_script(full.split("/")[1]))
    api = account(server, READONLY)
    cid = api.create_id("fix the README", repository=full)
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "error"
    assert "Pushing branch" in c["error"] and full in c["error"], c
    assert "write access" in c["error"] and READONLY not in c["error"]
    assert branches(gf, full) == ["main"] and pulls_of(gf, full) == []
    assert c["pull_requests"] == []


# -- 8. GitLab, a project in a nested group --------------------------------------------------

def test_gitlab_nested_group_merge_request(server, llm, gf):
    group = unique("g")
    full = f"{group}/sub/proj"
    gf.make_repo(full, {"README.md": README})
    llm.script(fix_typo_script("proj"))
    api = account(server, GL_TOKEN, "gitlab")
    assert api.get("/api/settings").json()["provider_tokens_set"] == {"gitlab": None}
    cid = api.create_id("fix the README", repository=full, git_provider="gitlab")
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "finished", c.get("error")
    assert c["git_provider"] == "gitlab" and c["selected_repository"] == full
    mrs = pulls_of(gf, full)
    assert len(mrs) == 1, gf.pulls()
    mr = mrs[0]
    assert (mr["provider"], mr["head"], mr["base"], mr["title"]) == \
        ("gitlab", c["branch"], "main", TITLE)
    assert mr["url"] == f"{gf.url}/{full}/-/merge_requests/1"
    assert c["pull_requests"] == [{"number": 1, "url": mr["url"]}] and c["pr_number"] == [1]
    assert git("--git-dir", bare(gf, full), "show", f"{c['branch']}:README.md").stdout == FIXED
    posts = [r for r in gf.requests() if r["method"] == "POST" and r["kind"] == "gitlab"]
    assert len(posts) == 1 and posts[0]["auth"] == GL_TOKEN
    assert re.match(r"^/api/v4/projects/\d+/merge_requests", posts[0]["path"]), posts[0]
    # the account's GitHub side has no token: a GitHub repository stays out of reach
    r = api.create("task", expect=None, repository=f"{group}/x")
    assert r.status_code == 401, r.text
    assert "No GitHub token is set for this account" in r.json()["error"]


# -- 9. --expose-provider-token --------------------------------------------------------------

def test_the_token_enters_the_sandbox_only_when_exposed(server, llm, gf, tmp_path):
    # default server: no token variable inside
    full = new_repo(gf)
    llm.script([
        {"tool_calls": [call("execute_bash", command='echo "[$GITHUB_TOKEN][$GITLAB_TOKEN]"')]},
        {"tool_calls": [call("finish", message="looked")]},
    ])
    api = account(server)
    cid = api.create_id("look", repository=full)
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "finished", c.get("error")
    runs = [e for e in all_events(api, cid) if e.get("observation") == "run"]
    assert runs[0]["content"].split("\n")[0] == "[][]"

    # a server started with --expose-provider-token (and a server-wide token, from the env)
    exposed = Server(tmp_path / "exposed",
                     args=agent_args(llm, runners=1,
                                     extra=forge_flags(gf) + ["--expose-provider-token"]),
                     env={**FAST_ENV, "CLOUDHANDS_GITHUB_TOKEN": SERVER_TOKEN})
    exposed.start()
    try:
        llm.script([
            {"tool_calls": [call("execute_bash", command="echo $GITHUB_TOKEN | wc -c")]},
            {"tool_calls": [call("execute_bash", command='echo "tok=$GITHUB_TOKEN"')]},
            {"tool_calls": [call("finish", message="looked")]},
        ])
        api = exposed.new_account()  # no token of its own: the server's is used
        cid = api.create_id("look", repository=full)
        c = wait_stopped(api, cid, timeout=30)
        assert c["agent_state"] == "finished", c.get("error")
        evs = all_events(api, cid)
        runs = [e for e in evs if e.get("observation") == "run"]
        assert runs[0]["content"].split("\n")[0].strip() == str(len(SERVER_TOKEN) + 1)
        assert runs[1]["content"].split("\n")[0] == "tok=<secret_hidden>"
        assert SERVER_TOKEN not in json.dumps(evs)
        # what the model read was masked too
        assert SERVER_TOKEN not in json.dumps(llm.requests())
        assert SERVER_TOKEN not in exposed.stdout() + exposed.stderr()
    finally:
        exposed.stop()


# -- 10. selected_branch ---------------------------------------------------------------------

def test_selected_branch_is_the_pull_requests_base(server, llm, gf):
    full = new_repo(gf, extra_branches={"release": {"RELEASE.md": "v1\n"}})
    name = full.split("/")[1]
    llm.script(fix_typo_script(name, first=[
        {"tool_calls": [call("execute_bash", command="cat RELEASE.md")]}]))
    api = account(server)
    cid = api.create_id("fix the README", repository=full, selected_branch="release")
    c, pr = check_pr_run(gf, api, cid, full, base="release")
    assert c["selected_branch"] == "release"
    runs = [e for e in all_events(api, cid) if e.get("observation") == "run"]
    assert runs[0]["content"].split("\n")[0] == "v1"


def test_a_branch_that_does_not_exist_is_a_clear_error(server, llm, gf):
    full = new_repo(gf)
    api = account(server)
    cid = api.create_id("task", repository=full, selected_branch="no-such-branch")
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "error"
    assert f"The branch 'no-such-branch' does not exist in {full}" in (c["error"] or ""), c
    assert pulls_of(gf, full) == [] and branches(gf, full) == ["main"]


# -- 11. bad input ---------------------------------------------------------------------------

def test_bad_input_is_422_and_creates_nothing(server, gf):
    api = account(server)
    full = new_repo(gf)
    r = api.create("task", expect=None, repository=full, git_provider="bitbucket")
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "git_provider"]
    r = api.create("task", expect=None, repository=full, git_provider="git")
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "git_provider"]
    assert "--git-url-template" in r.json()["detail"][0]["msg"]
    for repo in ("a/../b", "a b/c", "https://github.com/a/b", "x" * 300 + "/y"):
        r = api.create("task", expect=None, repository=repo)
        assert r.status_code == 422, (repo, r.status_code, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", "repository"], (repo, r.text)
    assert api.list_all() == []
    # none of them reached the forge
    assert not [r for r in gf.requests() if "/repos/a/" in r["path"] or "x" * 300 in r["path"]]
