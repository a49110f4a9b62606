"""Wet calibration through files with agent transcripts: every logged response counts once.

The agent is `agent_responder.py`, a separate process misbehaving as real agents do (several
responses and two models in one step, two long requests in one step, a crash after logging
usage, an answer after the deadline); usage outside every window is written by a conftest, as
an agent's stray request would be. Expected numbers are computed by hand from the responder's
documented figures; genai-prices is the oracle for money.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import genai_prices
import pytest

from calibrate.scenario import load_scenario

from ..conftest import copy_scenario

RESPONDER = Path(__file__).with_name("agent_responder.py")
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"


@contextmanager
def _responder(args: list[str]) -> Iterator[None]:
    agent = subprocess.Popen([sys.executable, str(RESPONDER), *args])
    try:
        yield
    finally:
        agent.kill()
        agent.wait()


def _oracle(model: str, uncached: int, cache_read: int, output: int, when: datetime) -> int:
    """genai-prices' price of one request, in micro-USD."""
    usage = genai_prices.Usage(
        input_tokens=uncached + cache_read, output_tokens=output, cache_read_tokens=cache_read
    )
    price = genai_prices.calc_price(
        usage, model, provider_id="anthropic", genai_request_timestamp=when
    )
    return round(price.total_price * 1_000_000)


def _run(pytester: pytest.Pytester, cases: int, agent: list[str], *extra: str) -> Any:
    scenario = copy_scenario(pytester.path, cases=cases)
    dispatch = pytester.path / "dispatch"
    transcript = pytester.path / "agent" / "session.jsonl"
    transcript.parent.mkdir()
    with _responder(
        [str(dispatch), str(scenario), "--seconds", "90", "--transcript", str(transcript), *agent]
    ):
        result = pytester.runpytest_subprocess(
            "-m",
            "calibration",
            "--adapter=cursor",
            "--dispatch-dir",
            str(dispatch),
            f"--cost-transcripts={transcript.parent}",
            "-p",
            "no:cacheprovider",
            *extra,
        )
    return result, load_scenario(scenario), dispatch


def _outputs(pytester: pytest.Pytester) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    out = pytester.path / ".tokencost"
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    return (
        json.loads((out / "calibration-report.json").read_text()),
        json.loads((out / "token-report.json").read_text()),
        records,
    )


def _steps(calibration: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (case["case_id"], step["step"]): step
        for case in calibration["cases"]
        for step in case["steps"]
    }


def test_each_logged_response_is_a_record_priced_on_its_own(
    plugin_pytester: pytest.Pytester,
) -> None:
    result, scenario, dispatch = _run(
        plugin_pytester,
        2,
        ["--long", "case-01", "--multi", "case-02"],
        "--adapter-timeout=30",
        "--cost-report",
    )
    result.assert_outcomes(passed=2)
    calibration, tokens, records = _outputs(plugin_pytester)
    steps = _steps(calibration)
    names = [step.name for step in scenario.steps]

    # case-01: two requests of 120,000 input and 1,000 output tokens per step. Each is priced
    # below the 200k tier: 120,000 x $3 + 1,000 x $15 per MTok = 375,000 micro-USD, not the
    # >200k price of their sum (240,000 x $6 + 2,000 x $22.50 = 1,485,000 for the two).
    long_records = [r for r in records if r["case_id"] == "case-01"]
    assert len(long_records) == 2 * len(names)
    for record in long_records:
        assert (record["usage"]["input"], record["usage"]["output"]) == (120_000, 1_000)
        when = datetime.fromisoformat(record["timestamp"])
        assert record["cost_micro_usd"] == 375_000 == _oracle(SONNET, 120_000, 0, 1_000, when)
        assert record["provenance"] == "reported" and record["provider"] == "anthropic"
    assert tokens["summary"]["by_case"]["ptp-mock::case-01"]["cost_micro_usd"] == 8 * 375_000
    for name in names:
        step = steps[("case-01", name)]
        assert (step["prompt_tokens"], step["artifact_tokens"]) == (240_000, 2_000)
        assert [i.split(":")[1] for i in step["response_ids"]] == [
            f"msg-case-01-{name}-1",
            f"msg-case-01-{name}-2",
        ]
        # Each record carries its response's identity: message id and request id.
        assert sorted(
            (r["response_id"], r["request_id"]) for r in long_records if r["step"] == name
        ) == [(f"msg-case-01-{name}-{n}", f"req-case-01-{name}-{n}") for n in (1, 2)]

    # case-02: per step a sonnet response written on two lines (it counts once, with its last
    # line's figures) and a haiku response: two records, two models, each priced as itself.
    for name in names:
        step = steps[("case-02", name)]
        prompt = (dispatch / "case-02" / f"{name}.prompt.md").read_text()
        artifact = scenario.case("case-02").truth[name]
        sonnet = (10 + len(prompt) // 4, len(artifact) // 4)
        assert step["model"] is None and step["models"] == [SONNET, HAIKU]
        assert step["model_tokens"] == {SONNET: list(sonnet), HAIKU: [500, 50]}
        assert step["prompt_tokens"] == sonnet[0] + 500
        assert step["artifact_tokens"] == sonnet[1] + 50
        of_step = [r for r in records if (r["case_id"], r["step"]) == ("case-02", name)]
        assert sorted(
            (r["model"], r["usage"]["input"], r["usage"]["output"]) for r in of_step
        ) == sorted([(SONNET, *sonnet), (HAIKU, 500, 50)])
        for record in of_step:
            usage = record["usage"]
            when = datetime.fromisoformat(record["timestamp"])
            reads = usage["cache_read"] or 0
            expected = _oracle(
                record["model"], usage["input"] - reads, reads, usage["output"], when
            )
            assert record["cost_micro_usd"] == expected
    assert calibration["adapter_provenance"] == "reported"
    assert calibration["token_counts"] == "reported"
    assert calibration["metrics"]["m18_source"] == "reported"
    result.stdout.fnmatch_lines(["Scenario ptp-mock via cursor (token counts reported)"])


def test_usage_of_failed_and_late_steps_counts_once_in_its_own_step(
    plugin_pytester: pytest.Pytester,
) -> None:
    # case-01 answers after its 1.5 s deadline; case-02 is answered once the agent is free
    # again (at about 2.4 s, well before case-02's own deadline at 3 s: the harness notices a
    # timeout at once, so case-02 starts right at 1.5 s); the agent crashes on case-03 after
    # logging that step's usage.
    result, scenario, dispatch = _run(
        plugin_pytester,
        3,
        ["--slow", "case-01=2.3", "--crash", "case-03"],
        "--adapter-timeout=1.5",
        "--cost-report",
    )
    result.assert_outcomes(passed=1, failed=2)
    calibration, tokens, records = _outputs(plugin_pytester)
    steps = _steps(calibration)

    def logged(case: str) -> tuple[int, int, int]:
        prompt = (dispatch / case / "recall.prompt.md").read_text()
        artifact = scenario.case(case).truth["recall"]
        return 10 + len(prompt) // 4, len(prompt) // 4, len(artifact) // 4

    def of(case: str, step: str = "recall") -> list[dict[str, Any]]:
        return [r for r in records if (r["case_id"], r["step"]) == (case, step)]

    # case-01: the step times out with nothing logged yet; the answer logged after the
    # deadline is that step's, flagged late, not case-02's, and its reported usage is the only
    # count of the delivered prompt (an estimate beside it would count the prompt twice).
    step = steps[("case-01", "recall")]
    assert step["error"] and "no artifact within 1.5s" in step["error"]
    assert step["prompt_tokens"] == 0
    assert step["wall_ms"] >= 1500  # a timed-out step keeps its wall clock
    (late,) = of("case-01")
    assert late["late"] and late["test_id"].endswith("case-02")  # recorded while case-02 ran
    # ... but counted in case-01's step, and not as another run of it.
    assert tokens["summary"]["by_case"]["ptp-mock::case-01"]["steps"] == 1
    assert tokens["summary"]["by_case"]["ptp-mock::case-02"]["steps"] == 4
    inp, reads, out = logged("case-01")
    assert late["provenance"] == "reported"
    assert (late["usage"]["input"], late["usage"]["cache_read"], late["usage"]["output"]) == (
        inp,
        reads,
        out,
    )
    (warning,) = [w for w in tokens["warnings"] if w.startswith("late answer")]
    assert warning.startswith("late answer: case 'case-01' step 'recall' was answered after")
    assert warning.endswith(
        f"its 1 logged response(s) ({inp:,} input, {out:,} output tokens) are counted in that "
        "step, not in the window of case 'case-02' they fell in"
    )
    assert any(w.startswith("late answer: case 'case-01'") for w in calibration["warnings"])

    # case-02: only its own responses, one per step.
    for name in (s.name for s in scenario.steps):
        (record,) = of("case-02", name)
        assert record["provenance"] == "reported" and record["model"] == SONNET
    assert steps[("case-02", "recall")]["prompt_tokens"] == logged("case-02")[0]

    # case-03: the agent died after logging: the failed step counts the logged usage (which
    # holds the prompt), and no estimate beside it.
    step = steps[("case-03", "recall")]
    assert step["error"] and step["provenance"] == "reported"
    inp, reads, out = logged("case-03")
    (record,) = of("case-03")
    assert (record["usage"]["input"], record["usage"]["output"]) == (inp, out)
    assert (step["prompt_tokens"], step["artifact_tokens"]) == (inp, out)

    # Every logged response counted exactly once: 1 + 4 + 1 responses in the transcript.
    transcript = plugin_pytester.path / "agent" / "session.jsonl"
    logged_ids = {json.loads(line)["message"]["id"] for line in transcript.read_text().splitlines()}
    reported = [r for r in records if r["provenance"] == "reported"]
    assert len(logged_ids) == len(reported) == 6
    assert calibration["unattributed"] is None
    assert len(records) == 6  # and nothing else: no estimate beside a logged answer
    # The labels say what was measured: reported responses only.
    assert calibration["adapter_provenance"] == "reported"
    assert calibration["metrics"]["m18_source"] == "reported"
    result.stdout.fnmatch_lines(["Scenario ptp-mock via cursor (token counts reported)"])


STRAY_CONFTEST = """
import json
from datetime import UTC, datetime
from pathlib import Path


def pytest_sessionstart(session):
    # An agent's request outside every dispatch window (a warm-up, a stray retry).
    line = {
        "sessionId": "stray", "requestId": "req-stray", "type": "assistant",
        "timestamp": datetime.now(UTC).isoformat(),
        "message": {"id": "msg-stray", "model": "claude-sonnet-4-5-20250929",
                    "usage": {"input_tokens": 19745, "output_tokens": 1061}},
    }
    path = Path(__file__).parent / "agent" / "session.jsonl"
    with path.open("a") as handle:
        handle.write(json.dumps(line) + "\\n")
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_usage_outside_every_window_is_counted_as_unattributed(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    # Under xdist the controller sweeps: it knows what the workers counted from their results.
    plugin_pytester.makeconftest(STRAY_CONFTEST)
    result, _, _ = _run(
        plugin_pytester, 2, [], "--adapter-timeout=30", "--cost-report", "-n", workers
    )
    result.assert_outcomes(passed=2)
    assert len([r for r in _outputs(plugin_pytester)[2] if r["provenance"] == "reported"]) == 9
    calibration, tokens, records = _outputs(plugin_pytester)
    (stray,) = [r for r in records if r["test_id"] == "(unattributed)"]
    assert (stray["case_id"], stray["step"]) == (None, None)
    assert (stray["usage"]["input"], stray["usage"]["output"]) == (19_745, 1_061)
    # 19,745 x $3 + 1,061 x $15 per MTok = 59,235 + 15,915 micro-USD.
    when = datetime.fromisoformat(stray["timestamp"])
    assert stray["cost_micro_usd"] == 75_150 == _oracle(SONNET, 19_745, 0, 1_061, when)
    assert tokens["summary"]["by_test"]["(unattributed)"]["usage"]["input"] == 19_745
    assert calibration["unattributed"]["records"] == 1
    assert calibration["unattributed"]["cost_micro_usd"] == 75_150
    assert "msg-stray" not in json.dumps(calibration["cases"])  # in no case, no step
    expected = (
        "1 transcript response(s) logged during the run fell outside every dispatch window "
        "(19,745 input, 1,061 output tokens): counted as unattributed (test '(unattributed)', "
        "no case or step)"
    )
    assert expected in tokens["warnings"] and expected in calibration["warnings"]
    result.stdout.fnmatch_lines(
        [
            "Unattributed:    1 logged response(s) outside every dispatch window: 19,745 "
            "input, 1,061 output tokens ($0.0752); in token-report.json as test "
            "'(unattributed)'",
        ]
    )
