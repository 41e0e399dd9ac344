"""The cached virtualenv holding Masakari 22, its OSC plugin and masakari-monitors.

Built from ``requirements.txt`` next to this file into
``~/.cache/rhworker/masakari-venv-<hash>`` (``RHWORKER_MASAKARI_VENV`` overrides the
place; ``RHWORKER_MASAKARI_BUILD=0`` forbids building on demand). The build also makes
a template database (``masakari-manage db sync`` once, into ``rhworker-template/``)
that every :class:`~rhworker.testing.masakari.server.MasakariApi` copies instead of
migrating again.

    python3 -m rhworker.testing.masakari.venv     # prebuild (CI does this)
"""

from __future__ import annotations

import sys
from pathlib import Path

from rhworker.testing import venvbuild
from rhworker.testing.venvbuild import Runner

TEMPLATE = "rhworker-template"
TEMPLATE_FILES = ("masakari.db", "taskflow.db")


def masakari_conf(state: Path, **default: str) -> str:
    """A masakari.conf keeping its databases and locks in ``state``.

    ``default`` adds ``[DEFAULT]`` options; the caller appends other sections.
    """
    lines = ["[DEFAULT]", f"state_path = {state}", "transport_url = fake:/"]
    lines += [f"{k} = {v}" for k, v in default.items()]
    lines += [
        "[database]",
        f"connection = sqlite:///{state}/masakari.db",
        # The taskflow driver (loaded even by db sync) wants its persistence database.
        "[taskflow]",
        f"connection = sqlite:///{state}/taskflow.db",
        "[oslo_concurrency]",
        f"lock_path = {state}",
    ]
    return "\n".join(lines) + "\n"


def _prepare(venv: Path, run: Runner) -> None:
    template = venv / TEMPLATE
    template.mkdir()
    conf = template / "masakari.conf"
    conf.write_text(masakari_conf(template))
    run(
        [*venvbuild.script_command(venv, "masakari-manage"), "--config-file", str(conf)]
        + ["db", "sync"],
        300,
    )
    missing = [f for f in TEMPLATE_FILES if not (template / f).exists()]
    if missing:
        raise venvbuild.VenvError(f"masakari-manage db sync made no {missing}")


RECIPE = venvbuild.Recipe(
    name="masakari",
    title="Masakari",
    requirements=Path(__file__).with_name("requirements.txt"),
    env_venv="RHWORKER_MASAKARI_VENV",
    env_build="RHWORKER_MASAKARI_BUILD",
    # Separately: masakari and masakarimonitors register the same oslo.config options.
    checks=(
        "import masakari.cmd.api, masakari.cmd.manage",
        "import masakariclient.plugin, openstackclient.shell",
        "import masakarimonitors.ha.masakari, "
        "masakarimonitors.hostmonitor.host_handler.handle_host",
    ),
    prepare=_prepare,
)


def venv_path() -> Path:
    return venvbuild.venv_path(RECIPE)


def ensure_venv() -> Path:
    return venvbuild.ensure_venv(RECIPE)


def masakari_available(build: bool | None = None) -> str | None:
    """None when the Masakari virtualenv is ready (built on demand), else why not."""
    return venvbuild.available(RECIPE, build)


if __name__ == "__main__":
    sys.exit(venvbuild.main(RECIPE))
