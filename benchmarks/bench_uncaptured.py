"""The cost `--cost-capture` adds to a call that is not to an LLM host through each stack
`uncaptured.UncapturedHosts` wraps (`requests` over urllib3's `HTTPConnectionPool.urlopen`,
`urllib.request.urlopen`, and `aiohttp`, when installed), against the same call unwrapped, all
to a local 127.0.0.1 server in the same run; and the wrapper's own cost per call (the note of a
non-LLM host and of an LLM host already warned about).

python benchmarks/bench_uncaptured.py
"""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from _timing import interleaved_per_call

from pytest_tokencost.tracker import InMemoryTokenTracker
from pytest_tokencost.uncaptured import UncapturedHosts


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _overhead(
    call: Callable[[], object], wrap: Callable[[], object], unwrap: Callable[[], object]
) -> tuple[float, float]:
    """(unwrapped, wrapped) per-call seconds: plain, wrapped, plain again (the best plain)."""
    plain = interleaved_per_call({"plain": call}, 200, rounds=5)["plain"]
    wrap()
    wrapped = interleaved_per_call({"wrapped": call}, 200, rounds=5)["wrapped"]
    unwrap()
    return min(plain, interleaved_per_call({"plain": call}, 200, rounds=5)["plain"]), wrapped


def _aiohttp_call(url: str) -> tuple[Callable[[], object], Callable[[], None]] | None:
    """A blocking call of one aiohttp GET on a loop kept for the run, and its closing."""
    try:
        import aiohttp
    except ImportError:
        return None
    loop = asyncio.new_event_loop()
    session = loop.run_until_complete(_session(aiohttp))

    async def get() -> None:
        async with session.get(url) as response:
            await response.read()

    def close() -> None:
        loop.run_until_complete(session.close())
        loop.close()

    return (lambda: loop.run_until_complete(get())), close


async def _session(aiohttp: Any) -> Any:
    return aiohttp.ClientSession()


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    session = requests.Session()
    tracker = InMemoryTokenTracker(test_id="bench::uncaptured")
    hosts = UncapturedHosts(lambda: tracker, lambda client, provider: False)
    rows = [
        (
            "requests.get",
            _overhead(lambda: session.get(url).close(), hosts.install, hosts.uninstall),
        ),
        (
            "urllib.request.urlopen",
            _overhead(
                lambda: urllib.request.urlopen(url).close(), hosts.install_urllib, hosts.uninstall
            ),
        ),
    ]
    aiohttp_call = _aiohttp_call(url)
    if aiohttp_call is not None:
        call, close = aiohttp_call
        rows.append(("aiohttp get", _overhead(call, hosts.install_aiohttp, hosts.uninstall)))
        close()
    llm = ("api.groq.com", "/openai/v1/chat/completions")
    hosts._note(*llm, "urllib3")  # warned once: later calls only look up
    notes = interleaved_per_call(
        {
            "other": lambda: hosts._note("example.internal", "/health", "urllib3"),
            "llm": lambda: hosts._note(*llm, "urllib3"),
        },
        20_000,
    )
    server.shutdown()
    for name, (base, wrapped) in rows:
        print(f"{name} to 127.0.0.1, unwrapped: {base * 1e6:9.1f} us  (baseline)")
        print(f"  ... wrapped:                   {wrapped * 1e6:9.1f} us  = {wrapped / base:.3f}x")
    print(f"note of a non-LLM host (per call):      {notes['other'] * 1e6:9.2f} us")
    print(f"note of an LLM host already warned:     {notes['llm'] * 1e6:9.2f} us")
    print(f"warnings: {tracker.warnings}")


if __name__ == "__main__":
    main()
