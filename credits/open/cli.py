"""Public record commands of `credits` (registered in credits/cli.py).

credits hold-publication YYYY-MM --reason TEXT
                                  hold back a month's publication on /open and in the open
                                  data (audited; the reason is never published)
credits release-publication YYYY-MM [--reason TEXT]
                                  publish it again
"""

from __future__ import annotations

import click

from credits.cli_common import build_services, cli_actor, refused
from credits.errors import CreditsError


@click.command("hold-publication")
@click.argument("month_text", metavar="YYYY-MM")
@click.option("--reason", required=True, help="why (kept in the audit log, never published)")
def hold_command(month_text: str, reason: str) -> None:
    """Hold back a month's publication on the public record."""
    from credits.ledger import Month
    from credits.open import holds

    actor = cli_actor()
    with build_services() as svc:
        try:
            month = Month.parse(month_text)
            svc.db.run(lambda s: holds.hold(s, actor, month, reason))
        except CreditsError as exc:
            raise refused(exc) from exc
    click.echo(f"held back: {month} is not published until it is released")


@click.command("release-publication")
@click.argument("month_text", metavar="YYYY-MM")
@click.option("--reason", default="", help="why it can be published now (audit log)")
def release_command(month_text: str, reason: str) -> None:
    """Release a month's hold: it is published again (once closed)."""
    from credits.ledger import Month
    from credits.open import holds

    actor = cli_actor()
    with build_services() as svc:
        try:
            month = Month.parse(month_text)
            svc.db.run(lambda s: holds.release(s, actor, month, reason))
        except CreditsError as exc:
            raise refused(exc) from exc
    click.echo(f"released: {month} is published again")


COMMANDS = (hold_command, release_command)
