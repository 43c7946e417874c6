"""Every language the scheme offers is complete, and its words come out right.

The catalogs are checked against the strings the code marks *now* (extracted in memory, as
`./dev i18n` does): a string missing from any language, a fuzzy or empty translation, an entry
the code no longer has, or a translation whose placeholders differ from its message fails
here. docs/translating.md says what to do when it does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from credits import i18n
from credits.earning.quantities import describe, describe_rate
from credits.i18n import Fmt, T, Tn, format_day, format_day_month
from credits.i18n_catalogs import CatalogSet, catalog_sets, check, write


@pytest.mark.parametrize("catalogs", catalog_sets(), ids=lambda c: c.name)
def test_every_language_has_every_string(catalogs: CatalogSet) -> None:
    problems = check(catalogs)
    assert problems == [], (
        f"{len(problems)} problem(s) in the {catalogs.name} catalogs: run `./dev i18n`, then "
        "translate what is missing or fuzzy (docs/translating.md):\n" + "\n".join(problems[:40])
    )


def test_the_check_finds_what_is_missing_fuzzy_empty_or_stale(tmp_path: Path) -> None:
    """The check itself, on a tiny app: each kind of problem is reported."""
    package = tmp_path / "app"
    (package / "templates").mkdir(parents=True)
    (package / "templates" / "page.html").write_text(
        "<p>{{ _('Hello') }}</p><p>{{ _('Goodbye') }}</p><p>{{ _('Bye %(name)s', name=n) }}</p>"
        "<p>{% trans %}Thanks{% endtrans %}</p>",
        encoding="utf-8",
    )
    catalogs = CatalogSet(
        name="app",
        package=package,
        method_map=[("templates/**.html", "jinja2")],
        options_map={"templates/**.html": {"trimmed": "true"}},
        languages=("pl",),
    )
    catalog = Catalog(locale="pl")
    catalog.add("Hello", "Cześć")
    catalog.add("Goodbye", "", flags=["python-format"])  # empty
    catalog.add("Bye %(name)s", "Pa %(imie)s", flags=["python-format"])  # wrong placeholder
    catalog.add("Thanks", "Dzięki", flags=["fuzzy"])
    catalog.add("Gone", "Nie ma")  # no longer in the code
    write(catalogs.po_path("pl"), catalog)

    problems = "\n".join(check(catalogs))
    assert "not translated: 'Goodbye'" in problems
    assert "fuzzy" in problems and "'Thanks'" in problems
    assert "no longer in the code: 'Gone'" in problems
    assert "'Bye %(name)s'" in problems and "placeholder" in problems.lower()
    assert "Plural-Forms" in problems  # Babel's default, not the classic Polish rule

    (package / "templates" / "page.html").write_text("<p>{{ _('New') }}</p>", encoding="utf-8")
    assert "missing 'New'" in "\n".join(check(catalogs))


@pytest.mark.parametrize(
    ("n", "polish"),
    [
        (1, "1 kredyt"),
        (2, "2 kredyty"),
        (4, "4 kredyty"),
        (5, "5 kredytów"),
        (12, "12 kredytów"),
        (22, "22 kredyty"),
        (25, "25 kredytów"),
        (1002, "1 002 kredyty"),
    ],
)
def test_polish_counts_credits_in_three_forms(n: int, polish: str) -> None:
    text = Tn("%(num)s credit", "%(num)s credits", n)
    assert text.in_language("pl").replace("\u00a0", " ") == polish
    assert str(text) == (f"{n:,} credit" if n == 1 else f"{n:,} credits")


def test_french_counts_zero_as_one_and_portuguese_does_not() -> None:
    assert Tn("%(num)s credit", "%(num)s credits", 0).in_language("fr") == "0 crédit"
    assert Tn("%(num)s credit", "%(num)s credits", 0).in_language("pt") == "0 créditos"


def test_a_text_is_english_for_programs_and_translated_for_people() -> None:
    """A use case's message: English as a str (API, logs), the reader's language on a page."""
    when = datetime(2026, 7, 3, 23, 30, tzinfo=UTC)  # 4 July in London (BST)
    text = T(
        "%(month)s is closed: nothing can be dated in it. Post a correction in the open "
        "month instead.",
        month="2026-07",
    )
    assert text == (
        "2026-07 is closed: nothing can be dated in it. Post a correction in the open "
        "month instead."
    )
    assert text.in_language("es").startswith("2026-07 está cerrado")
    assert describe(150, "hour") == "1.5 hours"
    assert describe(150, "hour").in_language("pl") == "1,5 godziny"
    assert describe(200, "session").in_language("pt") == "2 sessões"
    assert describe_rate(10, "hour").in_language("fr") == "10 crédits de l'heure"
    # Dates are London's and written the language's way.
    assert i18n.format_day(when, "en") == "4 Jul 2026"
    assert i18n.format_day(when, "pl") == "4 lip 2026"
    assert i18n.format_when(when, "en") == "4 Jul 2026, 00:30"
    week = T(
        "the week of %(monday)s to %(sunday)s",
        monday=Fmt(format_day_month, date(2026, 11, 23)),
        sunday=Fmt(format_day, date(2026, 11, 29)),
    )
    assert week == "the week of 23 Nov to 29 Nov 2026"
    assert week.in_language("es") == "la semana del 23 nov al 29 nov 2026"
    assert i18n.format_number(Decimal("1234.5"), "fr").replace("\u202f", " ") == "1 234,5"


def test_a_text_translates_itself_in_a_template() -> None:
    """``{{ error }}`` in a page shows a use case's message in the page's language."""
    import jinja2

    env = jinja2.Environment(autoescape=True)
    i18n.set_language_provider(lambda: "pl")
    try:
        html = env.from_string("<p>{{ t }}</p>").render(t=T("Request refused"))
    finally:
        i18n.set_language_provider(lambda: None)
    assert html == "<p>Żądanie odrzucone</p>"


@pytest.mark.parametrize("language", [code for code in i18n.LANGUAGES if code != i18n.DEFAULT])
def test_each_language_compiles_and_uses_its_own_plural_rule(language: str) -> None:
    catalog = i18n.translations(language)
    assert catalog.gettext("Sign in") != "Sign in"
    assert i18n.normalise(f"{language}-XX") == language
