"""What every part of the `credits` command shares: the refusal that exits 2, the process's
services, who the audit log says acted, and how a refused use case is printed.

Below credits/cli.py and each capability's cli.py (statements, vouchers, settlement,
accounts, open), so those import it at the top instead of reaching back into credits/cli.py
from inside their functions.
"""

from __future__ import annotations

import getpass

import click

from credits.audit import Actor
from credits.db import NotMigrated
from credits.errors import CreditsError
from credits.privileges import BadRoleName
from credits.services import Services


class CreditsCommandError(click.ClickException):
    """A refused command: its message on stderr, exit code 2 (contract v1)."""

    exit_code = 2


def build_services(*, migrate: bool = False, grant: bool = False) -> Services:
    """The process's services from the environment; a database that is not migrated (or a
    bad role name) refuses the command instead of failing with a traceback."""
    try:
        return Services.build(migrate=migrate, grant=grant)
    except (NotMigrated, BadRoleName) as exc:
        raise CreditsCommandError(str(exc)) from exc


def refused(exc: CreditsError, *, list_field_errors: bool = False) -> click.ClickException:
    """A use case's refusal as the command's: ``code: detail``, and with
    ``list_field_errors`` each field's errors on a line of its own below it."""
    detail = exc.detail
    problems = exc.extra.get("errors") if list_field_errors else None
    if problems:
        detail += "\n" + "\n".join(f"  {p}" for v in problems.values() for p in v)
    return CreditsCommandError(f"{exc.code}: {detail}")


def cli_actor() -> Actor:
    """Who the audit log says acted: the operating-system user running the command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(f"cli:{user}"[:200])
