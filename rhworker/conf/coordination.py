from oslo_config import cfg

GROUP = cfg.OptGroup("coordination", title="Distributed locks and group membership (tooz)")

# Defaults of the options below, declared once: code built without a configuration
# (dataclasses that mirror this group, keyword defaults) takes them from here.
DEFAULT_GROUP = "rhworker"
DEFAULT_LOCK_PREFIX = "rhworker"
DEFAULT_CALL_TIMEOUT = 10.0
DEFAULT_HEARTBEAT_INTERVAL = 1.0
DEFAULT_UNAVAILABLE_BACKOFF = 5.0

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "backend_url",
        secret=True,  # may carry a password: masked in logs and `rhworker config`
        help="tooz backend URL: file:///path, redis://host:port, zookeeper://host:port, "
        "or any other tooz driver. Empty: file://<state_dir>/locks.",
    ),
    cfg.StrOpt("group", default=DEFAULT_GROUP, help="Coordination group the workers join."),
    cfg.StrOpt("lock_prefix", default=DEFAULT_LOCK_PREFIX, help="Prefix of every lock name."),
    cfg.FloatOpt(
        "call_timeout",
        default=DEFAULT_CALL_TIMEOUT,
        min=0.1,
        help="Deadline in seconds for any single tooz call; a backend outage can "
        "otherwise block for tens of seconds.",
    ),
    cfg.FloatOpt(
        "heartbeat_interval",
        default=DEFAULT_HEARTBEAT_INTERVAL,
        min=0.05,
        help="Seconds between coordinator heartbeats.",
    ),
    cfg.FloatOpt(
        "unavailable_backoff",
        default=DEFAULT_UNAVAILABLE_BACKOFF,
        min=0.0,
        help="After a tooz call timed out or lost its connection, seconds during which "
        "calls fail at once instead of waiting call_timeout again. Meanwhile reserved "
        "hosts are taken on the store's claim alone (the claim is what keeps a spare "
        "from being used twice).",
    ),
    cfg.StrOpt(
        "file_backend_policy",
        default="warn",
        choices=["warn", "refuse", "allow"],
        help="What to do when the file:// lock backend (one machine only) is used with "
        "a store that other machines can reach.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A new OptGroup per ConfigOpts: a shared one would share its option table, and
    # overrides on one configuration would leak into the next.
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
