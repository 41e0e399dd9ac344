"""``command``: fence with an operator's script.

``[fencing] command = /usr/local/bin/fence-host --host {host}``: the line is split
like a shell line (no shell runs it) and ``{host}`` is replaced by the failed host's
name. The script also gets ``RHWORKER_FENCE_HOST`` and
``RHWORKER_CONTROL_ATTRIBUTES`` (the host's control_attributes, verbatim) in its
environment. Exit status 0 means: the host is fenced and powered off. Any other
status, or running past ``[fencing] timeout`` (the script is killed), fails the
fence; its stdout and stderr (the tail) go into the notification's history.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

from rhworker.errors import ConfigError, FencingError, FencingTimeout
from rhworker.fencing.base import FenceRequest, FenceResult, FencingDriver

# How much of the script's output is kept in the history message.
OUTPUT_TAIL = 500


def _tail(data: bytes | str | None) -> str:
    if data is None:
        return ""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return text if len(text) <= OUTPUT_TAIL else "…" + text[-OUTPUT_TAIL:]


def _output(stdout: bytes | str | None, stderr: bytes | str | None) -> str:
    parts = [f"{label}: {_tail(data)}" for label, data in (("stdout", stdout), ("stderr", stderr))]
    return "; ".join(p for p in parts if not p.endswith(": "))


class CommandFencing(FencingDriver):
    confirms_power_off = True

    def argv(self, hostname: str) -> list[str]:
        line = self.options.command.strip()
        if not line:
            raise ConfigError("[fencing] driver = command needs [fencing] command")
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise ConfigError(f"[fencing] command cannot be split: {e}") from e
        return [w.replace("{host}", hostname) for w in words]

    def check(self) -> None:
        argv = self.argv("check")
        if os.sep in argv[0]:
            if not os.access(argv[0], os.X_OK):
                raise ConfigError(f"[fencing] command: {argv[0]} is not an executable file")
        elif shutil.which(argv[0]) is None:
            raise ConfigError(f"[fencing] command: {argv[0]} is not on the PATH")

    def fence(self, request: FenceRequest) -> FenceResult:
        host = request.host
        try:
            argv = self.argv(host.name)
        except ConfigError as e:
            raise FencingError(str(e)) from e
        env = dict(os.environ)
        env["RHWORKER_FENCE_HOST"] = host.name
        env["RHWORKER_CONTROL_ATTRIBUTES"] = host.control_attributes or ""
        timeout = self.options.timeout
        request.guard()
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            out = _output(e.stdout, e.stderr)
            raise FencingTimeout(
                f"{argv[0]} did not finish within {timeout:g} s (killed)"
                + (f"; {out}" if out else "")
            ) from e
        except OSError as e:
            raise FencingError(f"cannot run {argv[0]}: {e}") from e
        out = _output(done.stdout, done.stderr)
        if done.returncode != 0:
            raise FencingError(f"{argv[0]} exited {done.returncode}" + (f"; {out}" if out else ""))
        return FenceResult(
            host.name,
            self.name,
            True,
            f"{argv[0]} exited 0 (fenced, powered off)" + (f"; {out}" if out else ""),
        )
