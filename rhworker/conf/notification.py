from oslo_config import cfg

GROUP = cfg.OptGroup("notification", title="Intake of failure notifications")

# Defaults of the options below, declared once: code built without a configuration
# (dataclasses that mirror this group, keyword defaults) takes them from here.
DEFAULT_DUPLICATE_NOTIFICATION_DETECTION_INTERVAL = 180

OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        "duplicate_notification_detection_interval",
        default=DEFAULT_DUPLICATE_NOTIFICATION_DETECTION_INTERVAL,
        min=0,
        help="Seconds during which a notification with the same type, host and payload "
        "is refused as a duplicate.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A new OptGroup per ConfigOpts: a shared one would share its option table, and
    # overrides on one configuration would leak into the next.
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
