"""The cached virtualenv holding Keystone 30 for the auth_token tests.

Built from ``requirements.txt`` next to this file into
``~/.cache/rhworker/keystone-venv-<hash>`` (``RHWORKER_KEYSTONE_VENV`` overrides the
place; ``RHWORKER_KEYSTONE_BUILD=0`` forbids building on demand). The build also makes
a template state (``keystone-manage db_sync``, ``fernet_setup`` and
``credential_setup`` once, into ``rhworker-template/``) that every
:class:`~rhworker.testing.keystone.server.KeystoneServer` copies: migrating Keystone's
database takes 8-60 s here, copying it milliseconds.

    python3 -m rhworker.testing.keystone.venv     # prebuild (CI does this)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rhworker.testing import venvbuild
from rhworker.testing.venvbuild import Runner

TEMPLATE = "rhworker-template"


def keystone_conf(state: Path, **default: str) -> str:
    """A keystone.conf keeping its SQLite database and keys in ``state``."""
    lines = ["[DEFAULT]"] + [f"{k} = {v}" for k, v in default.items()]
    lines += [
        "[database]",
        f"connection = sqlite:///{state}/keystone.db",
        "[token]",
        "provider = fernet",
        "[fernet_tokens]",
        f"key_repository = {state}/fernet-keys",
        "[fernet_receipts]",
        f"key_repository = {state}/fernet-keys",
        "[credential]",
        f"key_repository = {state}/credential-keys",
    ]
    return "\n".join(lines) + "\n"


def manage(venv: Path, conf: Path, *args: str) -> list[str]:
    return [*venvbuild.script_command(venv, "keystone-manage"), "--config-file", str(conf), *args]


def _prepare(venv: Path, run: Runner) -> None:
    template = venv / TEMPLATE
    template.mkdir()
    conf = template / "keystone.conf"
    conf.write_text(keystone_conf(template))
    owner = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
    run(manage(venv, conf, "db_sync"), 600)
    run(manage(venv, conf, "fernet_setup", *owner), 120)
    run(manage(venv, conf, "credential_setup", *owner), 120)


RECIPE = venvbuild.Recipe(
    name="keystone",
    title="Keystone",
    requirements=Path(__file__).with_name("requirements.txt"),
    env_venv="RHWORKER_KEYSTONE_VENV",
    env_build="RHWORKER_KEYSTONE_BUILD",
    checks=("import keystone.server.wsgi, keystone.cmd.manage",),
    prepare=_prepare,
)


def venv_path() -> Path:
    return venvbuild.venv_path(RECIPE)


def ensure_venv() -> Path:
    return venvbuild.ensure_venv(RECIPE)


def keystone_available(build: bool | None = None) -> str | None:
    """None when the Keystone virtualenv is ready (built on demand), else why not."""
    return venvbuild.available(RECIPE, build)


if __name__ == "__main__":
    sys.exit(venvbuild.main(RECIPE))
