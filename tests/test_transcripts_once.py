"""A response counts once across everything read, and unreadable input is listed, not fatal.

Built on the real shapes: a `claude --resume` copy of a corpus session (same message ids and
request ids, new sessionId and timestamps), the same file given twice and inside two folders, a
Codex fork made the way Codex writes one (its parent's history copied in and re-stamped at the
fork, then its own turns, whose cumulative totals go on from the parent's), zero-usage
`<synthetic>` lines, a torn last line, binary and non-UTF-8 files, non-finite numbers.
Money: genai-prices, request by request, is the oracle.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import genai_prices
import pytest

from pytest_tokencost import Usage
from pytest_tokencost.genai_table import genai_usage_counts
from pytest_tokencost.pricing import to_micro_usd
from pytest_tokencost.transcripts import TranscriptSet, read_transcripts

TOKENCOST = str(Path(sys.executable).with_name("tokencost"))
TOOL_HEAVY = "spotter__tool_heavy.jsonl"
ORIGINAL_SESSION = "d6e0bada-1959-4eec-a9d2-0bfade768d8f"
RESUMED_SESSION = "0f3c2a10-7a55-4c1e-9d1e-5b2f1a7c9e01"


def _oracle(transcripts: TranscriptSet, provider: str) -> int:
    total = 0
    for response in transcripts.responses:
        assert response.model is not None and response.timestamp is not None
        calc = genai_prices.calc_price(
            genai_prices.Usage(**genai_usage_counts(response.usage)),
            response.model,
            provider_id=provider,
            genai_request_timestamp=response.timestamp,
        )
        total += to_micro_usd(calc.total_price * 1_000_000)
    return total


def _sum(transcripts: TranscriptSet) -> Usage:
    return sum((r.usage for r in transcripts.responses), Usage())


# -- Claude Code: resumed sessions, repeated files ---------------------------------------------


def _resumed_copy(corpus: Path, folder: Path) -> Path:
    """What `claude --resume` writes: the earlier responses' lines copied into a new file
    under a new sessionId, stamped at resume time, then the session's new responses."""
    resumed_at = datetime(2026, 2, 11, 9, 0, tzinfo=UTC)
    lines = []
    for number, line in enumerate(
        (corpus / "claude-code" / TOOL_HEAVY).read_text().splitlines(), start=1
    ):
        entry = json.loads(line)
        if "sessionId" in entry:
            entry["sessionId"] = RESUMED_SESSION
        if "timestamp" in entry:
            entry["timestamp"] = (resumed_at + timedelta(milliseconds=number)).isoformat()
        lines.append(json.dumps(entry))
    new = {
        "parentUuid": "x",
        "isSidechain": False,
        "sessionId": RESUMED_SESSION,
        "version": "2.1.39",
        "message": {
            "model": "claude-opus-4-6",
            "id": "msg_01NewAfterResume",
            "type": "message",
            "role": "assistant",
            "content": [],
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 500,
                "cache_read_input_tokens": 30_000,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 0,
                    "ephemeral_1h_input_tokens": 500,
                },
                "output_tokens": 50,
            },
        },
        "requestId": "req_01NewAfterResume",
        "type": "assistant",
        "uuid": "u-new",
        "timestamp": "2026-02-11T09:05:00.000Z",
    }
    lines.append(json.dumps(new))
    path = folder / f"{RESUMED_SESSION}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


# SOURCES.md, tool_heavy deduplicated (last line per id): input 54, output 212, cache read
# 88,231, cache write 17,696 (all 1-hour); then the resumed session's own response.
ORIGINAL = Usage(
    input=54 + 88_231 + 17_696,
    output=212,
    cache_read=88_231,
    cache_write=17_696,
    cache_write_1h=17_696,
    web_searches=0,  # server_tool_use says 0
)
NEW = Usage(input=30_510, output=50, cache_read=30_000, cache_write=500, cache_write_1h=500)


@pytest.mark.parametrize("order", ["original first", "resumed first"])
def test_a_resumed_session_counts_copied_responses_once(
    corpus: Path, tmp_path: Path, order: str
) -> None:
    resumed = _resumed_copy(corpus, tmp_path)
    original = corpus / "claude-code" / TOOL_HEAVY
    paths = [original, resumed] if order == "original first" else [resumed, original]
    transcripts = read_transcripts(paths)
    assert transcripts.problems == []
    assert len(transcripts.responses) == 5
    assert transcripts.repeated_responses == 4
    assert _sum(transcripts) == ORIGINAL + NEW
    sessions = {r.response_id.split(":")[0]: r.session for r in transcripts.responses}
    # Copied responses belong to the session that first had them; the new one to its own.
    assert sessions.pop("msg_01NewAfterResume") == RESUMED_SESSION
    assert set(sessions.values()) == {ORIGINAL_SESSION}
    stamps = [r.timestamp for r in transcripts.responses if r.session == ORIGINAL_SESSION]
    assert all(s is not None and s < datetime(2026, 2, 11, tzinfo=UTC) for s in stamps)
    # The set costs the original session plus the new response alone, priced on opus-4-6:
    # 10 x $5 + 30,000 x $0.50 + 500 x $10 (1-hour writes) + 50 x $25 per MTok = 21,300.
    alone = read_transcripts([original])
    assert _oracle(transcripts, "anthropic") == _oracle(alone, "anthropic") + 21_300


def test_the_same_file_twice_and_overlapping_folders_count_once(corpus: Path) -> None:
    folder = corpus / "claude-code"
    once = read_transcripts([folder])
    for paths in ([folder, folder], [folder, folder / TOOL_HEAVY], [folder / TOOL_HEAVY] * 2):
        again = read_transcripts(paths)
        assert again.problems == []
        assert again.repeated_files >= 1
    twice = read_transcripts([folder, folder / TOOL_HEAVY])
    assert _sum(twice) == _sum(once)
    assert len(twice.responses) == len(once.responses)


# -- Claude Code: synthetic lines, unreadable input ---------------------------------------------


SYNTHETIC = {
    "parentUuid": "a",
    "isSidechain": False,
    "sessionId": "s-1",
    "version": "1.0.51",
    "message": {
        "id": "6b1d3c55-1f1b-4f7e-9a3c-2d8f0c2f1e11",
        "model": "<synthetic>",
        "role": "assistant",
        "stop_reason": "stop_sequence",
        "stop_sequence": "",
        "type": "message",
        "usage": {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "server_tool_use": {"web_search_requests": 0},
            "service_tier": None,
        },
        "content": [{"type": "text", "text": "API Error: 529 overloaded"}],
    },
    "type": "assistant",
    "uuid": "b",
    "timestamp": "2026-02-10T22:58:00.000Z",
    "isApiErrorMessage": True,
}


def _line(message_id: str, **usage: Any) -> str:
    entry = {
        "sessionId": "s-1",
        "message": {"id": message_id, "model": "claude-sonnet-4-20250514", "usage": usage},
        "requestId": f"req-{message_id}",
        "timestamp": "2026-02-10T22:57:57",
    }
    return json.dumps(entry)


def test_synthetic_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(
        json.dumps(SYNTHETIC) + "\n" + _line("m1", input_tokens=10, output_tokens=5) + "\n"
    )
    transcripts = read_transcripts([path])
    assert transcripts.skipped_synthetic == 1
    assert [r.model for r in transcripts.responses] == ["claude-sonnet-4-20250514"]
    assert transcripts.problems == []


def test_timestamps_without_a_zone_are_utc(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(_line("m1", input_tokens=10, output_tokens=5) + "\n")
    (response,) = read_transcripts([path]).responses
    assert response.timestamp == datetime(2026, 2, 10, 22, 57, 57, tzinfo=UTC)


def test_a_torn_last_line_is_listed_and_the_rest_counted(corpus: Path, tmp_path: Path) -> None:
    lines = (corpus / "claude-code" / "spotter__short.jsonl").read_text().splitlines()
    path = tmp_path / "live.jsonl"
    path.write_text("\n".join(lines) + "\n" + lines[9][: len(lines[9]) // 2])
    transcripts = read_transcripts([path])
    assert len(transcripts.responses) == 1
    assert transcripts.problems == [
        f"{path}:{len(lines) + 1}: torn last line (the file ends mid-line: still being "
        "written?); line skipped"
    ]


def test_binary_and_non_utf8_files_are_listed(tmp_path: Path) -> None:
    binary = tmp_path / "a.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    latin = tmp_path / "b.jsonl"
    latin.write_bytes(
        (_line("m1", input_tokens=10, output_tokens=5) + "\n").encode()
        + _line("caf\u00e9", input_tokens=1, output_tokens=1)
        .replace("\\u00e9", "\u00e9")
        .encode("latin-1")
        + b"\n"
    )
    wide = tmp_path / "c.jsonl"  # exported by an editor as UTF-16 (with its byte-order mark)
    wide.write_bytes((_line("m2", input_tokens=7, output_tokens=1) + "\n").encode("utf-16"))
    transcripts = read_transcripts([tmp_path])
    assert [r.usage.input for r in transcripts.responses] == [10]
    assert transcripts.problems == [
        f"{binary}: a binary file, not a JSONL transcript; skipped",
        f"{latin}:2: not UTF-8 text (invalid continuation byte); line skipped",
        f"{wide}: UTF-16 text, not the UTF-8 of a JSONL transcript; skipped (convert it to UTF-8)",
    ]


def test_non_finite_numbers_are_listed_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    cost_line = json.loads(_line("m1", input_tokens=10, output_tokens=5))
    cost_line["costUSD"] = 0.5
    infinite_cost = json.dumps(cost_line).replace("0.5", "Infinity")
    huge_cost = json.dumps(cost_line).replace("0.5", "1e400")
    nan_count = _line("m2", input_tokens=10, output_tokens=5).replace(
        '"input_tokens": 10', '"input_tokens": NaN'
    )
    path.write_text("\n".join([infinite_cost, nan_count, huge_cost.replace("m1", "m3")]) + "\n")
    transcripts = read_transcripts([path])
    # The usage of a line with an unreadable cost is counted; its reported cost is left out.
    assert [(r.usage.input, r.reported_cost_micro_usd) for r in transcripts.responses] == [
        (10, None),
        (10, None),
    ]
    assert transcripts.problems == [
        f"{path}:1: costUSD is Infinity; expected a finite number of USD (the response is "
        "counted, its reported cost left out)",
        f"{path}:2: input_tokens is NaN; expected a non-negative integer; line skipped",
        f"{path}:3: costUSD is inf; expected a finite number of USD (the response is counted, "
        "its reported cost left out)",
    ]


# -- Codex forks ---------------------------------------------------------------------------------

PARENT = "localpush__rollout-2026-02-23T20-34-25-019c8bfe-ec25-79e0-97d7-bda6a9c575ff.jsonl"
PARENT_ID = "019c8bfe-ec25-79e0-97d7-bda6a9c575ff"
CHILD_ID = "019c8c11-0000-7000-8000-00000000c41d"
FORK_AT = datetime(2026, 2, 23, 19, 40, tzinfo=UTC)


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _token_count(when: datetime, totals: tuple[int, int, int, int]) -> str:
    inp, cached, out, reasoning = totals
    usage = {
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_output_tokens": reasoning,
        "total_tokens": inp + out,
    }
    payload = {"type": "token_count", "info": {"total_token_usage": usage}, "rate_limits": {}}
    return json.dumps({"timestamp": _stamp(when), "type": "event_msg", "payload": payload})


# The child's own turns (last_token_usage): (input, cached, output, reasoning).
OWN = [(65_000, 60_000, 300, 100), (70_000, 64_000, 200, 50)]
PARENT_TOTALS = (298_373, 238_848, 1_123, 483)  # SOURCES.md: the parent's last totals


def _fork(corpus: Path, folder: Path, *, continues: bool = True) -> Path:
    """A forked rollout as Codex writes it: its own session_meta (forked_from_id), the
    parent's whole history copied in within milliseconds of the fork (its session_meta too),
    then its own turns, each token_count written twice as real rollouts do."""
    lines = [
        json.dumps(
            {
                "timestamp": _stamp(FORK_AT),
                "type": "session_meta",
                "payload": {
                    "id": CHILD_ID,
                    "forked_from_id": PARENT_ID,
                    "timestamp": _stamp(FORK_AT),
                    "cli_version": "0.104.0-alpha.1",
                    "originator": "Codex Desktop",
                    "model_provider": "openai",
                },
            }
        )
    ]
    copied = (corpus / "codex" / PARENT).read_text().splitlines()
    for number, line in enumerate(copied, start=1):
        entry = json.loads(line)
        entry["timestamp"] = _stamp(FORK_AT + timedelta(microseconds=200 * number))
        lines.append(json.dumps(entry))
    now = FORK_AT + timedelta(milliseconds=40)
    lines.append(
        json.dumps(
            {
                "timestamp": _stamp(now),
                "type": "turn_context",
                "payload": {"turn_id": "own-1", "model": "gpt-5.3-codex"},
            }
        )
    )
    totals = PARENT_TOTALS if continues else (0, 0, 0, 0)
    for turn in OWN:
        now += timedelta(seconds=6)
        totals = tuple(a + b for a, b in zip(totals, turn, strict=True))  # type: ignore[assignment]
        lines += [_token_count(now, totals), _token_count(now + timedelta(seconds=1), totals)]
    path = folder / f"rollout-2026-02-23T19-40-00-{CHILD_ID}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("continues", [True, False], ids=["totals go on", "totals restart"])
def test_a_codex_fork_counts_only_its_own_turns(
    corpus: Path, tmp_path: Path, continues: bool
) -> None:
    child = read_transcripts([_fork(corpus, tmp_path, continues=continues)])
    assert child.problems == []
    assert [
        (r.usage.input, r.usage.cache_read, r.usage.output, r.usage.reasoning)
        for r in child.responses
    ] == OWN
    assert {r.session for r in child.responses} == {CHILD_ID}  # not the copied parent's id
    both = read_transcripts([corpus / "codex" / PARENT, tmp_path])
    assert len(both.responses) == 6 + 2
    own = Usage(input=135_000, output=500, cache_read=124_000, reasoning=150)
    assert _sum(both) == _sum(read_transcripts([corpus / "codex" / PARENT])) + own
    # gpt-5.3-codex per request: the fork adds its own two requests' cost, nothing more.
    parent_cost = _oracle(read_transcripts([corpus / "codex" / PARENT]), "openai")
    assert _oracle(both, "openai") == parent_cost + _oracle(child, "openai")


# -- tokencost ingest --------------------------------------------------------------------------


def _no_traceback(result: pytest.RunResult) -> None:
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


@pytest.mark.usefixtures("wide_terminal")
def test_ingest_counts_a_resumed_session_once(
    corpus: Path, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    _resumed_copy(corpus, tmp_path)
    out = tmp_path / "out"
    result = pytester.run(
        TOKENCOST,
        "ingest",
        str(corpus / "claude-code" / TOOL_HEAVY),
        str(tmp_path),
        "--out",
        str(out),
    )
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(
        [
            "5 responses from 2 path(s); report in *",
            "Warning: 4 response(s) met again in another file (resumed sessions copy earlier "
            "responses) counted once",
        ]
    )
    report = json.loads((out / "token-report.json").read_text())
    totals = report["summary"]["totals"]
    assert totals["records"] == 5
    assert totals["usage"]["cache_write_1h"] == 17_696 + 500
    transcripts = read_transcripts([corpus / "claude-code" / TOOL_HEAVY, tmp_path])
    assert totals["cost_micro_usd"] == _oracle(transcripts, "anthropic")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "empty", "tokencost: error: no [*].jsonl transcript in folder */empty *"),
        (lambda p: p / "typo.jsonl", "tokencost: error: no such file or folder: */typo.jsonl"),
        (lambda p: p / "photo.jsonl", "tokencost: error: no usage could be read from *binary*"),
    ],
    ids=["empty folder", "mistyped path", "binary input"],
)
def test_ingest_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, pytester: pytest.Pytester, make: Any, message: str
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "photo.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    result = pytester.run(TOKENCOST, "ingest", str(make(tmp_path)), "--out", str(tmp_path / "o"))
    assert result.ret == 2
    result.stderr.fnmatch_lines([message])
    assert len(result.stderr.lines) == 1
    _no_traceback(result)


def test_ingest_into_a_file_is_one_line_and_exit_2(
    corpus: Path, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    (tmp_path / "afile").write_text("")
    result = pytester.run(
        TOKENCOST, "ingest", str(corpus / "claude-code"), "--out", str(tmp_path / "afile")
    )
    assert result.ret == 2
    result.stderr.fnmatch_lines(["tokencost: error: --out */afile is not a folder*"])
    assert len(result.stderr.lines) == 1
    _no_traceback(result)


@pytest.mark.usefixtures("wide_terminal")
def test_ingest_lists_unreadable_lines_writes_the_report_and_exits_2(
    tmp_path: Path, pytester: pytest.Pytester
) -> None:
    path = tmp_path / "s.jsonl"
    cost_line = json.loads(_line("m1", input_tokens=10, output_tokens=5))
    cost_line["costUSD"] = 0.5
    path.write_text(
        json.dumps(cost_line).replace("0.5", "Infinity")
        + "\n"
        + json.dumps(SYNTHETIC)
        + "\n"
        + _line("m2", input_tokens=20, output_tokens=5)[:30]
    )
    out = tmp_path / "out"
    result = pytester.run(TOKENCOST, "ingest", str(path), "--out", str(out))
    assert result.ret == 2
    _no_traceback(result)
    result.stdout.fnmatch_lines(
        [
            f"Warning: {path}:1: costUSD is Infinity*",
            f"Warning: {path}:3: torn last line*",
            "Warning: 1 zero-usage <synthetic> line(s) skipped*",
        ]
    )
    assert "<synthetic>" not in (out / "records.jsonl").read_text()  # no unpriced model
    result.stderr.fnmatch_lines(["tokencost: error: 2 unreadable input(s) in the transcripts*"])
    assert len(result.stderr.lines) == 1
    report = json.loads((out / "token-report.json").read_text())
    assert report["summary"]["totals"]["records"] == 1
    assert report["summary"]["unpriced_models"] == []
