"""oslo.config option groups, one module per group.

Configuration is parsed once at the edge (the CLI) with :func:`load`; everything
below takes plain arguments.
"""

from __future__ import annotations

import os

from oslo_config import cfg

from rhworker import logs
from rhworker.conf import (
    api,
    brake,
    compute,
    coordination,
    external,
    fencing,
    host_failure,
    instance_failure,
    metrics,
    notification,
    paths,
    pool,
    process_failure,
    store,
    worker,
)

MODULES = (
    paths,
    coordination,
    store,
    worker,
    host_failure,
    fencing,
    external,
    compute,
    notification,
    metrics,
    pool,
    instance_failure,
    process_failure,
    api,
    brake,
)


def register_all(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    for module in MODULES:
        module.register_opts(conf)
    logs.register_opts(conf)  # oslo.log's [DEFAULT] options (its own generator namespace)
    return conf


def load(
    args: list[str] | None = None,
    config_files: list[str] | None = None,
    overrides: dict[str, dict[str, object]] | None = None,
) -> cfg.ConfigOpts:
    """A fresh, parsed ConfigOpts. ``overrides`` maps group → {option: value};
    the group ``DEFAULT`` targets ungrouped options."""
    conf = register_all(cfg.ConfigOpts())
    files = [f for f in (config_files or []) if f]
    conf(
        args=args or [],
        project="rhworker",
        default_config_files=files,
        validate_default_values=True,
    )
    for group, values in (overrides or {}).items():
        for name, value in values.items():
            if value is not None:
                conf.set_override(name, value, group=None if group == "DEFAULT" else group)
    return conf


def state_dir(conf: cfg.ConfigOpts) -> str:
    """The state directory, absolute: the configured one or
    :func:`~rhworker.conf.paths.default_state_dir`."""
    if conf.state_dir:
        return os.path.abspath(conf.state_dir)
    return paths.default_state_dir()


def store_is_embedded_default(conf: cfg.ConfigOpts) -> bool:
    """True when the store URL is derived from the state directory (no [store] url)."""
    return not conf.store.url


def store_url(conf: cfg.ConfigOpts) -> str:
    """``[store] url``, or the embedded default ``sqlite:///<state_dir>/rhworker.db``
    (``state_dir`` is absolute, so the URL has four slashes)."""
    return conf.store.url or f"sqlite:///{os.path.join(state_dir(conf), 'rhworker.db')}"


def coordination_url(conf: cfg.ConfigOpts) -> str:
    """``[coordination] backend_url``, or the embedded default ``file://<state_dir>/locks``."""
    return conf.coordination.backend_url or f"file://{os.path.join(state_dir(conf), 'locks')}"
