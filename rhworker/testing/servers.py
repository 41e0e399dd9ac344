"""Start real Redis and ZooKeeper servers on free 127.0.0.1 ports.

Used by the test fixtures, the chaos runner and the benchmarks. Each server runs in
its own temporary directory and is stopped (and its directory removed) on ``stop()``.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import Self

from rhworker.errors import RhworkerError

# ZooKeeper's jars as the Debian package installs them.
ZOOKEEPER_JAVA_DIR = "/usr/share/java"


class ServerUnavailable(RhworkerError):
    """The server's binary is not installed here."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RhworkerError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RhworkerError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class _Server:
    name = "server"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix=f"rhworker-{self.name}-")
        self.proc: subprocess.Popen | None = None

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> Self:
        log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen(
            list(self.command()),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            start_new_session=True,
        )
        log.close()
        wait_port(self.port, timeout, self.proc)
        self.ready(timeout)
        return self

    def ready(self, timeout: float) -> None:
        """Extra readiness check after the port opens."""

    def kill(self) -> None:
        """Stop abruptly (SIGKILL); data written so far stays in ``dir``."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def pause(self) -> None:
        if self.proc:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc:
            self.proc.send_signal(signal.SIGCONT)

    def restart(self, timeout: float = 30.0) -> None:
        self.kill()
        self.start(timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class RedisServer(_Server):
    name = "redis"

    def __init__(self, port: int | None = None, appendonly: bool = True) -> None:
        super().__init__(port)
        self.appendonly = appendonly
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise ServerUnavailable("redis-server is not installed (apt-get install redis-server)")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def command(self) -> Sequence[str]:
        return [
            self.binary or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.dir,
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--protected-mode",
            "yes",
        ]


class ZooKeeperServer(_Server):
    name = "zookeeper"

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.java = shutil.which("java")
        jars = glob.glob(os.path.join(ZOOKEEPER_JAVA_DIR, "zookeeper*.jar"))
        if not self.java or not jars:
            raise ServerUnavailable(
                "ZooKeeper is not installed (apt-get install zookeeper default-jre-headless)"
            )

    @property
    def url(self) -> str:
        return f"zookeeper://127.0.0.1:{self.port}"

    def command(self) -> Sequence[str]:
        cfg_path = os.path.join(self.dir, "zoo.cfg")
        data = os.path.join(self.dir, "data")
        os.makedirs(data, exist_ok=True)
        with open(cfg_path, "w") as f:
            f.write(
                f"tickTime=500\ndataDir={data}\nclientPort={self.port}\n"
                "clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n"
                "minSessionTimeout=1000\nmaxSessionTimeout=60000\n"
                "4lw.commands.whitelist=ruok,srvr,stat\n"
            )
        classpath = ":".join(["/etc/zookeeper/conf", f"{ZOOKEEPER_JAVA_DIR}/*"])
        return [
            self.java or "java",
            "-Xmx256m",
            "-Dzookeeper.log.dir=" + self.dir,
            "-Dzookeeper.root.logger=WARN,CONSOLE",
            "-cp",
            classpath,
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            cfg_path,
        ]

    def ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"ruok")
                    if s.recv(16) == b"imok":
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RhworkerError(f"ZooKeeper on {self.port} is not ready: {self.log_tail()}")
