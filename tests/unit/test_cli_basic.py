import subprocess
import sys

import rhworker
from rhworker.cli import main


def test_version():
    out = subprocess.run(
        [sys.executable, "-m", "rhworker", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"rhworker {rhworker.__version__}"


def test_config_show(tmp_path, capsys):
    assert main(["--state-dir", str(tmp_path), "config"]) == 0
    assert f"sqlite:///{tmp_path}/rhworker.db" in capsys.readouterr().out


def test_unknown_command_exits_2():
    proc = subprocess.run(
        [sys.executable, "-m", "rhworker", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
