"""The user's document (seed/000_...txt): its example programs, run as written.

The files in tests/api/seed/ are verbatim copies of the document's code blocks. The only
changes, made here at test time, are the base URL, the API key and (for the GET example) the
{conversation_id} placeholder.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import CONV_ID_RE, TS_RE

SEED_DIR = Path(__file__).parent / "seed"
DOC_URL = "https://app.all-hands.dev"
SEED_MSG = ("Check whether there is any incorrect information in the README.md file "
            "and send a PR to fix it if so.")
SEED_REPO = "yourusername/your-repo"


def materialize(name, tmp_path, base_url, key, **extra):
    text = (SEED_DIR / name).read_text()
    assert DOC_URL in text and "YOUR_API_KEY" in text
    text = text.replace(DOC_URL, base_url).replace("YOUR_API_KEY", key)
    for k, v in extra.items():
        text = text.replace("{" + k + "}", v)
    out = tmp_path / name
    out.write_text(text)
    return out


def run(argv, timeout=30):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{argv} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


def test_seed_files_are_verbatim_from_the_document():
    # shared/ stands beside the project's checkout, in CI as on developers' machines.
    doc = Path(__file__).resolve().parents[3] / "shared" / "seed" / "000_8580b38cd8403999.txt"
    if not doc.exists():
        pytest.skip("the seed document is not available here")
    text = doc.read_text()
    for name in ("create_conversation.sh", "get_conversation.sh", "create_conversation.py",
                 "create_conversation.mjs"):
        assert (SEED_DIR / name).read_text() in text, name


def check_conversation(account, cid):
    c = account.conv(cid)
    assert c["conversation_id"] == cid
    assert c["selected_repository"] == SEED_REPO
    assert c["trigger"] == "openhands_api"
    e = account.get(f"/api/conversations/{cid}/events").json()["events"][0]
    assert e["args"]["content"] == SEED_MSG


def test_seed_curl_create_then_get(server, account, tmp_path):
    script = materialize("create_conversation.sh", tmp_path, server.base_url, account.key)
    p = run(["bash", str(script)])
    body = json.loads(p.stdout)
    assert body["status"] == "ok"
    cid = body["conversation_id"]
    assert CONV_ID_RE.match(cid)
    check_conversation(account, cid)

    script = materialize("get_conversation.sh", tmp_path, server.base_url, account.key,
                         conversation_id=cid)
    p = run(["bash", str(script)])
    got = json.loads(p.stdout)
    # the fields the document shows in its response example
    for field in ("conversation_id", "title", "created_at", "last_updated_at", "status",
                  "selected_repository", "trigger"):
        assert field in got, (field, got)
    assert got["conversation_id"] == cid
    assert isinstance(got["title"], str) and got["title"]
    assert TS_RE.match(got["created_at"]) and TS_RE.match(got["last_updated_at"])
    assert got["status"] in ("STARTING", "RUNNING", "STOPPED", "ARCHIVED", "ERROR")
    assert got["selected_repository"] == SEED_REPO
    assert got["trigger"] == "openhands_api"


def test_seed_python(server, account, tmp_path):
    script = materialize("create_conversation.py", tmp_path, server.base_url, account.key)
    p = run(["/usr/bin/python3", str(script)])
    m = re.search(r"^Conversation Link: (\S+)/conversations/(\S+)$", p.stdout, re.M)
    assert m, p.stdout
    assert m.group(1) == server.base_url
    assert CONV_ID_RE.match(m.group(2)), p.stdout
    assert re.search(r"^Status: ok$", p.stdout, re.M), p.stdout
    check_conversation(account, m.group(2))


def test_seed_javascript(server, account, tmp_path):
    script = materialize("create_conversation.mjs", tmp_path, server.base_url, account.key)
    p = run(["/usr/bin/node", str(script)])
    assert "undefined" not in p.stdout, p.stdout
    assert "Error starting conversation" not in p.stdout + p.stderr, p.stderr
    m = re.search(r"^Conversation Link: (\S+)/conversations/(\S+)$", p.stdout, re.M)
    assert m, p.stdout
    assert m.group(1) == server.base_url
    assert CONV_ID_RE.match(m.group(2)), p.stdout
    assert re.search(r"^Status: ok$", p.stdout, re.M), p.stdout
    check_conversation(account, m.group(2))


def test_seed_python_with_a_bad_key_gets_an_error_not_a_link(server, tmp_path):
    """The document: an invalid key yields an authentication error."""
    script = materialize("create_conversation.py", tmp_path, server.base_url, "oh_" + "0" * 64)
    p = subprocess.run(["/usr/bin/python3", str(script)], capture_output=True, text=True, timeout=30)
    # the program indexes conversation['conversation_id'] on a 401 body and fails with KeyError
    assert p.returncode != 0
    assert "KeyError" in p.stderr, p.stderr
    assert "Conversation Link" not in p.stdout
