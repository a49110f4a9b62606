"""Agent transcripts: the tokens Claude Code and Codex sessions really used.

* Claude Code session JSONL (``~/.claude/projects/*/*.jsonl``, subagents' side chains too):
  usage sits in ``message.usage`` in Anthropic's shape (``input_tokens`` excludes the cache).
  One response is often written on several lines (one per content block) sharing
  ``message.id`` and ``requestId``; it counts once, with the figures of its last line.
* Codex rollouts (``~/.codex/sessions/**/rollout-*.jsonl``): ``token_count`` events carry the
  session's cumulative ``total_token_usage`` and repeat (each is often written twice, and a
  forked session repeats its parent's history). Per-turn usage is the difference between
  successive distinct totals; a turn seen before (same timestamp and totals) is not counted
  again, across files too. Codex counts cached input inside ``input_tokens`` and, in real
  rollouts, reasoning inside ``output_tokens``; where ``total_tokens`` shows reasoning outside
  the output (some hand-written fixtures), it is added back.

Unreadable lines are reported (file and line number) and skipped; nothing is guessed as zero.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .records import Usage

__all__ = [
    "LateAnswer",
    "TranscriptResponse",
    "TranscriptSet",
    "TranscriptWatch",
    "read_transcripts",
    "response_ids",
    "response_key",
]


@dataclass(frozen=True, slots=True)
class TranscriptResponse:
    """One model response of an agent session, counted once with its final usage."""

    source: str  # "claude-code" or "codex"
    session: str
    response_id: str
    timestamp: datetime | None
    model: str | None
    usage: Usage
    sidechain: bool = False
    reported_cost_micro_usd: int | None = None


@dataclass
class TranscriptSet:
    """Responses read from one or more transcript files, and the problems met."""

    responses: list[TranscriptResponse] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _codex_seen: set[tuple[Any, ...]] = field(default_factory=set)

    def read(self, path: Path) -> None:
        """Read one transcript file (its kind is told from its lines)."""
        try:
            handle = path.open(encoding="utf-8")
        except OSError as exc:
            self.problems.append(f"cannot read transcript {path}: {exc.strerror or exc}")
            return
        with handle:
            first = handle.readline()
            handle.seek(0)
            if '"token_count"' in first or '"session_meta"' in first or '"turn_context"' in first:
                self._read_codex(path, handle)
            else:
                self._read_claude_code(path, handle)

    # -- Claude Code ----------------------------------------------------------------------------

    def _read_claude_code(self, path: Path, lines: Iterable[str]) -> None:
        latest: dict[tuple[str, str], TranscriptResponse] = {}
        for number, line in enumerate(lines, start=1):
            if '"usage"' not in line:
                continue
            entry = self._json(path, number, line)
            if not isinstance(entry, dict) or not isinstance(entry.get("message"), dict):
                continue
            message: dict[str, Any] = entry["message"]
            usage = message.get("usage")
            if not isinstance(usage, dict):
                continue
            try:
                uncached = _count(usage, "input_tokens")
                read = _optional(usage, "cache_read_input_tokens")
                written = _optional(usage, "cache_creation_input_tokens")
                normalised = Usage(
                    input=uncached + (read or 0) + (written or 0),
                    output=_count(usage, "output_tokens"),
                    cache_read=read,
                    cache_write=written,
                )
            except ValueError as exc:
                self.problems.append(f"{path}:{number}: {exc}")
                continue
            key = (
                str(message.get("id") or entry.get("uuid") or number),
                str(entry.get("requestId") or ""),
            )
            cost = entry.get("costUSD")
            latest[key] = TranscriptResponse(  # a later line of the same response wins
                source="claude-code",
                session=str(entry.get("sessionId") or path.stem),
                response_id=":".join(key),
                timestamp=_timestamp(entry.get("timestamp")),
                model=message.get("model") if isinstance(message.get("model"), str) else None,
                usage=normalised,
                sidechain=bool(entry.get("isSidechain")),
                reported_cost_micro_usd=round(cost * 1_000_000)
                if isinstance(cost, int | float) and not isinstance(cost, bool)
                else None,
            )
        self.responses.extend(latest.values())

    # -- Codex ----------------------------------------------------------------------------------

    def _read_codex(self, path: Path, lines: Iterable[str]) -> None:
        model: str | None = None
        session = path.stem
        previous = (0, 0, 0, 0)
        for number, line in enumerate(lines, start=1):
            if (
                '"token_count"' not in line
                and '"turn_context"' not in line
                and ('"session_meta"' not in line)
            ):
                continue
            entry = self._json(path, number, line)
            payload = entry.get("payload") if isinstance(entry, dict) else None
            if not isinstance(payload, dict):
                continue
            kind = entry.get("type")
            if kind == "session_meta" and isinstance(payload.get("id"), str):
                session = payload["id"]
            if kind == "turn_context" and isinstance(payload.get("model"), str):
                model = payload["model"]
            if kind != "event_msg" or payload.get("type") != "token_count":
                continue
            info = payload.get("info")
            if not isinstance(info, dict):
                continue  # rate limits only
            if isinstance(info.get("model"), str):
                model = info["model"]
            totals = info.get("total_token_usage")
            try:
                if not isinstance(totals, dict):
                    raise ValueError("token_count without total_token_usage")
                current = (
                    _count(totals, "input_tokens"),
                    _optional(totals, "cached_input_tokens") or 0,
                    _count(totals, "output_tokens"),
                    _optional(totals, "reasoning_output_tokens") or 0,
                )
                reported_total = _optional(totals, "total_tokens")
            except ValueError as exc:
                self.problems.append(f"{path}:{number}: {exc}")
                continue
            seen = (entry.get("timestamp"), current)
            if current == previous or seen in self._codex_seen:
                previous = current
                continue  # a repeated event, or a forked session's copy of its parent's
            self._codex_seen.add(seen)
            delta = [now - before for now, before in zip(current, previous, strict=True)]
            if min(delta) < 0:  # a new session in the same file: totals restarted
                delta = list(current)
            previous = current
            inp, cached, out, reasoning = delta
            if (
                reported_total is not None
                and reasoning
                and (reported_total == current[0] + current[2] + current[3])
            ):
                out += reasoning  # this writer keeps reasoning outside output_tokens
            try:
                usage = Usage(input=inp, output=out, cache_read=cached, reasoning=reasoning)
            except ValueError as exc:
                self.problems.append(f"{path}:{number}: {exc}")
                continue
            self.responses.append(
                TranscriptResponse(
                    source="codex",
                    session=session,
                    response_id=f"{path.name}:{number}",
                    timestamp=_timestamp(entry.get("timestamp")),
                    model=model,
                    usage=usage,
                )
            )

    def _json(self, path: Path, number: int, line: str) -> Any:
        try:
            return json.loads(line)
        except json.JSONDecodeError as exc:
            self.problems.append(f"{path}:{number}: not JSON ({exc.msg}); line skipped")
            return None


def _optional(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} is {value!r}; expected a non-negative integer")
    return value


def _count(data: dict[str, Any], key: str) -> int:
    value = _optional(data, key)
    if value is None:
        raise ValueError(f"{key} is missing")
    return value


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def read_transcripts(paths: Iterable[Path]) -> TranscriptSet:
    """Read transcript files and folders (``*.jsonl`` below them), in sorted order."""
    result = TranscriptSet()
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.jsonl")) if path.is_dir() else [path])
    for file in files:
        result.read(file)
    return result


#: How far a done marker's modification time may lag the clock that stamped the responses
#: written just before it (file systems stamp with a coarse clock, a few milliseconds behind).
MARKER_GRACE = timedelta(milliseconds=20)


def response_key(response: TranscriptResponse) -> str:
    """A response's identity across reads: its source and its id (message id and request id
    for Claude Code), not its session, so a copy in a resumed session is the same response."""
    return f"{response.source}:{response.response_id}"


@dataclass(frozen=True, slots=True)
class LateAnswer:
    """Responses of a step that timed out, logged after its deadline and before its late
    done marker: they belong to that step, not to the window they fell in."""

    case: str
    step: str
    deadline: datetime
    responses: tuple[TranscriptResponse, ...]
    scenario: str | None = None


@dataclass
class _Expired:
    case: str
    step: str
    deadline: datetime
    marker: Path
    scenario: str | None


def response_ids(response: TranscriptResponse) -> tuple[str, str | None]:
    """A response's provider identity for its record: (response id, request id). Claude Code
    keeps the message id and the request id; Codex rollouts have neither, so their place in
    the file stands in."""
    if response.source == "claude-code":
        message, _, request = response.response_id.partition(":")
        return message, request or None
    return response.response_id, None


class TranscriptWatch:
    """The responses an agent logged in each dispatch window, each handed out once.

    Used by wet calibration runs (``--cost-transcripts``): after each dispatch, the responses
    whose timestamps fall inside its window are that step's real usage, one record each. The
    transcripts are re-read every time, as the agent keeps appending to them.

    With `claims` (a folder shared by the processes of one run), a response is handed out by
    one process only, whichever reads it first: windows of concurrent workers overlap and are
    told apart by time alone, so under pytest-xdist a response counts once but may be charged
    to the step of another worker's case that was open at the same time.

    A step that timed out is registered with `expire` (its deadline and its done marker). When
    its done marker appears later, the responses stamped between the deadline and the marker
    are that step's late answer (`late_answers`), never the usage of the window they fall in.
    """

    def __init__(self, paths: Iterable[Path], claims: Path | None = None) -> None:
        self.paths = list(paths)
        self.claims = claims
        self.taken: set[str] = set()
        self.problems: list[str] = []
        self._expired: list[_Expired] = []
        self._late: list[LateAnswer] = []

    def read(self) -> list[TranscriptResponse]:
        """Every response of the transcripts as they are now (problems kept in `problems`)."""
        found = read_transcripts(self.paths)
        self.problems = found.problems
        return found.responses

    def take(self, start: datetime, end: datetime) -> list[TranscriptResponse]:
        """Responses stamped within [start, end] not handed out before (late answers of
        expired steps are set aside first, see `late_answers`)."""
        responses = self.read()
        self._claim_late(responses)
        return self._claim(responses, start, end)

    def expire(
        self, case: str, step: str, deadline: datetime, marker: Path, scenario: str | None = None
    ) -> None:
        """A step gave up waiting at `deadline`; its answer may still come (`marker`)."""
        self._expired.append(_Expired(case, step, deadline, marker, scenario))

    def late_answers(self, scenario: str | None = None) -> list[LateAnswer]:
        """Late answers found so far and not yet handed out (of `scenario` only, if given)."""
        found = [late for late in self._late if scenario is None or late.scenario == scenario]
        self._late = [late for late in self._late if late not in found]
        return found

    def sweep(self, since: datetime) -> list[TranscriptResponse]:
        """At the end of a run: late answers are set aside, then every response stamped since
        `since` that no window took (unattributed usage)."""
        responses = self.read()
        self._claim_late(responses)
        return self._claim(responses, since, None)

    def _claim(
        self,
        responses: list[TranscriptResponse],
        low: datetime,
        high: datetime | None,
        *,
        after: bool = False,
    ) -> list[TranscriptResponse]:
        """Hand out the untaken responses stamped in [low, high] ((low, high] with `after`)."""
        chosen = []
        for response in responses:
            key = response_key(response)
            stamp = response.timestamp
            if stamp is not None and stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)  # a stamp without a zone is UTC
            if (
                stamp is None
                or key in self.taken
                or stamp < low
                or (after and stamp == low)
                or (high is not None and stamp > high)
            ):
                continue
            self.taken.add(key)
            if self._claimed_elsewhere(key):
                continue
            chosen.append(response)
        return chosen

    def _claimed_elsewhere(self, key: str) -> bool:
        """Claim `key` in the shared `claims` folder; True when another process has it.

        Under pytest-xdist every worker watches the same transcripts and their windows overlap:
        an exclusive file per response makes each count in one process only.
        """
        if self.claims is None:
            return False
        import hashlib
        import os

        self.claims.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        try:
            os.close(os.open(self.claims / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return True
        return False

    def _claim_late(self, responses: list[TranscriptResponse]) -> None:
        pending = []
        for expired in self._expired:
            try:
                marked = datetime.fromtimestamp(expired.marker.stat().st_mtime, UTC)
            except OSError:  # no answer yet
                pending.append(expired)
                continue
            late = self._claim(responses, expired.deadline, marked + MARKER_GRACE, after=True)
            self._late.append(
                LateAnswer(
                    expired.case, expired.step, expired.deadline, tuple(late), expired.scenario
                )
            )
        self._expired = pending
