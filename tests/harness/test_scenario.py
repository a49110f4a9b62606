"""Scenarios: the bundled ptp-mock, and errors that name the file, the case and the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from calibrate.runner import score_artifact
from calibrate.scenario import ScenarioError, load_scenario, parse_fields

from ..conftest import REPO

PTP_MOCK = REPO / "fixtures" / "ptp-mock"


@pytest.fixture
def scenario_copy(tmp_path: Path) -> Path:
    """A writable copy of ptp-mock to break in different ways."""
    target = tmp_path / "ptp-mock"
    shutil.copytree(PTP_MOCK, target)
    return target


def test_ptp_mock_is_realistic() -> None:
    scenario = load_scenario(PTP_MOCK)
    assert scenario.id == "ptp-mock"
    assert [step.name for step in scenario.steps] == ["recall", "triage", "investigate", "report"]
    assert len(scenario.cases) >= 12
    for case in scenario.cases:
        artifacts: dict[str, str] = {}
        for step in scenario.steps:
            prompt = scenario.prompt(case, step, artifacts)
            assert len(prompt) > 800, (case.id, step.name)
            artifacts[step.name] = case.truth[step.name]
        assert len(case.inputs["failure_log"]) > 400
    # Variety: the ground truth spans several categories, verdicts and incidents.
    fields = [parse_fields(case.truth["triage"])["category"] for case in scenario.cases]
    verdicts = {parse_fields(case.truth["report"])["verdict"] for case in scenario.cases}
    assert len(set(fields)) >= 7 and len(verdicts) == 5


def test_scoring_is_per_field_and_ignores_case_and_spacing() -> None:
    truth = "category: regression\nseverity: high\nowner: team-api\n---\nnotes"
    matched, misses = score_artifact(
        "Category: Regression\nseverity:  HIGH \nowner: team-web\n---\n",
        truth,
        ["category", "severity", "owner"],
    )
    assert matched == 2
    assert [(m.field, m.expected, m.got) for m in misses] == [("owner", "team-api", "team-web")]
    assert score_artifact("no header at all", truth, ["category"])[0] == 0


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", "..", "", "x" * 65, "-lead", "ca se"])
def test_case_ids_cannot_leave_the_output_folder(scenario_copy: Path, bad_id: str) -> None:
    case_file = scenario_copy / "cases" / "case-01.toml"
    text = case_file.read_text().replace('id = "case-01"', f"id = {json.dumps(bad_id)}")
    case_file.write_text(text)
    with pytest.raises(ScenarioError, match=r"case-01\.toml: invalid scenario data:\n  id: "):
        load_scenario(scenario_copy)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace("recall = '''", "recollect = '''"),
            r"case-01\.toml: case 'case-01': truth\.recall is missing",
        ),
        (
            lambda t: t.replace("owner: team-payments\n", ""),
            r"case-01\.toml: case 'case-01': truth\.triage has no header line 'owner: \.\.\.'",
        ),
        (
            lambda t: t.replace("[inputs]\n", "[inputs]\nextra = 3\n"),
            r"case-01\.toml: invalid scenario data:\n  inputs\.extra: Input should be a valid str",
        ),
        (
            lambda t: t.replace('title = "', "title = ", 1),
            r"case-01\.toml: not valid TOML: .*line 2",
        ),
    ],
)
def test_bad_case_files_are_named(scenario_copy: Path, edit: object, message: str) -> None:
    case_file = scenario_copy / "cases" / "case-01.toml"
    case_file.write_text(edit(case_file.read_text()))  # type: ignore[operator]
    with pytest.raises(ScenarioError, match=message):
        load_scenario(scenario_copy)


def test_unknown_placeholders_and_bad_step_names(scenario_copy: Path) -> None:
    scenario_file = scenario_copy / "scenario.toml"
    original = scenario_file.read_text()
    scenario_file.write_text(original.replace("$recent_commits\n\nTest history", "$diff\n\nTest"))
    with pytest.raises(ScenarioError, match=r"step 'recall': prompt uses \$diff, which is"):
        load_scenario(scenario_copy)
    scenario_file.write_text(original.replace('name = "triage"', 'name = "Triage Step"'))
    with pytest.raises(ScenarioError, match=r"steps\.1\.name: Value error, 'Triage Step' is not"):
        load_scenario(scenario_copy)
    scenario_file.write_text(original.replace('name = "triage"', 'name = "recall"'))
    with pytest.raises(ScenarioError, match="step 'recall' appears twice"):
        load_scenario(scenario_copy)


def test_duplicate_case_ids(scenario_copy: Path) -> None:
    shutil.copy(scenario_copy / "cases" / "case-01.toml", scenario_copy / "cases" / "dup.toml")
    with pytest.raises(ScenarioError, match="case 'case-01': the id is used by another case"):
        load_scenario(scenario_copy)


def test_json_scenarios_with_inline_cases(tmp_path: Path) -> None:
    scenario = {
        "id": "tiny",
        "steps": [{"name": "answer", "prompt": "Q: $question", "scored_fields": ["answer"]}],
        "cases": [
            {
                "id": "q1",
                "inputs": {"question": "2+2?"},
                "truth": {"answer": "answer: 4\n---\nbecause"},
            }
        ],
    }
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    loaded = load_scenario(tmp_path)
    assert loaded.prompt(loaded.cases[0], loaded.steps[0], {}) == "Q: 2+2?"
    (tmp_path / "scenario.json").write_text('{"id": "tiny",\n "steps": [}')
    with pytest.raises(ScenarioError, match=r"scenario\.json: not valid JSON: .* at line 2"):
        load_scenario(tmp_path)


def test_missing_scenario_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"no scenario at .*: expected a file or a folder"):
        load_scenario(tmp_path / "nowhere")


def test_a_byte_order_mark_is_not_content(scenario_copy: Path, tmp_path: Path) -> None:
    # Windows editors (Notepad, older Visual Studio) save UTF-8 with a BOM.
    for path in (scenario_copy / "scenario.toml", scenario_copy / "cases" / "case-01.toml"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    scenario = load_scenario(scenario_copy)
    assert scenario.id == "ptp-mock" and scenario.cases[0].id == "case-01"
    assert scenario.cases[0].title.startswith("Payments integration test")
    inline = tmp_path / "json"
    inline.mkdir()
    document = {
        "id": "tiny",
        "steps": [{"name": "answer", "prompt": "Q: $question", "scored_fields": ["answer"]}],
        "cases": [{"id": "q1", "inputs": {"question": "2+2?"}, "truth": {"answer": "answer: 4"}}],
    }
    (inline / "scenario.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(document).encode())
    assert load_scenario(inline).id == "tiny"


def test_a_file_in_another_encoding_is_named(scenario_copy: Path) -> None:
    case_file = scenario_copy / "cases" / "case-01.toml"
    case_file.write_bytes(b"\xff\xfe" + case_file.read_text().encode("utf-16-le"))
    with pytest.raises(
        ScenarioError, match=r"case-01\.toml: not UTF-8 text \(byte 0\); save it as UTF-8$"
    ):
        load_scenario(scenario_copy)


@pytest.mark.parametrize(
    ("file", "edit", "message"),
    [
        (
            "cases/case-01.toml",
            lambda t: t.replace('id = "case-01"\n', ""),
            r"case-01\.toml: invalid scenario data:\n  missing field 'id'$",
        ),
        (
            "cases/case-01.toml",
            lambda t: t[: t.index("[truth]")],
            r"case-01\.toml: invalid scenario data:\n  missing field 'truth' \(case 'case-01'\)$",
        ),
        (
            "scenario.toml",
            lambda t: t.replace('id = "ptp-mock"\n', "", 1),
            r"scenario\.toml: invalid scenario data:\n  missing field 'id'$",
        ),
        (
            "scenario.toml",
            lambda t: t.replace('name = "triage"\nscored_fields', "scored_fields", 1),
            r"scenario\.toml: invalid scenario data:\n  steps\.1: missing field 'name'$",
        ),
    ],
)
def test_a_missing_field_is_named(
    scenario_copy: Path, file: str, edit: object, message: str
) -> None:
    path = scenario_copy / file
    path.write_text(edit(path.read_text()))  # type: ignore[operator]
    with pytest.raises(ScenarioError, match=message):
        load_scenario(scenario_copy)


def test_missing_fields_of_inline_cases_and_steps_name_them(tmp_path: Path) -> None:
    document = {
        "id": "tiny",
        "steps": [{"name": "answer"}],
        "cases": [{"id": "q1", "inputs": {"question": "2+2?"}}],
    }
    (tmp_path / "scenario.json").write_text(json.dumps(document))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'scenario.json'}: invalid scenario data:\n"
        "  steps.0: missing field 'prompt' (step 'answer')\n"
        "  cases.0: missing field 'truth' (case 'q1')"
    )
