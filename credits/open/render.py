"""The public record as files: each month's JSON and CSV, the index of months, and the
Frictionless Data Package that describes the CSVs.

The bytes are canonical, as the statements' are (credits.statements.render): JSON with
sorted keys, no spaces, ASCII and one final newline; CSV in UTF-8 with CRLF line ends. The
same month always gives the same bytes, so an ETag, a cache and a detached signature over
them hold.

A month's CSV is one tidy table in long form, the same columns every month::

    month,scope,ref,name,measure,value,unit
    2026-10,scheme,,,credits_earned,155,credits
    2026-10,activity,snow-clearing,Snow clearing,volunteers,<5,people
    2026-10,shop,1,Brixton Bakery,owed,1450,pence

so months can be appended to one another, and the data package lists every published
month's CSV as a resource with one table schema (:func:`table_schema`). A count of people
that is suppressed carries its marker (``<5`` or ``[c]``, credits.open.suppression) in
``value``; the schema declares both as missing values.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from credits import csvfile
from credits.ledger.periods import LONDON, Month
from credits.open.figures import UNITS, Quantity, ShopFigures
from credits.open.record import PublicRecord, PublishedMonth, YearSoFar
from credits.open.suppression import FEWER_THAN_5, MARKERS, THRESHOLD, WITHHELD, PeopleCount
from credits.statements.render import pounds

#: Licences the open data may be published under (setting ``OPEN_DATA_LICENCE``).
LICENCES: dict[str, dict[str, str]] = {
    "OGL-UK-3.0": {
        "title": "Open Government Licence v3.0",
        "path": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
    },
    "CC-BY-4.0": {
        "title": "Creative Commons Attribution 4.0",
        "path": "https://creativecommons.org/licenses/by/4.0/",
    },
    "CC0-1.0": {
        "title": "Creative Commons Zero v1.0 Universal",
        "path": "https://creativecommons.org/publicdomain/zero/1.0/",
    },
    "ODC-BY-1.0": {
        "title": "Open Data Commons Attribution License v1.0",
        "path": "https://opendatacommons.org/licenses/by/1-0/",
    },
    "ODbL-1.0": {
        "title": "Open Data Commons Open Database License v1.0",
        "path": "https://opendatacommons.org/licenses/odbl/1-0/",
    },
    "PDDL-1.0": {
        "title": "Open Data Commons Public Domain Dedication and License v1.0",
        "path": "https://opendatacommons.org/licenses/pddl/1-0/",
    },
}
DEFAULT_LICENCE = "OGL-UK-3.0"

#: Every measure in the CSV: (scope, measure, unit, what it means). The one list the CSV,
#: the table schema and docs/open-data.md follow.
MEASURES: tuple[tuple[str, str, str, str], ...] = (
    ("scheme", "active_volunteers", "people",
     "distinct people with credits earned for an activity dated in the month"),
    ("scheme", "volunteered", "hours|sessions|runs",
     "how much was volunteered, one row per unit"),
    ("scheme", "credits_earned", "credits", "credits earned (issued) in the month"),
    ("scheme", "credits_spent", "credits", "credits spent at partner shops"),
    ("scheme", "net_credits", "credits",
     "credits the shops are owed for: spent, less redemptions reversed, plus offline "
     "double spends the scheme paid"),
    ("scheme", "reimbursement_rate", "pence_per_credit",
     "what the council pays a shop for each credit"),
    ("scheme", "owed", "pence", "owed to the shops in all, at the reimbursement rate"),
    ("scheme", "vouchers_expired", "vouchers", "vouchers that expired unused"),
    ("scheme", "voucher_credits_expired", "credits",
     "credits in vouchers that expired unused (returned to their holders)"),
    ("scheme", "outstanding_at_start", "credits",
     "credits held by volunteers and in unspent vouchers at the start of the month"),
    ("scheme", "credits_lapsed", "credits",
     "balances that lapsed under the inactivity policy"),
    ("scheme", "reversals", "credits",
     "credits given back when the council reversed a redemption"),
    ("scheme", "adjustments", "credits",
     "the net effect of other corrections on what volunteers hold"),
    ("scheme", "outstanding_at_end", "credits",
     "credits held by volunteers and in unspent vouchers at the end of the month"),
    ("activity", "credits_earned", "credits", "credits earned for the activity"),
    ("activity", "volunteered", "hours|sessions|runs",
     "how much of the activity was volunteered"),
    ("activity", "volunteers", "people", "distinct people who took part"),
    ("shop", "redemptions", "redemptions", "vouchers spent at the shop"),
    ("shop", "credits_spent", "credits", "credits spent at the shop"),
    ("shop", "net_credits", "credits", "credits the shop is owed for"),
    ("shop", "owed", "pence", "owed to the shop at the reimbursement rate"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Meta:
    """Who publishes the record, and under which licence."""

    publisher: str
    licence: str = DEFAULT_LICENCE

    def __post_init__(self) -> None:
        if self.licence not in LICENCES:
            raise ValueError(
                f"unknown open data licence {self.licence!r}: one of {', '.join(LICENCES)}"
            )

    def licence_dict(self) -> dict[str, str]:
        return {"name": self.licence, **LICENCES[self.licence]}


def canonical_json(data: Any) -> bytes:
    """Sorted keys, no spaces, ASCII, a final newline (as the statements)."""
    return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode("ascii")


def _quantities(items: tuple[Quantity, ...]) -> list[dict[str, str]]:
    return [{"unit": q.unit, "quantity": q.text} for q in items]


def _shop(shop: ShopFigures) -> dict[str, Any]:
    return {
        "shop_id": shop.shop_id,
        "name": shop.name,
        "redemptions": shop.redemptions,
        "credits_spent": shop.credits_spent,
        "net_credits": shop.net_credits,
        "owed_pence": shop.owed_pence,
        "owed_gbp": pounds(shop.owed_pence),
    }


def first_and_last_day(month: Month) -> tuple[date, date]:
    """The month's first and last London days."""
    first = month.starts_at.astimezone(LONDON).date()
    return first, month.ends_at.astimezone(LONDON).date() - timedelta(days=1)


def _days(month: Month) -> dict[str, str]:
    first, last = first_and_last_day(month)
    return {"first_day": first.isoformat(), "last_day": last.isoformat()}


def suppression_dict() -> dict[str, Any]:
    return {"threshold": THRESHOLD, "markers": dict(MARKERS)}


def month_document(pm: PublishedMonth, meta: Meta) -> dict[str, Any]:
    """A published month as JSON-ready data (docs/open-data.md)."""
    f = pm.figures
    return {
        "month": f.month,
        **_days(f.period),
        "closed_on": f.closed_on.isoformat(),
        "publisher": meta.publisher,
        "licence": meta.licence_dict(),
        "statement_sha256": f.statement_sha256,
        "reimbursement_rate_pence_per_credit": f.rate_pence_per_credit,
        "volunteering": {
            "active_volunteers": pm.active_volunteers.shown,
            "credits_earned": f.credits_earned,
            "volunteered": _quantities(f.volunteered),
        },
        "activities": [
            {
                "activity": a.slug,
                "name": a.name,
                "credits_earned": a.credits_earned,
                "volunteered": _quantities(a.volunteered),
                "volunteers": None if (c := pm.volunteers_of(a)) is None else c.shown,
            }
            for a in f.activities
        ],
        "spending": {
            "credits_spent": f.credits_spent,
            "net_credits": f.net_credits,
            "owed_pence": f.owed_pence,
            "owed_gbp": pounds(f.owed_pence),
        },
        "shops": [_shop(s) for s in f.shops],
        "vouchers": {
            "expired": f.vouchers_expired,
            "expired_credits": f.voucher_credits_expired,
        },
        "outstanding": {
            "at_start": f.outstanding_at_start,
            "credits_earned": f.credits_earned,
            "credits_spent": f.credits_spent,
            "credits_lapsed": f.credits_lapsed,
            "reversals": f.reversals,
            "adjustments": f.adjustments,
            "at_end": f.outstanding_at_end,
            "at_end_in_balances": f.outstanding_members,
            "at_end_in_vouchers": f.outstanding_vouchers,
        },
        "suppression": suppression_dict(),
    }


def month_json(pm: PublishedMonth, meta: Meta) -> bytes:
    return canonical_json(month_document(pm, meta))


CSV_COLUMNS = ("month", "scope", "ref", "name", "measure", "value", "unit")


def _value(value: int | str | PeopleCount) -> int | str:
    return value.shown if isinstance(value, PeopleCount) else value


def month_rows(pm: PublishedMonth) -> list[tuple[Any, ...]]:
    """The month's rows in long form (:data:`CSV_COLUMNS`), in :data:`MEASURES` order."""
    f = pm.figures
    m = f.month
    rows: list[tuple[Any, ...]] = []

    def scheme(measure: str, value: int | str | PeopleCount, unit: str) -> None:
        rows.append((m, "scheme", "", "", measure, _value(value), unit))

    scheme("active_volunteers", pm.active_volunteers, "people")
    for q in f.volunteered:
        scheme("volunteered", q.text, UNITS[q.unit])
    scheme("credits_earned", f.credits_earned, "credits")
    scheme("credits_spent", f.credits_spent, "credits")
    scheme("net_credits", f.net_credits, "credits")
    if f.rate_pence_per_credit is not None:
        scheme("reimbursement_rate", f.rate_pence_per_credit, "pence_per_credit")
    if f.owed_pence is not None:
        scheme("owed", f.owed_pence, "pence")
    scheme("vouchers_expired", f.vouchers_expired, "vouchers")
    scheme("voucher_credits_expired", f.voucher_credits_expired, "credits")
    scheme("outstanding_at_start", f.outstanding_at_start, "credits")
    scheme("credits_lapsed", f.credits_lapsed, "credits")
    scheme("reversals", f.reversals, "credits")
    scheme("adjustments", f.adjustments, "credits")
    scheme("outstanding_at_end", f.outstanding_at_end, "credits")
    for a in f.activities:
        ref = a.slug
        rows.append((m, "activity", ref, a.name, "credits_earned", a.credits_earned, "credits"))
        for q in a.volunteered:
            rows.append((m, "activity", ref, a.name, "volunteered", q.text, UNITS[q.unit]))
        people = pm.volunteers_of(a)
        if people is not None:
            rows.append((m, "activity", ref, a.name, "volunteers", people.shown, "people"))
    for s in f.shops:
        ref = str(s.shop_id)
        rows.append((m, "shop", ref, s.name, "redemptions", s.redemptions, "redemptions"))
        rows.append((m, "shop", ref, s.name, "credits_spent", s.credits_spent, "credits"))
        rows.append((m, "shop", ref, s.name, "net_credits", s.net_credits, "credits"))
        if s.owed_pence is not None:
            rows.append((m, "shop", ref, s.name, "owed", s.owed_pence, "pence"))
    return rows


def month_csv(pm: PublishedMonth) -> bytes:
    """The month as one CSV table (module docstring). UTF-8, CRLF."""
    out = io.StringIO()
    w = csvfile.writer(out, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    w.writerows(month_rows(pm))
    return out.getvalue().encode("utf-8")


def table_schema() -> dict[str, Any]:
    """The Table Schema every month's CSV follows."""
    measures = sorted({m for _, m, _, _ in MEASURES})
    units = sorted({u for _, _, us, _ in MEASURES for u in us.split("|")})
    return {
        "fields": [
            {
                "name": "month",
                "type": "yearmonth",
                "title": "Month",
                "description": "A Europe/London calendar month, closed (its figures are final)",
                "constraints": {"required": True},
            },
            {
                "name": "scope",
                "type": "string",
                "title": "Scope",
                "description": "scheme (the whole scheme), activity or shop",
                "constraints": {"required": True, "enum": ["activity", "scheme", "shop"]},
            },
            {
                "name": "ref",
                "type": "string",
                "title": "Reference",
                "description": "the activity's slug or the partner shop's number; "
                "empty for the scheme",
            },
            {
                "name": "name",
                "type": "string",
                "title": "Name",
                "description": "the activity's or the partner shop's name; empty for the scheme",
            },
            {
                "name": "measure",
                "type": "string",
                "title": "Measure",
                "description": "what the value counts: docs/open-data.md lists each",
                "constraints": {"required": True, "enum": measures},
            },
            {
                "name": "value",
                "type": "number",
                "title": "Value",
                "description": f"the figure; a count of people from 1 to 4 is '{FEWER_THAN_5}' "
                f"and one withheld to protect it is '{WITHHELD}' (both read as missing)",
            },
            {
                "name": "unit",
                "type": "string",
                "title": "Unit",
                "constraints": {"required": True, "enum": units},
            },
        ],
        "missingValues": ["", FEWER_THAN_5, WITHHELD],
    }


def resource_name(month: str) -> str:
    return f"figures-{month}"


def csv_filename(month: str) -> str:
    return f"{month}.csv"


def datapackage(
    published: list[PublishedMonth], meta: Meta, signatures: dict[str, str]
) -> dict[str, Any]:
    """The Frictionless Data Package (tabular) of every published month's CSV. Resource
    paths are relative to the package (``2026-10.csv`` beside ``datapackage.json``);
    ``signatures`` (month → signature line) are carried as each resource's
    ``statement_signature``."""
    schema = table_schema()
    return {
        "profile": "tabular-data-package",
        "name": "cooperative-credits-public-record",
        "title": f"Cooperative Credits: the scheme's public record ({meta.publisher})",
        "description": (
            "Every closed month of the Cooperative Credits scheme: volunteering rewarded, "
            "credits spent at partner shops and owed to them, vouchers expired, credits "
            "outstanding. Final figures, each equal to the month's statement. No personal "
            f"data: counts of people below {THRESHOLD} are '{FEWER_THAN_5}', and a count "
            f"withheld so that one cannot be worked out by subtraction is '{WITHHELD}'. Each "
            "CSV is signed with the council's statement key (the trust list's "
            "statement_keys); check a copy with `credits verify-statement`."
        ),
        "licenses": [meta.licence_dict()],
        "contributors": [{"title": meta.publisher, "role": "publisher"}],
        "keywords": ["volunteering", "community credits", "local shops", "council"],
        "resources": [
            {
                "name": resource_name(pm.figures.month),
                "title": f"Figures of {pm.figures.month}",
                "path": csv_filename(pm.figures.month),
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": schema,
                "statement_signature": signatures[pm.figures.month],
            }
            for pm in published
        ],
    }


def _month_entry(record: PublicRecord, month: Month) -> dict[str, Any]:
    entry = record.entry(month)
    assert entry is not None
    out: dict[str, Any] = {
        "month": str(month),
        **_days(month),
        "closed_on": entry.closed_on.isoformat(),
        "status": "published" if entry.published is not None else "held",
    }
    if entry.held_on is not None:
        out["held_since"] = entry.held_on.isoformat()
    return out


def _year(year: YearSoFar) -> dict[str, Any]:
    return {
        "year": year.year,
        "months": [str(m) for m in year.months],
        "active_volunteers": year.active_volunteers.shown,
        "volunteered": _quantities(year.volunteered),
        "credits_earned": year.credits_earned,
        "activities": [
            {
                "activity": a.slug,
                "name": a.name,
                "credits_earned": a.credits_earned,
                "volunteered": _quantities(a.volunteered),
            }
            for a in year.activities
        ],
        "credits_spent": year.credits_spent,
        "net_credits": year.net_credits,
        "owed_pence": year.owed_pence,
        "owed_gbp": pounds(year.owed_pence),
        "shops": [_shop(s) for s in year.shops],
        "vouchers_expired": year.vouchers_expired,
        "voucher_credits_expired": year.voucher_credits_expired,
        "credits_lapsed": year.credits_lapsed,
        "outstanding_at_end": year.outstanding_at_end,
    }


def months_document(record: PublicRecord, meta: Meta) -> dict[str, Any]:
    """The index: every closed month (published or held back) and the year so far."""
    return {
        "publisher": meta.publisher,
        "licence": meta.licence_dict(),
        "months": [_month_entry(record, e.month) for e in record.months],
        "year_so_far": None if record.year is None else _year(record.year),
        "suppression": suppression_dict(),
    }
