"""--cost-capture of OpenAI Responses background mode and /responses/compact, through the real
openai SDK, serial and under xdist.

`SUITE`'s server stands in for the OpenAI API (no remote API is reachable here). It behaves as
the real one does for a background call: the POST answers `queued` without usage, the first
GET `in_progress`, later GETs the finished response with its usage; the client polls again
after it finished (as polling loops do), and bodies are written on several lines.
"""

from __future__ import annotations

import json

import pytest

from pytest_tokencost.records import Usage

from .test_usage_fields import BACKGROUND_USAGE, COMPACT, _oracle

SUITE = """
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

BACKGROUND_USAGE = {background_usage}
COMPACT = {compact}


def response(status, usage):
    return {{
        "id": "resp_bg1", "object": "response", "created_at": 1755000000, "status": status,
        "background": True, "error": None, "model": "gpt-5-2025-08-07",
        "output": [] if usage is None else [{{
            "id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
            "content": [{{"type": "output_text", "text": "42", "annotations": []}}],
        }}],
        "usage": usage,
    }}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    polls = 0

    def _send(self, body):
        data = json.dumps(body, indent=2).encode()  # written on several lines
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.endswith("/responses/compact"):
            self._send(COMPACT)
        else:
            self._send(response("queued", None))

    def do_GET(self):
        Handler.polls += 1
        done = Handler.polls > 1
        usage = BACKGROUND_USAGE if done else None
        self._send(response("completed" if done else "in_progress", usage))

    def log_message(self, *args):
        pass


@pytest.fixture
def client():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Handler.polls = 0
    url = f"http://127.0.0.1:{{server.server_address[1]}}/v1"
    yield openai.OpenAI(api_key="sk-test", base_url=url, max_retries=0)
    server.shutdown()


def test_background(client):
    job = client.responses.create(model="gpt-5", input="What is 6 x 7?", background=True)
    assert job.status == "queued"
    while client.responses.retrieve(job.id).status != "completed":
        pass
    assert client.responses.retrieve(job.id).output_text == "42"  # polled once more


def test_compact(client):
    compacted = client.responses.compact(model="gpt-5", input="a long conversation")
    assert compacted.usage.input_tokens == 48211
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_background_calls_record_the_finished_response_once_and_compact_its_model(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    plugin_pytester.makepyfile(
        test_responses=SUITE.format(background_usage=BACKGROUND_USAGE, compact=COMPACT)
    )
    result = plugin_pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--cost-capture", "-n", workers
    )
    result.assert_outcomes(passed=2)
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    assert report["warnings"] == []
    by_test = report["summary"]["by_test"]
    # The queued POST and the in-progress poll record nothing; the finished response once
    # (the extra poll returns the same response id: a duplicate, dropped).
    background = by_test["test_responses.py::test_background"]
    usage = Usage(input=1840, output=2210, cache_read=1024, reasoning=2176, web_searches=0)
    assert background["records"] == 1
    assert background["usage"]["input"] == 1840 and background["usage"]["output"] == 2210
    assert background["cost_micro_usd"] == _oracle("gpt-5", "openai", usage)
    assert report["duplicates_dropped"] == 1
    # /responses/compact names no model: the request's is used, and priced.
    compact = by_test["test_responses.py::test_compact"]
    compact_usage = Usage(input=48211, output=1802, cache_read=40960, reasoning=1024)
    assert compact["records"] == 1
    assert compact["cost_micro_usd"] == _oracle("gpt-5", "openai", compact_usage)
    assert "gpt-5" in report["summary"]["by_model"]
