"""Replays are honest: a response replayed from a cassette or a mocked transport is recorded as
replayed, its cost shown as recorded cost, never as money spent in the run.

The cassettes are made by the tests themselves: a first run records the real `openai` SDK's
calls to a local server (vcrpy through pytest-recording's `vcr` marker), the server is stopped,
and later runs replay them. Nothing from ../shared/corpus is copied: the server answers with the
corpus's recorded bodies, read at test time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest

from pytest_tokencost.records import Provenance, TokenRecord, Usage
from pytest_tokencost.replay import is_replayed
from pytest_tokencost.summary import TokenSummary

from .http_doubles import send_chunked
from .test_combinations import PLAIN, STREAM, _load, _oracle_micro_usd


class ChatServer:
    """Stands in for api.openai.com's Chat Completions endpoint on 127.0.0.1.

    It answers with real recorded bodies (../shared/corpus) the way the API sends them: a JSON
    body with its length, or, when the request asks for a stream, the recorded SSE events with
    chunked transfer encoding in 37-byte pieces that split events and lines, the usage only in
    the last chunk before ``data: [DONE]``. It counts the requests it served.
    """

    def __init__(self, plain: dict[str, Any], stream: str) -> None:
        bodies = {False: (json.dumps(plain).encode(), "application/json"), True: (stream, "")}
        self.served = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.served += 1
                streamed = bool(request.get("stream"))
                self.send_response(200)
                self.send_header("x-request-id", f"req_{server.served}")
                if not streamed:
                    body = bodies[False][0]
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                data = str(bodies[True][0]).encode()
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                send_chunked(self, data, 37)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ChatServer:
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- is_replayed on real httpx2 responses ------------------------------------------------------


def test_a_response_from_the_network_is_live_and_built_ones_are_replayed(corpus: Path) -> None:
    with (
        ChatServer(_load(corpus, *PLAIN), _load(corpus, *STREAM)) as server,
        httpx2.Client() as client,
    ):
        live = client.post(server.url + "/v1/chat/completions", json={"model": "o3-mini"})
    assert live.status_code == 200 and not is_replayed(live)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=_load(corpus, *PLAIN))

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        mocked = client.post("https://api.openai.com/v1/chat/completions", json={})
    assert is_replayed(mocked)
    # What vcrpy's replay builds: a reason phrase, no connection.
    built = httpx2.Response(200, content=b"{}", extensions={"reason_phrase": b"OK"})
    assert is_replayed(built)
    # Not an httpx response: no evidence of a replay, so it is live.
    assert not is_replayed(object()) and not is_replayed({"extensions": {}})


# -- totals: spent apart from recorded cost ------------------------------------------------------


def _record(seq: int, model: str, inp: int, out: int, *, replayed: bool) -> TokenRecord:
    from datetime import UTC, datetime

    from pytest_tokencost.pricing import Pricer

    usage = Usage(input=inp, output=out)
    now = datetime.now(UTC)
    price = Pricer().price(model, "openai", usage, now)
    return TokenRecord(
        seq=seq,
        test_id=f"t{seq}",
        model=model,
        provider="openai",
        usage=usage,
        provenance=Provenance.REPORTED,
        timestamp=now,
        replayed=replayed,
        **price.record_fields(),
    )


def test_totals_keep_replayed_cost_apart_from_money_spent() -> None:
    live = _record(0, "o3-mini", 7, 87, replayed=False)
    replayed = _record(1, "gpt-4o-mini", 78, 9, replayed=True)
    spent, recorded = _oracle_micro_usd("o3-mini", 7, 87), _oracle_micro_usd("gpt-4o-mini", 78, 9)
    assert (live.cost_micro_usd, replayed.cost_micro_usd) == (spent, recorded)  # as a call costs
    both = TokenSummary.from_records([live, replayed]).totals
    assert (both.usage.input, both.usage.output) == (85, 96)  # tokens count either way
    assert both.cost_micro_usd == spent
    assert (both.replayed_records, both.replayed_tokens) == (1, 87)
    assert both.replayed_cost_micro_usd == recorded
    assert both.input_cost_micro_usd is not None and both.output_cost_micro_usd is not None
    assert both.input_cost_micro_usd + both.output_cost_micro_usd == spent
    # Everything replayed: nothing was spent, which is $0, not "not recorded".
    only = TokenSummary.from_records([replayed]).totals
    assert (only.cost_micro_usd, only.replayed_cost_micro_usd) == (0, recorded)
    # Merging (xdist) gives the same totals as one process.
    merged = TokenSummary.from_records([live]) + TokenSummary.from_records([replayed])
    assert merged.totals == both
    # Nothing replayed: the fields stay at their empty values.
    plain = TokenSummary.from_records([live]).totals
    assert (plain.replayed_records, plain.replayed_cost_micro_usd) == (0, None)


# -- end to end: record a cassette, stop the server, replay it ---------------------------------

SUITE = """
import os
import openai
import pytest

MESSAGES = [{"role": "user", "content": "What is the capital of the country?"}]


@pytest.fixture(scope="module")
def vcr_config():
    # The local server's port differs between runs: match what the call asks, not where.
    return {"match_on": ["method", "path", "body"]}


def client():
    return openai.OpenAI(base_url=os.environ["REPLAY_URL"] + "/v1", api_key="test-key",
                         max_retries=0)


@pytest.mark.vcr
def test_plain():
    response = client().chat.completions.create(model="o3-mini", messages=MESSAGES)
    assert response.usage.completion_tokens == 87


@pytest.mark.vcr
def test_streamed(token_tracker):
    with token_tracker.step("answer"):
        chunks = list(client().chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True,
            stream_options={"include_usage": True}))
    assert chunks[-1].usage.prompt_tokens == 78


def test_live():
    # No cassette: always the server.
    client().chat.completions.create(model="o3-mini", messages=MESSAGES)
"""

ARGS = ("--cost-capture", "--cost-report", "-p", "no:cacheprovider", "-p", "no:randomly")


def _report(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / ".tokencost" / "token-report.json").read_text())


def _records(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    lines = (pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def recorded(
    corpus: Path, plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[pytest.Pytester, ChatServer]]:
    """A suite whose cassettes were recorded against a local server, which is then stopped."""
    plugin_pytester.makepyfile(test_calls=SUITE)
    with ChatServer(_load(corpus, *PLAIN), _load(corpus, *STREAM)) as server:
        monkeypatch.setenv("REPLAY_URL", server.url)
        result = plugin_pytester.runpytest_subprocess(*ARGS, "--record-mode=once")
        result.assert_outcomes(passed=3)
        assert server.served == 3
        # Recording talks to the server: every call was live, and its money was spent.
        report = _report(plugin_pytester)
        totals = report["summary"]["totals"]
        assert [r["replayed"] for r in _records(plugin_pytester)] == [False] * 3
        assert totals["cost_micro_usd"] == 2 * _oracle_micro_usd(
            "o3-mini", 7, 87
        ) + _oracle_micro_usd("gpt-4o-mini", 78, 9)
        assert (totals["replayed_records"], totals["replayed_cost_micro_usd"]) == (0, None)
        assert "Replayed:" not in result.stdout.str()
    cassettes = sorted(p.name for p in (plugin_pytester.path / "cassettes").rglob("*.yaml"))
    assert cassettes == ["test_plain.yaml", "test_streamed.yaml"]
    yield plugin_pytester, server


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_cassette_replay_is_recorded_as_replayed(
    recorded: tuple[pytest.Pytester, ChatServer], workers: str | None
) -> None:
    pytester, server = recorded
    args = [*ARGS, "--record-mode=none", "-k", "not live"] + (["-n", workers] if workers else [])
    result = pytester.runpytest_subprocess(*args)
    # (xdist's controller does not count deselected tests)
    assert (result.ret, result.parseoutcomes()["passed"]) == (0, 2)
    assert server.served == 3  # the server is gone: the calls came from the cassettes
    plain, streamed = _oracle_micro_usd("o3-mini", 7, 87), _oracle_micro_usd("gpt-4o-mini", 78, 9)
    records = sorted(_records(pytester), key=lambda r: r["test_id"])
    assert [(r["test_id"], r["replayed"], r["cost_micro_usd"]) for r in records] == [
        ("test_calls.py::test_plain", True, plain),
        ("test_calls.py::test_streamed", True, streamed),
    ]
    assert records[1]["step"] == "answer" and records[1]["provenance"] == "reported"
    summary = _report(pytester)["summary"]
    totals = summary["totals"]
    # The tokens are the recorded usage; no money was spent; the recorded cost is apart.
    assert (totals["usage"]["input"], totals["usage"]["output"]) == (85, 96)
    assert totals["cost_micro_usd"] == 0
    assert (totals["replayed_records"], totals["replayed_tokens"]) == (2, 181)
    assert totals["replayed_cost_micro_usd"] == plain + streamed
    assert summary["by_step"]["answer"]["replayed_cost_micro_usd"] == streamed
    assert summary["by_model"]["o3-mini-2025-01-31"]["replayed_cost_micro_usd"] == plain
    result.stdout.fnmatch_lines(["*Replayed: 2 call(s), 181 tokens, recorded cost $*"])


def test_a_run_mixing_replays_and_live_calls_separates_the_money(
    recorded: tuple[pytest.Pytester, ChatServer],
    corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytester, _ = recorded
    plain, streamed = _oracle_micro_usd("o3-mini", 7, 87), _oracle_micro_usd("gpt-4o-mini", 78, 9)
    with ChatServer(_load(corpus, *PLAIN), _load(corpus, *STREAM)) as server:
        monkeypatch.setenv("REPLAY_URL", server.url)
        result = pytester.runpytest_subprocess(*ARGS, "--record-mode=none", "-n", "2")
        result.assert_outcomes(passed=3)
        assert server.served == 1  # only test_live reached it
    by_test = _report(pytester)["summary"]["by_test"]
    assert by_test["test_calls.py::test_live"]["cost_micro_usd"] == plain
    assert by_test["test_calls.py::test_live"]["replayed_records"] == 0
    assert by_test["test_calls.py::test_plain"]["cost_micro_usd"] == 0
    assert by_test["test_calls.py::test_plain"]["replayed_cost_micro_usd"] == plain
    totals = _report(pytester)["summary"]["totals"]
    assert (totals["cost_micro_usd"], totals["replayed_cost_micro_usd"]) == (
        plain,
        plain + streamed,
    )


MOCKED = """
import json, os
import httpx2, openai

BODY = json.loads(open(os.environ["PLAIN_BODY"]).read())


def handler(request):
    # What respx's routes do for httpx: answer in memory, no connection.
    return httpx2.Response(200, json=BODY, headers={"x-request-id": "req_mock"})


def test_mocked():
    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = openai.OpenAI(base_url="https://api.openai.com/v1", api_key="k", http_client=http,
                           max_retries=0)
    assert client.chat.completions.create(model="o3-mini", messages=[]).usage.prompt_tokens == 7
"""


def test_a_mocked_transport_is_replayed(
    corpus: Path, plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (plugin_pytester.path / "plain.json").write_text(json.dumps(_load(corpus, *PLAIN)))
    monkeypatch.setenv("PLAIN_BODY", str(plugin_pytester.path / "plain.json"))
    plugin_pytester.makepyfile(test_mocked=MOCKED)
    result = plugin_pytester.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=1)
    (record,) = _records(plugin_pytester)
    assert (record["replayed"], record["request_id"]) == (True, "req_mock")
    totals = _report(plugin_pytester)["summary"]["totals"]
    assert totals["cost_micro_usd"] == 0
    assert totals["replayed_cost_micro_usd"] == _oracle_micro_usd("o3-mini", 7, 87)


# -- Bedrock through botocore: vcrpy swaps botocore's connections, not httpx's -------------------

CONVERSE = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Hello there!"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 7, "outputTokens": 39, "serverToolUsage": {}, "totalTokens": 46},
    "metrics": {"latencyMs": 300},
}


def _converse_cassette(uri: str) -> str:
    """A vcrpy cassette of one Converse call, as vcrpy writes them (a YAML document)."""
    import yaml

    interaction = {
        "request": {"method": "POST", "uri": uri, "body": "{}", "headers": {}},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {
                "Content-Type": ["application/json"],
                "x-amzn-RequestId": ["5f0c1b7e-0000-4f7e-9d0a-1f2b3c4d5e6f"],
            },
            "body": {"string": json.dumps(CONVERSE)},
        },
    }
    return str(yaml.safe_dump({"interactions": [interaction], "version": 1}))


BEDROCK_SUITE = """
import boto3
import pytest


@pytest.fixture(scope="module")
def vcr_config():
    return {"match_on": ["method", "host", "path"]}


@pytest.mark.vcr
def test_converse():
    client = boto3.client("bedrock-runtime", region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    response = client.converse(modelId="amazon.nova-micro-v1:0",
                               messages=[{"role": "user", "content": [{"text": "Hello!"}]}])
    assert response["usage"]["outputTokens"] == 39
"""

_NOVA_URI = (
    "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-micro-v1%3A0/converse"
)


def _aws_oracle(model: str, input_tokens: int, output_tokens: int) -> int:
    from datetime import UTC, datetime
    from decimal import ROUND_HALF_UP, Decimal

    import genai_prices

    price = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens),
        model,
        provider_id="aws",
        genai_request_timestamp=datetime.now(UTC),
    )
    return int((price.total_price * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_bedrock_converse_replayed_by_vcrpy_is_replayed(
    plugin_pytester: pytest.Pytester, workers: str | None
) -> None:
    pytest.importorskip("boto3", reason="boto3 is a test dependency (pip install -e .[test])")
    plugin_pytester.makepyfile(test_bedrock=BEDROCK_SUITE)
    cassette = plugin_pytester.path / "cassettes" / "test_bedrock" / "test_converse.yaml"
    cassette.parent.mkdir(parents=True)
    cassette.write_text(_converse_cassette(_NOVA_URI))
    args = [*ARGS, "--record-mode=none"] + (["-n", workers] if workers else [])
    result = plugin_pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    recorded = _aws_oracle("amazon.nova-micro-v1:0", 7, 39)
    (record,) = _records(plugin_pytester)
    assert (record["provider"], record["model"], record["replayed"]) == (
        "aws",
        "amazon.nova-micro-v1:0",
        True,
    )
    assert (record["usage"]["input"], record["usage"]["output"]) == (7, 39)
    assert record["cost_micro_usd"] == recorded  # what the call would cost live
    totals = _report(plugin_pytester)["summary"]["totals"]
    assert (totals["cost_micro_usd"], totals["replayed_cost_micro_usd"]) == (0, recorded)
    result.stdout.fnmatch_lines(
        [
            "Total: * 46 tokens ($0.00 spent, recorded $0.000006)",
            "Replayed: 1 call(s), 46 tokens, recorded cost $0.000006*",
        ]
    )
    assert recorded == 6  # 7 x $0.035/M + 39 x $0.14/M = $5.705e-6


def test_a_bedrock_call_vcrpy_records_is_live(tmp_path: Path) -> None:
    """While vcrpy records a cassette (the call reaches the server), the call was live; played
    back from that cassette, it is replayed. The server stands in for Bedrock's Converse
    endpoint: a JSON body with its length, on 127.0.0.1."""
    boto3 = pytest.importorskip("boto3", reason="boto3 is a test dependency")
    vcr = pytest.importorskip("vcr", reason="vcrpy is a test dependency")
    from pytest_tokencost.providers.replay import is_replayed_botocore

    body = json.dumps(CONVERSE).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    seen: list[bool] = []
    try:
        for mode in ("all", "none"):
            config = vcr.VCR(record_mode=mode, match_on=["method", "path"])
            with config.use_cassette(str(tmp_path / "converse.yaml")):
                client = boto3.client(
                    "bedrock-runtime",
                    region_name="us-east-1",
                    endpoint_url=f"http://127.0.0.1:{httpd.server_address[1]}",
                    aws_access_key_id="test",
                    aws_secret_access_key="test",
                )
                client.meta.events.register(
                    "after-call.bedrock-runtime",
                    lambda http_response=None, **_: seen.append(
                        is_replayed_botocore(http_response)
                    ),
                )
                client.converse(modelId="amazon.nova-micro-v1:0", messages=[])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert seen == [False, True]
    assert not is_replayed_botocore(object())
