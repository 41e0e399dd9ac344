"""ChildServer: a server in a child process on a loopback port, with a scratch folder.

What the real Keystone, masakari-api and Nova test servers share: the child runs in
its own session (so stopping it stops its workers too), its files live in a temporary
folder removed on close (kept when ``keep_logs_env`` is set), and failures quote the
tail of its logs.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Self, TypeVar

from rhworker.errors import RhworkerError

T = TypeVar("T")


def stop_process_group(proc: subprocess.Popen[bytes], term_timeout: float) -> None:
    """SIGTERM ``proc``'s session, SIGKILL it after ``term_timeout`` s; close its stdout."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=term_timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


class ChildServer:
    """Base of the child-process servers: ``dir``, ``proc``, ``port``, ``url``, close."""

    name: ClassVar[str] = "server"  # in error messages
    error: ClassVar[type[RhworkerError]] = RhworkerError
    log_names: ClassVar[tuple[str, ...]] = ()  # files in ``dir`` that log_tail reads
    keep_logs_env: ClassVar[str] = ""
    term_timeout: ClassVar[float] = 10.0

    def __init__(self, *, prefix: str, startup_timeout: float) -> None:
        self.startup_timeout = startup_timeout
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.startup_s = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process_group(proc, self.term_timeout)
        if not (self.keep_logs_env and os.environ.get(self.keep_logs_env)):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for name in self.log_names:
            try:
                text += (self.dir / name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
        return "\n".join(text.splitlines()[-lines:]) or "(no log)"

    def _read_stdout_until(self, deadline: float, parse: Callable[[bytes], T | None]) -> T:
        """Read the child's stdout until ``parse`` of all read so far gives a value."""
        assert self.proc is not None and self.proc.stdout is not None
        out, buf = self.proc.stdout, b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.error(f"{self.name} not ready in time; log:\n{self.log_tail()}")
            ready, _, _ = select.select([out], [], [], min(remaining, 0.5))
            if not ready:
                continue
            chunk = os.read(out.fileno(), 65536)
            if not chunk:
                self.proc.wait(timeout=5)
                raise self.error(
                    f"{self.name} exited with {self.proc.returncode} before ready; "
                    f"log:\n{self.log_tail()}"
                )
            buf += chunk
            found = parse(buf)
            if found is not None:
                return found
