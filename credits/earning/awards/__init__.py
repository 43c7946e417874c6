"""Awards: credits for volunteering, recorded by coordinators or claimed by volunteers.

The package is split by what each part decides:

- views.py — what an award looks like (:class:`AwardView`) and how it is loaded;
- intake.py — what was asked and whether it was asked before: parse, fingerprint, replay,
  then the activity and the date (:func:`~credits.earning.awards.intake.open_award`, the
  one pipeline every new award goes through);
- eligibility.py — whether credits may be awarded: activity, date, groups, caps, visibility;
- posting.py — writing an award and posting its one balanced entry;
- recording.py — the three ways in (below), each that pipeline with its own lines;
- decisions.py — approving and rejecting; reading.py — one award, and the lists.

Three ways in, one way to the ledger:

- :func:`record_award` — a coordinator records one member's activity (contract v1
  ``POST /api/v1/earnings``);
- :func:`record_session` — a coordinator records a whole session's sheet (a snow day: 40
  volunteers): all or nothing, one idempotency key, ONE balanced ledger entry (issuance −
  total, each member + their credits); if any line fails, :class:`LinesRefused` lists every
  failing line and nothing is written;
- :func:`file_claim` — a volunteer claims a session they did; it waits for approval.

**States** (``award.state``)::

    claim filed ──► pending ──approve (coordinator of the member's group, or an officer)──┐
                      │                                                                    │
                      └─reject──► rejected        every line ≤ threshold ──► posted ◄──────┤
                                                  some line > threshold ──► awaiting_officer
    coordinator records: ≤ threshold ──► posted (201)                         │   │
                         > threshold ──► awaiting_officer (202) ──────────────┘   │
                                            approve (an officer who is not the    │
                                            first approver) ──► posted            │
                                            reject (an officer) ──► rejected ◄────┘

**Guarantees**

1. Credits move only as one balanced entry per award, posted with ``ledger.post_entry`` in
   the use case's unit of work: issuance −total, each member +their line. The award row
   and the entry are written in the same transaction, and ``award.entry_id`` links them.
2. Caps and budgets hold under concurrency (limits.py): they are checked, under row locks,
   at the moment credits are posted (a record, a session, the final approval). A pending
   claim or an award awaiting an officer reserves nothing: its check is repeated when it is
   posted, and can then refuse.
3. Four eyes: an award line above the officers' threshold (``earning_settings``) needs a
   second approval by an officer who is not the first approver (the recording coordinator
   counts as the first). Nobody records, approves or rejects an award to themselves. The
   database repeats the first rule (``ck_award_four_eyes``, ``ck_award_posted_four_eyes``).
4. Idempotency: creating an award takes a client key, namespaced per person
   (``award:<person id>:<key>``); the same key and request return the first award (with
   its current state) and write nothing; a different request under the key is
   ``idempotency_conflict``. An approval repeated by the same person with the same key
   returns the award as it is; a rejection repeated by the same person likewise.
5. Attribution: who (person id and ``Principal.actor``, which names the token or session)
   and when, for the creation and each decision; the ledger entry's actor is whoever
   caused the posting.
6. Every refusal is a CreditsError raised before anything is written or inside the unit of
   work: a refused request changes nothing.
"""

from credits.earning.awards.decisions import approve, reject
from credits.earning.awards.posting import memo
from credits.earning.awards.reading import get_award, member_claims, queue, recent_for_coordinator
from credits.earning.awards.recording import file_claim, record_award, record_session
from credits.earning.awards.views import (
    AWAITING_OFFICER,
    CLAIM,
    MAX_SHEET_LINES,
    PENDING,
    POSTED,
    RECORD,
    REJECTED,
    SESSION,
    AwardView,
    LineView,
    Step,
    load_award,
    load_awards,
)

__all__ = [
    "AWAITING_OFFICER",
    "CLAIM",
    "MAX_SHEET_LINES",
    "PENDING",
    "POSTED",
    "RECORD",
    "REJECTED",
    "SESSION",
    "AwardView",
    "LineView",
    "Step",
    "approve",
    "file_claim",
    "get_award",
    "load_award",
    "load_awards",
    "member_claims",
    "memo",
    "queue",
    "recent_for_coordinator",
    "record_award",
    "record_session",
    "reject",
]
