"""Voucher commands of `credits` (registered in credits/cli.py).

credits keys list [--json]      the signing keys: kid, status, validity (never a secret)
credits keys rotate             a new active key; the old one retires (still verifies)
credits keys revoke KID         the key verifies nothing from now on; open vouchers it
                                signed are re-signed with the active key
credits expire-vouchers         return expired, unused vouchers' value to their members
credits expire-inactive         the inactivity policy's notices and lapses (if it is on)
"""

from __future__ import annotations

import json
import re

import click

from credits.cli_common import CreditsCommandError, build_services
from credits.errors import CreditsError


def _iso(t):  # type: ignore[no-untyped-def]
    return "-" if t is None else t.isoformat().replace("+00:00", "Z")


@click.group("keys")
def keys() -> None:
    """The voucher signing keys (in the instance folder, never in the database)."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
def keys_list(as_json: bool) -> None:
    """List the keys with status and validity."""
    from credits.vouchers.runtime import runtime
    from credits.vouchers.service import key_validity

    with build_services() as svc, svc.db.read() as s:
        rows = key_validity(s, runtime(svc.settings).keyring)
    if as_json:
        out = [
            {**r, "valid_from": _iso(r["valid_from"]), "valid_until": _iso(r["valid_until"])}
            for r in rows
        ]
        click.echo(json.dumps({"keys": out}, indent=2))
        return
    click.echo(f"{'kid':16}  {'status':8}  {'valid from':20}  {'valid until':20}  open vouchers")
    for r in rows:
        click.echo(
            f"{r['kid']:16}  {r['status']:8}  {_iso(r['valid_from']):20}  "
            f"{_iso(r['valid_until']):20}  {r['open_vouchers']}"
        )


@keys.command("rotate")
def keys_rotate() -> None:
    """Make a new active signing key; the current one retires (it still verifies the
    vouchers it signed until they expire)."""
    from credits.vouchers.runtime import runtime

    with build_services() as svc:
        new, retired = runtime(svc.settings).keyring.rotate()
    click.echo(f"new active key: {new.kid}")
    if retired:
        click.echo(f"retired: {retired.kid} (verifies its vouchers until they expire)")


@keys.command("revoke")
@click.argument("kid")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def keys_revoke(kid: str, yes: bool) -> None:
    """Revoke KID: terminals stop accepting anything it signed (use when a key may have
    leaked). Open vouchers it signed are re-signed with the active key; printed copies of
    them must be printed again."""
    from credits.vouchers.runtime import runtime
    from credits.vouchers.service import revoke_key

    kid = kid.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{16}", kid):
        raise CreditsCommandError(f"{kid!r} is not a key id (16 hex characters)")
    if not yes:
        click.confirm(
            f"Revoke key {kid}? Terminals will refuse every voucher code it signed.", abort=True
        )
    with build_services() as svc:
        try:
            active, resigned = revoke_key(svc.db, runtime(svc.settings).keyring, kid)
        except CreditsError as exc:
            raise CreditsCommandError(f"{exc.code}: {exc.detail}") from exc
    click.echo(f"revoked: {kid}; active key: {active}")
    click.echo(f"{resigned} open vouchers re-signed with {active} (printed copies need reprinting)")


@click.command("expire-vouchers")
def expire_vouchers() -> None:
    """Return the value of expired, unused vouchers to their members (one entry each).
    One run at a time across every server (a second one says "skipped" and exits 0); even
    without that, two runs could not expire a voucher twice."""
    from credits import jobs
    from credits.vouchers.service import expire_due

    with build_services() as svc:
        try:
            # One sweep at a time across every server sharing the database.
            with jobs.exclusive(svc.db, jobs.EXPIRE_VOUCHERS):
                run = expire_due(svc.db)
        except jobs.JobRunning as exc:
            click.echo(f"skipped: {exc.detail}")
            return
    click.echo(f"expired {run.expired} vouchers; {run.credits_returned} credits returned")


@click.command("expire-inactive")
def expire_inactive() -> None:
    """Apply the inactivity policy (CREDITS_INACTIVITY_MONTHS; off when 0): give 30 days'
    notice, then lapse the balances of members inactive that long."""
    from credits import jobs
    from credits.vouchers.inactivity import InactivityPolicy, run_inactivity

    with build_services() as svc:
        policy = InactivityPolicy.from_settings(svc.settings)
        if not policy.enabled:
            click.echo("inactivity policy is off (CREDITS_INACTIVITY_MONTHS=0): nothing to do")
            return
        try:
            with jobs.exclusive(svc.db, jobs.EXPIRE_INACTIVE):
                run = run_inactivity(svc.db, policy)
        except jobs.JobRunning as exc:
            click.echo(f"skipped: {exc.detail}")
            return
    click.echo(
        f"inactivity ({policy.months} months): {run.noticed} notices given; "
        f"{run.lapsed} balances lapsed, {run.credits_lapsed} credits to the expired account"
    )


COMMANDS = (keys, expire_vouchers, expire_inactive)
