"""Every recorded provider response in ../shared/corpus gives the numbers SOURCES.md lists.

The figures below are SOURCES.md's, normalised to `Usage` (input includes cache reads and
writes, output includes reasoning): Anthropic's input_tokens gets its cache tokens added back,
Gemini's candidatesTokenCount its thoughtsTokenCount. "n/a" and "absent" are None. `h` is the
1-hour part of cache writes (Anthropic's cache_creation split, where given), `w` the web searches
(Anthropic's server_tool_use; an OpenAI Responses response's web_search_call output items).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_tokencost import Usage
from pytest_tokencost.providers import ObservedUsage, usage_from, usage_from_body


def U(
    i: int,
    o: int,
    cr: int | None = None,
    cw: int | None = None,
    r: int | None = None,
    *,
    h: int | None = None,
    w: int | None = None,
) -> Usage:
    return Usage(
        input=i,
        output=o,
        cache_read=cr,
        cache_write=cw,
        reasoning=r,
        cache_write_1h=h,
        web_searches=w,
    )


# file -> [(model, usage, reported cost in micro-USD or None), ...] per interaction
EXPECTED: dict[str, list[tuple[str, Usage, int | None]]] = {
    "openai/pydantic-ai__chat_prompt_cache_e2e.yaml": [
        ("gpt-5.6-sol", U(4020, 4, 0, 4012, 0), None),
        ("gpt-5.6-sol", U(4020, 4, 4012, 0, 0), None),
    ],
    "openai/pydantic-ai__chat_max_completion_tokens_o3-mini.yaml": [
        ("o3-mini-2025-01-31", U(7, 87, 0, None, 64), None)
    ],
    "openai/pydantic-ai__chat_stream_include_usage_gpt-4o-mini.yaml": [
        ("gpt-4o-mini-2024-07-18", U(53, 15, 0, None, 0), None),
        ("gpt-4o-mini-2024-07-18", U(78, 9, 0, None, 0), None),
    ],
    "openai/pydantic-ai__responses_and_chat_thinking_o3-mini.yaml": [
        ("o3-mini-2025-01-31", U(13, 1915, 0, None, 1600, w=0), None),
        ("o3-mini-2025-01-31", U(577, 2320, 0, None, 1792), None),
    ],
    "openai/pydantic-ai__responses_prompt_cache_e2e.yaml": [
        ("gpt-5.6-sol", U(4020, 5, 0, 4012, 0, w=0), None),
        ("gpt-5.6-sol", U(4020, 5, 4012, 0, 0, w=0), None),
    ],
    "openai/pydantic-ai__responses_streaming_usage.yaml": [
        ("gpt-5-2025-08-07", U(53, 469, 0, None, 448, w=0), None)
    ],
    "openai/pydantic-ai__responses_web_search_cached_reasoning.yaml": [
        ("gpt-5-2025-08-07", U(9299, 577, 8448, None, 512, w=1), None),
        ("gpt-5-2025-08-07", U(9506, 439, 8576, None, 384, w=1), None),
    ],
    "openai/pydantic-ai__openrouter_responses_prompt_cache_cost.yaml": [
        ("openai/gpt-5.6-sol", U(4020, 5, 0, 4012, 0, w=0), 25_265),
        ("openai/gpt-5.6-sol", U(4020, 5, 4012, None, 0, w=0), 2_196),
    ],
    "openai/pydantic-ai__openrouter_chat_stream_reasoning.yaml": [
        ("anthropic/claude-sonnet-4.5", U(43, 36, 0, None, 13), 669)
    ],
    "openai/crewai__chat_stream_cached_prompt_tokens.yaml": [
        ("gpt-4.1-2025-04-14", U(1144, 2, 1024, None, 0), None),
        ("gpt-4.1-2025-04-14", U(1144, 3, 1024, None, 0), None),
    ],
    "openai/crewai__azure_chat_stream_include_usage.yaml": [
        ("gpt-4o-mini-2024-07-18", U(9, 10, 0, None, 0), None)
    ],
    "openai/simonw-llm__responses_basic_streaming.yaml": [
        ("gpt-5.5-2026-04-23", U(11, 5, 0, None, 0, w=0), None)
    ],
    "openai/simonw-llm__chat_tool_chain_gzip_body.yaml": [
        ("gpt-4o-mini-2024-07-18", U(92, 17, 0, None, 0), None),
        ("gpt-4o-mini-2024-07-18", U(118, 18, 0, None, 0), None),
        ("gpt-4o-mini-2024-07-18", U(146, 3, 0, None, 0), None),
    ],
    # Anthropic: input = input_tokens + cache_read + cache_write; streams: the final delta.
    "anthropic/pydantic-ai__messages_cache_read_and_write.yaml": [
        ("claude-sonnet-4-5-20250929", U(3 + 1111, 406, 1111, 0, h=0), None),
        ("claude-sonnet-4-5-20250929", U(3 + 1111 + 418, 33, 1111, 418, h=0), None),
    ],
    "anthropic/pydantic-ai__messages_stream_thinking.yaml": [
        ("claude-sonnet-4-20250514", U(43, 282, 0, 0, h=0), None)
    ],
    "anthropic/pydantic-ai__messages_stream_code_execution.yaml": [
        ("claude-sonnet-4-6", U(4714, 304, 0, 0, h=0, w=0), None)
    ],  # not message_start's 2293
    "anthropic/crewai__messages_stream_cache_read.yaml": [
        ("claude-sonnet-4-5-20250929", U(3 + 1217, 4, 1217, 0, h=0), None),
        ("claude-sonnet-4-5-20250929", U(3 + 1217, 6, 1217, 0, h=0), None),
    ],
    "anthropic/simonw-llm-anthropic__messages_stream_thinking_tokens_detail.yaml": [
        ("claude-haiku-4-5-20251001", U(598, 92, 0, 0, 53, h=0), None),
        ("claude-haiku-4-5-20251001", U(707, 89, 0, 0, 0, h=0), None),
    ],
    "anthropic/simonw-llm-anthropic__messages_stream_web_search.yaml": [
        ("claude-opus-4-1-20250805", U(10423, 341, 0, 0, h=0, w=1), None)
    ],
    # Gemini: output = candidatesTokenCount + thoughtsTokenCount; streams: the last snapshot.
    "gemini/pydantic-ai__generate_content_cached_video.yaml": [
        ("gemini-2.5-flash", U(17713, 68 + 821, 17379, None, 821), None)
    ],
    "gemini/pydantic-ai__generate_content_thoughts.yaml": [
        ("gemini-2.5-flash", U(9, 9 + 34, None, None, 34), None)
    ],
    "gemini/pydantic-ai__stream_generate_content_sse.yaml": [
        ("gemini-2.0-flash", U(52, 5), None),
        ("gemini-2.0-flash", U(64, 5), None),
        ("gemini-2.0-flash", U(79, 12), None),
    ],  # not the first chunk's 169
    "gemini/simonw-llm-gemini__stream_generate_content_json_array_gzip.yaml": [
        ("gemini-3.6-flash", U(11, 2 + 291, None, None, 291), None)
    ],
    "gemini/crewai__generate_content_gemini-2.0-flash-001.yaml": [
        ("gemini-2.0-flash-001", U(1, 11), None)
    ],
}


def _observe(interaction: dict[str, Any]) -> ObservedUsage:
    response = interaction["response"]
    if response.get("parsed_body") is not None:
        return usage_from(response["parsed_body"])
    return usage_from_body(response["body"]["string"])


def test_every_corpus_file_is_covered(corpus: Path) -> None:
    on_disk = {
        f"{p.parent.name}/{p.name}"
        for d in ("openai", "anthropic", "gemini")
        for p in (corpus / d).glob("*.yaml")
    }
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gives_the_documented_usage(corpus: Path, name: str) -> None:
    cassette = yaml.safe_load((corpus / name).read_text(encoding="utf-8"))
    interactions = cassette["interactions"]
    assert len(interactions) == len(EXPECTED[name])
    for index, (interaction, (model, usage, cost)) in enumerate(
        zip(interactions, EXPECTED[name], strict=True)
    ):
        observed = _observe(interaction)
        assert (observed.model, observed.usage, observed.reported_cost_micro_usd) == (
            model,
            usage,
            cost,
        ), f"{name} #{index}"
        # Where the source states its own total, ours (input + output) is the same: no cache
        # or reasoning token was counted twice or dropped.
        if observed.reported_total is not None:
            assert observed.reported_total == observed.usage.total, f"{name} #{index}"


OPENROUTER_TEST = """
import yaml
from pathlib import Path

def test_openrouter(token_tracker):
    cassette = yaml.safe_load(Path(r"{path}").read_text())
    for interaction in cassette["interactions"]:
        token_tracker.observe(interaction["response"]["parsed_body"])
"""


@pytest.mark.usefixtures("wide_terminal")
def test_a_reported_cost_is_kept_and_cross_checked(
    corpus: Path, plugin_pytester: pytest.Pytester
) -> None:
    import json

    path = corpus / "openai/pydantic-ai__openrouter_responses_prompt_cache_cost.yaml"
    plugin_pytester.makepyfile(OPENROUTER_TEST.format(path=path))
    result = plugin_pytester.runpytest("--cost-report")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "Cost check: 2 record(s) came with the source's own cost; * disagree with the "
            "computed cost",
        ]
    )
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    checks = report["cost_checks"]
    assert [c["reported_micro_usd"] for c in checks] == [25_265, 2_196]
    for check in checks:
        assert check["agrees"] == (
            check["computed_micro_usd"] is not None
            and abs(check["computed_micro_usd"] - check["reported_micro_usd"]) <= 1
        )


@pytest.mark.usefixtures("wide_terminal")
def test_a_total_that_disagrees_is_listed(plugin_pytester: pytest.Pytester) -> None:
    plugin_pytester.makepyfile("""
        def test_a(token_tracker):
            token_tracker.observe({"object": "chat.completion", "model": "gpt-4o", "usage": {
                "prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 9}})
    """)
    result = plugin_pytester.runpytest("--cost-report")
    result.stdout.fnmatch_lines(
        [
            "Total check: 1 record(s) whose source's own total_tokens differs from input + output",
            "  test_a_total_that_disagrees_is_listed.py::test_a: gpt-4o: input + output 8, "
            "reported total 9",
        ]
    )
