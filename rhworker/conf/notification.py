from oslo_config import cfg

GROUP = cfg.OptGroup("notification", title="Intake of failure notifications")

OPTS = [
    cfg.IntOpt(
        "duplicate_notification_detection_interval",
        default=180,
        min=0,
        help="Seconds during which a notification with the same type, host and payload "
        "is refused as a duplicate.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
