"""The cost `--cost-capture` adds to a `requests` call that is not to an LLM host (urllib3's
`HTTPConnectionPool.urlopen` wrapped by `uncaptured.UncapturedHosts`), against the same call
unwrapped, both to a local 127.0.0.1 server in the same run; and the wrapper's own cost per call
(the note of a non-LLM host and of an LLM host already warned about).

python benchmarks/bench_uncaptured.py
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

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


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    session = requests.Session()
    tracker = InMemoryTokenTracker(test_id="bench::uncaptured")
    hosts = UncapturedHosts(lambda: tracker, lambda client, provider: False)

    def call() -> None:
        session.get(url).close()

    plain = interleaved_per_call({"plain": call}, 200, rounds=5)["plain"]
    hosts.install()
    wrapped = interleaved_per_call({"wrapped": call}, 200, rounds=5)["wrapped"]
    plain_again = (hosts.uninstall(), interleaved_per_call({"plain": call}, 200, rounds=5))[1]
    base = min(plain, plain_again["plain"])
    other = SimpleNamespace(host="example.internal")
    llm = SimpleNamespace(host="api.groq.com")
    hosts._note(llm, "/openai/v1/chat/completions")  # warned once: later calls only look up
    notes = interleaved_per_call(
        {
            "other": lambda: hosts._note(other, "/health"),
            "llm": lambda: hosts._note(llm, "/openai/v1/chat/completions"),
        },
        20_000,
    )
    server.shutdown()
    print(f"requests.get to 127.0.0.1, unwrapped:   {base * 1e6:9.1f} us  (baseline)")
    print(
        f"  ... with urlopen wrapped:             {wrapped * 1e6:9.1f} us  = {wrapped / base:.3f}x"
    )
    print(f"note of a non-LLM host (per call):      {notes['other'] * 1e6:9.2f} us")
    print(f"note of an LLM host already warned:     {notes['llm'] * 1e6:9.2f} us")
    print(f"warnings: {tracker.warnings}")


if __name__ == "__main__":
    main()
