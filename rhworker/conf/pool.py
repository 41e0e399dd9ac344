from oslo_config import cfg

GROUP = cfg.OptGroup("pool", title="rhworker pool: restarting the workers it supervises")

OPTS: list[cfg.Opt] = [
    cfg.FloatOpt(
        "restart_delay",
        default=1.0,
        min=0.0,
        help="Seconds before restarting a worker that exited; doubled after each quick "
        "failure in a row (see quick_failure_time).",
    ),
    cfg.FloatOpt(
        "restart_max_delay",
        default=60.0,
        min=0.0,
        help="Cap of the restart back-off, in seconds.",
    ),
    cfg.FloatOpt(
        "quick_failure_time",
        default=30.0,
        min=0.0,
        help="A worker that exits sooner than this many seconds after its start has "
        "failed quickly (it could not start: store or lock backend unreachable, bad "
        "configuration). A worker that ran longer starts its count afresh.",
    ),
    cfg.IntOpt(
        "max_quick_failures",
        default=5,
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
