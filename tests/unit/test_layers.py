"""Every import points down (issue 14, item 1).

The front door (``rhworker.cli``) and the test helpers (``rhworker.testing``) sit on
top of the package: nothing else under ``rhworker/`` may import them. The command line
is production code and does not lean on test helpers; the test helpers do not import
the command line either (they drive it as a process, the way an operator does).
``rhworker/__main__.py`` is ``python -m rhworker``: a front door itself. Every import
counts, including those inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import pathlib

import rhworker

PACKAGE = pathlib.Path(rhworker.__file__).parent
FRONT_DOORS = ("rhworker.cli", "rhworker.__main__")
TEST_HELPERS = "rhworker.testing"


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
