"""The one-way flow, held by the import graph (type-only imports included).

store ← collectors, alerts, reports ← the config composition ← dashboard ← shell and demo:
no package imports one above it, and no two modules import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("store", "collectors", "alerts", "reports", "dashboard", "demo")
CONFIG = {"lagwatch.config", "lagwatch.loader", "lagwatch.logs", "lagwatch.catalog"}

# layer → the layers it may import (besides itself), and why.
ALLOWED: dict[str, set[str]] = {
    "store": set(),  # the bottom: samples, the store protocol, contracts
    "collectors": {"store"},  # read sources, yield samples; never alert or draw
    "alerts": {"store"},  # read the store, tell receivers
    "reports": {"store"},  # read the store
    # The config composes each package's own model, the dashboard's included.
    "config": {"store", "collectors", "alerts", "reports", "dashboard.config"},
    "dashboard": {"store", "alerts", "reports", "config"},  # renders what the store holds
    "shell": {"store", "collectors", "alerts", "reports", "config", "dashboard", "demo"},
    "demo": {"store", "collectors", "alerts", "reports", "config", "dashboard", "shell"},
}


def module_files() -> Iterator[tuple[str, Path]]:
    """Yield (dotted module name, file) for every module of the project, each file once."""
    for folder in ("lagwatch", *FOLDERS):
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if any(p == "__pycache__" for p in rel.parts):
                continue
            if folder == "lagwatch":
                if rel.parts and (base / rel.parts[0]).is_symlink():
                    continue  # a top-level folder reached through its link
                yield ".".join(["lagwatch", *parts]), path
            else:
                yield ".".join(["lagwatch", folder, *parts]), path


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in FOLDERS:
        if parts[1] == "dashboard" and parts[2:3] == ["config"]:
            return "dashboard.config"
        return parts[1]
    return "config" if module in CONFIG else "shell"


def imports(path: Path, modules: set[str]) -> set[str]:
    """Return the project modules ``path`` imports anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            # `from pkg import sub` imports the submodule; `from pkg import name`, the package.
            names = [s if s in modules else node.module for s in subs]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("lagwatch"):
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    files = dict(module_files())
    modules = set(files)
    return {m: imports(p, modules) - {m} for m, p in files.items()}


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Return each import that goes up a layer, and each pair of modules importing each other."""
    found = []
    for source, targets in edges.items():
        own = layer(source)
        allowed = ALLOWED["dashboard" if own == "dashboard.config" else own] | {own}
        if own == "dashboard.config":
            allowed = {"store", "dashboard.config"}  # a config model: values only
        for target in sorted(targets):
            to = layer(target)
            ok = to in allowed or (to == "dashboard.config" and "dashboard" in allowed)
            if not ok:
                found.append(f"{source} ({own}) imports {target} ({to}): an arrow back up")
            if source in edges.get(target, set()) and source < target:
                found.append(f"{source} and {target} import each other")
    return found


def test_no_import_goes_up_a_layer_and_no_two_modules_import_each_other() -> None:
    edges = graph()
    assert len(edges) > 100, "the walk found too few modules"
    assert violations(edges) == []


def test_an_arrow_back_up_is_caught() -> None:
    edges = graph()
    edges["lagwatch.store.sqlite"] = edges["lagwatch.store.sqlite"] | {"lagwatch.collectors.base"}
    edges["lagwatch.collectors.runner"] = edges["lagwatch.collectors.runner"] | {
        "lagwatch.alerts.engine"
    }
    found = violations(edges)
    assert any("lagwatch.store.sqlite (store) imports lagwatch.collectors.base" in v for v in found)
    assert any(
        "lagwatch.collectors.runner (collectors) imports lagwatch.alerts" in v for v in found
    )


def test_two_modules_importing_each_other_are_caught() -> None:
    edges = graph()
    edges["lagwatch.collectors.rate"] = edges["lagwatch.collectors.rate"] | {
        "lagwatch.collectors.runner"
    }
    edges["lagwatch.collectors.runner"] = edges["lagwatch.collectors.runner"] | {
        "lagwatch.collectors.rate"
    }
    assert any("import each other" in v for v in violations(edges))
