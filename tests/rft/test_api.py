"""The shape of the rft code: declared public API, typed public signatures, a layout without import cycles,
no private names borrowed across modules, and light imports."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import faultwise.rft

ROOT = Path(faultwise.rft.__file__).parent
PACKAGE = "faultwise.rft"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
PACKAGES = sorted(m for m, p in MODULES.items() if p.name == "__init__.py")


def runtime_imports(path: Path) -> set[str]:
    """The faultwise.rft modules a module imports, at the top or inside functions (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith(PACKAGE)}
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_declares_a_sorted_importable_api(package):
    mod = importlib.import_module(package)
    names = getattr(mod, "__all__", None)
    if package == PACKAGE:  # the root only points at its two parts
        assert names is None
        return
    assert names, f"{package} declares no __all__"
    assert names == sorted(names), f"{package}.__all__ is not sorted"
    for name in names:
        assert getattr(mod, name) is not None, f"{package}.{name}"


def test_lazy_callback_is_the_real_class():
    pytest.importorskip("transformers")
    import faultwise.rft.fm as fm
    from faultwise.rft.fm.callback import FMCallback

    assert fm.FMCallback is FMCallback
    with pytest.raises(AttributeError):
        fm.NoSuchThing  # noqa: B018


def test_importing_the_public_api_stays_light():
    code = (
        "import sys, faultwise.rft.fm, faultwise.rft.faultbench, faultwise.rft.cli; "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'sklearn', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def untyped(fn: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool) -> list[str]:
    args = fn.args
    params = args.posonlyargs + args.args + args.kwonlyargs
    if is_method and params and params[0].arg in ("self", "cls"):
        params = params[1:]
    missing = [a.arg for a in params if a.annotation is None]
    missing += [f"*{a.arg}" for a in (args.vararg, args.kwarg) if a is not None and a.annotation is None]
    if fn.returns is None:
        missing.append("return")
    return missing


def public_functions(tree: ast.Module):
    """(qualified name, function, is_method) of module-level functions and methods of module-level classes
    whose names are public (dunder methods included, ``__init__`` above all)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            yield node.name, node, False
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    private = item.name.startswith("_") and not item.name.startswith("__")
                    decorated = {ast.unparse(d) for d in item.decorator_list}
                    if not private and not decorated & {"field_validator", "model_validator"}:
                        yield f"{node.name}.{item.name}", item, True


def test_every_public_signature_is_typed():
    gaps = []
    for name, path in MODULES.items():
        for qual, fn, is_method in public_functions(ast.parse(path.read_text())):
            missing = untyped(fn, is_method)
            if missing:
                gaps.append(f"{name}.{qual}: {', '.join(missing)}")
    assert not gaps, "\n".join(gaps)


def test_no_module_imports_a_private_name_of_another():
    borrowed = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("faultwise"):
                borrowed += [f"{name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert not borrowed, borrowed


def test_layout_has_no_import_cycle():
    graph = {m: runtime_imports(p) - {m} for m, p in MODULES.items() if m not in PACKAGES}
    graph = {m: {d for d in deps if d not in PACKAGES} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            assert state.get(d) != 1, " -> ".join([*path, m, d])
            if d not in state:
                visit(d, [*path, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


@pytest.mark.parametrize(
    ("folder", "must_not_import"),
    [
        ("faultbench", ("fm",)),  # the benchmark knows nothing of the failure manager that it measures
        ("fm.detect", ("fm.diagnose", "fm.remediate")),
        ("fm.diagnose", ("fm.detect", "fm.remediate")),
    ],
)
def test_folders_depend_one_way(folder, must_not_import):
    prefix = f"{PACKAGE}.{folder}"
    bad = [
        f"{m} -> {d}"
        for m, p in MODULES.items()
        if m == prefix or m.startswith(prefix + ".")
        for d in runtime_imports(p)
        if any(d == f"{PACKAGE}.{x}" or d.startswith(f"{PACKAGE}.{x}.") for x in must_not_import)
    ]
    assert not bad, bad
