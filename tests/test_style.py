"""House rules that a reader relies on, held to the whole tree: no function in `arc/`, `cli/` or `reference/` runs
over 60 lines unless its docstring says why (a sentence starting "Long because")."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 60


def long_functions(folders=("arc", "cli", "reference")) -> list[str]:
    """`file:line name (N lines)` of every function over `MAX_LINES` lines whose docstring gives no reason."""
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_LINES and "Long because" not in (ast.get_docstring(node) or ""):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_runs_over_60_lines_without_saying_why():
    assert long_functions() == []


def test_the_rule_sees_a_long_function(tmp_path, monkeypatch):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(f"def short():\n    pass\n\n\ndef long():\n{body}\n\n\n"
                                           f"def excused():\n    \"\"\"Long because it is a table.\"\"\"\n{body}\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert long_functions(("pkg",)) == ["pkg/m.py:5 long (61 lines)"]
