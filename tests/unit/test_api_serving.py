"""Serving the REST API: the noauth bind rule, the dev server, the WSGI entry point,
and keystonemiddleware in front with auth_strategy = keystone."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from werkzeug.test import Client

from rhworker import conf as rconf
from rhworker.api import wsgi
from rhworker.api.app import ApiApp, KeystoneGate, create_app
from rhworker.api.server import ApiServer, check_noauth_bind, is_loopback
from rhworker.cli import EXIT_ERROR, main
from rhworker.errors import ConfigError
from rhworker.store import from_url


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")


def test_noauth_refuses_non_loopback_unless_allowed() -> None:
    check_noauth_bind("127.0.0.1", "noauth", False)
    check_noauth_bind("0.0.0.0", "keystone", False)
    check_noauth_bind("0.0.0.0", "noauth", True)
    with pytest.raises(ConfigError, match="allow_noauth_on_non_loopback"):
        check_noauth_bind("0.0.0.0", "noauth", False)


def test_cli_refuses_noauth_on_any_address(tmp_path: Any, capsys: Any) -> None:
    code = main(
        ["--state-dir", str(tmp_path), "api", "--host", "0.0.0.0", "--auth-strategy", "noauth"]
    )
    assert code == EXIT_ERROR
    assert "refuses to listen on '0.0.0.0'" in capsys.readouterr().err
    assert not (tmp_path / "rhworker.db").exists()


def test_dev_server_answers_over_http(tmp_path: Any) -> None:
    store = from_url(f"sqlite:///{tmp_path}/api.db")
    try:
        with ApiServer(ApiApp(store)) as server:
            with urllib.request.urlopen(f"{server.url}/v1/segments", timeout=10) as r:
                assert r.status == 200
                assert r.headers["OpenStack-API-Version"] == "instance-ha 1.0"
                assert json.loads(r.read()) == {"segments": []}
    finally:
        store.close()


def _conf_file(tmp_path: Any, strategy: str) -> str:
    path = tmp_path / "rhworker.conf"
    path.write_text(
        f"[DEFAULT]\nstate_dir = {tmp_path}\n[store]\nurl = sqlite:///{tmp_path}/api.db\n"
        f"[api]\nauth_strategy = {strategy}\n"
        # where clients are sent for a token, and auth_token's own credentials (no
        # Keystone is contacted in these tests)
        "[keystone_authtoken]\nwww_authenticate_uri = http://127.0.0.1:9/identity/v3\n"
        "auth_type = password\nauth_url = http://127.0.0.1:9/identity/v3\n"
        "username = rhworker\npassword = secret\nproject_name = service\n"
        "user_domain_name = Default\nproject_domain_name = Default\n"
    )
    return str(path)


def test_wsgi_entry_reads_its_configuration_at_the_first_call(tmp_path: Any) -> None:
    app = wsgi.LazyApplication()
    assert app._app is None  # nothing read yet
    path = _conf_file(tmp_path, "noauth")
    client = Client(app)
    r = client.get("/v1/segments", environ_base={wsgi.CONFIG_KEY: path, "REMOTE_ADDR": "127.0.0.1"})
    assert r.status_code == 200 and r.get_json() == {"segments": []}
    assert (tmp_path / "api.db").exists()
    assert wsgi.config_files({}, {wsgi.CONFIG_KEY: "/x.conf"}) == ["/x.conf"]
    assert wsgi.config_files({wsgi.CONFIG_KEY: "/y.conf"}, {wsgi.CONFIG_KEY: "/x.conf"}) == [
        "/y.conf"
    ]


def test_keystone_strategy_puts_auth_token_in_front(tmp_path: Any) -> None:
    conf = rconf.load(config_files=[_conf_file(tmp_path, "keystone")])
    store = from_url(f"sqlite:///{tmp_path}/api.db")
    try:
        app = create_app(conf, store=store)
        assert isinstance(app, KeystoneGate)
        client = Client(app)
        assert client.get("/").status_code == 200  # the version list stays public
        r = client.get("/v1/segments")  # no token: refused by auth_token itself
        assert r.status_code == 401
        # A client cannot pass itself off as an admin with auth_token's own headers.
        spoofed = {"X-User-Id": "u", "X-Roles": "admin", "X-Identity-Status": "Confirmed"}
        assert client.get("/v1/segments", headers=spoofed).status_code == 401
    finally:
        store.close()


def test_noauth_app_serves_loopback_clients_only(tmp_path: Any) -> None:
    conf = rconf.load(config_files=[_conf_file(tmp_path, "noauth")])
    store = from_url(f"sqlite:///{tmp_path}/api.db")
    try:
        client = Client(create_app(conf, store=store))
        far = client.get("/v1/segments", environ_base={"REMOTE_ADDR": "192.0.2.7"})
        assert far.status_code == 403 and "loopback clients only" in far.get_data(True)
        near = client.get("/v1/segments", environ_base={"REMOTE_ADDR": "::1"})
        assert near.status_code == 200
        conf.set_override("allow_noauth_on_non_loopback", True, group="api")
        allowed = Client(create_app(conf, store=store))
        assert allowed.get("/", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    finally:
        store.close()


def test_keystone_without_service_credentials_is_refused_at_start(tmp_path: Any) -> None:
    path = tmp_path / "rhworker.conf"
    path.write_text(f"[DEFAULT]\nstate_dir = {tmp_path}\n[api]\nauth_strategy = keystone\n")
    store = from_url(f"sqlite:///{tmp_path}/api.db")
    try:
        with pytest.raises(ConfigError, match=r"\[keystone_authtoken\] auth_type"):
            create_app(rconf.load(config_files=[str(path)]), store=store)
    finally:
        store.close()
