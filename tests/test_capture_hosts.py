"""--cost-capture prices a call as the provider its host belongs to, with genai-prices as oracle.

The real openai SDK is pointed at each provider's real API URL (Cerebras, Groq, Mistral,
Together, AWS Bedrock's OpenAI-compatible endpoint, OpenRouter, Azure OpenAI). No remote API can
be reached here, so the client is given an httpx2 transport, `LocalResolver`, that stands in for
DNS and TLS only: it sends the request over a real socket to `HostReplay` on 127.0.0.1 while the
request keeps its URL (the SDK, capture and the ``Host`` header all see the provider's host).
`HostReplay` stands in for the providers: it answers with real recorded bodies from
../shared/corpus (OpenAI-compatible chat answers carry the model that was asked for, as these
providers' answers do), streams in 64-byte chunks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import genai_prices
import pytest
import yaml

from pytest_tokencost.hosts import provider_for_url

from .http_doubles import send_chunked

CHAT = ("openai/pydantic-ai__chat_prompt_cache_e2e.yaml", 0)
OPENROUTER_STREAM = ("openai/pydantic-ai__openrouter_chat_stream_reasoning.yaml", 0)
AZURE_STREAM = ("openai/crewai__azure_chat_stream_include_usage.yaml", 0)


def _recorded(corpus: Path, name: str, index: int) -> tuple[bytes, str]:
    response = yaml.safe_load((corpus / name).read_text())["interactions"][index]["response"]
    if response.get("parsed_body") is not None:
        return json.dumps(response["parsed_body"]).encode(), "application/json"
    return response["body"]["string"].encode(), "text/event-stream"


class HostReplay:
    """Stand-in for the providers' APIs: answers by the request's ``Host`` header.

    A chat request gets the recorded chat body with the requested model in it; a streamed one
    gets the recorded stream of that host (OpenRouter's, Azure's), in 64-byte chunks.
    """

    def __init__(self, corpus: Path) -> None:
        chat = json.loads(_recorded(corpus, *CHAT)[0])
        streams = {
            "openrouter.ai": _recorded(corpus, *OPENROUTER_STREAM)[0],
            "tokencost-test.openai.azure.com": _recorded(corpus, *AZURE_STREAM)[0],
        }
        self.hosts: list[str] = []

        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                host = self.headers["Host"]
                outer.hosts.append(host)
                if not request.get("stream"):
                    body = json.dumps({**chat, "model": request["model"]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                stream = streams[host]
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                send_chunked(self, stream, 64)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]

    def __enter__(self) -> HostReplay:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


#: The suite's helpers, shared with the combination matrix.
CLIENTS = '''
import asyncio, os
import httpx2, openai

PORT = int(os.environ["REPLAY_PORT"])
MESSAGES = [{"role": "user", "content": "Where is my refund?"}]


def _local(url):
    return url.copy_with(scheme="http", host="127.0.0.1", port=PORT)


class LocalResolver(httpx2.HTTPTransport):
    """Stands in for DNS and TLS: the request goes to the local replay server over a real
    socket, and keeps its provider URL for everyone else."""

    def handle_request(self, request):
        url, request.url = request.url, _local(request.url)
        try:
            return super().handle_request(request)
        finally:
            request.url = url


class AsyncLocalResolver(httpx2.AsyncHTTPTransport):
    """The same for async clients."""

    async def handle_async_request(self, request):
        url, request.url = request.url, _local(request.url)
        try:
            return await super().handle_async_request(request)
        finally:
            request.url = url


def client(base_url):
    return openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0,
                         http_client=httpx2.Client(transport=LocalResolver()))


def async_client(base_url):
    return openai.AsyncOpenAI(base_url=base_url, api_key="test-key", max_retries=0,
                              http_client=httpx2.AsyncClient(transport=AsyncLocalResolver()))
'''

#: test id -> (base URL, model asked for, provider genai-prices finds for the URL)
CHAT_CALLS = {
    "cerebras-gpt-oss": ("https://api.cerebras.ai/v1", "gpt-oss-120b", "cerebras"),
    "cerebras-llama": ("https://api.cerebras.ai/v1", "llama-3.3-70b", "cerebras"),
    "groq": ("https://api.groq.com/openai/v1", "llama-3.3-70b-versatile", "groq"),
    "mistral": ("https://api.mistral.ai/v1", "codestral-latest", "mistral"),
    "together": (
        "https://api.together.xyz/v1",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "together",
    ),
    "bedrock": (
        "https://bedrock-runtime.us-east-1.amazonaws.com/openai/v1",
        "openai.gpt-oss-120b-1:0",
        "aws",
    ),
    "openrouter": ("https://openrouter.ai/api/v1", "deepseek/deepseek-chat", "openrouter"),
}

SUITE = (
    CLIENTS
    + f"""
import pytest

CHAT_CALLS = {CHAT_CALLS!r}


@pytest.mark.parametrize("name", sorted(CHAT_CALLS))
def test_chat(name):
    base_url, model, _ = CHAT_CALLS[name]
    response = client(base_url).chat.completions.create(model=model, messages=MESSAGES)
    assert response.model == model


def test_openrouter_stream():
    stream = client("https://openrouter.ai/api/v1").chat.completions.create(
        model="anthropic/claude-sonnet-4.5", messages=MESSAGES, stream=True,
        stream_options={{"include_usage": True}}, extra_body={{"reasoning": {{"enabled": True}}}})
    assert [chunk for chunk in stream][-1].usage.cost == 0.000669


def test_azure_stream():
    azure = openai.AzureOpenAI(
        azure_endpoint="https://tokencost-test.openai.azure.com", api_version="2024-12-01-preview",
        api_key="test-key", max_retries=0, http_client=httpx2.Client(transport=LocalResolver()))
    stream = azure.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                           stream_options={{"include_usage": True}})
    assert [chunk for chunk in stream][-1].usage.total_tokens == 19


def test_async_cerebras():
    async def main():
        await async_client("https://api.cerebras.ai/v1").chat.completions.create(
            model="gpt-oss-120b", messages=MESSAGES)
    asyncio.run(main())
"""
)


def _micro(usd: Decimal) -> int:
    return int((usd * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def oracle_micro_usd(record: dict[str, Any], provider: str) -> int:
    """genai-prices' own price of a record's usage for `provider`, at the record's time."""
    usage = record["usage"]
    calc = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=usage["input"],
            output_tokens=usage["output"],
            cache_read_tokens=usage["cache_read"] or 0,
            cache_write_tokens=usage["cache_write"] or 0,
        ),
        record["model"],
        provider_id=provider,
        genai_request_timestamp=datetime.fromisoformat(record["timestamp"]),
    )
    return _micro(calc.total_price)


@pytest.fixture
def host_replay(
    corpus: Path, plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HostReplay]:
    with HostReplay(corpus) as server:
        monkeypatch.setenv("REPLAY_PORT", str(server.port))
        yield server


def _records(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    lines = (pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_each_call_is_priced_as_the_provider_of_its_host(
    host_replay: HostReplay, plugin_pytester: pytest.Pytester
) -> None:
    plugin_pytester.makepyfile(test_hosts=SUITE)
    result = plugin_pytester.runpytest_subprocess("--cost-capture", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(CHAT_CALLS) + 3)
    # The requests really went out with the providers' hosts.
    assert set(host_replay.hosts) >= {"api.cerebras.ai", "openrouter.ai", "api.groq.com"}
    by_test = {r["test_id"].split("::")[1]: r for r in _records(plugin_pytester)}
    expected = {
        f"test_chat[{name}]": (model, provider) for name, (_, model, provider) in CHAT_CALLS.items()
    }
    expected |= {
        "test_openrouter_stream": ("anthropic/claude-sonnet-4.5", "openrouter"),
        "test_azure_stream": ("gpt-4o-mini-2024-07-18", "azure"),
        "test_async_cerebras": ("gpt-oss-120b", "cerebras"),
    }
    assert set(by_test) == set(expected)
    for test, (model, provider) in expected.items():
        record = by_test[test]
        assert (record["model"], record["provider"]) == (model, provider), test
        assert record["provenance"] == "reported"
        # The price is genai-prices' for that provider, and it is that provider's own entry.
        assert record["cost_micro_usd"] == oracle_micro_usd(record, provider), test
        assert record["priced_as"].startswith(f"{provider}:"), test
    # The recorded chat usage: 4,020 input tokens (4,012 of them written to the cache), 4 output.
    chat = by_test["test_chat[groq]"]["usage"]
    assert (chat["input"], chat["cache_write"], chat["output"]) == (4020, 4012, 4)
    # Cerebras serves gpt-oss-120b at its own $0.35/$0.75 per MTok (it lists no cache price, so
    # cache writes are input): 4,020 x 0.35 + 4 x 0.75 = 1,407 + 3 = 1,410 micro-USD, where
    # OpenAI's rate for the model ($0.039/$0.18) would have said 158.
    assert by_test["test_chat[cerebras-gpt-oss]"]["cost_micro_usd"] == 1410
    assert by_test["test_async_cerebras"]["cost_micro_usd"] == 1410
    # OpenRouter reported 0.000669 USD for its stream (43 input, 36 output tokens at its $3/$15
    # per MTok): our price agrees, so the report's cost check does.
    stream = by_test["test_openrouter_stream"]
    assert stream["reported_cost_micro_usd"] == stream["cost_micro_usd"] == 669
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    assert [(c["reported_micro_usd"], c["agrees"]) for c in report["cost_checks"]] == [(669, True)]
    # Models genai-prices knows only under Cerebras, Groq, Together, AWS and OpenRouter are priced.
    assert report["summary"]["unpriced_models"] == []


@pytest.mark.parametrize(
    ("url", "model", "provider"),
    [(base + "/chat/completions", model, provider) for base, model, provider in CHAT_CALLS.values()]
    + [
        (
            "https://tokencost-test.openai.azure.com/openai/deployments/x/chat/completions",
            "gpt-4o",
            "azure",
        ),
        ("https://api.openai.com/v1/responses", "gpt-4o", "openai"),
        ("https://api.anthropic.com/v1/messages", "claude-sonnet-4-5", "anthropic"),
        (
            "https://generativelanguage.googleapis.com/v1beta/models/g:generateContent",
            "gemini-2.5-flash",
            "google",
        ),
    ],
)
def test_the_provider_of_a_url_is_the_one_calc_price_finds(
    url: str, model: str, provider: str
) -> None:
    host, _, path = url.removeprefix("https://").partition("/")
    assert provider_for_url(host, "/" + path) == provider
    # genai-prices itself, asked with the URL, picks the same provider.
    usage = genai_prices.Usage(input_tokens=0, output_tokens=0)
    assert genai_prices.calc_price(usage, model, provider_api_url=url).provider.id == provider


def test_the_path_tells_hugging_face_router_providers_apart() -> None:
    host = "router.huggingface.co"
    assert provider_for_url(host, "/groq/openai/v1/chat/completions") == "huggingface_groq"
    assert provider_for_url(host, "/cerebras/v1/chat/completions") == "huggingface_cerebras"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "[::1]", "example.com"])
def test_a_host_no_provider_lives_on_has_none(host: str) -> None:
    assert provider_for_url(host, "/v1/chat/completions") is None
