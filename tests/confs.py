"""Fresh oslo.config objects for tests: a new ConfigOpts each time, so that
overrides never leak between tests."""

from __future__ import annotations

from typing import Any

from oslo_config import cfg

from rhworker.conf import compute as compute_conf


def compute_conf_with(**overrides: Any) -> cfg.ConfigOpts:
    """A ``[compute]`` group with these option values; the defaults otherwise."""
    conf = cfg.ConfigOpts()
    conf.register_opts(compute_conf.OPTS, group="compute")
    conf(args=[])
    for name, value in overrides.items():
        conf.set_override(name, value, group="compute")
    return conf
