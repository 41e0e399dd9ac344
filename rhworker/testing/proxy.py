"""A TCP proxy that a test can cut: a network partition without root.

``CuttableProxy(target_port).start()`` listens on a free 127.0.0.1 port and forwards
every connection to ``127.0.0.1:target_port``. :meth:`cut` is a partition, not a
refusal: every byte in either direction is dropped from then on, on the connections
already open and on new ones (accepted, never answered), so the client sees what a
lost network gives — timeouts. :meth:`heal` forwards again (connections opened
during the cut stay dead, like TCP ones whose peer vanished; new ones work).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class CuttableProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self._cut = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def is_cut(self) -> bool:
        return self._cut.is_set()

    def start(self) -> CuttableProxy:
        thread = threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def cut(self) -> None:
        self._cut.set()

    def heal(self) -> None:
        self._cut.clear()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> CuttableProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- forwarding ------------------------------------------------------------------
    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            born_cut = self._cut.is_set()
            upstream: socket.socket | None = None
            if not born_cut:
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
            with self._lock:
                self._sockets += [s for s in (client, upstream) if s is not None]
            thread = threading.Thread(
                target=self._pump, args=(client, upstream, born_cut), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _pump(self, client: socket.socket, upstream: socket.socket | None, dead: bool) -> None:
        """Forward both ways until either side closes; drop everything while cut (and
        for ever on a connection opened during a cut)."""
        sel = selectors.DefaultSelector()
        peers = {client: upstream}
        if upstream is not None:
            peers[upstream] = client
        for sock in peers:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    fileobj = key.fileobj
                    if not isinstance(fileobj, socket.socket):
                        continue
                    sock = fileobj
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        return
                    if not data:
                        return
                    other = peers[sock]
                    if dead or self._cut.is_set() or other is None:
                        continue  # the partition swallows it
                    try:
                        other.setblocking(True)
                        other.sendall(data)
                        other.setblocking(False)
                    except OSError:
                        return
        finally:
            sel.close()
            for sock in peers:
                with contextlib.suppress(OSError):
                    sock.close()
