"""Print the requirements that the wheels in a wheelhouse need on ANOTHER Python.

`pip wheel` resolves environment markers for the Python it runs on; the image's
Python may differ (Debian 12: 3.11.2, where e.g. redis needs async-timeout for
python_full_version < "3.11.3"). Usage: wheelhouse_missing.py DIR PYTHON_VERSION
"""

from __future__ import annotations

import email.parser
import re
import sys
import zipfile
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef,assignment]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef,assignment]


def wheel_requirements(path: Path) -> tuple[str, list[str]]:
    with zipfile.ZipFile(path) as zf:
        meta = next(n for n in zf.namelist() if re.match(r"[^/]+\.dist-info/METADATA$", n))
        msg = email.parser.Parser().parsestr(zf.read(meta).decode())
    return msg["Name"], msg.get_all("Requires-Dist") or []


def main(directory: str, version: str) -> int:
    env = {"python_full_version": version, "python_version": ".".join(version.split(".")[:2])}
    present: set[str] = set()
    wanted: dict[str, str] = {}
    for wheel in sorted(Path(directory).glob("*.whl")):
        name, requires = wheel_requirements(wheel)
        present.add(canonicalize_name(name))
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({**env, "extra": ""}):
                wanted.setdefault(canonicalize_name(req.name), f"{req.name}{req.specifier}")
    for name, spec in sorted(wanted.items()):
        if name not in present:
            print(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
