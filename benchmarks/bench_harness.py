"""Harness overhead per step with the stub adapter, against calling the adapter directly.

The baseline loop asks the stub's dispatcher for every (case, step) artifact and builds each
prompt, as any caller would; the harness additionally counts and records tokens, times and
scores each step and keeps the case results.

    python benchmarks/bench_harness.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from calibrate.adapters import AdapterContext, StubAdapter
from calibrate.dispatch import DispatchRequest
from calibrate.runner import RunConfig, run_case
from calibrate.scenario import load_scenario
from pytest_tokencost import InMemoryTokenTracker

SCENARIO = Path(__file__).resolve().parents[1] / "fixtures" / "ptp-mock"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    scenario = load_scenario(SCENARIO)
    adapter = StubAdapter()
    context = AdapterContext(scenario=scenario)
    dispatcher = adapter.dispatcher(context)
    steps = len(scenario.cases) * len(scenario.steps)

    def direct() -> None:
        for case in scenario.cases:
            artifacts: dict[str, str] = {}
            for step in scenario.steps:
                prompt = scenario.prompt(case, step, artifacts)
                request = DispatchRequest(scenario.id, case.id, step.name, prompt)
                artifacts[step.name] = dispatcher.dispatch(request).artifact

    def harness() -> None:
        config = RunConfig(scenario=scenario, adapter=adapter, context=context)
        for case in scenario.cases:
            run_case(config, case, InMemoryTokenTracker(test_id=case.id))

    harness()  # warm up (imports, tokenizer caches)
    best = dict.fromkeys(("direct", "harness"), float("inf"))
    for _ in range(args.rounds):  # alternating, so a noisy spell hits both alike
        for name, func in (("direct", direct), ("harness", harness)):
            started = time.perf_counter()
            func()
            best[name] = min(best[name], (time.perf_counter() - started) / steps)
    added = best["harness"] - best["direct"]
    print(f"ptp-mock, {steps} steps a round, best of {args.rounds} rounds, per step:")
    print(f"  adapter called directly: {best['direct'] * 1e6:8.1f} us  (baseline)")
    print(
        f"  through the harness:     {best['harness'] * 1e6:8.1f} us  = "
        f"{best['harness'] / best['direct']:.1f}x baseline, +{added * 1e6:.1f} us a step"
    )


if __name__ == "__main__":
    main()
