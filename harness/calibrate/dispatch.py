"""Dispatch: sending one step's prompt somewhere and getting its artifact back.

`FileDispatcher` hands prompts to an external agent through a folder. For each dispatch it
writes, atomically and in this order:

* ``<folder>/<case>/<step>.prompt.md`` — the prompt;
* ``<folder>/<case>/<step>.request.json`` — the manifest the agent follows (`AgentRequest`,
  its JSON Schema in ``calibrate/schema/request.schema.json``): scenario, case, step, model,
  the paths of the prompt, of the artifact to write, of the done marker and of the
  cancellation marker, and the deadline.

The agent writes its answer to ``<step>.artifact.md`` and then creates ``<step>.done`` (empty).
The done marker is the completion signal: an artifact without it is still being written, so a
partial file is never read. With no done marker by the deadline the harness writes
``<step>.cancelled`` (atomically) so that the agent can stop, and the step fails.
`calibrate.recording.TokenTrackingDispatcher` wraps any dispatcher and records every dispatch.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from pytest_tokencost.errors import TokenCostError
from pytest_tokencost.outdir import atomic_write_text
from pytest_tokencost.records import Usage

from .protocol import AgentRequest

__all__ = [
    "AgentGone",
    "DispatchError",
    "DispatchRequest",
    "DispatchResult",
    "DispatchTimeout",
    "Dispatcher",
    "FileDispatcher",
    "TimeoutTally",
    "wait_for",
]


class DispatchError(TokenCostError):
    """A step's dispatch failed: no artifact, a late one, an endpoint error."""


class DispatchTimeout(DispatchError):
    """No done marker by the deadline: the agent is slow, stuck or gone."""


class AgentGone(DispatchError):
    """The run stopped dispatching: too many steps timed out (`TimeoutTally`)."""


@dataclass(frozen=True, slots=True)
class DispatchRequest:
    """One step of one case, ready to send."""

    scenario_id: str
    case_id: str
    step: str
    prompt: str
    model: str | None = None


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """What came back: the artifact and, when the other side reported it, its usage."""

    artifact: str
    model: str | None = None
    provider: str | None = None
    usage: Usage | None = None


class Dispatcher(Protocol):
    """Anything that turns a prompt into an artifact."""

    def dispatch(self, request: DispatchRequest) -> DispatchResult:
        """Send the request and return its artifact; raise `DispatchError` on failure."""
        ...


class TimeoutTally:
    """Timed-out steps of one run (one process), and whether the run should stop dispatching.

    An agent that has gone away makes every later step wait for the whole timeout; after
    `limit` timed-out steps the run stops instead (``--adapter-max-timeouts``). `limit` None
    or 0 never stops.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit or None
        self.timed_out: list[str] = []  # "case 'x' step 'y'", in order

    def add(self, where: str) -> None:
        """Count one timed-out step."""
        self.timed_out.append(where)

    @property
    def exhausted(self) -> bool:
        """Whether the run should dispatch nothing more."""
        return self.limit is not None and len(self.timed_out) >= self.limit

    def reason(self, folder: Path | None = None) -> str:
        """Why the run stopped, for the skipped cases and the command line."""
        watched = f" Is an agent watching {folder}?" if folder is not None else ""
        return (
            f"the agent looks gone: {len(self.timed_out)} step(s) timed out, the limit of "
            f"--adapter-max-timeouts={self.limit} ({', '.join(self.timed_out)}).{watched}"
        )


def _inside(folder: Path, *parts: str) -> Path:
    path = folder.joinpath(*parts).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise DispatchError(f"refusing to write outside {folder}: {'/'.join(parts)}")
    return path


# The done marker is looked for after 2 ms, then ever less often up to `poll_s`: an agent that
# answers at once is noticed at once, a slow one costs at most 1/poll_s stat calls a second.
_FIRST_POLL_S = 0.002
_POLL_GROWTH = 1.5


def wait_for(path: Path, deadline: float, max_poll_s: float) -> bool:
    """Wait until `path` exists or `time.monotonic()` reaches `deadline`; True if it exists.

    Polls with a growing interval: 2 ms first, times 1.5 each time, never more than
    `max_poll_s`, and never past the deadline.
    """
    exists = os.path.exists
    target = os.fspath(path)
    interval = min(_FIRST_POLL_S, max_poll_s)
    while not exists(target):
        left = deadline - time.monotonic()
        if left <= 0:
            return exists(target)
        time.sleep(min(interval, left))
        interval = min(interval * _POLL_GROWTH, max_poll_s)
    return True


class FileDispatcher:
    """Dispatch through files to an agent that watches `folder` (see the module docstring).

    `poll_s` is the longest interval between two looks for the done marker (the first look
    comes after 2 ms). `progress` receives a one-line note when a wait has lasted
    `notify_after_s` or half the timeout, whichever is shorter (which case and step, the
    deadline, the manifest's path); `timeouts`
    counts timed-out steps across the run and stops it when its limit is reached.
    """

    def __init__(
        self,
        folder: Path,
        *,
        timeout_s: float = 600.0,
        poll_s: float = 0.02,
        progress: Callable[[str], None] | None = None,
        notify_after_s: float = 1.0,
        timeouts: TimeoutTally | None = None,
    ) -> None:
        if timeout_s <= 0 or poll_s <= 0:
            raise ValueError("timeout_s and poll_s must be positive")
        self.folder = Path(folder)
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.progress = progress
        self.notify_after_s = notify_after_s
        self.timeouts = timeouts

    def paths(self, request: DispatchRequest) -> dict[str, Path]:
        """Prompt, manifest, artifact, done-marker and cancellation-marker paths of a request."""
        return {
            kind: _inside(self.folder, request.case_id, f"{request.step}.{suffix}")
            for kind, suffix in (
                ("prompt", "prompt.md"),
                ("request", "request.json"),
                ("artifact", "artifact.md"),
                ("done", "done"),
                ("cancelled", "cancelled"),
            )
        }

    def dispatch(self, request: DispatchRequest) -> DispatchResult:
        """Write the prompt and manifest, then wait for the done marker and read the artifact."""
        if self.timeouts is not None and self.timeouts.exhausted:
            raise AgentGone(f"not dispatched: {self.timeouts.reason(self.folder)}")
        paths = self.paths(request)
        for stale in (paths["done"], paths["artifact"], paths["cancelled"]):  # an earlier run's
            stale.unlink(missing_ok=True)
        now = datetime.now(UTC)
        deadline_at = now + timedelta(seconds=self.timeout_s)
        atomic_write_text(paths["prompt"], request.prompt)
        manifest = AgentRequest(
            id=uuid.uuid4().hex,
            scenario=request.scenario_id,
            case=request.case_id,
            step=request.step,
            model=request.model,
            prompt_file=str(paths["prompt"]),
            artifact_file=str(paths["artifact"]),
            done_file=str(paths["done"]),
            cancelled_file=str(paths["cancelled"]),
            created=now,
            deadline=deadline_at,
            timeout_s=self.timeout_s,
        )
        atomic_write_text(paths["request"], manifest.model_dump_json(indent=2) + "\n")
        started = time.monotonic()
        found = False
        if self.progress is not None:
            notify_after = min(self.notify_after_s, self.timeout_s / 2)
            found = wait_for(paths["done"], started + notify_after, self.poll_s)
            if not found:  # a quick agent makes no noise; a slow or absent one is announced
                self.progress(
                    f"waiting for the agent: case {request.case_id} step {request.step}, "
                    f"deadline {deadline_at:%H:%M:%S} UTC ({self.timeout_s:g}s); "
                    f"request {paths['request']}"
                )
        if not found and not wait_for(paths["done"], started + self.timeout_s, self.poll_s):
            self._cancel(request, paths)
            raise DispatchTimeout(self._late_message(request, paths))
        try:
            artifact = paths["artifact"].read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DispatchError(
                f"case {request.case_id!r} step {request.step!r}: {paths['done']} exists but "
                f"the artifact {paths['artifact']} does not; write the artifact before the "
                "done marker"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DispatchError(f"cannot read artifact {paths['artifact']}: {exc}") from exc
        return DispatchResult(artifact=artifact, model=request.model)

    def _cancel(self, request: DispatchRequest, paths: dict[str, Path]) -> None:
        """Tell the agent to stop (`<step>.cancelled`, atomically) and count the timeout."""
        note = {
            "case": request.case_id,
            "step": request.step,
            "reason": f"no done marker within {self.timeout_s:g}s",
            "cancelled": datetime.now(UTC).isoformat(),
        }
        with suppress(OSError):  # the step has failed either way; its message says why
            atomic_write_text(paths["cancelled"], json.dumps(note) + "\n")
        if self.timeouts is not None:
            self.timeouts.add(f"case {request.case_id!r} step {request.step!r}")

    def _late_message(self, request: DispatchRequest, paths: dict[str, Path]) -> str:
        artifact = paths["artifact"]
        try:
            found = (
                f"found {artifact.stat().st_size} bytes in {artifact.name} but no done marker "
                "(still being written?)"
            )
        except OSError:
            found = "found nothing"
        return (
            f"case {request.case_id!r} step {request.step!r}: no artifact within "
            f"{self.timeout_s:g}s; expected {artifact} followed by {paths['done']}; {found}; "
            f"wrote {paths['cancelled'].name}"
        )
