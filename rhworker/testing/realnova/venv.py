"""The cached virtualenv that holds real Nova for the realnova test tier.

Nova 34 with Placement and its functional-test harness need pins that clash with
rhworker's, so they live in a virtualenv of their own, built from ``requirements.txt``
next to this file by :mod:`rhworker.testing.venvbuild` (built beside its final place,
renamed into place when complete, under a file lock). The default place is
``~/.cache/rhworker/nova-venv-<hash>`` (the hash of ``requirements.txt``, so changing a
pin builds a new one); the environment variable ``RHWORKER_NOVA_VENV`` overrides it.
It is run with ``<venv>/bin/python`` only (the console scripts' shebangs name the
temporary path).

    python3 -m rhworker.testing.realnova.venv     # prebuild (CI does this)
"""

from __future__ import annotations

import sys
from pathlib import Path

from rhworker.testing import venvbuild
from rhworker.testing.venvbuild import VenvError

__all__ = ["VenvError", "ensure_venv", "realnova_available", "venv_path", "venv_python"]

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
ENV_VENV = "RHWORKER_NOVA_VENV"
# Set to 0 to never build on demand (the tier is then available only if prebuilt).
ENV_BUILD = "RHWORKER_REALNOVA_BUILD"
MARKER = ".rhworker-nova-venv"
BUILD_TIMEOUT = 900.0


def recipe() -> venvbuild.Recipe:
    """Made on each call: tests point ``REQUIREMENTS`` elsewhere."""
    return venvbuild.Recipe(
        name="nova",
        title="real Nova",
        requirements=REQUIREMENTS,
        env_venv=ENV_VENV,
        env_build=ENV_BUILD,
        # The harness must import: a venv that installs but cannot start Nova is not built.
        checks=("import nova.tests.functional.integrated_helpers",),
        marker=MARKER,
        module="rhworker.testing.realnova.venv",
    )


def requirements_hash() -> str:
    return venvbuild.requirements_hash(recipe())


def venv_path() -> Path:
    return venvbuild.venv_path(recipe())


def venv_python(path: Path | None = None) -> Path:
    return venvbuild.venv_python(path or venv_path())


def is_built(path: Path | None = None) -> bool:
    return venvbuild.is_built(path or venv_path(), MARKER)


def ensure_venv(path: Path | None = None, *, timeout: float = BUILD_TIMEOUT) -> Path:
    """Build the virtualenv unless it is already built; return its path."""
    return venvbuild.ensure_venv(recipe(), path, timeout=timeout)


def realnova_available(build: bool | None = None) -> str | None:
    """None when real Nova can run here, else why not.

    Builds the virtualenv on demand (once, cached) unless ``build`` is False or the
    environment says ``RHWORKER_REALNOVA_BUILD=0``.
    """
    return venvbuild.available(recipe(), build)


if __name__ == "__main__":
    sys.exit(venvbuild.main(recipe()))
