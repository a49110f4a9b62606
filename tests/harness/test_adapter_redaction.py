"""Secrets never reach a terminal or a file: the openai adapter's errors, end to end
through the calibration harness.

`EchoingServer` stands in for an OpenAI-compatible endpoint that rejects the request: it listens
on 127.0.0.1 and answers the way api.openai.com and the gateways in front of it do, with a JSON
error body indented over several lines that quotes what it received — the key from the
``Authorization`` header (``Incorrect API key provided: <key>``), or the whole request target,
query string and all, for an unknown path (``Invalid URL (POST /v2?api_key=...)``). Proxies in
front of providers answer 502 with an HTML page; ``/html`` routes give that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from calibrate.adapters import AdapterContext, OpenAIAdapter
from calibrate.dispatch import DispatchError, DispatchRequest
from calibrate.retry import RetryPolicy
from calibrate.runner import CaseResult, StepResult
from calibrate.scenario import load_scenario

from ..conftest import PTP_MOCK, copy_scenario
from ..test_redaction import ENV_KEY, SK_KEY, URL_SECRET


def test_error_texts_of_case_results_are_stored_redacted() -> None:
    step = StepResult(step="triage", error=f"HTTP 401: Incorrect API key provided: {SK_KEY}")
    case = CaseResult.model_validate(
        {
            "case_id": "case-01",
            "steps": [step.model_dump()],
            "prompt_tokens": 0,
            "artifact_tokens": 0,
            "step_count": 1,
            "wall_ms": 1.0,
            "passed": False,
            "error": f"POST https://x/v1?key={URL_SECRET} failed",
        }
    )
    assert step.error == "HTTP 401: Incorrect API key provided: [REDACTED]"
    assert case.error == "POST https://x/v1?key=[REDACTED] failed"
    assert SK_KEY not in case.model_dump_json() and URL_SECRET not in case.model_dump_json()


# -- a server that echoes what it was sent ----------------------------------------------------


class EchoingServer:
    """Stand-in for an OpenAI-compatible endpoint rejecting every request (see module doc)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                auth = self.headers.get("Authorization")
                server.requests.append((self.path, auth))
                path = self.path.partition("?")[0]
                if path.endswith("/html/chat/completions"):
                    status, kind = 502, "text/html"
                    body = (
                        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                        f"<center><h1>502 Bad Gateway</h1></center>\r\n<p>upstream {self.path} "
                        f"with {auth}</p>\r\n<p>The web server reported a bad gateway error. "
                        "Please try again in a few minutes.</p>\r\n<hr><center>nginx/1.25.3"
                        "</center>\r\n</body>\r\n</html>\r\n"
                    )
                elif path != "/v1/chat/completions":
                    status, kind = 404, "application/json"
                    error = {
                        "message": f"Invalid URL (POST {self.path})",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                    body = json.dumps({"error": error}, indent=4) + "\n"
                else:
                    status, kind = 401, "application/json"
                    key = (auth or "").removeprefix("Bearer ")
                    error = {
                        "message": f"Incorrect API key provided: {key}. You can find your API "
                        "key at https://platform.openai.com/account/api-keys." + " " * 400,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                    body = json.dumps({"error": error}, indent=4) + "\n"
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> EchoingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def echoing() -> Iterator[EchoingServer]:
    with EchoingServer() as server:
        yield server


def _dispatch_error(server: EchoingServer, base: str, key: str) -> str:
    context = AdapterContext(
        scenario=load_scenario(PTP_MOCK / "scenario.toml"),
        model="gpt-4o-mini",
        base_url=base,
        retry=RetryPolicy(max_attempts=1),  # one answer each: retries are test_openai_retry's
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAI_API_KEY", key)
        dispatcher = OpenAIAdapter().dispatcher(context)
        with pytest.raises(DispatchError) as caught:
            dispatcher.dispatch(DispatchRequest("ptp-mock", "case-01", "recall", "prompt"))
    return str(caught.value)


def test_a_401_error_says_status_type_code_and_a_short_redacted_message(
    echoing: EchoingServer,
) -> None:
    message = _dispatch_error(echoing, f"{echoing.root}/v1", SK_KEY)
    assert echoing.requests == [("/v1/chat/completions", f"Bearer {SK_KEY}")]
    assert message == (
        f"case 'case-01' step 'recall': POST {echoing.root}/v1/chat/completions returned "
        "HTTP 401 (type invalid_request_error, code invalid_api_key): Incorrect API key "
        "provided: [REDACTED]. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )


def test_the_key_is_found_through_the_environment_whatever_its_shape(
    echoing: EchoingServer,
) -> None:
    message = _dispatch_error(echoing, f"{echoing.root}/v1", ENV_KEY)
    assert echoing.requests[0][1] == f"Bearer {ENV_KEY}"
    assert ENV_KEY not in message
    assert "Incorrect API key provided: [REDACTED]." in message


def test_a_query_in_the_base_url_stays_at_the_end_and_out_of_messages(
    echoing: EchoingServer,
) -> None:
    message = _dispatch_error(echoing, f"{echoing.root}/v2/?api_key={URL_SECRET}", SK_KEY)
    assert echoing.requests[0][0] == f"/v2/chat/completions?api_key={URL_SECRET}"
    assert URL_SECRET not in message
    assert message == (
        f"case 'case-01' step 'recall': POST {echoing.root}/v2/chat/completions?api_key="
        "[REDACTED] returned HTTP 404 (type invalid_request_error): Invalid URL (POST "
        "/v2/chat/completions?api_key=[REDACTED]"  # ")" may be part of a URL: it goes too
    )


def test_an_html_error_page_is_quoted_short_on_one_line_and_redacted(
    echoing: EchoingServer,
) -> None:
    message = _dispatch_error(echoing, f"{echoing.root}/html?key={URL_SECRET}", SK_KEY)
    assert URL_SECRET not in message and SK_KEY not in message
    detail = message.partition(" returned ")[2]
    assert "\n" not in message
    assert detail.startswith("HTTP 502: <html> <head><title>502 Bad Gateway</title></head>")
    assert len(detail) <= len("HTTP 502: ") + 200
    assert detail.endswith("...")


# -- end to end: pytest, the calibrate harness, the files ---------------------------------------


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_no_secret_reaches_the_terminal_or_a_report(
    plugin_pytester: pytest.Pytester,
    echoing: EchoingServer,
    monkeypatch: pytest.MonkeyPatch,
    workers: list[str],
) -> None:
    copy_scenario(plugin_pytester.path, cases=2)
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    result = plugin_pytester.runpytest_subprocess(
        "-m",
        "calibration",
        "--adapter=openai",
        f"--openai-base-url={echoing.root}/v1?api_key={URL_SECRET}",
        "--adapter-model=gpt-4o-mini",
        "--cost-report",
        *workers,
    )
    result.assert_outcomes(failed=2)
    # Both secrets did reach the server: the test would prove nothing otherwise.
    assert (
        echoing.requests
        == [(f"/v1/chat/completions?api_key={URL_SECRET}", f"Bearer {ENV_KEY}")] * 2
    )
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    result.stdout.fnmatch_lines(
        [
            "*recall: ERROR *returned HTTP 401 (type invalid_request_error, code invalid_api_key)"
            ": Incorrect API key provided: [[]REDACTED[]].*"
        ]
    )
    for secret in (ENV_KEY, URL_SECRET):
        assert secret not in output
    out = plugin_pytester.path / ".tokencost"
    calibration = (out / "calibration-report.json").read_text()
    assert ENV_KEY not in calibration and URL_SECRET not in calibration
    cases = json.loads(calibration)["cases"]
    assert [case["error"].count("[REDACTED]") for case in cases] == [2, 2]  # URL and body
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".jsonl", ".md"}:
            assert ENV_KEY not in path.read_text(errors="replace"), path
    text = (out / "token-report.json").read_text()
    assert URL_SECRET not in text and ENV_KEY not in text
    assert (
        f"--openai-base-url={echoing.root}/v1?api_key=[REDACTED]" in json.loads(text)["run"]["argv"]
    )


def test_no_secret_reaches_the_output_of_python_m_calibrate(
    tmp_path: Path, echoing: EchoingServer
) -> None:
    scenario = copy_scenario(tmp_path, cases=1)
    out = tmp_path / "out"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "calibrate",
            "run",
            str(scenario),
            "--adapter",
            "openai",
            "--adapter-model",
            "gpt-4o-mini",
            f"--openai-base-url={echoing.root}/v1?api_key={URL_SECRET}",
            "--out",
            str(out),
        ],
        env={**os.environ, "OPENAI_API_KEY": ENV_KEY},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr  # the case failed: its step got a 401
    assert echoing.requests == [(f"/v1/chat/completions?api_key={URL_SECRET}", f"Bearer {ENV_KEY}")]
    assert "Traceback" not in completed.stderr
    texts = [completed.stdout, completed.stderr]
    texts += [path.read_text() for path in out.iterdir() if path.is_file()]
    assert len(texts) >= 4  # token-report.json, calibration-report.json, records.jsonl
    for text in texts:
        assert ENV_KEY not in text and URL_SECRET not in text
    argv = json.loads((out / "token-report.json").read_text())["run"]["argv"]
    assert f"--openai-base-url={echoing.root}/v1?api_key=[REDACTED]" in argv
