"""Options of the mass-failure brake (docs/brake.md)."""

from oslo_config import cfg

GROUP = cfg.OptGroup("brake", title="Mass-failure brake: hold new host failures past a threshold")

DEFAULT_ENABLED = True
DEFAULT_SEGMENT_MAX_FAILED_FRACTION = 0.5
DEFAULT_SEGMENT_MIN_FAILED_HOSTS = 3
DEFAULT_CLOUD_MAX_FAILURES_PER_WINDOW = 20
DEFAULT_WINDOW = 300.0

OPTS: list[cfg.Opt] = [
    cfg.BoolOpt(
        "enabled",
        default=DEFAULT_ENABLED,
        help="Hold new host-failure notifications (accepted, stored, not processed, no "
        "attempt spent) once a threshold below is passed: the segment (or every segment) "
        "is paused with the reason, until an operator runs 'rhworker resume'.",
    ),
    cfg.FloatOpt(
        "segment_max_failed_fraction",
        default=DEFAULT_SEGMENT_MAX_FAILED_FRACTION,
        min=0.0,
        max=1.0,
        help="A segment is held when MORE than this fraction of its hosts have open "
        "failures (COMPUTE_HOST STOPPED notifications not ended). 0.5 is the quorum rule "
        "of the Pacemaker clusters masakari-hostmonitor runs on, and the 50 percent "
        "threshold of InstanceHA. 1.0 never holds a segment.",
    ),
    cfg.IntOpt(
        "segment_min_failed_hosts",
        default=DEFAULT_SEGMENT_MIN_FAILED_HOSTS,
        min=1,
        help="The segment threshold only applies from this many failed hosts on: a small "
        "segment losing one or two hosts is an ordinary failure.",
    ),
    cfg.IntOpt(
        "cloud_max_failures_per_window",
        default=DEFAULT_CLOUD_MAX_FAILURES_PER_WINDOW,
        min=0,
        help="Every segment is held when MORE than this many hosts were reported failed "
        "(COMPUTE_HOST STOPPED, any outcome) within 'window' seconds. 0 turns it off.",
    ),
    cfg.FloatOpt(
        "window",
        default=DEFAULT_WINDOW,
        min=1.0,
        help="Seconds over which cloud_max_failures_per_window counts failure reports.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
