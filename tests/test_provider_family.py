"""The provider family's seams: old module names still import the moved modules, one provider
rule (hosts) answers for capture, the harness's adapter and the uncaptured-host warning, and one
text counter (`counting.count_usage`) makes `Usage` from texts."""

from __future__ import annotations

import importlib

import pytest

from pytest_tokencost.counting import HeuristicCounter, count_usage
from pytest_tokencost.providers.anthropic import input_with_cache
from pytest_tokencost.providers.hosts import (
    llm_provider_for_url,
    provider_for_endpoint,
    provider_for_url,
)
from pytest_tokencost.records import Provenance


@pytest.mark.parametrize(
    "name",
    [
        "capture",
        "capture_all",
        "capture_botocore",
        "capture_httpx",
        "hosts",
        "post_import",
        "replay",
        "transcripts",
        "uncaptured",
    ],
)
def test_old_module_names_are_the_moved_modules(name: str) -> None:
    old = importlib.import_module(f"pytest_tokencost.{name}")
    assert old is importlib.import_module(f"pytest_tokencost.providers.{name}")


def test_llm_hosts_keeps_its_function_on_the_one_rule() -> None:
    from pytest_tokencost.llm_hosts import provider_of_url

    assert provider_of_url is llm_provider_for_url


@pytest.mark.parametrize(
    ("host", "path", "provider", "llm_provider"),
    [
        ("api.groq.com", "/openai/v1/chat/completions", "groq", "groq"),
        ("api.cohere.com", "/v2/chat", "cohere", "cohere"),
        ("bedrock-runtime.us-east-1.amazonaws.com", "/model/x/converse", "aws", "aws"),
        ("generativelanguage.googleapis.com", "/v1beta/models/x", "google", "google"),
        # Google's pattern matches every googleapis.com host: not a model API for warnings.
        ("storage.googleapis.com", "/b/o", "google", None),
        # Hugging Face's own router: no genai-prices pattern (no price), but an LLM host.
        ("router.huggingface.co", "/v1/chat/completions", None, "huggingface"),
        ("127.0.0.1", "/v1/chat/completions", None, None),
    ],
)
def test_one_provider_rule_and_its_narrowing_for_warnings(
    host: str, path: str, provider: str | None, llm_provider: str | None
) -> None:
    assert provider_for_url(host, path) == provider
    assert llm_provider_for_url(host, path) == llm_provider


def test_an_endpoint_url_is_priced_as_its_host_query_left_out() -> None:
    assert provider_for_endpoint("https://openrouter.ai/api/v1/chat/completions") == "openrouter"
    assert provider_for_endpoint("https://api.cerebras.ai/v1/chat/completions?k=1") == "cerebras"
    assert provider_for_endpoint("http://127.0.0.1:8080/v1/chat/completions") is None


def test_input_with_cache_adds_reads_and_writes_to_the_uncached_part() -> None:
    assert input_with_cache(100, 2_000, 300) == 2_400
    assert input_with_cache(100, None, None) == 100


def test_count_usage_counts_prompt_as_input_and_artifact_as_output() -> None:
    # bytes/4 rounded up: "Refund policy?" is 14 bytes -> 4; "Five days." 10 bytes -> 3.
    counted = count_usage("no-such-model", "Refund policy?", "Five days.")
    assert (counted.usage.input, counted.usage.output) == (4, 3)
    assert (counted.prompt_bytes, counted.artifact_bytes) == (14, 10)
    assert counted.provenance is Provenance.ESTIMATED
    only_prompt = count_usage(None, "Refund policy?", None, counter=HeuristicCounter())
    assert (only_prompt.usage.output, only_prompt.artifact_bytes) == (0, None)
    # gpt-4o's own tokenizer (o200k_base): counted, not estimated.
    assert count_usage("gpt-4o", "hello world", None).provenance is Provenance.COUNTED


def test_count_usage_names_its_caller_for_bad_texts() -> None:
    with pytest.raises(TypeError, match=r"^dispatch needs usage=Usage"):
        count_usage(None, None, None, caller="dispatch")
    with pytest.raises(TypeError, match=r"record\(\): artifact must be a str, got bytes"):
        count_usage(None, "x", b"y")  # type: ignore[arg-type]
