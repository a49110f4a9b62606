"""The `tokencost` command imports genai-prices without its price-update machinery (an HTTP
client, asyncio) loaded up front; those modules still work for anyone who uses them."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from pytest_tokencost.genai_table import defer_update_modules

assert defer_update_modules() == ["httpx2", "asyncio"]
import genai_prices
# Nothing of the HTTP client or of asyncio ran.
assert not [name for name in sys.modules if name.startswith(("httpx2.", "asyncio."))]

from datetime import UTC, datetime
from pytest_tokencost.pricing import Pricer
from pytest_tokencost.records import Usage
price = Pricer().price("gpt-4o", "openai", Usage(input=1_000_000, output=0), datetime.now(UTC))
assert price.total_micro_usd == 2_500_000, price

# First use imports the real modules, which then take their place.
import httpx2
assert httpx2.Timeout(3).read == 3
import httpx2 as again
assert type(again).__name__ == "module" and again.Timeout is httpx2.Timeout
assert genai_prices.update_prices.httpx2.Timeout is again.Timeout
from httpx2 import Client
assert Client is again.Client
import asyncio.events
import asyncio
assert asyncio.run(asyncio.sleep(0, result=7)) == 7
assert sys.modules["asyncio"].run is asyncio.run
print("ok")
"""


def _run(script: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_genai_prices_loads_without_its_update_client_and_the_client_still_works() -> None:
    assert _run(SCRIPT) == "ok"


def test_modules_already_imported_are_left_as_they_are() -> None:
    script = (
        "import httpx2\n"
        "from pytest_tokencost.genai_table import defer_update_modules\n"
        "assert defer_update_modules() == ['asyncio']\n"
        "import genai_prices\n"
        "assert genai_prices.update_prices.httpx2 is httpx2\n"
        "assert defer_update_modules() == []\n"
        "print('ok')\n"
    )
    assert _run(script) == "ok"
