"""The warning about LLM hosts reached through clients --cost-capture does not record, for the
standard library's `urllib.request` and for `aiohttp` (requests/urllib3 are in
test_capture_clients.py).

Real calls, to a local 127.0.0.1 server standing in for api.groq.com: a DNS stand-in
(`socket.getaddrinfo` patched, as clients_suite's `stand_in_dns` does) makes the known LLM host
name resolve to it, so the clients send to the name the warning is about.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pytest_tokencost.providers import uncaptured
from pytest_tokencost.providers.uncaptured import UncapturedHosts
from pytest_tokencost.tracker import InMemoryTokenTracker

aiohttp = pytest.importorskip("aiohttp", reason="aiohttp is a test dependency")

CONFTEST = r'''
"""A local server standing in for api.groq.com, and DNS that sends the name to it."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"object": "chat.completion", "choices": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def groq_url(port, monkeypatch):
    resolve = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return resolve("127.0.0.1" if host == "api.groq.com" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return f"http://api.groq.com:{port}/openai/v1/chat/completions"
'''

SUITE = """
import asyncio
import json
import urllib.request

import pytest

BODY = json.dumps({"model": "llama-3.3-70b-versatile", "messages": []}).encode()


@pytest.mark.parametrize("n", [1, 2])
def test_urllib_request(groq_url, n):
    request = urllib.request.Request(groq_url, data=BODY, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert json.loads(response.read())["object"] == "chat.completion"


@pytest.mark.parametrize("n", [1, 2])
def test_aiohttp(groq_url, n):
    import aiohttp

    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.post(groq_url, data=BODY) as response:
                return await response.json()

    assert asyncio.run(main())["object"] == "chat.completion"


def test_local_calls_are_not_llm_hosts(port):
    import urllib.request
    with urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions", data=BODY, method="POST")) as r:
        r.read()
"""


def _message(host: str, client: str, provider: str) -> str:
    return (
        f"capture: {host} (an LLM API of {provider}) was called through {client}, which "
        "--cost-capture does not record; those calls are not in this report (record them "
        "with token_tracker.observe(response))"
    )


@pytest.mark.parametrize("workers", [None, "2"])
def test_urllib_request_and_aiohttp_calls_to_llm_hosts_are_named_once(
    plugin_pytester: pytest.Pytester, workers: str | None
) -> None:
    plugin_pytester.makeconftest(CONFTEST)
    plugin_pytester.makepyfile(test_calls=SUITE)
    result = plugin_pytester.runpytest_subprocess(
        "--cost-capture", "-p", "no:cacheprovider", *(["-n", workers] if workers else [])
    )
    result.assert_outcomes(passed=5)
    report = json.loads((plugin_pytester.path / ".tokencost" / "token-report.json").read_text())
    assert sorted(w for w in report["warnings"] if w.startswith("capture:")) == [
        _message("api.groq.com", "aiohttp", "groq"),
        _message("api.groq.com", "urllib.request", "groq"),
    ]
    assert report["summary"]["totals"]["records"] == 0  # noted, never recorded


class _Ok(BaseHTTPRequestHandler):
    """Stands in for api.groq.com's chat endpoint (any answer: only the host is noted)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def groq_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    resolve = socket.getaddrinfo

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        return resolve("127.0.0.1" if host == "api.groq.com" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield f"http://api.groq.com:{server.server_address[1]}/openai/v1/chat/completions"
    server.shutdown()


def test_inside_an_event_loop_the_host_is_judged_at_the_tests_end_off_the_loop(
    groq_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Provider data not loaded yet: looking the host up would import genai-prices (file reads)
    # inside the loop, so the call is kept and judged by flush, off the loop.
    looked_up: list[bool] = []
    real = uncaptured.llm_provider_for_url

    def lookup(host: str, path: str = "/") -> str | None:
        looked_up.append(_in_loop())
        return real(host, path)

    monkeypatch.setattr(uncaptured, "provider_data_ready", lambda host: False)
    monkeypatch.setattr(uncaptured, "llm_provider_for_url", lookup)
    tracker = InMemoryTokenTracker(test_id="t::loop")
    hosts = UncapturedHosts(lambda: tracker, lambda client, provider: False)
    hosts.install_aiohttp()
    try:

        async def main() -> None:
            async with aiohttp.ClientSession() as session, session.post(groq_url, data=b"{}") as r:
                await r.read()

        asyncio.run(main())
        assert tracker.warnings == [] and looked_up == []
        hosts.flush(tracker)
    finally:
        hosts.uninstall()
    assert looked_up == [False]
    assert tracker.warnings == [_message("api.groq.com", "aiohttp", "groq")]


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_uninstall_puts_every_method_back() -> None:
    import urllib.request

    originals = (aiohttp.ClientSession._request, urllib.request.AbstractHTTPHandler.do_open)
    hosts = UncapturedHosts(lambda: None, lambda client, provider: False)
    assert hosts.install_aiohttp() and hosts.install_urllib()
    assert aiohttp.ClientSession._request is not originals[0]
    hosts.uninstall()
    assert (aiohttp.ClientSession._request, urllib.request.AbstractHTTPHandler.do_open) == (
        originals
    )
