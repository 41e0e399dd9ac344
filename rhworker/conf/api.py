"""``[api]``: the Masakari-compatible REST API (``rhworker api``, ``rhworker.api.wsgi``).

Keystone's own settings are keystonemiddleware's ``[keystone_authtoken]`` group;
the policy file is oslo.policy's ``[oslo_policy] policy_file``.
"""

from oslo_config import cfg

GROUP = cfg.OptGroup("api", title="The Masakari-compatible REST API")

# Masakari's port.
DEFAULT_PORT = 15868

OPTS: list[cfg.Opt] = [
    cfg.HostAddressOpt("host", default="127.0.0.1", help="Address `rhworker api` listens on."),
    cfg.PortOpt(
        "port", default=DEFAULT_PORT, help="Port `rhworker api` listens on (0: a free one)."
    ),
    cfg.StrOpt(
        "auth_strategy",
        default="keystone",
        choices=["keystone", "noauth"],
        help="keystone: tokens are validated by keystonemiddleware's auth_token (options "
        "in [keystone_authtoken]) and calls are authorised by oslo.policy with Masakari's "
        "rules (admin only by default). noauth: no token is checked and every caller is "
        "an admin — for the embedded demo and tests; refused on a non-loopback address "
        "unless allow_noauth_on_non_loopback is set.",
    ),
    cfg.BoolOpt(
        "allow_noauth_on_non_loopback",
        default=False,
        help="Let `rhworker api` listen with auth_strategy = noauth on an address other "
        "than loopback. Anyone who reaches it can then change the inventory.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A new OptGroup per ConfigOpts: a shared one would share its option table, and
    # overrides on one configuration would leak into the next.
    conf.register_group(cfg.OptGroup(GROUP.name, title=GROUP.title))
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {GROUP.name: OPTS}
