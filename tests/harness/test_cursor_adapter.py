"""The file dispatcher and the cursor adapter, against a separate responder process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from calibrate.dispatch import DispatchError, DispatchRequest, FileDispatcher

from ..conftest import copy_scenario

RESPONDER = Path(__file__).with_name("agent_responder.py")


@contextmanager
def _responder(args: list[str]) -> Iterator[None]:
    """Runs `agent_responder.py` (the stand-in agent) with `args` for the block's duration."""
    agent = subprocess.Popen([sys.executable, str(RESPONDER), *args])
    try:
        yield
    finally:
        agent.kill()
        agent.wait()


def test_file_dispatch_round_trip_and_manifest(tmp_path: Path) -> None:
    scenario = copy_scenario(tmp_path, cases=1)
    dispatch = tmp_path / "dispatch"
    with _responder([str(dispatch), str(scenario), "--seconds", "20"]):
        dispatcher = FileDispatcher(dispatch, timeout_s=15, poll_s=0.02)
        request = DispatchRequest("ptp-mock", "case-01", "recall", "Which incident is it?")
        result = dispatcher.dispatch(request)
    assert result.artifact.startswith("matched_incident: INC-1184\n")
    manifest = json.loads((dispatch / "case-01" / "recall.request.json").read_text())
    assert manifest["prompt_file"].endswith("case-01/recall.prompt.md")
    assert manifest["protocol"] == "write artifact_file, then create done_file"
    assert (dispatch / "case-01" / "recall.prompt.md").read_text() == "Which incident is it?"


def test_a_partial_artifact_is_never_read(tmp_path: Path) -> None:
    dispatch = tmp_path / "dispatch"
    (dispatch / "c1").mkdir(parents=True)
    dispatcher = FileDispatcher(dispatch, timeout_s=0.5, poll_s=0.05)
    request = DispatchRequest("s", "c1", "triage", "prompt")

    import threading

    def half_write() -> None:
        import time

        time.sleep(0.1)
        (dispatch / "c1" / "triage.artifact.md").write_text("category: regr")

    threading.Thread(target=half_write).start()
    with pytest.raises(
        DispatchError,
        match=(
            r"case 'c1' step 'triage': no artifact within 0.5s; expected .*triage\.artifact\.md "
            r"followed by .*triage\.done; found 14 bytes in triage\.artifact\.md but no done marker"
        ),
    ):
        dispatcher.dispatch(request)


def test_a_done_marker_without_artifact_is_an_error(tmp_path: Path) -> None:
    dispatch = tmp_path / "dispatch"
    dispatcher = FileDispatcher(dispatch, timeout_s=2, poll_s=0.05)
    import threading
    import time

    def mark() -> None:
        time.sleep(0.1)
        (dispatch / "c1" / "s.done").touch()

    threading.Thread(target=mark).start()
    with pytest.raises(DispatchError, match=r"s\.done exists but the artifact .* does not"):
        dispatcher.dispatch(DispatchRequest("x", "c1", "s", "p"))


def test_ids_cannot_escape_the_dispatch_folder(tmp_path: Path) -> None:
    dispatcher = FileDispatcher(tmp_path / "d", timeout_s=1)
    with pytest.raises(DispatchError, match="refusing to write outside"):
        dispatcher.dispatch(DispatchRequest("x", "../../outside", "s", "p"))
    assert not (tmp_path / "outside").exists()


def test_cursor_adapter_end_to_end(plugin_pytester: pytest.Pytester) -> None:
    scenario = copy_scenario(plugin_pytester.path, cases=4)
    dispatch = plugin_pytester.path / "dispatch"
    with _responder(
        [
            str(dispatch),
            str(scenario),
            "--seconds",
            "60",
            "--slow",
            "case-02=1.0",
            "--partial",
            "case-03",
            "--missing",
            "case-04",
        ]
    ):
        result = plugin_pytester.runpytest_subprocess(
            "-m",
            "calibration",
            "--adapter=cursor",
            "--dispatch-dir",
            str(dispatch),
            "--adapter-timeout",
            "2.5",
            "--cost-report",
        )
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*case case-03 of scenario ptp-mock:*",
            "*recall: ERROR case 'case-03' step 'recall': no artifact within 2.5s; expected "
            "*case-03/recall.artifact.md followed by *case-03/recall.done; found * bytes in "
            "recall.artifact.md but no done marker (still being written?); wrote recall.cancelled",
            "*recall: ERROR case 'case-04' step 'recall': no artifact within 2.5s;*found nothing; "
            "wrote recall.cancelled",
            "*Default rate: 10 record(s) priced at $3/$15 per MTok (no known model)",
        ]
    )
    report = json.loads(
        (plugin_pytester.path / ".tokencost" / "calibration-report.json").read_text()
    )
    by_case = {case["case_id"]: case for case in report["cases"]}
    assert by_case["case-02"]["passed"] and by_case["case-02"]["wall_ms"] > 1000  # slow, on time
    assert by_case["case-03"]["step_count"] == 1 and by_case["case-03"]["error"]
    assert report["metrics"]["passed"] == 2
    # 2 cases x 4 steps, and the two failed steps: their prompts were delivered and count.
    assert report["tokens"]["totals"]["records"] == 10
    for failed in ("case-03", "case-04"):
        (step,) = by_case[failed]["steps"]
        prompt = (dispatch / failed / "recall.prompt.md").read_text()
        assert step["prompt_tokens"] == (len(prompt.encode()) + 3) // 4  # bytes/4, rounded up
        assert step["artifact_tokens"] == 0 and step["provenance"] == "estimated"
        assert step["wall_ms"] >= 2500  # a timed-out step keeps its wall clock


def test_transcripts_charge_each_step_with_the_agents_logged_usage(
    plugin_pytester: pytest.Pytester,
) -> None:
    scenario = copy_scenario(plugin_pytester.path, cases=2)
    dispatch = plugin_pytester.path / "dispatch"
    transcript = plugin_pytester.path / "agent" / "session.jsonl"
    transcript.parent.mkdir()
    with _responder(
        [str(dispatch), str(scenario), "--seconds", "60", "--transcript", str(transcript)]
    ):
        result = plugin_pytester.runpytest_subprocess(
            "-m",
            "calibration",
            "--adapter=cursor",
            "--dispatch-dir",
            str(dispatch),
            "--adapter-timeout",
            "20",
            f"--cost-transcripts={transcript.parent}",
        )
    result.assert_outcomes(passed=2)
    out = plugin_pytester.path / ".tokencost"
    report = json.loads((out / "calibration-report.json").read_text())
    from calibrate.scenario import load_scenario

    truth = load_scenario(scenario)
    for case in report["cases"]:
        for step in case["steps"]:
            prompt = (dispatch / case["case_id"] / f"{step['step']}.prompt.md").read_text()
            artifact = truth.case(case["case_id"]).truth[step["step"]]
            assert step["provenance"] == "reported"
            assert step["model"] == "claude-sonnet-4-5-20250929"
            # The responder's logged usage: 10 + cache reads of len(prompt) // 4 as input.
            assert step["prompt_tokens"] == 10 + len(prompt) // 4
            assert step["artifact_tokens"] == len(artifact) // 4
    tokens = json.loads((out / "token-report.json").read_text())["summary"]
    assert tokens["totals"]["tokens_by_provenance"].keys() == {"reported"}
    assert tokens["by_model"]["claude-sonnet-4-5-20250929"]["records"] == 8
