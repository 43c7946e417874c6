"""Settlement commands of `credits` (registered in credits/cli.py).

credits reconcile-bank FILE [--format camt053|csv] [--json]
                                  import a bank statement and match its payments to the
                                  approved settlement runs; exit 0 when every line of the
                                  file is accounted for, 1 when it found mismatches (they are
                                  in the officers' exceptions queue), 2 when refused
credits settlement-file RUN [--format csv|pain.001] [--out FILE] [--signature FILE]
                                  an approved run's payments file for finance (the bytes the
                                  API serves) and its detached signature
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from credits.cli_common import build_services, cli_actor, refused
from credits.errors import CreditsError


@click.command("reconcile-bank")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["camt053", "csv"]), default=None,
              help="default: XML is camt.053, anything else CSV")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def reconcile_bank(file: Path, fmt: str | None, as_json: bool) -> None:
    """Import a bank statement (camt.053 or CSV) and reconcile it with settlement runs."""
    from credits.settlement import bankfile, reconciliation

    if file.stat().st_size > bankfile.MAX_BYTES:
        raise refused(
            bankfile.BankFileInvalid("the file is larger than 20 MB"), list_field_errors=True
        )
    data = file.read_bytes()
    actor = cli_actor()
    with build_services() as svc:
        try:
            result = svc.db.run(
                lambda s: reconciliation.import_statement(
                    s, actor, data, filename=file.name, fmt=fmt
                )
            )
        except CreditsError as exc:
            raise refused(exc, list_field_errors=True) from exc
    summary = result.summary
    open_items = [m for m in result.mismatches if m.resolved_at is None]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "import_id": result.id,
                    "replayed": result.replayed,
                    "lines": result.lines,
                    "summary": summary,
                    "mismatches": [
                        {"id": m.id, "kind": m.kind, "detail": m.detail} for m in open_items
                    ],
                },
                indent=2,
            )
        )
    else:
        if result.replayed:
            click.echo(f"{file.name} was imported before (import {result.id}); nothing changed")
        click.echo(
            f"import {result.id}: {result.lines} lines — {summary['matched']} matched, "
            f"{summary['amount_differs']} amount differs, {summary['unexpected']} unexpected, "
            f"{summary['missing']} missing, {summary['ignored']} money in (not payments), "
            f"{summary['duplicate']} already imported"
        )
        for run_id in summary["runs_paid"]:
            click.echo(f"run {run_id} is paid: every payment matched")
        for m in open_items:
            click.echo(f"  {m.kind}: {m.detail}")
    sys.exit(1 if open_items else 0)


@click.command("settlement-file")
@click.argument("run_id", type=click.IntRange(1))
@click.option("--format", "fmt", type=click.Choice(["csv", "pain.001"]), default="csv",
              show_default=True)  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--signature", type=click.Path(dir_okay=False, path_type=Path), default=None)
def settlement_file(run_id: int, fmt: str, out: Path | None, signature: Path | None) -> None:
    """Print (or write) an approved run's payments file for the finance system."""
    from credits.settlement import files

    with build_services() as svc:
        try:
            with svc.db.read() as s:
                file = files.payments_file(s, run_id, fmt, settings=svc.settings)
        except CreditsError as exc:
            raise refused(exc, list_field_errors=True) from exc
        sig = files.sign_file(svc.settings.instance_path, file) if signature else None
    if out is not None:
        out.write_bytes(file.data)
    else:
        sys.stdout.buffer.write(file.data)
    if signature is not None and sig is not None:
        signature.write_text(sig + "\n")


COMMANDS = (reconcile_bank, settlement_file)
