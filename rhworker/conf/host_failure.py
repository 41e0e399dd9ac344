"""Options of host-failure recovery; names and defaults follow Masakari's where they exist."""

from oslo_config import cfg

GROUP = cfg.OptGroup("host_failure", title="Host-failure recovery")

# Defaults of the options below, declared once: code built without a configuration
# (dataclasses that mirror this group, keyword defaults) takes them from here.
DEFAULT_EVACUATE_ALL_INSTANCES = True
DEFAULT_HA_ENABLED_INSTANCE_METADATA_KEY = "HA_Enabled"
DEFAULT_EVACUATION_PRIORITY_METADATA_KEY = "evacuation_priority"
DEFAULT_IGNORE_INSTANCES_IN_ERROR_STATE = False
DEFAULT_ADD_RESERVED_HOST_TO_AGGREGATE = False
DEFAULT_HOST_FAILURE_RECOVERY_THREADS = 3
DEFAULT_MAX_INFLIGHT_EVACUATIONS = 32
DEFAULT_WAIT_PERIOD_AFTER_EVACUATION = 90
DEFAULT_VERIFY_INTERVAL = 1.0
DEFAULT_CORRELATION_WINDOW = 5.0
# Seconds before a slow evacuation is checked for a failed destination (stranded.py).
DEFAULT_EVACUATION_STALL_TIMEOUT = 30.0
DEFAULT_SERVICE_DISABLE_REASON = "Masakari detected host failed."
DEFAULT_HOST_RESTORE_POLICY = "ordinary"
DEFAULT_RESTORE_ON_STARTED = True

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "driver", default="default", help="Recovery driver (entry point in rhworker.drivers)."
    ),
    cfg.BoolOpt(
        "evacuate_all_instances",
        default=DEFAULT_EVACUATE_ALL_INSTANCES,
        help="Evacuate every instance of the failed host; False: only those whose "
        "ha_enabled_instance_metadata_key metadata is true.",
    ),
    cfg.StrOpt(
        "ha_enabled_instance_metadata_key",
        default=DEFAULT_HA_ENABLED_INSTANCE_METADATA_KEY,
        help="Instance metadata key that marks an instance for evacuation.",
    ),
    cfg.StrOpt(
        "evacuation_priority_metadata_key",
        default=DEFAULT_EVACUATION_PRIORITY_METADATA_KEY,
        help="Instance metadata key holding an evacuation priority (a number, higher "
        "first; missing or not a number counts as 0). HA-enabled instances still go "
        "before the others; the concurrency limit is applied in this order.",
    ),
    cfg.BoolOpt(
        "ignore_instances_in_error_state",
        default=DEFAULT_IGNORE_INSTANCES_IN_ERROR_STATE,
        help="Do not evacuate instances in error state.",
    ),
    cfg.BoolOpt(
        "add_reserved_host_to_aggregate",
        default=DEFAULT_ADD_RESERVED_HOST_TO_AGGREGATE,
        help="Add the chosen reserved host to every aggregate of the failed host.",
    ),
    cfg.IntOpt(
        "host_failure_recovery_threads",
        default=DEFAULT_HOST_FAILURE_RECOVERY_THREADS,
        min=1,
        help="Evacuations of one notification being posted at once (each: read the "
        "server, lock it, post its evacuate), in order, HA-enabled instances first. "
        "Masakari's option of the same name also bounded the evacuations waited for; "
        "here a posted evacuation no longer holds a slot: see "
        "max_inflight_evacuations.",
    ),
    cfg.IntOpt(
        "max_inflight_evacuations",
        default=DEFAULT_MAX_INFLIGHT_EVACUATIONS,
        min=1,
        help="Evacuations of one notification in flight at once (posted and not yet "
        "settled, restored and unlocked). All in-flight servers of a notification are "
        "watched together: one listing per poll, polls fast at first (0.2 s) and "
        "backing off to verify_interval.",
    ),
    cfg.IntOpt(
        "wait_period_after_evacuation",
        default=DEFAULT_WAIT_PERIOD_AFTER_EVACUATION,
        min=0,
        help="Seconds to wait for one evacuated instance to settle before calling it failed.",
    ),
    cfg.FloatOpt(
        "verify_interval",
        default=DEFAULT_VERIFY_INTERVAL,
        min=0.01,
        help="Longest time between two polls of a notification's evacuating servers "
        "(polls start 0.2 s apart, or this if shorter, and back off to it while "
        "nothing changes).",
    ),
    cfg.FloatOpt(
        "correlation_window",
        default=DEFAULT_CORRELATION_WINDOW,
        min=0,
        help="Seconds after a failure report is accepted before its evacuations start, so "
        "that hosts failing with it (a rack's power, a top-of-rack switch: monitors report "
        "them a few seconds apart) are reported and forced down in Nova first, and Nova's "
        "scheduler cannot place evacuations onto them. Only for segments where the "
        "scheduler places (auto, auto_priority, rh_priority): a reserved_host segment "
        "evacuates onto its spares and does not wait. 0: no wait (reported hosts are "
        "still forced down before any evacuation). See docs/design.md, 'Correlated "
        "failures'.",
    ),
    cfg.FloatOpt(
        "evacuation_stall_timeout",
        default=DEFAULT_EVACUATION_STALL_TIMEOUT,
        min=1,
        help="Seconds an evacuation may run without settling before rhworker asks Nova "
        "whether it can still end: its migration record's destination, that host's "
        "compute service, and its failure reports. An evacuation whose destination "
        "was reported STOPPED (no STARTED since) and is forced down will never end: the "
        "server is reset to error and evacuated again elsewhere (a destination that fails is "
        "noticed sooner, at the next poll, when rhworker chose it). A destination not "
        "known to have failed is never second-guessed: the evacuation is only reported "
        "slow and waited for (wait_period_after_evacuation), since resetting a rebuild "
        "that may still finish would run the server twice. 30 s is well past an "
        "evacuation's usual seconds on shared storage and costs three Nova reads per "
        "slow evacuation per period. See docs/design.md, 'Stranded evacuations'.",
    ),
    cfg.StrOpt(
        "service_disable_reason",
        default=DEFAULT_SERVICE_DISABLE_REASON,
        help="Reason recorded when the failed host's compute service is disabled "
        "(the notification id is appended).",
    ),
    cfg.StrOpt(
        "host_restore_policy",
        default=DEFAULT_HOST_RESTORE_POLICY,
        choices=[
            ("ordinary", "back as an ordinary host: compute service enabled, not reserved"),
            (
                "reserved",
                "back into its segment as a spare: compute service disabled (with a reason), "
                "reserved=True, so a later failure can be evacuated onto it",
            ),
        ],
        help="How a host that comes back after a failure is restored (a STARTED "
        "notification, or 'rhworker host restore'). Either way its nova-compute service "
        "is un-forced (once Nova allows it) and the host is taken off maintenance.",
    ),
    cfg.BoolOpt(
        "restore_on_started",
        default=DEFAULT_RESTORE_ON_STARTED,
        help="Restore the host (see host_restore_policy) when a STARTED COMPUTE_HOST "
        "notification arrives. False: STARTED notifications finish with nothing done, and "
        "hosts come back only through 'rhworker host restore HOST'.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A new OptGroup per ConfigOpts: a shared one would share its option table, and
    # overrides on one configuration would leak into the next.
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
