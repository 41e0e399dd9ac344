"""One real worker process, wired exactly as ``rhworker worker`` (same config file,
same ``build_worker``), with its store wrapped in a :class:`CountingStore`.

    python -m benchmarks.worker_proc --config-file C --counts-out F [--concurrency N]

Writes ``F.ready`` once it consumes, and the per-method store call counts to ``F``
when it stops (SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from types import FrameType

from benchmarks.counting import CountingStore
from rhworker import conf as rconf
from rhworker.logs import setup_logging
from rhworker.wiring import build_worker

LOG = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--counts-out", required=True)
    parser.add_argument("--concurrency", type=int)
    args = parser.parse_args(argv)
    setup_logging()
    conf = rconf.load(config_files=[args.config_file])
    if args.concurrency:
        conf.set_override("concurrency", args.concurrency, group="worker")
    worker = build_worker(conf)
    counting = CountingStore(worker.store)
    worker.store = counting  # type: ignore[assignment]

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        with worker:
            with open(args.counts_out + ".ready", "w") as f:
                f.write("ready\n")
            worker.run()
    finally:
        with open(args.counts_out, "w") as f:
            json.dump(dict(counting.counts), f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
