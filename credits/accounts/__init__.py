"""People, roles and API tokens: who may do what.

- A :class:`Person` holds one or more roles (member, coordinator, shop staff, officer, admin).
- An API token is random, shown once, stored as its SHA-256, named, revocable, and scoped to
  exactly one role its holder has. A request acts with that one role.
- A member has a ledger account (``member:<person id>``) opened when the role is granted.
"""

from credits.accounts.identity import Principal
from credits.accounts.models import ApiToken, Person, PersonRole, Role
from credits.accounts.service import (
    create_person,
    grant_role,
    issue_token,
    member_account_id,
    revoke_token,
)

__all__ = [
    "ApiToken",
    "Person",
    "PersonRole",
    "Principal",
    "Role",
    "create_person",
    "grant_role",
    "issue_token",
    "member_account_id",
    "revoke_token",
]
