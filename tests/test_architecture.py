"""The layout's rules, checked over the source: layers, SQL beside its owner, no cycles, a complete worker."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ("app.db", "app.catalogue", "app.embeddings", "app.search", "app.recs", "app.evaluation", "app.status")
CORE = (*DOMAIN, "app.settings", "app.errors", "app.auth", "app.vectors")
FRAMEWORKS = ("starlette", "strawberry", "arq", "typer", "uvicorn")
OUTER = ("schema", "jobs", "app.server", "app.pages", "app.cli", "app.services", "app.queue")
SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP)\b", re.IGNORECASE)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, ast.Module]:
    found = {}
    for folder in ("app", "schema", "jobs"):
        for path in (ROOT / folder).rglob("*.py"):
            found[_module_name(path)] = ast.parse(path.read_text(encoding="utf-8"))
    return found


SOURCES = _sources()


def _imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import statement, at any depth."""
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [alias.name for alias in node.names]))
    return out


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_core_imports_no_framework_and_nothing_from_the_outer_layer() -> None:
    offences = [
        f"{module} imports {imported}"
        for module, tree in SOURCES.items()
        if _within(module, CORE)
        for imported, _ in _imports(tree)
        if _within(imported, FRAMEWORKS) or _within(imported, OUTER)
    ]
    assert offences == []


def test_only_the_queue_package_in_app_talks_to_arq() -> None:
    offences = [
        module
        for module, tree in SOURCES.items()
        if module.startswith("app") and not _within(module, ("app.queue",))
        for imported, _ in _imports(tree)
        if _within(imported, ("arq",))
    ]
    assert offences == []


def _sql_constants(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.JoinedStr):
            text = node.value.value if isinstance(node.value, ast.Constant) else ast.unparse(node.value)
            if isinstance(text, str) and SQL.match(text.lstrip("f'\"")):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_every_sql_statement_is_run_only_by_the_module_that_defines_it() -> None:
    statements = {module: _sql_constants(tree) for module, tree in SOURCES.items()}
    assert sum(len(names) for names in statements.values()) > 40  # the check sees the statements
    borrowed = [
        f"{module} imports {name} from {source}"
        for module, tree in SOURCES.items()
        for source, names in _imports(tree)
        for name in names
        if name in statements.get(source, set())
    ]
    assert borrowed == []


def test_resolvers_and_types_touch_no_sql_and_no_pool() -> None:
    for module, tree in SOURCES.items():
        if not module.startswith("schema"):
            continue
        source = ast.unparse(tree)
        assert "asyncpg" not in source and ".acquire(" not in source, module
        assert not _sql_constants(tree), module


def test_no_import_cycles_between_modules() -> None:
    graph = {
        module: {imported for imported, _ in _imports(tree) if imported in SOURCES and imported != module}
        for module, tree in SOURCES.items()
    }
    # A package's __init__ importing its own modules is how the CLI registers commands, not a cycle.
    graph["app.cli"] = set()
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in visiting, " -> ".join([*path, module])
        if module in done:
            return
        visiting.add(module)
        for imported in graph[module]:
            visit(imported, [*path, module])
        visiting.discard(module)
        done.add(module)

    for module in graph:
        visit(module, [])


def test_modules_stay_small() -> None:
    sizes = {
        path.relative_to(ROOT): len(path.read_text().splitlines())
        for folder in ("app", "schema", "jobs")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert {path: lines for path, lines in sizes.items() if lines > 320} == {}


def test_the_worker_class_is_complete_without_configuration() -> None:
    from jobs.worker import WorkerSettings

    assert {f.name for f in WorkerSettings.functions} == {
        "refresh_embeddings",
        "process_outbox",
        "train_recommender",
        "rebuild_vector_index",
        "embed_chunk",
    }
    assert {c.name for c in WorkerSettings.cron_jobs} == {"scheduled_refresh", "scheduled_training", "sweep_outbox"}
    assert WorkerSettings.on_startup is not None and WorkerSettings.redis_settings is not None
