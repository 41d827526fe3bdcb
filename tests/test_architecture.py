"""The import graph of the harness, read from the source (imports inside functions too):
no cycle, and every import goes down the layers docs/architecture.md describes."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bench", "seed", "scenarios")

# Lowest first: a module may import its own layer and the layers below it, never above.
LAYERS = [
    ("core", ("bench.core",)),
    ("judge", ("bench.judge",)),
    ("dataset", ("seed", "scenarios")),
    ("session", ("bench.session",)),
    ("benchmarks", ("bench.latency", "bench.storage", "bench.security", "bench.vector", "bench.loadtest",
                    "bench.throughput", "bench.maintenance")),
    ("registry", ("bench.benchmarks",)),
    ("capacity", ("bench.capacity",)),  # seeds and measures sizes: above the benchmarks
    ("report", ("bench.report",)),
    ("cli", ("bench.cli", "bench.__main__", "bench")),
]


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The harness modules `name` imports anywhere in its source."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in known and t != name}
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer_of(module: str) -> int:
    best = None
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    assert best is not None, f"{module} is in no layer of tests/test_architecture.py"
    return best[0]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read_from_the_source():
    edges = graph()
    assert len(edges) > 80
    assert "bench.judge.verdicts" in edges["bench.latency.section"]  # a top-level import
    assert "bench.benchmarks" in edges["bench.cli.run"]


def test_no_module_takes_part_in_an_import_cycle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_import_goes_down_the_layers():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in graph().items() for t in sorted(targets) if layer_of(t) > layer_of(m)]
    assert upward == []


def test_benchmarks_never_import_report_code():
    assert not [(m, t) for m, ts in graph().items() if m.startswith(LAYERS[4][1]) for t in ts
                if t.startswith("bench.report")]
