"""Markdown of the real-Nova section (benchmarks.realnova's results)."""

from __future__ import annotations

from typing import Any

from benchmarks.report_table import table as _table


def realnova_section(rn: dict[str, Any]) -> list[str]:
    out: list[str] = [
        "",
        "## 7. Real Nova 34 (F failed hosts × 10 servers, rhworker and a plain script)",
        "",
    ]
    if "skipped" in rn:
        out.append(f"skipped ({rn['skipped']})")
    else:
        sm = rn["summary"]
        keys = [k for k in sm if k != "nova_startup_s"]
        out += [
            _table(
                [
                    "F × M",
                    "runs",
                    "rhworker all ACTIVE s",
                    "plain all ACTIVE s",
                    "ratio",
                    "rhworker finished s",
                    "Nova calls/notif rhworker / plain",
                    "CPU s/notif rhworker / plain",
                ],
                [
                    [
                        k.replace("x", " × "),
                        sm[k]["runs"],
                        sm[k]["rhworker_all_active_s"],
                        sm[k]["plain_all_active_s"],
                        sm[k]["ratio"],
                        sm[k]["rhworker_finished_s"],
                        f"{sm[k]['rhworker_nova_calls_per_notification']} / "
                        f"{sm[k]['plain_nova_calls_per_notification']}",
                        f"{sm[k]['rhworker_cpu_s_per_notification']} / "
                        f"{sm[k]['plain_cpu_s_per_notification']}",
                    ]
                    for k in keys
                ],
            ),
            "",
            f"Medians; Nova ready in {sm['nova_startup_s']} s. Every run:",
            "",
            _table(
                [
                    "who",
                    "F",
                    "crash → all ACTIVE s",
                    "crash → finished / script done s",
                    "pickup s",
                    "Nova calls/notif",
                    "CPU s/notif",
                    "migrations",
                    "load at start",
                ],
                [
                    [
                        r["who"],
                        r["failures"],
                        r["all_active_s"],
                        r.get("finished_s", r.get("script_done_s")),
                        r.get("pickup_s", ""),
                        r["nova_calls_per_notification"],
                        r["cpu_s_per_notification"],
                        r["migrations"],
                        r.get("load"),
                    ]
                    for r in rn["runs"]
                ],
            ),
        ]
        out += _realnova_timeline(rn["runs"])
    return out


# Stages of a real-Nova run, in order (benchmarks.realnova._timeline and the plain
# script's marks), with their column titles.
TIMELINE = [
    ("delivered", "delivered"),
    ("fence", "fenced"),
    ("instances", "listed"),
    ("claimed", "claimed"),
    ("enabled", "spare enabled"),
    ("first_post", "first post"),
    ("last_post", "last post"),
    ("all_active", "all ACTIVE"),
    ("last_settled", "last settled (seen)"),
    ("finished", "finished"),
]


def _realnova_timeline(runs: list[dict[str, Any]]) -> list[str]:
    timed = [r for r in runs if r.get("timeline")]
    if not timed:
        return []
    out = [
        "",
        "Where the time goes: seconds from the crash to the end of each stage (the "
        "latest over the run's notifications; a move's start is stored right before its "
        "evacuate is posted; the plain script has no store, claim or settle stage):",
        "",
        _table(
            ["who", "F"] + [title for _, title in TIMELINE],
            [
                [r["who"], r["failures"]] + [r["timeline"].get(key, "") for key, _ in TIMELINE]
                for r in timed
            ],
        ),
    ]
    kinds = [r for r in timed if r.get("nova_calls_by_path")]
    if kinds:
        out += [
            "",
            "Nova API requests by kind, per notification (first run of each side and F):",
            "",
        ]
        seen: set[tuple[str, int]] = set()
        for r in kinds:
            if (r["who"], r["failures"]) in seen:
                continue
            seen.add((r["who"], r["failures"]))
            parts = ", ".join(
                f"{k} {round(v / r['failures'], 1):g}" for k, v in r["nova_calls_by_path"].items()
            )
            out.append(f"- {r['who']}, F={r['failures']}: {parts}")
    return out
