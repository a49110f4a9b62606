"""Recorded-response clients for the example suite.

`RecordedOpenAI` and `RecordedAnthropic` are test doubles: they stand in for the remote OpenAI and
Anthropic APIs, which cannot be reached here, and answer every call with a real SDK object
(`ChatCompletion`, `Response`, `Message`) built from the JSON bodies in `recorded/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

RECORDED = Path(__file__).parent / "recorded"


def _load(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


class RecordedOpenAI:
    """Stand-in for `openai.OpenAI`: replays recorded Chat Completions and Responses bodies."""

    def __init__(self) -> None:
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._chat))
        self.responses = SimpleNamespace(create=self._responses)

    def _chat(self, **request: Any) -> ChatCompletion:
        return ChatCompletion.model_validate(_load("openai_chat_summarise.json"))

    def _responses(self, **request: Any) -> Response:
        return Response.model_validate(_load("openai_responses_plan.json"))


class RecordedAnthropic:
    """Stand-in for `anthropic.Anthropic`: replays a recorded Messages body (a cache read)."""

    def __init__(self) -> None:
        self.messages = SimpleNamespace(create=self._create)

    def _create(self, **request: Any) -> Message:
        return Message.model_validate(_load("anthropic_triage.json"))


@pytest.fixture
def openai_client() -> RecordedOpenAI:
    """An OpenAI client double answering from recorded responses."""
    return RecordedOpenAI()


@pytest.fixture
def anthropic_client() -> RecordedAnthropic:
    """An Anthropic client double answering from a recorded response."""
    return RecordedAnthropic()
