from oslo_config import cfg

GROUP = cfg.OptGroup("compute", title="Nova access through openstacksdk")

# Highest compute microversion at which an evacuated server comes back ACTIVE
# (from 2.95 it stays SHUTOFF on the target).
DEFAULT_MICROVERSION = "2.94"

# Defaults of the options below, declared once: code built without a configuration
# (dataclasses that mirror this group, keyword defaults) takes them from here.
DEFAULT_RETRY_DEADLINE = 60.0

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "cloud", help="Cloud name in clouds.yaml; when set, the auth options below are ignored."
    ),
    cfg.StrOpt(
        "auth_type", default="password", help="Keystone auth plugin (password, token, none...)."
    ),
    cfg.URIOpt("auth_url", help="Keystone endpoint, e.g. http://keystone:5000/v3."),
    cfg.StrOpt("username", help="Keystone user."),
    cfg.StrOpt("password", secret=True, help="Keystone password."),
    cfg.StrOpt("project_name", help="Keystone project."),
    cfg.StrOpt("user_domain_name", default="Default", help="Domain of the user."),
    cfg.StrOpt("project_domain_name", default="Default", help="Domain of the project."),
    cfg.StrOpt("region_name", help="Region of the compute endpoint."),
    cfg.StrOpt("interface", default="public", help="Endpoint interface: public, internal, admin."),
    cfg.StrOpt(
        "endpoint_override", help="Compute endpoint to use instead of the catalog's (…/v2.1)."
    ),
    cfg.StrOpt(
        "placement_endpoint_override",
        help="Placement endpoint to use instead of the catalog's (capacity of reserved "
        "hosts; without Placement, reserved hosts are taken whatever their size).",
    ),
    cfg.StrOpt("token", secret=True, help="Token for auth_type=none/admin_token deployments."),
    cfg.StrOpt(
        "microversion",
        default=DEFAULT_MICROVERSION,
        help="Compute API microversion to pin (<= 2.94 so evacuated servers stay ACTIVE).",
    ),
    cfg.FloatOpt("api_timeout", default=30.0, min=0.1, help="Seconds per HTTP request."),
    cfg.FloatOpt(
        "retry_deadline",
        default=DEFAULT_RETRY_DEADLINE,
        min=0.0,
        help="Total seconds spent retrying a transient failure (connection, 5xx, 429).",
    ),
    cfg.BoolOpt("insecure", default=False, help="Skip TLS verification."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A new OptGroup per ConfigOpts: a shared one would share its option table, and
    # overrides on one configuration would leak into the next.
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
