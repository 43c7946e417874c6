"""The import rules between the layers (docs/architecture.md, "Layers"), checked by reading
every module under credits/ (an AST walk: imports inside functions count too).

The layers, top to bottom:

- edges: the pages (credits.web), the HTTP API (credits.api), the command line (credits.cli,
  credits.cli_common, every ``credits.<package>.cli``), and what composes or drives the whole
  app (credits/__init__.py's create_app, credits.wsgi, credits.web_server, credits.demo,
  credits.docs_screenshots, credits.bench, credits.migrations);
- everything else: the use cases and domain packages (accounts, vouchers, redemption, ...)
  and the shared modules below them (db, errors, i18n, config, ...);
- the ledger (credits.ledger), at the bottom.

Rules:

1. No module below the edges imports an edge module.
2. The ledger imports only itself and the modules it stands on (LEDGER_MAY_IMPORT): no domain
   package.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "credits"

#: Edge modules (and packages: a name covers its submodules) that no lower module imports.
EDGES = (
    "credits.web",
    "credits.api",
    "credits.cli",
    "credits.cli_common",
)

#: Modules that compose or drive the whole app (besides credits/__init__.py's create_app):
#: they sit at the edge too, so they may import anything (and are not checked by rule 1).
COMPOSERS = (
    "credits.wsgi",
    "credits.web_server",
    "credits.demo",
    "credits.docs_screenshots",
    "credits.bench",
    "credits.migrations",
)

#: What the ledger stands on. Anything else under credits/ is above it.
LEDGER_MAY_IMPORT = ("credits.ledger", "credits.db", "credits.errors", "credits.i18n")


@dataclass(frozen=True)
class Violation:
    module: str
    imported: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported} ({self.rule})"


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def is_cli_module(name: str) -> bool:
    """credits.cli, credits.cli_common and each capability's ``cli`` module."""
    return _within(name, ("credits.cli", "credits.cli_common")) or name.endswith(".cli")


def is_edge(name: str) -> bool:
    """An edge module: pages, API or command line."""
    return _within(name, EDGES) or is_cli_module(name)


def is_composer(name: str) -> bool:
    """create_app and the programs that drive the whole app."""
    return name == "credits" or _within(name, COMPOSERS)


def module_name(path: Path, root: Path) -> str:
    """``credits/redemption/history.py`` -> ``credits.redemption.history``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, *, is_package: bool = False) -> list[tuple[str, int]]:
    """Every ``credits...`` module a source imports, anywhere in it, with its line."""
    found: list[tuple[str, int]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # ``from credits.web import member`` imports the module credits.web.member.
            found += [(f"{target}.{a.name}", node.lineno) for a in node.names]
    return [(name, line) for name, line in found if _within(name, ("credits",))]


def violations(module: str, imported: list[tuple[str, int]]) -> list[Violation]:
    """The layer rules a module's imports break."""
    out: list[Violation] = []
    if not is_edge(module) and not is_composer(module):
        out += [
            Violation(module, name, line, "a lower layer imports an edge")
            for name, line in imported
            if is_edge(name)
        ]
    if _within(module, ("credits.ledger",)):
        out += [
            Violation(module, name, line, "the ledger imports above itself")
            for name, line in imported
            if not _within(name, LEDGER_MAY_IMPORT)
        ]
    return out


def tree_violations(root: Path = ROOT) -> list[Violation]:
    """Every rule broken by a module under ``root``/credits."""
    out: list[Violation] = []
    for path in sorted((root / "credits").rglob("*.py")):
        name = module_name(path, root)
        imported = imports_of(path.read_text("utf-8"), name, is_package=path.stem == "__init__")
        out += violations(name, imported)
    return out


def test_the_tree_keeps_the_layer_rules() -> None:
    found = tree_violations()
    assert not found, "\n".join(map(str, found))


def test_the_walk_reads_the_whole_tree() -> None:
    # A walk that silently found nothing would pass the test above.
    names = {module_name(p, ROOT) for p in PACKAGE.rglob("*.py")}
    assert {"credits.ledger.posting", "credits.redemption.history", "credits.web.member"} <= names
    assert len(names) > 150


# --- the checker catches what it should (planted imports) --------------------------------


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        (
            "credits.redemption.history",
            "def install():\n    from credits.web import member\n",
            "a lower layer imports an edge",
        ),
        (
            "credits.redemption.fast",
            "from credits.api.auth import forget_token_digest\n",
            "a lower layer imports an edge",
        ),
        ("credits.statements.service", "import credits.cli\n", "a lower layer imports an edge"),
        (
            "credits.vouchers.service",
            "from credits.statements.cli import _refused\n",
            "a lower layer imports an edge",
        ),
        (
            "credits.vouchers.service",
            "from credits.cli_common import build_services\n",
            "a lower layer imports an edge",
        ),
        ("credits.ledger.posting", "from credits.vouchers import models\n", "the ledger"),
        ("credits.ledger.verify", "def f():\n    import credits.accounts\n", "the ledger"),
        ("credits.ledger.chain", "from ..web import member\n", "a lower layer imports an edge"),
    ],
)
def test_a_planted_import_is_caught(module: str, source: str, rule: str) -> None:
    found = violations(module, imports_of(source, module))
    assert any(v.rule.startswith(rule) for v in found), found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("credits.web.member", "from credits.redemption import history\n"),
        ("credits.api.redemptions", "from credits.redemption.fast import redeem_now\n"),
        ("credits.statements.cli", "from credits.cli_common import refused\n"),
        ("credits", "from credits.web import register_web\n"),
        ("credits.ledger.posting", "from credits.ledger.models import T_ACCOUNT\n"),
        ("credits.ledger.posting", "from credits.db import utcnow\n"),
        ("credits.redemption.service", "from credits.vouchers.service import claim_open\n"),
    ],
)
def test_an_allowed_import_passes(module: str, source: str) -> None:
    assert violations(module, imports_of(source, module)) == []


def test_a_planted_module_in_a_copy_of_the_tree_fails_the_check(tmp_path: Path) -> None:
    (tmp_path / "credits" / "ledger").mkdir(parents=True)
    (tmp_path / "credits" / "__init__.py").write_text("from credits.web import register_web\n")
    (tmp_path / "credits" / "ledger" / "__init__.py").write_text("")
    (tmp_path / "credits" / "ledger" / "bad.py").write_text("from credits.settlement import runs\n")
    found = tree_violations(tmp_path)
    assert [str(v) for v in found] == [
        "credits.ledger.bad:1 imports credits.settlement (the ledger imports above itself)",
        "credits.ledger.bad:1 imports credits.settlement.runs (the ledger imports above itself)",
    ]
