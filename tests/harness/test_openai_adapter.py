"""The openai adapter against a local server replaying real recorded responses.

`ReplayServer` stands in for the provider (no remote API can be reached here): it listens on
127.0.0.1 and answers every Chat Completions request with the next recorded response body
from ../shared/corpus/openai, so the usage in the report can be checked against the recording.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..conftest import copy_scenario

RECORDED = [  # (corpus file, interaction): non-streaming Chat Completions with real usage
    ("openai/pydantic-ai__chat_prompt_cache_e2e.yaml", 0),
    ("openai/pydantic-ai__chat_prompt_cache_e2e.yaml", 1),
    ("openai/pydantic-ai__chat_max_completion_tokens_o3-mini.yaml", 0),
]
API_KEY = "sk-test-do-not-leak-0123456789"


class ReplayServer:
    """Stand-in for an OpenAI-compatible endpoint: replays recorded bodies in order."""

    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self.bodies = bodies
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                request = json.loads(self.rfile.read(length))
                server.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "model": request["model"],
                    }
                )
                body = json.dumps(server.bodies[(len(server.requests) - 1) % len(server.bodies)])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recorded_bodies(corpus: Path) -> list[dict[str, Any]]:
    bodies = []
    for name, index in RECORDED:
        cassette = yaml.safe_load((corpus / name).read_text(encoding="utf-8"))
        bodies.append(cassette["interactions"][index]["response"]["parsed_body"])
    return bodies


@pytest.fixture
def server(recorded_bodies: list[dict[str, Any]]) -> Iterator[ReplayServer]:
    with ReplayServer(recorded_bodies) as running:
        yield running


def test_usage_in_the_report_equals_the_recorded_usage(
    plugin_pytester: pytest.Pytester,
    server: ReplayServer,
    recorded_bodies: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    copy_scenario(plugin_pytester.path, cases=2)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    result = plugin_pytester.runpytest_subprocess(
        "-m",
        "calibration",
        "--adapter=openai",
        f"--openai-base-url={server.url}",
        "--adapter-model=gpt-4o-mini",
        "--cost-report",
    )
    # The recorded answers are not this scenario's ground truth: the cases fail on accuracy,
    # while every step got its answer and its usage.
    result.assert_outcomes(failed=2)
    assert len(server.requests) == 8
    assert {r["path"] for r in server.requests} == {"/v1/chat/completions"}
    assert {r["auth"] for r in server.requests} == {f"Bearer {API_KEY}"}
    assert {r["model"] for r in server.requests} == {"gpt-4o-mini"}

    out = plugin_pytester.path / ".tokencost"
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 8
    # Serial run: the 8 requests took the recorded bodies in order, cycling.
    for served, record in enumerate(sorted(records, key=lambda r: (r["test_id"], r["seq"]))):
        usage = recorded_bodies[served % len(recorded_bodies)]["usage"]
        details = usage.get("prompt_tokens_details") or {}
        assert record["provenance"] == "reported"
        assert record["usage"]["input"] == usage["prompt_tokens"]
        assert record["usage"]["output"] == usage["completion_tokens"]
        assert record["usage"]["cache_read"] == details.get("cached_tokens")
        assert record["usage"]["cache_write"] == details.get("cache_write_tokens")
        assert (
            record["usage"]["reasoning"] == usage["completion_tokens_details"]["reasoning_tokens"]
        )
        assert record["model"] == recorded_bodies[served % len(recorded_bodies)]["model"]
    report = json.loads((out / "token-report.json").read_text())
    assert report["summary"]["totals"]["usage"]["input"] == sum(
        recorded_bodies[i % 3]["usage"]["prompt_tokens"] for i in range(8)
    )
    # The key is never written anywhere, nor printed.
    for path in out.rglob("*"):
        if path.is_file():
            assert API_KEY not in path.read_text(errors="replace"), path
    assert API_KEY not in result.stdout.str() + result.stderr.str()


def test_an_unreachable_endpoint_fails_the_step_clearly(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_scenario(plugin_pytester.path, cases=1)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    result = plugin_pytester.runpytest(
        "-m",
        "calibration",
        "--adapter=openai",
        "--openai-base-url=http://127.0.0.1:9/v1",
        "--adapter-model=gpt-4o",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*POST http://127.0.0.1:9/v1/chat/completions failed*"])
    assert API_KEY not in result.stdout.str()
