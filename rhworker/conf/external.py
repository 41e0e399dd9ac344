"""Options of the ``external`` recovery driver: a host failure handed to an outside
workflow that reports back with ``PUT /v1/notifications/{id}`` (Masakari's
reserved-host spec, "asynchronous driver")."""

from oslo_config import cfg

GROUP = cfg.OptGroup("external", title="External recovery workflow (driver 'external')")

# Seconds an outside workflow has to call back before the hand-off ends in error.
DEFAULT_WORKFLOW_TIMEOUT = 1800.0
# Seconds the POST of a hand-off may take.
DEFAULT_POST_TIMEOUT = 10.0

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "endpoint",
        default="",
        help="URL the host failure is POSTed to (JSON: the notification, its host and "
        "segment, the recovery method, the usable reserved hosts in segment order and the "
        "callback URL). Required with [host_failure] driver = external.",
    ),
    cfg.StrOpt(
        "api_url",
        default="",
        help="Base URL of rhworker's API as the workflow reaches it "
        "(e.g. http://rhworker-api.example.org:15868): the callback is "
        "PUT <api_url>/v1/notifications/<id>. Required with driver = external.",
    ),
    cfg.FloatOpt(
        "workflow_timeout",
        default=DEFAULT_WORKFLOW_TIMEOUT,
        min=1.0,
        help="Seconds the workflow has to call back. Past it the notification ends "
        "'error' (the reason says so) and is handed off again after the usual back-off, "
        "up to [worker] max_attempts.",
    ),
    cfg.FloatOpt(
        "post_timeout",
        default=DEFAULT_POST_TIMEOUT,
        min=0.1,
        help="Seconds the POST of a hand-off may take; a failed or slow POST ends the "
        "attempt 'error' (retried).",
    ),
    cfg.StrOpt(
        "auth_token",
        default="",
        secret=True,
        help="Sent as X-Auth-Token with each hand-off, if set.",
    ),
    cfg.BoolOpt(
        "verify_tls",
        default=True,
        help="Verify the endpoint's TLS certificate.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
