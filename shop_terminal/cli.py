"""The `shop-terminal` command.

    shop-terminal init --ledger URL --token TOKEN   set up this terminal (data folder, ledger)
    shop-terminal redeem CODE [--amount N]          check and redeem a voucher code
    shop-terminal scan-image FILE [--amount N]      read the QR code in a picture, then redeem
    shop-terminal sync                              send what was accepted offline; upload journal
    shop-terminal today                             today's vouchers and totals
    shop-terminal status                            ledger reachable? queue, limits, trust list
    shop-terminal serve [--host H] [--port P]       the counter screen on http://127.0.0.1:8765

Every command takes ``--data DIR`` (default: ``SHOP_TERMINAL_DATA`` or the user's data
folder) and most take ``--json`` for scripts.

Exit codes (docs/shop-terminal.md):

    redeem, scan-image   0 redeemed (hand over the goods)   1 refused (not valid, expired,
                         already used...)   2 usage or configuration error   3 accepted
                         offline, queued (hand over the goods)   4 can't accept now
    sync                 0 nothing left to send   1 all sent, but some need attention
                         (exceptions, refusals)   2 configuration error   3 some still queued
                         (the ledger could not be reached or did not answer)
    status               0 the ledger answered   2 not set up   3 working offline
    init                 0 connected   2 bad settings or token refused   3 saved, but the
                         ledger could not be reached yet
    today, serve         0 (2 on a configuration error)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import click

from shop_terminal import config as config_mod
from shop_terminal.config import Config, ConfigError
from shop_terminal.ledger import LedgerNoAnswer, LedgerRefused, LedgerUnreachable
from shop_terminal.messages import credits, when
from shop_terminal.terminal import EXIT_REFUSED, EXIT_USAGE, Outcome, SyncReport, Terminal

EXIT_OFFLINE = 3


class UsageError(click.ClickException):
    """A usage or configuration problem (exit 2)."""

    exit_code = EXIT_USAGE


def _load(data: Path | None) -> Config:
    try:
        return config_mod.load(data)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc


@contextmanager
def _terminal(ctx: click.Context) -> Iterator[Terminal]:
    try:
        config = _load(ctx.obj["data"]).require_ledger()
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    terminal = Terminal(config)
    try:
        yield terminal
    finally:
        terminal.close()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


data_option = click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The terminal's data folder (default: SHOP_TERMINAL_DATA or the user's data folder).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@data_option
@click.version_option(package_name="cooperative-credits")
@click.pass_context
def main(ctx: click.Context, data: Path | None) -> None:
    """The shop terminal: check and redeem Cooperative Credits vouchers at the counter."""
    ctx.ensure_object(dict)
    ctx.obj["data"] = data


def _data_from(ctx: click.Context, data: Path | None) -> None:
    if data is not None:
        ctx.obj["data"] = data


@main.command()
@click.option("--ledger", "ledger_url", required=True, help="The ledger's address (https://...).")
@click.option("--token", required=True, help="This terminal's token, from the council.")
@click.option("--timezone", default=None, help="The shop's time zone (default Europe/London).")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(1, 65535),
    help="Port of the counter screen (default 8765).",
)
@data_option
@click.pass_context
def init(
    ctx: click.Context,
    ledger_url: str,
    token: str,
    timezone: str | None,
    port: int | None,
    data: Path | None,
) -> None:
    """Set up this terminal: save the ledger address and token, then connect once to fetch
    the terminal's settings and the council's keys."""
    _data_from(ctx, data)
    try:
        base = config_mod.load(ctx.obj["data"])
    except ConfigError:
        base = Config(data_dir=ctx.obj["data"] or config_mod.default_data_dir())
    try:
        changes: dict[str, Any] = {
            "ledger_url": config_mod.validate_ledger_url(ledger_url),
            "terminal_token": token.strip(),
        }
        if timezone:
            changes["timezone"] = timezone
        if port:
            changes["port"] = port
        config = replace(base, **changes)
        config.tz  # noqa: B018 - validate the time zone before saving
    except (ConfigError, ZoneInfoNotFoundError, TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    path = config_mod.save(config)
    click.echo(f"Saved the settings in {path}.")
    terminal = Terminal(config)
    try:
        try:
            info = terminal.refresh_info()
        except LedgerRefused as exc:
            if exc.status in (401, 403):
                raise UsageError(
                    "the ledger refused this token: check it with the council"
                ) from exc
            raise UsageError(f"the ledger refused: {exc}") from exc
        except (LedgerUnreachable, LedgerNoAnswer) as exc:
            click.echo(f"Could not reach the ledger at {config.ledger_url} ({exc}).")
            click.echo(
                "Run `shop-terminal status` once the connection works: until this "
                "terminal has reached the ledger once, it cannot check vouchers."
            )
            sys.exit(EXIT_OFFLINE)
        terminal.refresh_trust_list()
        fetched = terminal.refresh_spent_list()
        limits = terminal.offline_limits() or {}
        click.echo(f"Connected: {info.get('name')} at {(info.get('shop') or {}).get('name')}.")
        click.echo(
            f"Offline it may take up to {credits(limits.get('floor_limit'))} per voucher,"
            f" and hold {limits.get('max_count')} vouchers /"
            f" {credits(limits.get('max_total'))} unsent."
        )
        keys = terminal.trust_list()
        click.echo(f"Council keys cached: {len(keys.keys) if keys else 0}.")
        listed, _, _ = terminal.store.spent_list_summary()
        click.echo(
            f"Used vouchers listed: {listed}."
            if fetched in ("fetched", "not modified")
            else "The list of used vouchers could not be fetched yet: offline, this till "
            "will take no vouchers until it is (run `shop-terminal sync`)."
        )
    finally:
        terminal.close()


def _print_outcome(outcome: Outcome, as_json: bool, terminal: Terminal) -> None:
    if as_json:
        _echo_json(outcome.as_json())
        return
    msg = outcome.message
    head = f"YES - {msg.big}" if msg.tone == "yes" else msg.big
    click.secho(head, fg="green" if msg.tone == "yes" else "red", bold=True)
    click.echo(msg.title)
    for line in msg.lines:
        click.echo(f"  {line}")
    s = outcome.scan
    if s.reference:
        expiry = (
            datetime.fromtimestamp(s.expires_at, UTC).astimezone().strftime("%d %b %Y %H:%M")
            if s.expires_at
            else "?"
        )
        click.echo(
            f"  reference {s.reference} · face value {credits(s.face_value)} · valid until {expiry}"
        )


def _redeem(ctx: click.Context, code: str, amount: int | None, as_json: bool, source: str) -> None:
    with _terminal(ctx) as terminal:
        try:
            outcome = terminal.scan(code, amount=amount, source=source)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        _print_outcome(outcome, as_json, terminal)
    sys.exit(outcome.exit_code)


amount_option = click.option(
    "--amount",
    type=click.IntRange(min=1),
    default=None,
    help="Credits to take (default: all of the voucher).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@main.command()
@click.argument("code")
@amount_option
@json_option
@data_option
@click.pass_context
def redeem(
    ctx: click.Context, code: str, amount: int | None, as_json: bool, data: Path | None
) -> None:
    """Check a voucher CODE and redeem it (all of it, or --amount). CODE '-' reads stdin."""
    _data_from(ctx, data)
    if code == "-":
        code = sys.stdin.readline()
    _redeem(ctx, code, amount, as_json, "cli")


@main.command("scan-image")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@amount_option
@json_option
@data_option
@click.pass_context
def scan_image(
    ctx: click.Context, file: Path, amount: int | None, as_json: bool, data: Path | None
) -> None:
    """Read the voucher's QR code in a picture FILE, then check and redeem it."""
    from shop_terminal.images import ImageUnreadable, pick_voucher, read_codes

    _data_from(ctx, data)
    try:
        code = pick_voucher(read_codes(file))
    except ImageUnreadable as exc:
        raise UsageError(str(exc)) from exc
    if code is None:
        if as_json:
            _echo_json(
                {
                    "outcome": "refused",
                    "reason": "no_qr_code",
                    "message": "No QR code found in this picture.",
                }
            )
        else:
            click.secho("NO", fg="red", bold=True)
            click.echo("No QR code found in this picture. Try a sharper, closer picture.")
        sys.exit(EXIT_REFUSED)
    _redeem(ctx, code, amount, as_json, "image")


def _sync_exit(report: SyncReport) -> int:
    if report.still_queued or report.still_unresolved:
        return EXIT_OFFLINE
    if report.exceptions or report.held or report.refused:
        return 1
    return 0


@main.command()
@json_option
@data_option
@click.pass_context
def sync(ctx: click.Context, as_json: bool, data: Path | None) -> None:
    """Send the vouchers accepted offline, resolve lost answers, upload the journal."""
    _data_from(ctx, data)
    with _terminal(ctx) as terminal:
        report = terminal.sync()
        if as_json:
            _echo_json(
                {
                    "reachable": report.reachable,
                    "resolved": report.resolved,
                    "sent": report.sent,
                    "redeemed": [s.id for s in report.redeemed],
                    "exceptions": [terminal.outcome(s).as_json() for s in report.exceptions],
                    "held": [terminal.outcome(s).as_json() for s in report.held],
                    "refused": [terminal.outcome(s).as_json() for s in report.refused],
                    "spent_list": report.spent_list,
                    "unanswered": report.unanswered,
                    "journal_uploaded": report.journal_uploaded,
                    "still_queued": report.still_queued,
                    "still_unresolved": report.still_unresolved,
                    "problem": report.problem,
                }
            )
            sys.exit(_sync_exit(report))
        if not report.reachable:
            click.secho("The ledger can't be reached: nothing sent.", fg="red", bold=True)
            if report.problem:
                click.echo(f"  ({report.problem})")
        else:
            click.echo(
                f"Sent {report.sent} offline voucher(s); {len(report.redeemed)} "
                f"confirmed; journal: {report.journal_uploaded} entr(ies) uploaded."
            )
        for s in report.exceptions + report.held + report.refused:
            msg = terminal.outcome(s).message
            click.secho(f"! {s.reference or s.id}: {msg.title}", fg="yellow", bold=True)
            for line in msg.lines:
                click.echo(f"    {line}")
        if report.still_queued or report.still_unresolved:
            click.echo(
                f"Still waiting to send: {report.still_queued} voucher(s); "
                f"unconfirmed: {report.still_unresolved}."
            )
    sys.exit(_sync_exit(report))


@main.command()
@json_option
@data_option
@click.pass_context
def today(ctx: click.Context, as_json: bool, data: Path | None) -> None:
    """Today's vouchers at this terminal, newest first, with the totals."""
    _data_from(ctx, data)
    with _terminal(ctx) as terminal:
        totals, scans = terminal.today()
        month = terminal.totals(*terminal.month_bounds())
        if as_json:
            _echo_json(
                {
                    "count": totals.count,
                    "credits": totals.credits,
                    "offline_count": totals.offline_count,
                    "month": {"count": month.count, "credits": month.credits},
                    "scans": [terminal.outcome(s).as_json() for s in scans],
                }
            )
            return
        ctx_ = terminal.display_context()
        click.echo(
            f"Today: {totals.count} voucher(s), {credits(totals.credits)}"
            f" ({totals.offline_count} taken offline). "
            f"This month: {month.count}, {credits(month.credits)}."
        )
        for s in scans:
            msg = terminal.outcome(s).message
            mark = "YES" if msg.tone == "yes" else "no "
            amount = credits(s.taken) if s.taken else ""
            click.echo(
                f"  {when(s.scanned_at, ctx_).removeprefix('at '):>9}  {mark}  {amount:>11}  "
                f"{s.reference or '-':9}  {msg.title}"
            )


@main.command()
@json_option
@data_option
@click.pass_context
def status(ctx: click.Context, as_json: bool, data: Path | None) -> None:
    """Whether the ledger answers now; the offline queue, limits and council keys."""
    _data_from(ctx, data)
    with _terminal(ctx) as terminal:
        reachable = terminal.refresh()
        info = terminal.info() or {}
        limits = terminal.offline_limits()
        queued, queued_credits = terminal.store.queue_summary()
        meta = terminal.store.get_meta_many(
            "trust_list_checked_at", "last_contact_ok_at", "last_failure"
        )
        keys = terminal.trust_list()
        attention = terminal.store.attention()
        listed, list_at, list_pending = terminal.store.spent_list_summary()
        result: dict[str, Any] = {
            "ledger_url": terminal.config.ledger_url,
            "online": reachable,
            "terminal": info.get("name"),
            "shop": (info.get("shop") or {}).get("name"),
            "offline_limits": limits,
            "queued": {"count": queued, "credits": queued_credits},
            "unconfirmed": terminal.store.unresolved_count(),
            "needs_attention": len(attention),
            "trust_list": {
                "keys": len(keys.keys) if keys else 0,
                "checked_at": meta["trust_list_checked_at"],
            },
            "spent_list": {
                "vouchers": listed,
                "fetched_at": list_at.isoformat().replace("+00:00", "Z") if list_at else None,
                "incomplete": list_pending,
            },
            "last_contact_ok_at": meta["last_contact_ok_at"],
            "last_failure": meta["last_failure"],
            "data_dir": str(terminal.config.data_dir),
        }
    if as_json:
        _echo_json(result)
    else:
        state = (
            click.style("ONLINE", fg="green", bold=True)
            if reachable
            else click.style("OFFLINE", fg="red", bold=True)
        )
        click.echo(
            f"{state}  {result['terminal'] or '?'} at {result['shop'] or '?'}"
            f"  ({result['ledger_url']})"
        )
        if not reachable and result["last_failure"]:
            click.echo(f"  last problem: {result['last_failure']}")
        if limits:
            click.echo(
                f"  offline limits: {credits(limits['floor_limit'])} per voucher, "
                f"{limits['max_count']} vouchers / {credits(limits['max_total'])} held"
            )
        else:
            click.echo("  offline limits: none yet (never reached the ledger)")
        click.echo(
            f"  waiting to send: {queued} voucher(s), {credits(queued_credits)}; "
            f"unconfirmed: {result['unconfirmed']}; needs attention: {len(attention)}"
        )
        click.echo(
            f"  council keys: {result['trust_list']['keys']}, checked "
            f"{result['trust_list']['checked_at'] or 'never'}"
        )
        click.echo(
            f"  used vouchers listed: {listed}, fetched "
            f"{result['spent_list']['fetched_at'] or 'never'}"
            + (
                " (an update is incomplete: no vouchers offline until it is done)"
                if list_pending
                else ""
            )
        )
        click.echo(f"  data folder: {result['data_dir']}")
    sys.exit(0 if reachable else EXIT_OFFLINE)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port (default 8765).")
@data_option
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, data: Path | None) -> None:
    """Serve the counter screen (open it in the till's browser) and sync in the background."""
    from shop_terminal.serve import run

    _data_from(ctx, data)
    config = _load(ctx.obj["data"])
    try:
        config.require_ledger()
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    config = replace(config, host=host or config.host, port=port or config.port)
    run(config)


if __name__ == "__main__":
    main()
