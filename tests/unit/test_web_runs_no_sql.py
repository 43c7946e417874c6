"""The pages (credits/web) run no SQL: every query lives in a use case or a query module.

A page module may name a ``Session`` in a type hint, but it may not import a query
construct from SQLAlchemy or SQLModel, nor call ``execute``/``exec``/``scalars`` on a
session. ``test_the_rule_can_fail`` feeds the checker a view that breaks the rule, so a
checker that never finds anything would fail there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "credits" / "web"
QUERY_LIBRARIES = ("sqlalchemy", "sqlmodel")
#: What a view may import from those libraries: types for annotations, never a query.
ALLOWED_NAMES = frozenset({"Session"})
#: Session methods that run a statement.
RUNS_SQL = frozenset({"execute", "exec", "scalars", "scalar"})


def sql_in(source: str, filename: str = "<view>") -> list[str]:
    """Where ``source`` builds or runs SQL, as ``file:line: what`` (empty when it does not)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in QUERY_LIBRARIES:
                    found.append(f"{filename}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in QUERY_LIBRARIES:
                for alias in node.names:
                    if alias.name not in ALLOWED_NAMES:
                        found.append(
                            f"{filename}:{node.lineno}: from {node.module} import {alias.name}"
                        )
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RUNS_SQL
        ):
            found.append(f"{filename}:{node.lineno}: .{node.func.attr}(...)")
    return found


def test_no_page_module_builds_or_runs_sql() -> None:
    modules = sorted(WEB.rglob("*.py"))
    assert len(modules) > 10, "credits/web was not found"
    found = [
        hit
        for path in modules
        for hit in sql_in(path.read_text(encoding="utf-8"), str(path.relative_to(WEB.parent)))
    ]
    assert found == [], "move these queries into a use case or query module:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy import select\n",
        "from sqlalchemy import func\n",
        "from sqlmodel import select\n",
        "from sqlalchemy.sql import text\n",
        "import sqlalchemy as sa\n",
        "def view(s):\n    return s.execute(q).all()\n",
        "def view(s):\n    return s.exec(q).all()\n",
    ],
)
def test_the_rule_can_fail(source: str) -> None:
    assert sql_in(source) != []


def test_a_session_type_hint_is_allowed() -> None:
    assert sql_in("from sqlalchemy.orm import Session\n") == []
