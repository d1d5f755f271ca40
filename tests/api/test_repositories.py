"""Repositories (issue 4) with the plain `git` provider: real bare repositories on disk reached
through --git-url-template, the scripted LLM as the model. The access check, the clone into
/workspace/<repo> on a work branch, the agent's edit, the commit and push the server makes, the
branch and commit checked in the bare repository; follow-ups; what the API shows
(git/changes, git/diff, zip-directory); and bad input."""

import io
import json
import re
import zipfile

import pytest

from agent_helpers import FAST_ENV, agent_args, all_events, wait_stopped
from forge import git, make_bare_repo
from llm import ScriptedLLM, call

BRANCH_RE = re.compile(r"^openhands-workspace-[a-z0-9]{8}$")
README = "# Demo\n\nThis project is writen in C.\n"


@pytest.fixture(scope="module")
def llm():
    server = ScriptedLLM()
    yield server
    server.close()


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    root = tmp_path_factory.mktemp("bare")
    make_bare_repo(root, "acme/demo", {"README.md": README, "src/main.c": "int main(void){}\n"},
                   extra_branches={"release": {"RELEASE.md": "v1\n"}})
    make_bare_repo(root, "acme/setup", {
        "README.md": "setup demo\n",
        ".openhands/setup.sh": "export SETUP_DONE=yes\necho setup-ran > /tmp/setup-proof\n",
        ".openhands/microagents/repo.md": "Always run `make check` before finishing.\n",
    })
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory, llm, repos):
    from conftest import Server
    tmpl = f"file://{repos}/{{owner}}/{{repo}}.git"
    srv = Server(tmp_path_factory.mktemp("repo-srv"),
                 args=agent_args(llm, runners=2,
                                 extra=["--default-git-provider", "git",
                                        "--git-url-template", tmpl]),
                 env=FAST_ENV)
    srv.start()
    yield srv
    srv.stop()


def bare(repos, name):
    return repos / f"{name}.git"


def test_the_agent_edits_and_the_server_pushes_a_branch(server, llm, repos):
    llm.script([
        {"tool_calls": [call("execute_bash", command="pwd && git branch --show-current")]},
        {"tool_calls": [call("str_replace_editor", command="str_replace",
                             path="/workspace/demo/README.md", old_str="writen",
                             new_str="written")]},
        {"tool_calls": [call("finish", message="Fix a typo in the README\n\nwriten -> written")]},
    ])
    api = server.new_account()
    cid = api.create_id("check the README for incorrect information and fix it",
                        repository="acme/demo")
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "finished", c.get("error")
    assert c["selected_repository"] == "acme/demo"
    assert c["git_provider"] == "git"
    branch = c["branch"]
    assert BRANCH_RE.match(branch), branch
    assert c["pull_requests"] == [] and c["pr_number"] == []

    # the agent worked in /workspace/demo on the work branch
    first = llm.requests()[-3]["body"]["messages"]
    context = [m for m in first if m["role"] == "user" and "REPOSITORY_INFO" in str(m["content"])]
    assert context and "/workspace/demo" in context[0]["content"]
    obs = [e for e in all_events(api, cid) if e.get("observation") == "run"]
    assert obs[0]["content"].split("\n")[:2] == ["/workspace/demo", branch]

    # the bare repository has the branch with the commit on top of main
    g = bare(repos, "acme/demo")
    log = git("--git-dir", str(g), "log", "--format=%an <%ae>|%s", f"{branch}", "-n", "2").stdout
    lines = log.strip().split("\n")
    assert lines[0] == "openhands <openhands@all-hands.dev>|Fix a typo in the README"
    assert git("--git-dir", str(g), "show", f"{branch}:README.md").stdout == \
        README.replace("writen", "written")
    main = git("--git-dir", str(g), "rev-parse", "main").stdout.strip()
    parent = git("--git-dir", str(g), "rev-parse", f"{branch}^").stdout.strip()
    assert parent == main
    # main itself is untouched
    assert git("--git-dir", str(g), "show", "main:README.md").stdout == README

    evs = all_events(api, cid)
    result = [e for e in evs if e.get("observation") == "git"]
    assert len(result) == 1 and result[0]["extras"]["pushed"] is True
    assert branch in result[0]["content"]


def test_a_follow_up_pushes_more_to_the_same_branch(server, llm, repos):
    llm.script([
        {"tool_calls": [call("execute_bash", command="echo one > one.txt")]},
        {"tool_calls": [call("finish", message="Add one.txt")]},
        {"tool_calls": [call("execute_bash", command="echo two > two.txt && git add two.txt && "
                                                     "git commit -qm 'Add two.txt'")]},
        {"tool_calls": [call("finish", message="Add two.txt")]},
    ])
    api = server.new_account()
    cid = api.create_id("add one.txt", repository="acme/demo")
    first = wait_stopped(api, cid, timeout=30)
    assert first["agent_state"] == "finished", first.get("error")
    r = api.post(f"/api/conversations/{cid}/message", json={"message": "now add two.txt"})
    assert r.status_code == 200, r.text
    wait_for_new_run = all_events  # the message is stored at once; wait for the second finish
    import time
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        evs = wait_for_new_run(api, cid)
        if sum(1 for e in evs if e.get("observation") == "git") == 2:
            break
        time.sleep(0.1)
    second = wait_stopped(api, cid, timeout=30)
    assert second["agent_state"] == "finished", second.get("error")
    assert second["branch"] == first["branch"]
    g = bare(repos, "acme/demo")
    subjects = git("--git-dir", str(g), "log", "--format=%s", second["branch"], "-n", "3").stdout
    assert subjects.split("\n")[:2] == ["Add two.txt", "Add one.txt"]
    # the second run was a resume: no second clone, no second workspace context, and the model
    # still reads the context once (replayed from the stored event)
    evs = all_events(api, cid)
    assert sum(1 for e in evs if e.get("observation") == "recall") == 1
    last = llm.requests()[-1]["body"]["messages"]
    assert sum(1 for m in last if "<REPOSITORY_INFO>" in str(m.get("content"))) == 1


def test_no_changes_means_no_push(server, llm, repos):
    llm.script([
        {"tool_calls": [call("execute_bash", command="cat README.md")]},
        {"tool_calls": [call("finish", message="The README is correct.")]},
    ])
    api = server.new_account()
    before = git("--git-dir", str(bare(repos, "acme/demo")), "branch", "--list").stdout
    cid = api.create_id("check the README", repository="acme/demo")
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "finished", c.get("error")
    assert c["branch"] is None and c["pull_requests"] == []
    after = git("--git-dir", str(bare(repos, "acme/demo")), "branch", "--list").stdout
    assert after == before
    result = [e for e in all_events(api, cid) if e.get("observation") == "git"]
    assert len(result) == 1
    assert result[0]["extras"]["changed"] is False and result[0]["extras"]["pushed"] is False
    assert "no changes" in result[0]["content"] and "nothing was pushed" in result[0]["content"]


def test_setup_script_and_repository_instructions(server, llm, repos):
    llm.script([
        {"tool_calls": [call("execute_bash", command='echo "[$SETUP_DONE]" && cat /tmp/setup-proof')]},
        {"tool_calls": [call("finish", message="checked")]},
    ])
    api = server.new_account()
    cid = api.create_id("look around", repository="acme/setup")
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "finished", c.get("error")
    evs = all_events(api, cid)
    setup = [e for e in evs if e.get("source") == "environment" and e.get("action") == "run"]
    assert len(setup) == 1 and ".openhands/setup.sh" in setup[0]["args"]["command"]
    setup_obs = [e for e in evs if e.get("observation") == "run" and e.get("cause") == setup[0]["id"]]
    assert setup_obs and setup_obs[0]["extras"]["metadata"]["exit_code"] == 0
    # what setup.sh exported is in the agent's shell; its file is in the sandbox's /tmp
    agent_obs = [e for e in evs if e.get("observation") == "run" and e.get("source") == "agent"]
    assert agent_obs[0]["content"].split("\n")[:2] == ["[yes]", "setup-ran"]
    # the instructions reached the model, inside the workspace context
    msgs = llm.requests()[-2]["body"]["messages"]
    text = json.dumps(msgs)
    assert "REPOSITORY_INSTRUCTIONS" in text and "make check" in text
    recall = [e for e in evs if e.get("observation") == "recall"]
    assert recall[0]["extras"]["repo_instructions"].startswith("Always run `make check`")
    assert recall[0]["extras"]["repo_directory"] == "/workspace/setup"


def test_git_changes_diff_and_zip(server, llm, repos):
    llm.script([
        {"tool_calls": [call("execute_bash",
                             command="sed -i s/writen/written/ README.md && echo new > NEW.md "
                                     "&& git rm -q src/main.c")]},
        {"content": "Done; shall I continue?"},
    ])
    api = server.new_account()
    cid = api.create_id("edit things", repository="acme/demo")
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "awaiting_user_input", c.get("error")
    # awaiting input also publishes: the changes are committed, so they show against the base
    r = api.get(f"/api/conversations/{cid}/git/changes")
    assert r.status_code == 200, r.text
    assert sorted((x["status"], x["path"]) for x in r.json()) == [
        ("A", "demo/NEW.md"), ("D", "demo/src/main.c"), ("M", "demo/README.md")]
    r = api.get(f"/api/conversations/{cid}/git/diff", params={"path": "demo/README.md"})
    assert r.status_code == 200, r.text
    assert r.json() == {"modified": README.replace("writen", "written"), "original": README}
    r = api.get(f"/api/conversations/{cid}/git/diff", params={"path": "/workspace/demo/NEW.md"})
    assert r.json() == {"modified": "new\n", "original": ""}
    r = api.get(f"/api/conversations/{cid}/git/diff", params={"path": "demo/src/main.c"})
    assert r.json() == {"modified": "", "original": "int main(void){}\n"}
    # an uncommitted change shows too
    ws = server.data_dir / "workspaces" / cid / "demo"
    (ws / "LATER.md").write_text("later\n")
    r = api.get(f"/api/conversations/{cid}/git/changes")
    assert {"status": "A", "path": "demo/LATER.md"} in r.json()

    r = api.get(f"/api/conversations/{cid}/zip-directory")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/zip"
    assert "workspace.zip" in r.headers.get("Content-Disposition", "")
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert z.testzip() is None
    names = z.namelist()
    assert "workspace/demo/README.md" in names and "workspace/demo/.git/HEAD" in names
    assert z.read("workspace/demo/NEW.md") == b"new\n"


def test_git_endpoints_bad_input_and_other_accounts(server, llm):
    llm.script([{"tool_calls": [call("finish", message="nothing")]}] * 2)
    api = server.new_account()
    cid = api.create_id("nothing", repository="acme/demo")
    wait_stopped(api, cid, timeout=30)
    r = api.get(f"/api/conversations/{cid}/git/diff")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "path"]
    r = api.get(f"/api/conversations/{cid}/git/diff", params={"path": "../../etc/passwd"})
    assert r.status_code == 422
    r = api.get(f"/api/conversations/{cid}/git/diff", params={"path": "demo/none.txt"})
    assert r.status_code == 200 and r.json() == {"modified": "", "original": ""}
    other = server.new_account()
    for path in ("git/changes", "git/diff?path=demo/README.md", "zip-directory"):
        assert other.get(f"/api/conversations/{cid}/{path}").status_code == 404
        assert other.get(f"/api/conversations/{'0' * 32}/{path}").status_code == 404
    # a conversation without a repository: no changes, an empty workspace zip
    plain = api.create_id("no repo")
    assert api.get(f"/api/conversations/{plain}/git/changes").json() == []
    assert wait_stopped(api, plain)["agent_state"] == "finished"
    z = zipfile.ZipFile(io.BytesIO(api.get(f"/api/conversations/{plain}/zip-directory").content))
    assert z.testzip() is None


def test_access_check_and_bad_input(server, llm, repos):
    api = server.new_account()
    before = len(api.list_all())
    r = api.create("task", expect=None, repository="acme/missing")
    assert r.status_code == 401, r.text
    assert "acme/missing" in r.json()["error"]
    for repo in ("a/../b", "../b", "a b/c", "https://example.com/a/b", "x" * 300 + "/y", "a",
                 "a/b/c", "a/.git"):
        r = api.create("task", expect=None, repository=repo)
        assert r.status_code == 422, (repo, r.status_code, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", "repository"]
    for branch in ("--upload-pack=touch /tmp/x", "a..b", "a b", "x" * 300):
        r = api.create("task", expect=None, repository="acme/demo", selected_branch=branch)
        assert r.status_code == 422, (branch, r.text)
    r = api.create("task", expect=None, repository="acme/demo", git_provider="bitbucket")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "git_provider"]
    assert len(api.list_all()) == before


def test_a_branch_that_does_not_exist(server, llm, repos):
    api = server.new_account()
    cid = api.create_id("task", repository="acme/demo", selected_branch="nope")
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "error"
    assert "The branch 'nope' does not exist in acme/demo" in c["error"]


def test_selected_branch_is_checked_out(server, llm, repos):
    llm.script([
        {"tool_calls": [call("execute_bash", command="ls && echo x >> RELEASE.md")]},
        {"tool_calls": [call("finish", message="Touch the release notes")]},
    ])
    api = server.new_account()
    cid = api.create_id("task", repository="acme/demo", selected_branch="release")
    c = wait_stopped(api, cid, timeout=30)
    assert c["agent_state"] == "finished", c.get("error")
    assert c["selected_branch"] == "release"
    g = bare(repos, "acme/demo")
    release = git("--git-dir", str(g), "rev-parse", "release").stdout.strip()
    assert git("--git-dir", str(g), "rev-parse", f"{c['branch']}^").stdout.strip() == release


def test_the_git_provider_needs_its_template(tmp_path):
    from conftest import Server, run_cli
    # its own (unreachable) GitHub, so conftest adds no git template either
    srv = Server(tmp_path / "a", args=["--runners", "0", "--github-api-url", "http://127.0.0.1:9"])
    srv.start()
    try:
        api = srv.new_account()
        r = api.create("task", expect=None, repository="acme/demo", git_provider="git")
        assert r.status_code == 422
        assert "--git-url-template" in r.json()["detail"][0]["msg"]
    finally:
        srv.stop()
    # a default provider the server cannot use is refused at start, saying what to do
    r = run_cli("serve", "--default-git-provider", "git", data_dir=tmp_path / "b", check=False)
    assert r.returncode == 2 and "--git-url-template" in r.stderr
    r = run_cli("serve", "--default-git-provider", "svn", data_dir=tmp_path / "c", check=False)
    assert r.returncode == 2 and "github, gitlab and git" in r.stderr
