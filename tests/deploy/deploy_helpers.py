"""Helpers for the deployment tests: read compose.yaml and the Dockerfiles without Docker.

Nothing here imports Django or needs the network; every check reads files.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COMPOSE_FILE = ROOT / "compose.yaml"
SCHEMA_FILE = HERE / "compose-spec.json"


# $$ (a literal $), ${NAME...} with an optional modifier, or $NAME.
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def variables_in(text: str) -> set[str]:
    """Names of the variables Compose would interpolate in `text` ($$ is not one)."""
    return {m.group("braced") or m.group("bare") for m in _VARIABLE.finditer(text) if not m.group("escaped")}


def interpolate_string(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of one string (the Compose Specification's rules)."""

    def replace(match: re.Match) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        unset_or_empty = not value
        if op in (":-", "-"):
            use_default = unset_or_empty if op == ":-" else value is None
            return arg if use_default else value
        if op in (":?", "?"):
            missing = unset_or_empty if op == ":?" else value is None
            if missing:
                raise KeyError(f"required variable {name} is missing: {arg}")
            return value
        if op in (":+", "+"):
            present = not unset_or_empty if op == ":+" else value is not None
            return arg if present else ""
        return value or ""

    return _VARIABLE.sub(replace, text)


def interpolate(node, env: dict[str, str]):
    if isinstance(node, str):
        return interpolate_string(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def argv_of(command) -> list[str]:
    """A compose or Dockerfile command as an argument list (a string is split like Compose does)."""
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def module_file(dotted: str) -> Path | None:
    """The file of a module of this repository, by dotted name, or None."""
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def top_level_names(path: Path) -> set[str]:
    """Names a module binds at top level (assignments, defs, classes, imports), by parsing it."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
    return names


def settings_module_of(manage_py: Path) -> str | None:
    """The DJANGO_SETTINGS_MODULE that manage.py sets by default."""
    match = re.search(r"""setdefault\(\s*["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""", manage_py.read_text())
    return match.group(1) if match else None


def _option(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
            if not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
                return arg[len(name):]
    return None


def celery_pool(argv: list[str]) -> str | None:
    return _option(argv, "--pool", "-P")


def celery_queues(argv: list[str]) -> list[str]:
    value = _option(argv, "--queues", "-Q")
    return [q for q in (value or "").split(",") if q]


def _attribute_problems(dotted: str, attribute: str, what: str) -> list[str]:
    path = module_file(dotted)
    if path is None:
        return [f"{what}: module {dotted} has no file in the repository"]
    if attribute not in top_level_names(path):
        return [f"{what}: {path.relative_to(ROOT)} defines no top-level {attribute!r}"]
    return []


def command_problems(argv: list[str]) -> list[str]:
    """What is wrong with a command that runs this project's code: [] when it resolves.

    Knows the commands Council runs: daphne MODULE:ATTR, celery -A APP worker,
    python manage.py ..., python -m MODULE, python FILE.py.
    """
    if not argv:
        return ["no command"]
    program, what = Path(argv[0]).name, " ".join(argv)
    if program == "daphne":
        targets = [a for a in argv[1:] if re.fullmatch(r"[\w.]+:[\w.]+", a)]
        if len(targets) != 1:
            return [f"{what}: expected one MODULE:ATTRIBUTE application"]
        dotted, attribute = targets[0].split(":")
        return _attribute_problems(dotted, attribute, what)
    if program == "celery":
        app = _option(argv, "-A", "--app")
        if not app:
            return [f"{what}: no -A/--app"]
        dotted, _, attribute = app.partition(":")
        if attribute:
            return _attribute_problems(dotted, attribute, what)
        # celery -A pkg: pkg.app, pkg.celery, then the module pkg.celery's `app`
        package = module_file(dotted)
        if package is None:
            return [f"{what}: module {dotted} has no file in the repository"]
        if "app" in top_level_names(package):
            return []
        return _attribute_problems(f"{dotted}.celery", "app", what)
    if program.startswith("python"):
        args = argv[1:]
        if args[:1] == ["-m"] and len(args) > 1:
            dotted = args[1]
            path = module_file(dotted)
            main = ROOT.joinpath(*dotted.split(".")) / "__main__.py"
            if path is None:
                return [f"{what}: module {dotted} has no file in the repository"]
            if path.name == "__init__.py" and not main.is_file():
                return [f"{what}: package {dotted} has no __main__.py"]
            return []
        if args and args[0].endswith(".py"):
            script = ROOT / args[0]
            if not script.is_file():
                return [f"{what}: {args[0]} does not exist"]
            if script.name == "manage.py":
                settings = settings_module_of(script)
                if not settings:
                    return [f"{what}: manage.py sets no DJANGO_SETTINGS_MODULE"]
                if module_file(settings) is None:
                    return [f"{what}: settings module {settings} has no file in the repository"]
            return []
        if args[:1] == ["-c"]:
            return []
    return [f"{what}: not a command these tests know how to check"]


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def text(self, keyword: str) -> str:
        return "\n".join(self.all(keyword))


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) pairs, with line continuations joined and comments dropped."""
    logical, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        logical.append(current)
        current = ""
    if current:
        logical.append(current)
    pairs = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        pairs.append((keyword.upper(), args.strip()))
    return pairs


def dockerfile_stages(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, FROM images with those ARGs substituted."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, rest in dockerfile_instructions(path):
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip().strip('"')
        elif keyword == "FROM":
            parts = rest.split()
            parts = [p for p in parts if not p.startswith("--platform")]
            image = interpolate_string(parts[0], args)
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(image=image, name=name))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def exec_form(args: str) -> list[str]:
    """The argument list of CMD/ENTRYPOINT in exec (JSON) form."""
    value = json.loads(args)
    assert isinstance(value, list), args
    return value
