"""The tree's one-way flow (read from the source with `ast`, every import in a file, function
bodies included): eproxy_jax/nn -> spaces -> the core -> cli / api -> experiments.

- `eproxy_jax.nn` (ops, initializers, edge_groups, shared layers) imports nothing of this project
  outside itself;
- `spaces` takes from `eproxy_jax` only `nn` and `jsonio`, and a space imports another space's
  module only for a base class (listed below), never for a layer or a truth reader (`spaces.truth`);
- the core (every `eproxy_jax` module but the CLI's and `api`) never imports `spaces`: it takes a
  space object; only `cli*` and `api` read the registry;
- nothing below the CLI imports `eproxy_jax.cli*` or `eproxy_jax.api`;
- and no import circle among the project's modules.
"""
import ast
from pathlib import Path

from conftest import ROOT

# a space module that builds on another space's module: what it takes and why
SPACE_TO_SPACE = {
    ("spaces.nb301", "spaces.cellnet"): "CellSpace: NB301 is the DARTS cell space at one size",
    ("spaces.nds", "spaces.cellnet"): "CellSpace: the NDS cell spaces",
}
SHARED_SPACE_MODULES = {"spaces", "spaces.base", "spaces.buckets", "spaces.truth"}   # the protocol, shape buckets, truth readers
BOTTOM = ("eproxy_jax.nn", "eproxy_jax.jsonio")
ABOVE_CORE = ("eproxy_jax.cli", "eproxy_jax.api", "eproxy_jax.__main__")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set:
    """Every module a file imports (absolute names; `from a import b` counts a and a.b)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return {m for m in out if m.split(".")[0] in ("eproxy_jax", "spaces")}


def _modules():
    files = sorted((ROOT / "eproxy_jax").rglob("*.py")) + sorted((ROOT / "spaces").glob("*.py"))
    return {_module_name(f): f for f in files}


MODULES = _modules()
EXISTING = set(MODULES)


def _deps(name):
    return {m for m in _imports(MODULES[name]) if m in EXISTING and m != name}


def test_the_bottom_layer_imports_nothing_above_it():
    for name in (m for m in MODULES if m.startswith(BOTTOM)):
        bad = {d for d in _deps(name) if not d.startswith(BOTTOM)}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_spaces_build_on_the_bottom_layer_alone():
    for name in (m for m in MODULES if m.startswith("spaces")):
        for d in _deps(name):
            if d.startswith("eproxy_jax"):
                assert d.startswith(BOTTOM) or d == "eproxy_jax", f"{name} imports {d}"
            elif d not in SHARED_SPACE_MODULES:
                assert (name, d) in SPACE_TO_SPACE, f"{name} imports another space's module {d}"


def test_the_core_never_imports_spaces_and_nothing_below_imports_the_cli():
    core = [m for m in MODULES if m.startswith("eproxy_jax") and not m.startswith(ABOVE_CORE)]
    assert {"eproxy_jax.engine", "eproxy_jax.proxy", "eproxy_jax.dps", "eproxy_jax.store"} <= set(core)
    for name in core:
        bad = {d for d in _deps(name) if d.startswith("spaces") or d.startswith(ABOVE_CORE)}
        assert not bad, f"{name} imports {sorted(bad)}"
    for name in (m for m in MODULES if m.startswith("spaces")):
        assert not {d for d in _deps(name) if d.startswith(ABOVE_CORE)}, name


def _circle(names):
    """The first import circle among `names` (a list of modules), or None."""
    graph = {m: {d for d in _deps(m) if d in names and MODULES[d].name != "__init__.py"} for m in names}
    state = {}

    def visit(m, path):
        if state.get(m) == "done":
            return None
        if state.get(m) == "open":
            return path[path.index(m):] + [m]
        state[m] = "open"
        for d in sorted(graph[m]):
            found = visit(d, path + [m])
            if found:
                return found
        state[m] = "done"
        return None

    for m in sorted(graph):
        found = visit(m, [])
        if found:
            return " -> ".join(found)
    return None


def test_no_import_circle_below_the_cli():
    below = [m for m in MODULES if not m.startswith(ABOVE_CORE)]
    assert _circle(below) is None


def test_no_import_circle_in_the_cli():
    assert _circle(list(MODULES)) is None
