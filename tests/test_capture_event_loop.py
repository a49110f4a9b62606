"""--cost-capture inside an event loop guarded against blocking I/O never drops a call.

Suites such as pydantic-ai's run their async tests under a guard that raises on any blocking
call made inside the event loop; here it is the real `blockbuster` package. `UsagelessReplay`
stands in for a provider that sends no usage (an OpenAI-compatible server, or OpenAI's own
stream without ``stream_options.include_usage``): it answers on 127.0.0.1 with the recorded
chat body of ../shared/corpus minus its ``usage``, or with the recorded stream minus its usage
chunk, in 64-byte chunks. Estimating such a call's tokens needs the model's vocabulary, a file:
capture must neither read it inside the loop nor lose the call.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_tokencost.budget import Channel, TokenBudgetExceeded
from pytest_tokencost.capture import Capture, _Call
from pytest_tokencost.counting import count_tokens
from pytest_tokencost.errors import VocabularyError
from pytest_tokencost.providers import parse_body
from pytest_tokencost.tracker import InMemoryTokenTracker

from .http_doubles import send_chunked

pytest.importorskip("blockbuster", reason="the blocking-I/O guard test needs blockbuster")

CHAT = ("openai/pydantic-ai__chat_prompt_cache_e2e.yaml", 0)
STREAM = ("openai/pydantic-ai__chat_stream_include_usage_gpt-4o-mini.yaml", 1)


def _response(corpus: Path, name: str, index: int) -> dict[str, Any]:
    return yaml.safe_load((corpus / name).read_text())["interactions"][index]["response"]  # type: ignore[no-any-return]


def _usageless(corpus: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    chat = dict(_response(corpus, *CHAT)["parsed_body"])
    del chat["usage"]
    events = parse_body(_response(corpus, *STREAM)["body"]["string"])
    chunks = [event for event in events if event.get("choices")]  # the usage chunk has none
    return chat, chunks


class UsagelessReplay:
    """Stand-in for a provider that reports no usage (see the module docstring)."""

    def __init__(self, corpus: Path) -> None:
        chat, chunks = _usageless(corpus)
        answers = itertools.count(1)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                # Each answer has its own id, on every chunk of a stream, as the API sends it.
                response_id = f"chatcmpl-replay{next(answers)}"
                body = json.dumps({**chat, "id": response_id}).encode()
                stream = "".join(
                    f"data: {json.dumps({**chunk, 'id': response_id})}\n\n" for chunk in chunks
                ).encode()
                stream += b"data: [DONE]\n\n"
                self.send_response(200)
                if not request.get("stream"):
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_header("Content-Type", "text/event-stream")
                send_chunked(self, stream, 64)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> UsagelessReplay:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SUITE = """
import asyncio, os
import httpx2, openai, pytest
from blockbuster import BlockingError, blockbuster_ctx
from pytest_tokencost.counting import load_encoding

BASE = os.environ["REPLAY_URL"]
MESSAGES = [{"role": "user", "content": "Where is my refund?"}]


class ToReplay(httpx2.AsyncHTTPTransport):
    \"\"\"Stands in for DNS and TLS: sends the request to the local replay server over a real
    socket; the request keeps its provider URL.\"\"\"

    async def handle_async_request(self, request):
        url = request.url
        request.url = httpx2.URL(BASE).copy_with(path=url.path, query=url.query)
        try:
            return await super().handle_async_request(request)
        finally:
            request.url = url


def test_the_guard_forbids_reading_a_vocabulary_inside_the_loop():
    async def main():
        with pytest.raises(BlockingError):
            load_encoding("o200k_base")
    with blockbuster_ctx():
        asyncio.run(main())


def test_usageless_answers_inside_a_guarded_loop():
    # Made before the loop: the client's TLS set-up reads certificate files.
    client = openai.AsyncOpenAI(base_url=BASE + "/v1", api_key="test-key", max_retries=0)
    cerebras = openai.AsyncOpenAI(
        base_url="https://api.cerebras.ai/v1", api_key="test-key", max_retries=0,
        http_client=httpx2.AsyncClient(transport=ToReplay()))

    async def main():
        response = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert response.usage is None
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True)
        return response.choices[0].message.content, "".join(
            [c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def on_cerebras():  # who served it is looked up inside the loop too
        await cerebras.chat.completions.create(model="gpt-oss-120b", messages=MESSAGES)

    with blockbuster_ctx():
        asyncio.run(on_cerebras())
        answer, streamed = asyncio.run(main())
    assert answer and streamed
"""


@pytest.fixture
def usageless(
    corpus: Path, plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Iterator[UsagelessReplay]:
    with UsagelessReplay(corpus) as server:
        monkeypatch.setenv("REPLAY_URL", server.url)
        yield server


def test_a_usageless_call_inside_a_guarded_loop_is_recorded_as_an_estimate(
    usageless: UsagelessReplay, corpus: Path, plugin_pytester: pytest.Pytester
) -> None:
    plugin_pytester.makepyfile(test_guarded=SUITE)
    result = plugin_pytester.runpytest_subprocess("--cost-capture", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    print(
        json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())[
            "warnings"
        ]
    )
    lines = (plugin_pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    chat, chunks = _usageless(corpus)
    answer = chat["choices"][0]["message"]["content"]
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    prompt = count_tokens("Where is my refund?", "gpt-4o-mini")  # o200k_base, counted here
    assert [
        (r["model"], r["provenance"], r["partial"], r["usage"]["input"], r["usage"]["output"])
        for r in records
    ] == [
        # complete answers that carry no usage: estimated, not partial
        ("gpt-oss-120b", "estimated", False, prompt, count_tokens(answer, "gpt-oss-120b")),
        ("gpt-4o-mini", "estimated", False, prompt, count_tokens(answer, "gpt-4o-mini")),
        ("gpt-4o-mini", "estimated", False, prompt, count_tokens(streamed, "gpt-4o-mini")),
    ]
    assert [(r["provider"], r["priced_as"]) for r in records] == [
        ("cerebras", "cerebras:gpt-oss-120b"),
        (None, "openai:gpt-4o-mini"),
        (None, "openai:gpt-4o-mini"),
    ]
    assert all(
        r["test_id"].endswith("test_usageless_answers_inside_a_guarded_loop") for r in records
    )
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    notes = [w for w in report["warnings"] if "carried no usage" in w]  # each text once
    assert sorted(w.split(" from ")[1].split(" ")[0] for w in notes) == [
        "127.0.0.1/v1/chat/completions",
        "api.cerebras.ai/v1/chat/completions",
    ]
    assert not [w for w in report["warnings"] if "could not be" in w]


def _request() -> Any:
    import httpx2

    return httpx2.Request(
        "POST",
        "https://api.example-llm.test/v1/chat/completions?api_key=sk-secret",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "private"}]},
    )


_BODY = json.dumps(
    {
        "object": "chat.completion",
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini",
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


@pytest.mark.parametrize("error", [RuntimeError("bug"), VocabularyError("damaged vocabulary")])
def test_a_failure_while_recording_becomes_a_warning_naming_the_call(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = InMemoryTokenTracker()

    def broken(*args: object, **kwargs: object) -> None:
        raise error  # a bug, or an error of ours that used to be swallowed with the budget's

    monkeypatch.setattr(tracker, "record_observed", broken)
    call = _Call(Capture(lambda: tracker), tracker, _request())
    call.finish({"x-request-id": "req-1"}, _BODY)  # never raises
    (warning,) = tracker.warnings
    assert warning == (
        "capture: the response of api.example-llm.test/v1/chat/completions could not be "
        f"recorded ({type(error).__name__}); its tokens are not counted"
    )


def test_a_crossed_budget_is_kept_on_the_tracker_not_warned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracker = InMemoryTokenTracker()
    crossing = TokenBudgetExceeded("test", Channel.TOKENS, 4, 1)

    def crossed(*args: object, **kwargs: object) -> None:
        tracker.crossed = crossing
        raise crossing

    monkeypatch.setattr(tracker, "record_observed", crossed)
    _Call(Capture(lambda: tracker), tracker, _request()).finish({}, _BODY)
    assert tracker.crossed is crossing and tracker.warnings == []
