"""Options of the fencing step run before evacuation (``rhworker.fencing`` drivers)."""

from oslo_config import cfg

GROUP = cfg.OptGroup("fencing", title="Fencing of a failed host before evacuation")

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "driver",
        default="nova",
        help="Fencing driver (entry point in rhworker.fencing): 'nova' forces the "
        "compute service down in Nova only; 'redfish' powers the host off through its BMC "
        "and confirms it is off; 'command' runs an operator's script. With 'redfish' and "
        "'command' the host is powered off first, then forced down and disabled in Nova.",
    ),
    cfg.FloatOpt(
        "timeout",
        default=60.0,
        min=1.0,
        help="Seconds a fence may take (Redfish: reset and poll until PowerState is Off; "
        "command: the script's run time). Past it the fence fails and nothing is evacuated.",
    ),
    cfg.FloatOpt(
        "poll_interval",
        default=1.0,
        min=0.05,
        help="Seconds between two reads of a host's power state (redfish).",
    ),
    cfg.BoolOpt(
        "recover_unknown_host_status",
        default=False,
        help="Recover a STOPPED notification whose host_status is UNKNOWN (fence first, "
        "then evacuate). Only honoured with a driver that confirms power off (redfish, "
        "command); with 'nova' such notifications stay ignored.",
    ),
    cfg.StrOpt(
        "command",
        default="",
        help="For driver=command: the script and its arguments, split like a shell line; "
        "'{host}' is replaced by the failed host's name. Exit status 0 means the host is "
        "fenced and powered off; anything else (or running past 'timeout') fails the fence. "
        "The script also gets RHWORKER_FENCE_HOST and RHWORKER_CONTROL_ATTRIBUTES.",
    ),
    cfg.StrOpt(
        "redfish_url",
        default="",
        help="For driver=redfish: the BMC's base URL when a host's control_attributes "
        "give none; '{host}' is replaced by the host's name "
        "(e.g. https://{host}-bmc.example.org).",
    ),
    cfg.StrOpt(
        "redfish_username",
        default="",
        help="For driver=redfish: BMC user when a host's control_attributes give none.",
    ),
    cfg.StrOpt(
        "redfish_password",
        default="",
        secret=True,
        help="For driver=redfish: BMC password when a host's control_attributes give none.",
    ),
    cfg.BoolOpt(
        "redfish_verify_tls",
        default=True,
        help="For driver=redfish: verify the BMC's TLS certificate.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
