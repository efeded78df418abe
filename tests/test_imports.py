"""The product's shape (issue 16): no import cycle anywhere, imports hidden inside functions
included, and `cases/` never imports a face."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("complaint_desk", "config", "cases", "bot", "miniprogram_api", "staff", "wechat")
FACES = ("bot", "miniprogram_api", "staff", "complaint_desk", "wechat")
# The rooms of cases/ in order: each imports only those before it (cases/__init__.py).
ROOMS = ("store", "auth", "workflow", "intake", "views")
SHARED_LEAVES = ("errors", "rules", "text", "privacy")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Which product module imports which (`from a import b` counts a.b when b is a module)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_product_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    # The check itself, on a made-up graph: a → b → c → a is one group, d stands alone.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_cases_imports_no_face() -> None:
    reaching_out = [
        (name, target)
        for name, targets in import_graph().items()
        if name.startswith("cases")
        for target in targets
        if target.split(".")[0] in FACES
    ]
    assert reaching_out == []


def test_each_room_of_cases_imports_only_the_rooms_before_it() -> None:
    def room(module: str) -> str:
        return module.split(".")[1] if module.startswith("cases.") else ""

    wrong = [
        (name, target)
        for name, targets in import_graph().items()
        if room(name) in ROOMS
        for target in targets
        if target.startswith("cases.")
        and room(target) not in SHARED_LEAVES
        and ROOMS.index(room(target)) > ROOMS.index(room(name))
    ]
    assert wrong == []
    # Nothing else lies loose in cases/: a new module goes into a room.
    loose = {room(n) for n in import_graph() if n.startswith("cases.")} - set(ROOMS)
    assert sorted(loose) == sorted(SHARED_LEAVES)


def test_production_never_loads_the_wechat_simulator() -> None:
    # Issue 16: keys.py imported the simulator into every process; it is for demo and tests.
    probe = (
        "import sys, complaint_desk.app, complaint_desk.cli\n"
        "print(sorted(m for m in sys.modules if 'simulator' in m))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
