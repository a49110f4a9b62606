"""The calibration harness: scenarios of cases x steps run through adapters, scored against
ground truth, with every token accounted for by the `pytest_tokencost` core.

The public names are imported on first use: this package's pytest plugin is loaded at every
pytest start-up and must not pay for pydantic there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_tokencost.lazy import lazy_exports

if TYPE_CHECKING:
    from .adapters import Adapter, AdapterContext
    from .cli import run_scenario
    from .dispatch import (
        Dispatcher,
        DispatchError,
        DispatchRequest,
        DispatchResult,
        FileDispatcher,
    )
    from .recording import TokenTrackingDispatcher
    from .report import CalibrationReport
    from .runner import CaseResult, RunConfig, StepResult, run_case
    from .scenario import Case, Scenario, Step, load_scenario

__all__ = [
    "Adapter",
    "AdapterContext",
    "CalibrationReport",
    "Case",
    "CaseResult",
    "DispatchError",
    "DispatchRequest",
    "DispatchResult",
    "Dispatcher",
    "FileDispatcher",
    "RunConfig",
    "Scenario",
    "Step",
    "StepResult",
    "TokenTrackingDispatcher",
    "load_scenario",
    "run_case",
    "run_scenario",
]

_HOME = {
    "Adapter": "adapters",
    "AdapterContext": "adapters",
    "run_scenario": "cli",
    "DispatchError": "dispatch",
    "DispatchRequest": "dispatch",
    "DispatchResult": "dispatch",
    "Dispatcher": "dispatch",
    "FileDispatcher": "dispatch",
    "TokenTrackingDispatcher": "recording",
    "CalibrationReport": "report",
    "CaseResult": "runner",
    "RunConfig": "runner",
    "StepResult": "runner",
    "run_case": "runner",
    "Case": "scenario",
    "Scenario": "scenario",
    "Step": "scenario",
    "load_scenario": "scenario",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOME, __all__, globals())
