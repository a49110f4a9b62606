"""The file protocol's manifest: what `<step>.request.json` holds, as a pydantic model.

An agent answering file dispatches reads this manifest; its JSON Schema ships in the package
(`calibrate/schema/request.schema.json`, printed by `python -m calibrate schema`) so that an
agent written in any language can validate what it reads.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PROTOCOL_HINT", "SCHEMA_FILE", "AgentRequest", "request_schema"]

SCHEMA_FILE = Path(__file__).with_name("schema") / "request.schema.json"
PROTOCOL_HINT = "write artifact_file, then create done_file"


class AgentRequest(BaseModel):
    """One step of one case, handed to an external agent (`<case>/<step>.request.json`)."""

    # Every key is always written, so the schema lists every key as required.
    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_serialization_defaults_required=True
    )

    schema_version: Literal[1] = Field(
        default=1, description="Version of this manifest's layout; changes only incompatibly."
    )
    id: str = Field(
        description="Unique id of this dispatch: a re-run of the same step gets a new one."
    )
    scenario: str = Field(description="Scenario id.")
    case: str = Field(description="Case id (also the name of the folder holding these files).")
    step: str = Field(description="Step name (also the first part of these files' names).")
    model: str | None = Field(
        description="Model the scenario asks for at this step, or null when it names none."
    )
    prompt_file: str = Field(description="Absolute path of the prompt (UTF-8 Markdown) to read.")
    artifact_file: str = Field(description="Absolute path the agent writes its answer to.")
    done_file: str = Field(
        description="Absolute path the agent creates (empty) after the artifact is complete."
    )
    cancelled_file: str = Field(
        description="Absolute path the harness creates when it stops waiting (the deadline "
        "passed): the agent may stop working on this step."
    )
    created: datetime = Field(description="When the harness wrote this manifest (UTC).")
    deadline: datetime = Field(
        description="When the harness stops waiting for the done marker (UTC)."
    )
    timeout_s: float = Field(gt=0, description="Seconds between `created` and `deadline`.")
    protocol: str = Field(default=PROTOCOL_HINT, description="The protocol, in one line.")


def request_schema() -> dict[str, object]:
    """The JSON Schema of `request.json`, as generated from `AgentRequest`."""
    schema = AgentRequest.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pytest-tokencost calibrate request.json"
    return schema
