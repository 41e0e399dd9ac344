"""``rhworker demo --workers 6 --failures 10`` passes on 20 seeds in a row (issue 16).

The demo's own scenario code on an in-process simulator with Nova's costs off and
the 6 workers as threads (benchmarks/demo_seeds.py says what is cheaper and why); a
full run of the real command per seed is ``python3 -m benchmarks.demo_seeds --full``.
Ten of the demo cloud's fourteen hosts fail: every segment is past the brake's 50 %,
and the demo resumes it as an operator would.
"""

from __future__ import annotations

import time

import pytest

from benchmarks.demo_seeds import CHEAP_SIM, run_seed_cheap
from rhworker.testing.sim_fixture import running_simulator

pytestmark = pytest.mark.integration

SEEDS = range(1, 21)


def test_demo_6_workers_10_failures_passes_on_20_seeds() -> None:
    started = time.monotonic()
    results = []
    with running_simulator(None, **CHEAP_SIM) as sim:
        for seed in SEEDS:
            result = run_seed_cheap(seed, sim=sim, workers=6, failures=10)
            print(f"seed {seed}: {result.seconds:.1f}s {result.verdict}")
            results.append(result)
    failed = [(r.seed, r.verdict, r.output[-3000:]) for r in results if not r.passed]
    assert not failed, failed
    for r in results:
        assert "mass-failure brake" in r.output and "the demo resumes it" in r.output, r.seed
    print(f"20 seeds in {time.monotonic() - started:.0f}s")
