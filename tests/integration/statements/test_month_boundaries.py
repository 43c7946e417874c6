"""Which month an entry lands in: London midnight, whatever the clocks do (March and October
2026 change the clocks on the 29th and 25th). Each entry earns a distinct amount so the
statement shows exactly which month took it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time

from credits import ledger
from credits.ledger import Month
from credits.statements import build_statement

from ..ledger_helpers import open_member, post, scheme
from .worked_month import london

#: (London local time, credits): 23:30 on a last day and 00:30 on the next first day.
ENTRIES = [
    ((2026, 2, 28, 23, 30), 1),  # GMT: February
    ((2026, 3, 1, 0, 30), 2),  # GMT: March
    ((2026, 3, 29, 0, 30), 4),  # the night the clocks go forward (GMT still): March
    ((2026, 3, 31, 23, 30), 8),  # BST: 22:30 UTC on the 31st: March
    ((2026, 4, 1, 0, 30), 16),  # BST: 23:30 UTC on 31 March, but April in London
    ((2026, 9, 30, 23, 30), 32),  # BST: September
    ((2026, 10, 1, 0, 30), 64),  # BST: 23:30 UTC on 30 September, but October
    ((2026, 10, 25, 0, 30), 128),  # the night the clocks go back: October
    ((2026, 10, 31, 23, 30), 256),  # GMT: October
    ((2026, 11, 1, 0, 30), 512),  # GMT: November
]

ISSUED = {
    Month(2026, 2): 1,
    Month(2026, 3): 2 + 4 + 8,
    Month(2026, 4): 16,
    Month(2026, 9): 32,
    Month(2026, 10): 64 + 128 + 256,
    Month(2026, 11): 512,
}


@pytest.fixture
def posted(db):
    member = open_member(db, "boundary")
    issuance = scheme(db, ledger.ISSUANCE)
    with freeze_time(london(2026, 12, 1, 12)):
        for (y, mo, d, h, mi), credits in ENTRIES:
            post(
                db,
                ledger.EntryKind.EARN,
                {issuance: -credits, member: credits},
                f"boundary-{credits}",
                occurred_at=london(y, mo, d, h, mi),
            )
    return member


def test_23_30_and_00_30_fall_on_either_side_of_london_midnight(db, posted):
    with db.read() as s:
        for month, issued in ISSUED.items():
            st = build_statement(s, month)
            assert st.scheme.issued == issued, month
            assert st.scheme.identity_holds and st.trial_balance.total == 0


def test_opening_is_everything_before_london_midnight(db, posted):
    with db.read() as s:
        april = build_statement(s, Month(2026, 4)).scheme
        october = build_statement(s, Month(2026, 10)).scheme
        november = build_statement(s, Month(2026, 11)).scheme
    assert april.opening.total == 1 + 2 + 4 + 8
    assert october.opening.total == 1 + 2 + 4 + 8 + 16 + 32
    assert november.opening.total == 1023 - 512 and november.closing.total == 1023


def test_months_with_clock_changes_are_their_local_days_long():
    hours = {m: (m.ends_at - m.starts_at) / timedelta(hours=1) for m in ISSUED}
    assert hours[Month(2026, 3)] == 31 * 24 - 1
    assert hours[Month(2026, 10)] == 31 * 24 + 1
    assert hours[Month(2026, 4)] == 30 * 24
