"""Agent transcripts: the tokens Claude Code and Codex sessions really used.

* Claude Code session JSONL (``~/.claude/projects/*/*.jsonl``, subagents' side chains too):
  usage sits in ``message.usage`` in Anthropic's shape (``input_tokens`` excludes the cache;
  ``cache_creation.ephemeral_1h_input_tokens`` is the 1-hour part of the cache writes,
  ``server_tool_use.web_search_requests`` the web searches). One response is often written on
  several lines (one per content block) sharing ``message.id`` and ``requestId``.
  **A response counts once across everything read**, keyed by (``message.id``, ``requestId``):
  the same file given twice, overlapping folders, and ``claude --resume``, which copies the
  earlier responses into a new file under a new ``sessionId`` with new timestamps. Its figures
  are those of the last line read for it; it belongs to the first session that had it (the
  line with the earliest timestamp; on a tie, or without timestamps, the first read). Zero-usage
  ``<synthetic>`` lines (Claude Code writes them for API errors; no request was billed) are
  skipped and counted in `skipped_synthetic`.
* Codex rollouts (``~/.codex/sessions/**/rollout-*.jsonl``): ``token_count`` events carry the
  session's cumulative ``total_token_usage`` and repeat (each is often written twice). Per-turn
  usage is the difference between successive distinct totals; a turn seen before (same
  timestamp and totals) is not counted again, across files too. Codex counts cached input
  inside ``input_tokens`` and, in real rollouts, reasoning inside ``output_tokens``; where
  ``total_tokens`` shows reasoning outside the output (some hand-written fixtures), it is added
  back. **A fork** (a sub-agent or a forked thread: ``session_meta.payload.forked_from_id``, or
  ``source.subagent.thread_spawn``) opens with its parent's history copied in, every line
  re-stamped at the fork, then the ancestors' ``session_meta`` lines. The copy is written in
  one burst: the lines from the fork's ``session_meta`` on, each stamped within one second of
  the one before. Its ``token_count`` events are the parent's usage: they are not counted, and
  their last totals are the baseline the fork's own turns are measured from (if the fork's
  totals restart instead, they count from zero). The session is the fork's own id, never a
  copied ancestor's.

Timestamps without a zone are read as UTC. Unreadable input is listed in `problems` with its
file and line and never guessed as zero: a line that is not JSON, a torn last line (a file
still being written), a file that is not UTF-8 text, a non-finite number (``Infinity``,
``NaN``, or one too large for a float) and counts that are not non-negative integers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
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

SYNTHETIC_MODEL = "<synthetic>"
#: Lines of a fork's copied history follow each other within this; its own turns come later.
_FORK_BURST = timedelta(seconds=1)


class _NonFinite:
    """What ``NaN`` / ``Infinity`` in a transcript line parse to: a value no reader accepts."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_DECODER = json.JSONDecoder(parse_constant=_NonFinite)


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
    skipped_synthetic: int = 0
    """Zero-usage ``<synthetic>`` Claude Code lines (API errors), left out."""
    repeated_responses: int = 0
    """Claude Code responses met again in another file (a resumed session's copies)."""
    repeated_files: int = 0
    """Files given more than once (the same file twice, overlapping folders): read once."""
    _codex_seen: set[tuple[Any, ...]] = field(default_factory=set)
    _claude_index: dict[tuple[str, str], int] = field(default_factory=dict)
    _files_read: set[Path] = field(default_factory=set)
    #: The class of the usages: `records.Usage`, or `record_builder.PlainUsage` (no pydantic).
    usage_type: Any = None

    def __post_init__(self) -> None:
        if self.usage_type is None:
            from .records import Usage

            self.usage_type = Usage

    def read(self, path: Path) -> None:
        """Read one transcript file (its kind is told from its lines)."""
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            real = path
        if real in self._files_read:
            self.repeated_files += 1
            return
        self._files_read.add(real)
        try:
            handle = path.open("rb")
        except OSError as exc:
            self.problems.append(f"cannot read transcript {path}: {exc.strerror or exc}")
            return
        with handle:
            try:
                head = handle.read(8192)
                handle.seek(0)
            except OSError as exc:
                self.problems.append(f"cannot read transcript {path}: {exc.strerror or exc}")
                return
            if head.startswith((b"\xff\xfe", b"\xfe\xff")):
                self.problems.append(
                    f"{path}: UTF-16 text, not the UTF-8 of a JSONL transcript; skipped "
                    "(convert it to UTF-8)"
                )
                return
            if b"\x00" in head:
                self.problems.append(f"{path}: a binary file, not a JSONL transcript; skipped")
                return
            first = head.split(b"\n", 1)[0]
            lines = self._lines(path, handle)
            if (
                b'"token_count"' in first
                or b'"session_meta"' in first
                or b'"turn_context"' in first
            ):
                self._read_codex(path, lines)
            else:
                self._read_claude_code(path, lines)

    def _lines(self, path: Path, handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
        """Numbered raw lines: only the lines a reader needs are decoded (see `_text`)."""
        number = 0
        try:
            for number, raw in enumerate(handle, start=1):  # number: also used below
                yield number, raw
        except OSError as exc:
            self.problems.append(
                f"{path}:{number + 1}: cannot read on ({exc.strerror or exc}); the rest of the "
                "file is skipped"
            )

    def _text(self, path: Path, number: int, raw: bytes) -> str | None:
        """A line as text; a bad byte is a problem named by its own line."""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.problems.append(f"{path}:{number}: not UTF-8 text ({exc.reason}); line skipped")
            return None

    def _torn(self, path: Path, number: int, raw: bytes) -> None:
        """A last line without its newline is checked even when it holds no usage."""
        if not raw.endswith(b"\n"):
            line = self._text(path, number, raw)
            if line is not None and line.strip():
                self._json(path, number, line)

    # -- Claude Code ----------------------------------------------------------------------------

    def _read_claude_code(self, path: Path, lines: Iterable[tuple[int, bytes]]) -> None:
        latest: dict[tuple[str, str], TranscriptResponse] = {}
        for number, raw in lines:
            if b'"usage"' not in raw:  # most lines of a session: skipped without decoding
                self._torn(path, number, raw)
                continue
            line = self._text(path, number, raw)
            if line is None:
                continue
            entry = self._json(path, number, line)
            if not isinstance(entry, dict) or not isinstance(entry.get("message"), dict):
                continue
            message: dict[str, Any] = entry["message"]
            usage = message.get("usage")
            if not isinstance(usage, dict):
                continue
            model = message.get("model") if isinstance(message.get("model"), str) else None
            try:
                normalised = _claude_usage(usage, self.usage_type)
            except ValueError as exc:
                self.problems.append(f"{path}:{number}: {exc}; line skipped")
                continue
            if model == SYNTHETIC_MODEL and normalised.total == 0 and not normalised.web_searches:
                self.skipped_synthetic += 1
                continue
            message_id = message.get("id") or entry.get("uuid")
            key = (
                str(message_id) if message_id else f"{path}:{number}",
                str(entry.get("requestId") or ""),
            )
            cost = entry.get("costUSD")
            reported: int | None = None
            if isinstance(cost, int | float) and not isinstance(cost, bool) and math.isfinite(cost):
                reported = round(cost * 1_000_000)
            elif cost is not None:
                self.problems.append(
                    f"{path}:{number}: costUSD is {cost!r}; expected a finite number of USD "
                    "(the response is counted, its reported cost left out)"
                )
            latest[key] = TranscriptResponse(  # a later line of the same response wins
                source="claude-code",
                session=str(entry.get("sessionId") or path.stem),
                response_id=":".join(key),
                timestamp=_timestamp(entry.get("timestamp")),
                model=model,
                usage=normalised,
                sidechain=bool(entry.get("isSidechain")),
                reported_cost_micro_usd=reported,
            )
        for key, response in latest.items():
            self._add_claude(key, response)

    def _add_claude(self, key: tuple[str, str], response: TranscriptResponse) -> None:
        """Keep one response per key across files: last figures, first session."""
        position = self._claude_index.get(key)
        if position is None:
            self._claude_index[key] = len(self.responses)
            self.responses.append(response)
            return
        self.repeated_responses += 1
        kept = self.responses[position]
        first = kept
        if response.timestamp is not None and (
            kept.timestamp is None or response.timestamp < kept.timestamp
        ):
            first = response
        self.responses[position] = TranscriptResponse(
            source=first.source,
            session=first.session,
            response_id=first.response_id,
            timestamp=first.timestamp,
            model=response.model or kept.model,
            usage=response.usage,
            sidechain=first.sidechain,
            reported_cost_micro_usd=response.reported_cost_micro_usd,
        )

    # -- Codex ----------------------------------------------------------------------------------

    def _read_codex(self, path: Path, lines: Iterable[tuple[int, bytes]]) -> None:
        model: str | None = None
        session: str | None = None
        previous = (0, 0, 0, 0)
        fork_burst: datetime | None = None  # while set, lines belong to a fork's copied history
        for number, raw in lines:
            if fork_burst is not None:
                stamp = _line_timestamp(raw[:200].decode("utf-8", "replace"))
                # A later line ends the copied burst: the fork's own turns begin, for good.
                burst_over = stamp is None or stamp - fork_burst > _FORK_BURST
                fork_burst = None if burst_over else stamp
            if (
                b'"token_count"' not in raw
                and b'"turn_context"' not in raw
                and b'"session_meta"' not in raw
            ):
                self._torn(path, number, raw)
                continue
            line = self._text(path, number, raw)
            if line is None:
                continue
            entry = self._json(path, number, line)
            payload = entry.get("payload") if isinstance(entry, dict) else None
            if not isinstance(payload, dict):
                continue
            kind = entry.get("type")
            if kind == "session_meta" and session is None and isinstance(payload.get("id"), str):
                session = payload["id"]  # the file's own: later ones are copied ancestors'
                if _is_fork(payload):
                    fork_burst = _timestamp(entry.get("timestamp"))
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
                self.problems.append(f"{path}:{number}: {exc}; line skipped")
                continue
            if fork_burst is not None:
                previous = current  # the parent's usage, copied: the baseline, not counted
                continue
            seen = (entry.get("timestamp"), current)
            if current == previous or seen in self._codex_seen:
                previous = current
                continue  # a repeated event, or another file's copy of the same turn
            self._codex_seen.add(seen)
            delta = [now - before for now, before in zip(current, previous, strict=True)]
            if min(delta) < 0:  # a new session in the same file, or a fork's own count
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
                usage = self.usage_type(
                    input=inp, output=out, cache_read=cached, reasoning=reasoning
                )
            except ValueError as exc:
                self.problems.append(f"{path}:{number}: {exc}; line skipped")
                continue
            self.responses.append(
                TranscriptResponse(
                    source="codex",
                    session=session or path.stem,
                    response_id=f"{path.name}:{number}",
                    timestamp=_timestamp(entry.get("timestamp")),
                    model=model,
                    usage=usage,
                )
            )

    def _json(self, path: Path, number: int, line: str) -> Any:
        try:
            return _DECODER.decode(line)
        except json.JSONDecodeError as exc:
            if not line.endswith("\n"):
                self.problems.append(
                    f"{path}:{number}: torn last line (the file ends mid-line: still being "
                    "written?); line skipped"
                )
            else:
                self.problems.append(f"{path}:{number}: not JSON ({exc.msg}); line skipped")
            return None


def _claude_usage(usage: dict[str, Any], usage_type: Any) -> Usage:
    """An Anthropic usage object (as Claude Code logs it) as `Usage`; ValueError if unreadable."""
    uncached = _count(usage, "input_tokens")
    read = _optional(usage, "cache_read_input_tokens")
    written = _optional(usage, "cache_creation_input_tokens")
    creation = usage.get("cache_creation")
    one_hour = (
        _optional(creation, "ephemeral_1h_input_tokens") if isinstance(creation, dict) else None
    )
    tools = usage.get("server_tool_use")
    searches = _optional(tools, "web_search_requests") if isinstance(tools, dict) else None
    output = _count(usage, "output_tokens")
    if one_hour is not None and one_hour > (written or 0):
        raise ValueError(
            f"cache_creation.ephemeral_1h_input_tokens ({one_hour}) exceeds "
            f"cache_creation_input_tokens ({written})"
        )
    # Every count is checked above and input holds the cache parts by construction, so the
    # model's own validation (a few microseconds a line, on every line) is not needed.
    return usage_type.model_construct(  # type: ignore[no-any-return]
        input=uncached + (read or 0) + (written or 0),
        output=output,
        cache_read=read,
        cache_write=written,
        reasoning=None,
        cache_write_1h=one_hour,
        web_searches=searches,
    )


def _is_fork(meta: dict[str, Any]) -> bool:
    if meta.get("forked_from_id"):
        return True
    source = meta.get("source")
    subagent = source.get("subagent") if isinstance(source, dict) else None
    return isinstance(subagent, dict) and isinstance(subagent.get("thread_spawn"), dict)


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
    """An ISO 8601 timestamp; one without a zone is UTC."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


_LEADING_STAMP = re.compile(r'\{\s*"timestamp"\s*:\s*"([^"]*)"')


def _line_timestamp(line: str) -> datetime | None:
    """The top-level ``timestamp`` of a Codex line, which Codex writes first, read without
    parsing the whole line."""
    match = _LEADING_STAMP.match(line)
    return _timestamp(match.group(1)) if match else None


def read_transcripts(paths: Iterable[Path], usage_type: Any = None) -> TranscriptSet:
    """Read transcript files and folders (``*.jsonl`` below them), in sorted order.

    A file met twice (given twice, or inside two folders given) is read once. `usage_type`:
    see `TranscriptSet.usage_type`.
    """
    result = TranscriptSet(usage_type=usage_type)
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


def provider_of(response: TranscriptResponse) -> str | None:
    """Who served a transcript response: Claude Code talks to Anthropic, Codex to OpenAI."""
    return {"claude-code": "anthropic", "codex": "openai"}.get(response.source)


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
