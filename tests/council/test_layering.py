"""council/ reaches the inference layer only through its face, `inference/__init__.py`."""

import ast
import pkgutil
from pathlib import Path

import inference

ROOT = Path(__file__).resolve().parents[2]
IMPORTERS = ("import_module", "__import__")


def inference_submodules() -> set[str]:
    """Every module and package inside inference/, by its last name (`plan`, `engines`, ...)."""
    return {info.name.rsplit(".", 1)[-1] for info in pkgutil.walk_packages(inference.__path__, "inference.")}


def deep_imports(source: str, submodules: set[str]) -> list[str]:
    """The ways `source` reaches past the face: as `lineno: what`."""
    found = []
    bound = set()  # names the module binds to the inference package itself
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("inference."):
                    found.append(f"{node.lineno}: import {alias.name}")
                elif alias.name == "inference":
                    bound.add(alias.asname or "inference")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("inference."):
                found.append(f"{node.lineno}: from {node.module} import ...")
            elif node.module == "inference":
                found += [f"{node.lineno}: from inference import {a.name}" for a in node.names if a.name in submodules]
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            first = node.args[0] if node.args else None
            if name in IMPORTERS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                if first.value.startswith("inference"):
                    found.append(f"{node.lineno}: {name}({first.value!r})")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
            if node.attr in submodules:
                found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_council_module_imports_a_submodule_of_inference():
    submodules = inference_submodules()
    offenders = {}
    for path in sorted((ROOT / "council").rglob("*.py")):
        found = deep_imports(path.read_text(encoding="utf-8"), submodules)
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}, "council/ must import only names from inference's face (inference/__init__.py)"


def test_the_check_sees_every_way_of_reaching_past_the_face():
    source = "\n".join([
        "import inference.plan",
        "from inference.engines.base import EngineError",
        "from inference import registry",
        "from inference import Mode",
        "import importlib",
        "importlib.import_module('inference.bench')",
        "import inference as inf",
        "inf.bundled.BUNDLED",
    ])
    found = deep_imports(source, inference_submodules())
    assert [line.split(":")[0] for line in found] == ["1", "2", "3", "6", "8"]


def test_every_name_of_the_face_is_importable():
    for name in inference.__all__:
        assert getattr(inference, name) is not None, name
