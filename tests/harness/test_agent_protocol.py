"""The file protocol, finished: request.json and its schema, cancellation, progress, stopping a
run whose agent is gone. The agent is `agent_responder.py`, a separate process."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from calibrate.dispatch import (
    AgentGone,
    DispatchRequest,
    DispatchTimeout,
    FileDispatcher,
    TimeoutTally,
    wait_for,
)
from calibrate.protocol import SCHEMA_FILE, AgentRequest, request_schema
from calibrate.scenario import load_scenario

from ..conftest import copy_scenario

RESPONDER = Path(__file__).with_name("agent_responder.py")


@contextmanager
def _agent(args: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """Runs `agent_responder.py` (the stand-in agent) with `args` for the block's duration."""
    agent = subprocess.Popen([sys.executable, str(RESPONDER), *args])
    try:
        yield agent
    finally:
        agent.kill()
        agent.wait()


def _log_line(log: Path, expected_prefix: str, within_s: float = 30.0) -> str:
    """The agent's log line starting with `expected_prefix`, once the agent has written it."""
    until = time.monotonic() + within_s
    while time.monotonic() < until:
        if log.exists():
            for line in log.read_text().splitlines():
                if line.startswith(expected_prefix):
                    return line
        time.sleep(0.02)
    raise AssertionError(f"the agent never logged {expected_prefix!r}: {log}")


def test_the_committed_schema_is_current() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == request_schema(), (
        "regenerate with: python -m calibrate schema > harness/calibrate/schema/request.schema.json"
    )


def test_every_manifest_follows_the_schema(tmp_path: Path) -> None:
    dispatcher = FileDispatcher(tmp_path / "d", timeout_s=0.05)
    request = DispatchRequest("ptp-mock", "case-01", "triage", "Triage this.", model="gpt-4o")
    with pytest.raises(DispatchTimeout):
        dispatcher.dispatch(request)
    raw = json.loads((tmp_path / "d" / "case-01" / "triage.request.json").read_text())
    schema = request_schema()
    assert set(raw) == set(schema["properties"]) == set(schema["required"])  # type: ignore[arg-type]
    manifest = AgentRequest.model_validate(raw)
    assert (manifest.scenario, manifest.case, manifest.step, manifest.model) == (
        "ptp-mock",
        "case-01",
        "triage",
        "gpt-4o",
    )
    assert manifest.cancelled_file.endswith("case-01/triage.cancelled")
    assert manifest.timeout_s == 0.05
    assert (manifest.deadline - manifest.created).total_seconds() == pytest.approx(0.05)
    assert manifest.created.utcoffset() is not None and manifest.created.utcoffset().seconds == 0


def test_an_artifact_written_in_chunks_is_read_only_once_marked_done(tmp_path: Path) -> None:
    scenario = copy_scenario(tmp_path, cases=1)
    truth = load_scenario(scenario).case("case-01").truth["investigate"]
    dispatch = tmp_path / "dispatch"
    log = tmp_path / "agent.log"
    with _agent(
        [str(dispatch), str(scenario), "--chunks", "7", "--slow", "case-01=0.7", "--log", str(log)]
    ):
        result = FileDispatcher(dispatch, timeout_s=20).dispatch(
            DispatchRequest("ptp-mock", "case-01", "investigate", "Investigate.")
        )
    assert result.artifact == truth  # all seven parts, never a prefix
    assert _log_line(log, "answered") == "answered case-01 investigate"


def test_an_agent_that_never_answers_gets_a_cancellation(tmp_path: Path) -> None:
    scenario = copy_scenario(tmp_path, cases=1)
    dispatch = tmp_path / "dispatch"
    tally = TimeoutTally(None)
    with _agent([str(dispatch), str(scenario), "--missing", "case-01"]):
        dispatcher = FileDispatcher(dispatch, timeout_s=0.4, timeouts=tally)
        with pytest.raises(DispatchTimeout, match=r"found nothing; wrote recall\.cancelled$"):
            dispatcher.dispatch(DispatchRequest("ptp-mock", "case-01", "recall", "Recall."))
    note = json.loads((dispatch / "case-01" / "recall.cancelled").read_text())
    assert note["case"] == "case-01" and note["step"] == "recall"
    assert note["reason"] == "no done marker within 0.4s"
    assert tally.timed_out == ["case 'case-01' step 'recall'"] and not tally.exhausted
    # No temporary file is left beside it: the marker was written atomically.
    assert sorted(p.name for p in (dispatch / "case-01").iterdir()) == [
        "recall.cancelled",
        "recall.prompt.md",
        "recall.request.json",
    ]


def test_a_late_agent_that_honours_the_cancellation_stops(tmp_path: Path) -> None:
    scenario = copy_scenario(tmp_path, cases=1)
    dispatch = tmp_path / "dispatch"
    log = tmp_path / "agent.log"
    with _agent(
        [
            str(dispatch),
            str(scenario),
            "--chunks",
            "4",
            "--slow",
            "case-01=30",
            "--honour-cancel",
            "--log",
            str(log),
        ]
    ):
        dispatcher = FileDispatcher(dispatch, timeout_s=0.5)
        with pytest.raises(DispatchTimeout):
            dispatcher.dispatch(DispatchRequest("ptp-mock", "case-01", "triage", "Triage."))
        assert _log_line(log, "cancelled") == "cancelled case-01 triage"
    assert not (dispatch / "case-01" / "triage.done").exists()


def test_a_late_answer_after_the_deadline_is_not_taken_and_is_cleaned_up(tmp_path: Path) -> None:
    scenario = copy_scenario(tmp_path, cases=1)
    dispatch = tmp_path / "dispatch"
    log = tmp_path / "agent.log"
    args = [str(dispatch), str(scenario), "--slow", "case-01=1.0"]
    with _agent([*args, "--log", str(log)]):
        dispatcher = FileDispatcher(dispatch, timeout_s=0.3)
        with pytest.raises(DispatchTimeout):
            dispatcher.dispatch(DispatchRequest("ptp-mock", "case-01", "recall", "Recall."))
        # The agent finishes anyway, after the harness gave up: done marker after .cancelled.
        assert _log_line(log, "late") == "late case-01 recall"
        folder = dispatch / "case-01"
        assert {"recall.cancelled", "recall.done", "recall.artifact.md"} <= {
            p.name for p in folder.iterdir()
        }
    # A new dispatch of the step (the agent now gone) never mistakes the late answer for its own.
    with pytest.raises(DispatchTimeout, match="found nothing"):
        FileDispatcher(dispatch, timeout_s=0.05).dispatch(
            DispatchRequest("ptp-mock", "case-01", "recall", "Recall again.")
        )


def test_waiting_is_announced_with_case_step_deadline_and_request(tmp_path: Path) -> None:
    lines: list[str] = []
    dispatcher = FileDispatcher(tmp_path, timeout_s=0.3, progress=lines.append)
    with pytest.raises(DispatchTimeout):
        dispatcher.dispatch(DispatchRequest("s", "case-07", "report", "Report."))
    request_file = tmp_path / "case-07" / "report.request.json"
    manifest = AgentRequest.model_validate_json(request_file.read_text())
    assert lines == [
        f"waiting for the agent: case case-07 step report, deadline "
        f"{manifest.deadline:%H:%M:%S} UTC (0.3s); request {request_file}"
    ]


def test_a_quick_answer_is_not_announced(tmp_path: Path) -> None:
    lines: list[str] = []
    dispatcher = FileDispatcher(tmp_path, timeout_s=30, progress=lines.append, notify_after_s=5)

    def answer() -> None:  # an agent that answers as soon as the manifest is there
        wait_for(tmp_path / "c" / "s.request.json", time.monotonic() + 10, 0.001)
        (tmp_path / "c" / "s.artifact.md").write_text("answer")
        (tmp_path / "c" / "s.done").touch()

    agent = threading.Thread(target=answer)
    agent.start()
    assert dispatcher.dispatch(DispatchRequest("s", "c", "s", "p")).artifact == "answer"
    agent.join()
    assert lines == []


def test_wait_for_sees_a_file_or_gives_up_at_the_deadline(tmp_path: Path) -> None:
    target = tmp_path / "x.done"
    assert wait_for(target, time.monotonic() + 0.05, 0.01) is False
    target.touch()
    assert wait_for(target, time.monotonic() - 1, 0.01) is True  # already there: no wait


def test_after_the_limit_nothing_more_is_dispatched(tmp_path: Path) -> None:
    tally = TimeoutTally(1)
    dispatcher = FileDispatcher(tmp_path, timeout_s=0.05, timeouts=tally)
    with pytest.raises(DispatchTimeout):
        dispatcher.dispatch(DispatchRequest("s", "c1", "step", "p"))
    assert tally.exhausted
    with pytest.raises(AgentGone, match=r"not dispatched: the agent looks gone: 1 step\(s\)"):
        dispatcher.dispatch(DispatchRequest("s", "c2", "step", "p"))
    assert not (tmp_path / "c2").exists()
    assert not TimeoutTally(0).exhausted and TimeoutTally(0).limit is None


def test_no_agent_under_pytest_stops_after_the_limit(plugin_pytester: pytest.Pytester) -> None:
    copy_scenario(plugin_pytester.path, cases=4)
    result = plugin_pytester.runpytest_subprocess(
        "-m",
        "calibration",
        "--adapter=cursor",
        "--adapter-timeout=0.3",
        "--adapter-max-timeouts=2",
        "-rs",
    )
    result.assert_outcomes(failed=2, skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    folder = plugin_pytester.path / ".tokencost" / "dispatch"
    result.stdout.fnmatch_lines(
        [
            "calibrate: adapter cursor, timeout 0.3s a step, stop after 2 timed-out step(s)",
            f"calibrate: dispatch folder {folder}/<scenario>",
            "calibrate: waiting for the agent: case case-01 step recall, deadline * UTC (0.3s); "
            f"request {folder}/ptp-mock/case-01/recall.request.json",
            "calibrate: waiting for the agent: case case-02 step recall, *",
            "SKIPPED [[]2[]] *: not run: the agent looks gone: 2 step(s) timed out, the limit of "
            "--adapter-max-timeouts=2 (case 'case-01' step 'recall', case 'case-02' step "
            f"'recall'). Is an agent watching {folder}/ptp-mock?",
        ]
    )
    assert (folder / "ptp-mock" / "case-02" / "recall.cancelled").is_file()
    assert not (folder / "ptp-mock" / "case-03").exists()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_progress_lines_in_quiet_mode_and_none_from_xdist_workers(
    plugin_pytester: pytest.Pytester,
) -> None:
    copy_scenario(plugin_pytester.path, cases=4)
    options = ["-m", "calibration", "--adapter=cursor", "--adapter-timeout=0.3"]
    quiet = plugin_pytester.runpytest_subprocess(*options, "--adapter-max-timeouts=1", "-q")
    quiet.assert_outcomes(failed=1, skipped=3)
    quiet.stdout.fnmatch_lines(["calibrate: waiting for the agent: case case-01 step recall, *"])
    workers = plugin_pytester.runpytest_subprocess(*options, "--adapter-max-timeouts=1", "-n", "2")
    # Each worker counts its own timeouts: one case fails on each, the others are skipped.
    workers.assert_outcomes(failed=2, skipped=2)
    assert "waiting for the agent" not in workers.stdout.str() + workers.stderr.str()
    workers.stdout.fnmatch_lines(["calibrate: adapter cursor, *", "calibrate: dispatch folder *"])


def test_the_command_line_without_an_agent(pytester: pytest.Pytester) -> None:
    scenario = copy_scenario(pytester.path, cases=3)
    result = pytester.run(
        sys.executable,
        "-m",
        "calibrate",
        "run",
        str(scenario),
        "--adapter",
        "cursor",
        "--adapter-timeout",
        "0.3",
        "--adapter-max-timeouts",
        "2",
    )
    assert result.ret == 3
    result.stderr.fnmatch_lines(
        [
            "calibrate: waiting for the agent: case case-01 step recall, *",
            "calibrate: stopped: the agent looks gone: 2 step(s) timed out, *"
            "Is an agent watching .tokencost/dispatch/ptp-mock?",
            "calibrate: 1 case(s) not run: case-03",
        ]
    )
    # The timed-out steps count the prompts they delivered (estimated).
    result.stdout.fnmatch_lines(["*= Token & Cost =*", "Counts: * estimated"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    # Without a limit every case fails: exit 1, still no traceback.
    unlimited = pytester.run(
        sys.executable, "-m", "calibrate", "run", str(scenario), "--adapter", "cursor",
        "--adapter-timeout", "0.2", "--adapter-max-timeouts", "0",
    )  # fmt: skip
    assert unlimited.ret == 1
    unlimited.stdout.fnmatch_lines(["Cases passed:    0 of 3 (0%)"])
    assert "Traceback" not in unlimited.stdout.str() + unlimited.stderr.str()


def test_the_command_line_prints_the_schema(pytester: pytest.Pytester) -> None:
    result = pytester.run(sys.executable, "-m", "calibrate", "schema")
    assert result.ret == 0
    assert json.loads(result.stdout.str()) == request_schema()


def test_the_command_line_stops_quietly_when_its_reader_leaves(pytester: pytest.Pytester) -> None:
    """`python -m calibrate schema | head`: the reader gone (here before the command writes
    anything), the command stops without a BrokenPipeError traceback, as `tokencost` does."""
    process = subprocess.Popen(
        [sys.executable, "-m", "calibrate", "schema"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # the only reader leaves
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0 and err == "", err


def test_the_command_line_when_nothing_could_be_counted(pytester: pytest.Pytester) -> None:
    # A local endpoint that refuses connections: no request delivered anything billable.
    scenario = copy_scenario(pytester.path, cases=2)
    result = pytester.run(
        sys.executable, "-m", "calibrate", "run", str(scenario), "--adapter", "openai",
        "--openai-base-url", "http://127.0.0.1:9/v1", "--adapter-model", "gpt-4o-mini",
    )  # fmt: skip
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["Cases passed:    0 of 2 (0%)", "No tokens recorded: no step of any case completed."]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
