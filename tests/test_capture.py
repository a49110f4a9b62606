"""--cost-capture with the real openai and anthropic SDKs against a local replay server.

`ProviderReplay` stands in for the OpenAI and Anthropic APIs (no remote API can be reached
here): it listens on 127.0.0.1 and answers each endpoint with a real recorded response body
from ../shared/corpus, streamed in small chunks when the request asks for a stream.
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

from pytest_tokencost.providers import parse_body

from .http_doubles import send_chunked
from .test_corpus_conformance import EXPECTED

# (path, streamed) -> (corpus file, interaction)
ROUTES = {
    ("/v1/chat/completions", False): ("openai/pydantic-ai__chat_prompt_cache_e2e.yaml", 0),
    ("/v1/chat/completions", True): (
        "openai/pydantic-ai__chat_stream_include_usage_gpt-4o-mini.yaml",
        1,
    ),
    ("/v1/responses", False): ("openai/pydantic-ai__responses_prompt_cache_e2e.yaml", 1),
    ("/v1/responses", True): ("openai/pydantic-ai__responses_streaming_usage.yaml", 0),
    ("/v1/messages", False): ("anthropic/pydantic-ai__messages_cache_read_and_write.yaml", 1),
    ("/v1/messages", True): ("anthropic/pydantic-ai__messages_stream_thinking.yaml", 0),
}


def _body(corpus: Path, name: str, index: int) -> tuple[bytes, str]:
    response = yaml.safe_load((corpus / name).read_text())["interactions"][index]["response"]
    if response.get("parsed_body") is not None:
        return json.dumps(response["parsed_body"]).encode(), "application/json"
    return response["body"]["string"].encode(), "text/event-stream"


class ProviderReplay:
    """Stand-in for the providers: replays recorded bodies, streams them in 64-byte chunks."""

    def __init__(self, corpus: Path) -> None:
        bodies = {route: _body(corpus, *source) for route, source in ROUTES.items()}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body, kind = bodies[(self.path.split("?")[0], bool(request.get("stream")))]
                self.send_response(200)
                self.send_header("Content-Type", kind)
                if kind == "application/json":
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                send_chunked(self, body, 64)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ProviderReplay:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SUITE = """
import asyncio, json, os
import anthropic, openai

BASE = os.environ["REPLAY_URL"]
TEXT = json.loads(open(os.environ["REPLAY_TEXT"]).read())
MESSAGES = [{"role": "user", "content": "Where is my refund?"}]


def oa():
    return openai.OpenAI(base_url=BASE + "/v1", api_key="test-key", max_retries=0)


def an():
    return anthropic.Anthropic(base_url=BASE, api_key="test-key", max_retries=0)


def test_chat():
    response = oa().chat.completions.create(model="gpt-5.6-sol", messages=MESSAGES)
    assert response.usage.prompt_tokens == 4020


def test_chat_stream():
    stream = oa().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                          stream_options={"include_usage": True})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == TEXT["chat"]  # the stream reached the caller intact


def test_responses():
    assert oa().responses.create(model="gpt-5.6-sol", input="hi").usage.input_tokens == 4020


def test_responses_stream():
    events = list(oa().responses.create(model="gpt-5", input="hi", stream=True))
    assert events[-1].type == "response.completed"


def test_anthropic():
    message = an().messages.create(model="claude-sonnet-4-5", max_tokens=100,
                                   messages=MESSAGES)
    assert message.usage.cache_read_input_tokens == 1111


def test_anthropic_stream():
    with an().messages.stream(model="claude-sonnet-4-0", max_tokens=100,
                              messages=MESSAGES) as stream:
        assert "".join(stream.text_stream) == TEXT["anthropic"]


def test_async_both():
    async def main():
        client = openai.AsyncOpenAI(base_url=BASE + "/v1", api_key="k", max_retries=0)
        await client.chat.completions.create(model="gpt-5.6-sol", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True,
            stream_options={"include_usage": True})
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == TEXT["chat"]
        aclient = anthropic.AsyncAnthropic(base_url=BASE, api_key="k", max_retries=0)
        async with aclient.messages.stream(model="claude-sonnet-4-0", max_tokens=100,
                                           messages=MESSAGES) as s:
            assert "".join([t async for t in s.text_stream]) == TEXT["anthropic"]
    asyncio.run(main())


def test_inside_a_step(token_tracker):
    with token_tracker.step("triage"):
        oa().chat.completions.create(model="gpt-5.6-sol", messages=MESSAGES)
    assert token_tracker.summary().by_step["triage"].records == 1


def test_abandoned_stream():
    stream = oa().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                          stream_options={"include_usage": True})
    next(iter(stream))  # the caller stops reading before the usage chunk
"""


def _usage(name: str, index: int) -> dict[str, Any]:
    for (file, position), _ in zip(ROUTES.values(), ROUTES, strict=True):
        if (file, position) == (name, index):
            return EXPECTED[file][position][1].model_dump()
    raise KeyError(name)


@pytest.fixture
def replay(
    corpus: Path, plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ProviderReplay]:
    chat = parse_body(_body(corpus, *ROUTES[("/v1/chat/completions", True)])[0])
    anthropic_events = parse_body(_body(corpus, *ROUTES[("/v1/messages", True)])[0])
    texts = {
        "chat": "".join(
            c["choices"][0]["delta"].get("content") or "" for c in chat if c.get("choices")
        ),
        "anthropic": "".join(
            e["delta"].get("text", "")
            for e in anthropic_events
            if e.get("type") == "content_block_delta"
        ),
    }
    assert texts["chat"] and texts["anthropic"]
    (plugin_pytester.path / "texts.json").write_text(json.dumps(texts))
    plugin_pytester.makepyfile(test_calls=SUITE)
    with ProviderReplay(corpus) as server:
        monkeypatch.setenv("REPLAY_URL", server.url)
        monkeypatch.setenv("REPLAY_TEXT", str(plugin_pytester.path / "texts.json"))
        yield server


@pytest.mark.parametrize("workers", [None, "2"])
def test_capture_records_every_sdk_call(
    replay: ProviderReplay, plugin_pytester: pytest.Pytester, workers: str | None
) -> None:
    args = ["--cost-capture", "-p", "no:cacheprovider"] + (["-n", workers] if workers else [])
    result = plugin_pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=9)
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    by_test = report["summary"]["by_test"]
    chat = _usage(*ROUTES[("/v1/chat/completions", False)])
    chat_stream = _usage(*ROUTES[("/v1/chat/completions", True)])
    expected = {
        "test_chat": chat,
        "test_chat_stream": chat_stream,
        "test_responses": _usage(*ROUTES[("/v1/responses", False)]),
        "test_responses_stream": _usage(*ROUTES[("/v1/responses", True)]),
        "test_anthropic": _usage(*ROUTES[("/v1/messages", False)]),
        "test_anthropic_stream": _usage(*ROUTES[("/v1/messages", True)]),
    }
    for name, usage in expected.items():
        got = by_test[f"test_calls.py::{name}"]
        assert (got["records"], got["usage"]) == (1, usage), name
    # The async test made three calls; their usage adds up exactly.
    asynchronous = by_test["test_calls.py::test_async_both"]
    anthropic_stream = expected["test_anthropic_stream"]
    assert asynchronous["records"] == 3
    assert asynchronous["usage"]["input"] == (
        chat["input"] + chat_stream["input"] + anthropic_stream["input"]
    )
    assert asynchronous["tokens_by_provenance"] == {
        "reported": sum(u["input"] + u["output"] for u in (chat, chat_stream, anthropic_stream))
    }
    assert report["summary"]["by_step"]["triage"]["usage"] == chat  # the step open at the call
    # The abandoned stream is recorded, as partial with estimated counts, not dropped.
    records = [
        json.loads(line)
        for line in (plugin_pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    ]
    (abandoned,) = [r for r in records if r["test_id"].endswith("test_abandoned_stream")]
    assert abandoned["partial"] and abandoned["provenance"] == "estimated"
    assert abandoned["model"] == "gpt-4o-mini" and abandoned["usage"]["input"] > 0
    assert any("carried no usage" in w for w in report["warnings"])


def test_without_the_option_nothing_is_captured(
    replay: ProviderReplay, plugin_pytester: pytest.Pytester
) -> None:
    result = plugin_pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "not step")
    result.assert_outcomes(passed=8, deselected=1)
    assert not (plugin_pytester.path / ".tokencost").exists()


OBSERVING = """
import os
import openai, anthropic
import pytest

BASE = os.environ["REPLAY_URL"]
MESSAGES = [{"role": "user", "content": "Where is my refund?"}]


def oa():
    return openai.OpenAI(base_url=BASE + "/v1", api_key="test-key", max_retries=0)


def test_chat_observed(token_tracker):
    # The README teaches both capture and observe(): the response counts once.
    response = oa().chat.completions.create(model="gpt-5.6-sol", messages=MESSAGES)
    token_tracker.observe(response)
    token_tracker.observe(response)  # and observing it again changes nothing


def test_stream_observed(token_tracker):
    chunks = list(oa().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True}))
    token_tracker.observe(chunks)


def test_anthropic_observed(token_tracker):
    client = anthropic.Anthropic(base_url=BASE, api_key="test-key", max_retries=0)
    token_tracker.observe(client.messages.create(
        model="claude-sonnet-4-5", max_tokens=100, messages=MESSAGES))


@pytest.mark.token_budget(max_tokens=1_000)
def test_over_budget_under_capture():
    oa().chat.completions.create(model="gpt-5.6-sol", messages=MESSAGES)  # 4,020 input tokens
"""


@pytest.mark.parametrize("workers", [None, "2"])
def test_capture_and_observe_count_each_response_once_and_budgets_hold(
    replay: ProviderReplay, plugin_pytester: pytest.Pytester, workers: str | None
) -> None:
    plugin_pytester.makepyfile(test_calls=OBSERVING)
    args = ["--cost-capture", "-p", "no:cacheprovider", "--cost-report"]
    result = plugin_pytester.runpytest_subprocess(*args, *(["-n", workers] if workers else []))
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["*TokenBudgetExceeded: token budget exceeded: test *over_budget* spent * of its 1,000*"]
    )
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    by_test = report["summary"]["by_test"]
    chat = _usage(*ROUTES[("/v1/chat/completions", False)])
    expected = {
        "test_chat_observed": chat,
        "test_stream_observed": _usage(*ROUTES[("/v1/chat/completions", True)]),
        "test_anthropic_observed": _usage(*ROUTES[("/v1/messages", False)]),
        "test_over_budget_under_capture": chat,  # the crossing call is counted, and fails
    }
    for name, usage in expected.items():
        got = by_test[f"test_calls.py::{name}"]
        assert (got["records"], got["usage"]) == (1, usage), name
    # observe() saw each of the first three responses after capture did, the chat one twice.
    assert report["duplicates_dropped"] == 4
    records = [
        json.loads(line)
        for line in (plugin_pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    ]
    assert all(r["response_id"] for r in records)
    exceeded = [b for b in report["budgets"] if b["status"] == "exceeded"]
    assert [(b["channel"], b["used"], b["limit"]) for b in exceeded] == [
        ("tokens", chat["input"] + chat["output"], 1_000)
    ]


def test_a_session_budget_stops_the_run_under_capture(
    replay: ProviderReplay, plugin_pytester: pytest.Pytester
) -> None:
    plugin_pytester.makepyfile(
        test_calls="""
        import os, openai, pytest
        @pytest.mark.parametrize("n", range(5))
        def test_call(n):
            client = openai.OpenAI(base_url=os.environ["REPLAY_URL"] + "/v1", api_key="k",
                                   max_retries=0)
            client.chat.completions.create(model="gpt-5.6-sol", messages=[])
        """
    )
    chat = _usage(*ROUTES[("/v1/chat/completions", False)])
    per_call = chat["input"] + chat["output"]
    result = plugin_pytester.runpytest_subprocess(
        "--cost-capture", "-p", "no:cacheprovider", f"--cost-budget-tokens={per_call * 2 + 1}"
    )
    # Two calls fit; the third crosses (its test fails); the rest are not run.
    result.assert_outcomes(passed=2, failed=1, skipped=2)
    result.stdout.fnmatch_lines(["ERROR: session token budget exhausted*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_budget_warning_made_an_error_fails_the_test_and_keeps_the_record(
    replay: ProviderReplay, plugin_pytester: pytest.Pytester, workers: str | None
) -> None:
    """`filterwarnings = error` (strict suites use it) turns the 80% budget warning into an
    exception: `record()` raises it, and a captured call, which must not raise inside the SDK,
    fails its test after the body. Both records are kept and counted; no "not counted"
    warning for a call that was counted."""
    chat = _usage(*ROUTES[("/v1/chat/completions", False)])
    per_call = chat["input"] + chat["output"]
    limit = per_call * 10 // 9  # the call uses 90%: over the warn line, under the limit
    # as strict suites have it (the replayed models' deprecation notices aside)
    plugin_pytester.makeini(
        "[pytest]\nfilterwarnings =\n    error\n    ignore::DeprecationWarning\n"
    )
    plugin_pytester.makepyfile(
        test_strict=f"""
        import os, openai, pytest
        from pytest_tokencost import Usage

        @pytest.mark.token_budget(max_tokens={limit})
        def test_captured():
            client = openai.OpenAI(base_url=os.environ["REPLAY_URL"] + "/v1", api_key="k",
                                   max_retries=0)
            client.chat.completions.create(model="gpt-5.6-sol", messages=[])
            # the SDK call returned normally: the test goes on

        @pytest.mark.token_budget(max_tokens=1_000)
        def test_recorded(token_tracker):
            token_tracker.record(model="gpt-4o", usage=Usage(input=850, output=50))
            raise AssertionError("not reached: record() raised the warning")
        """
    )
    args = ["--cost-capture", "-p", "no:cacheprovider", "--cost-report=term"]
    workers_args = ["-n", workers] if workers else []
    result = plugin_pytester.runpytest_subprocess(*args, *workers_args, "test_strict.py")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*pytest_tokencost.pytest_warnings.TokenBudgetWarning: budget warning: test "
            "test_strict.py::test_captured reached 90% of its tokens budget*",
        ]
    )
    result.stdout.no_fnmatch_line("*not reached*")
    result.stdout.no_fnmatch_line("*could not be recorded*")
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    by_test = report["summary"]["by_test"]
    assert (
        by_test["test_strict.py::test_captured"]["records"],
        report["summary"]["totals"]["usage"]["input"],
    ) == (1, chat["input"] + 850)
    assert by_test["test_strict.py::test_recorded"]["records"] == 1
    assert not [w for w in report["warnings"] if "not counted" in w]


# -- a stream read again from its start counts its body once --------------------------------------

REREAD = """
import asyncio, json
import httpx2

ANSWER = ["Your refund", " was sent", " on Monday."]
CHUNK = {"id": "chatcmpl-re", "object": "chat.completion.chunk", "created": 1,
         "model": "gpt-4o-mini", "system_fingerprint": "fp_1"}
BODY = "".join(
    "data: " + json.dumps({**CHUNK, "choices": [
        {"index": 0, "delta": {"content": text}, "finish_reason": None}]}) + "\\n\\n"
    for text in ANSWER
) + "data: " + json.dumps({**CHUNK, "choices": [
    {"index": 0, "delta": {}, "finish_reason": "stop"}]}) + "\\n\\ndata: [DONE]\\n\\n"
REQUEST = {"model": "gpt-4o-mini", "stream": True,
           "messages": [{"role": "user", "content": "Where is my refund?"}]}


def replayed(request):
    # What vcrpy's replay hands back: the whole recorded body in one re-iterable ByteStream.
    return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                           stream=httpx2.ByteStream(BODY.encode()))


class Replay(httpx2.AsyncBaseTransport):
    async def handle_async_request(self, request):
        return replayed(request)


def test_sync_read_twice():
    with httpx2.Client(transport=httpx2.MockTransport(replayed)) as client:
        request = client.build_request("POST", "https://api.openai.com/v1/chat/completions",
                                       json=REQUEST)
        response = client.send(request, stream=True)
        first, second = b"".join(response.stream), b"".join(response.stream)
        response.close()
    assert first == second == BODY.encode()


def test_async_read_twice():
    async def main():
        async with httpx2.AsyncClient(transport=Replay()) as client:
            request = client.build_request("POST", "https://api.openai.com/v1/chat/completions",
                                           json=REQUEST)
            response = await client.send(request, stream=True)
            first = b"".join([chunk async for chunk in response.stream])
            second = b"".join([chunk async for chunk in response.stream])
            await response.aclose()
            return first, second
    first, second = asyncio.run(main())
    assert first == second == BODY.encode()
"""


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_stream_read_twice_counts_its_answer_once(
    plugin_pytester: pytest.Pytester, workers: str | None
) -> None:
    from pytest_tokencost.counting import count_tokens

    plugin_pytester.makepyfile(test_reread=REREAD)
    args = ["--cost-capture", "-p", "no:cacheprovider"] + (["-n", workers] if workers else [])
    plugin_pytester.runpytest_subprocess(*args).assert_outcomes(passed=2)
    lines = (plugin_pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    records = sorted((json.loads(line) for line in lines), key=lambda r: r["test_id"])
    answer = count_tokens("Your refund was sent on Monday.", "gpt-4o-mini")
    assert answer == 7  # o200k_base: Your| refund| was| sent| on| Monday|.
    assert [
        (r["test_id"].split("::")[1], r["provenance"], r["partial"], r["usage"]["output"])
        for r in records
    ] == [
        ("test_async_read_twice", "estimated", False, answer),
        ("test_sync_read_twice", "estimated", False, answer),
    ]
