"""Cached virtualenvs for test tiers whose pins clash with rhworker's.

A :class:`Recipe` names a ``requirements.txt`` and a check that the result works. Its
virtualenv lives in ``~/.cache/rhworker/<name>-venv-<hash>`` (the hash of the
requirements file, so changing a pin builds a new one) unless the recipe's
environment variable overrides the place.

The virtualenv is built in a temporary directory beside its final place and renamed
into place only when ``pip``, the recipe's check and its ``prepare`` step (templates
made once, copied by each test) have finished and a marker file is written, so a
half-built virtualenv is never used. A file lock keeps two builders from racing. It is
run with ``<venv>/bin/python`` only: the console scripts' shebangs name the temporary
path, so they are run as ``<venv>/bin/python <venv>/bin/<script>``
(:func:`script_command`).

The real-Nova, Masakari and Keystone tiers each declare one recipe
(:mod:`rhworker.testing.realnova.venv`, :mod:`rhworker.testing.masakari.venv`,
:mod:`rhworker.testing.keystone.venv`).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rhworker.errors import RhworkerError

MARKER = ".rhworker-venv"
DEFAULT_BUILD_TIMEOUT = 900.0  # s, pip included


class VenvError(RhworkerError):
    """A test virtualenv could not be built."""


#: ``run(cmd, timeout)`` as given to a recipe's ``prepare`` step (output to the build log)
Runner = Callable[[list[str], float], None]


@dataclass(frozen=True)
class Recipe:
    """What goes into one cached virtualenv."""

    name: str  # "masakari": the directory is <name>-venv-<hash>
    requirements: Path
    env_venv: str  # environment variable naming another place for it
    env_build: str  # set to 0 to never build on demand
    checks: tuple[str, ...]  # python snippets that must run in the built venv, each alone
    prepare: Callable[[Path, Runner], None] | None = None  # (venv, run): templates
    title: str = ""  # for messages: "Masakari"
    marker: str = MARKER  # the file written last: the venv is complete
    module: str = ""  # the prebuild module, default rhworker.testing.<name>.venv

    @property
    def label(self) -> str:
        return self.title or self.name


def requirements_hash(recipe: Recipe) -> str:
    return hashlib.sha256(recipe.requirements.read_bytes()).hexdigest()[:12]


def venv_path(recipe: Recipe) -> Path:
    override = os.environ.get(recipe.env_venv)
    if override:
        return Path(override).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "rhworker" / f"{recipe.name}-venv-{requirements_hash(recipe)}"


def venv_python(path: Path) -> Path:
    return path / "bin" / "python"


def script_command(path: Path, script: str) -> list[str]:
    """The command running console script ``script`` of the venv at ``path``."""
    return [str(venv_python(path)), str(path / "bin" / script)]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would leak rhworker into a venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(extra)
    return env


def is_built(path: Path, marker: str = MARKER) -> bool:
    return venv_python(path).exists() and (path / marker).exists()


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _runner(log: Path) -> Runner:
    def run(cmd: list[str], timeout: float) -> None:
        with open(log, "ab") as out:
            out.write(f"$ {' '.join(cmd)}\n".encode())
            out.flush()
            try:
                proc = subprocess.run(
                    cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=child_env()
                )
            except subprocess.TimeoutExpired as e:
                raise VenvError(f"{cmd[0]} timed out after {timeout:.0f}s (log: {log})") from e
        if proc.returncode != 0:
            tail = log.read_text(errors="replace").splitlines()[-15:]
            raise VenvError(
                f"{' '.join(cmd[:4])} failed with {proc.returncode} (log: {log}):\n"
                + "\n".join(tail)
            )

    return run


def _build(recipe: Recipe, tmp: Path, log: Path, timeout: float) -> None:
    run = _runner(log)
    deadline = time.monotonic() + timeout
    run([sys.executable, "-m", "venv", str(tmp)], timeout)
    py = str(venv_python(tmp))
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check"]
    pip += ["--retries", "2", "--timeout", "30", "-q", "-r", str(recipe.requirements)]
    run(pip, max(1.0, deadline - time.monotonic()))
    # A venv that installs but cannot import what the tier runs is not built.
    for check in recipe.checks:
        run([py, "-c", check], 300)
    if recipe.prepare is not None:
        recipe.prepare(tmp, run)
    (tmp / recipe.marker).write_text(requirements_hash(recipe) + "\n")


def ensure_venv(
    recipe: Recipe, path: Path | None = None, *, timeout: float = DEFAULT_BUILD_TIMEOUT
) -> Path:
    """Build the virtualenv unless it is already built; return its path."""
    path = path or venv_path(recipe)
    if is_built(path, recipe.marker):
        return path
    with _build_lock(path):
        if is_built(path, recipe.marker):  # another process built it while we waited
            return path
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.build-", dir=path.parent))
        log = path.parent / f"{path.name}.build.log"
        log.write_text("")
        try:
            _build(recipe, tmp, log, timeout)
            if path.exists():  # a stale, unmarked leftover
                shutil.rmtree(path)
            os.rename(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return path


def available(recipe: Recipe, build: bool | None = None) -> str | None:
    """None when the recipe's virtualenv is built (building it now unless told not to),
    else why it is not.

    ``build`` defaults to the recipe's environment variable (``<env_build>=0`` means
    never build on demand).
    """
    path = venv_path(recipe)
    if is_built(path, recipe.marker):
        return None
    if build is None:
        build = os.environ.get(recipe.env_build, "1").lower() not in ("0", "false", "no")
    if not build:
        return f"{recipe.label} virtualenv not built at {path} (run: {_prebuild_hint(recipe)})"
    try:
        ensure_venv(recipe, path)
    except (VenvError, OSError) as e:
        return f"cannot build the {recipe.label} virtualenv at {path}: {e}"
    return None


def _prebuild_hint(recipe: Recipe) -> str:
    return f"python3 -m {recipe.module or f'rhworker.testing.{recipe.name}.venv'}"


def main(recipe: Recipe) -> int:
    """Prebuild (what ``python3 -m rhworker.testing.<name>.venv`` runs)."""
    path = venv_path(recipe)
    if is_built(path, recipe.marker):
        print(f"{recipe.label} virtualenv ready: {path}")
        return 0
    start = time.monotonic()
    print(f"building the {recipe.label} virtualenv at {path} ...", flush=True)
    try:
        ensure_venv(recipe, path)
    except VenvError as e:
        print(str(e), file=sys.stderr)
        return 1
    print(f"{recipe.label} virtualenv ready: {path} ({time.monotonic() - start:.0f}s)")
    return 0
