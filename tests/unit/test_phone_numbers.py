"""Phone numbers as people type them, stored in international form
(credits.accounts.service.normalise_phone)."""

from __future__ import annotations

import pytest

from credits.accounts.service import normalise_phone
from credits.errors import ValidationFailed


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("07700 900123", "+447700900123"),
        ("+44 7700-900123", "+447700900123"),
        ("(07700) 900.123", "+447700900123"),
        ("0044 7700 900123", "+447700900123"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("", None),
        ("  ", None),
    ],
)
def test_phone_numbers_are_stored_in_international_form(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["12345", "0770090012", "077009001234", "+44 07700 900123", "phone", "+1 2"]
)
def test_things_that_are_not_phone_numbers_are_refused(raw):
    with pytest.raises(ValidationFailed):
        normalise_phone(raw)
