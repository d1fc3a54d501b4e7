"""The package's modules import one way: no module reaches itself through the imports of others (an import inside a
function counts; `farm-studio look` draws the same arrows)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


PACKAGES = {"arc": "arc", "cli": "arc.cli", "reference": "arc.reference"}   # folder -> the name it installs as


def module_name(path: Path) -> str:
    folder, *parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join([PACKAGES[folder], *(parts[:-1] if parts and parts[-1] == "__init__" else parts)])


def imports() -> dict[str, set[str]]:
    """Module → the project's modules it imports anywhere in its code."""
    modules = {module_name(p): p for folder in PACKAGES for p in (ROOT / folder).rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) if node.level else ""
                source = ".".join(filter(None, [base, node.module]))
                targets |= {f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                            for alias in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_through_others():
    graph = imports()
    assert "arc.nn.models" in graph["arc.nn.weights"] or "arc.nn.weights" in graph["arc.nn.models"]
    assert circles(graph) == []
