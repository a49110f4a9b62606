"""A generated suite (conftest and tests) that calls LLMs through the clients capture added:
the real `groq` SDK (classic httpx), boto3's bedrock-runtime client, and `requests`.

Shared by test_capture_clients.py and test_combinations.py. The numbers every test spends are
hand-computed in `EXPECTED` (per test, per attempt) from the bodies below.
"""

from __future__ import annotations

from typing import Any

CONFTEST = r'''
"""Stand-ins for Groq's API, Amazon Bedrock's wire and DNS; one Groq stand-in per process."""

import base64
import json
import socket
import struct
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ANSWER = "Refunds reach your card within five working days."


def _chunk(response_id, delta, finish=None, **extra):
    return dict(
        id=response_id, object="chat.completion.chunk", created=1763900000,
        model="llama-3.3-70b-versatile", system_fingerprint="fp_3f3b593e33",
        choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    )


USAGE = {"queue_time": 0.05, "prompt_tokens": 61, "prompt_time": 0.004,
         "completion_tokens": 12, "completion_time": 0.03, "total_tokens": 73,
         "total_time": 0.034}


class GroqStandIn:
    """Stands in for api.groq.com's OpenAI-compatible chat endpoint (no remote API here).

    It answers as Groq does: a JSON body pretty-printed over several lines with an
    `x-request-id` header; a stream as server-sent events with chunked transfer encoding in
    37-byte pieces that split events and lines, the finish chunk carrying Groq's own
    `x_groq.usage`, and, only when the request asked with `stream_options.include_usage`, a
    last usage chunk with no choices that comes late (after a pause), before `data: [DONE]`.
    """

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/openai/v1/chat/completions":
                    self._send(404, b'{"error": {"message": "Unknown request URL"}}')
                    return
                response_id = "chatcmpl-" + uuid.uuid4().hex[:24]
                if request.get("stream"):
                    include = bool((request.get("stream_options") or {}).get("include_usage"))
                    self._stream(response_id, include)
                    return
                body = {
                    "id": response_id, "object": "chat.completion", "created": 1763900000,
                    "model": "llama-3.3-70b-versatile",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER},
                                 "logprobs": None, "finish_reason": "stop"}],
                    "usage": USAGE, "system_fingerprint": "fp_3f3b593e33",
                    "x_groq": {"id": "req_" + uuid.uuid4().hex},
                }
                self._send(200, json.dumps(body, indent=2).encode())

            def _send(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-request-id", "req_" + uuid.uuid4().hex)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, response_id, include_usage):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("x-request-id", "req_" + uuid.uuid4().hex)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                words = ANSWER.split(" ")
                chunks = [_chunk(response_id, {"role": "assistant", "content": ""},
                                 x_groq={"id": "req_" + uuid.uuid4().hex})]
                chunks += [_chunk(response_id, {"content": (" " if i else "") + word})
                           for i, word in enumerate(words)]
                chunks.append(_chunk(response_id, {}, "stop",
                                     x_groq={"id": "req_x", "usage": USAGE}))
                body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode()
                self._pieces(body)
                if include_usage:
                    time.sleep(0.05)  # the usage comes last, after the answer is complete
                    late = dict(_chunk(response_id, {}), choices=[], usage=USAGE)
                    self._pieces(f"data: {json.dumps(late)}\n\n".encode())
                self._pieces(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

            def _pieces(self, body):
                for start in range(0, len(body), 37):
                    part = body[start : start + 37]
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.flush()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/openai/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class BedrockStandIn:
    """Stands in for bedrock-runtime's HTTP API (no remote API here): Converse answers with a
    JSON body and Bedrock's `x-amzn-requestid` header, as the service does."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                body = json.dumps({
                    "output": {"message": {"role": "assistant", "content": [{"text": ANSWER}]}},
                    "stopReason": "end_turn",
                    "usage": {"inputTokens": 40, "outputTokens": 11, "totalTokens": 51},
                    "metrics": {"latencyMs": 402},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-amzn-requestid", str(uuid.uuid4()))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.endpoint = f"http://{BEDROCK_HOST}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()


BEDROCK_HOST = "bedrock-runtime.us-east-1.amazonaws.com"
BEDROCK = BedrockStandIn()
# A client made at conftest import, before --cost-capture begins: its calls cannot be recorded.
EARLY_BEDROCK = __import__("boto3").client(
    "bedrock-runtime", region_name="us-east-1", endpoint_url=BEDROCK.endpoint,
    aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")


@pytest.fixture
def stand_in_dns(groq_standin, monkeypatch):
    """Stands in for DNS: api.groq.com and Bedrock's host resolve to the local stand-ins."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        local = host in ("api.groq.com", BEDROCK_HOST)
        return resolve("127.0.0.1" if local else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="session")
def groq_standin():
    with GroqStandIn() as server:
        yield server


@pytest.fixture
def groq_client(groq_standin):
    import groq  # here, not at the top: the xdist controller never needs it

    client = groq.Groq(base_url=groq_standin.url.removesuffix("/openai/v1"),
                       api_key="gsk_test", max_retries=0)
    yield client
    client.close()


@pytest.fixture
def groq_dns(groq_standin, stand_in_dns):
    """The URL of Groq's chat endpoint, served by the stand-in."""
    return f"http://api.groq.com:{groq_standin.port}/openai/v1/chat/completions"


def bedrock():
    import boto3

    return boto3.client("bedrock-runtime", region_name="us-east-1",
                        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")


def frame(event_type, payload):
    """One message of AWS's event-stream encoding (prelude, headers, payload, CRC32s)."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                        (":message-type", "event")):
        name, value = name.encode(), value.encode()
        headers += bytes([len(name)]) + name + b"\x07" + struct.pack(">H", len(value)) + value
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 16 + len(headers) + len(body), len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def anthropic_chunk(event):
    """InvokeModelWithResponseStream's `chunk` event: the model's event, base64 in `bytes`."""
    return frame("chunk", {"bytes": base64.b64encode(json.dumps(event).encode()).decode()})


class BedrockWire:
    """Stands in for Bedrock's HTTP responses through botocore's own `before-send` hook.

    botocore parses what it returns exactly as what comes off the network: JSON bodies with
    Bedrock's `x-amzn-bedrock-*-token-count` headers, and event streams in AWS's binary
    event-stream encoding, handed over in 50-byte reads that split messages.
    """

    def __init__(self, client, body, headers=None, status=200, broken=False):
        from botocore.awsrequest import AWSResponse

        self.body, self.broken = body, broken
        response_headers = {"x-amzn-requestid": str(uuid.uuid4()), **(headers or {})}

        def send(request, **kwargs):
            return AWSResponse(request.url, status, response_headers, self)

        client.meta.events.register("before-send.bedrock-runtime", send)

    def read(self, *args):
        if self.broken:
            raise __import__("urllib3").exceptions.ProtocolError("Connection broken")
        return self.body

    def stream(self, **kwargs):
        for start in range(0, len(self.body), 50):
            yield self.body[start : start + 50]

    def close(self):
        pass
'''

SUITE = r"""
import asyncio, io, json

import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from conftest import (
    ANSWER, BEDROCK, EARLY_BEDROCK, BedrockWire, anthropic_chunk, bedrock, frame)

MESSAGES = [{"role": "user", "content": "Where is my refund?"}]
BEDROCK_MESSAGES = [{"role": "user", "content": [{"text": "Where is my refund?"}]}]
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
CONVERSE = {
    "output": {"message": {"role": "assistant", "content": [{"text": ANSWER}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 1024, "outputTokens": 256, "totalTokens": 3328,
              "cacheReadInputTokens": 2048, "cacheWriteInputTokens": 0},
    "metrics": {"latencyMs": 1830},
    "ResponseMetadata": {"RequestId": "5f0c1b7e-2a51-4f7e-9d0a-1f2b3c4d5e6f",
                         "HTTPStatusCode": 200, "HTTPHeaders": {}},
}
MESSAGE = {
    "id": "msg_bdrk_01XyZrefund", "type": "message", "role": "assistant",
    "model": "claude-3-5-sonnet-20240620",
    "content": [{"type": "text", "text": ANSWER}], "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 312, "cache_creation_input_tokens": 1500,
              "cache_read_input_tokens": 0, "output_tokens": 48},
}


def test_watched_modules_keep_their_own_loaders(groq_client):
    # capture waits for these imports; afterwards they look as they would have without it
    import botocore.session, httpx, urllib3.connectionpool

    for module in (botocore.session, httpx, urllib3.connectionpool):
        assert type(module.__loader__).__name__ == "SourceFileLoader", module
        assert module.__spec__.loader is module.__loader__


def test_groq_chat(groq_client):
    response = groq_client.chat.completions.create(model="llama-3.3-70b-versatile",
                                                   messages=MESSAGES)
    assert response.choices[0].message.content == ANSWER and response.usage.total_tokens == 73


def test_groq_stream(groq_client, token_tracker):
    with token_tracker.step("answer"):
        stream = groq_client.chat.completions.create(
            model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True,
            extra_body={"stream_options": {"include_usage": True}})
    # read after the step closed: charged to the step all the same
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == ANSWER  # the stream reached the caller intact


def test_groq_async(groq_standin):
    import groq

    async def main():
        client = groq.AsyncGroq(base_url=groq_standin.url.removesuffix("/openai/v1"),
                                api_key="gsk_test", max_retries=0)
        await client.chat.completions.create(model="llama-3.3-70b-versatile",
                                             messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True,
            extra_body={"stream_options": {"include_usage": True}})
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == ANSWER
        await client.close()

    asyncio.run(main())


def test_bedrock_converse(token_tracker):
    client = bedrock()
    with Stubber(client) as stub, token_tracker.step("answer"):
        stub.add_response("converse", CONVERSE, {"modelId": SONNET, "messages": BEDROCK_MESSAGES})
        response = client.converse(modelId=SONNET, messages=BEDROCK_MESSAGES)
    assert response["usage"]["inputTokens"] == 1024


def test_bedrock_invoke_model():
    client = bedrock()
    body = json.dumps(MESSAGE).encode()
    with Stubber(client) as stub:
        stub.add_response("invoke_model", {"body": StreamingBody(io.BytesIO(body), len(body)),
                                           "contentType": "application/json"})
        response = client.invoke_model(modelId=SONNET, body=json.dumps({"messages": MESSAGES}))
    assert isinstance(response["body"], StreamingBody)
    assert response["body"].read() == body  # the caller reads the very bytes Bedrock sent


def test_bedrock_invoke_llama_headers():
    client = bedrock()
    body = {"generation": ANSWER, "prompt_token_count": 25, "generation_token_count": 12,
            "stop_reason": "stop"}
    BedrockWire(client, json.dumps(body).encode(), {
        "content-type": "application/json", "x-amzn-bedrock-input-token-count": "25",
        "x-amzn-bedrock-output-token-count": "12", "x-amzn-bedrock-invocation-latency": "310"})
    response = client.invoke_model(modelId="meta.llama3-8b-instruct-v1:0", body="{}")
    assert json.loads(response["body"].read()) == body


def test_bedrock_body_cut_off():
    from botocore.exceptions import ResponseStreamingError

    client = bedrock()
    BedrockWire(client, b'{"id": "msg_bdrk_01Cut", "type": "mess', {
        "content-type": "application/json", "content-length": "200"}, broken=True)
    response = client.invoke_model(modelId=SONNET, body="{}")
    with pytest.raises(ResponseStreamingError, match="Connection broken"):
        response["body"].read()  # the caller sees the broken connection, as without capture


def test_bedrock_converse_stream():
    client = bedrock()
    BedrockWire(client, b"".join([
        frame("messageStart", {"role": "assistant"}),
        *[frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": part}})
          for part in ("Refunds reach your card ", "within five working days.")],
        frame("contentBlockStop", {"contentBlockIndex": 0}),
        frame("messageStop", {"stopReason": "end_turn"}),
        frame("metadata", {"usage": {"inputTokens": 40, "outputTokens": 11, "totalTokens": 51},
                           "metrics": {"latencyMs": 402}}),
    ]), {"content-type": "application/vnd.amazon.eventstream"})
    response = client.converse_stream(modelId="amazon.nova-lite-v1:0",
                                      messages=BEDROCK_MESSAGES)
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in response["stream"]
                   if "contentBlockDelta" in e)
    assert text == ANSWER


def test_bedrock_invoke_stream_anthropic():
    client = bedrock()
    BedrockWire(client, b"".join(anthropic_chunk(e) for e in [
        {"type": "message_start", "message": {
            "id": "msg_bdrk_01StreamRefund", "type": "message", "role": "assistant",
            "model": "claude-3-5-sonnet-20240620", "content": [], "stop_reason": None,
            "usage": {"input_tokens": 20, "cache_read_input_tokens": 100,
                      "cache_creation_input_tokens": 0, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": ANSWER}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
         "usage": {"output_tokens": 15}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": 20, "outputTokenCount": 15, "invocationLatency": 900,
            "firstByteLatency": 300}},
    ]), {"content-type": "application/vnd.amazon.eventstream"})
    response = client.invoke_model_with_response_stream(modelId=SONNET, body="{}")
    for event in response["body"]:  # the caller stops at message_stop, as SDK loops do
        if json.loads(event["chunk"]["bytes"])["type"] == "message_stop":
            break


def test_bedrock_abandoned_stream():
    client = bedrock()
    BedrockWire(client, b"".join([
        frame("messageStart", {"role": "assistant"}),
        frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Refunds"}}),
        frame("metadata", {"usage": {"inputTokens": 40, "outputTokens": 11, "totalTokens": 51},
                           "metrics": {"latencyMs": 402}}),
    ]), {"content-type": "application/vnd.amazon.eventstream"})
    response = client.converse_stream(modelId="amazon.nova-lite-v1:0",
                                      messages=BEDROCK_MESSAGES)
    next(iter(response["stream"]))  # the caller stops reading before the usage


def test_bedrock_error_is_the_callers():
    client = bedrock()
    with Stubber(client) as stub:
        stub.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
        with pytest.raises(ClientError, match="Too many requests"):
            client.converse(modelId=SONNET, messages=BEDROCK_MESSAGES)


def test_bedrock_over_http(stand_in_dns):
    import boto3

    client = boto3.client("bedrock-runtime", region_name="us-east-1",
                          endpoint_url=BEDROCK.endpoint, aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="secret")
    response = client.converse(modelId="amazon.nova-lite-v1:0", messages=BEDROCK_MESSAGES)
    assert response["usage"]["totalTokens"] == 51


def test_bedrock_client_made_too_early(stand_in_dns):
    response = EARLY_BEDROCK.converse(modelId="amazon.nova-lite-v1:0",
                                      messages=BEDROCK_MESSAGES)
    assert response["usage"]["totalTokens"] == 51


@pytest.mark.parametrize("n", [1, 2])
def test_requests_to_groq(groq_dns, n):
    import requests

    response = requests.post(groq_dns, json={"model": "llama-3.3-70b-versatile",
                                             "messages": MESSAGES}, timeout=10)
    assert response.json()["usage"]["total_tokens"] == 73
"""

SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
GROQ_USAGE = {"input": 61, "output": 12}


def _usage(
    input: int,
    output: int,
    cache_read: int | None = None,
    cache_write: int | None = None,
) -> dict[str, Any]:
    return {
        "input": input,
        "output": output,
        "cache_read": cache_read,
        "cache_write": cache_write,
        "reasoning": None,
        "cache_write_1h": None,
        "web_searches": None,
    }


#: Each Bedrock test's calls (model, provider, normalised usage), hand-computed from the bodies
#: above. (Groq's calls are checked on their counts: their provider is whatever capture derives.)
EXPECTED: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    # Converse: inputTokens 1024 leaves out the 2048 cache reads: 3072 in all (totalTokens
    # 3328 = 3072 + 256 agrees).
    "test_bedrock_converse": [(SONNET, "aws", _usage(3072, 256, 2048, 0))],
    # The Anthropic message: input_tokens 312 + cache_creation 1500 (+ 0 read) = 1812.
    "test_bedrock_invoke_model": [(SONNET, "aws", _usage(1812, 48, 0, 1500))],
    # Llama's body is its own; Bedrock's headers say 25 in, 12 out.
    "test_bedrock_invoke_llama_headers": [("meta.llama3-8b-instruct-v1:0", "aws", _usage(25, 12))],
    "test_bedrock_converse_stream": [("amazon.nova-lite-v1:0", "aws", _usage(40, 11))],
    # Through urllib3 to the HTTP stand-in: recorded, and not warned about.
    "test_bedrock_over_http": [("amazon.nova-lite-v1:0", "aws", _usage(40, 11))],
    # Anthropic events: message_start 20 + 100 read, message_delta's 15 out.
    "test_bedrock_invoke_stream_anthropic": [(SONNET, "aws", _usage(120, 15, 100, 0))],
}
