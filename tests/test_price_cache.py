"""genai-prices' resolved models kept in `price-cache.json`: a later run prices exactly as
genai-prices does without importing it, and a cache that cannot be trusted is not used.

The identity check reuses `test_pricing_identity`'s models (long-context tiers, dated price
changes, time-of-day prices, 1-hour cache writes, web searches) and random requests, priced
once by a pricer that fills the cache and once by a fresh pricer that reads it.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import genai_prices

from pytest_tokencost import Usage
from pytest_tokencost.genai_table import genai_usage_counts
from pytest_tokencost.price_cache import CACHE_NAME, FORMAT, PriceCache
from pytest_tokencost.pricing import Pricer, to_micro_usd
from tests.test_pricing_identity import MODELS, _random_usage

START = datetime(2025, 1, 1, tzinfo=UTC)


def _requests(count: int) -> list[tuple[str, str | None, Usage, datetime]]:
    rng = random.Random(1123)
    return [
        (
            *rng.choice(MODELS),
            _random_usage(rng),
            START + timedelta(seconds=rng.randint(0, 3 * 365 * 86_400)),
        )
        for _ in range(count)
    ]


def test_a_warm_cache_prices_as_genai_prices(tmp_path: Path) -> None:
    requests = _requests(3_000)
    filling = Pricer(cache=PriceCache(tmp_path))
    for model, provider, usage, when in requests:
        filling.price(model, provider, usage, when)
    kept = json.loads((tmp_path / CACHE_NAME).read_text(encoding="utf-8"))
    assert kept["format"] == FORMAT
    # dated prices (opus-4-6) are kept with their start dates; time-of-day ones (deepseek) not
    assert any(p["from"] for p in kept["models"]["anthropic\tclaude-opus-4-6"]["prices"])
    assert "deepseek\tdeepseek-chat" not in kept["models"]

    cache = PriceCache(tmp_path)
    reading = Pricer(cache=cache)
    for model, provider, usage, when in requests:
        price = reading.price(model, provider, usage, when)
        calc = genai_prices.calc_price(
            genai_prices.Usage(**genai_usage_counts(usage)),
            model,
            provider_id=provider,
            genai_request_timestamp=when,
        )
        expected = (
            to_micro_usd(calc.total_price * 1_000_000),
            to_micro_usd(calc.input_price * 1_000_000),
        )
        assert (price.total_micro_usd, price.input_micro_usd) == expected, (model, usage, when)
        assert price.priced_as == f"{calc.provider.id}:{calc.model.id}"
    known, _ = cache.lookup("anthropic", "claude-opus-4-6")
    assert known


def test_unknown_models_are_kept_as_unknown(tmp_path: Path) -> None:
    usage = Usage(input=1_000, output=10)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert (
        Pricer(cache=PriceCache(tmp_path))
        .price("no-such-model-x", None, usage, when)
        .total_micro_usd
        is None
    )
    cache = PriceCache(tmp_path)
    assert cache.lookup(None, "no-such-model-x") == (True, None)
    assert Pricer(cache=cache).price("no-such-model-x", None, usage, when).total_micro_usd is None


def test_a_warm_cache_never_imports_genai_prices(tmp_path: Path) -> None:
    """In a new process, pricing models the cache knows leaves genai-prices unimported."""
    when = datetime(2026, 1, 1, tzinfo=UTC)
    Pricer(cache=PriceCache(tmp_path)).price(
        "claude-sonnet-4-5", "anthropic", Usage(input=10, output=1), when
    )
    script = f"""
import sys
from datetime import UTC, datetime
from pathlib import Path
from pytest_tokencost import Usage
from pytest_tokencost.price_cache import PriceCache
from pytest_tokencost.pricing import Pricer
price = Pricer(cache=PriceCache(Path({str(tmp_path)!r}))).price(
    "claude-sonnet-4-5", "anthropic", Usage(input=250_000, output=1_000, cache_write=1_000,
    cache_write_1h=500), datetime(2026, 1, 1, tzinfo=UTC))
print(price.total_micro_usd, "genai_prices" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    calc = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=250_000,
            output_tokens=1_000,
            cache_write_tokens=1_000,
            cache_write_1h_tokens=500,
        ),
        "claude-sonnet-4-5",
        provider_id="anthropic",
        genai_request_timestamp=when,
    )
    assert out.stdout.split() == [str(to_micro_usd(calc.total_price * 1_000_000)), "False"]


_OVERRIDE_SCRIPT = """
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from pytest_tokencost import Usage
from pytest_tokencost.price_cache import PriceCache
from pytest_tokencost.pricing import Pricer, Rate
rate = Rate(input_mtok=Decimal(1), output_mtok=Decimal(2))
pricer = Pricer({{"gpt-4o": rate, "in-house-7b": rate}}, cache=PriceCache(Path({folder!r})))
when = datetime(2026, 1, 1, tzinfo=UTC)
for model in ({models}):
    price = pricer.price(model, "openai", Usage(input=1_000, output=10), when)
    print(price.total_micro_usd, price.priced_as)
print("genai_prices" in sys.modules)
"""


def test_an_override_found_by_resolution_needs_no_genai_prices_with_a_warm_cache(
    tmp_path: Path,
) -> None:
    """An exact override key never resolves the name; a dated name resolves through the cache."""
    when = datetime(2026, 1, 1, tzinfo=UTC)
    Pricer(cache=PriceCache(tmp_path)).price(
        "gpt-4o-2024-08-06", "openai", Usage(input=1, output=1), when
    )
    cold = tmp_path / "cold"
    cold.mkdir()
    # $1/$2 per MTok: 1,000 + 20 micro-USD, whichever key matched.
    for folder, models, priced, imported in (
        # exact keys: nothing resolved, so nothing imported even with no cache
        (cold, "'in-house-7b', 'gpt-4o'", ["1020 in-house-7b", "1020 gpt-4o"], "False"),
        # the dated name resolved to gpt-4o from price-cache.json
        (tmp_path, "'gpt-4o-2024-08-06',", ["1020 gpt-4o"], "False"),
        # the same resolved by genai-prices itself
        (cold, "'gpt-4o-2024-08-06',", ["1020 gpt-4o"], "True"),
    ):
        script = _OVERRIDE_SCRIPT.format(folder=str(folder), models=models)
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        assert out.stdout.splitlines() == [*priced, imported]


def test_a_damaged_or_foreign_cache_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / CACHE_NAME
    usage = Usage(input=1_000, output=10)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    right = Pricer().price("gpt-4o", "openai", usage, when)
    for text in (
        "{not json",
        json.dumps({"format": FORMAT, "genai_prices_version": "0.0.0", "models": {}}),
        json.dumps({"format": FORMAT + 1, "genai_prices_version": genai_prices.__version__}),
        "\x00\x01binary",
    ):
        path.write_text(text, encoding="utf-8")
        cache = PriceCache(tmp_path)
        assert cache.lookup("openai", "gpt-4o") == (False, None)
        assert Pricer(cache=cache).price("gpt-4o", "openai", usage, when) == right
        # rewritten for the installed genai-prices, the resolved model in it
        assert "openai\tgpt-4o" in json.loads(path.read_text(encoding="utf-8"))["models"]


def test_a_folder_that_cannot_be_written_keeps_no_cache(tmp_path: Path) -> None:
    missing = tmp_path / "not-made"
    price = Pricer(cache=PriceCache(missing)).price(
        "gpt-4o", "openai", Usage(input=1_000, output=10), datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert price.total_micro_usd is not None
    assert not missing.exists()


def test_a_linked_cache_is_not_read(tmp_path: Path) -> None:
    """A `price-cache.json` that is a link is not followed: resolved anew, the link replaced."""
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(
        json.dumps(
            {
                "format": FORMAT,
                "genai_prices_version": genai_prices.__version__,
                "models": {"openai\tgpt-4o": None},  # would make gpt-4o unknown
            }
        ),
        encoding="utf-8",
    )
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / CACHE_NAME).symlink_to(elsewhere)
    cache = PriceCache(folder)
    assert cache.lookup("openai", "gpt-4o") == (False, None)
    price = Pricer(cache=cache).price(
        "gpt-4o", "openai", Usage(input=1_000, output=10), datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert price.total_micro_usd is not None
    assert not (folder / CACHE_NAME).is_symlink()
    assert json.loads(elsewhere.read_text(encoding="utf-8"))["models"] == {"openai\tgpt-4o": None}
