"""The scheme's public record: /open and the open data (docs/open-data.md).

Every closed month in figures a resident can read — volunteering rewarded by activity,
credits spent and owed by partner shop, vouchers expired, credits outstanding — each the
same number as the month's statement, signed with the statement key, and with nobody's
personal data. No Flask here: the API (credits/api/open.py) and the pages
(credits/web/open.py) serve what :class:`PublicRecordService` builds.

- ``figures.py``: a closed month's figures, stored by the month close;
- ``suppression.py``: the rule that keeps counts of fewer than 5 people unrecoverable;
- ``record.py``: the whole record (published and held months, the year so far);
- ``render.py``: the JSON, the CSV and the Frictionless Data Package;
- ``holds.py``: officers holding back a month's publication, and releasing it;
- ``service.py``: the per-process cache every close, hold and release invalidates.
"""

from credits.open.holds import AlreadyHeld, Hold, NotHeld, hold, hold_of, holds_in_force, release
from credits.open.render import LICENCES, Meta
from credits.open.service import OpenFile, PublicationHeld, PublicRecordService

__all__ = [
    "LICENCES",
    "AlreadyHeld",
    "Hold",
    "Meta",
    "NotHeld",
    "OpenFile",
    "PublicRecordService",
    "PublicationHeld",
    "hold",
    "hold_of",
    "holds_in_force",
    "release",
]
