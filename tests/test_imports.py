"""The product's shape (issue 16): no import cycle anywhere, imports hidden inside functions
included; `cases/` never imports a face, and the faces reach the store only through `cases/`."""

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


# Faces call cases/ and never query the ORM (STYLE.md, Layers): tortoise's query entry points
# on a model class, the calls that write or load one row, and transactions.
ORM_FACES = ("bot", "miniprogram_api", "staff", "complaint_desk")
MODEL_QUERIES = frozenset(
    {
        "filter",
        "get",
        "get_or_none",
        "get_or_create",
        "update_or_create",
        "create",
        "bulk_create",
        "bulk_update",
        "in_bulk",
        "all",
        "exclude",
        "exists",
        "first",
        "select_for_update",
        "raw",
        "annotate",
    }
)
ROW_CALLS = frozenset({"save", "delete", "refresh_from_db", "fetch_related"})  # on anything
TRANSACTIONS = frozenset({"in_transaction", "atomic"})
MODELS = "cases.store.models"
# Operator and demo tools, not faces a citizen or clerk reaches: they set up a store.
ORM_ALLOWED = {
    # Demo seeding in the CLI makes the sample citizen and looks up the demo accounts.
    "complaint_desk.cli",
    # The demo's WeChat simulator page finds the citizen it plays without creating one.
    "complaint_desk.simulator_page",
}


def orm_uses(source: str) -> list[str]:
    """`line: what` for each ORM query, row write or transaction in a module's source."""
    tree = ast.parse(source)
    models: set[str] = set()  # model classes imported from cases.store.models
    modules: set[str] = set()  # names bound to cases.store.models itself
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if node.module == MODELS:
                    models.add(alias.asname or alias.name)
                elif f"{node.module}.{alias.name}" == MODELS:
                    modules.add(alias.asname or alias.name)
                if node.module.startswith("tortoise.transactions") or alias.name in TRANSACTIONS:
                    found.append((node.lineno, f"imports {node.module}.{alias.name}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == MODELS and alias.asname:
                    modules.add(alias.asname)
                if alias.name.startswith("tortoise.transactions"):
                    found.append((node.lineno, f"imports {alias.name}"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in TRANSACTIONS:
            found.append((node.lineno, f"calls {name}"))
        if not isinstance(func, ast.Attribute):
            continue
        receiver = ast.unparse(func.value)
        on_model = receiver in models or receiver.rpartition(".")[0] in modules | {MODELS}
        if (on_model and name in MODEL_QUERIES) or name in ROW_CALLS:
            found.append((node.lineno, f"calls {receiver}.{name}"))
    return [f"{line}: {what}" for line, what in sorted(found)]


def test_the_faces_query_no_model_and_open_no_transaction() -> None:
    uses = {
        name: found
        for name, path in _modules().items()
        if name.split(".")[0] in ORM_FACES and (found := orm_uses(path.read_text(encoding="utf-8")))
    }
    assert {name: found for name, found in uses.items() if name not in ORM_ALLOWED} == {}
    # An allowance nothing needs any more goes, so it cannot cover a new query later.
    assert sorted(uses) == sorted(ORM_ALLOWED)


def test_the_orm_check_finds_queries_writes_and_transactions() -> None:
    # The check itself, on made-up source: each kind of use is found, type hints, a dict's
    # .get and .update, and a query on a name not from cases.store.models are not.
    source = (
        "from tortoise.transactions import in_transaction\n"
        "from cases.store.models import Case, EvidenceFile as Photo\n"
        "from cases.store import models\n"
        "import tortoise.transactions\n"
        "async def f(case: Case, d: dict, q: Other) -> None:\n"
        "    async with in_transaction():\n"
        "        await Case.filter(id=1).order_by('-id').first()\n"
        "    await Photo.get_or_none(id=2)\n"
        "    await models.Survey.create(case_id=1)\n"
        "    await case.save(update_fields=['status'])\n"
        "    await tortoise.transactions.in_transaction()\n"
        "    d.get('x'); d.update(y=1); q.filter(z=1)\n"
    )
    assert orm_uses(source) == [
        "1: imports tortoise.transactions.in_transaction",
        "4: imports tortoise.transactions",
        "6: calls in_transaction",
        "7: calls Case.filter",
        "8: calls Photo.get_or_none",
        "9: calls models.Survey.create",
        "10: calls case.save",
        "11: calls in_transaction",
    ]


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
