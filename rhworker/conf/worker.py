from oslo_config import cfg

GROUP = cfg.OptGroup("worker", title="The consume loop")

# Defaults of the options below, declared once: code built without a configuration
# (dataclasses that mirror this group, keyword defaults) takes them from here.
DEFAULT_CONCURRENCY = 4
DEFAULT_LEASE_TIMEOUT = 30.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_INTERVAL = 10.0
DEFAULT_RETRY_MAX_INTERVAL = 300.0
DEFAULT_POLL_INTERVAL = 0.5
DEFAULT_SHUTDOWN_TIMEOUT = 30.0

OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        "concurrency",
        default=DEFAULT_CONCURRENCY,
        min=1,
        help="Notifications one worker handles at once.",
    ),
    cfg.FloatOpt(
        "lease_timeout",
        default=DEFAULT_LEASE_TIMEOUT,
        min=1.0,
        help="Seconds a delivery stays with a worker that stopped renewing it before "
        "another worker takes it over.",
    ),
    cfg.IntOpt(
        "max_attempts",
        default=DEFAULT_MAX_ATTEMPTS,
        min=1,
        help="Deliveries of one notification before it is dead-lettered as failed.",
    ),
    cfg.FloatOpt(
        "retry_interval",
        default=DEFAULT_RETRY_INTERVAL,
        min=0.0,
        help="Back-off base in seconds for notifications in error: interval * 2^attempt.",
    ),
    cfg.FloatOpt(
        "retry_max_interval",
        default=DEFAULT_RETRY_MAX_INTERVAL,
        min=0.0,
        help="Cap of the retry back-off.",
    ),
    cfg.FloatOpt(
        "poll_interval",
        default=DEFAULT_POLL_INTERVAL,
        min=0.01,
        help="Seconds to wait for work when the queue is empty.",
    ),
    cfg.FloatOpt(
        "shutdown_timeout",
        default=DEFAULT_SHUTDOWN_TIMEOUT,
        min=0.0,
        help="On SIGTERM, seconds to finish work in hand before giving it back.",
    ),
]


def renewal_interval(lease_timeout: float) -> float:
    """Seconds between two renewals of a delivery's lease: a third of it, so that a
    renewal may fail twice before the lease runs out. The same share is the margin of
    the fence: with less than this left, a worker renews before it acts."""
    return lease_timeout / 3


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A new OptGroup per ConfigOpts: a shared one would share its option table, and
    # overrides on one configuration would leak into the next.
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
