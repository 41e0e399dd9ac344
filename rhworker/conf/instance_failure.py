"""Options of instance-failure recovery (VM notifications); Masakari's names and defaults."""

from oslo_config import cfg

GROUP = cfg.OptGroup("instance_failure", title="Instance-failure recovery (VM notifications)")

# Defaults of the options below, declared once: code built without a configuration
# (dataclasses that mirror this group, keyword defaults) takes them from here.
DEFAULT_PROCESS_ALL_INSTANCES = False
DEFAULT_HA_ENABLED_INSTANCE_METADATA_KEY = "HA_Enabled"
DEFAULT_IGNORE_INSTANCES_IN_ERROR_STATE = False
DEFAULT_WAIT_PERIOD_AFTER_POWER_OFF = 60
DEFAULT_WAIT_PERIOD_AFTER_POWER_ON = 60
DEFAULT_VERIFY_INTERVAL = 1.0

OPTS: list[cfg.Opt] = [
    cfg.BoolOpt(
        "process_all_instances",
        default=DEFAULT_PROCESS_ALL_INSTANCES,
        help="Recover every instance a VM notification names; False (Masakari's default): "
        "only those whose ha_enabled_instance_metadata_key metadata is true, the others "
        "end ignored.",
    ),
    cfg.StrOpt(
        "ha_enabled_instance_metadata_key",
        default=DEFAULT_HA_ENABLED_INSTANCE_METADATA_KEY,
        help="Instance metadata key that marks an instance for recovery.",
    ),
    cfg.BoolOpt(
        "ignore_instances_in_error_state",
        default=DEFAULT_IGNORE_INSTANCES_IN_ERROR_STATE,
        help="A VM notification about an instance in error state ends ignored instead of "
        "restarting it.",
    ),
    cfg.IntOpt(
        "wait_period_after_power_off",
        default=DEFAULT_WAIT_PERIOD_AFTER_POWER_OFF,
        min=0,
        help="Seconds to wait for the instance to be stopped before calling the recovery failed.",
    ),
    cfg.IntOpt(
        "wait_period_after_power_on",
        default=DEFAULT_WAIT_PERIOD_AFTER_POWER_ON,
        min=0,
        help="Seconds to wait for the instance to be ACTIVE again before calling the "
        "recovery failed.",
    ),
    cfg.FloatOpt(
        "verify_interval",
        default=DEFAULT_VERIFY_INTERVAL,
        min=0.01,
        help="Seconds between polls of an instance being stopped or started.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
