"""The scripted LLM server (tests/fixtures/scripted_llm.py) as a pytest helper.

It speaks OpenAI's and Anthropic's real wire protocols, so the server's production LLM client
talks to it over HTTP unchanged; a test loads the model's turns as a script and afterwards
reads back the requests the server really sent.
"""

import subprocess
from pathlib import Path

import requests

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "scripted_llm.py"


class ScriptedLLM:
    def __init__(self, require_key=None):
        argv = ["/usr/bin/python3", str(FIXTURE), "--port", "0", "--exit-on-stdin-eof"]
        if require_key:
            argv += ["--require-key", require_key]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), f"scripted LLM did not start: {line!r}"
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"

    def script(self, steps, **options):
        r = requests.post(self.url + "/_script", json={"responses": steps, **options}, timeout=5)
        assert r.status_code == 200, r.text

    def requests(self):
        return requests.get(self.url + "/_requests", timeout=5).json()

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def call(name, **arguments):
    """A scripted tool call."""
    return {"name": name, "arguments": arguments}
