"""Preflight: what a worker checks before it takes its first notification.

Four checks, each answering in one line:

- ``config``: every option value parses (``[worker] max_attempts: invalid value
  'many' (expected an integer >= 1)``), no unknown section or option in the
  configuration files (what ``oslo-config-validator`` reports), the pinned compute
  microversion and the lock/store combination are acceptable;
- ``store``: the store answers and its schema version is this rhworker's;
- ``locks``: the tooz backend starts and a lock can be tried, within
  ``[coordination] call_timeout``;
- ``compute``: ``[compute]`` is set, Nova answers with these credentials, the user is
  admin (listing compute services succeeds) and Nova's highest microversion is at
  least the pinned one.

``rhworker worker`` and ``rhworker pool`` call :func:`require` (the first failure
becomes a :class:`~rhworker.errors.PreflightFailed`, one line, no traceback);
``rhworker check`` prints every :class:`CheckResult`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from oslo_config import cfg, types

from rhworker import conf as rconf
from rhworker.conf.store import retention_of
from rhworker.errors import ConfigError, PreflightFailed, StoreMissing

LOG = logging.getLogger(__name__)

CHECKS = ("config", "store", "locks", "compute")
# Name of the lock tried by the locks check: not a valid host name, so it never
# collides with a real host's lock.
PROBE_LOCK = "_rhworker-preflight_"
# Loggers whose start/stop chatter would bury the one line a failed preflight prints.
_CHATTY = ("rhworker.coordination", "rhworker.store", "tooz", "kazoo", "openstack", "keystoneauth")


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'FAILED'}: {self.detail}"


# --- config -------------------------------------------------------------------------


def _expected(opt_type: Any) -> str:
    """What an option of this oslo.config type accepts, for an error message."""
    if isinstance(opt_type, types.Boolean):
        return "true or false"
    if isinstance(opt_type, types.Port):
        return "a port number (0-65535)"
    if isinstance(opt_type, (types.Integer, types.Float)):
        what = "an integer" if isinstance(opt_type, types.Integer) else "a number"
        low, high = getattr(opt_type, "min", None), getattr(opt_type, "max", None)
        if low is not None and high is not None:
            return f"{what} from {low:g} to {high:g}"
        if low is not None:
            return f"{what} >= {low:g}"
        if high is not None:
            return f"{what} <= {high:g}"
        return what
    choices = getattr(opt_type, "choices", None)
    if choices:
        return "one of " + ", ".join(str(c) for c in choices)
    if isinstance(opt_type, types.URI):
        return "a URI"
    return f"a {type(opt_type).__name__.lower()} value"


def _registered(conf: cfg.ConfigOpts) -> dict[str, dict[str, Any]]:
    """``{section: {option name: opt}}`` of every registered option (``DEFAULT`` for
    ungrouped ones); deprecated names of rhworker's options map to their new opt."""
    known: dict[str, dict[str, Any]] = {"DEFAULT": {}}
    for key in conf:
        try:
            is_group = isinstance(conf[key], cfg.ConfigOpts.GroupAttr)
        except (cfg.ConfigSourceValueError, ValueError):
            is_group = False  # an ungrouped option with a bad value
        if is_group:
            known.setdefault(key, {})
            for name in conf[key]:
                known[key][name] = None
        else:
            known["DEFAULT"][key] = None
    for module in rconf.MODULES:
        for group, opts in module.list_opts().items():
            section = group or "DEFAULT"
            for opt in opts:
                known.setdefault(section, {})[opt.dest] = opt
                known[section][opt.name] = opt
                for old in opt.deprecated_opts:
                    old_section = old.group or section
                    known.setdefault(old_section, {})[old.name or opt.name] = opt
    return known


def config_files(conf: cfg.ConfigOpts) -> list[str]:
    """The configuration files oslo.config read (``--config-file`` and defaults)."""
    files = [str(f) for f in (conf.config_file or [])]
    for directory in conf.config_dir or []:
        if os.path.isdir(directory):
            names = sorted(n for n in os.listdir(directory) if n.endswith(".conf"))
            files += [os.path.join(directory, n) for n in names]
    return [f for f in files if os.path.exists(f)]


def unknown_options(conf: cfg.ConfigOpts) -> list[str]:
    """Sections and options of the configuration files that no registered option
    reads, as ``oslo-config-validator`` finds them (its ``ConfigParser`` parse of each
    file checked against the registered options)."""
    known = _registered(conf)
    problems: list[str] = []
    for path in config_files(conf):
        sections: dict[str, Any] = {}
        cfg.ConfigParser(path, sections).parse()
        for section, options in sections.items():
            if section not in known:
                names = ", ".join(sorted(options)) or "no options"
                problems.append(f"{path}: unknown section [{section}] ({names})")
                continue
            for option in options:
                if option not in known[section]:
                    problems.append(f"{path}: unknown option [{section}] {option}")
    return problems


def _raw_value(conf: cfg.ConfigOpts, section: str, name: str) -> str | None:
    """The text given for ``section.name`` (environment, then the last file), for
    quoting it in an error."""
    env = os.environ.get(f"OS_{section.upper()}__{name.upper()}")
    if env is not None:
        return env
    value: str | None = None
    for path in config_files(conf):
        sections: dict[str, Any] = {}
        with contextlib.suppress(cfg.ParseError, OSError):
            cfg.ConfigParser(path, sections).parse()
        found = sections.get(section, {}).get(name)
        if found:
            value = found[-1]
    return value


def invalid_values(conf: cfg.ConfigOpts) -> list[str]:
    """One message per option whose value does not parse or is out of range, e.g.
    ``[worker] max_attempts: invalid value 'many' (expected an integer >= 1)``."""
    problems: list[str] = []
    for module in rconf.MODULES:
        for group, opts in module.list_opts().items():
            section = group or "DEFAULT"
            values = conf if section == "DEFAULT" else conf[group]
            for opt in opts:
                try:
                    getattr(values, opt.dest)
                except (cfg.ConfigSourceValueError, ValueError) as e:
                    raw = _raw_value(conf, section, opt.dest)
                    shown = repr(raw) if raw is not None else "given"
                    problems.append(
                        f"[{section}] {opt.dest}: invalid value {shown} "
                        f"(expected {_expected(opt.type)})"
                    )
                    LOG.debug("option %s.%s: %s", section, opt.dest, e)
    try:
        retention_of(conf)
    except ConfigError as e:
        problems.append(str(e))
    return problems


def validate_values(conf: cfg.ConfigOpts) -> None:
    """Raise :class:`PreflightFailed` naming the first option whose value is invalid
    (every command calls this once the configuration is parsed)."""
    problems = invalid_values(conf)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PreflightFailed(problems[0] + more)


def check_config(conf: cfg.ConfigOpts) -> str:
    """Values, unknown sections/options, and the cross-option rules."""
    from rhworker.compute.openstack import check_microversion
    from rhworker.coordination import check_backend_policy
    from rhworker.fencing.base import FencingOptions, check_fencing

    problems = invalid_values(conf) + unknown_options(conf)
    if not problems:
        try:
            check_microversion(conf.compute.microversion)
            check_backend_policy(
                rconf.coordination_url(conf),
                rconf.store_url(conf),
                conf.coordination.file_backend_policy,
            )
            check_fencing(FencingOptions.from_conf(conf))
        except ConfigError as e:
            problems.append(str(e))
    if problems:
        more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:])})" if problems[1:] else ""
        raise PreflightFailed(problems[0] + more)
    files = config_files(conf)
    return f"{', '.join(files)} valid" if files else "no configuration file; defaults valid"


# --- store --------------------------------------------------------------------------


def check_store(conf: cfg.ConfigOpts, *, create: bool) -> str:
    """The store answers and its schema is this rhworker's. Nothing is written: a
    missing SQLite store is fine when ``create`` (the worker creates it; its
    directory must exist or be the state directory) and a failure otherwise."""
    from rhworker.store.sqlite import sqlite_path

    url = rconf.store_url(conf)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "sqlite":
        path, _ = sqlite_path(url)
        return _check_sqlite(path, create=create, state_dir=rconf.store_is_embedded_default(conf))
    if scheme in ("redis", "rediss"):
        return _check_redis(url, conf.store.redis_durability)
    raise ConfigError(f"unsupported store URL scheme {scheme!r} (use sqlite:// or redis://)")


def _check_sqlite(path: str, *, create: bool, state_dir: bool) -> str:
    from rhworker.store.sqlite.schema import SCHEMA_VERSION

    if not os.path.exists(path):
        if not create:
            raise StoreMissing(path)
        directory = os.path.dirname(path)
        if os.path.isdir(directory) or state_dir:
            return f"sqlite {path} does not exist yet; the worker creates it"
        raise ConfigError(f"sqlite store {path}: directory {directory} does not exist")
    try:
        conn = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True, timeout=5)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise ConfigError(f"sqlite store {path}: {e}") from e
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"sqlite store {path}: schema version {version} is newer than this "
            f"rhworker's ({SCHEMA_VERSION})"
        )
    if version == SCHEMA_VERSION:
        return f"sqlite {path}, schema version {version}"
    if version == 0 and tables == 0:
        return f"sqlite {path} is empty; the worker creates the schema"
    return f"sqlite {path}, schema version {version}; a worker upgrades it to {SCHEMA_VERSION}"


def _check_redis(url: str, durability: str = "warn") -> str:
    from rhworker.store import from_url
    from rhworker.store.base import check_durability

    store = from_url(url)
    try:
        store.pauses()  # one round trip; the first one also checks the server version
        where = getattr(store, "where", "redis")
        # [store] redis_durability: refuse raises ConfigError (this check fails)
        risks = check_durability(store, durability)
    finally:
        store.close()
    line = f"redis {where} answers (version checked; no schema version kept in Redis)"
    if risks:
        line += f"; durability ({durability}): " + "; ".join(r.message for r in risks)
    return line


# --- locks --------------------------------------------------------------------------


def check_locks(conf: cfg.ConfigOpts, *, create: bool) -> str:
    """Start a tooz coordinator on the configured backend and try one lock."""
    from rhworker.coordination import Coordinator, new_member_id
    from rhworker.masking import mask_url

    url = rconf.coordination_url(conf)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file" and not os.path.isdir(parts.path) and not create:
        return f"file locks in {parts.path} (not created yet; the first worker creates it)"
    coordinator = Coordinator(
        url,
        f"preflight-{new_member_id()}",
        group=conf.coordination.group,
        lock_prefix=conf.coordination.lock_prefix,
        call_timeout=conf.coordination.call_timeout,
        heartbeat_interval=conf.coordination.heartbeat_interval,
        heartbeat=False,
    )
    coordinator.start()
    try:
        held = coordinator.try_lock(PROBE_LOCK)
        if held is not None:
            coordinator.release(held)
            outcome = "a lock taken and released"
        else:
            outcome = "the probe lock is held by another process (the backend answered)"
    finally:
        coordinator.stop()
    return f"{mask_url(url)}: {outcome}"


# --- compute ------------------------------------------------------------------------


def check_compute(conf: cfg.ConfigOpts) -> str:
    """Nova reachable with the configured credentials, admin, microversion supported
    (:func:`rhworker.compute.probe.probe_nova`)."""
    from rhworker.compute.probe import probe_nova

    return probe_nova(conf)


def _short(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


# --- running them ---------------------------------------------------------------------


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Silence the start/stop chatter of the probes (not with ``--debug``)."""
    if not enabled:
        yield
        return
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in _CHATTY]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def run_checks(
    conf: cfg.ConfigOpts,
    *,
    create_store: bool,
    checks: Sequence[str] = CHECKS,
    stop_at_first: bool = False,
    quiet: bool = True,
) -> list[CheckResult]:
    """Run ``checks`` in order; one :class:`CheckResult` each. A failed ``config``
    check skips the others (they would read the same broken values)."""
    probes: dict[str, Callable[[], str]] = {
        "config": lambda: check_config(conf),
        "store": lambda: check_store(conf, create=create_store),
        "locks": lambda: check_locks(conf, create=create_store),
        "compute": lambda: check_compute(conf),
    }
    results: list[CheckResult] = []
    with _quiet(quiet):
        for name in checks:
            try:
                results.append(CheckResult(name, True, probes[name]()))
            except Exception as e:  # a preflight reports, it never dies with a traceback
                LOG.debug("preflight %s failed", name, exc_info=True)
                results.append(CheckResult(name, False, _short(e)))
                if stop_at_first or name == "config":
                    break
    return results


def require(conf: cfg.ConfigOpts, *, quiet: bool = True) -> list[CheckResult]:
    """Every check, stopping at the first failure, which is raised as one line."""
    results = run_checks(conf, create_store=True, stop_at_first=True, quiet=quiet)
    for result in results:
        if not result.ok:
            raise PreflightFailed(f"preflight failed: {result.name}: {result.detail}")
    return results
