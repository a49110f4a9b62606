"""Dispatch: sending one step's prompt somewhere and getting its artifact back.

`FileDispatcher` hands prompts to an external agent through a folder. For each dispatch it
writes, atomically and in this order:

* ``<folder>/<case>/<step>.prompt.md`` — the prompt;
* ``<folder>/<case>/<step>.request.json`` — the manifest the agent follows: scenario, case,
  step, model, the paths of the prompt, of the artifact to write and of the done marker, and
  the deadline.

The agent writes its answer to ``<step>.artifact.md`` and then creates ``<step>.done`` (empty).
The done marker is the completion signal: an artifact without it is still being written, so a
partial file is never read. `TokenTrackingDispatcher` wraps any dispatcher and records every
dispatch on a tracker.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_tokencost.counting import counter_for
from pytest_tokencost.errors import TokenCostError
from pytest_tokencost.outdir import atomic_write_text
from pytest_tokencost.records import Provenance, Usage
from pytest_tokencost.tracker import InMemoryTokenTracker

if TYPE_CHECKING:
    from pytest_tokencost.transcripts import TranscriptWatch

__all__ = [
    "DispatchError",
    "DispatchRequest",
    "DispatchResult",
    "Dispatcher",
    "FileDispatcher",
    "TokenTrackingDispatcher",
    "TrackedDispatch",
]


class DispatchError(TokenCostError):
    """A step's dispatch failed: no artifact, a late one, an endpoint error."""


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


def _inside(folder: Path, *parts: str) -> Path:
    path = folder.joinpath(*parts).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise DispatchError(f"refusing to write outside {folder}: {'/'.join(parts)}")
    return path


class FileDispatcher:
    """Dispatch through files to an agent that watches `folder` (see the module docstring)."""

    def __init__(self, folder: Path, *, timeout_s: float = 600.0, poll_s: float = 0.2) -> None:
        if timeout_s <= 0 or poll_s <= 0:
            raise ValueError("timeout_s and poll_s must be positive")
        self.folder = Path(folder)
        self.timeout_s = timeout_s
        self.poll_s = poll_s

    def paths(self, request: DispatchRequest) -> dict[str, Path]:
        """Prompt, manifest, artifact and done-marker paths of a request."""
        return {
            kind: _inside(self.folder, request.case_id, f"{request.step}.{suffix}")
            for kind, suffix in (
                ("prompt", "prompt.md"),
                ("request", "request.json"),
                ("artifact", "artifact.md"),
                ("done", "done"),
            )
        }

    def dispatch(self, request: DispatchRequest) -> DispatchResult:
        """Write the prompt and manifest, then wait for the done marker and read the artifact."""
        paths = self.paths(request)
        for stale in (paths["done"], paths["artifact"]):  # from an earlier run
            stale.unlink(missing_ok=True)
        now = datetime.now(UTC)
        atomic_write_text(paths["prompt"], request.prompt)
        manifest = {
            "scenario": request.scenario_id,
            "case": request.case_id,
            "step": request.step,
            "model": request.model,
            "prompt_file": str(paths["prompt"]),
            "artifact_file": str(paths["artifact"]),
            "done_file": str(paths["done"]),
            "created": now.isoformat(),
            "deadline": (now + timedelta(seconds=self.timeout_s)).isoformat(),
            "protocol": "write artifact_file, then create done_file",
        }
        atomic_write_text(paths["request"], json.dumps(manifest, indent=2) + "\n")
        deadline = time.monotonic() + self.timeout_s
        while not paths["done"].exists():
            if time.monotonic() >= deadline:
                raise DispatchError(self._late_message(request, paths))
            time.sleep(self.poll_s)
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

    def _late_message(self, request: DispatchRequest, paths: dict[str, Path]) -> str:
        artifact = paths["artifact"]
        found = (
            f"found {artifact.stat().st_size} bytes in {artifact.name} but no done marker "
            "(still being written?)"
            if artifact.exists()
            else "found nothing"
        )
        return (
            f"case {request.case_id!r} step {request.step!r}: no artifact within "
            f"{self.timeout_s:g}s; expected {artifact} followed by {paths['done']}; {found}"
        )


@dataclass(frozen=True, slots=True)
class TrackedDispatch:
    """A dispatch's result with the usage recorded for it."""

    result: DispatchResult
    usage: Usage
    provenance: Provenance
    model: str | None
    wall_ms: float


class TokenTrackingDispatcher:
    """Records every dispatch of `inner` on `tracker`: sizes, tokens and round-trip time.

    Tokens are the provider's when the inner dispatcher reports usage (`reported`), else
    counted with the model's tokenizer when the model is known (`counted`), else estimated
    at bytes/4 (`estimated`), then scaled by `ratios` when given (`calibrated`). With
    `transcripts`, the agent's own logged usage inside the dispatch window wins (`reported`),
    one record per model.
    """

    def __init__(
        self,
        inner: Dispatcher,
        tracker: InMemoryTokenTracker,
        *,
        model: str | None = None,
        ratios: dict[str, tuple[float, float]] | None = None,
        transcripts: TranscriptWatch | None = None,
    ) -> None:
        self.inner = inner
        self.tracker = tracker
        self.model = model
        self.ratios = ratios or {}
        self.transcripts = transcripts

    def dispatch(self, request: DispatchRequest) -> TrackedDispatch:
        """Dispatch through `inner` and record the result."""
        window_start = datetime.now(UTC)
        started = time.perf_counter()
        result = self.inner.dispatch(request)
        wall_ms = (time.perf_counter() - started) * 1000.0
        model = result.model or request.model or self.model
        if self.transcripts is not None:
            logged = self.transcripts.take(window_start, datetime.now(UTC))
            for problem in self.transcripts.problems:  # unreadable files or lines: say so
                if problem not in self.tracker.warnings:
                    self.tracker.warnings.append(problem)
            if logged:
                return self._record_transcript(request, result, logged, wall_ms)
        if result.usage is not None:
            usage, provenance = result.usage, Provenance.REPORTED
        else:
            counter = counter_for(model)
            usage = Usage(
                input=counter.count(request.prompt), output=counter.count(result.artifact)
            )
            provenance = counter.provenance
            ratio = self.ratios.get(request.step)
            if ratio is not None and provenance is Provenance.ESTIMATED:
                usage = Usage(
                    input=round(usage.input * ratio[0]), output=round(usage.output * ratio[1])
                )
                provenance = Provenance.CALIBRATED
        self.tracker.record(
            model=model,
            provider=result.provider,
            usage=usage,
            provenance=provenance,
            prompt=request.prompt,
            artifact=result.artifact,
            wall_ms=wall_ms,
        )
        return TrackedDispatch(result, usage, provenance, model, wall_ms)

    def _record_transcript(
        self, request: DispatchRequest, result: DispatchResult, logged: list[Any], wall_ms: float
    ) -> TrackedDispatch:
        by_model: dict[str | None, Usage] = {}
        for response in logged:
            by_model[response.model] = by_model.get(response.model, Usage()) + response.usage
        total = Usage()
        for index, (model, usage) in enumerate(by_model.items()):
            total = total + usage
            first = index == 0  # the texts' sizes and the round trip belong to the step once
            self.tracker.record(
                model=model,
                provider="anthropic" if (model or "").startswith("claude") else None,
                usage=usage,
                provenance=Provenance.REPORTED,
                prompt=request.prompt if first else None,
                artifact=result.artifact if first else None,
                wall_ms=wall_ms if first else None,
            )
        models = [m for m in by_model if m]
        return TrackedDispatch(
            result, total, Provenance.REPORTED, models[0] if len(models) == 1 else None, wall_ms
        )
