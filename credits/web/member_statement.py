"""The printable balance statement of a member (credits.statements.member): one A4 page for a
volunteer without a smartphone, printed by a coordinator, an officer or the member.

    /people/<id>/statement     the statement (print CSS: one page, no navigation)
"""

from __future__ import annotations

from email.utils import parseaddr

from flask import Blueprint, render_template

from credits.accounts import Role
from credits.api.context import current_services
from credits.db import utcnow
from credits.statements.member import member_statement
from credits.web.auth import current_principal, page_requires

bp = Blueprint("member_statement", __name__)


def contact_line() -> str:
    """Who runs the scheme and how to reach them: the council's name, the address its mail
    comes from, and the site's address when one is set."""
    settings = current_services().settings
    parts = [settings.council_name, parseaddr(settings.mail_from)[1], settings.public_url]
    return " · ".join(p for p in parts if p)


@bp.route("/people/<int:person_id>/statement")
@page_requires(Role.MEMBER, Role.COORDINATOR, Role.OFFICER)
def statement(person_id: int) -> str:
    """A member's one-page balance statement, for whoever may read it (else 404)."""
    who = current_principal()
    assert who is not None
    with current_services().db.read() as s:
        found = member_statement(s, who, person_id)
    return render_template(
        "member/statement.html", st=found, printed_at=utcnow(), contact=contact_line()
    )
