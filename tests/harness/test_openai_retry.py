"""The openai adapter's retries (429 and 5xx, Retry-After, bounded) and its start-up key check.

`ScriptedServer` stands in for an OpenAI-compatible endpoint under load (no remote API can be
reached here): it listens on 127.0.0.1 and answers each request with the next status of its
script, as rate-limited and overloaded providers do — 429 with a Retry-After header (seconds or
an HTTP date), 503 for a while, or 500 for good — then a Chat Completions body.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from calibrate.adapters import _ChatCompletions, missing_key
from calibrate.dispatch import DispatchError, DispatchRequest
from calibrate.retry import RetryPolicy, retry_after_s

from ..conftest import copy_scenario

API_KEY = "sk-test-do-not-leak-0123456789"

# The shape of a real gpt-4o-mini Chat Completions answer (cached prompt tokens included).
ANSWER: dict[str, Any] = {
    "id": "chatcmpl-BQ3xq9cX2Lw1",
    "object": "chat.completion",
    "created": 1745000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "category: timeout\n---\nslow",
                "refusal": None,
            },
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {
        "prompt_tokens": 1210,
        "completion_tokens": 14,
        "total_tokens": 1224,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
    "system_fingerprint": "fp_0392822090",
}
SERVER_ERROR = {
    "error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
    }
}
BAD_REQUEST = {
    "error": {
        "message": "Unsupported value: 'temperature' does not support 0.2 with this model.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": None,
    }
}
RATE_LIMITED = {
    "error": {
        "message": "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3.",
        "type": "requests",
        "code": "rate_limit_exceeded",
    }
}


class ScriptedServer:
    """Answers the n-th request with the n-th (status, headers) of `script`; 200 sends ANSWER."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        self.script = script
        self.seen: list[str | None] = []  # the Authorization header of each request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                server.seen.append(self.headers.get("Authorization"))
                status, headers = server.script[min(len(server.seen), len(server.script)) - 1]
                reply = {200: ANSWER, 400: BAD_REQUEST, 429: RATE_LIMITED}.get(status, SERVER_ERROR)
                body = json.dumps(reply).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ScriptedServer] = []

    def start(script: list[tuple[int, dict[str, str]]]) -> ScriptedServer:
        servers.append(ScriptedServer(script).__enter__())
        return servers[-1]

    yield start
    for server in servers:
        server.__exit__()


REQUEST = DispatchRequest("ptp-mock", "case-01", "triage", "Triage this job.")


def _client(url: str, policy: RetryPolicy) -> _ChatCompletions:
    return _ChatCompletions(url, API_KEY, "gpt-4o-mini", timeout_s=10, retry=policy)


def test_429_waits_as_retry_after_says_then_succeeds(serve: Any) -> None:
    server = serve([(429, {"Retry-After": "7"}), (200, {})])
    waits: list[float] = []  # recorded, not slept: the test stays fast
    result = _client(server.url, RetryPolicy(sleep=waits.append)).dispatch(REQUEST)
    assert waits == [7.0]
    assert len(server.seen) == 2 and set(server.seen) == {f"Bearer {API_KEY}"}
    assert result.usage is not None
    assert (result.usage.input, result.usage.cache_read, result.usage.output) == (1210, 1024, 14)


def test_429_with_an_http_date(serve: Any) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    server = serve([(429, {"Retry-After": format_datetime(when, usegmt=True)}), (200, {})])
    waits: list[float] = []
    _client(server.url, RetryPolicy(sleep=waits.append)).dispatch(REQUEST)
    assert len(waits) == 1 and 28 < waits[0] <= 30  # the date has whole seconds


def test_503_twice_backs_off_exponentially_then_succeeds(serve: Any) -> None:
    server = serve([(503, {}), (503, {}), (200, {})])
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)

    result = _client(server.url, RetryPolicy(base_s=0.01, sleep=sleep)).dispatch(REQUEST)
    assert waits == [0.01, 0.02]
    assert len(server.seen) == 3 and result.artifact.startswith("category: timeout")


def test_always_500_gives_up_after_the_attempts(serve: Any) -> None:
    server = serve([(500, {})])
    policy = RetryPolicy(max_attempts=4, base_s=0.005)  # real sleeps, 35 ms in all
    with pytest.raises(DispatchError) as caught:
        _client(server.url, policy).dispatch(REQUEST)
    assert len(server.seen) == 4
    message = str(caught.value)
    assert message == (
        f"case 'case-01' step 'triage': POST {server.url}/chat/completions returned HTTP 500 "
        "(type server_error): The server had an error while processing your request. Sorry "
        "about that! (after 4 attempts, 0.035s waited)"
    )
    assert API_KEY not in message


def test_the_total_wait_is_bounded(serve: Any) -> None:
    server = serve([(429, {"Retry-After": "3600"}), (200, {})])
    waits: list[float] = []
    with pytest.raises(
        DispatchError,
        match=r"HTTP 429 \(type requests, code rate_limit_exceeded\): Rate limit .* \(after 1 "
        r"attempt\(s\): waiting 3600s",
    ):
        _client(server.url, RetryPolicy(sleep=waits.append)).dispatch(REQUEST)
    assert waits == [] and len(server.seen) == 1
    server = serve([(502, {})])
    policy = RetryPolicy(
        max_attempts=50, base_s=1, max_delay_s=4, max_total_wait_s=10, sleep=waits.append
    )
    with pytest.raises(
        DispatchError,
        match=r"HTTP 502 \(type server_error\): .* \(after 4 attempt\(s\): waiting 4s more would "
        r"pass the 10s retry budget, 7s waited\)$",
    ):
        _client(server.url, policy).dispatch(REQUEST)
    assert waits == [1, 2, 4]  # and 4 more would make 11s


def test_other_errors_are_not_retried(serve: Any) -> None:
    server = serve([(400, {}), (200, {})])
    waits: list[float] = []
    with pytest.raises(DispatchError) as caught:
        _client(server.url, RetryPolicy(sleep=waits.append)).dispatch(REQUEST)
    assert str(caught.value).endswith(
        "returned HTTP 400 (type invalid_request_error): Unsupported value: 'temperature' does "
        "not support 0.2 with this model."
    )
    assert waits == [] and len(server.seen) == 1


def test_retry_after_values() -> None:
    now = datetime(2025, 4, 18, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s("120", now) == 120.0
    assert retry_after_s("Fri, 18 Apr 2025 12:00:05 GMT", now) == 5.0
    assert retry_after_s("Fri, 18 Apr 2025 11:59:00 GMT", now) == 0.0  # in the past
    assert retry_after_s("soon", now) is None
    assert retry_after_s("-3", now) is None
    assert retry_after_s(None, now) is None


def test_a_missing_key_is_one_usage_error(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_scenario(plugin_pytester.path, cases=3)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = plugin_pytester.runpytest_subprocess("-m", "calibration", "--adapter=openai")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if "OPENAI_API_KEY" in line]
    assert errors == [
        "ERROR: the openai adapter reads its API key from $OPENAI_API_KEY, which is not set; "
        "set it, or point --openai-base-url at a local server (the endpoint is "
        "https://api.openai.com/v1)"
    ]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    cli = plugin_pytester.run(
        sys.executable, "-m", "calibrate", "run", "ptp-mock", "--adapter", "openai"
    )
    assert cli.ret == 2
    cli.stderr.fnmatch_lines(["calibrate: error: the openai adapter reads its API key from *"])


def test_a_local_server_needs_no_key(
    plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    server = serve([(429, {"Retry-After": "0"}), (200, {})])
    copy_scenario(plugin_pytester.path, cases=1)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = plugin_pytester.runpytest_subprocess(
        "-m", "calibration", "--adapter=openai", f"--openai-base-url={server.url}",
        "--adapter-model=gpt-4o-mini",
    )  # fmt: skip
    result.assert_outcomes(failed=1)  # the scripted answer is not the ground truth
    assert len(server.seen) == 5 and set(server.seen) == {None}  # 4 steps, one retried
    assert missing_key("http://localhost:8080/v1") is None
    assert missing_key("http://[::1]:8080/v1") is None
    assert missing_key("http://127.0.0.2/v1") is None
    assert missing_key("https://api.openai.com/v1") is not None
    assert missing_key("http://10.0.0.5/v1") is not None


def test_one_attempt_means_no_retry_and_no_note(serve: Any) -> None:
    server = serve([(503, {}), (200, {})])
    with pytest.raises(DispatchError) as caught:
        _client(server.url, RetryPolicy(max_attempts=1)).dispatch(REQUEST)
    assert str(caught.value).endswith(
        "returned HTTP 503 (type server_error): The server had an error while processing your "
        "request. Sorry about that!"
    )
    assert len(server.seen) == 1
