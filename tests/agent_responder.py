"""A stand-in for an external agent (Cursor, Claude Code, a person) answering file dispatches.

It cannot be a real agent here, so this separate process does what one would: it watches the
dispatch folder for `<step>.request.json` manifests and answers each with the case's ground
truth, writing the artifact and then the done marker. Per case it can misbehave the ways real
agents do:

    python agent_responder.py DISPATCH_DIR SCENARIO_DIR --seconds 30 \
        --slow case-02=1.5 --partial case-03 --missing case-04 [--transcript FILE] \
        [--chunks 5] [--ignore-cancel] [--log FILE]

An answer is written in `--chunks` parts (flushed one by one, the `--slow` delay spread between
them) before the done marker. A slow answer whose step the harness cancels (`<step>.cancelled`)
is abandoned, as a well-behaved agent does, unless `--ignore-cancel`: then it is finished and
marked done after the deadline, as an agent that never looks does. `--log` gets one line per
request: `answered`, `cancelled` or `ignored` with the case and step.

With --transcript it also logs each answer the way Claude Code does (one JSONL line with
`message.usage`, stamped when the answer is written): 10 uncached input tokens, the prompt's
length / 4 as cache reads, the answer's length / 4 as output tokens.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from calibrate.scenario import load_scenario


def _log(transcript: Path, case: str, step: str, prompt: str, artifact: str) -> None:
    line = {
        "sessionId": "responder-session",
        "requestId": f"req-{case}-{step}",
        "type": "assistant",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "message": {
            "id": f"msg-{case}-{step}",
            "model": "claude-sonnet-4-5-20250929",
            "usage": {
                "input_tokens": 10,
                "cache_read_input_tokens": len(prompt) // 4,
                "cache_creation_input_tokens": 0,
                "output_tokens": len(artifact) // 4,
            },
        },
    }
    with transcript.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def _pause(seconds: float, cancelled: Path, honour: bool) -> bool:
    """Sleep `seconds`; True when the step was cancelled meanwhile and the agent honours it."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if honour and cancelled.exists():
            return True
        time.sleep(min(0.01, max(0.0, until - time.monotonic())))
    return honour and cancelled.exists()


def _answer(manifest: dict[str, str], artifact: str, args: argparse.Namespace, delay: float) -> str:
    """Write the artifact in chunks, then the done marker; what happened, for the log."""
    case = manifest["case"]
    cancelled = Path(manifest["cancelled_file"])
    chunks = max(1, args.chunks)
    size = -(-len(artifact) // chunks)
    parts = [artifact[i : i + size] for i in range(0, len(artifact), size)] or [""]
    with Path(manifest["artifact_file"]).open("w", encoding="utf-8") as handle:
        for index, part in enumerate(parts):
            handle.write(part)
            handle.flush()
            if case in args.partial and index + 1 >= len(parts) // 2:
                return "partial"  # stops half-way and never marks it done
            if index + 1 < len(parts) and _pause(
                delay / max(1, len(parts) - 1), cancelled, not args.ignore_cancel
            ):
                return "cancelled"
    if len(parts) == 1 and _pause(delay, cancelled, not args.ignore_cancel):
        return "cancelled"
    if cancelled.exists():  # finished anyway, after the harness gave up
        Path(manifest["done_file"]).touch()
        return "ignored"
    Path(manifest["done_file"]).touch()
    return "answered"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dispatch_dir", type=Path)
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long")
    parser.add_argument("--slow", action="append", default=[], help="CASE=SECONDS delay")
    parser.add_argument("--partial", action="append", default=[], help="write half, no marker")
    parser.add_argument("--missing", action="append", default=[], help="never answer")
    parser.add_argument("--transcript", type=Path, default=None, help="log usage like Claude Code")
    parser.add_argument("--chunks", type=int, default=2, help="write each answer in N parts")
    parser.add_argument("--ignore-cancel", action="store_true", help="never look for .cancelled")
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
            case = manifest["case"]
            if case in args.missing:
                continue
            artifact = scenario.case(case).truth[manifest["step"]]
            outcome = _answer(manifest, artifact, args, slow.get(case, 0.05))
            if outcome in ("answered", "ignored") and args.transcript is not None:
                prompt = Path(manifest["prompt_file"]).read_text(encoding="utf-8")
                _log(args.transcript, case, manifest["step"], prompt, artifact)
            if args.log is not None:
                with args.log.open("a", encoding="utf-8") as log:
                    log.write(f"{outcome} {case} {manifest['step']}\n")
        time.sleep(0.02)


if __name__ == "__main__":
    main()
