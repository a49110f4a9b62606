"""Calibration scenarios: steps (prompt templates) and cases (inputs and ground truth).

A scenario is a folder holding `scenario.toml` (or `.json`) and its cases, either inline
(`[[cases]]`) or one file each under `cases/`. Everything is validated on load, with errors
that name the file, the case and the field; ids are restricted so that they can name files
without ever leaving the output folder.
"""

from __future__ import annotations

import json
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pytest_tokencost.errors import TokenCostError

__all__ = [
    "SCENARIO_FILES",
    "Case",
    "Scenario",
    "ScenarioError",
    "Step",
    "load_scenario",
    "parse_fields",
]

SCENARIO_FILES = ("scenario.toml", "scenario.json")
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Step names become template names ($<step>_artifact) and file names, so: identifier-like.
_STEP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_FIELD_LINE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
_SEPARATOR = "---"


class ScenarioError(TokenCostError):
    """A scenario file is missing, unreadable or invalid."""


def parse_fields(artifact: str) -> dict[str, str]:
    """The ``field: value`` header lines of an artifact (up to its ``---`` line).

    Field names are lower-cased: agents write ``Category:`` as often as ``category:``.
    """
    return dict(_header_fields(artifact))


@lru_cache(maxsize=1024)  # ground truths are parsed once per case and step, not per run
def _header_fields(artifact: str) -> tuple[tuple[str, str], ...]:
    fields: dict[str, str] = {}
    for line in artifact.splitlines():
        if line.strip() == _SEPARATOR:
            break
        match = _FIELD_LINE.match(line)
        if match and match.group(1).lower() not in fields:
            fields[match.group(1).lower()] = match.group(2)
    return tuple(fields.items())


def _check_case_id(value: str) -> str:
    if not _CASE_ID.match(value) or value in {".", ".."} or ".." in value:
        raise ValueError(
            f"{value!r} is not a safe id: use 1-64 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit, and no '..'"
        )
    return value


class Step(BaseModel):
    """One stage of the pipeline: a prompt template and the artifact fields it is scored on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    prompt: str = Field(min_length=1)
    scored_fields: list[str] = Field(default_factory=list)
    model: str | None = Field(default=None, description="Model a wet adapter should use here.")
    budget: dict[str, float] = Field(
        default_factory=dict,
        description="Budget of this step in every case: max_tokens, max_input, max_output, "
        "max_usd (dollars).",
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not _STEP_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid step name: use 1-32 lowercase letters, digits or "
                "'_', starting with a letter"
            )
        return value

    @field_validator("scored_fields")
    @classmethod
    def _lowercase_fields(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not re.match(r"^[a-z_][a-z0-9_-]*$", name)]
        if bad:
            raise ValueError(f"scored field names must be lowercase identifiers, got {bad}")
        return value


class Case(BaseModel):
    """One input to the pipeline, with the ground-truth artifact of every step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str = ""
    inputs: dict[str, str] = Field(default_factory=dict)
    truth: dict[str, str] = Field(description="Ground-truth artifact per step name.")
    budget: dict[str, float] = Field(
        default_factory=dict, description="Budget of this case: max_tokens, ..., max_usd."
    )

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        return _check_case_id(value)


class Scenario(BaseModel):
    """A calibration scenario: shared inputs, the steps in order, and the cases."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str = ""
    description: str = ""
    inputs: dict[str, str] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)
    cases: list[Case] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        return _check_case_id(value)

    def case(self, case_id: str) -> Case:
        """The case with this id."""
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(f"scenario {self.id!r} has no case {case_id!r}")

    def prompt(self, case: Case, step: Step, artifacts: dict[str, str]) -> str:
        """The prompt of `step` for `case`, given the artifacts of the earlier steps."""
        values = {**self.inputs, **case.inputs, "case_id": case.id, "title": case.title}
        values.update({f"{name}_artifact": text for name, text in artifacts.items()})
        return Template(step.prompt).substitute(values)


def _read(path: Path) -> dict[str, Any]:
    try:
        # "utf-8-sig": editors on Windows start files with a byte order mark; it is not content
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ScenarioError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a table/object at the top level")
    return data


def _describe(exc: ValidationError, path: Path, raw: Any) -> str:
    """One line per problem; a missing field is "missing field 'x'", with its case or step."""
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        if error["type"] == "missing":
            parent, name = error["loc"][:-1], loc[-1] if loc else "?"
            where = ".".join(str(part) for part in parent)
            owner = _owner(raw, parent)
            problem = f"missing field {name!r}" + (f" ({owner})" if owner else "")
            problems.append(f"  {where}: {problem}" if where else f"  {problem}")
        else:
            problems.append(f"  {'.'.join(loc) or '(top level)'}: {error['msg']}")
    return f"{path}: invalid scenario data:\n" + "\n".join(problems)


def _owner(raw: Any, loc: tuple[int | str, ...]) -> str:
    """ "case 'case-01'" or "step 'triage'" for the object at `loc` in the raw data, if named."""
    node = raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return ""
    if not isinstance(node, dict):
        return ""
    if loc and loc[0] == "steps" and isinstance(node.get("name"), str):
        return f"step {node['name']!r}"
    if (not loc or loc[0] == "cases") and isinstance(node.get("id"), str):
        return f"case {node['id']!r}"
    return ""


def _validate(scenario: Scenario, sources: dict[str, Path], scenario_file: Path) -> None:
    from pytest_tokencost.budget import limits_from_kwargs

    def check_budget(budget: dict[str, float], where: str) -> None:
        try:
            limits_from_kwargs(budget, f"{where}: budget")
        except ValueError as exc:
            raise ScenarioError(str(exc)) from None

    seen: set[str] = set()
    for step in scenario.steps:
        check_budget(step.budget, f"{scenario_file}: step {step.name!r}")
        if step.name in seen:
            raise ScenarioError(f"{scenario_file}: step {step.name!r} appears twice")
        seen.add(step.name)
    case_ids: set[str] = set()
    for case in scenario.cases:
        where = f"{sources[case.id]}: case {case.id!r}"
        check_budget(case.budget, where)
        if case.id in case_ids:
            raise ScenarioError(f"{where}: the id is used by another case")
        case_ids.add(case.id)
        known = {*scenario.inputs, *case.inputs, "case_id", "title"}
        for step in scenario.steps:
            for placeholder in _placeholders(step.prompt, scenario_file, step.name):
                if placeholder not in known:
                    raise ScenarioError(
                        f"{where}: step {step.name!r}: prompt uses ${placeholder}, which is "
                        "neither an input of the case or scenario nor an earlier step's "
                        f"artifact; known: {', '.join(sorted(known))}"
                    )
            truth = case.truth.get(step.name)
            if truth is None:
                raise ScenarioError(f"{where}: truth.{step.name} is missing")
            fields = parse_fields(truth)
            for field in step.scored_fields:
                if field not in fields:
                    raise ScenarioError(
                        f"{where}: truth.{step.name} has no header line '{field}: ...' "
                        "(an artifact starts with 'field: value' lines, then '---')"
                    )
            known.add(f"{step.name}_artifact")
        extra = set(case.truth) - seen
        if extra:
            raise ScenarioError(f"{where}: truth for unknown step(s) {', '.join(sorted(extra))}")


def _placeholders(template: str, path: Path, step: str) -> list[str]:
    parsed = Template(template)
    if not parsed.is_valid():
        raise ScenarioError(
            f"{path}: step {step!r}: the prompt has a '$' that is not a placeholder; "
            "write '$$' for a literal dollar sign"
        )
    return parsed.get_identifiers()


def find_scenario_file(path: Path) -> Path:
    """`path` itself if it is a file, else the scenario file inside the folder `path`."""
    if path.is_file():
        return path
    for name in SCENARIO_FILES:
        candidate = path / name
        if candidate.is_file():
            return candidate
    raise ScenarioError(
        f"no scenario at {path}: expected a file or a folder with {' or '.join(SCENARIO_FILES)}"
    )


def load_scenario(path: Path | str) -> Scenario:
    """Load and validate the scenario in `path` (a scenario file or its folder)."""
    scenario_file = find_scenario_file(Path(path))
    data = _read(scenario_file)
    sources: dict[str, Path] = {}
    raw_cases: list[Any] = list(data.pop("cases", []) or [])
    for index, raw in enumerate(raw_cases):
        if isinstance(raw, dict):
            sources.setdefault(str(raw.get("id", f"#{index}")), scenario_file)
    case_dir = scenario_file.parent / "cases"
    if case_dir.is_dir():
        for case_file in sorted([*case_dir.glob("*.toml"), *case_dir.glob("*.json")]):
            raw = _read(case_file)
            try:
                case = Case.model_validate(raw)
            except ValidationError as exc:
                raise ScenarioError(_describe(exc, case_file, raw)) from exc
            sources[case.id] = case_file
            raw_cases.append(case)
    data["cases"] = raw_cases
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, scenario_file, data)) from exc
    _validate(scenario, sources, scenario_file)
    return scenario
