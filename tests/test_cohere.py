"""Cohere's usage: `/v2/chat` and `/v1/chat`, whole and streamed, read from bodies of the shapes
Cohere's API sends (its v2 and v1 API references: the v2 `Usage` object with `billed_units` and
`tokens`, the `message-end` stream event, v1's `meta` and its JSON-lines `stream-end` event).
No Cohere payload is in ../shared/corpus; the bodies below follow those references field by
field, with figures of our own. The reported input/output are the billed units (see
`providers.cohere`); genai-prices is the money oracle.

The end-to-end test sends through classic `httpx`, the transport of Cohere's SDK, to a local
server standing in for api.cohere.com, with --cost-capture.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import genai_prices
import pytest

from pytest_tokencost.errors import MissingUsageError
from pytest_tokencost.providers import parse_body, usage_from, usage_from_body
from pytest_tokencost.providers.capture import Exchange, record_for

# 23 billed input tokens (the user's text); 515 raw ones (Cohere's prompt template around it).
V2_RESPONSE: dict[str, Any] = {
    "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    "finish_reason": "COMPLETE",
    "message": {
        "role": "assistant",
        "content": [{"type": "text", "text": "Refunds reach your card within five days."}],
    },
    "usage": {
        "billed_units": {"input_tokens": 23, "output_tokens": 61},
        "tokens": {"input_tokens": 515, "output_tokens": 61},
    },
}

V2_STREAM = (
    "event: message-start\n"
    'data: {"id":"29f14a5a-11de-4cae-9800-25e4747408ea","type":"message-start","delta":'
    '{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],'
    '"citations":[]}}}\n\n'
    "event: content-start\n"
    'data: {"type":"content-start","index":0,"delta":{"message":{"content":'
    '{"type":"text","text":""}}}}\n\n'
    "event: content-delta\n"
    'data: {"type":"content-delta","index":0,"delta":{"message":{"content":'
    '{"text":"Refunds reach your card."}}}}\n\n'
    "event: content-end\n"
    'data: {"type":"content-end","index":0}\n\n'
    "event: message-end\n"
    'data: {"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":'
    '{"billed_units":{"input_tokens":23,"output_tokens":9},'
    '"tokens":{"input_tokens":515,"output_tokens":9}}}}\n\n'
)

V1_RESPONSE: dict[str, Any] = {
    "response_id": "0b9c8a0e-5b0f-4e0a-9f52-6e7d1c1e2a3b",
    "text": "Refunds reach your card within five days.",
    "generation_id": "6a9b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d",
    "chat_history": [],
    "finish_reason": "COMPLETE",
    "meta": {
        "api_version": {"version": "1"},
        "billed_units": {"input_tokens": 17, "output_tokens": 65},
        "tokens": {"input_tokens": 82, "output_tokens": 65},
    },
}

V1_STREAM = "\n".join(
    json.dumps(event)
    for event in (
        {"is_finished": False, "event_type": "stream-start", "generation_id": "6a9b1c2d"},
        {"is_finished": False, "event_type": "text-generation", "text": "Refunds reach"},
        {"is_finished": False, "event_type": "text-generation", "text": " your card."},
        {
            "is_finished": True,
            "event_type": "stream-end",
            "finish_reason": "COMPLETE",
            "response": {**V1_RESPONSE, "text": "Refunds reach your card."},
        },
    )
)


def test_v2_response_reports_the_billed_units() -> None:
    observed = usage_from(V2_RESPONSE)
    assert (observed.provider, observed.kind, observed.model) == ("cohere", "cohere.chat", None)
    assert (observed.usage.input, observed.usage.output) == (23, 61)
    assert observed.usage.cache_read is None and observed.usage.reasoning is None
    assert observed.notes == ()


def test_v2_stream_reads_its_message_end_event() -> None:
    events = parse_body(V2_STREAM.encode())
    assert [event["type"] for event in events][-1] == "message-end"
    observed = usage_from_body(V2_STREAM.encode())
    assert (observed.provider, observed.kind) == ("cohere", "cohere.chat.stream")
    assert (observed.usage.input, observed.usage.output) == (23, 9)


def test_v1_response_and_its_json_lines_stream() -> None:
    whole = usage_from(V1_RESPONSE)
    assert (whole.usage.input, whole.usage.output) == (17, 65)
    assert parse_body(V1_STREAM.encode())[-1]["event_type"] == "stream-end"
    streamed = usage_from_body(V1_STREAM.encode())
    assert (streamed.usage.input, streamed.usage.output) == (17, 65)


def test_without_billed_units_the_raw_tokens_are_kept_and_said() -> None:
    usage = {"tokens": {"input_tokens": 515, "output_tokens": 61}}
    observed = usage_from({**V2_RESPONSE, "usage": usage})
    assert (observed.usage.input, observed.usage.output) == (515, 61)
    assert len(observed.notes) == 1 and "raw usage.tokens" in observed.notes[0]


def test_a_stream_cut_before_message_end_is_missing_usage() -> None:
    cut = V2_STREAM[: V2_STREAM.index("event: message-end")]
    with pytest.raises(MissingUsageError, match="message-end") as caught:
        usage_from_body(cut.encode())
    assert caught.value.complete is False


def _oracle(model: str, usage: tuple[int, int]) -> int | None:
    try:
        price = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=usage[0], output_tokens=usage[1]),
            model,
            provider_id="cohere",
            genai_request_timestamp=datetime.now(UTC),
        )
    except LookupError:
        return None
    return int((price.total_price * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("path", ["/v2/chat", "/v1/chat"])
def test_capture_records_a_cohere_call_as_cohere_with_the_requested_model(path: str) -> None:
    body = V2_RESPONSE if path == "/v2/chat" else V1_RESPONSE
    request = {"model": "command-a-03-2025", "messages": [{"role": "user", "content": "Hi"}]}
    made = record_for(
        Exchange(
            "POST",
            "api.cohere.com",
            path,
            json.dumps(request).encode(),
            {},
            json.dumps(body).encode(),
        )
    )
    assert made is not None and made.observed is not None
    assert made.observed.provider == "cohere"
    assert made.observed.model == "command-a-03-2025"  # v2 names none: the request's


CONFTEST = r'''
"""A local server standing in for api.cohere.com (its DNS too): /v2/chat answers the JSON or
the server-sent events Cohere sends, written in small flushed chunks as a real server's arrive,
each answer with an id of its own as Cohere's have."""

import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

RESPONSE = %(response)s
STREAM = %(stream)r
STREAM_ID = json.loads(STREAM.split("data: ")[1].split("\n")[0])["id"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = str(uuid.uuid4())
        if request.get("stream"):
            body = STREAM.replace(json.dumps(STREAM_ID), json.dumps(answer)).encode()
        else:
            body = json.dumps({**RESPONSE, "id": answer}).encode()
        self.send_response(200)
        kind = "text/event-stream" if request.get("stream") else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("x-request-id", "req-cohere-1")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(body), 37):
            part = body[start:start + 37]
            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def cohere_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def cohere_url(cohere_port, monkeypatch):
    resolve = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return resolve("127.0.0.1" if host == "api.cohere.com" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return f"http://api.cohere.com:{cohere_port}/v2/chat"
'''

SUITE = """
import httpx

REQUEST = {"model": "command-a-03-2025", "messages": [{"role": "user", "content": "Refund?"}]}


def test_chat(cohere_url):
    with httpx.Client() as client:
        answer = client.post(cohere_url, json=REQUEST).json()
    assert answer["finish_reason"] == "COMPLETE"


def test_stream(cohere_url):
    with httpx.Client() as client:
        with client.stream("POST", cohere_url, json={**REQUEST, "stream": True}) as response:
            text = b"".join(response.iter_bytes()).decode()
    assert "message-end" in text
"""


def test_cohere_calls_through_httpx_are_recorded_with_their_billed_units(
    plugin_pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("httpx", reason="classic httpx is the transport of Cohere's SDK")
    plugin_pytester.makeconftest(CONFTEST % {"response": repr(V2_RESPONSE), "stream": V2_STREAM})
    plugin_pytester.makepyfile(test_cohere_calls=SUITE)
    result = plugin_pytester.runpytest_subprocess("--cost-capture", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    lines = (plugin_pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    records = {json.loads(line)["test_id"].split("::")[1]: json.loads(line) for line in lines}
    assert set(records) == {"test_chat", "test_stream"}
    for name, usage in (("test_chat", (23, 61)), ("test_stream", (23, 9))):
        record = records[name]
        assert (record["provider"], record["model"]) == ("cohere", "command-a-03-2025")
        assert (record["usage"]["input"], record["usage"]["output"]) == usage
        assert record["provenance"] == "reported" and not record["partial"]
        assert record["request_id"] == "req-cohere-1"
        assert record["cost_micro_usd"] == _oracle("command-a-03-2025", usage)
