"""Agent transcripts: Claude Code and Codex corpus files give the per-response totals of
SOURCES.md (deduplicated as it explains), and `tokencost ingest` reports them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pytest_tokencost import Usage
from pytest_tokencost.transcripts import read_transcripts

TOKENCOST = str(Path(sys.executable).with_name("tokencost"))


def _totals(usages: list[Usage]) -> tuple[int, int, int, int, int]:
    return (
        sum(u.input for u in usages),
        sum(u.output for u in usages),
        sum(u.cache_read or 0 for u in usages),
        sum(u.cache_write or 0 for u in usages),
        sum(u.reasoning or 0 for u in usages),
    )


# SOURCES.md, "deduped by (message.id, requestId), LAST line per id"; input here includes the
# cache reads and writes (Anthropic's input_tokens does not): input + cache_read + cache_write.
CLAUDE_CODE = {
    "spotter__tool_heavy.jsonl": (4, 54, 212, 88231, 17696),
    "spotter__short.jsonl": (1, 3, 13, 11515, 13835),
    "spotter__subagent_acompact-fffbd0.jsonl": (1, 3, 6, 166758, 2487),
    "spotter__subagent_a881341.jsonl": (3, 15, 3, 34159, 42176),
    "claudestatus__example_v1.0.31.jsonl": (11, 37, 366, 172177, 19556),
    "ccusage__SYNTHETIC_project-alpha_chat.jsonl": (3, 600, 250, 70, 75),
}


@pytest.mark.parametrize("name", sorted(CLAUDE_CODE))
def test_claude_code_responses_count_once_with_final_figures(corpus: Path, name: str) -> None:
    transcripts = read_transcripts([corpus / "claude-code" / name])
    responses, uncached, output, read, written = CLAUDE_CODE[name]
    assert transcripts.problems == []
    assert len(transcripts.responses) == responses
    usage = [r.usage for r in transcripts.responses]
    assert _totals(usage) == (uncached + read + written, output, read, written, 0)
    assert all(r.usage.reasoning is None for r in transcripts.responses)  # not reported


def test_a_response_written_on_several_lines_keeps_its_last_figures(corpus: Path) -> None:
    transcripts = read_transcripts([corpus / "claude-code" / "spotter__tool_heavy.jsonl"])
    (response,) = [
        r for r in transcripts.responses if "msg_019BN3FRqb7NU4DgBN5jdsym" in r.response_id
    ]
    assert response.usage.output == 173  # its first line says 25
    assert response.model == "claude-opus-4-6"


def test_subagent_side_chains_count_and_are_marked(corpus: Path) -> None:
    transcripts = read_transcripts([corpus / "claude-code"])
    sidechains = [r for r in transcripts.responses if r.sidechain]
    assert len(sidechains) == 4
    assert {r.model for r in sidechains} == {"claude-opus-4-6", "claude-sonnet-4-5-20250929"}


# Codex: (turns, input, cached, output incl. reasoning, reasoning) per file.
CODEX = {
    "localpush__rollout-2026-02-23T13-19-38-019c8a70-dda7-7f33-98ea-f30553347322.jsonl": (
        1,
        34469,
        3456,
        431,
        264,
    ),
    "localpush__rollout-2026-02-23T20-34-25-019c8bfe-ec25-79e0-97d7-bda6a9c575ff.jsonl": (
        6,
        298373,
        238848,
        1123,
        483,
    ),
    # total_tokens = input + output + reasoning here: reasoning is added to the output.
    "ccusage__SYNTHETIC_codex_session-alpha.jsonl": (2, 3500, 750, 425 + 275, 275),
    "ccusage__SYNTHETIC_codex_branch-history_parent.jsonl": (1, 1000, 100, 200, 20),
    "ccusage__SYNTHETIC_codex_branch-history_branch.jsonl": (2, 1600, 300, 450, 40),
}


@pytest.mark.parametrize("name", sorted(CODEX))
def test_codex_turns_are_derived_without_double_counting(corpus: Path, name: str) -> None:
    transcripts = read_transcripts([corpus / "codex" / name])
    turns, inp, cached, output, reasoning = CODEX[name]
    assert len(transcripts.responses) == turns
    assert _totals([r.usage for r in transcripts.responses]) == (inp, output, cached, 0, reasoning)


def test_codex_per_turn_usage_and_models(corpus: Path) -> None:
    name = "localpush__rollout-2026-02-23T20-34-25-019c8bfe-ec25-79e0-97d7-bda6a9c575ff.jsonl"
    turns = read_transcripts([corpus / "codex" / name]).responses
    # SOURCES.md's last_token_usage of the non-duplicate events, one turn each.
    assert [(t.usage.input, t.usage.cache_read, t.usage.output) for t in turns] == [
        (42772, 3456, 204),
        (44218, 42880, 96),
        (48969, 44288, 245),
        (49326, 49152, 179),
        (49647, 49408, 113),
        (63441, 49664, 286),
    ]
    assert {t.model for t in turns} == {"gpt-5.3-codex"}
    alpha = read_transcripts([corpus / "codex" / "ccusage__SYNTHETIC_codex_session-alpha.jsonl"])
    assert [t.model for t in alpha.responses] == ["gpt-5.2-codex", "gpt-5.3-codex"]


def test_a_forked_session_does_not_count_its_parent_twice(corpus: Path) -> None:
    both = read_transcripts(
        [
            corpus / "codex" / "ccusage__SYNTHETIC_codex_branch-history_parent.jsonl",
            corpus / "codex" / "ccusage__SYNTHETIC_codex_branch-history_branch.jsonl",
        ]
    )
    assert [(r.usage.input, r.usage.output) for r in both.responses] == [(1000, 200), (600, 250)]


def test_bad_lines_are_reported_not_guessed(tmp_path: Path) -> None:
    transcript = tmp_path / "session.jsonl"
    transcript.write_text(
        "\n".join(
            [
                '{"message": {"id": "m1", "usage": {"input_tokens": 5, "output_tokens": 2}}}',
                '{"message": {"id": "m2", "usage": {"input_tokens": -5, "output_tokens": 2}}}',
                '{"message": {"id": "m3", "usage": {"output_tokens": 2}}}',
                '{"message": {"usage": "truncated',
            ]
        )
        + "\n"
    )
    transcripts = read_transcripts([transcript])
    assert [r.usage.input for r in transcripts.responses] == [5]
    problems = [p.split(": ", 1)[1] for p in transcripts.problems]
    assert problems[:2] == [
        "input_tokens is -5; expected a non-negative integer; line skipped",
        "input_tokens is missing; line skipped",
    ]
    assert problems[2].startswith("not JSON (") and problems[2].endswith("line skipped")
    assert [p.split(":")[1] for p in transcripts.problems] == ["2", "3", "4"]  # line numbers


def test_ingest_reports_sessions_models_and_days(
    corpus: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # every column
    out = pytester.path / "out"
    result = pytester.run(
        TOKENCOST, "ingest", str(corpus / "claude-code"), str(corpus / "codex"), "--out", str(out)
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "34 responses from 2 path(s); report in *",
            "Per day avg:*",
            "Counts: * reported",
            "Top sessions by cost (9 of 9):",
            "Per day:",
            "day * input * output * total * cost",
            "2026-02-23 * 332,842 * 1,554 * 334,396 * $0.223",
            "Per source:",
            "source * input * output * total * cost",
            "claude-code (subagent) * 245,598 * 9 *",
            "Per model:",
            # 1 + 6 turns of the real rollouts, plus session-alpha's second turn (2,500 in, 500
            # cached, 300 + 200 out): 34,469 + 298,373 + 2,500 input; 431 + 1,123 + 500 output.
            "gpt-5.3-codex * 8 * 335,342 * 242,804 * - * 2,054 * 947 *genai-prices",
        ]
    )
    report = json.loads((out / "token-report.json").read_text())
    summary = report["summary"]
    assert summary["totals"]["records"] == 34
    assert "2026-02-23" in summary["by_case"]  # days
    assert (
        summary["by_test"]["codex:019c8bfe-ec25-79e0-97d7-bda6a9c575ff"]["usage"]["input"] == 298373
    )
    lines = (out / "records.jsonl").read_text().splitlines()
    assert len(lines) == 34
    # Each record keeps its response's identity; Claude Code's carries the request id too.
    records = [json.loads(line) for line in lines]
    assert len({r["response_id"] for r in records}) == 34
    assert {r["run_id"] for r in records} == {report["run"]["run_id"]}
    assert all(r["request_id"] for r in records if r["provider"] == "anthropic")
