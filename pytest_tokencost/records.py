"""The data model: token usage, one record per LLM call or step, and where its numbers came from.

`Usage` follows the OpenTelemetry GenAI convention (the one `genai-prices` uses): `input` counts
*all* input tokens and `cache_read` / `cache_write` are parts of it; `output` counts *all* output
tokens and `reasoning` is a part of it. Optional parts are `None` when the source did not say,
which is different from a reported zero.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    computed_field,
    model_validator,
)

__all__ = ["PriceSource", "Provenance", "ScopeRun", "TokenRecord", "Usage"]


class Provenance(StrEnum):
    """Where a record's token counts came from."""

    REPORTED = "reported"
    """The provider's own usage figures."""
    COUNTED = "counted"
    """Counted locally with the model's exact tokenizer."""
    ESTIMATED = "estimated"
    """Estimated (bytes / 4 heuristic, or a tokenizer that is not the model's own)."""
    CALIBRATED = "calibrated"
    """An estimate scaled by a measured stub-vs-wet ratio (see `tokencost ratio`)."""


class PriceSource(StrEnum):
    """How a record's cost was obtained."""

    GENAI_PRICES = "genai-prices"
    OVERRIDE = "override"
    DEFAULT_RATE = "default-rate"
    NOT_RECORDED = "not-recorded"


def _add_optional(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


#: The largest count one record may hold (10^15 tokens, about a billion dollars of input at
#: today's prices): anything above is a bug upstream, and would not price or store exactly.
MAX_COUNT = 10**15
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


class Usage(BaseModel):
    """Token counts of one call or an aggregate, normalised to the OTel convention.

    Invariants (checked on construction): every count is a non-negative integer,
    ``cache_read + cache_write <= input``, ``cache_write_1h <= cache_write`` and
    ``reasoning <= output``. `web_searches` counts requests, not tokens: it is not in `total`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    input: Count = 0
    output: Count = 0
    cache_read: Count | None = None
    cache_write: Count | None = None
    reasoning: Count | None = None
    cache_write_1h: Count | None = Field(
        default=None,
        description="The part of cache_write kept for one hour (Anthropic's "
        "cache_creation.ephemeral_1h_input_tokens), priced higher than 5-minute writes.",
    )
    web_searches: Count | None = Field(
        default=None,
        description="Server-side web searches the provider ran and bills per search (Anthropic's "
        "server_tool_use.web_search_requests, OpenAI Responses web_search_call items).",
    )

    @model_validator(mode="after")
    def _check_parts(self) -> Self:
        if self.cache_write_1h is not None and self.cache_write_1h > (self.cache_write or 0):
            raise ValueError(
                f"cache_write_1h ({self.cache_write_1h}) exceeds cache_write ({self.cache_write}); "
                "cache_write must count all cache writes, 1-hour ones included"
            )
        cached = (self.cache_read or 0) + (self.cache_write or 0)
        if cached > self.input:
            raise ValueError(
                f"cache_read ({self.cache_read}) + cache_write ({self.cache_write}) exceed input "
                f"({self.input}); input must count all input tokens, cached ones included "
                "(Anthropic's input_tokens excludes them: add them back)"
            )
        if (self.reasoning or 0) > self.output:
            raise ValueError(
                f"reasoning ({self.reasoning}) exceeds output ({self.output}); output must count "
                "all output tokens, reasoning included (Gemini reports thoughts beside candidates: "
                "add them)"
            )
        return self

    @property
    def total(self) -> int:
        """All tokens: input plus output (cache and reasoning are already inside them)."""
        return self.input + self.output

    def __add__(self, other: Usage) -> Usage:
        """Sum two usages; an optional part stays `None` only when neither side knew it."""
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage.model_construct(
            input=self.input + other.input,
            output=self.output + other.output,
            cache_read=_add_optional(self.cache_read, other.cache_read),
            cache_write=_add_optional(self.cache_write, other.cache_write),
            reasoning=_add_optional(self.reasoning, other.reasoning),
            cache_write_1h=_add_optional(self.cache_write_1h, other.cache_write_1h),
            web_searches=_add_optional(self.web_searches, other.web_searches),
        )


class TokenRecord(BaseModel):
    """One measured LLM call or pipeline step, attributed to its test, case and step.

    `prompt_tokens` / `artifact_tokens` are the old contract's names for `usage.input` /
    `usage.output`. Costs are integer micro-USD; `None` means "not recorded" (no price known).
    """

    # "ignore" so that a dumped record (which carries the computed fields) validates back.
    model_config = ConfigDict(frozen=True, extra="ignore")

    seq: NonNegativeInt = Field(description="Order of the record within its test's tracker.")
    run_id: str | None = Field(default=None, description="The run that made the record.")
    test_id: str | None = None
    attempt: PositiveInt = Field(
        default=1, description="Which run of the test made it (reruns count from 1)."
    )
    scenario: str | None = Field(
        default=None, description="The calibration scenario of `case_id`, for harness records."
    )
    case_id: str | None = None
    step: str | None = None
    provider: str | None = None
    model: str | None = None
    usage: Usage
    provenance: Provenance
    prompt_bytes: NonNegativeInt | None = None
    artifact_bytes: NonNegativeInt | None = None
    timestamp: datetime
    wall_ms: float | None = Field(default=None, ge=0)
    cost_micro_usd: int | None = None
    input_cost_micro_usd: int | None = None
    output_cost_micro_usd: int | None = None
    price_source: PriceSource = PriceSource.NOT_RECORDED
    partial: bool = Field(
        default=False, description="A response cut short before its usage: counts estimated."
    )
    reported_total_tokens: int | None = Field(
        default=None, description="The source's own total_tokens, kept to cross-check the sum."
    )
    reported_cost_micro_usd: int | None = Field(
        default=None, description="The cost the source itself reported (OpenRouter's usage.cost)."
    )
    priced_as: str | None = Field(
        default=None, description="The price entry used: a genai-prices model id, an override key."
    )
    response_id: str | None = Field(
        default=None,
        description="The provider's id of the response (OpenAI/OpenRouter `id`, Anthropic "
        "message `id`, Gemini `responseId`): a response seen twice counts once.",
    )
    request_id: str | None = Field(
        default=None, description="The provider's request id header, when the call was captured."
    )
    interrupted: bool = Field(
        default=False,
        description="Made by a test that was still running when the run was interrupted.",
    )
    late: bool = Field(
        default=False,
        description="The late answer of a calibration step that had timed out: counted in that "
        "step, recorded while a later case ran.",
    )
    replayed: bool = Field(
        default=False,
        description="A response replayed from a recording (a vcrpy cassette, a mocked transport), "
        "not read from the network: its tokens are counted and its cost is recorded cost, not "
        "money spent in this run.",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def prompt_tokens(self) -> int:
        """Input tokens of this record (the old contract's name)."""
        return self.usage.input

    @computed_field  # type: ignore[prop-decorator]
    @property
    def artifact_tokens(self) -> int:
        """Output tokens of this record (the old contract's name)."""
        return self.usage.output


class ScopeRun(BaseModel):
    """One execution of a scope: a closed `case()` or `step()`, or a record outside any step.

    Step runs give the step counts and step wall clock; case runs give each case's wall clock.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["case", "step"]
    test_id: str | None = None
    scenario: str | None = None
    case_id: str | None = None
    step: str | None = None
    wall_ms: float | None = Field(default=None, ge=0)
