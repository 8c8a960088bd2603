"""The declared public API of faultwise.rcl: every package lists what it exports, sorted and importable; no
module reaches into another's private names; no folder imports one that imports it back."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import faultwise.rcl

ROOT = Path(faultwise.rcl.__file__).parent
PACKAGES = ["faultwise.rcl"] + [
    m.name for m in pkgutil.walk_packages([str(ROOT)], "faultwise.rcl.") if m.ispkg
]


def _modules() -> list[tuple[str, ast.Module]]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out.append((name, ast.parse(path.read_text(encoding="utf-8"))))
    return out


def _imports(tree: ast.Module, module: str) -> list[tuple[str, list[str]]]:
    """(imported module, names) of every import, also inside functions and TYPE_CHECKING blocks."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                parts = module.split(".")[: -node.level] if not module.endswith("__init__") else []
                base = ".".join([*parts, base]) if base else ".".join(parts)
            out.append((base, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


def test_the_entry_points_are_exported():
    from faultwise.rcl import Diagnosis, RCLAgent, RCLConfig, load_telemetry

    assert RCLAgent.__module__ == "faultwise.rcl.method.analyzer"
    assert {Diagnosis, RCLConfig, load_telemetry} <= {
        getattr(faultwise.rcl, n) for n in faultwise.rcl.__all__
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_declares_a_sorted_importable_all(package):
    mod = importlib.import_module(package)
    names = getattr(mod, "__all__", None)
    assert names, f"{package} declares no __all__"
    assert list(names) == sorted(names), f"{package}.__all__ is not sorted"
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(mod, name) is not None, f"{package}.{name}"


def test_no_module_imports_a_private_name_of_another():
    bad = [
        f"{module}: from {src} import {name}"
        for module, tree in _modules()
        for src, names in _imports(tree, module)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert bad == []


def _folder(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["faultwise", "rcl"] else None


def test_no_circle_between_folders():
    edges: dict[str, set[str]] = {}
    for module, tree in _modules():
        here = _folder(module)
        for src, _ in _imports(tree, module):
            there = _folder(src)
            if here and there and there != here:
                edges.setdefault(here, set()).add(there)
    # depth-first search for a cycle among the folders (and top-level modules such as records)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif not state.get(nxt):
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if not state.get(start):
            visit(start, [start])
    assert cycles == []
