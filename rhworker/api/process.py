"""Run ``rhworker api`` as a child process on a free loopback port (the demo, tests).

``running_api(conf_path)`` starts ``rhworker --config-file CONF api --port 0``, waits
for the URL it prints, yields it (``http://127.0.0.1:PORT/v1``) and stops the process.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Iterator

from rhworker.errors import RhworkerError
from rhworker.supervisor import rhworker_command

# Seconds ``rhworker api`` may take to print its URL (imports, store, policy).
DEFAULT_START_TIMEOUT = 30.0


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            break
        if selector.select(min(left, 0.5)):
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
    selector.close()
    if b"\n" not in buffer:
        raise RhworkerError(f"rhworker api printed no URL within {timeout:g} s")
    return buffer.split(b"\n", 1)[0].decode().strip()


@contextlib.contextmanager
def running_api(
    conf_path: str,
    *extra: str,
    log_path: str | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
) -> Iterator[str]:
    """``rhworker api`` with ``conf_path`` (and ``extra`` arguments of ``api``); yields
    its ``/v1`` URL. Its stderr goes to ``log_path`` (default: discarded)."""
    cmd = [*rhworker_command(), "--config-file", conf_path, "api", "--port", "0", *extra]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    try:
        yield _first_line(proc, timeout)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        if log is not subprocess.DEVNULL:
            log.close()  # type: ignore[union-attr]
