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
