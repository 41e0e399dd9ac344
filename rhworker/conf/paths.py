import os

from oslo_config import cfg

# The system-wide state directory: used when running as root or when it exists and is
# writable (e.g. made by the package or by systemd's StateDirectory=rhworker).
SYSTEM_STATE_DIR = "/var/lib/rhworker"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "state_dir",
        sample_default="/var/lib/rhworker or $XDG_STATE_HOME/rhworker",
        help="Directory for the embedded mode: the SQLite store and the file locks "
        "live here unless [store] url and [coordination] backend_url say otherwise. "
        "Unset: /var/lib/rhworker when running as root or when that directory exists "
        "and is writable, otherwise $XDG_STATE_HOME/rhworker (~/.local/state/rhworker). "
        "A relative path is taken from the current directory.",
    ),
]


def default_state_dir() -> str:
    """The state directory when none is configured (always absolute)."""
    if os.geteuid() == 0 or (
        os.path.isdir(SYSTEM_STATE_DIR) and os.access(SYSTEM_STATE_DIR, os.W_OK | os.X_OK)
    ):
        return SYSTEM_STATE_DIR
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "rhworker")


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS)


def list_opts() -> dict[str | None, list[cfg.Opt]]:
    return {"DEFAULT": OPTS}
