"""Statements of a Europe/London month and the month close (docs/statements.md).

No Flask here: the API, the pages and the command line all call :func:`build_statement`.
"""

from credits.statements.engine import (
    ACCOUNT_TYPES,
    ActivityLine,
    Outstanding,
    SchemeFigures,
    ShopLine,
    ShopStatement,
    ShopStatementLine,
    Statement,
    TrialBalance,
    TrialBalanceLine,
    VoucherFigures,
    build_statement,
)
from credits.statements.rates import rate_for, set_rate
from credits.statements.snapshots import MonthSnapshot, check_snapshots, snapshot_month

__all__ = [
    "ACCOUNT_TYPES",
    "ActivityLine",
    "MonthSnapshot",
    "Outstanding",
    "SchemeFigures",
    "ShopLine",
    "ShopStatement",
    "ShopStatementLine",
    "Statement",
    "TrialBalance",
    "TrialBalanceLine",
    "VoucherFigures",
    "build_statement",
    "check_snapshots",
    "rate_for",
    "set_rate",
    "snapshot_month",
]
