"""The counter screen in the shopkeeper's language: gettext catalogs (Babel) and the
language's way of writing times, dates and numbers.

The counter screen follows the till's browser (``Accept-Language``) and its language
switcher (a cookie on the till). The command line stays in English: it is for setting a
till up and for scripts that read its output. A :class:`Words` is one language's
``gettext``/``ngettext`` and formats; ``messages.describe`` writes every outcome with one.

Catalogs: ``shop_terminal/translations/<code>/LC_MESSAGES/messages.po``, compiled in memory
the first time a language is used (no ``.mo`` files). ``./dev i18n`` updates them
(docs/translating.md). This module mirrors credits.i18n, which the terminal must not import.
"""

from __future__ import annotations

import functools
import gettext as gettext_module
from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DEFAULT = "en"
#: Every language offered, by code, with its own name for itself.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "pt": "Português",
    "es": "Español",
    "pl": "Polski",
    "fr": "Français",
}
#: The CLDR locale each language's times and numbers are written in.
FORMAT_LOCALES: dict[str, str] = {
    "en": "en_GB",
    "pt": "pt_PT",
    "es": "es_ES",
    "pl": "pl_PL",
    "fr": "fr_FR",
}
CATALOGS = Path(__file__).parent / "translations"


def normalise(tag: str | None) -> str | None:
    """A language code we offer for a tag like ``pt-BR``; else None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


@functools.cache
def translations(language: str) -> gettext_module.NullTranslations:
    """``language``'s catalog (English: none), compiled in memory once per process."""
    if language == DEFAULT or language not in LANGUAGES:
        return gettext_module.NullTranslations()
    with (CATALOGS / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext_module.GNUTranslations(buffer)


@dataclass(frozen=True)
class Words:
    """One language's words and formats."""

    language: str = DEFAULT

    @property
    def locale(self) -> str:
        """The CLDR locale of the language."""
        return FORMAT_LOCALES.get(self.language, FORMAT_LOCALES[DEFAULT])

    def gettext(self, message: str, **values: Any) -> str:
        """``message`` in this language, with ``%(name)s`` filled in from ``values``."""
        text = translations(self.language).gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        """The form of the message for ``n``; ``%(num)s`` is ``n`` written in the language."""
        values.setdefault("num", self.number(n))
        return translations(self.language).ngettext(singular, plural, n) % values

    def number(self, value: int) -> str:
        """``1,234`` (en), ``1 234`` (pl)."""
        return babel_numbers.format_decimal(value, locale=self.locale)

    def clock(self, moment: datetime) -> str:
        """``14:05`` (the moment must already be in the shop's time zone)."""
        return babel_dates.format_skeleton("Hm", moment, locale=self.locale)

    def weekday_day(self, day: date) -> str:
        """``Thu 3 Dec`` (no year)."""
        return babel_dates.format_skeleton("MMMEd", day, locale=self.locale)

    def day(self, day: date) -> str:
        """``3 Dec 2026``."""
        return babel_dates.format_skeleton("yMMMd", day, locale=self.locale)

    def day_and_time(self, moment: datetime) -> str:
        """``3 Dec 2026, 14:05`` (in the shop's time zone already)."""
        pattern = str(babel_dates.get_datetime_format("medium", locale=self.locale))
        return pattern.replace("'", "").format(self.clock(moment), self.day(moment.date()))


ENGLISH = Words(DEFAULT)
