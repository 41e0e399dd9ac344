"""A Redfish BMC emulator (sushy-tools' ``sushy-emulator`` with its fake driver) on a
free 127.0.0.1 port, for the redfish fencing tests.

Systems are declared up front (uuid, name, power state); the emulator keeps their
state in its own temporary directory. Basic auth is on: one user, bcrypt-hashed in
an htpasswd file, as the emulator requires. Like the fake driver of sushy-tools, a
power change applies 1–11 s after the request (hardware is not immediate).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid as uuidlib
from collections.abc import Sequence
from typing import Any

from rhworker.testing.servers import ServerUnavailable, _Server


class RedfishEmulator(_Server):
    name = "redfish"

    def __init__(
        self,
        systems: Sequence[str] = ("compute-1",),
        *,
        username: str = "admin",
        password: str = "bmc-secret",
        power_state: str = "On",
        port: int | None = None,
    ) -> None:
        if importlib.util.find_spec("sushy_tools") is None:
            raise ServerUnavailable("sushy-tools (the Redfish BMC emulator) is not installed")
        try:
            import bcrypt
        except ImportError as e:
            raise ServerUnavailable(f"sushy-tools needs bcrypt: {e}") from e
        super().__init__(port)
        self.username = username
        self.password = password
        # One system per name, with a stable uuid (its Redfish identity).
        self.systems = {name: str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, name)) for name in systems}
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        self.auth_file = os.path.join(self.dir, "htpasswd")
        with open(self.auth_file, "w") as f:
            f.write(f"{username}:{hashed}\n")
        fake_systems = [
            {"uuid": u, "name": n, "power_state": power_state, "nics": []}
            for n, u in self.systems.items()
        ]
        self.config_file = os.path.join(self.dir, "emulator.conf")
        with open(self.config_file, "w") as f:
            f.write("SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n")
            f.write(f"SUSHY_EMULATOR_LISTEN_PORT = {self.port}\n")
            f.write("SUSHY_EMULATOR_FAKE_DRIVER = True\n")
            f.write(f"SUSHY_EMULATOR_FAKE_SYSTEMS = {fake_systems!r}\n")
            f.write(f"SUSHY_EMULATOR_STATE_DIR = {os.path.join(self.dir, 'state')!r}\n")
            f.write(f"SUSHY_EMULATOR_AUTH_FILE = {self.auth_file!r}\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "sushy_tools.emulator.main", "--config", self.config_file]

    def ready(self, timeout: float) -> None:
        self._get("/redfish/v1/")

    def control_attributes(self, host: str, **overrides: str) -> str:
        """``key=value`` control_attributes pointing at ``host``'s system."""
        attrs = {
            "redfish_url": self.url,
            "system_id": self.systems[host],
            "username": self.username,
            "password": self.password,
        }
        attrs.update(overrides)
        return " ".join(f"{k}={v}" for k, v in attrs.items())

    def power_state(self, host: str) -> str:
        """The system's PowerState as the emulator reports it now."""
        return str(self._get(f"/redfish/v1/Systems/{self.systems[host]}")["PowerState"])

    def _get(self, path: str) -> Any:
        import requests

        r = requests.get(self.url + path, auth=(self.username, self.password), timeout=10)
        r.raise_for_status()
        return r.json()
