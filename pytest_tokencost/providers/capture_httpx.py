"""Capture through classic `httpx`: the transport of the Groq and Cohere SDKs and of older
releases of the `openai`, `anthropic`, `mistralai` and `huggingface_hub` packages (their current
releases send through httpx2, which `capture.Capture` wraps).

Classic httpx has the public API that `capture.Capture` wraps in httpx2 (`Client.send`,
`AsyncClient.send`, `SyncByteStream`, `AsyncByteStream`, `Response`), so the same capture
(the same endpoint rule, stream tee, partial records and warnings) runs over it unchanged:
OpenAI-compatible endpoints (Groq, Mistral, Hugging Face) and Cohere's ``/v2/chat`` and
``/v1/chat`` are read.
httpx is imported only when capture is installed, and only if it is there.
"""

from __future__ import annotations

from .capture import Capture

__all__ = ["HttpxCapture"]


class HttpxCapture(Capture):
    """`Capture` over classic `httpx.Client.send` / `httpx.AsyncClient.send`."""

    transport = "httpx"
