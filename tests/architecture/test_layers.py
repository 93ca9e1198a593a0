"""The import graph keeps the layers of docs/architecture.md: every import points downward.

Imports inside functions and under ``TYPE_CHECKING`` count like any other (the whole syntax
tree is walked), and there is no ignore list: a rule that needs an exception needs a new layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Bottom to top. A package may import packages of a lower layer only; packages that share a
# layer are independent of each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("simulator", "feature_repo", "slate"),
    ("quality", "features"),
    ("training", "ingest"),
    ("evaluation",),
    ("promotion",),
    ("serving",),
    ("experiments",),
    ("orchestration",),
    ("relay",),
)
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
# Narrower rules on top of the ranks.
ONLY_FROM = {"simulator": {"core"}}  # the lab knows nothing of the platform it tests
DAGSTER_HOME_PACKAGE = "orchestration"
MLFLOW_MODULE = "training/registry.py"  # the one module that talks to tracking and the registry
MLFLOW_BASE_CLASS_ONLY = {"training/ranker/pyfunc.py", "training/sasrec/pyfunc.py"}  # mlflow.pyfunc.PythonModel


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository
    line: int
    target: str  # dotted module name
    names: tuple[str, ...] = ()  # for ``from target import names``: each may be a submodule


def product_files(root: Path) -> Iterator[Path]:
    for package in RANK:
        yield from sorted((root / package).rglob("*.py"))


def imports(root: Path, path: Path) -> Iterator[Import]:
    relative = path.relative_to(root)
    package_parts = relative.with_suffix("").parts[:-1] if path.name != "__init__.py" else relative.parts[:-1]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(str(relative), node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package_parts[: len(package_parts) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield Import(str(relative), node.lineno, target, tuple(alias.name for alias in node.names))


def violations(root: Path) -> list[str]:
    found = []
    for path in product_files(root):
        source = path.relative_to(root).parts[0]
        for imp in imports(root, path):
            top = imp.target.split(".")[0]
            where = f"{imp.path}:{imp.line} imports {imp.target}"
            if top in RANK and top != source and RANK[top] >= RANK[source]:
                found.append(f"{where}: {source} (layer {RANK[source]}) may not import {top} (layer {RANK[top]})")
            if source in ONLY_FROM and top in RANK and top != source and top not in ONLY_FROM[source]:
                found.append(f"{where}: {source} may import only {sorted(ONLY_FROM[source])}")
            if top == "dagster" and source != DAGSTER_HOME_PACKAGE:
                found.append(f"{where}: only {DAGSTER_HOME_PACKAGE}/ imports dagster")
            base_class_only = imp.path in MLFLOW_BASE_CLASS_ONLY and imp.target == "mlflow.pyfunc"
            if top == "mlflow" and imp.path != MLFLOW_MODULE and not base_class_only:
                found.append(f"{where}: tracking and registry calls go through {MLFLOW_MODULE}")
    return found


def _module_name(root: Path, path: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def _module_name(root: Path, path: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def module_cycles(root: Path) -> list[list[str]]:
    """Strongly connected components of more than one module in the product's import graph."""
    modules = {_module_name(root, path): path for path in product_files(root)}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imp in imports(root, path):
            targets |= {imp.target, *(f"{imp.target}.{n}" for n in imp.names)}
        graph[name] = {target for target in targets if target in modules and target != name}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return cycles


def test_every_package_has_a_layer() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages <= set(RANK), f"add {sorted(packages - set(RANK))} to LAYERS and docs/architecture.md"


def test_imports_point_downward() -> None:
    assert violations(REPO) == []


def test_no_import_cycles_between_modules() -> None:
    assert module_cycles(REPO) == []


def test_the_checker_catches_upward_imports_hidden_in_functions_and_type_checking(tmp_path: Path) -> None:
    for package in RANK:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "core" / "settings.py").write_text("def f():\n    from serving import app\n")
    (tmp_path / "training" / "x.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import dagster\n"
    )
    (tmp_path / "simulator" / "world.py").write_text("from quality import rules\n")
    (tmp_path / "serving" / "a.py").write_text("from . import b\n")
    (tmp_path / "serving" / "b.py").write_text("from serving import a\n")
    found = violations(tmp_path)
    assert any(v.startswith("core/settings.py:2 imports serving: core (layer 0)") for v in found)
    assert any(v.startswith("training/x.py:3 imports dagster") for v in found)
    assert any("simulator may import only ['core']" in v for v in found)
    assert module_cycles(tmp_path) == [["serving.a", "serving.b"]]
