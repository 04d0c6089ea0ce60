"""Print the project's runtime dependencies from pyproject.toml, one per line.

The images install the dependencies in their own layer, before the source is copied,
so that a change to the code doesn't rebuild llama-cpp-python or reinstall torch:

    python docker/pyproject_requirements.py pyproject.toml > requirements.txt
    python docker/pyproject_requirements.py pyproject.toml --exclude torch
    python docker/pyproject_requirements.py pyproject.toml --only llama-cpp-python

--extra NAME adds an optional-dependency group. Standard library only (tomllib).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = _NAME.match(requirement)
    if not match:
        raise ValueError(f"not a requirement: {requirement!r}")
    return canonical(match.group(1))


def requirements(pyproject: dict, extras=(), exclude=(), only=()) -> list[str]:
    project = pyproject["project"]
    found = list(project.get("dependencies", []))
    for extra in extras:
        try:
            found += project["optional-dependencies"][extra]
        except KeyError:
            raise SystemExit(f"pyproject.toml has no optional-dependencies group {extra!r}") from None
    excluded = {canonical(n) for n in exclude}
    wanted = {canonical(n) for n in only}
    picked = [r for r in found if requirement_name(r) not in excluded]
    if wanted:
        picked = [r for r in picked if requirement_name(r) in wanted]
        missing = wanted - {requirement_name(r) for r in picked}
        if missing:
            raise SystemExit(f"not among the dependencies: {', '.join(sorted(missing))}")
    return picked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject")
    parser.add_argument("--extra", action="append", default=[])
    parser.add_argument("--exclude", action="append", default=[])
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args(argv)
    with open(args.pyproject, "rb") as fh:
        data = tomllib.load(fh)
    for line in requirements(data, args.extra, args.exclude, args.only):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
