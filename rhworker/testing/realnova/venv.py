"""The cached virtualenv that holds real Nova for the realnova test tier.

Nova 34 with Placement and its functional-test harness need pins that clash with
rhworker's, so they live in a virtualenv of their own, built from ``requirements.txt``
next to this file. The default place is ``~/.cache/rhworker/nova-venv-<hash>`` (the hash
of ``requirements.txt``, so changing a pin builds a new one); the environment variable
``RHWORKER_NOVA_VENV`` overrides it.

The virtualenv is built in a temporary directory beside its final place and renamed
into place only when ``pip`` has finished and a marker file is written, so a half-built
virtualenv is never used. A file lock keeps two builders from racing. It is run with
``<venv>/bin/python`` only (the console scripts' shebangs name the temporary path).

    python3 -m rhworker.testing.realnova.venv     # prebuild (CI does this)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rhworker.errors import RhworkerError

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
ENV_VENV = "RHWORKER_NOVA_VENV"
# Set to 0 to never build on demand (the tier is then available only if prebuilt).
ENV_BUILD = "RHWORKER_REALNOVA_BUILD"
MARKER = ".rhworker-nova-venv"
BUILD_TIMEOUT = 900.0


class VenvError(RhworkerError):
    """The Nova virtualenv could not be built."""


def requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]


def venv_path() -> Path:
    override = os.environ.get(ENV_VENV)
    if override:
        return Path(override).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "rhworker" / f"nova-venv-{requirements_hash()}"


def venv_python(path: Path | None = None) -> Path:
    return (path or venv_path()) / "bin" / "python"


def is_built(path: Path | None = None) -> bool:
    path = path or venv_path()
    marker = path / MARKER
    return venv_python(path).exists() and marker.exists()


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cmd: list[str], log: Path, timeout: float) -> None:
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        try:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise VenvError(f"{cmd[0]} timed out after {timeout:.0f}s (log: {log})") from e
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise VenvError(
            f"{' '.join(cmd[:4])} failed with {proc.returncode} (log: {log}):\n" + "\n".join(tail)
        )


def ensure_venv(path: Path | None = None, *, timeout: float = BUILD_TIMEOUT) -> Path:
    """Build the virtualenv unless it is already built; return its path."""
    path = path or venv_path()
    if is_built(path):
        return path
    with _build_lock(path):
        if is_built(path):  # another process built it while we waited
            return path
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.build-", dir=path.parent))
        log = path.parent / f"{path.name}.build.log"
        log.write_text("")
        deadline = time.monotonic() + timeout
        try:
            _run([sys.executable, "-m", "venv", str(tmp)], log, timeout)
            py = str(venv_python(tmp))
            _run(
                [
                    py,
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--retries",
                    "2",
                    "--timeout",
                    "30",
                    "-q",
                    "-r",
                    str(REQUIREMENTS),
                ],
                log,
                max(1.0, deadline - time.monotonic()),
            )
            # The harness must import: a venv that installs but cannot start Nova is
            # not built.
            _run([py, "-c", "import nova.tests.functional.integrated_helpers"], log, 120)
            (tmp / MARKER).write_text(requirements_hash() + "\n")
            if path.exists():  # a stale, unmarked leftover
                shutil.rmtree(path)
            os.rename(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return path


def realnova_available(build: bool | None = None) -> str | None:
    """None when real Nova can run here, else why not.

    Builds the virtualenv on demand (once, cached) unless ``build`` is False or the
    environment says ``RHWORKER_REALNOVA_BUILD=0``.
    """
    path = venv_path()
    if is_built(path):
        return None
    if build is None:
        build = os.environ.get(ENV_BUILD, "1").lower() not in ("0", "false", "no")
    if not build:
        return (
            f"real Nova virtualenv not built at {path} "
            "(run: python3 -m rhworker.testing.realnova.venv)"
        )
    try:
        ensure_venv(path)
    except (VenvError, OSError) as e:
        return f"cannot build the real Nova virtualenv at {path}: {e}"
    return None


def main() -> int:
    path = venv_path()
    if is_built(path):
        print(f"real Nova virtualenv ready: {path}")
        return 0
    start = time.monotonic()
    print(f"building the real Nova virtualenv at {path} ...", flush=True)
    try:
        ensure_venv(path)
    except VenvError as e:
        print(str(e), file=sys.stderr)
        return 1
    print(f"real Nova virtualenv ready: {path} ({time.monotonic() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
