"""The package's layout holds: each stage imports only the stages before it, the dedup engine
does no I/O, and only ``store/`` (and the migrations) speak SQLAlchemy. README.md, section
"Layout", shows the same map; a new import across it is a design change to make on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aggregator"
SHARED = {"models", "errors", "clock", "files", "logs", "metrics", "processes"}  # values and helpers
ALLOWED: dict[str, set[str]] = {
    "fetch": set(),
    "parse": set(),
    "normalise": set(),
    "store": set(),
    "dedup": {"normalise"},
    "config": set(),
    "cluster": {"dedup", "normalise", "store"},
    "pipeline": {"fetch", "parse", "normalise", "store", "dedup", "cluster"},  # dedup: prework
    "publish": {"config", "normalise", "store"},
    "web": {"cluster", "config", "publish", "store", "wiring"},
    "daemon": {"cluster", "config", "pipeline", "store", "web", "wiring"},
    "demo": set(),
}
IO_LIBRARIES = {"sqlalchemy", "aiohttp", "psycopg", "sqlite3", "socket", "requests", "httpx"}


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy imports inside functions count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def sources(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


def test_each_stage_imports_only_what_comes_before_it() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sources(package):
            for module in imports(path):
                parts = module.split(".")
                if parts[0] != "aggregator" or len(parts) < 2:
                    continue
                target = parts[1]
                if target not in {package, *allowed, *SHARED}:
                    wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_dedup_engine_does_no_io() -> None:
    wrong = [
        f"{path.name} imports {module}"
        for path in sources("dedup")
        for module in imports(path)
        if module.split(".")[0] in IO_LIBRARIES
    ]
    assert not wrong, "\n".join(wrong)


def test_only_the_store_speaks_sqlalchemy() -> None:
    wrong = [
        str(path.relative_to(PACKAGE.parent))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.parent.name not in {"store", "versions", "migrations"}
        and any(m.split(".")[0] == "sqlalchemy" for m in imports(path))
    ]
    assert not wrong, "\n".join(wrong)
