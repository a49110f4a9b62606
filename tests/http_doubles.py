"""Pieces shared by the local HTTP servers that stand in for provider APIs in the tests."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


def send_chunked(handler: BaseHTTPRequestHandler, body: bytes, size: int) -> None:
    """End the headers and write `body` as HTTP/1.1 chunks of `size` bytes, each flushed, so
    that a streamed answer arrives split (events cut in half) as it does from a real server."""
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    for start in range(0, len(body), size):
        part = body[start : start + size]
        handler.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        handler.wfile.flush()
    handler.wfile.write(b"0\r\n\r\n")
