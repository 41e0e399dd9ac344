"""``rhworker demo --workers N --failures F --seed S`` over many seeds, cheaply.

The same scenario as the demo — its cloud, each seed's random choice of failed hosts,
the evacuation made to fail once, the VM and PROCESS extras, the brake released as an
operator would, the invariants and the verdict — run by the demo's own code
(:func:`rhworker.cli.demo._run`), with three costs taken out:

* the simulator runs in this process, one for every seed (the cloud is loaded again
  for each), with Nova's costs off (no time per request or per evacuation phase);
* the N workers are threads of this process, built from the same configuration as
  ``rhworker pool`` workers (no interpreter start and import per worker);
* worker timings are those of the test deployments (``FAST_WORKER``: retries from
  0.2 s instead of 1 s), so the notification that runs out of spares gives up sooner;
  the correlation window is 1 s instead of 5 s (the demo's reports all arrive within
  milliseconds: every one is accepted, and its host forced down, long before either).

Everything else — store (SQLite), file locks, the brake's defaults — is as in the
demo. ``python3 -m benchmarks.demo_seeds --seeds 1-20``
runs them and prints a line per seed; ``--full`` runs the real ``rhworker demo``
command instead, one process tree per seed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

from rhworker.supervisor import rhworker_command

# Simulator options of the cheap runs: Nova's costs off.
CHEAP_SIM = {
    "evacuation_time": 0.05,
    "request_cost": 0.0,
    "write_request_cost": 0.0,
    "shared_capacity": 0.0,
    "disable_rpc_delay": 5.0,  # as the demo: a disable before the force-down costs
}

# The demo accepts its ten reports within milliseconds of each other: a one-second
# correlation window sees them all, as the default five seconds does.
CORRELATION_WINDOW = 1.0


@dataclasses.dataclass
class SeedResult:
    seed: int
    code: int  # the demo's exit status: 0 = PASS
    verdict: str
    seconds: float
    output: str

    @property
    def passed(self) -> bool:
        return self.code == 0 and self.verdict.startswith("VERDICT: PASS")


def _verdict(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("VERDICT:")]
    return lines[-1] if lines else "no verdict"


@contextlib.contextmanager
def _worker_threads(deployment: Any, count: int) -> Iterator[None]:
    """``count`` long-running workers of ``deployment`` as threads (as a pool runs them
    as processes). Like :class:`rhworker.deployment.WorkerThreads`, but closed all at
    once: each coordinator's stop waits up to a second for its heartbeat."""
    built = [deployment.build_worker() for _ in range(count)]
    with contextlib.ExitStack() as entered:
        for worker in built:
            entered.enter_context(worker)
        entered.pop_all()
    threads = [threading.Thread(target=w.run, name=w.worker_id, daemon=True) for w in built]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for worker in built:
            worker.stop()
        for thread in threads:
            thread.join(30)
        closers = [threading.Thread(target=w.close) for w in built]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join(30)


def run_seed_cheap(
    seed: int, *, sim: Any, workers: int = 6, failures: int = 10, timeout: float = 120.0
) -> SeedResult:
    """One demo run of ``seed`` on the running in-process simulator ``sim``."""
    from rhworker.cli.demo import _disable_reason, _run
    from rhworker.cli.demo.scenario import demo_cloud
    from rhworker.deployment import Deployment
    from rhworker.sim.control import SimControl

    spec = demo_cloud()
    control = SimControl(sim.url)
    control.load_cloud(spec)
    state_dir = tempfile.mkdtemp(prefix=f"rhworker-demo-{seed}-")
    args = argparse.Namespace(
        failures=failures,
        seed=seed,
        no_extra=False,
        plain=True,
        timeout=timeout,
        workers=workers,
        external_workers=False,
        api_url=None,  # reports go into the store, as the demo does without --via-api
        via_api=False,
    )
    started = time.monotonic()
    out = io.StringIO()
    deployment = Deployment(
        control.compute_url,
        state_dir=state_dir,
        options={"host_failure": {"correlation_window": CORRELATION_WINDOW}},
    )
    try:
        with _worker_threads(deployment, workers), contextlib.redirect_stdout(out):
            code = _run(
                args,
                spec,
                deployment.store,
                control,
                started,
                state_dir,
                _disable_reason(deployment.conf()),
            )
    finally:
        deployment.close()
        shutil.rmtree(state_dir, ignore_errors=True)
    output = out.getvalue()
    return SeedResult(seed, code, _verdict(output), time.monotonic() - started, output)


def run_seed_full(
    seed: int, *, workers: int = 6, failures: int = 10, timeout: float = 300.0
) -> SeedResult:
    """The real ``rhworker demo`` command for ``seed`` (simulator and pool processes)."""
    started = time.monotonic()
    cmd = [*rhworker_command(), "demo", "--plain", "--workers", str(workers)]
    cmd += ["--failures", str(failures), "--seed", str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    return SeedResult(seed, proc.returncode, _verdict(output), time.monotonic() - started, output)


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--seeds", default="1-20", help="a seed or a range A-B (default 1-20)")
    p.add_argument("--workers", type=int, default=6)
    p.add_argument("--failures", type=int, default=10)
    p.add_argument("--full", action="store_true", help="run the real 'rhworker demo' command")
    p.add_argument("--keep-output", metavar="DIR", help="write a failed seed's output here")
    args = p.parse_args(argv)
    results = []
    with contextlib.ExitStack() as stack:
        sim = None
        if not args.full:
            from rhworker.testing.sim_fixture import running_simulator

            sim = stack.enter_context(running_simulator(None, **CHEAP_SIM))
        for seed in _seeds(args.seeds):
            if args.full:
                result = run_seed_full(seed, workers=args.workers, failures=args.failures)
            else:
                result = run_seed_cheap(seed, sim=sim, workers=args.workers, failures=args.failures)
            results.append(result)
            print(f"seed {seed:3d}: {result.seconds:6.1f}s  {result.verdict}", flush=True)
            if not result.passed and args.keep_output:
                path = os.path.join(args.keep_output, f"demo-seed-{seed}.txt")
                with open(path, "w") as f:
                    f.write(result.output)
                print(f"          output in {path}", flush=True)
    failed = [r.seed for r in results if not r.passed]
    total = sum(r.seconds for r in results)
    print(f"{len(results) - len(failed)}/{len(results)} passed in {total:.0f}s; failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
