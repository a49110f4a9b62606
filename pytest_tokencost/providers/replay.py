"""Telling a response that came over the network from one replayed from a recording.

A suite that replays recorded HTTP (vcrpy / pytest-recording cassettes, a mocked transport such
as `httpx2.MockTransport`, an in-process WSGI/ASGI app standing in for a provider) sees real
provider usage, but spends no money on it. Capture records such a response as *replayed*: its
tokens are counted and priced as "recorded cost", apart from the money the run spent.

The test is a fact the response carries, not a guess from the URL or the installed packages:
httpcore (under both `httpx` and `httpx2`) puts the connection it read the response from in the
response's `network_stream` extension, and the protocol it spoke in `http_version`. A response
built in memory has neither: vcrpy's replay builds `Response(status, headers, stream=ByteStream,
extensions={"reason_phrase": ...})`, a mock transport returns the response its handler made,
and the WSGI/ASGI transports set no extensions. A response vcrpy *records* (the first run of a
cassette) keeps the real response's extensions, so it counts as spent, as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["NETWORK_EXTENSIONS", "is_replayed", "is_replayed_botocore"]

#: The response extensions only a response read from a connection carries (httpcore sets both).
NETWORK_EXTENSIONS = ("network_stream", "http_version")


def is_replayed(response: Any) -> bool:
    """Whether `response` (an `httpx2` or `httpx` response) was not read from the network.

    True when its extensions hold none of `NETWORK_EXTENSIONS`: a cassette replay, a mocked or
    in-process transport. An object without an `extensions` mapping (not an httpx response)
    says nothing, and is taken as live: never call money unspent without evidence.
    """
    extensions = getattr(response, "extensions", None)
    if not isinstance(extensions, Mapping):
        return False
    return not any(name in extensions for name in NETWORK_EXTENSIONS)


def is_replayed_botocore(http_response: Any) -> bool:
    """Whether botocore's `http_response` (an ``AWSResponse``) was played back by vcrpy.

    True only when its raw response is one of the responses the current cassette holds (see
    the module's docstring); a real connection, a response vcrpy is recording, or anything this
    cannot inspect is taken as live: never call money unspent without evidence.
    """
    try:
        raw = getattr(http_response, "raw", None)
        recorded = getattr(raw, "recorded_response", None)
        if recorded is None:  # not vcrpy's stub response: read from a connection
            return False
        cassette = getattr(
            getattr(getattr(raw, "_pool", None), "ConnectionCls", None), "cassette", None
        )
        responses = getattr(cassette, "responses", None)
        return isinstance(responses, list) and any(item is recorded for item in responses)
    except Exception:  # a vcrpy whose internals differ: no evidence of a replay
        return False
