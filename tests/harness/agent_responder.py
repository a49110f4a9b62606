"""A stand-in for an external agent (Cursor, Claude Code, a person) answering file dispatches.

It cannot be a real agent here, so this separate process does what one would: it watches the
dispatch folder for `<step>.request.json` manifests and answers each with the case's ground
truth, writing the artifact and then the done marker. Per case it can misbehave the ways real
agents do:

    python agent_responder.py DISPATCH_DIR SCENARIO_DIR --seconds 30 \
        --slow case-02=1.5 --partial case-03 --missing case-04 [--transcript FILE] \
        [--crash case-05] [--multi case-06] [--long case-07] \
        [--chunks 5] [--honour-cancel] [--log FILE]

An answer is written in `--chunks` parts (default 2, flushed one by one, the `--slow` delay
spread between them) before the done marker. A `--slow` delay longer than the harness's
timeout is a late answer: the agent finishes the step after its deadline (logging its usage,
then the done marker) and only then reads the next request, as a real agent working through
its queue does. With `--honour-cancel` it looks for `<step>.cancelled` while it works and
abandons the step when the harness wrote it, as a well-behaved agent does. `--log` gets one
line per request: `answered`, `late` (finished after the cancellation), `cancelled` or
`partial`, with the case and step.

With --transcript it also logs each answer the way Claude Code does (JSONL lines with
`message.usage`, stamped when the answer is written): by default one response of 10 uncached
input tokens, the prompt's length / 4 as cache reads, the answer's length / 4 as output tokens.
Per case it can log what real sessions show:

* `--crash CASE`: logs the step's usage, writes half the artifact, then the process dies
  (exit status 3) without a done marker: usage inside a failed step's window.
* `--multi CASE`: each step is two responses of two models: the default one written on two
  lines sharing `message.id` and `requestId` (the first with a partial output count, the last
  with the final figures), then a claude-haiku-4-5 response of 500 input and 50 output tokens.
* `--long CASE`: each step is two requests of 120,000 uncached input and 1,000 output tokens
  (claude-sonnet-4-5): each alone is below the 200k long-context tier, their sum above it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from calibrate.scenario import load_scenario

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"


def _line(ident: str, model: str, uncached: int, cache_read: int, output: int) -> str:
    return json.dumps(
        {
            "sessionId": "responder-session",
            "requestId": f"req-{ident}",
            "type": "assistant",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "message": {
                "id": f"msg-{ident}",
                "model": model,
                "usage": {
                    "input_tokens": uncached,
                    "cache_read_input_tokens": cache_read,
                    "cache_creation_input_tokens": 0,
                    "output_tokens": output,
                },
            },
        }
    )


def _log(
    transcript: Path, case: str, step: str, prompt: str, artifact: str, kind: str = "plain"
) -> None:
    ident = f"{case}-{step}"
    reads, output = len(prompt) // 4, len(artifact) // 4
    if kind == "long":
        lines = [_line(f"{ident}-{n}", SONNET, 120_000, 0, 1_000) for n in (1, 2)]
    elif kind == "multi":
        lines = [
            _line(ident, SONNET, 10, reads, 1),  # the first content block: partial figures
            _line(ident, SONNET, 10, reads, output),
            _line(f"{ident}-haiku", HAIKU, 500, 0, 50),
        ]
    else:
        lines = [_line(ident, SONNET, 10, reads, output)]
    with transcript.open("a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def _pause(seconds: float, cancelled: Path, honour: bool) -> bool:
    """Sleep `seconds`; True when the step was cancelled meanwhile and the agent honours it."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if honour and cancelled.exists():
            return True
        time.sleep(min(0.01, max(0.0, until - time.monotonic())))
    return honour and cancelled.exists()


def _answer(
    manifest: dict[str, str],
    artifact: str,
    args: argparse.Namespace,
    delay: float,
    log_usage: Callable[[str], None],
) -> str:
    """Write the artifact in chunks, log its usage, then the done marker; what happened."""
    case = manifest["case"]
    cancelled = Path(manifest["cancelled_file"])
    chunks = max(1, args.chunks)
    size = max(1, -(-len(artifact) // chunks))
    parts = [artifact[i : i + size] for i in range(0, len(artifact), size)] or [""]
    gaps = max(1, len(parts) - 1)
    with Path(manifest["artifact_file"]).open("w", encoding="utf-8") as handle:
        for index, part in enumerate(parts):
            handle.write(part)
            handle.flush()
            if index + 1 == max(1, len(parts) // 2):  # half of it written
                if case in args.crash:
                    log_usage("plain")
                    os._exit(3)  # the agent dies mid-step, after its usage was logged
                if case in args.partial:
                    return "partial"  # stops half-way and never marks it done
            if (index + 1 < len(parts) or len(parts) == 1) and _pause(
                delay / gaps, cancelled, args.honour_cancel
            ):
                return "cancelled"
    late = cancelled.exists()
    log_usage("long" if case in args.long else "multi" if case in args.multi else "plain")
    Path(manifest["done_file"]).touch()
    return "late" if late else "answered"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dispatch_dir", type=Path)
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long")
    parser.add_argument("--slow", action="append", default=[], help="CASE=SECONDS delay")
    parser.add_argument("--partial", action="append", default=[], help="write half, no marker")
    parser.add_argument("--missing", action="append", default=[], help="never answer")
    parser.add_argument("--transcript", type=Path, default=None, help="log usage like Claude Code")
    parser.add_argument("--crash", action="append", default=[], help="log usage, then die")
    parser.add_argument("--multi", action="append", default=[], help="two models per step")
    parser.add_argument("--long", action="append", default=[], help="two 120k requests per step")
    parser.add_argument("--chunks", type=int, default=2, help="write each answer in N parts")
    parser.add_argument("--honour-cancel", action="store_true", help="stop on <step>.cancelled")
    parser.add_argument("--log", type=Path, default=None, help="what happened to each request")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    slow = {case: float(delay) for case, delay in (item.split("=") for item in args.slow)}
    handled: set[tuple[Path, str]] = set()
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        for manifest_path in sorted(args.dispatch_dir.glob("*/*.request.json")):
            manifest = json.loads(manifest_path.read_text())
            key = (manifest_path, manifest["created"])  # a re-dispatch is a new request
            if key in handled:
                continue
            handled.add(key)
            case, step = manifest["case"], manifest["step"]
            if case in args.missing:
                continue
            artifact = scenario.case(case).truth[step]
            prompt = Path(manifest["prompt_file"]).read_text(encoding="utf-8")

            def log_usage(kind: str, case: str = case, step: str = step, prompt: str = prompt,
                          artifact: str = artifact) -> None:  # fmt: skip
                if args.transcript is not None:
                    _log(args.transcript, case, step, prompt, artifact, kind)

            outcome = _answer(manifest, artifact, args, slow.get(case, 0.05), log_usage)
            if args.log is not None:
                with args.log.open("a", encoding="utf-8") as log:
                    log.write(f"{outcome} {case} {step}\n")
        time.sleep(0.02)


if __name__ == "__main__":
    main()
