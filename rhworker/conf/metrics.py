from oslo_config import cfg

GROUP = cfg.OptGroup("metrics", title="Prometheus metrics")

OPTS = [
    cfg.PortOpt("port", default=0, help="Port of the metrics endpoint on each worker; 0: off."),
    cfg.HostAddressOpt("host", default="127.0.0.1", help="Address the metrics endpoint binds."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
