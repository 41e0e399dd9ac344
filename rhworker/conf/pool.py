from oslo_config import cfg

GROUP = cfg.OptGroup("pool", title="rhworker pool: restarting the workers it supervises")

# Defaults of the options below, declared once: code built without a configuration
# (dataclasses that mirror this group, keyword defaults) takes them from here.
DEFAULT_RESTART_DELAY = 1.0
DEFAULT_RESTART_MAX_DELAY = 60.0
DEFAULT_QUICK_FAILURE_TIME = 30.0
DEFAULT_MAX_QUICK_FAILURES = 5

OPTS: list[cfg.Opt] = [
    cfg.FloatOpt(
        "restart_delay",
        default=DEFAULT_RESTART_DELAY,
        min=0.0,
        help="Seconds before restarting a worker that exited; doubled after each quick "
        "failure in a row (see quick_failure_time).",
    ),
    cfg.FloatOpt(
        "restart_max_delay",
        default=DEFAULT_RESTART_MAX_DELAY,
        min=0.0,
        help="Cap of the restart back-off, in seconds.",
    ),
    cfg.FloatOpt(
        "quick_failure_time",
        default=DEFAULT_QUICK_FAILURE_TIME,
        min=0.0,
        help="A worker that exits sooner than this many seconds after its start has "
        "failed quickly (it could not start: store or lock backend unreachable, bad "
        "configuration). A worker that ran longer starts its count afresh.",
    ),
    cfg.IntOpt(
        "max_quick_failures",
        default=DEFAULT_MAX_QUICK_FAILURES,
        min=1,
        help="Quick failures in a row of one worker after which the pool stops every "
        "worker and exits 1 with a message, instead of restarting it forever.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A new OptGroup per ConfigOpts: a shared one would share its option table, and
    # overrides on one configuration would leak into the next.
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
