from typing import Any

from oslo_config import cfg

from rhworker.errors import ConfigError

GROUP = cfg.OptGroup("store", title="Where inventory, notifications and the queue live")

# Default of [store] history_retention (a duration: see parse_duration).
DEFAULT_HISTORY_RETENTION = "30d"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "url",
        secret=True,  # may carry a password: masked in logs and `rhworker config`
        help="sqlite:////absolute/path/rhworker.db or sqlite:///relative/path/rhworker.db "
        "(SQLAlchemy's form: relative to the current directory; one machine) or "
        "redis://[:password@]host:port/db?prefix=NAME (many machines; rediss:// for TLS). "
        "The directory of a SQLite file must exist. Empty: <state_dir>/rhworker.db.",
    ),
    cfg.StrOpt(
        "redis_durability",
        default="warn",
        choices=["warn", "refuse"],
        help="What a worker does at start-up when the Redis store may lose acknowledged "
        "writes on a crash (no AOF, appendfsync everysec/no, replicas without "
        "min-replicas-to-write, an evicting maxmemory-policy): 'warn' logs each risk "
        "and runs, 'refuse' exits listing them (settings that cannot be read, e.g. "
        "with CONFIG disabled, are only warned about). Lost writes never repeat a "
        "claim epoch or lease token, and spares are checked against Nova before a "
        "claim, but work is redone. See docs/safety.md.",
    ),
    cfg.StrOpt(
        "history_retention",
        default=DEFAULT_HISTORY_RETENTION,
        help="How long finished, ignored and failed notifications (dead letters "
        "included) are kept after their last update, with their steps, moves and "
        "claims: seconds, or a number followed by s, m, h or d (e.g. 30d). Workers "
        "prune older ones in small batches every few minutes; `rhworker notification "
        "prune` does it by hand. Notifications still in the queue, under a live lease "
        "or holding a reserved host are never pruned. 0 keeps everything forever.",
    ),
]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float | int) -> float:
    """Seconds of a duration: ``3600``, ``90s``, ``15m``, ``12h``, ``30d``. ValueError
    for anything else (negative included)."""
    raw = str(text).strip().lower()
    scale = _UNITS.get(raw[-1:], 0.0)
    number = raw[:-1] if scale else raw
    try:
        value = float(number) * (scale or 1.0)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (seconds, or e.g. 15m, 12h, 30d)") from None
    if value < 0 or value != value or value == float("inf"):
        raise ValueError(f"not a duration: {text!r} (must be 0 or more)")
    return value


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A new OptGroup per ConfigOpts: a shared one would share its option table, and
    # overrides on one configuration would leak into the next.
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}


def retention_of(conf: Any) -> float:
    """``[store] history_retention`` in seconds (ConfigError when it is not a duration)."""
    try:
        return parse_duration(conf.store.history_retention)
    except ValueError as e:
        raise ConfigError(f"[store] history_retention: {e}") from e
