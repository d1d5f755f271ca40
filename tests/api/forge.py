"""The fake git forge (tests/fixtures/git_forge.py) as a pytest helper.

One process is at once "GitHub" (REST API at the root; point --github-api-url and
--github-url at `forge.url`), "GitLab" (REST API under /api/v4; point --gitlab-url at
`forge.url`) and a git smart-HTTP server for the bare repositories under its root, so the
server's production code (libcurl, real git) talks to it unchanged. make_bare_repo() creates
those repositories with real git.
"""

import base64
import os
import subprocess
import tempfile
from pathlib import Path

import requests

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "git_forge.py"
GIT_IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@example.com"]


def git_env(extra=None):
    """An environment for test-side git commands: no user or system configuration, no
    prompts, no GIT_* variables inherited from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""})
    env.update(extra or {})
    return env


def git(*args, cwd=None, check=True, env=None, timeout=60):
    """Runs `git -c user.name=t -c user.email=t@example.com ARGS`; returns the
    CompletedProcess (text mode)."""
    p = subprocess.run(["git", *GIT_IDENTITY, *[str(a) for a in args]], cwd=cwd,
                       capture_output=True, text=True, env=git_env(env), timeout=timeout)
    if check:
        assert p.returncode == 0, (f"git {' '.join(map(str, args))} exited {p.returncode}\n"
                                   f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def basic_auth_header(token, user="x-access-token"):
    """`Authorization: Basic ...` for git's http.extraHeader (any user name works)."""
    b64 = base64.b64encode(f"{user}:{token}".encode()).decode()
    return f"Authorization: Basic {b64}"


def _write_files(work, files):
    for name, content in files.items():
        path = Path(work) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def make_bare_repo(root, full_name, files, branch="main", extra_branches=()):
    """Creates ROOT/<full_name>.git, a bare repository whose `branch` (also its HEAD) holds one
    commit with `files` ({path: str or bytes}). extra_branches: branch names pointing at the
    same commit, or a dict {branch: files} where each branch gets one more commit on top
    adding those files. Returns the path of the bare repository."""
    bare = Path(root) / f"{full_name}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    git("init", "--bare", "-q", "-b", branch, bare)
    with tempfile.TemporaryDirectory(prefix="forge-work-") as work:
        git("init", "-q", "-b", branch, work)
        _write_files(work, files)
        git("add", "-A", cwd=work)
        git("commit", "-q", "--allow-empty", "-m", "initial commit", cwd=work)
        refspecs = [f"{branch}:refs/heads/{branch}"]
        extra = extra_branches if isinstance(extra_branches, dict) else \
            {name: None for name in extra_branches}
        for name, more in extra.items():
            if more:
                git("checkout", "-q", "-b", name, branch, cwd=work)
                _write_files(work, more)
                git("add", "-A", cwd=work)
                git("commit", "-q", "-m", f"{name}: more files", cwd=work)
                refspecs.append(f"{name}:refs/heads/{name}")
            else:
                refspecs.append(f"{branch}:refs/heads/{name}")
        git("push", "-q", bare.resolve().as_uri(), *refspecs, cwd=work)
    return bare


class GitForge:
    def __init__(self, root, verbose=False):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        argv = ["/usr/bin/python3", str(FIXTURE), "--port", "0", "--root", str(self.root),
                "--exit-on-stdin-eof"]
        if verbose:
            argv.append("--verbose")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=None if verbose else subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), f"git forge did not start: {line!r}"
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def setup(self, tokens=None, public=None, rate_limited=False):
        """Replaces the configuration: tokens {token: {"login", "repos": [...] or "*",
        "push": bool}}, public [full names] or "*", rate_limited (every GitHub REST call 403)."""
        r = requests.post(self.url + "/_setup", json={"tokens": tokens or {},
                                                      "public": public or [],
                                                      "rate_limited": rate_limited}, timeout=5)
        assert r.status_code == 200, r.text

    def pulls(self):
        return requests.get(self.url + "/_pulls", timeout=5).json()

    def requests(self):
        return requests.get(self.url + "/_requests", timeout=5).json()

    def reset(self):
        """Forgets the pulls/merge requests and the request log."""
        r = requests.post(self.url + "/_reset", timeout=5)
        assert r.status_code == 200, r.text

    def clone_url(self, full_name):
        return f"{self.url}/{full_name}.git"

    def make_repo(self, full_name, files, branch="main", extra_branches=()):
        return make_bare_repo(self.root, full_name, files, branch, extra_branches)

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
