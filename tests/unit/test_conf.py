import os
import subprocess
import sys

from rhworker import conf as rconf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_defaults_give_embedded_mode(tmp_path):
    conf = rconf.load(overrides={"DEFAULT": {"state_dir": str(tmp_path)}})
    assert rconf.store_url(conf) == f"sqlite:///{tmp_path}/rhworker.db"
    assert rconf.coordination_url(conf) == f"file://{tmp_path}/locks"
    assert conf.host_failure.ha_enabled_instance_metadata_key == "HA_Enabled"
    assert conf.host_failure.host_failure_recovery_threads == 3


def test_config_file_is_read(tmp_path):
    path = tmp_path / "rhworker.conf"
    path.write_text("[store]\nurl = redis://127.0.0.1:1/0\n[worker]\nconcurrency = 7\n")
    conf = rconf.load(config_files=[str(path)])
    assert rconf.store_url(conf) == "redis://127.0.0.1:1/0"
    assert conf.worker.concurrency == 7


def test_sample_config_is_up_to_date(tmp_path):
    out = tmp_path / "sample"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "oslo_config.generator",
            "--config-file",
            os.path.join(ROOT, "conf", "rhworker-config-generator.conf"),
            "--output-file",
            str(out),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    with open(os.path.join(ROOT, "conf", "rhworker.conf.sample")) as f:
        committed = f.read()
    assert out.read_text() == committed, (
        "conf/rhworker.conf.sample is out of date: run "
        "oslo-config-generator --config-file conf/rhworker-config-generator.conf"
    )
