"""Which LLM provider serves a URL, by the API URL patterns of the bundled genai-prices data.

genai-prices keeps, for each provider, the pattern of its API URL (``https://api\\.groq\\.com``,
``https://bedrock-runtime\\.[a-z0-9-]+\\.amazonaws\\.com(/|$)``...): the one list of LLM hosts
this package knows, the one its prices come from. Google's pattern matches every
``*.googleapis.com`` host (storage, BigQuery...), so only its two model hosts count here.
Hugging Face's inference hosts have patterns only for the providers it routes to by path; its
own routed and serverless endpoints are added (no prices: they only name the host).
"""

from __future__ import annotations

import functools
import re

__all__ = ["provider_of_url"]

#: The googleapis.com hosts that serve models; the others are not LLM APIs.
_GOOGLE_MODEL_HOSTS = ("generativelanguage.googleapis.com", "aiplatform.googleapis.com")

#: Inference hosts genai-prices has no pattern for (it prices their routed providers only).
_EXTRA_HOSTS = {
    "router.huggingface.co": "huggingface",
    "api-inference.huggingface.co": "huggingface",
}


@functools.cache
def _compiled() -> tuple[tuple[str, re.Pattern[str]], ...]:
    from genai_prices.data_snapshot import get_snapshot

    return tuple(
        (provider.id, re.compile(provider.api_pattern))
        for provider in get_snapshot().providers
        if provider.api_pattern
    )


def provider_of_url(host: str, path: str = "/") -> str | None:
    """The genai-prices id of the provider serving ``host`` + ``path``, or None.

    The scheme is not asked for (a test may reach a provider's name over plain HTTP through a
    proxy); the match is made on ``https://host/path`` as the patterns are written.
    """
    host = host.lower().rstrip(".")
    if host.endswith(".googleapis.com") and not host.endswith(_GOOGLE_MODEL_HOSTS):
        return None
    url = f"https://{host}{path if path.startswith('/') else '/' + path}"
    for provider, pattern in _compiled():
        if pattern.match(url):
            return provider
    return _EXTRA_HOSTS.get(host)
