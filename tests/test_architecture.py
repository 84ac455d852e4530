"""The house rules of the code (docs/architecture.md), read from the source itself.

- The rooms of scheduling/ import one way: the chart and the reminders use booking,
  booking uses neither, the chart and the reminders do not use each other; the stock
  record uses booking only (the chart's dose uses stock, never the other way);
  the FHIR API is built on booking and the chart, and no room imports it.
- No import cycle between modules, even one a function-level import hides.
- The framework as designed: no plain SQL through `connection.cursor()` outside the
  migrations and the data generator, and no private standard-library e-mail module.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = [
    p
    for top in ("clinic", "patients", "scheduling")
    for p in (ROOT / top).rglob("*.py")
    if "migrations" not in p.parts
]
# What each room may not import.
FORBIDDEN = {
    "booking": ("scheduling.chart", "scheduling.reminders", "scheduling.stock", "scheduling.fhir"),
    "chart": ("scheduling.reminders", "scheduling.fhir"),
    "reminders": ("scheduling.chart", "scheduling.stock", "scheduling.fhir"),
    "stock": ("scheduling.chart", "scheduling.reminders", "scheduling.fhir"),
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved (inside functions too)."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return found


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_each_room_imports_only_what_it_builds_on(room):
    crossings = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in (ROOT / "scheduling" / room).rglob("*.py")
        for m in sorted(imports(p))
        if m.startswith(FORBIDDEN[room])
    ]
    assert crossings == []


def test_the_rule_reading_catches_a_crossing(tmp_path):
    """The check above can fail: a relative import from booking into the chart is seen."""
    room = ROOT / "scheduling" / "booking"
    probe = room / "_probe_for_test.py"
    probe.write_text("def f():\n    from ..chart.models import Alert\n")
    try:
        assert "scheduling.chart.models" in imports(probe)
    finally:
        probe.unlink()


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in SOURCE}
    return {
        name: {
            m for m in imports(path) if m != name and m in modules and not m.startswith(f"{name}.")
        }
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_modules():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_plain_sql_outside_the_migrations_and_the_data_generator():
    allowed = {ROOT / "scheduling" / "management" / "commands" / "generate_data.py"}
    users = [
        str(p.relative_to(ROOT)) for p in SOURCE if p not in allowed and ".cursor(" in p.read_text()
    ]
    assert users == []


def test_no_private_email_module_is_imported():
    users = [
        f"{p.relative_to(ROOT)}: {m}" for p in SOURCE for m in imports(p) if m.startswith("email._")
    ]
    assert users == []
