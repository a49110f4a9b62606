"""The combination matrix of issue 8: budgets x xdist x recording mode x reruns (and, last,
the same suite replayed from vcrpy cassettes).

{`-n 0`, `-n 2`} x {test marker budget, step budget, session budget} x {`observe()` only,
`--cost-capture` only, both} x a test rerun by pytest-rerunfailures. One generated suite covers
several cells per run: its tests are parametrized over the recording modes of the run (a run
without `--cost-capture` has `observe`, a run with it `capture` and `both`), and every test
makes the same two real `openai` SDK calls — one plain, one streamed — to a local
OpenAI-compatible server that replays recorded responses from ../shared/corpus. The outer test
is parametrized over workers x budget scope.

Every test spends the same 181 tokens whatever the cell, so each test's row is one hand-computed
figure: identical across modes, worker counts and budget scopes. The test that crosses its
budget crosses it on its last call, so a test stopped by `observe()` raising and a test that
fails after its body (capture: the SDK never sees the exception) spent the same.

The session budget is shared by all tests of a run, so which tests it stops depends on their
order: its cell runs one mode per run and, under `-n 2`, `--dist loadfile` (one worker takes the
file, in order) so that the tests not run are known in advance. The overshoot bound with
concurrent workers is checked in test_budget.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import genai_prices
import pytest
import yaml

from pytest_tokencost.history import read_runs

from .htmlpage import Page, check_page_rows
from .test_capture_event_loop import SUITE as GUARDED_SUITE
from .test_capture_event_loop import UsagelessReplay
from .test_capture_hosts import CHAT_CALLS, HostReplay, oracle_micro_usd
from .test_capture_hosts import CLIENTS as CAPTURE_CLIENTS
from .test_capture_hosts import SUITE as HOSTS_SUITE
from .test_killed_runs import kill_after, tokencost

# Recorded responses the server replays (numbers from ../shared/corpus/SOURCES.md).
PLAIN = ("openai/pydantic-ai__chat_max_completion_tokens_o3-mini.yaml", 0)
STREAM = ("openai/pydantic-ai__chat_stream_include_usage_gpt-4o-mini.yaml", 1)

CONFTEST = '''
"""The generated suite's provider, one per process, and a log of every test's outcome."""

import gzip
import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

BODIES = json.loads(open(os.environ["MATRIX_BODIES"]).read())


def _sse_with_id(stream, response_id, include_usage):
    """The recorded SSE stream with this response's id on every chunk, as the API sends it."""
    events = []
    for event in stream.split("\\n\\n"):
        if not event.startswith("data: {"):
            events.append(event)
            continue
        chunk = json.loads(event[len("data: "):])
        if chunk.get("usage") is not None and not include_usage:
            continue  # without stream_options.include_usage the API sends no usage chunk
        chunk["id"] = response_id
        events.append("data: " + json.dumps(chunk, separators=(",", ":")))
    return "\\n\\n".join(events).encode()


class OpenAIDouble:
    """Stands in for api.openai.com's Chat Completions endpoint (no remote API here).

    It replays real recorded bodies (../shared/corpus) the way the real API sends them: each
    response has its own `id` (every chunk of a stream carries its response's id) and an
    `x-request-id` header; a JSON body is gzip-compressed when the client accepts gzip; a
    stream goes out with chunked transfer encoding in 37-byte pieces, which split events and
    lines, with the usage only on the last chunk before `data: [DONE]` (and none at all
    unless the request asked for it with `stream_options.include_usage`).
    """

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions":
                    self._send(404, b\'{"error": {"message": "Unknown path", "type": '
                               b\'"invalid_request_error"}}\', "application/json")
                    return
                response_id = "chatcmpl-" + uuid.uuid4().hex[:29]
                if request.get("stream"):
                    include = bool((request.get("stream_options") or {}).get("include_usage"))
                    self._stream(_sse_with_id(BODIES["stream"], response_id, include))
                    return
                body = json.dumps(dict(BODIES["plain"], id=response_id)).encode()
                self._send(200, body, "application/json")

            def _headers(self, status, kind):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("x-request-id", "req_" + uuid.uuid4().hex)

            def _send(self, status, body, kind):
                self._headers(status, kind)
                if "gzip" in self.headers.get("Accept-Encoding", ""):
                    body = gzip.compress(body)
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, body):
                self._headers(200, "text/event-stream; charset=utf-8")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, len(body), 37):
                    part = body[start : start + 37]
                    self.wfile.write(f"{len(part):x}\\r\\n".encode() + part + b"\\r\\n")
                    self.wfile.flush()
                self.wfile.write(b"0\\r\\n\\r\\n")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def openai_double():
    with OpenAIDouble() as server:
        yield server


@pytest.fixture
def client(openai_double):
    import openai  # here, not at the top: the xdist controller never needs it

    client = openai.OpenAI(base_url=openai_double.url + "/v1", api_key="test", max_retries=0)
    yield client
    client.close()


def pytest_generate_tests(metafunc):
    if "mode" in metafunc.fixturenames:
        metafunc.parametrize("mode", os.environ["MATRIX_MODES"].split(","))


OUTCOMES = {}
WRITER = []


def pytest_configure(config):
    # The controller (or the only process) keeps the log; it sees every worker's reports.
    if not hasattr(config, "workerinput"):
        WRITER.append(config)


def pytest_runtest_logreport(report):
    if not WRITER:
        return
    entry = {"when": report.when, "outcome": report.outcome}
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        entry["message"] = crash.message
    elif isinstance(report.longrepr, tuple):
        entry["message"] = report.longrepr[2]
    elif isinstance(report.longrepr, str):  # a budget crossed out of the test's sight
        entry["message"] = report.longrepr
    OUTCOMES.setdefault(report.nodeid, []).append(entry)


def pytest_sessionfinish(session):
    if WRITER:
        with open(os.environ["MATRIX_OUTCOMES"], "w") as handle:
            json.dump(OUTCOMES, handle)
'''

SUITE = '''
import json
import os

import pytest

SCOPE = os.environ["MATRIX_SCOPE"]
TEXT = json.loads(open(os.environ["MATRIX_BODIES"]).read())["text"]
MESSAGES = [{"role": "user", "content": "What is the capital of the country?"}]


def budget(max_tokens):
    """The test's marker budget, in the marker cell."""
    if SCOPE == "marker":
        return pytest.mark.token_budget(max_tokens=max_tokens)
    return lambda function: function


def spend(client, tracker, mode, max_tokens):
    """A plain call (94 tokens) and a streamed one (87), in step "answer" (its budget in the
    step cell); observed unless the mode is capture only."""
    with tracker.step("answer", max_tokens=max_tokens if SCOPE == "step" else None):
        response = client.chat.completions.create(model="o3-mini", messages=MESSAGES)
        if mode != "capture":
            tracker.observe(response)
        chunks = list(client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True,
            stream_options={"include_usage": True}))
        if mode != "capture":
            tracker.observe(chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT


@pytest.mark.flaky(reruns=1)
@budget(250)
def test_flaky(client, token_tracker, mode, request):
    spend(client, token_tracker, mode, 250)
    assert request.node.execution_count > 1, "the first attempt fails after spending"


@budget(250)
def test_fits(client, token_tracker, mode):
    spend(client, token_tracker, mode, 250)


@budget(150)
def test_crosses(client, token_tracker, mode):
    spend(client, token_tracker, mode, 150)


def test_last(client, token_tracker, mode):
    spend(client, token_tracker, mode, None)
'''

TESTS = ("test_flaky", "test_fits", "test_crosses", "test_last")
# The generated suites need neither of these installed plugins, which take a third of a
# pytest start (hypothesis alone 0.8 s), in every xdist worker too.
PYTEST_ARGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:anyio")
SESSION_LIMIT = 700


def _load(corpus: Path, name: str, index: int) -> Any:
    response = yaml.safe_load((corpus / name).read_text())["interactions"][index]["response"]
    return response.get("parsed_body") or response["body"]["string"]


def _oracle_micro_usd(model: str, input_tokens: int, output_tokens: int) -> int:
    """genai-prices' price of one request, in whole micro-USD (halves away from zero)."""
    price = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens),
        model,
        provider_id="openai",
        genai_request_timestamp=datetime.now(UTC),
    )
    return int((price.total_price * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# One test's spend: o3-mini, prompt 7, completion 87 (64 of them reasoning), no cache; then
# gpt-4o-mini streamed, prompt 78, completion 9. 85 + 96 = 181 tokens.
ONE_PASS = {
    "input": 85,
    "output": 96,
    "cache_read": 0,
    "cache_write": None,
    "reasoning": 64,
    "cache_write_1h": None,
    "web_searches": None,
}


def _expected_row(passes: int) -> dict[str, Any]:
    cost = _oracle_micro_usd("o3-mini", 7, 87) + _oracle_micro_usd("gpt-4o-mini", 78, 9)
    usage = {key: None if value is None else value * passes for key, value in ONE_PASS.items()}
    return {"records": 2 * passes, "usage": usage, "cost_micro_usd": cost * passes}


def _row(summary: dict[str, Any], test_id: str) -> dict[str, Any]:
    row = summary["by_test"][test_id]
    return {key: row[key] for key in ("records", "usage", "cost_micro_usd")}


def _comparable(node: Any) -> Any:
    """A report part without timings (wall clock differs between any two runs)."""
    if isinstance(node, dict):
        return {k: _comparable(v) for k, v in node.items() if k != "wall_ms"}
    if isinstance(node, list):
        return [_comparable(v) for v in node]
    return node


@pytest.fixture
def double(
    corpus: Path, plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A pytester whose conftest serves recorded bodies from a local OpenAI double."""
    stream = _load(corpus, *STREAM)
    chunks = [
        json.loads(line[len("data: ") :])
        for line in stream.splitlines()
        if line.startswith("data: {")
    ]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text, "the streamed answer has text"
    bodies = {"plain": _load(corpus, *PLAIN), "stream": stream, "text": text}
    (plugin_pytester.path / "bodies.json").write_text(json.dumps(bodies))
    plugin_pytester.makeconftest(CONFTEST)
    monkeypatch.setenv("MATRIX_BODIES", str(plugin_pytester.path / "bodies.json"))
    monkeypatch.setenv("MATRIX_OUTCOMES", str(plugin_pytester.path / "outcomes.json"))
    return plugin_pytester


@pytest.fixture
def matrix(double: pytest.Pytester) -> pytest.Pytester:
    """The generated suite of the matrix."""
    double.makepyfile(test_matrix=SUITE)
    return double


class Run:
    """One pytester run of the generated suite and what it left behind."""

    def __init__(
        self,
        pytester: pytest.Pytester,
        workers: str,
        scope: str,
        modes: list[str],
        extra: tuple[str, ...] = (),
        suffix: str = "",
    ):
        self.modes = modes
        name = f"out-{'-'.join(modes)}{suffix}"
        out = self.out = pytester.path / name
        args = [*PYTEST_ARGS, "-n", workers, "--cost-dir", name, "--cost-report=html", *extra]
        if modes != ["observe"]:
            args.append("--cost-capture")
        if scope == "session":
            args += ["--cost-budget-tokens", str(SESSION_LIMIT)]
            if workers != "0":
                args += ["--dist", "loadfile"]
        env = pytest.MonkeyPatch()
        env.setenv("MATRIX_SCOPE", scope)
        env.setenv("MATRIX_MODES", ",".join(modes))
        env.setenv("MATRIX_OUTCOMES", str(pytester.path / f"{name}.outcomes.json"))
        try:
            self.result = pytester.runpytest_subprocess(*args)
        finally:
            env.undo()
        self.output = self.result.stdout.str() + self.result.stderr.str()
        self.report = json.loads((out / "token-report.json").read_text())
        self.summary = self.report["summary"]
        self.records = [
            json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()
        ]
        self.outcomes: dict[str, list[dict[str, str]]] = json.loads(
            (pytester.path / f"{name}.outcomes.json").read_text()
        )
        self.page = Page((out / "token-report.html").read_text(encoding="utf-8"))

    def final(self, test_id: str) -> tuple[str, str | None]:
        """A test's outcome (failed in any phase, else skipped, else passed) and its message."""
        entries = [e for e in self.outcomes[test_id] if e["outcome"] != "rerun"]
        for outcome in ("failed", "skipped", "passed"):
            for entry in entries:
                if entry["outcome"] == outcome:
                    return outcome, entry.get("message")
        raise AssertionError(f"no outcome for {test_id}: {entries}")

    def records_of(self, test_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["test_id"] == test_id]


def _crossing_message(scope: str, test_id: str) -> str:
    if scope == "session":
        return f"session spent 724 of its {SESSION_LIMIT} tokens budget"
    where = f"test {test_id}" if scope == "marker" else "step answer"
    return f"{where} spent 181 of its 150 tokens budget"


def _check_run(run: Run, scope: str) -> None:
    assert "INTERNALERROR" not in run.output
    assert "Traceback" not in run.result.stderr.str()
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    assert (run.report["run"]["exit_status"], run.report["run"]["status"]) == (1, "failed")
    session = scope == "session"
    modes = run.modes
    outcomes = run.result.parseoutcomes()
    assert (
        outcomes.get("passed", 0),
        outcomes.get("failed", 0),
        outcomes.get("skipped", 0),
        outcomes.get("rerun", 0),
    ) == ((2 if session else 3) * len(modes), len(modes), len(modes) if session else 0, len(modes))
    duplicates = 0
    for mode in modes:
        ids = {name: f"test_matrix.py::{name}[{mode}]" for name in TESTS}
        # Outcomes: the rerun passes, the crossing test fails naming scope, channel, spent
        # and limit; after the session budget ran out, the last test was not run.
        assert run.final(ids["test_flaky"]) == ("passed", None)
        assert [e["outcome"] for e in run.outcomes[ids["test_flaky"]]].count("rerun") == 1
        assert run.final(ids["test_fits"]) == ("passed", None)
        outcome, message = run.final(ids["test_crosses"])
        assert outcome == "failed"
        assert message == (
            "pytest_tokencost.budget.TokenBudgetExceeded: token budget exceeded: "
            + _crossing_message(scope, ids["test_crosses"])
        )
        if session:
            assert run.final(ids["test_last"]) == (
                "skipped",
                "Skipped: not run: the session token budget is exhausted",
            )
        else:
            assert run.final(ids["test_last"]) == ("passed", None)
        # Rows: every test that ran spent 181 tokens an attempt; the rerun's row sums both.
        assert _row(run.summary, ids["test_flaky"]) == _expected_row(2)
        for name in ("test_fits", "test_crosses") + (() if session else ("test_last",)):
            assert _row(run.summary, ids[name]) == _expected_row(1), name
        if session:
            assert ids["test_last"] not in run.summary["by_test"]
        # Records: each response once, each attempt's records with their attempt number.
        flaky = run.records_of(ids["test_flaky"])
        assert [r["attempt"] for r in flaky] == [1, 1, 2, 2]
        for name in TESTS:
            records = run.records_of(ids[name])
            assert all(r["response_id"].startswith("chatcmpl-") for r in records)
            # Captured records carry the request id header; observe() alone cannot know it.
            assert all((r["request_id"] is None) == (mode == "observe") for r in records)
            assert all(r["step"] == "answer" and r["run_id"] for r in records)
        if mode == "both":  # every response was seen by capture and by observe()
            duplicates += sum(len(run.records_of(ids[name])) for name in TESTS)
    assert len({r["response_id"] for r in run.records}) == len(run.records)
    assert run.report["duplicates_dropped"] == duplicates
    # Totals: 181 tokens a test attempt that ran (test_flaky ran twice) in every mode.
    passes = (4 if session else 5) * len(modes)
    totals = run.summary["totals"]
    assert totals["records"] == len(run.records) == 2 * passes
    assert (totals["usage"]["input"], totals["usage"]["output"]) == (85 * passes, 96 * passes)
    assert totals["cost_micro_usd"] == _expected_row(passes)["cost_micro_usd"]
    # Warnings: each once, whichever process or mode produced them.
    assert run.report["warnings"] == (
        [
            "budget warning: the session reached 91% of its tokens budget "
            f"(637 of {SESSION_LIMIT})",
            f"session token budget exhausted: tokens: 724 of {SESSION_LIMIT} (103.43%); "
            "tests not yet started were not run",
        ]
        if session
        else []
    )
    _check_budgets(run, scope)
    # The HTML page of every cell shows the report's rows, each budget once.
    check_page_rows(run.page, run.report)
    assert len(run.page.tags_with_class("gauge")) == min(len(run.report["budgets"]), 12)
    # History: one row per run, written once (by the controller under xdist), its totals.
    (row,) = read_runs(run.out)
    assert row.run_id == run.report["run"]["run_id"]
    assert (row.totals.input, row.totals.output) == (85 * passes, 96 * passes)
    assert row.totals.cost_micro_usd == totals["cost_micro_usd"]
    assert row.tests == len(run.summary["by_test"]) and row.budget_status == "exceeded"


def _check_budgets(run: Run, scope: str) -> None:
    budgets = run.report["budgets"]
    crossed = [
        (b["scope"], b["channel"], b["limit"], b["used"])
        for b in budgets
        if b["status"] == "exceeded"
    ]
    if scope == "session":
        (session,) = [b for b in budgets if b["scope"] == "session"]
        assert (session["used"], session["limit"]) == (724, SESSION_LIMIT)
        assert crossed == [("session", "tokens", SESSION_LIMIT, 724)]
        run.result.stdout.fnmatch_lines(
            [f"ERROR: session token budget exhausted: tokens: 724 of {SESSION_LIMIT} *"]
        )
        return
    expected = sorted(
        (
            f"test test_matrix.py::test_crosses[{mode}]" if scope == "marker" else "step answer",
            "tokens",
            150,
            181,
        )
        for mode in run.modes
    )
    assert sorted(crossed) == expected
    # test_fits and each attempt of test_flaky had a 250-token budget of their own: the two
    # attempts spent 362 together, but neither crossed its budget.
    limited = [b for b in budgets if b["limit"] == 250]
    assert sorted(b["used"] for b in limited) == [181] * (3 * len(run.modes))


@pytest.mark.parametrize("scope", ["marker", "step", "session"])
@pytest.mark.parametrize("workers", ["0", "2"])
def test_every_combination_counts_once_and_fails_right(
    matrix: pytest.Pytester, workers: str, scope: str
) -> None:
    # A session budget is shared by every test of a run: one mode per run keeps its cells apart.
    groups = [["observe"], ["capture", "both"]]
    if scope == "session":
        groups = [["observe"], ["capture"], ["both"]]
    runs = [Run(matrix, workers, scope, modes) for modes in groups]
    for run in runs:
        _check_run(run, scope)
    # Identical rows across recording modes, to the last field (provenance, price source...).
    rows: dict[str, list[Any]] = {}
    for run in runs:
        for test_id, row in run.summary["by_test"].items():
            name = test_id.split("[")[0]
            rows.setdefault(name, []).append(_comparable(row))
    for name, same in rows.items():
        assert all(row == same[0] for row in same), name


@pytest.mark.parametrize("workers", ["0", "2"])
def test_an_override_prices_the_dated_name_the_api_answers_with(
    matrix: pytest.Pytester, workers: str
) -> None:
    # The streamed answers to model="gpt-4o-mini" say gpt-4o-mini-2024-07-18, which
    # genai-prices resolves to gpt-4o-mini: the override prices them, observed or captured.
    (matrix.path / "prices.toml").write_text(
        '[models."gpt-4o-mini"]\ninput_mtok = 1\noutput_mtok = 2\n'
    )
    for modes in (["observe"], ["capture", "both"]):
        run = Run(matrix, workers, "marker", modes, ("--cost-prices", "prices.toml"), "-prices")
        mini = [r for r in run.records if r["model"] != "o3-mini-2025-01-31"]
        # prompt 78 at $1, completion 9 at $2 per MTok: 96 micro-USD a response
        assert {
            (r["model"], r["price_source"], r["priced_as"], r["cost_micro_usd"]) for r in mini
        } == {("gpt-4o-mini-2024-07-18", "override", "gpt-4o-mini", 96)}
        assert 2 * len(mini) == len(run.records)
        assert run.summary["totals"]["cost_micro_usd"] == len(mini) * (
            96 + _oracle_micro_usd("o3-mini", 7, 87)
        )


def test_a_run_level_error_starts_its_own_line(plugin_pytester: pytest.Pytester) -> None:
    # pytest ends the progress line ("[100%]") only after the test loop; an ERROR: line
    # printed at the end of the loop used to be glued to it ("R..FsERROR: ...").
    plugin_pytester.makepyfile("""
        import pytest
        from pytest_tokencost import Usage

        @pytest.mark.parametrize("n", range(3))
        def test_spend(token_tracker, n):
            token_tracker.record(model="gpt-4o", usage=Usage(input=150, output=10))
    """)
    result = plugin_pytester.runpytest("-q", "-p", "no:cacheprovider", "--cost-budget-tokens=300")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            ".Fs * [[]100%]",
            "ERROR: session token budget exhausted: tokens: 320 of 300 (106.67%); "
            "tests not yet started were not run",
        ]
    )


def test_capture_fails_the_first_test_to_cross_without_the_fixture(
    double: pytest.Pytester,
) -> None:
    # Capture makes a test's tracker during its call; the hook that fails a test whose
    # captured calls crossed a budget used to be registered only then, too late for the
    # first such test of a process, which passed.
    double.makepyfile(
        test_first="""
        import pytest

        MESSAGES = [{"role": "user", "content": "Hello"}]

        @pytest.mark.token_budget(max_tokens=50)
        @pytest.mark.parametrize("n", [1, 2])
        def test_call(client, n):
            client.chat.completions.create(model="o3-mini", messages=MESSAGES)
        """
    )
    result = double.runpytest_subprocess(*PYTEST_ARGS, "--cost-capture")
    result.assert_outcomes(failed=2)
    # one line naming the budget: none of the plugin's or the SDK's frames
    for frame in ("item_hooks.py", "providers/capture.py", "site-packages/openai"):
        assert frame not in result.stdout.str()
    outcomes = json.loads((double.path / "outcomes.json").read_text())
    for n in (1, 2):
        (call,) = [e for e in outcomes[f"test_first.py::test_call[{n}]"] if e["when"] == "call"]
        assert call["outcome"] == "failed"
        assert call["message"] == (
            "pytest_tokencost.budget.TokenBudgetExceeded: token budget exceeded: "
            f"test test_first.py::test_call[{n}] spent 94 of its 50 tokens budget"
        )


def test_a_rerun_blocked_by_the_session_budget_is_no_skip(
    plugin_pytester: pytest.Pytester,
) -> None:
    # With --reruns, the test that exhausts the session budget fails and is rerun; the rerun
    # used to be skipped as "not run", which made the test's final outcome a skip.
    plugin_pytester.makepyfile("""
        import pytest
        from pytest_tokencost import Usage

        @pytest.mark.parametrize("n", range(3))
        def test_spend(token_tracker, n):
            token_tracker.record(model="gpt-4o", usage=Usage(input=90, output=10))
    """)
    result = plugin_pytester.runpytest(
        "-p", "no:cacheprovider", "--reruns", "1", "--cost-budget-tokens=150", "-rs"
    )
    # test_spend[0] spends 100; [1] reaches 200, fails and is not rerun; [2] is not run.
    outcomes = result.parseoutcomes()
    assert {k: outcomes.get(k) for k in ("passed", "rerun", "errors", "skipped")} == {
        "passed": 1,
        "rerun": 1,
        "errors": 1,
        "skipped": 1,
    }
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_spend[[]1]*",
            "not rerun: the session token budget is exhausted (the test's earlier attempt failed)",
            "SKIPPED [[]1] *: not run: the session token budget is exhausted",
        ],
        consecutive=False,
    )
    lines = (plugin_pytester.path / ".tokencost" / "records.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["test_id"].split("::")[1], r["attempt"]) for r in records] == [
        ("test_spend[0]", 1),
        ("test_spend[1]", 1),
    ]


def test_a_stream_read_after_its_step_is_charged_to_that_step(double: pytest.Pytester) -> None:
    # Capture records a stream when it closes. It used to charge whatever budget was open
    # then: a stream opened in a step and read after it left the step's budget untouched.
    double.makepyfile(
        test_late="""
        MESSAGES = [{"role": "user", "content": "Hello"}]

        def test_late_read(client, token_tracker):
            with token_tracker.step("answer", max_tokens=50):
                stream = client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, stream=True,
                    stream_options={"include_usage": True})
            assert [chunk.id for chunk in stream]
        """
    )
    result = double.runpytest_subprocess(*PYTEST_ARGS, "--cost-capture")
    result.assert_outcomes(failed=1)
    outcomes = json.loads((double.path / "outcomes.json").read_text())
    (call,) = [e for e in outcomes["test_late.py::test_late_read"] if e["when"] == "call"]
    assert call["message"] == (
        "pytest_tokencost.budget.TokenBudgetExceeded: token budget exceeded: "
        "step answer spent 87 of its 50 tokens budget"
    )
    report = json.loads((double.path / ".tokencost" / "token-report.json").read_text())
    assert report["summary"]["by_step"]["answer"]["usage"]["output"] == 9
    assert [(b["scope"], b["used"], b["status"]) for b in report["budgets"]] == [
        ("step answer", 87, "exceeded")
    ]


def test_a_captured_test_past_the_session_budget_keeps_counting(double: pytest.Pytester) -> None:
    # The SDK never sees a budget exception under capture: the test that crosses the session
    # budget makes its remaining calls, every one of them counted, then fails.
    double.makepyfile(
        test_loop="""
        MESSAGES = [{"role": "user", "content": "Hello"}]

        def test_agent_loop(client):
            for _ in range(3):
                client.chat.completions.create(model="o3-mini", messages=MESSAGES)

        def test_next(client):
            client.chat.completions.create(model="o3-mini", messages=MESSAGES)
        """
    )
    result = double.runpytest_subprocess(*PYTEST_ARGS, "--cost-capture", "--cost-budget-tokens=100")
    result.assert_outcomes(failed=1, skipped=1)
    report = json.loads((double.path / ".tokencost" / "token-report.json").read_text())
    (session,) = [b for b in report["budgets"] if b["scope"] == "session"]
    assert session["used"] == 3 * 94 == report["summary"]["totals"]["usage"]["input"] + 3 * 87
    outcomes = json.loads((double.path / "outcomes.json").read_text())
    (call,) = [e for e in outcomes["test_loop.py::test_agent_loop"] if e["when"] == "call"]
    assert call["message"].endswith("session spent 188 of its 100 tokens budget")


CLIENTS_MIX = '''
import pytest
from botocore.stub import Stubber

from conftest import ANSWER, bedrock

SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
MESSAGES = [{"role": "user", "content": "Where is my refund?"}]
CONVERSE = {
    "output": {"message": {"role": "assistant", "content": [{"text": ANSWER}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 1024, "outputTokens": 256, "totalTokens": 3328,
              "cacheReadInputTokens": 2048, "cacheWriteInputTokens": 0},
    "metrics": {"latencyMs": 1830},
}


def converse():
    """A Bedrock Converse call (3,328 tokens) through boto3, answered by botocore's Stubber."""
    client = bedrock()
    with Stubber(client) as stub:
        stub.add_response("converse", CONVERSE)
        response = client.converse(modelId=SONNET, messages=[
            {"role": "user", "content": [{"text": "Where is my refund?"}]}])
    assert response["output"]["message"]["content"][0]["text"] == ANSWER


@pytest.mark.flaky(reruns=1)
def test_flaky_bedrock(request):
    converse()
    assert request.node.execution_count > 1, "the first attempt fails after spending"


@pytest.mark.token_budget(max_tokens=1000)
def test_bedrock_crosses():
    converse()  # the call returns to the caller; the test fails after its body


def test_groq_step(groq_client, token_tracker):
    with token_tracker.step("answer", max_tokens=50):
        stream = groq_client.chat.completions.create(
            model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True,
            extra_body={"stream_options": {"include_usage": True}})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == ANSWER


def test_groq_captured_and_observed(groq_client, token_tracker):
    response = groq_client.chat.completions.create(model="llama-3.3-70b-versatile",
                                                   messages=MESSAGES)
    token_tracker.observe(response)  # the response capture already recorded: counted once
'''


@pytest.mark.parametrize("workers", ["0", "2"])
def test_new_clients_with_reruns_budgets_and_observe(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    # Capture through classic httpx (the groq SDK) and botocore (Bedrock) in combination:
    # reruns, a marker budget, a step budget on a stream read after its step, observe() of a
    # captured response, and then a session budget; serial and under xdist.
    pytest.importorskip("groq", reason="the groq SDK is a test dependency")
    pytest.importorskip("boto3", reason="boto3 is a test dependency")
    from .clients_suite import CONFTEST as CLIENTS_CONFTEST

    plugin_pytester.makeconftest(CLIENTS_CONFTEST)
    plugin_pytester.makepyfile(test_mix=CLIENTS_MIX)
    result = plugin_pytester.runpytest_subprocess(*PYTEST_ARGS, "--cost-capture", "-n", workers)
    outcomes = result.parseoutcomes()
    assert {k: outcomes.get(k, 0) for k in ("passed", "failed", "rerun")} == {
        "passed": 2,
        "failed": 2,
        "rerun": 1,
    }
    for crossed in (  # in either order: under xdist, two workers report
        "test test_mix.py::test_bedrock_crosses spent 3,328 of its 1,000 tokens budget",
        "step answer spent 73 of its 50 tokens budget",
    ):
        result.stdout.fnmatch_lines([f"*TokenBudgetExceeded: token budget exceeded: {crossed}"])
    out = plugin_pytester.path / ".tokencost"
    report = json.loads((out / "token-report.json").read_text())
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    seen = sorted((r["test_id"].split("::")[1], r["attempt"], r["usage"]["input"]) for r in records)
    assert seen == [
        ("test_bedrock_crosses", 1, 3072),
        ("test_flaky_bedrock", 1, 3072),
        ("test_flaky_bedrock", 2, 3072),
        ("test_groq_captured_and_observed", 1, 61),
        ("test_groq_step", 1, 61),
    ]
    assert report["duplicates_dropped"] == 1
    assert sorted(
        (b["scope"], b["used"], b["limit"]) for b in report["budgets"] if b["status"] == "exceeded"
    ) == [("step answer", 73, 50), ("test test_mix.py::test_bedrock_crosses", 3328, 1000)]
    assert report["warnings"] == []

    # A session budget two Bedrock calls cross: the rerun that crosses fails, the rest wait.
    args = [*PYTEST_ARGS, "--cost-capture", "--cost-budget-tokens=5000", "--cost-dir", "session"]
    if workers != "0":
        args += ["-n", workers, "--dist", "loadfile"]
    result = plugin_pytester.runpytest_subprocess(*args)
    outcomes = result.parseoutcomes()
    assert {k: outcomes.get(k, 0) for k in ("passed", "failed", "rerun", "skipped")} == {
        "passed": 0,
        "failed": 1,
        "rerun": 1,
        "skipped": 3,
    }
    result.stdout.fnmatch_lines(["ERROR: session token budget exhausted: tokens: 6,656 of 5,000*"])
    report = json.loads((plugin_pytester.path / "session" / "token-report.json").read_text())
    assert report["summary"]["totals"]["records"] == 2
    assert report["summary"]["totals"]["usage"]["input"] == 2 * 3072


CELLS_ON_PROVIDER_HOSTS = (
    CAPTURE_CLIENTS
    + """
import pytest


@pytest.mark.flaky(reruns=1)
def test_rerun_on_cerebras(request):
    client("https://api.cerebras.ai/v1").chat.completions.create(
        model="llama-3.3-70b", messages=MESSAGES)
    assert request.node.execution_count > 1, "fails once, passes when rerun"


@pytest.mark.token_budget(max_usd=0.001)
def test_usd_budget_on_cerebras():
    # $0.00141 at Cerebras' price; OpenAI's price of the model ($0.000158) would fit.
    client("https://api.cerebras.ai/v1").chat.completions.create(
        model="gpt-oss-120b", messages=MESSAGES)
"""
)


def test_capture_under_xdist_prices_each_host_as_itself_and_never_drops_a_call(
    corpus: Path, plugin_pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 15 in the matrix: -n 2 x --cost-capture x provider hosts (priced as themselves, a
    # rerun, a USD budget that only the host's price crosses) x usage-less answers inside an
    # event loop under a blocking-I/O guard (estimated off the loop, in the worker that ran them).
    plugin_pytester.makepyfile(
        test_hosts=HOSTS_SUITE, test_guarded=GUARDED_SUITE, test_cells=CELLS_ON_PROVIDER_HOSTS
    )
    with HostReplay(corpus) as hosts, UsagelessReplay(corpus) as usageless:
        monkeypatch.setenv("REPLAY_PORT", str(hosts.port))
        monkeypatch.setenv("REPLAY_URL", usageless.url)
        result = plugin_pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-n", "2", "--cost-capture"
        )
    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes["failed"], outcomes["rerun"]) == (
        len(CHAT_CALLS) + 3 + 2 + 1,
        1,
        1,
    )
    result.stdout.fnmatch_lines(["*test_usd_budget_on_cerebras spent $0.00141 of its $0.001*"])
    out = plugin_pytester.path / ".tokencost"
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    by_file: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_file.setdefault(record["test_id"].split("::")[0], []).append(record)
    hosts_records = by_file["test_hosts.py"]
    assert len(hosts_records) == len(CHAT_CALLS) + 3
    for record in hosts_records + by_file["test_cells.py"]:
        assert record["cost_micro_usd"] == oracle_micro_usd(record, record["provider"])
        assert record["priced_as"].startswith(record["provider"] + ":")
    assert {r["provider"] for r in hosts_records} == {
        "cerebras",
        "groq",
        "mistral",
        "together",
        "aws",
        "openrouter",
        "azure",
    }
    cells = sorted(
        (r["test_id"].split("::")[1], r["attempt"], r["provider"], r["model"])
        for r in by_file["test_cells.py"]
    )
    assert cells == [
        ("test_rerun_on_cerebras", 1, "cerebras", "llama-3.3-70b"),
        ("test_rerun_on_cerebras", 2, "cerebras", "llama-3.3-70b"),
        ("test_usd_budget_on_cerebras", 1, "cerebras", "gpt-oss-120b"),
    ]
    guarded = by_file["test_guarded.py"]
    # complete answers without usage: estimated, not partial
    assert sorted((r["provenance"], r["partial"], r["model"], r["provider"]) for r in guarded) == [
        ("estimated", False, "gpt-4o-mini", None),
        ("estimated", False, "gpt-4o-mini", None),
        ("estimated", False, "gpt-oss-120b", "cerebras"),
    ]
    report = json.loads((out / "token-report.json").read_text())
    assert [(c["reported_micro_usd"], c["agrees"]) for c in report["cost_checks"]] == [(669, True)]
    assert report["summary"]["unpriced_models"] == []
    assert not [w for w in report["warnings"] if "could not be" in w]


VCR_CONFIG = """

@pytest.fixture(scope="module")
def vcr_config():
    # The double's port differs between runs: match what a call asks, not where it goes.
    return {"match_on": ["method", "path", "body"]}
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_cassette_replay_of_the_matrix_keeps_everything_but_the_money_spent(
    double: pytest.Pytester, workers: str
) -> None:
    """The matrix suite under vcrpy (pytest-recording's `vcr` marker): recorded against the
    double, then replayed. Replayed calls count the same tokens and charge the same budgets
    (so the same test crosses, the rerun passes), but the money moves from spent to recorded.
    `observe()` alone cannot see a replay (it gets the SDK's object, not the HTTP response),
    so the replay cell is the capture modes."""
    conftest = double.path / "conftest.py"
    conftest.write_text(conftest.read_text() + VCR_CONFIG)
    double.makepyfile(test_matrix="import pytest\npytestmark = pytest.mark.vcr\n" + SUITE)
    modes = ["capture", "both"]
    live = Run(double, workers, "marker", modes, ("--record-mode=all",), "-live")
    replay = Run(double, workers, "marker", modes, ("--record-mode=none",), "-replay")
    _check_run(live, "marker")
    assert not any(r["replayed"] for r in live.records)
    assert "INTERNALERROR" not in replay.output and "Traceback" not in replay.result.stderr.str()
    assert replay.result.parseoutcomes() == live.result.parseoutcomes()
    assert all(r["replayed"] for r in replay.records)
    assert len(replay.records) == len(live.records)
    for test_id, row in live.summary["by_test"].items():
        replayed = replay.summary["by_test"][test_id]
        assert replayed["cost_micro_usd"] == 0, test_id
        assert replayed["replayed_cost_micro_usd"] == row["cost_micro_usd"], test_id
        assert replayed["replayed_records"] == row["records"], test_id
        assert replayed["replayed_tokens"] == row["usage"]["input"] + row["usage"]["output"]
        same = ("cost_micro_usd", "input_cost_micro_usd", "output_cost_micro_usd")
        same += ("replayed_records", "replayed_tokens", "replayed_cost_micro_usd")
        assert _comparable({k: v for k, v in replayed.items() if k not in same}) == _comparable(
            {k: v for k, v in row.items() if k not in same}
        ), test_id
    for mode in modes:  # the outcome of every test, crossing budgets included
        for name in TESTS:
            test_id = f"test_matrix.py::{name}[{mode}]"
            assert replay.final(test_id) == live.final(test_id), test_id
    budgets = [(b["scope"], b["channel"], b["used"], b["status"]) for b in live.report["budgets"]]
    assert sorted(budgets) == sorted(
        (b["scope"], b["channel"], b["used"], b["status"]) for b in replay.report["budgets"]
    )
    totals = replay.summary["totals"]
    assert totals["cost_micro_usd"] == 0
    assert totals["replayed_cost_micro_usd"] == live.summary["totals"]["cost_micro_usd"]
    assert "Replayed: " not in live.output
    check_page_rows(replay.page, replay.report)
    # History: the replay run spent nothing; its tokens are the live run's, and what they
    # would cost live (the live run's spending) is kept as its recorded cost.
    (row,) = read_runs(replay.out)
    assert row.totals.cost_micro_usd == 0
    assert (row.totals.replayed_records, row.totals.replayed_cost_micro_usd) == (
        len(live.records),
        live.summary["totals"]["cost_micro_usd"],
    )
    assert (
        row.totals.total
        == live.summary["totals"]["usage"]["input"] + live.summary["totals"]["usage"]["output"]
    )


CI_SUITE = """
import pytest
from pytest_tokencost import Usage

ATTEMPTS = []

def test_a(token_tracker):
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=1_000, output=100))

@pytest.mark.flaky(reruns=1)
def test_flaky(token_tracker):
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=500, output=50))
    ATTEMPTS.append(1)
    assert len(ATTEMPTS) > 1, "the first attempt fails"

@pytest.mark.token_budget(max_tokens=1_000)
def test_budget(token_tracker):
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=900, output=0))
"""
# By hand (gpt-4o: $2.50 in, $10 out per MTok): test_a 1,100 tokens, 2,500 + 1,000 = 3,500
# micro-USD; test_flaky 550 tokens and 1,750 per attempt, two attempts; test_budget 900 tokens
# (90% of its budget: a warning), 2,250. A run: 4 records, 3,100 tokens, 9,250 micro-USD.


@pytest.mark.parametrize("off", [False, True], ids=["accounting", "no-cost"])
@pytest.mark.parametrize("workers", ["0", "2"])
def test_ci_outputs_with_history_gates_page_and_reruns(
    plugin_pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    workers: str,
    off: bool,
) -> None:
    """Issue 12's outputs (Markdown, step summary, annotations, JUnit XML) beside the history,
    comparison and gates (issue 10), the HTML page (issue 11), a rerun and a test budget, in a
    serial and an xdist run; and all of them with --no-cost, where nothing is written."""
    plugin_pytester.makepyfile(test_ci=CI_SUITE)
    step_summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    args = ["-n", workers, "-p", "no:randomly", "-v", *(["--no-cost"] if off else [])]
    first = plugin_pytester.runpytest(*args)
    outcomes = first.parseoutcomes()
    assert (outcomes["passed"], outcomes["rerun"]) == (3, 1)
    second = plugin_pytester.runpytest(
        *args,
        "--cost-report=markdown:cost.md",
        "--cost-report=html",
        "--junitxml=junit.xml",
        "--cost-compare",
        "--cost-compare-fail=tokens:0%",
        "--cost-fail-over=usd:0.005",
    )
    outcomes = second.parseoutcomes()
    assert (outcomes["passed"], outcomes["rerun"]) == (3, 1)
    out = second.stdout.str()
    folder = plugin_pytester.path / ".tokencost"
    if off:
        assert second.ret == pytest.ExitCode.OK
        assert not folder.exists() and not step_summary.exists()
        assert not (plugin_pytester.path / "cost.md").exists()
        assert "tokencost" not in (plugin_pytester.path / "junit.xml").read_text()
        assert "::error" not in out and "::warning" not in out and "Token & Cost" not in out
        return
    assert second.ret == pytest.ExitCode.TESTS_FAILED  # $0.00925 is over $0.005
    runs = read_runs(folder)
    assert [run.totals.total for run in runs] == [3_100, 3_100]
    assert [run.totals.cost_micro_usd for run in runs] == [9_250, 9_250]
    markdown = (plugin_pytester.path / "cost.md").read_text()
    assert step_summary.read_text().count("## Token & Cost") == 2  # one per run, appended
    assert "| `--cost-compare-fail=tokens:0%` | PASS |" in markdown
    gate_row = "| `--cost-fail-over=usd:0.005` | **FAIL** | the run's cost is $0.00925, over"
    assert gate_row in markdown
    assert f"Baseline: run `{runs[1].run_id}`" in markdown
    assert "### Compared with the previous run" in markdown
    assert "Tests: no changes (3 unchanged)" in markdown
    assert "| `test_ci.py::test_flaky` | 1,000 | 100 | 1,100 | $0.00350 |" in markdown
    for line in (
        "::warning title=token budget::test test_ci.py::test_budget: tokens budget warn: "
        "900 of 1,000 (90%25)",
        "::error title=cost gate::cost gate failed: --cost-fail-over=usd:0.005: the run's cost "
        "is $0.00925, over the limit of $0.005",
    ):
        assert line in out
    junit = (plugin_pytester.path / "junit.xml").read_text()
    assert '<property name="tokencost_records" value="4"' in junit
    assert '<property name="tokencost_cost_usd" value="0.009250"' in junit
    page = (folder / "token-report.html").read_text()
    assert ">$0.00925<" in page and ">$0.00350<" in page  # the one money rule
    assert "(1,100 tokens, $0.00350)" in out  # test_a's -v result line


KILLED_SUITE = (
    CI_SUITE
    + """
import time
from pathlib import Path

def test_zrunning(token_tracker):
    token_tracker.record(model="gpt-4o", provider="openai", usage=Usage(input=4_000, output=400))
    Path("ready").write_text("")
    time.sleep(120)
"""
)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_killed_run_with_budgets_and_reruns_is_reported_from_its_records(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    """CI_SUITE (a rerun, a test budget) under a session budget, killed with SIGKILL while a
    last test runs: `tokencost report` rebuilds the run from records.jsonl with both attempts
    of the rerun test and exactly CI_SUITE's hand-computed totals (the running test's record
    never left its process), and says the budgets are not known."""
    plugin_pytester.makepyfile(test_ci=KILLED_SUITE)
    run_dir = kill_after(
        plugin_pytester.path, 4, "-n", workers, "-p", "no:randomly", "--cost-budget-tokens=100000"
    )
    assert (run_dir / "budget-ledger.sqlite").exists()
    shown = tokencost(plugin_pytester.path, "report", "--brief")
    assert shown.returncode == 0, shown.stderr
    assert f"interrupted; rebuilt from {run_dir / 'records.jsonl'})" in shown.stdout
    assert "Total:           3,100 tokens" in shown.stdout
    combined = tokencost(plugin_pytester.path, "combine", str(run_dir), "--out", "kept")
    assert combined.returncode == 0, combined.stderr
    report = json.loads((plugin_pytester.path / "kept" / "token-report.json").read_text())
    totals = report["summary"]["totals"]
    expected = (
        _oracle_micro_usd("gpt-4o", 1_000, 100)
        + 2 * _oracle_micro_usd("gpt-4o", 500, 50)
        + _oracle_micro_usd("gpt-4o", 900, 0)
    )
    assert (totals["records"], totals["cost_micro_usd"]) == (4, expected) == (4, 9_250)
    assert report["summary"]["by_test"]["test_ci.py::test_flaky"]["records"] == 2
    attempts = [json.loads(line)["attempt"] for line in (run_dir / "records.jsonl").open()]
    assert sorted(attempts) == [1, 1, 1, 2]
    assert report["budgets"] == [] and "Not known: its budgets" in report["warnings"][0]
    (row,) = read_runs(plugin_pytester.path / "kept")
    assert (row.status, row.totals.total, row.totals.cost_micro_usd) == (
        "interrupted",
        3_100,
        9_250,
    )


COHERE_GROQ_HOST = '''

@pytest.fixture
def groq_url(cohere_port, monkeypatch):
    """api.groq.com on the same local server: reached through urllib.request and aiohttp, which
    --cost-capture does not record (it names them in a warning)."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return resolve("127.0.0.1" if host == "api.groq.com" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return f"http://api.groq.com:{cohere_port}/openai/v1/chat/completions"
'''

COHERE_SUITE = """
import asyncio
import json
import urllib.request

import httpx
import pytest

REQUEST = {"model": "command-a-03-2025", "messages": [{"role": "user", "content": "Refund?"}]}
ATTEMPTS = []


def chat(url):
    with httpx.Client() as client:
        return client.post(url, json=REQUEST).json()


def stream(url):
    with httpx.Client() as client:
        with client.stream("POST", url, json={**REQUEST, "stream": True}) as response:
            return b"".join(response.iter_bytes())


@pytest.mark.flaky(reruns=1)
def test_flaky_chat(cohere_url):
    chat(cohere_url)
    ATTEMPTS.append(1)
    assert len(ATTEMPTS) > 1  # the first attempt fails after its call: both attempts spent


def test_captured_and_observed(cohere_url, token_tracker):
    token_tracker.observe(chat(cohere_url))  # the same response as the captured one


@pytest.mark.token_budget(max_tokens=50)
def test_two_streams_cross_the_marker_budget(cohere_url):
    stream(cohere_url)
    stream(cohere_url)


def test_a_step_budget(cohere_url, token_tracker):
    with token_tracker.step("answer", max_tokens=40):
        chat(cohere_url)


def test_uncaptured_clients(groq_url):
    import aiohttp

    body = json.dumps({"model": "llama-3.3-70b-versatile", "messages": []}).encode()
    request = urllib.request.Request(groq_url, data=body, method="POST")
    with urllib.request.urlopen(request) as response:
        response.read()

    async def post():
        async with aiohttp.ClientSession() as session:
            async with session.post(groq_url, data=body) as response:
                return await response.read()

    asyncio.run(post())
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_cohere_and_uncaptured_clients_with_reruns_budgets_and_observe(
    plugin_pytester: pytest.Pytester, workers: str
) -> None:
    # Cohere's billed units through classic httpx (its SDK's transport) under --cost-capture, in
    # combination: a rerun, observe() of a captured response, a marker budget crossed by two
    # streams, a step budget, a session budget, and calls through urllib.request and aiohttp to
    # an LLM host (named once each, never recorded); serial and under xdist.
    pytest.importorskip("aiohttp", reason="aiohttp is a test dependency")
    from .test_cohere import CONFTEST as COHERE_CONFTEST
    from .test_cohere import V2_RESPONSE, V2_STREAM
    from .test_cohere import _oracle as cohere_oracle
    from .test_uncaptured import _message as uncaptured_message

    conftest = COHERE_CONFTEST % {"response": repr(V2_RESPONSE), "stream": V2_STREAM}
    plugin_pytester.makeconftest(conftest + COHERE_GROQ_HOST)
    plugin_pytester.makepyfile(test_cohere_mix=COHERE_SUITE)
    result = plugin_pytester.runpytest_subprocess(
        *PYTEST_ARGS, "--cost-capture", "--cost-budget-tokens=10000", "-n", workers
    )
    outcomes = result.parseoutcomes()
    assert {k: outcomes.get(k, 0) for k in ("passed", "failed", "rerun")} == {
        "passed": 3,
        "failed": 2,
        "rerun": 1,
    }
    for crossed in (
        "test test_cohere_mix.py::test_two_streams_cross_the_marker_budget spent 64 of its 50 "
        "tokens budget",
        "step answer spent 84 of its 40 tokens budget",
    ):
        result.stdout.fnmatch_lines([f"*TokenBudgetExceeded: token budget exceeded: {crossed}"])
    out = plugin_pytester.path / ".tokencost"
    report = json.loads((out / "token-report.json").read_text())
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    seen = sorted(
        (r["test_id"].split("::")[1], r["attempt"], r["usage"]["input"], r["usage"]["output"])
        for r in records
    )
    assert seen == [
        ("test_a_step_budget", 1, 23, 61),
        ("test_captured_and_observed", 1, 23, 61),
        ("test_flaky_chat", 1, 23, 61),
        ("test_flaky_chat", 2, 23, 61),
        ("test_two_streams_cross_the_marker_budget", 1, 23, 9),
        ("test_two_streams_cross_the_marker_budget", 1, 23, 9),
    ]
    assert {(r["provider"], r["model"], r["provenance"]) for r in records} == {
        ("cohere", "command-a-03-2025", "reported")
    }
    chat_cost = cohere_oracle("command-a-03-2025", (23, 61))
    stream_cost = cohere_oracle("command-a-03-2025", (23, 9))
    assert chat_cost is not None and stream_cost is not None
    assert sorted(r["cost_micro_usd"] for r in records) == sorted(
        [chat_cost] * 4 + [stream_cost] * 2
    )
    totals = report["summary"]["totals"]
    assert totals["cost_micro_usd"] == 4 * chat_cost + 2 * stream_cost
    assert report["duplicates_dropped"] == 1
    assert sorted((b["scope"], b["used"], b["limit"], b["status"]) for b in report["budgets"]) == [
        ("session", 4 * 84 + 2 * 32, 10_000, "ok"),
        ("step answer", 84, 40, "exceeded"),
        ("test test_cohere_mix.py::test_two_streams_cross_the_marker_budget", 64, 50, "exceeded"),
    ]
    assert sorted(w for w in report["warnings"] if w.startswith("capture:")) == [
        uncaptured_message("api.groq.com", "aiohttp", "groq"),
        uncaptured_message("api.groq.com", "urllib.request", "groq"),
    ]
