"""A support-ticket pipeline whose every LLM call is accounted for.

Run it with ``pytest examples --cost-report`` and read the Token & Cost section at the end.
"""

from __future__ import annotations

from typing import Any

from pytest_tokencost import InMemoryTokenTracker

TICKET = (
    "Hi, I upgraded to the Pro plan on the 3rd and was charged $49.00 twice on the same day "
    "(invoice INV-20931). Please refund the second charge and confirm my plan is still active. "
    "Thanks, Dana"
)
SYSTEM = "You are a support assistant. Summarise tickets for the on-call agent in 3 sentences."


def test_summarise_ticket(token_tracker: InMemoryTokenTracker, openai_client: Any) -> None:
    with token_tracker.step("summarise"):
        response = openai_client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": TICKET}],
        )
        usage = token_tracker.observe(response)
    summary = response.choices[0].message.content
    assert "refund" in summary
    assert usage.cache_read == 1536  # OpenAI's prompt_tokens already include the cached part

    # A local re-ranking step: no provider usage, so the texts are counted with gpt-4o's tokenizer.
    candidates = ["refund duplicate charge", "explain proration", "escalate to payments"]
    token_tracker.record(
        step="rerank",
        model="gpt-4o",
        prompt=summary + "\n" + "\n".join(candidates),
        artifact=candidates[0],
    )


def test_triage_with_cached_prompt(
    token_tracker: InMemoryTokenTracker, anthropic_client: Any
) -> None:
    with token_tracker.step("triage"):
        message = anthropic_client.messages.create(
            model="claude-sonnet-4-20250514",
            max_tokens=200,
            messages=[{"role": "user", "content": TICKET}],
        )
        usage = token_tracker.observe(message)
    assert "payments-support" in message.content[0].text
    # Anthropic's input_tokens (312) excludes the 2,048 cached tokens; Usage.input includes them.
    assert usage.input == 312 + 2048


def test_plan_with_reasoning_model(token_tracker: InMemoryTokenTracker, openai_client: Any) -> None:
    with token_tracker.step("plan"):
        response = openai_client.responses.create(model="o3-mini", input=TICKET)
        usage = token_tracker.observe(response)
    assert usage.reasoning == 512 and usage.output == 598


def test_agent_behind_a_file_dispatcher(token_tracker: InMemoryTokenTracker) -> None:
    # An external agent whose model is unknown: estimated tokens, priced at the default rate.
    reply = "Refund issued for INV-20931 (second capture). Plan remains active."
    token_tracker.record(step="act", prompt=TICKET, artifact=reply)
    assert token_tracker.summary().totals.usage.output == (len(reply.encode()) + 3) // 4
