"""The layout is the architecture: no import circles, and each stage imports only the stages below it.

documents -> chunks -> index (kb) -> answer (generate) -> training (finetune) -> score and report
(evaluate) -> serve -> cli. The ground floor (`tailor/*.py`: config files, home, records, ...) imports no
stage; `audit` records what kb and the stages above it do and imports only kb. Every import counts,
including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1] / "src"
STAGES = {"kb": 1, "audit": 2, "generate": 2, "finetune": 3, "evaluate": 4, "serve": 5, "cli": 6}
GROUND = 0
ENTRY = 7  # tailor.__main__


def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> nx.DiGraph:
    """Module -> the modules it imports (`from package import submodule` points at the submodule)."""
    found = modules()
    graph = nx.DiGraph()
    for name, path in found.items():
        graph.add_node(name)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in found else node.module
                           for a in node.names]
            else:
                continue
            graph.add_edges_from((name, target) for target in targets if target in found and target != name)
    return graph


def rank(module: str) -> int:
    parts = module.split(".")
    if module == "tailor.__main__":
        return ENTRY
    return STAGES[parts[1]] if len(parts) > 1 and parts[1] in STAGES else GROUND


def test_there_is_no_import_circle():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_each_stage_imports_only_the_stages_below_it_or_itself():
    graph = import_graph()
    assert set(STAGES) <= {name.split(".")[1] for name in graph if name.count(".") >= 1}
    upward = [
        f"{source} -> {target}"
        for source, target in graph.edges
        if source.split(".")[:2] != target.split(".")[:2] and rank(target) >= rank(source) and rank(target) != GROUND
    ]
    assert not upward, "\n".join(upward)
