"""The package's shape holds: no import cycles, only the composition root reaches into the HTTP
edge, the database is reached through storage/ alone, one name per module outside api/, and no
module grows long without saying why.

The import graph is read from the source with ``ast``: every ``import`` and ``from ... import``
counts, at module level, inside functions, and under ``if TYPE_CHECKING:`` alike. A cycle that
only annotations close is still two modules that cannot be read, moved or tested apart, and one
annotation evaluated at run time (pydantic, ``get_type_hints``) turns it into an ImportError.
Importing ``a.b`` also runs ``a/__init__.py``; that implicit edge is not counted, because Python
sets a package up before its submodules and so never fails on it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "alertflow"
# Beyond this many lines a module needs a reason, given in its docstring after LONG_MARKER.
MAX_LINES = 500
LONG_MARKER = re.compile(r"^Long module: (?P<reason>\S.{20,})", re.M)
# The composition root: it builds the app, so it alone may import the HTTP edge's modules.
COMPOSITION_ROOT = frozenset({"alertflow.app", "alertflow.cli"})
# Reaching the database: its driver modules, the calls that run SQL or fetch its results
# (sqlite3's, aiosqlite's and our Database's), and SQL itself in a string. Outside storage/
# none of them may appear (#14): another backend then replaces storage/ alone.
DATABASE_DRIVERS = frozenset({"sqlite3", "aiosqlite"})
DATABASE_CALLS = frozenset(
    {"execute", "executemany", "executescript", "execute_fetchall", "fetchone", "fetchall", "fetchmany"}
)
SQL = re.compile(r"\b(?:SELECT\b.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE|PRAGMA)\b", re.S)


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module under ``package`` (a package is its __init__)."""
    found: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The modules of ``known`` that ``module`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                # `from a import b` imports the module a.b when there is one, else a name of a.
                submodule = f"{source}.{alias.name}"
                target = submodule if submodule in known else source
                if target in known:
                    yield target


def import_graph(package: Path) -> dict[str, set[str]]:
    known = module_files(package)
    return {name: set(imported(name, path, known)) - {name} for name, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it with the first repeated at the end, or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph.get(node, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done and (cycle := visit(target)):
                return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return None


def database_access(path: Path) -> Iterator[str]:
    """Where the module at ``path`` reaches the database itself: "line: what" for each import
    of a driver, call of a database method and string holding SQL."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if not node.level else []
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in DATABASE_CALLS:
                yield f"{node.lineno}: calls .{node.func.attr}()"
            continue
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            yield f"{node.lineno}: SQL {node.value.strip()[:40]!r}"
            continue
        else:
            continue
        yield from (f"{node.lineno}: imports {n}" for n in names if n.split(".")[0] in DATABASE_DRIVERS)


def outside_storage(package: Path) -> list[str]:
    """Every place outside ``<package>/storage/`` that reaches the database itself."""
    storage = f"{package.name}.storage"
    return [
        f"{path.relative_to(package.parent)}:{where}"
        for module, path in module_files(package).items()
        if module != storage and not module.startswith(f"{storage}.")
        for where in sorted(database_access(path), key=lambda where: int(where.split(":")[0]))
    ]


def docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text())) or ""


def test_no_module_imports_itself_back_through_others() -> None:
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("where", ["function", "type_checking", "module"])
def test_the_cycle_check_names_a_cycle_wherever_its_import_is(tmp_path: Path, where: str) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("from ..b import thing\n")
    back = {
        "function": "def later():\n    from .sub import a\n",
        "type_checking": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub.a import x\n",
        "module": "import pkg.sub.a\n",
    }[where]
    (package / "b.py").write_text(back + "thing = 1\n")
    (package / "c.py").write_text("from . import b\n")  # reaches the cycle without being on it
    assert find_cycle(import_graph(package)) == ["pkg.b", "pkg.sub.a", "pkg.b"]
    (package / "b.py").write_text("thing = 1\n")
    assert find_cycle(import_graph(package)) is None


def test_only_the_composition_root_imports_the_http_edge() -> None:
    graph = import_graph(PACKAGE)
    reaching = {
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module not in COMPOSITION_ROOT and not module.startswith("alertflow.api")
        for target in targets
        if target.startswith("alertflow.api")
    }
    assert not reaching, "the core imports the API (pass what it needs instead): " + "; ".join(sorted(reaching))


def test_only_storage_reaches_the_database() -> None:
    found = outside_storage(PACKAGE)
    assert not found, "SQL or a database driver outside storage/ (add a storage operation instead): " + "; ".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "import sqlite3\n",
        "from aiosqlite import connect\n",
        "def f(conn):\n    return conn.execute('SELECT 1')\n",
        "async def f(db):\n    return await db.fetchall(QUERY)\n",
        "QUERY = 'SELECT id FROM users WHERE tenant_id = ?'\n",
        "def f(t):\n    return f'DELETE FROM {t} WHERE id = ?'\n",
    ],
)
def test_the_storage_check_finds_the_database_reached_outside_storage(tmp_path: Path, source: str) -> None:
    package = tmp_path / "pkg"
    for sub in ("storage", "intake"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "storage" / "users.py").write_text(source)  # inside storage/: as it should be
    (package / "intake" / "publish.py").write_text('"""Select what to publish from the request."""\n')
    assert outside_storage(package) == []
    (package / "intake" / "publish.py").write_text(source)
    [found] = outside_storage(package)
    assert found.startswith("pkg/intake/publish.py:")


def test_each_module_name_outside_the_api_says_one_thing() -> None:
    # api/ modules are named for their URL (/v1/batches) and may share a name with the core
    # module that serves them; elsewhere one name is one module, so no templates.py beside a
    # templating.py beside a rendering.py.
    names: dict[str, list[str]] = {}
    for module in module_files(PACKAGE):
        if module != "alertflow" and not module.startswith("alertflow.api"):
            names.setdefault(module.rsplit(".", 1)[-1], []).append(module)
    shared = {name: modules for name, modules in names.items() if len(modules) > 1}
    assert not shared, f"modules sharing a name: {shared}"


def test_a_module_over_the_line_limit_says_why_it_is_long() -> None:
    unexplained = [
        f"{path.relative_to(ROOT)} ({lines} lines)"
        for path in module_files(PACKAGE).values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES and not LONG_MARKER.search(docstring(path))
    ]
    assert not unexplained, (
        f"over {MAX_LINES} lines: split along its concepts, or give the reason in its docstring "
        f"on a line 'Long module: <why>': {unexplained}"
    )


def test_the_long_module_marker_needs_a_reason() -> None:
    assert LONG_MARKER.search("Sends load.\n\nLong module: one run's phases share the server it started.")
    assert not LONG_MARKER.search("Sends load.\n\nLong module:")
    assert not LONG_MARKER.search("Sends load.\n\nLong module: big")
    assert not LONG_MARKER.search("A long module, as modules go.")


def test_the_architecture_diagram_draws_every_package() -> None:
    drawn = "\n".join(
        re.findall(r"^```mermaid\n(.*?)^```", (ROOT / "docs" / "architecture.md").read_text(), re.S | re.M)
    )
    packages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert len(packages) > 5, "the package scan found too little to prove anything"
    missing = [name for name in packages if f"{name}/" not in drawn]
    assert not missing, f"docs/architecture.md's diagrams do not draw {missing}"
