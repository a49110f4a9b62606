"""A price override applies to every record genai-prices resolves to the overridden model.

The OpenAI API answers a ``model="gpt-4o"`` request with ``"model": "gpt-4o-2024-08-06"``, so an
override keyed ``gpt-4o`` must price observed and captured responses too, not only
``record(model="gpt-4o")``; an override keyed ``openai/gpt-4o-mini`` must price a provider-less
``gpt-4o-mini`` record, which genai-prices prices as ``openai:gpt-4o-mini``. A dated snapshot
genai-prices prices as a model of its own (``gpt-4o-2024-05-13``) keeps its own price.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

PRICES = """
[models."gpt-4o"]
input_mtok = 1
output_mtok = 2
cache_read_mtok = 0.5

[models."openai/gpt-4o-mini"]
input_mtok = 3
output_mtok = 4
"""


def _chat_completion(model: str, prompt: int, completion: int, cached: int) -> dict[str, Any]:
    """A non-streamed OpenAI chat completion body, fields as the API returns them."""
    return {
        "id": f"chatcmpl-{model}-{prompt}",
        "object": "chat.completion",
        "created": 1763900000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_f33640a400",
    }


SUITE = f"""
from pytest_tokencost import Usage

DATED = {json.dumps(_chat_completion("gpt-4o-2024-08-06", 1200, 300, 1024))!r}
SNAPSHOT = {json.dumps(_chat_completion("gpt-4o-2024-05-13", 1000, 100, 0))!r}


def test_record_gpt_4o(token_tracker):
    token_tracker.record(model="gpt-4o", usage=Usage(input=2000, output=500))


def test_observe_dated_gpt_4o(token_tracker):
    token_tracker.observe(DATED)


def test_observe_own_snapshot(token_tracker):
    token_tracker.observe(SNAPSHOT)


def test_record_mini_without_provider(token_tracker):
    token_tracker.record(model="gpt-4o-mini", usage=Usage(input=1000, output=100))
"""

# test id -> (model, provider, price source, priced as, total, input, output micro-USD)
EXPECTED = {
    # $1 in / $2 out per MTok: 2,000 + 1,000.
    "test_record_gpt_4o": ("gpt-4o", None, "override", "gpt-4o", 3000, 2000, 1000),
    # 176 uncached at $1 + 1,024 cache reads at $0.50 = 176 + 512; 300 out at $2 = 600.
    "test_observe_dated_gpt_4o": (
        "gpt-4o-2024-08-06",
        "openai",
        "override",
        "gpt-4o",
        1288,
        688,
        600,
    ),
    # genai-prices prices this snapshot as itself, $5/$15 per MTok: 5,000 + 1,500.
    "test_observe_own_snapshot": (
        "gpt-4o-2024-05-13",
        "openai",
        "genai-prices",
        "openai:gpt-4o-2024-05-13",
        6500,
        5000,
        1500,
    ),
    # $3 in / $4 out per MTok: 3,000 + 400.
    "test_record_mini_without_provider": (
        "gpt-4o-mini",
        None,
        "override",
        "openai/gpt-4o-mini",
        3400,
        3000,
        400,
    ),
}


def _run(
    pytester: pytest.Pytester, workers: str
) -> tuple[list[tuple[Any, ...]], dict[str, Any], str]:
    out = f"out-{workers}"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-n",
        workers,
        "--cost-dir",
        out,
        "--cost-prices",
        "prices.toml",
        "--cost-report",
    )
    result.assert_outcomes(passed=4)
    folder = pytester.path / out
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    rows = sorted(
        (
            r["test_id"].split("::")[1],
            r["model"],
            r["provider"],
            r["price_source"],
            r["priced_as"],
            r["cost_micro_usd"],
            r["input_cost_micro_usd"],
            r["output_cost_micro_usd"],
        )
        for r in records
    )
    summary = json.loads((folder / "token-report.json").read_text())["summary"]
    return rows, summary, result.stdout.str()


def test_an_override_prices_every_name_of_its_model_serial_and_under_xdist(
    plugin_pytester: pytest.Pytester,
) -> None:
    plugin_pytester.makepyfile(test_prices=SUITE)
    (plugin_pytester.path / "prices.toml").write_text(PRICES)
    expected = sorted((test, *fields) for test, fields in EXPECTED.items())
    serial, serial_summary, serial_output = _run(plugin_pytester, "0")
    assert serial == expected
    parallel, parallel_summary, parallel_output = _run(plugin_pytester, "2")
    assert parallel == expected
    for summary, output in ((serial_summary, serial_output), (parallel_summary, parallel_output)):
        totals = summary["totals"]
        assert totals["cost_micro_usd"] == 3000 + 1288 + 6500 + 3400
        assert totals["records_by_price_source"] == {"genai-prices": 1, "override": 3}
        by_model = {name: row["cost_micro_usd"] for name, row in summary["by_model"].items()}
        assert by_model == {
            "gpt-4o": 3000,
            "gpt-4o-2024-08-06": 1288,
            "gpt-4o-2024-05-13": 6500,
            "gpt-4o-mini": 3400,
        }
        # The dated name the override priced is grouped under the override's model, as a
        # dated name genai-prices priced is under its id; the snapshot priced as itself and
        # the key matched with its provider stay their own rows.
        assert summary["model_ids"] == {"gpt-4o-2024-08-06": "gpt-4o"}
        per_model = output[output.index("Per model:") :]
        assert "Model names: gpt-4o = gpt-4o + gpt-4o-2024-08-06" in per_model
        rows = {line.split()[0]: line.split()[-1] for line in per_model.splitlines()[3:6]}
        # 3,000 + 1,288 micro-USD in the gpt-4o row.
        assert rows == {
            "gpt-4o": "$0.00429",
            "gpt-4o-2024-05-13": "$0.00650",
            "gpt-4o-mini": "$0.00340",
        }, per_model
    assert serial_summary["by_model"] == parallel_summary["by_model"]
