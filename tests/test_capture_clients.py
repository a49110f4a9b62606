"""--cost-capture beyond httpx2: the real `groq` SDK (classic httpx), boto3's Bedrock runtime
client (botocore's `Stubber`, and its `before-send` hook for wire-level bodies and event
streams), and LLM hosts reached through a client capture does not record (`requests`).

The stand-ins are in `clients_suite.CONFTEST`, each saying what it stands in for.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import genai_prices
import pytest

from .clients_suite import CONFTEST, EXPECTED, GROQ_USAGE, SUITE

pytest.importorskip("groq", reason="the groq SDK is a test dependency (pip install -e .[test])")
pytest.importorskip("boto3", reason="boto3 is a test dependency (pip install -e .[test])")

ARGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:anyio")
TESTS = 16


def oracle_micro_usd(model: str, provider: str, usage: dict[str, Any]) -> int:
    """genai-prices' price of one request, in whole micro-USD (halves away from zero)."""
    price = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=usage["input"],
            output_tokens=usage["output"],
            cache_read_tokens=usage["cache_read"],
            cache_write_tokens=usage["cache_write"],
        ),
        model,
        provider_id=provider,
        genai_request_timestamp=datetime.now(UTC),
    )
    return int((price.total_price * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.fixture
def clients(plugin_pytester: pytest.Pytester) -> pytest.Pytester:
    """The generated suite of calls through groq, boto3 and requests."""
    plugin_pytester.makeconftest(CONFTEST)
    plugin_pytester.makepyfile(test_clients=SUITE)
    return plugin_pytester


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (path / "records.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("workers", [None, "2"])
def test_groq_bedrock_and_uncaptured_hosts(clients: pytest.Pytester, workers: str | None) -> None:
    result = clients.runpytest_subprocess(
        "--cost-capture", *ARGS, *(["-n", workers] if workers else [])
    )
    result.assert_outcomes(passed=TESTS)
    assert "Traceback" not in result.stderr.str()
    out = clients.path / ".tokencost"
    report = json.loads((out / "token-report.json").read_text())
    records = _records(out)
    by_test: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_test.setdefault(record["test_id"].split("::")[1], []).append(record)

    # Groq through classic httpx: the plain call, and the stream whose usage came late.
    groq = {"input": GROQ_USAGE["input"], "output": GROQ_USAGE["output"]}
    for name, calls in (("test_groq_chat", 1), ("test_groq_stream", 1), ("test_groq_async", 2)):
        got = by_test[name]
        assert len(got) == calls, name
        for record in got:
            assert record["model"] == "llama-3.3-70b-versatile"
            assert {k: record["usage"][k] for k in groq} == groq, name
            assert record["provenance"] == "reported" and not record["partial"]
            assert record["response_id"].startswith("chatcmpl-")
            assert record["request_id"].startswith("req_")  # the x-request-id header
    assert by_test["test_groq_stream"][0]["step"] == "answer"  # read after the step closed

    # Bedrock: model asked for, provider aws, usage as hand-computed, genai-prices' price.
    for name, calls in EXPECTED.items():
        got = by_test[name]
        assert [(r["model"], r["provider"], r["usage"]) for r in got] == calls, name
        for record, (model, provider, usage) in zip(got, calls, strict=True):
            assert record["cost_micro_usd"] == oracle_micro_usd(model, provider, usage), name
            assert record["provenance"] == "reported"
    (converse,) = by_test["test_bedrock_converse"]
    assert converse["step"] == "answer"
    assert converse["request_id"] == "5f0c1b7e-2a51-4f7e-9d0a-1f2b3c4d5e6f"
    assert by_test["test_bedrock_invoke_model"][0]["response_id"] == "msg_bdrk_01XyZrefund"
    assert by_test["test_bedrock_invoke_stream_anthropic"][0]["response_id"] == (
        "msg_bdrk_01StreamRefund"
    )
    # No record for the abandoned stream or the error; nothing for requests' calls either.
    for name in (
        "test_bedrock_abandoned_stream",
        "test_bedrock_error_is_the_callers",
        "test_bedrock_client_made_too_early",
        "test_bedrock_body_cut_off",
    ):
        assert name not in by_test
    assert not [name for name in by_test if name.startswith("test_requests_to_groq")]

    # Warnings: the abandoned stream named; requests' calls to api.groq.com said once (two
    # tests, maybe two workers), naming the host and the client.
    warnings = report["warnings"]
    assert [w for w in warnings if "abandoned" in w] == [
        "capture: bedrock-runtime ConverseStream (amazon.nova-lite-v1:0) stream was abandoned "
        "before its usage arrived; its tokens are not counted"
    ]
    assert [w for w in warnings if "api.groq.com" in w] == [
        "capture: api.groq.com (an LLM API of groq) was called through requests, which "
        "--cost-capture does not record; those calls are not in this report (record them "
        "with token_tracker.observe(response))"
    ]
    assert [w for w in warnings if "bedrock-runtime.us-east-1" in w] == [
        "capture: bedrock-runtime.us-east-1.amazonaws.com (an LLM API of aws) was called through "
        "a botocore client made before --cost-capture began (at conftest import, say; make it in "
        "a fixture or a test); those calls are not in this report (record them with "
        "token_tracker.observe(response))"
    ]
    assert [w for w in warnings if "body could not be read" in w] == [
        f"capture: bedrock-runtime InvokeModel ({EXPECTED['test_bedrock_invoke_model'][0][0]}) "
        "body could not be read (ResponseStreamingError); its tokens are not counted"
    ]
    assert len(warnings) == 4, warnings
    # Totals: every call once.
    assert report["summary"]["totals"]["records"] == len(records) == 4 + len(EXPECTED)


def test_without_capture_the_same_suite_passes_untouched(clients: pytest.Pytester) -> None:
    # What the callers assert (bodies, streams, errors) holds with and without capture.
    result = clients.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=TESTS)
    assert not (clients.path / ".tokencost").exists()
