"""The demo's terminal view: a live table (rich) or plain lines when not a TTY."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from rhworker.cli.demo.scenario import Row, describe

STATUS_STYLE = {
    "finished": "green",
    "ignored": "yellow",
    "error": "red",
    "failed": "bold red",
    "running": "cyan",
    "new": "white",
}


def _console() -> Console:
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # logs and CI: do not squeeze to 80 columns
    return console


class LiveView:
    def __init__(self, *, plain: bool, methods: dict[str, str]) -> None:
        self.plain = plain
        self.methods = methods
        self.console = _console()
        self._live: Live | None = None
        self._last: dict[str, tuple[str, str, str]] = {}
        self._notes: list[str] = []
        self._started = time.monotonic()

    def __enter__(self) -> LiveView:
        if not self.plain:
            self._live = Live(console=self.console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def note(self, text: str) -> None:
        stamp = f"{time.monotonic() - self._started:6.1f}s"
        if self.plain:
            print(f"{stamp}  {text}", flush=True)
        else:
            self._notes.append(f"{stamp}  {text}")

    def render(self, rows: list[Row]) -> None:
        if self.plain:
            self._print_changes(rows)
            return
        table = Table(title="rhworker demo — host, VM and process failures", expand=False)
        for column in (
            "notification",
            "host",
            "failure",
            "method",
            "status",
            "worker",
            "target",
            "moved",
            "try",
        ):
            table.add_column(column)
        for row in rows:
            style = STATUS_STYLE.get(row.status, "")
            table.add_row(
                row.id[:8],
                row.host,
                row.what,
                self.methods.get(row.host, "") if row.what == "host down" else "",
                f"[{style}]{row.status}[/]",
                row.worker[-18:],
                row.target,
                row.moved,
                str(row.attempts),
            )
        if self._notes:
            table.caption = "\n".join(self._notes[-3:])
        assert self._live is not None
        self._live.update(table)

    def _print_changes(self, rows: list[Row]) -> None:
        for row in rows:
            key = (row.status, row.target, row.moved)
            if self._last.get(row.id) == key:
                continue
            self._last[row.id] = key
            self.note(
                f"{row.id[:8]} {row.host:<14} {row.what:<22} {row.status:<8} "
                f"target={row.target or '-':<16} moved={row.moved} try={row.attempts} "
                f"worker={row.worker or '-'}"
            )


def print_summary(
    store: Any,
    ids: list[str],
    report: Any,
    methods: dict[str, str],
    segment_of: dict[str, str],
    names: dict[str, str] | None = None,
) -> None:
    console = _console()
    table = Table(title="Summary")
    for column in (
        "host",
        "failure",
        "segment",
        "method",
        "status",
        "reserved host",
        "moved",
        "attempts",
        "reason",
    ):
        table.add_column(column)
    for nid in ids:
        n = store.get_notification(nid)
        moves = store.list_moves(nid)
        done = sum(m.state.value == "succeeded" for m in moves)
        segment = segment_of.get(n.hostname, "")
        what = describe(n, names)
        host_failure = n.type.value == "COMPUTE_HOST"
        table.add_row(
            n.hostname,
            what,
            segment,
            methods.get(segment, "") if host_failure else "-",
            n.status.value,
            ", ".join(c.host for c in n.progress.claims) or "-",
            f"{done}/{len(moves)}" if host_failure else "-",
            str(n.attempts),
            (n.progress.reason or "")[:60],
        )
    console.print(table)
    checks = Table(title="Invariants (docs/design.md §4)")
    checks.add_column("check")
    checks.add_column("result")
    kinds: dict[str, int] = {}
    for violation in report.violations:
        kinds[violation.kind] = kinds.get(violation.kind, 0) + 1
    for kind, count in sorted(kinds.items()):
        checks.add_row(kind, f"[red]{count} violation(s)[/]")
    if not kinds:
        checks.add_row("all invariants", "[green]hold[/]")
    console.print(checks)
    for violation in report.violations[:20]:
        console.print(f"  [red]✗[/] {violation.kind}: {violation.subject}: {violation.message}")
