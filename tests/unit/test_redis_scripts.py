"""The Lua of the Redis store: every file under rhworker/store/redis/lua is read and
either a prelude or a script the store runs; every script the store runs exists; the
shared pieces are written once (a real Redis compiles them all in
tests/integration/test_redis_scripts.py)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from rhworker.store.redis import scripts
from rhworker.store.redis.guards import GUARDED

LUA = resources.files("rhworker.store.redis") / "lua"
PACKAGE = Path(scripts.__file__).parent


def lua_files() -> dict[str, str]:
    return {
        f.name.removesuffix(".lua"): f.read_text(encoding="utf-8")
        for f in LUA.iterdir()
        if f.name.endswith(".lua")
    }


def test_every_lua_file_is_a_prelude_or_a_loaded_script() -> None:
    files = lua_files()
    loaded = scripts.load()
    assert set(scripts.PRELUDES) <= set(files)
    assert set(files) - set(scripts.PRELUDES) == set(loaded) - set(GUARDED)
    for name, text in files.items():
        assert text.strip(), name
        if name not in scripts.PRELUDES:
            assert loaded[name].endswith(text)


def test_every_script_starts_with_the_group_and_the_common_prelude() -> None:
    common = scripts.names_from_python() + scripts.source("common")
    for name, text in scripts.load().items():
        assert text.startswith(common), name
    guard = scripts.source("guard")
    for name, (_, _, base) in GUARDED.items():
        text = scripts.load()[name]
        assert guard in text and text.endswith(scripts.source(base)), name


def test_every_script_the_store_runs_exists() -> None:
    code = "\n".join(p.read_text() for p in PACKAGE.glob("*.py"))
    run = set(re.findall(r'\brun\(\s*"(\w+)"', code))
    guarded = set(re.findall(r'"(\w+_if_idle)"', code))
    assert run and guarded == set(GUARDED)
    assert run | guarded <= set(scripts.load())


def test_shared_pieces_are_written_once() -> None:
    files = lua_files()
    # the consumer group and the lists of statuses are named in Python only
    assert not [n for n, t in files.items() if "workers" in t]
    assert not [n for n, t in files.items() if re.search(r"local (GROUP|STATUSES|TERMINAL)\b", t)]
    assert scripts.names_from_python() == (
        "local GROUP = 'workers'\n"
        "local STATUSES = {'new', 'running', 'finished', 'ignored', 'error', 'failed'}\n"
        "local TERMINAL = {finished = true, ignored = true, failed = true}\n"
    )
    # dead-lettering (the RPUSH onto P:dead) only in the common prelude's bury()
    assert [n for n, t in files.items() if "'RPUSH', DEAD" in t] == ["common"]
    for name, text in files.items():
        assert "\t" not in text, name
        assert not misindented(text), f"{name}.lua: indented past its block: {misindented(text)}"


# The end of a line after which the next one may be indented (by two): a block opens
# or the statement goes on.
_OPENS = re.compile(r"(\bthen|\bdo|\belse|\bfunction\s*\w*\s*\([^)]*\)|[,({=]|\.\.|\bor|\band)\s*$")
_GOES_ON = ("..", "or ", "and ")


def misindented(text: str) -> list[str]:
    """Lines indented deeper than the line before allows (the slip of an earlier
    dead_letter script: a statement indented in the middle of a block)."""
    found: list[str] = []
    before: tuple[int, str] | None = None
    for line in text.splitlines():
        code = re.sub(r"\s*--.*$", "", line)
        if not code.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if before is not None and indent > before[0]:
            opens = _OPENS.search(before[1]) or code.strip().startswith(_GOES_ON)
            if indent - before[0] != 2 or not opens:
                found.append(line)
        before = (indent, code)
    return found


def test_misindented_finds_a_statement_indented_in_the_middle_of_a_block() -> None:
    slip = "redis.call('LREM', DEAD, 0, id)\n    redis.call('RPUSH', DEAD, id)\nreturn 1\n"
    assert misindented(slip) == ["    redis.call('RPUSH', DEAD, id)"]
    fine = "if x then\n  return fail('C', 'a ' ..\n    'b')\nend\n"
    assert misindented(fine) == []
