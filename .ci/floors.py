"""Print every dependency floor of ``pyproject.toml`` as an exact pin, for ``make test-min``.

Each requirement of ``[project] dependencies`` and of every optional extra must declare a lower
bound (``>=X``) or an exact pin (``==X``); the output is a pip constraints file with ``name==X``
for each (extras and self-references dropped, environment markers kept). A requirement with no
floor is an error: an unbounded dependency makes no claim that ``make test-min`` could check.

The exceptions are the floors that cannot be installed here, each pinned to what can be, with the
reason (the README's "Minimum versions" section repeats them).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

# name -> (installable pin, reason the floor itself cannot be installed)
NOT_INSTALLABLE = {
    "torch": ("2.13.0", "2.13.0+cpu is the only CPU wheel on this machine; any other torch pulls GBs of CUDA wheels"),
}

_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(?P<spec>[^;]*)(?P<marker>;.*)?$"
)
_FLOOR = re.compile(r"(?:>=|==)\s*(?P<version>[0-9][^,\s]*)")


def floor_pins(pyproject: dict) -> list[str]:
    """``name==floor`` (with the requirement's marker) for every dependency and extra."""
    project = pyproject["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    pins: dict[str, str] = {}
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        if match is None:
            raise SystemExit(f"cannot parse the requirement {requirement!r}")
        name = match["name"].lower().replace("_", "-")
        if name == project["name"]:
            continue
        floor = _FLOOR.search(match["spec"])
        if floor is None:
            raise SystemExit(f"{requirement!r} declares no floor (>=X or ==X): add the oldest version the code needs")
        version = NOT_INSTALLABLE.get(name, (floor["version"],))[0]
        pins[name] = f"{name}=={version}{match['marker'] or ''}"
    return [pins[name] for name in sorted(pins)]


def main() -> None:
    """Print the constraints for the pyproject given as argument (default ``pyproject.toml``)."""
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml")
    for name, (version, reason) in NOT_INSTALLABLE.items():
        print(f"# {name}: its floor is not installed here, {version} is: {reason}")
    print("\n".join(floor_pins(tomllib.loads(path.read_text()))))


if __name__ == "__main__":
    main()
