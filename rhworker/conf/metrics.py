from oslo_config import cfg

GROUP = cfg.OptGroup("metrics", title="Prometheus metrics")

OPTS: list[cfg.Opt] = [
    cfg.PortOpt("port", default=0, help="Port of the metrics endpoint on each worker; 0: off."),
    cfg.HostAddressOpt("host", default="127.0.0.1", help="Address the metrics endpoint binds."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A new OptGroup per ConfigOpts: a shared one would share its option table, and
    # overrides on one configuration would leak into the next.
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
