"""Options of the fencing step run before evacuation (``rhworker.fencing`` drivers)."""

from oslo_config import cfg

GROUP = cfg.OptGroup("fencing", title="Fencing of a failed host before evacuation")

# Defaults of the options below, declared once: code built without a configuration
# (dataclasses that mirror this group, keyword defaults) takes them from here.
DEFAULT_DRIVER = "nova"
DEFAULT_TIMEOUT = 60.0
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_RECOVER_UNKNOWN_HOST_STATUS = False
DEFAULT_COMMAND = ""
DEFAULT_REDFISH_URL = ""
DEFAULT_REDFISH_USERNAME = ""
DEFAULT_REDFISH_PASSWORD = ""
DEFAULT_REDFISH_VERIFY_TLS = True

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "driver",
        default=DEFAULT_DRIVER,
        help="Fencing driver (entry point in rhworker.fencing): 'nova' forces the "
        "compute service down in Nova only; 'redfish' powers the host off through its BMC "
        "and confirms it is off; 'command' runs an operator's script. With 'redfish' and "
        "'command' the host is powered off first, then forced down and disabled in Nova.",
    ),
    cfg.FloatOpt(
        "timeout",
        default=DEFAULT_TIMEOUT,
        min=1.0,
        help="Seconds a fence may take (Redfish: reset and poll until PowerState is Off; "
        "command: the script's run time). Past it the fence fails and nothing is evacuated.",
    ),
    cfg.FloatOpt(
        "poll_interval",
        default=DEFAULT_POLL_INTERVAL,
        min=0.05,
        help="Seconds between two reads of a host's power state (redfish).",
    ),
    cfg.BoolOpt(
        "recover_unknown_host_status",
        default=DEFAULT_RECOVER_UNKNOWN_HOST_STATUS,
        help="Recover a STOPPED notification whose host_status is UNKNOWN (fence first, "
        "then evacuate). Only honoured with a driver that confirms power off (redfish, "
        "command); with 'nova' such notifications stay ignored.",
    ),
    cfg.StrOpt(
        "command",
        default=DEFAULT_COMMAND,
        help="For driver=command: the script and its arguments, split like a shell line; "
        "'{host}' is replaced by the failed host's name. Exit status 0 means the host is "
        "fenced and powered off; anything else (or running past 'timeout') fails the fence. "
        "The script also gets RHWORKER_FENCE_HOST and RHWORKER_CONTROL_ATTRIBUTES.",
    ),
    cfg.StrOpt(
        "redfish_url",
        default=DEFAULT_REDFISH_URL,
        help="For driver=redfish: the BMC's base URL when a host's control_attributes "
        "give none; '{host}' is replaced by the host's name "
        "(e.g. https://{host}-bmc.example.org).",
    ),
    cfg.StrOpt(
        "redfish_username",
        default=DEFAULT_REDFISH_USERNAME,
        help="For driver=redfish: BMC user when a host's control_attributes give none.",
    ),
    cfg.StrOpt(
        "redfish_password",
        default=DEFAULT_REDFISH_PASSWORD,
        secret=True,
        help="For driver=redfish: BMC password when a host's control_attributes give none.",
    ),
    cfg.BoolOpt(
        "redfish_verify_tls",
        default=DEFAULT_REDFISH_VERIFY_TLS,
        help="For driver=redfish: verify the BMC's TLS certificate.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
