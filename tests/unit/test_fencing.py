"""The fencing seam: loading by name, control_attributes, the nova driver on the
in-package fake Nova, the command driver with real scripts."""

from __future__ import annotations

import os
import stat
import textwrap
import time
from pathlib import Path

import pytest

from rhworker import conf as rconf
from rhworker.compute.fake import FakeCompute
from rhworker.errors import (
    ConfigError,
    FencingDriverNotFound,
    FencingError,
    FencingTimeout,
    LeaseLost,
    RhworkerError,
)
from rhworker.fencing import (
    FenceRequest,
    FencingOptions,
    load_fencing_driver,
    parse_control_attributes,
)
from rhworker.fencing.command import CommandFencing
from rhworker.fencing.nova import NovaFencing
from rhworker.fencing.redfish import RedfishFencing
from rhworker.models import Host
from rhworker.recovery.base import HostFailureOptions


def _request(host: Host, compute: FakeCompute | None = None, guard=lambda: None) -> FenceRequest:
    compute = compute or FakeCompute()
    try:
        service = compute.get_service(host.name)
    except RhworkerError:
        service = None
    return FenceRequest(host, compute, service, guard, time.sleep, time.monotonic)


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fence.sh"
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


# -- loading --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,cls,confirms",
    [
        ("nova", NovaFencing, False),
        ("redfish", RedfishFencing, True),
        ("command", CommandFencing, True),
    ],
)
def test_drivers_load_by_name(name, cls, confirms):
    driver = load_fencing_driver(name, FencingOptions(driver=name))
    assert type(driver) is cls
    assert driver.name == name
    assert driver.confirms_power_off is confirms
    assert driver.options.driver == name


def test_unknown_driver_names_the_known_ones():
    with pytest.raises(FencingDriverNotFound) as err:
        load_fencing_driver("ipmi", FencingOptions())
    message = str(err.value)
    assert "'ipmi'" in message and "command, nova, redfish" in message
    assert isinstance(err.value, FencingError) and isinstance(err.value, ConfigError)


def test_options_from_conf_defaults_and_secret():
    conf = rconf.load()
    opts = HostFailureOptions.from_conf(conf).fencing
    assert opts == FencingOptions()
    assert opts.driver == "nova" and opts.recover_unknown_host_status is False
    secret = {o.name: o.secret for o in rconf.fencing.OPTS}
    assert secret["redfish_password"] is True
    conf = rconf.load(overrides={"fencing": {"driver": "command", "command": "/bin/true {host}"}})
    opts = FencingOptions.from_conf(conf)
    assert opts.driver == "command" and opts.command == "/bin/true {host}"
    assert "hunter2" not in repr(FencingOptions(redfish_password="hunter2"))


# -- control_attributes ----------------------------------------------------------------------


def test_control_attributes_forms():
    assert parse_control_attributes("") == {}
    assert parse_control_attributes('{"redfish_url": "https://b", "system_id": 1}') == {
        "redfish_url": "https://b",
        "system_id": "1",
    }
    assert parse_control_attributes("redfish_url=https://b, system_id=1; password='a b=c'") == {
        "redfish_url": "https://b",
        "system_id": "1",
        "password": "a b=c",
    }
    for bad in ("just-a-word", "[1, 2]", "{not json", "k='unterminated"):
        with pytest.raises(FencingError):
            parse_control_attributes(bad)


def test_redfish_bmc_from_attributes_and_defaults():
    driver = RedfishFencing(
        FencingOptions(
            redfish_url="https://{host}-bmc.example.org",
            redfish_username="ops",
            redfish_password="pw",
        )
    )
    bmc = driver.bmc("compute-7", "")
    assert bmc.url == "https://compute-7-bmc.example.org"
    assert (bmc.username, bmc.password, bmc.system_path, bmc.verify_tls) == (
        "ops",
        "pw",
        None,
        True,
    )
    assert "pw" not in repr(bmc)
    bmc = driver.bmc("c", "redfish_url=http://10.0.0.5/ system_id=1 username=u verify_tls=false")
    assert (bmc.url, bmc.system_path, bmc.username, bmc.password, bmc.verify_tls) == (
        "http://10.0.0.5",
        "/redfish/v1/Systems/1",
        "u",
        "pw",
        False,
    )
    with pytest.raises(FencingError, match="no BMC address for c"):
        RedfishFencing(FencingOptions()).bmc("c", "")


def test_redfish_unreachable_bmc_fails_within_the_timeout():
    from rhworker.testing.servers import free_port

    pytest.importorskip("sushy")
    driver = RedfishFencing(FencingOptions(timeout=2))
    host = Host("c", "s", control_attributes=f"redfish_url=http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(FencingError, match="BMC http://127.0.0.1"):
        driver.fence(_request(host))
    assert time.monotonic() - started < 15


# -- nova ---------------------------------------------------------------------------------------


def test_nova_driver_forces_down_only():
    compute = FakeCompute()
    compute.add_host("compute-1")
    result = NovaFencing(FencingOptions()).fence(_request(Host("compute-1", "s"), compute))
    assert result.forced_down is True and result.powered_off is False
    service = compute.services["compute-1"]
    assert service.forced_down is True and service.status == "enabled"
    assert [c.name for c in compute.calls] == ["get_service", "force_down_service"]
    # Nova without a compute service on the host: nothing to force down, not an error.
    result = NovaFencing(FencingOptions()).fence(_request(Host("gone", "s"), compute))
    assert result.forced_down is False and "no compute service" in result.message


# -- command ------------------------------------------------------------------------------------


def test_command_success_substitutes_host_and_captures_output(tmp_path):
    marker = tmp_path / "fenced"
    script = _script(
        tmp_path,
        f"""\
        echo "powering off $1 ($RHWORKER_FENCE_HOST) attrs=$RHWORKER_CONTROL_ATTRIBUTES"
        echo "ipmi says ok" >&2
        echo "$1" > {marker}
        """,
    )
    driver = load_fencing_driver("command", FencingOptions(command=f"{script} {{host}}"))
    host = Host("compute-3", "s", control_attributes="bmc=10.0.0.3")
    result = driver.fence(_request(host))
    assert marker.read_text().strip() == "compute-3"
    assert result.powered_off is True and result.driver == "command"
    assert "exited 0" in result.message
    assert "powering off compute-3 (compute-3) attrs=bmc=10.0.0.3" in result.message
    assert "stderr: ipmi says ok" in result.message


def test_command_failure_is_a_fencing_error_with_its_output(tmp_path):
    script = _script(tmp_path, 'echo "BMC not answering" >&2\nexit 3\n')
    driver = CommandFencing(FencingOptions(command=script))
    with pytest.raises(FencingError) as err:
        driver.fence(_request(Host("compute-1", "s")))
    assert "exited 3" in str(err.value) and "BMC not answering" in str(err.value)


def test_command_timeout_kills_the_script(tmp_path):
    script = _script(tmp_path, "echo started\nexec sleep 30\n")
    driver = CommandFencing(FencingOptions(command=script, timeout=1.0))
    started = time.monotonic()
    with pytest.raises(FencingTimeout, match="did not finish within 1 s"):
        driver.fence(_request(Host("compute-1", "s")))
    assert time.monotonic() - started < 10


def test_command_missing_or_unset(tmp_path):
    with pytest.raises(FencingError, match="cannot run"):
        CommandFencing(FencingOptions(command=str(tmp_path / "nope"))).fence(
            _request(Host("h", "s"))
        )
    with pytest.raises(FencingError, match=r"needs \[fencing\] command"):
        CommandFencing(FencingOptions()).fence(_request(Host("h", "s")))


def test_command_is_not_run_without_the_lease(tmp_path):
    marker = tmp_path / "ran"
    script = _script(tmp_path, f"touch {marker}\n")

    def lost() -> None:
        raise LeaseLost("taken over")

    with pytest.raises(LeaseLost):
        CommandFencing(FencingOptions(command=script)).fence(_request(Host("h", "s"), guard=lost))
    assert not os.path.exists(marker)


# -- preflight -----------------------------------------------------------------------------------


def test_check_fencing_reports_or_refuses(tmp_path):
    from rhworker.fencing.base import check_fencing

    assert check_fencing(FencingOptions()) == "fencing nova (Nova force-down only)"
    ok = FencingOptions(driver="command", command="true {host}")
    assert check_fencing(ok) == "fencing command (confirms power off)"
    assert "confirms power off" in check_fencing(FencingOptions(driver="redfish"))
    not_executable = tmp_path / "fence.sh"
    not_executable.write_text("#!/bin/sh\n")
    for options, why in [
        (FencingOptions(driver="ipmi"), "no fencing driver named 'ipmi'"),
        (FencingOptions(driver="command"), r"needs \[fencing\] command"),
        (FencingOptions(driver="command", command=str(not_executable)), "not an executable"),
        (FencingOptions(driver="command", command="no-such-fencer {host}"), "not on the PATH"),
    ]:
        with pytest.raises(ConfigError, match=why):
            check_fencing(options)


def test_preflight_refuses_a_fencing_misconfiguration():
    from rhworker.errors import PreflightFailed
    from rhworker.preflight import check_config

    with pytest.raises(PreflightFailed, match="no fencing driver named 'ipmi'"):
        check_config(rconf.load(overrides={"fencing": {"driver": "ipmi"}}))
    with pytest.raises(PreflightFailed, match=r"needs \[fencing\] command"):
        check_config(rconf.load(overrides={"fencing": {"driver": "command"}}))
    assert "valid" in check_config(rconf.load(overrides={"fencing": {"driver": "redfish"}}))
