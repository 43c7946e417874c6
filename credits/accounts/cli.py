"""`credits erase-person`: forget a departed member (credits/erasure.py,
docs/data-protection.md)."""

from __future__ import annotations

import click
from sqlalchemy import select

from credits.cli_common import build_services
from credits.errors import CreditsError


class _Refused(click.ClickException):
    exit_code = 2


def _find(session, who: str):  # type: ignore[no-untyped-def]
    from credits.accounts.models import Person
    from credits.accounts.service import normalise_email

    if who.isdigit():
        return session.get(Person, int(who))
    try:
        email = normalise_email(who)
    except CreditsError:
        return None
    return session.execute(select(Person).where(Person.email == email)).scalar_one_or_none()  # type: ignore[arg-type]


@click.command("erase-person")
@click.argument("person")
@click.option("--by", "by", required=True, help="Email address of the officer who decided it.")
@click.option("--reason", required=True, help="Why (e.g. a ticket number): no personal data.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_person_command(person: str, by: str, reason: str, yes: bool) -> None:
    """Erase PERSON's personal data (their id or email address); the ledger keeps their
    entries under a pseudonym. Refused while they hold credits or open vouchers."""
    from credits import audit
    from credits.accounts.models import PersonStatus, Role
    from credits.accounts.service import roles_of
    from credits.erasure import erase_person

    with build_services() as svc:
        with svc.db.read() as s:
            target = _find(s, person)
            officer = _find(s, by)
            if target is None:
                raise _Refused(f"no person {person!r}")
            if (
                officer is None
                or officer.status != PersonStatus.ACTIVE.value
                or not ({Role.OFFICER, Role.ADMIN} & set(roles_of(s, officer.id)))
            ):
                raise _Refused(f"{by!r} is not an active officer: --by names who decided it")
            target_id, officer_id, name = target.id, officer.id, target.name
        if not yes:
            click.confirm(
                f"Erase the personal data of person {target_id} ({name})? This cannot be undone",
                abort=True,
            )
        actor = audit.Actor.person(officer_id, via="cli:erase-person")
        try:
            result = svc.db.run(lambda s: erase_person(s, target_id, by=actor, reason=reason))
        except CreditsError as exc:
            raise _Refused(f"{exc.code}: {exc.detail}") from exc
    click.echo(
        f"person {result.person_id} is now {result.pseudonym!r}: {result.tokens_revoked} "
        f"token(s) revoked, {result.sessions_ended} session(s) ended, "
        f"{result.audit_events_redacted} audit event(s) redacted"
    )


COMMANDS = (erase_person_command,)
