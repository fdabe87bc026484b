"""Layers point one way: comparisons → runs → sandboxes → lib, for models and services.

Every module of an app may import its own app and the apps below it, never one above; `lib`
imports no app at all. Views, admin, URLs, consumers, routing, template tags and management
commands sit on top of every layer and may use any of them. Lazy imports inside functions
count like any other: they are read from the source, not from what happens to be loaded.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["lib", "sandboxes", "runs", "comparisons"]  # lowest first
PROJECT = {*LAYERS, "config"}
# Modules (by name, or any module inside a package of that name) that may use every layer.
INTERFACE = {"views", "admin", "urls", "consumers", "routing", "templatetags", "management"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_apps(path: Path, root: Path) -> set[str]:
    """The project packages a module's source imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                names = [node.module or ""]
        else:
            continue
        found |= {name.split(".")[0] for name in names if name.split(".")[0] in PROJECT}
    return found


def violations(root: Path) -> list[str]:
    """Every import in a layer module that points up (or, from lib, into any app)."""
    found = []
    for rank, app in enumerate(LAYERS):
        for path in sorted((root / app).rglob("*.py")):
            parts = path.relative_to(root / app).parts
            if "migrations" in parts or INTERFACE & {p.removesuffix(".py") for p in parts}:
                continue
            for target in sorted(imported_apps(path, root) - {app}):
                if app == "lib" or target == "config" or LAYERS.index(target) > rank:
                    found.append(f"{path.relative_to(root)} imports {target}")
    return found


def test_models_and_services_import_only_downward():
    assert violations(ROOT) == []


def test_an_upward_import_is_caught_even_inside_a_function(tmp_path):
    """The check itself can fail: a scratch tree with an upward lazy import and a relative one."""
    for app in LAYERS:
        (tmp_path / app).mkdir()
        (tmp_path / app / "__init__.py").write_text("")
    (tmp_path / "sandboxes" / "services.py").write_text(
        "def shut_down():\n    from runs.models import Run\n    return Run\n"
    )
    (tmp_path / "lib" / "helpers.py").write_text("from sandboxes.models import SandboxSession\n")
    (tmp_path / "runs" / "models.py").write_text("from ..comparisons import models\n")
    (tmp_path / "runs" / "views.py").write_text("from comparisons.models import Comparison\n")
    assert violations(tmp_path) == [
        "lib/helpers.py imports sandboxes",
        "sandboxes/services.py imports runs",
        "runs/models.py imports comparisons",
    ]
