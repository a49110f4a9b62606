"""A stand-in for an external agent (Cursor, Claude Code, a person) answering file dispatches.

It cannot be a real agent here, so this separate process does what one would: it watches the
dispatch folder for `<step>.request.json` manifests and answers each with the case's ground
truth, writing the artifact and then the done marker. Per case it can misbehave the ways real
agents do:

    python agent_responder.py DISPATCH_DIR SCENARIO_DIR --seconds 30 \
        --slow case-02=1.5 --partial case-03 --missing case-04 [--transcript FILE]

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dispatch_dir", type=Path)
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long")
    parser.add_argument("--slow", action="append", default=[], help="CASE=SECONDS delay")
    parser.add_argument("--partial", action="append", default=[], help="write half, no marker")
    parser.add_argument("--missing", action="append", default=[], help="never answer")
    parser.add_argument("--transcript", type=Path, default=None, help="log usage like Claude Code")
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
            target = Path(manifest["artifact_file"])
            with target.open("w", encoding="utf-8") as handle:  # written in two parts
                handle.write(artifact[: len(artifact) // 2])
                handle.flush()
                if case in args.partial:
                    continue
                time.sleep(slow.get(case, 0.05))
                handle.write(artifact[len(artifact) // 2 :])
            if args.transcript is not None:
                prompt = Path(manifest["prompt_file"]).read_text(encoding="utf-8")
                _log(args.transcript, case, manifest["step"], prompt, artifact)
            Path(manifest["done_file"]).touch()
        time.sleep(0.02)


if __name__ == "__main__":
    main()
