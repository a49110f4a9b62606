"""The published documentation run (docs/token-ratio.md and .json) is what its command writes."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from calibrate.ratio import RatioError, load_ratios

from ..conftest import PTP_MOCK, REPO

TOKENCOST = str(Path(sys.executable).with_name("tokencost"))
DOC = REPO / "docs" / "token-ratio.md"


def test_the_committed_ratio_document_is_what_its_command_writes(tmp_path: Path) -> None:
    first_lines = DOC.read_text(encoding="utf-8").splitlines()[:3]
    (command,) = [line for line in first_lines if line.startswith("Regenerate with `")]
    words = shlex.split(command.removeprefix("Regenerate with `").removesuffix("`."))
    assert words[:3] == ["tokencost", "ratio", "--tokenizers"]
    shutil.copytree(PTP_MOCK, tmp_path / "fixtures" / "ptp-mock")
    done = subprocess.run(
        [TOKENCOST, *words[1:]], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    for name in ("token-ratio.md", "token-ratio.json"):
        written = (tmp_path / "docs" / name).read_text(encoding="utf-8")
        assert written == (REPO / "docs" / name).read_text(encoding="utf-8"), name


def test_the_document_compares_bytes_over_4_with_both_exact_tokenizers() -> None:
    import json

    from pytest_tokencost.counting import count_tokens

    document = json.loads(DOC.with_suffix(".json").read_text(encoding="utf-8"))
    rows = {(row["step"], row["model"]): row for row in document["rows"]}
    assert set(rows) == {
        (step, model)
        for step in ("recall", "triage", "investigate", "report")
        for model in ("gpt-4o", "gpt-4")
    }
    # The report step's answers are the ground truth: recount them by hand.
    from calibrate.scenario import load_scenario

    scenario = load_scenario(PTP_MOCK)
    answers = [case.truth["report"] for case in scenario.cases]
    assert rows[("report", "gpt-4o")]["wet_artifact_tokens"] == sum(
        count_tokens(text, "gpt-4o") for text in answers
    )
    assert rows[("report", "gpt-4")]["wet_artifact_tokens"] == sum(
        count_tokens(text, "gpt-4") for text in answers
    )
    assert rows[("report", "gpt-4")]["stub_artifact_tokens"] == sum(
        (len(text.encode()) + 3) // 4 for text in answers
    )
    assert all(row["samples"] == 12 for row in rows.values())


def test_the_documentation_run_cannot_calibrate_a_stub_run() -> None:
    with pytest.raises(RatioError, match=r"documentation run.*does not calibrate"):
        load_ratios(DOC.with_suffix(".json"))
