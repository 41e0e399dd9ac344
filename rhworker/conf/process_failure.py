"""Options of process-failure recovery (PROCESS notifications); Masakari's names and defaults."""

from oslo_config import cfg

GROUP = cfg.OptGroup("process_failure", title="Process-failure recovery (PROCESS notifications)")

# Defaults of the options below, declared once: code built without a configuration
# (dataclasses that mirror this group, keyword defaults) takes them from here.
DEFAULT_SERVICE_DISABLE_REASON = "Masakari detected process failed."
DEFAULT_WAIT_PERIOD_AFTER_SERVICE_UPDATE = 180
DEFAULT_VERIFY_INTERVAL = 1.0

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "service_disable_reason",
        default=DEFAULT_SERVICE_DISABLE_REASON,
        help="Reason recorded when the compute service of a host whose nova-compute "
        "stopped is disabled (the notification id is appended). A STARTED notification "
        "enables the service again only if its reason starts with this text.",
    ),
    cfg.IntOpt(
        "wait_period_after_service_update",
        default=DEFAULT_WAIT_PERIOD_AFTER_SERVICE_UPDATE,
        min=0,
        help="Seconds to wait for Nova to show the service disabled (or enabled) after "
        "the update before calling the recovery failed.",
    ),
    cfg.FloatOpt(
        "verify_interval",
        default=DEFAULT_VERIFY_INTERVAL,
        min=0.01,
        help="Seconds between polls of the service after an update.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
