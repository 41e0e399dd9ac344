"""Logging through oslo.log: stderr, a log file, syslog or journald, ``log_config_append``,
JSON lines with :class:`oslo_log.formatters.JSONFormatter`.

Two stages. :func:`setup_logging` runs first, before any configuration is read, and
logs to stderr. :func:`setup_from_conf` runs when the CLI has parsed the
configuration and hands logging to oslo.log with the ``[DEFAULT]`` options it
registers (``log_file``, ``log_dir``, ``use_syslog``, ``use_journal``, ``use_json``,
``use_stderr``, ``log_config_append``, ``default_log_levels``, ``debug``…); the
command-line ``--debug`` and ``--log-format json`` override ``debug`` and ``use_json``.

Whatever the handlers (oslo.log's or a ``log_config_append`` file's), two filters
sit on each: :class:`~rhworker.masking.MaskingFilter` (no credentials in any URL
logged) and :class:`StructuredFields` (the ``extra=`` fields of a record, such as
``notification``, ``worker`` and ``step``, go into the JSON line's ``extra``).
"""

from __future__ import annotations

import logging
import sys

from oslo_config import cfg
from oslo_log import formatters
from oslo_log import log as oslo_log

from rhworker.errors import ConfigError
from rhworker.masking import MaskingFilter

# Attributes of a LogRecord that are not user-supplied ``extra`` fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "extra_keys",
    "project",
    "version",
    "context",
}

# Libraries that talk too much at INFO; added to oslo.log's own default_log_levels.
QUIET_LIBRARIES = ("kazoo", "urllib3", "keystoneauth", "openstack", "tooz", "stevedore")

# The first stage's text format (oslo.log's default without the request context).
TEXT_FORMAT = "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class StructuredFields(logging.Filter):
    """Name a record's ``extra=`` attributes in ``extra_keys``, where oslo.log's
    JSONFormatter looks for the fields to put in its ``extra`` object."""

    def filter(self, record: logging.LogRecord) -> bool:
        keys = [k for k in vars(record) if k not in _STANDARD and not k.startswith("_")]
        if keys:
            known = list(getattr(record, "extra_keys", []))
            record.extra_keys = known + [k for k in keys if k not in known]
        return True


def register_opts(conf: cfg.ConfigOpts) -> None:
    """oslo.log's options, with rhworker's defaults: stderr (stdout is for command
    output) and the noisy libraries at WARNING."""
    oslo_log.register_options(conf)
    conf.set_default("use_stderr", True)
    levels = list(oslo_log.get_default_log_levels())
    named = {level.partition("=")[0] for level in levels}
    levels += [f"{name}=WARN" for name in QUIET_LIBRARIES if name not in named]
    conf.set_default("default_log_levels", levels)


def setup_logging(*, debug: bool = False, fmt: str = "text") -> None:
    """Stage one: stderr, before the configuration is read."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(formatters.JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, DATE_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _install_filters(root)


def setup_from_conf(conf: cfg.ConfigOpts, *, debug: bool = False, fmt: str = "text") -> None:
    """Stage two: oslo.log as the configuration says (``--debug``/``--log-format json``
    win over ``debug``/``use_json``)."""
    import rhworker

    if debug:
        conf.set_override("debug", True)
    if fmt == "json":
        conf.set_override("use_json", True)
    # (oslo.log also logs uncaught exceptions from here on, through the filters below.)
    try:
        oslo_log.setup(conf, "rhworker", rhworker.__version__)
    except (OSError, RuntimeError, ValueError, oslo_log.LogConfigError) as e:
        # An unwritable log_file, no journald bindings, a broken log_config_append …
        raise ConfigError(f"logging: {e}") from e
    _install_filters(logging.getLogger())


def _install_filters(root: logging.Logger) -> None:
    for handler in root.handlers:
        for kind in (StructuredFields, MaskingFilter):
            if not any(isinstance(f, kind) for f in handler.filters):
                handler.addFilter(kind())
