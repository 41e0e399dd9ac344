"""Every import points down (issue 14, item 1).

The front door (``rhworker.cli``) and the test helpers (``rhworker.testing``) sit on
top of the package: nothing else under ``rhworker/`` may import them. The command line
is production code and does not lean on test helpers; the test helpers do not import
the command line either (they drive it as a process, the way an operator does).
``rhworker/__main__.py`` is ``python -m rhworker``: a front door itself. Every import
counts, including those inside functions and under ``TYPE_CHECKING``.

Below the front doors, the floors of docs/architecture.md: a module imports its own
floor or lower ones. A new top-level module or package needs its floor here (and a
line in that document).
"""

from __future__ import annotations

import ast
import pathlib

import rhworker

PACKAGE = pathlib.Path(rhworker.__file__).parent
FRONT_DOORS = ("rhworker.cli", "rhworker.__main__")
TEST_HELPERS = "rhworker.testing"

# docs/architecture.md, bottom up.
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    (
        "words",
        (
            "rhworker.models",
            "rhworker.errors",
            "rhworker.codec",
            "rhworker.validation",
            "rhworker.masking",
            "rhworker.text",
            "rhworker.logs",
            "rhworker.conf",
            "rhworker.callrunner",
            "rhworker.wsgiserver",
            # the mass-failure brake's arithmetic, called inside the stores' hand-out
            "rhworker.brake",
        ),
    ),
    # The simulator stands beside the seams: the other end of the compute seam.
    (
        "seams",
        (
            "rhworker.store",
            "rhworker.coordination",
            "rhworker.compute",
            "rhworker.fencing",
            "rhworker.sim",
        ),
    ),
    ("recovery", ("rhworker.recovery",)),
    (
        "worker",
        (
            "rhworker.worker",
            "rhworker.metrics",
            "rhworker.supervisor",
            "rhworker.preflight",
            "rhworker.status",
            "rhworker.verify",
            "rhworker.inventory",
            "rhworker.interventions",
            # the REST API's intake and inventory changes (issue 14's second front door)
            "rhworker.intake",
            "rhworker.inventory_changes",
        ),
    ),
    ("composition", ("rhworker.wiring", "rhworker.deployment")),
    ("front doors and test helpers", (*FRONT_DOORS, "rhworker.api", TEST_HELPERS)),
]


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module ``source`` imports, anywhere in it (relative imports resolved;
    ``from a import b`` counts as both ``a`` and ``a.b``, since ``b`` may be a module)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def floor_of(name: str) -> int | None:
    """The floor of module ``name`` (its longest listed prefix), None if unlisted."""
    if name == "rhworker":  # the package itself: its version
        return 0
    best: tuple[int, int] | None = None  # (prefix length, floor)
    for floor, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if within(name, prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), floor)
    return None if best is None else best[1]


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def wrong_way(module: str, imports: set[str]) -> list[str]:
    """The imports of ``module`` that point up."""
    forbidden: tuple[str, ...] = ()
    if not within(module, *FRONT_DOORS):
        forbidden += ("rhworker.cli",)
    if not within(module, TEST_HELPERS):
        forbidden += (TEST_HELPERS,)
    return sorted(name for name in imports if within(name, *forbidden))


def test_no_module_imports_upward() -> None:
    problems = []
    paths = sorted(PACKAGE.rglob("*.py"))
    assert len(paths) > 100  # the walk really covers the package
    for path in paths:
        module = module_name(path)
        source = path.read_text(encoding="utf-8")
        imports = imported_modules(source, module, is_package=path.name == "__init__.py")
        problems += [f"{module} imports {name}" for name in wrong_way(module, imports)]
    assert not problems, "imports pointing up:\n" + "\n".join(problems)


def test_every_module_imports_its_floor_or_lower_ones() -> None:
    unlisted, problems = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        floor = floor_of(module)
        if floor is None:
            unlisted.append(module)
            continue
        source = path.read_text(encoding="utf-8")
        for name in imported_modules(source, module, is_package=path.name == "__init__.py"):
            above = floor_of(name) if within(name, "rhworker") else None
            if above is not None and above > floor:
                problems.append(
                    f"{module} ({FLOORS[floor][0]}) imports {name} ({FLOORS[above][0]})"
                )
    assert not unlisted, "modules without a floor (add them to FLOORS): " + ", ".join(unlisted)
    assert not problems, "imports pointing up:\n" + "\n".join(sorted(problems))


def test_floor_of_takes_the_longest_listed_prefix() -> None:
    def floor_name(module: str) -> str:
        floor = floor_of(module)
        return "unlisted" if floor is None else FLOORS[floor][0]

    assert floor_name("rhworker") == "words"
    assert floor_name("rhworker.store.redis.store") == "seams"
    assert floor_name("rhworker.cli.demo.view") == "front doors and test helpers"
    assert floor_name("rhworker.recoveryx") == "unlisted"  # a prefix counts only at a dot
    assert floor_name("rhworker_elsewhere") == "unlisted"


def test_the_walk_sees_imports_inside_functions_and_relative_ones() -> None:
    source = (
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from rhworker.testing import servers\n"
        "def f():\n"
        "    from rhworker.cli.worker import x\n"
        "    from ..cli import y\n"
        "    from . import sibling\n"
    )
    imports = imported_modules(source, "rhworker.store.base")
    assert {"os", "rhworker.testing.servers", "rhworker.cli.worker", "rhworker.cli.y"} <= imports
    assert "rhworker.store.sibling" in imports
    assert wrong_way("rhworker.store.base", imports) == [
        "rhworker.cli",
        "rhworker.cli.worker",
        "rhworker.cli.worker.x",
        "rhworker.cli.y",
        "rhworker.testing",
        "rhworker.testing.servers",
    ]
    assert wrong_way("rhworker.testing.chaos", imports) == [
        "rhworker.cli",
        "rhworker.cli.worker",
        "rhworker.cli.worker.x",
        "rhworker.cli.y",
    ]
    assert wrong_way("rhworker.cli.demo", imports) == [
        "rhworker.testing",
        "rhworker.testing.servers",
    ]
    assert wrong_way("rhworker.__main__", {"rhworker.cli"}) == []
