"""`tokencost ingest` imports genai-prices without its update client (see
`genai_table.defer_update_modules`): its report and records are the same as those of the
plain import, on the corpus transcripts."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

from pytest_tokencost import cli

#: Fields that differ between any two runs (when, how long, which command).
_PER_RUN = ("run_id", "started", "finished", "wall_s", "argv")


def _outputs(out: Path) -> tuple[dict[str, object], list[dict[str, object]]]:
    report = json.loads((out / "token-report.json").read_text(encoding="utf-8"))
    for field in _PER_RUN:
        del report["run"][field]
    records = [
        json.loads(line)
        for line in (out / "records.jsonl").read_text(encoding="utf-8").split("\n")
        if line
    ]
    for record in records:
        del record["run_id"]
    return report, records


def test_ingest_with_deferred_modules_reports_what_the_plain_import_reports(
    corpus: Path, tmp_path: Path
) -> None:
    paths = [str(corpus / "claude-code"), str(corpus / "codex")]
    fast, plain = tmp_path / "fast", tmp_path / "plain"
    # A fresh interpreter: genai-prices not imported yet, so its update modules are deferred.
    probe = (
        "import sys\nfrom pytest_tokencost.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "assert 'httpx2._client' not in sys.modules, 'the HTTP client was loaded'\n"
        "sys.exit(status)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, "ingest", *paths, "--out", str(fast)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode in (0, 2), run.stderr
    # This process imported genai-prices the plain way (the test session's conftest did).
    assert "genai_prices" in sys.modules
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
        status = cli.main(["ingest", *paths, "--out", str(plain)])
    assert status == run.returncode
    # ...and left no stand-in behind in this process (genai-prices was already imported).
    assert not [
        name
        for name in ("httpx2", "asyncio")
        if type(sys.modules.get(name)).__name__ == "_OnFirstUse"
    ]
    assert _outputs(fast) == _outputs(plain)
    report, records = _outputs(fast)
    assert records and report["summary"]["totals"]["cost_micro_usd"]  # type: ignore[index]

    # The printed section is the same too, but for the folder it names and the wall clock.
    def shown(text: str, folder: Path) -> list[str]:
        lines = text.replace(str(folder), "OUT").splitlines()
        return [line for line in lines if not line.startswith("Wall clock:")]

    assert shown(run.stdout, fast) == shown(printed.getvalue(), plain)
