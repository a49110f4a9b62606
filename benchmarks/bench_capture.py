"""The cost of turning one captured exchange into its record (`capture.record_for`), against
reading the same body's usage alone (`providers.usage_from_body`).

record_for adds who served the call (the host's genai-prices provider, looked up once per host
and path) and the response id. Measured on a real recorded chat body from ../shared/corpus.

python benchmarks/bench_capture.py
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from _timing import interleaved_per_call

from pytest_tokencost.capture import Exchange, record_for
from pytest_tokencost.hosts import load_provider_data
from pytest_tokencost.providers import usage_from_body

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
N = 5_000


def main() -> None:
    name = CORPUS / "openai" / "pydantic-ai__chat_prompt_cache_e2e.yaml"
    response = yaml.safe_load(name.read_text())["interactions"][0]["response"]
    body = json.dumps(response["parsed_body"]).encode()
    request = b'{"model": "gpt-oss-120b", "messages": []}'
    load_provider_data()  # capture loads it when installed, before the first call

    def exchange(host: str, path: str) -> Exchange:
        return Exchange("POST", host, path, request, {"x-request-id": "req_1"}, body)

    calls = {
        "base": lambda: usage_from_body(body),
        "local": lambda: record_for(exchange("127.0.0.1", "/v1/chat/completions")),
        "openai": lambda: record_for(exchange("api.openai.com", "/v1/chat/completions")),
        "cerebras": lambda: record_for(exchange("api.cerebras.ai", "/v1/chat/completions")),
    }
    best = interleaved_per_call(calls, N // 10)
    base = best["base"]
    print(f"usage_from_body(body):                 {base * 1e6:7.2f} us  (baseline)")
    for key, label in (
        ("local", "127.0.0.1"),
        ("openai", "api.openai.com"),
        ("cerebras", "api.cerebras.ai"),
    ):
        print(
            f"record_for(exchange to {label + '):':17} {best[key] * 1e6:7.2f} us  "
            f"= {best[key] / base:4.2f}x baseline"
        )


if __name__ == "__main__":
    main()
