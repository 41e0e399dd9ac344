from oslo_config import cfg

# Where the embedded mode keeps its SQLite database and file locks.
DEFAULT_STATE_DIR = "./.rhworker"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "state_dir",
        default=DEFAULT_STATE_DIR,
        help="Directory for the embedded mode: the SQLite store and the file locks "
        "live here unless [store] url and [coordination] backend_url say otherwise.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS)


def list_opts() -> dict[str | None, list[cfg.Opt]]:
    return {"DEFAULT": OPTS}
