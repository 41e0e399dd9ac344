"""Entry point for oslo-config-generator (``oslo.config.opts`` → ``rhworker``)."""

from __future__ import annotations

from oslo_config import cfg

from rhworker.conf import MODULES


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    out: list[tuple[str | None, list[cfg.Opt]]] = []
    for module in MODULES:
        for group, opts in module.list_opts().items():
            out.append((group, opts))
    return out
