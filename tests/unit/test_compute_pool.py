import threading

from rhworker.compute.pool import PooledCompute


class FakeClient:
    built = 0

    def __init__(self) -> None:
        FakeClient.built += 1
        self.closed = False
        self.calls = 0

    def get_server(self, server_id: str) -> str:
        self.calls += 1
        return f"server {server_id}"

    def close(self) -> None:
        self.closed = True


def test_clients_are_reused_across_threads():
    FakeClient.built = 0
    pool = PooledCompute(FakeClient)  # type: ignore[arg-type]
    for round_ in range(5):  # five short-lived thread pools, as per notification
        threads = [
            threading.Thread(target=pool.get_server, args=(f"{round_}-{i}",)) for i in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert pool.get_server("x") == "server x"
    assert FakeClient.built <= 3  # never more than the calls ever in flight at once
    assert pool.size == FakeClient.built


def test_close_closes_every_client():
    pool = PooledCompute(FakeClient)  # type: ignore[arg-type]
    pool.get_server("a")
    clients = list(pool._all)
    pool.close()
    assert clients and all(c.closed for c in clients)


class ConnectingClient(FakeClient):
    fail = False

    def __init__(self) -> None:
        super().__init__()
        self.connected = False

    def connect(self) -> None:
        if ConnectingClient.fail:
            raise ConnectionError("Nova not there yet")
        self.connected = True


def test_warm_opens_connected_clients_ahead_and_calls_use_them():
    ConnectingClient.fail = False
    FakeClient.built = 0
    pool = PooledCompute(ConnectingClient)  # type: ignore[arg-type]
    pool.warm(3).join(10)
    assert pool.size == 3 and all(c.connected for c in pool._all)  # type: ignore[attr-defined]
    pool.warm(2).join(10)  # never beyond what it has
    assert pool.size == 3
    threads = [threading.Thread(target=pool.get_server, args=(str(i),)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert FakeClient.built == 3  # the calls found the warm clients
    clients = list(pool._all)
    pool.close()
    assert all(c.closed for c in clients) and pool.size == 0


def test_warm_stops_at_a_client_that_cannot_connect():
    ConnectingClient.fail = True
    pool = PooledCompute(ConnectingClient)  # type: ignore[arg-type]
    pool.warm(3).join(10)
    assert pool.size == 0  # the one tried was closed, nothing kept
    assert pool.get_server("x") == "server x"  # a call opens its own as before
    ConnectingClient.fail = False
