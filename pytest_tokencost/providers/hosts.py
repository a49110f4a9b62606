"""Who served a call, from the URL it was sent to: the genai-prices provider of that API.

An OpenAI SDK client pointed at Cerebras, OpenRouter, Groq, Mistral, Together, Azure or AWS
Bedrock sends OpenAI-shaped requests and gets OpenAI-shaped answers; only the host says who
served (and bills) the call. genai-prices describes each provider's API by a URL pattern
(`Provider.api_pattern`) and finds a provider from a URL the way `calc_price(...,
provider_api_url=URL)` does: the first provider, in its data's order, whose pattern matches the
start of the URL. `provider_for_url` asks genai-prices exactly that, so a captured call is
priced as `calc_price` would price it for that URL.

Local and private hosts (a test's replay server on 127.0.0.1) match no provider: the payload's
own shape then says who answered (`providers.usage_from`).

This is the one provider-inference rule for calls: capture prices by it, the calibration
harness's HTTP adapter names its endpoint's provider by it, and the warning about LLM hosts
reached through uncaptured clients (`uncaptured`) asks `llm_provider_for_url`, the same rule
narrowed to model APIs: Google's pattern matches every ``*.googleapis.com`` host (storage,
BigQuery...), so only its two model hosts count there, and Hugging Face's own inference hosts,
for which genai-prices has no pattern (it prices the providers it routes to), are added.

genai-prices' data is a large module whose import reads files (importing pydantic's types reads
the time zone paths, for one): a blocking-I/O guard raises if that happens inside an event loop.
`load_provider_data` imports it ahead, off any loop (capture starts it in a background thread
when it is installed); `provider_data_ready` tells a caller inside a loop whether
`provider_for_url` can answer without that import.
"""

from __future__ import annotations

import ipaddress
import threading
from functools import lru_cache
from urllib.parse import urlsplit

__all__ = [
    "llm_provider_for_url",
    "load_provider_data",
    "provider_data_ready",
    "provider_for_endpoint",
    "provider_for_url",
]

#: Set once genai-prices' provider data has been imported in this process.
_loaded = threading.Event()

#: Hosts that no provider API lives on; answering them needs no genai-prices import.
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "testserver", ""})


def _is_local(host: str) -> bool:
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def load_provider_data() -> None:
    """Import genai-prices' provider data now (about 0.3 s of imports that read files)."""
    from genai_prices import data_snapshot

    data_snapshot.get_snapshot()
    _loaded.set()


def provider_data_ready(host: str) -> bool:
    """Whether `provider_for_url` answers for `host` without importing genai-prices."""
    return _loaded.is_set() or _is_local(host.lower().rstrip("."))


@lru_cache(maxsize=1024)
def provider_for_url(host: str, path: str = "") -> str | None:
    """The genai-prices provider id of the API at ``https://{host}{path}``, or None.

    `path` matters for a few providers (Hugging Face's router serves several upstream providers
    under one host, told apart by the first path segment). Pass the path without its query
    string. Provider APIs are HTTPS, so the URL is matched as HTTPS whatever the transport was
    (a proxy or a test's local server): the pattern describes the API, not the connection.
    """
    host = host.lower().rstrip(".")
    if _is_local(host):
        return None
    # Imported here: genai-prices' data takes ~0.3 s to import, and only a captured call needs it.
    load_provider_data()
    from genai_prices import data_snapshot

    try:
        provider = data_snapshot.get_snapshot().find_provider(None, None, f"https://{host}{path}")
    except LookupError:
        return None
    return str(provider.id)


def provider_for_endpoint(url: str) -> str | None:
    """`provider_for_url` of a whole URL (``https://openrouter.ai/api/v1/chat/completions``),
    its query left out: who serves an endpoint a client is configured with."""
    parts = urlsplit(url)
    return provider_for_url(parts.hostname or "", parts.path)


#: The googleapis.com hosts that serve models; the others are not LLM APIs.
_GOOGLE_MODEL_HOSTS = ("generativelanguage.googleapis.com", "aiplatform.googleapis.com")

#: Inference hosts genai-prices has no pattern for (it prices their routed providers only).
_EXTRA_HOSTS = {
    "router.huggingface.co": "huggingface",
    "api-inference.huggingface.co": "huggingface",
}


def llm_provider_for_url(host: str, path: str = "/") -> str | None:
    """The provider of the *model* API at ``host`` + ``path`` (`provider_for_url`, without
    Google's non-model hosts, with Hugging Face's inference hosts), or None."""
    host = host.lower().rstrip(".")
    if host.endswith(".googleapis.com") and not host.endswith(_GOOGLE_MODEL_HOSTS):
        return None
    path = path if path.startswith("/") else "/" + path
    return provider_for_url(host, path) or _EXTRA_HOSTS.get(host)
