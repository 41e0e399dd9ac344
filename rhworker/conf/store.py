from oslo_config import cfg

GROUP = cfg.OptGroup("store", title="Where inventory, notifications and the queue live")

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
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A new OptGroup per ConfigOpts: a shared one would share its option table, and
    # overrides on one configuration would leak into the next.
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
