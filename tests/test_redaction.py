"""Secrets never reach a terminal or a file: `redact` and `redact_argv` on realistic inputs.

The openai adapter's errors and the harness's end-to-end runs are checked in
tests/harness/test_adapter_redaction.py.
"""

from __future__ import annotations

import json

import pytest

from pytest_tokencost.redact import REDACTED, redact, redact_argv

# Not one of them is shaped like a known key: only the environment or the context finds them.
ENV_KEY = "live-9f8e7d6c5b4a39281706"  # OPENAI_API_KEY
URL_SECRET = "urlsecret-0123456789abcdef"  # ?api_key= in the base URL
SK_KEY = "sk-proj-Zx81Kq0LmN3bV7cT2yH5uJ9wE4rA6sD1fG8hJ0kL"

# -- redact: realistic inputs -----------------------------------------------------------------


def test_an_openai_401_body_loses_the_key_and_keeps_the_explanation() -> None:
    body = json.dumps(
        {
            "error": {
                "message": f"Incorrect API key provided: {SK_KEY}. You can find your API key "
                "at https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
        indent=4,
    )
    redacted = redact(body)
    assert SK_KEY not in redacted
    assert "sk-proj" not in redacted  # no part of the key, not even its kind
    assert "Incorrect API key provided: [REDACTED]. You can find your API key at" in redacted
    assert '"code": "invalid_api_key"' in redacted
    assert json.loads(redacted)["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "POST https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash"
            ":generateContent?key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY failed: 400",
            "POST https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash"
            ":generateContent?key=[REDACTED] failed: 400",
        ),
        (  # a Gemini key outside any URL
            "API key not valid: AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
            "API key not valid: [REDACTED]",
        ),
        (
            "curl -H 'Authorization: Bearer sk-ant-api03-R2D2C3POr2d2c3poR2D2C3PO-AA' https://x",
            "curl -H 'Authorization: [REDACTED]' https://x",
        ),
        (
            '{"headers": {"x-api-key": "sk-ant-api03-R2D2C3POr2d2c3po", '
            '"authorization": "Basic dXNlcjpodW50ZXIy"}}',
            '{"headers": {"x-api-key": "[REDACTED]", "authorization": "[REDACTED]"}}',
        ),
        (
            "token rejected: bearer eyJhbGciOiJIUzI1NiJ9.e30.abc",
            "token rejected: bearer [REDACTED]",
        ),
        (
            "https://openrouter.ai/api/v1/chat/completions?model=x&access_token=abc123def456#top",
            "https://openrouter.ai/api/v1/chat/completions?model=x&access_token=[REDACTED]#top",
        ),
        (
            "https://bob:hunter2hunter2@proxy.corp:3128/v1",
            "https://bob:[REDACTED]@proxy.corp:3128/v1",
        ),
        (
            "OpenAI(api_key='sk-or-v1-0a1b2c3d4e5f6a7b', base_url=...)",
            "OpenAI(api_key='[REDACTED]', base_url=...)",
        ),
        (
            "export GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "export GITHUB_TOKEN=[REDACTED]",
        ),
    ],
)
def test_key_shapes_headers_and_url_parameters(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "case 'case-01' step 'triage': no done marker after 600s (found 212 bytes)",
        "task-force sk-learn max_tokens=4000 tokens=12 key_error",
        "https://api.openai.com/v1/chat/completions?model=gpt-4o",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_environment_secrets_are_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"proxy said: bad credentials {ENV_KEY} for user"
    monkeypatch.delenv("MY_SERVICE_API_KEY", raising=False)
    assert redact(text) == text  # not a known shape, not in the environment
    monkeypatch.setenv("MY_SERVICE_API_KEY", ENV_KEY)
    assert redact(text) == "proxy said: bad credentials [REDACTED] for user"
    monkeypatch.setenv("MY_SERVICE_API_KEY", "other-value-1234")  # changed: the new one counts
    assert redact(text) == text
    assert redact("x other-value-1234 y") == "x [REDACTED] y"


@pytest.mark.parametrize("name", ["HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "apikey"])
def test_credential_like_names(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "0123456789abcdef")
    assert redact("got 0123456789abcdef") == "got [REDACTED]"


def test_short_or_innocent_environment_values_are_not_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI_JOB_TOKEN", "true")  # shorter than 8: would redact noise
    monkeypatch.setenv("OPENAI_BASE_URL", "localhost-proxy")  # not a credential's name
    assert redact("true localhost-proxy") == "true localhost-proxy"


def test_a_longer_secret_containing_a_shorter_one_goes_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("A_TOKEN", "abcdefgh")
    monkeypatch.setenv("B_TOKEN", "abcdefgh-and-more")
    assert redact("abcdefgh-and-more|abcdefgh") == "[REDACTED]|[REDACTED]"


def test_argv_loses_urls_secrets_and_the_values_of_secret_flags() -> None:
    argv = [
        "-m",
        "calibration",
        "--adapter=openai",
        f"--openai-base-url=https://x/v1?api_key={URL_SECRET}&api-version=2024-06-01",
        "--api-key",
        "whatever-it-looks-like",
        "--auth-token=t0k",
        "--cost-budget-tokens",
        "4000",
        f"Authorization: Bearer {SK_KEY}",
    ]
    assert redact_argv(argv) == [
        "-m",
        "calibration",
        "--adapter=openai",
        "--openai-base-url=https://x/v1?api_key=[REDACTED]&api-version=2024-06-01",
        "--api-key",
        REDACTED,
        "--auth-token=[REDACTED]",
        "--cost-budget-tokens",
        "4000",
        "Authorization: [REDACTED]",
    ]
