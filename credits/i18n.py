"""Languages: which ones the scheme speaks, its gettext catalogs, words a person reads that
are written outside a template, and dates and numbers as each language writes them.

No Flask here: the pages (credits/web/i18n.py), the emails (credits/mail) and the use cases
all use this module. docs/translating.md says how to add a string or a language.

- :data:`LANGUAGES` — every language offered, by its code (the English source and the
  complete catalogs in ``credits/translations/<code>/LC_MESSAGES/messages.po``).
- :func:`translations` — a language's catalog, compiled in memory from its ``.po`` file the
  first time it is asked for (no ``.mo`` files to build or commit: a fresh clone works).
- :func:`T`, :func:`Tn`, :func:`Tp` — mark a message in Python code (a use case's refusal, a
  history line). The result is a :class:`Text`: a ``str`` whose value is the English text,
  so the API, logs and the command line keep speaking English, and which remembers its
  message id and parameters so a page or an email can show it in the reader's language
  (:func:`translate`; in a template it translates itself).
- :func:`format_number`, :func:`format_day`, :func:`format_when`... — Babel (CLDR) formats
  for the language, times always in Europe/London.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel import lists as babel_lists
from babel import numbers as babel_numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from markupsafe import Markup, escape

LONDON = ZoneInfo("Europe/London")

#: The language of the source text (msgids).
DEFAULT = "en"

#: Every language offered, by code, with its own name for itself (what the switcher shows).
#: Each one but English has a complete catalog; tests/unit/test_translations.py holds them
#: to it.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "pt": "Português",
    "es": "Español",
    "pl": "Polski",
    "fr": "Français",
}

#: The CLDR locale each language's dates and numbers are written in: British English,
#: European Portuguese (the Portuguese-speaking residents the scheme serves are mostly from
#: Portugal and Madeira; Brazilian readers understand it), Spanish, Polish, French.
FORMAT_LOCALES: dict[str, str] = {
    "en": "en_GB",
    "pt": "pt_PT",
    "es": "es_ES",
    "pl": "pl_PL",
    "fr": "fr_FR",
}

CATALOGS = Path(__file__).parent / "translations"


def normalise(tag: str | None) -> str | None:
    """A language code we offer for a tag like ``pt-BR``, ``PL`` or ``es_ES``; else None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


@functools.cache
def translations(language: str) -> NullTranslations:
    """The catalog of ``language`` (English: none, the message ids are English).

    Compiled in memory from the ``.po`` file once per process (a few milliseconds per
    language). Fuzzy and empty entries are left out, so they show in English.
    """
    if language == DEFAULT or language not in LANGUAGES:
        return NullTranslations()
    return compile_po(CATALOGS / language / "LC_MESSAGES" / "messages.po", language)


def compile_po(path: Path, language: str) -> NullTranslations:
    """Read a ``.po`` file and return it as gettext translations (in memory)."""
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


# --- the reader's language ------------------------------------------------------------------

_provider: Callable[[], str | None] | None = None


def set_language_provider(provider: Callable[[], str | None]) -> None:
    """Tell this module how to find the current reader's language (the web layer does, once:
    the language of the page being rendered, or None outside a request)."""
    global _provider
    _provider = provider


def current_language() -> str:
    """The language of the page being rendered, else English."""
    found = _provider() if _provider is not None else None
    return found if found in LANGUAGES else DEFAULT


# --- messages written in Python -------------------------------------------------------------


@dataclass(frozen=True)
class Fmt:
    """A parameter formatted for the reader's language when the message is shown:
    ``Fmt(format_day, d)``."""

    formatter: Callable[..., str]
    value: Any
    options: tuple[tuple[str, Any], ...] = ()

    def render(self, language: str) -> str:
        """The value written in ``language``."""
        return self.formatter(self.value, language, **dict(self.options))


class Text(str):
    """A message a person reads, marked for translation where it was written.

    Its ``str`` value is the English text (what the API's problem+json, logs and the command
    line show). :func:`translate` renders it in another language; in a template (HTML) it
    renders itself in the page's language through ``__html__``.
    """

    msgid: str
    plural: str | None
    count: int | None
    context: str | None
    params: Mapping[str, Any]

    def __new__(
        cls,
        msgid: str,
        *,
        plural: str | None = None,
        count: int | None = None,
        context: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Text:
        values = dict(params or {})
        if plural is not None:
            values.setdefault("num", count)
        self = super().__new__(cls, _render(msgid, plural, count, context, values, DEFAULT))
        self.msgid = msgid
        self.plural = plural
        self.count = count
        self.context = context
        self.params = values
        return self

    def in_language(self, language: str) -> str:
        """This message in ``language`` (English where its catalog has no translation)."""
        if language == DEFAULT:
            return str(self)
        return _render(self.msgid, self.plural, self.count, self.context, self.params, language)

    def __html__(self) -> Markup:
        return escape(self.in_language(current_language()))

    def __reduce__(self) -> Any:
        # Pickled (a cache, a queue) as what it reads in English: plain text.
        return (str, (str(self),))


def T(msgid: str, **params: Any) -> Text:
    """Mark a message: ``T("%(name)s is not active", name=row.name)``."""
    return Text(msgid, params=params)


def Tn(singular: str, plural: str, num: int, **params: Any) -> Text:
    """Mark a message with plural forms; ``%(num)s`` is the number:
    ``Tn("%(num)s credit", "%(num)s credits", 5)``."""
    return Text(singular, plural=plural, count=num, params=params)


def Tp(context: str, msgid: str, **params: Any) -> Text:
    """Mark a message whose words depend on a context (``Tp("fraction", "%(n)s hours")``)."""
    return Text(msgid, context=context, params=params)


def format_list(items: list[str], language: str | None = None) -> str:
    """``A, B and C`` (``A, B i C`` in Polish)."""
    if not items:
        return ""
    return babel_lists.format_list(
        [str(translate(i, language)) for i in items], locale=_locale(language or current_language())
    )


def translate(value: Any, language: str | None = None) -> Any:
    """``value`` in ``language`` (default: the current reader's) if it is a :class:`Text`;
    anything else unchanged."""
    if isinstance(value, Text):
        return value.in_language(language or current_language())
    return value


def _render(
    msgid: str,
    plural: str | None,
    count: int | None,
    context: str | None,
    params: Mapping[str, Any],
    language: str,
) -> str:
    catalog = translations(language)
    if plural is not None:
        n = int(count or 0)
        text = (
            catalog.npgettext(context, msgid, plural, n)
            if context
            else catalog.ngettext(msgid, plural, n)
        )
    elif context:
        text = catalog.pgettext(context, msgid)
    else:
        text = catalog.gettext(msgid)
    if not params:
        return text
    return text % {name: _param(value, language) for name, value in params.items()}


def _param(value: Any, language: str) -> Any:
    if isinstance(value, Text):
        return value.in_language(language)
    if isinstance(value, Fmt):
        return value.render(language)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | Decimal):
        # A quantity prints as people write it: 1.5, not 1.50 (and 1,5 in Polish).
        return format_number(value.normalize() if isinstance(value, Decimal) else value, language)
    if isinstance(value, datetime):
        return format_when(value, language)
    if isinstance(value, date):
        return format_day(value, language)
    return value


# --- dates, times and numbers ---------------------------------------------------------------


def _locale(language: str | None) -> str:
    return FORMAT_LOCALES.get(language or DEFAULT, FORMAT_LOCALES[DEFAULT])


def format_number(value: int | float | Decimal, language: str | None = None) -> str:
    """``1,234`` (en), ``1234`` (es), ``1 234`` (pl, fr, pt)."""
    return babel_numbers.format_decimal(value, locale=_locale(language or current_language()))


def _london(value: date | datetime) -> date | datetime:
    if isinstance(value, datetime):
        return value.astimezone(LONDON) if value.tzinfo else value.replace(tzinfo=LONDON)
    return value


def _skeleton(skeleton: str, value: date | datetime, language: str | None) -> str:
    return babel_dates.format_skeleton(
        skeleton, _london(value), locale=_locale(language or current_language())
    )


def format_day(value: date | datetime, language: str | None = None) -> str:
    """A date (an instant: its London date): ``3 Dec 2026``, ``3 gru 2026``."""
    return _skeleton("yMMMd", value, language)


def format_day_long(value: date | datetime, language: str | None = None) -> str:
    """``3 December 2026``, ``3 grudnia 2026``."""
    return _skeleton("yMMMMd", value, language)


def format_weekday(value: date | datetime, language: str | None = None) -> str:
    """``Thu, 3 Dec 2026``."""
    return _skeleton("yMMMEd", value, language)


def format_day_month(value: date | datetime, language: str | None = None) -> str:
    """``3 Dec`` (no year)."""
    return _skeleton("MMMd", value, language)


def format_month(value: date | datetime, language: str | None = None) -> str:
    """``December 2026``."""
    return _skeleton("yMMMM", value, language)


def format_month_short(value: date | datetime, language: str | None = None, *, year: bool) -> str:
    """A chart's month label: ``Dec`` (``Dec 2026`` with the year)."""
    return _skeleton("yMMM" if year else "MMM", value, language)


def format_time(value: datetime, language: str | None = None, *, seconds: bool = False) -> str:
    """An instant's London clock time: ``14:05`` (``14:05:09`` with seconds)."""
    return _skeleton("Hms" if seconds else "Hm", value, language)


def _join(day: str, clock: str, language: str | None, length: str = "medium") -> str:
    pattern = babel_dates.get_datetime_format(length, locale=_locale(language))
    return str(pattern).replace("'", "").format(clock, day)


def format_when(value: datetime, language: str | None = None) -> str:
    """An instant in London: ``3 Dec 2026, 14:05``."""
    language = language or current_language()
    return _join(format_day(value, language), format_time(value, language), language)


def format_when_long(value: datetime, language: str | None = None) -> str:
    """An instant in London, the month written out: ``3 December 2026, 14:05``."""
    language = language or current_language()
    return _join(format_day_long(value, language), format_time(value, language), language)


def format_when_full(value: datetime, language: str | None = None) -> str:
    """An instant in London with its weekday (emails): ``Thursday, 3 December 2026, 14:05``."""
    language = language or current_language()
    local = _london(value)
    day = babel_dates.format_date(local, "full", locale=_locale(language))
    return _join(day, format_time(value, language), language, "long")
