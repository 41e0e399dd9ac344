from oslo_config import cfg

GROUP = cfg.OptGroup("store", title="Where inventory, notifications and the queue live")

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "url",
        secret=True,  # may carry a password: masked in logs and `rhworker config`
        help="sqlite:///path/rhworker.db (one machine) or redis://[:password@]host:port/db"
        "?prefix=NAME (many machines; rediss:// for TLS). Empty: "
        "sqlite:///<state_dir>/rhworker.db.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A new OptGroup per ConfigOpts: a shared one would share its option table, and
    # overrides on one configuration would leak into the next.
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
