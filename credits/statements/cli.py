"""Statement commands of `credits` (registered in credits/cli.py).

credits statement --month YYYY-MM [--shop ID] [--format json|csv|hledger|beancount]
                  [--out FILE] [--signature FILE]
                                  the month's statement (stdout unless --out), the same bytes
                                  the API serves; --signature writes its detached signature
credits verify-statement FILE SIG [--trust-list FILE_OR_URL]
                                  exit 0 only if SIG proves FILE (default trust list: this
                                  instance's statement key)
credits set-rate PENCE --from YYYY-MM
                                  the reimbursement rate from that month on (audited)
credits close-month YYYY-MM       run every check, then close the month (exit 1 and the list
                                  of failures if any check fails)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from credits.cli_common import build_services, cli_actor, refused
from credits.errors import CreditsError


@click.command("statement")
@click.option("--month", "month_text", required=True, metavar="YYYY-MM")
@click.option("--shop", "shop_id", type=click.IntRange(1), default=None)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "hledger", "beancount"]),
    default="json",
    show_default=True,
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--signature", type=click.Path(dir_okay=False, path_type=Path), default=None)
def statement(
    month_text: str, shop_id: int | None, fmt: str, out: Path | None, signature: Path | None
) -> None:
    """Print (or write) a month's statement for the scheme or one shop."""
    from credits.statements import service, signing

    with build_services() as svc:
        try:
            month = service.parse_month(month_text)
            with svc.db.read() as s:
                file = service.statement_file(s, month, fmt, shop_id=shop_id)
        except CreditsError as exc:
            raise refused(exc) from exc
        sig = signing.sign(svc.settings.instance_path, file.data) if signature else None
    if out is not None:
        out.write_bytes(file.data)
    else:
        sys.stdout.buffer.write(file.data)
        sys.stdout.buffer.flush()
    if signature is not None and sig is not None:
        signature.write_text(sig + "\n", encoding="ascii")


def _load_trust_list(source: str | None) -> dict[str, Any]:
    if source is None:
        from credits.statements.signing import trust_list_entries

        with build_services() as svc:
            return {"statement_keys": trust_list_entries(svc.settings.instance_path)}
    if source.startswith(("http://", "https://")):
        import httpx

        try:
            resp = httpx.get(source, timeout=10.0)
            resp.raise_for_status()
            data = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise click.ClickException(f"cannot read the trust list at {source}: {exc}") from exc
    else:
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"cannot read the trust list {source}: {exc}") from exc
    if not isinstance(data, dict):
        raise click.ClickException("the trust list is not a JSON object")
    return data


@click.command("verify-statement")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("sig", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trust-list", "trust_list", default=None, metavar="FILE_OR_URL")
def verify_statement(file: Path, sig: Path, trust_list: str | None) -> None:
    """Exit 0 only if SIG is a valid statement-key signature of FILE's exact bytes."""
    from credits.statements.signing import StatementSignatureError, verify

    trust = _load_trust_list(trust_list)
    try:
        kid = verify(file.read_bytes(), sig.read_text(encoding="ascii", errors="replace"), trust)
    except StatementSignatureError as exc:
        click.echo(f"NOT VERIFIED: {exc.reason}", err=True)
        sys.exit(1)
    click.echo(f"verified: {file.name} was signed by statement key {kid}")


@click.command("set-rate")
@click.argument("pence", type=click.IntRange(0))
@click.option("--from", "from_month", required=True, metavar="YYYY-MM")
def set_rate_command(pence: int, from_month: str) -> None:
    """Set the reimbursement rate (pence per credit) from a month onwards."""
    from credits.ledger import Month
    from credits.statements import set_rate

    actor = cli_actor()
    with build_services() as svc:
        try:
            month = Month.parse(from_month)
            svc.db.run(lambda s: set_rate(s, actor, pence, effective_from=month))
        except CreditsError as exc:
            raise refused(exc) from exc
    click.echo(f"rate: {pence}p per credit from {month}")


@click.command("close-month")
@click.argument("month_text", metavar="YYYY-MM")
def close_month_command(month_text: str) -> None:
    """Run every reconciliation check, then close the month; exit 1 if a check fails."""
    from credits import jobs
    from credits.db import utcnow
    from credits.ledger import Month
    from credits.statements.close import CloseRefused, close_month

    actor = cli_actor()
    with build_services() as svc:
        try:
            month = Month.parse(month_text)
            # One close at a time across every server, and never beside a close or check run
            # started from the officer's pages (credits.statements.close_runs).
            with jobs.exclusive(svc.db, jobs.MONTH_CLOSE):
                result = svc.db.run(
                    lambda s: close_month(
                        s, actor, month, now=utcnow(), jobs=svc.settings.verify_jobs
                    )
                )
        except CloseRefused as exc:
            click.echo(f"{exc.detail}", err=True)
            for failed in exc.extra["failed"]:
                click.echo(f"FAIL {failed['name']}: {failed['description']}", err=True)
                for problem in failed["problems"]:
                    click.echo(f"       - {problem}", err=True)
            sys.exit(1)
        except CreditsError as exc:
            raise refused(exc) from exc
    for check in result.checks:
        click.echo(f"ok   {check['name']} ({check['checked']} checked)")
    click.echo(f"closed {month}: statement sha256 {result.statement_sha256}")


COMMANDS = (statement, verify_statement, set_rate_command, close_month_command)
