"""Logging through oslo.log: log file, JSON lines with the step fields, syslog,
log_config_append, masking whatever the handler, one-line errors."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from oslo_log import handlers as oslo_handlers

from rhworker import conf as rconf
from rhworker.errors import ConfigError
from rhworker.logs import setup_from_conf

LOG = logging.getLogger("rhworker.test_logs")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, hook = list(root.handlers), root.level, sys.excepthook
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook = hook


def _conf(tmp_path: Path, text: str):
    path = tmp_path / "rhworker.conf"
    path.write_text(text)
    return rconf.load(config_files=[str(path)])


def _step_line() -> None:
    LOG.info(
        "notification %s step %s: %s",
        "n-1",
        "claimed",
        "spare-1 via redis://:s3cret@h:1/0",
        extra={"notification": "n-1", "worker": "w-1", "step": "claimed"},
    )


def test_log_file_in_json_with_the_step_fields(tmp_path: Path) -> None:
    log_file = tmp_path / "rhworker.log"
    conf = _conf(tmp_path, f"[DEFAULT]\nlog_file = {log_file}\nuse_stderr = false\n")
    setup_from_conf(conf, fmt="json")
    _step_line()
    lines = [json.loads(x) for x in log_file.read_text().splitlines()]
    (line,) = [x for x in lines if x["name"] == LOG.name]
    assert line["levelname"] == "INFO"
    assert line["extra"] == {"notification": "n-1", "worker": "w-1", "step": "claimed"}
    assert line["message"] == "notification n-1 step claimed: spare-1 via redis://:***@h:1/0"
    assert "s3cret" not in log_file.read_text()


def test_text_by_default_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup_from_conf(_conf(tmp_path, ""))
    _step_line()
    err = capsys.readouterr().err
    assert "INFO rhworker.test_logs" in err and "step claimed" in err
    assert "s3cret" not in err and "redis://:***@h:1/0" in err


def test_syslog_handler(tmp_path: Path) -> None:
    setup_from_conf(
        _conf(tmp_path, "[DEFAULT]\nuse_syslog = true\nsyslog_log_facility = LOG_LOCAL3\n")
    )
    kinds = {type(h) for h in logging.getLogger().handlers}
    assert oslo_handlers.OSSysLogHandler in kinds


def test_log_config_append_replaces_the_handlers_and_is_still_masked(tmp_path: Path) -> None:
    out = tmp_path / "custom.log"
    ini = tmp_path / "logging.ini"
    ini.write_text(
        "[loggers]\nkeys = root\n[handlers]\nkeys = file\n[formatters]\nkeys = json\n"
        "[logger_root]\nlevel = INFO\nhandlers = file\n"
        f"[handler_file]\nclass = FileHandler\nformatter = json\nargs = ({str(out)!r},)\n"
        "[formatter_json]\nclass = oslo_log.formatters.JSONFormatter\n"
    )
    setup_from_conf(_conf(tmp_path, f"[DEFAULT]\nlog_config_append = {ini}\n"))
    _step_line()
    (line,) = [json.loads(x) for x in out.read_text().splitlines() if LOG.name in x]
    assert line["extra"]["step"] == "claimed"
    assert "s3cret" not in out.read_text()


def test_an_unusable_log_file_is_one_config_error(tmp_path: Path) -> None:
    conf = _conf(tmp_path, f"[DEFAULT]\nlog_file = {tmp_path / 'no' / 'such' / 'dir.log'}\n")
    with pytest.raises(ConfigError, match=r"^logging: .*No such file or directory"):
        setup_from_conf(conf)
