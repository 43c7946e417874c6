"""The gettext catalogs of ``credits/`` and ``shop_terminal/``: extract, update, check.

    python -m credits.i18n_catalogs update   (``./dev i18n``) re-extract the marked strings
                                             and update every language's .po file
    python -m credits.i18n_catalogs check    list what is missing, fuzzy or empty; exit 1

Strings are extracted from Python (``_``, ``gettext``, ``ngettext``, ``T``, ``Tn``, ``Tp``...)
and from templates (``{{ _() }}``, ``{% trans %}``, whitespace trimmed). The template
(``.pot``) is built in memory: it is derived from the code, so it is not kept in git. The
``.po`` files are written sorted by message, without line numbers and unwrapped, so that two
branches adding strings merge line by line. Nothing is compiled to ``.mo``: the apps compile
a catalog in memory when they first need it (credits.i18n.translations).

Used by ``./dev i18n`` and by tests/unit/test_translations.py (which fails on any language
that lacks a string, or has a fuzzy or empty one). docs/translating.md explains the work.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent

#: Marker functions, as Babel's extractor reads them (name -> argument positions).
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "T": None,
    "Tn": (1, 2),
    "Tp": ((1, "c"), 2),
    "lazy_gettext": None,
}

_TEMPLATE_OPTIONS = {"trimmed": "true", "silent": "false"}

#: gettext's plural rules of each language. Babel's own (from CLDR) add a "many" form for
#: round millions and use Brazilian rules for Portuguese; these are the classic ones, which
#: translators know: European Portuguese, Spanish and French have two forms (French counts 0
#: as singular), Polish three (1 kredyt, 2-4 kredyty, 5+ kredytów).
PLURAL_FORMS = {
    "pt": "nplurals=2; plural=(n != 1);",
    "es": "nplurals=2; plural=(n != 1);",
    "fr": "nplurals=2; plural=(n > 1);",
    "pl": "nplurals=3; plural=(n == 1 ? 0 : n % 10 >= 2 && n % 10 <= 4 && "
    "(n % 100 < 10 || n % 100 >= 20) ? 1 : 2);",
}


@dataclass(frozen=True)
class CatalogSet:
    """One app's catalogs: where its sources are and which languages it ships."""

    name: str
    package: Path
    method_map: list[tuple[str, str]]
    languages: tuple[str, ...]
    options_map: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """``<package>/translations``."""
        return self.package / "translations"

    def po_path(self, language: str) -> Path:
        """Where ``language``'s catalog lives."""
        return self.folder / language / "LC_MESSAGES" / "messages.po"


def catalog_sets() -> list[CatalogSet]:
    """The ledger service's catalog and the counter screen's."""
    from credits.i18n import DEFAULT, LANGUAGES

    translated = tuple(code for code in LANGUAGES if code != DEFAULT)
    return [
        CatalogSet(
            name="credits",
            package=ROOT / "credits",
            method_map=[
                ("bench/**", "ignore"),
                ("migrations/**", "ignore"),
                ("i18n_catalogs.py", "ignore"),
                ("**.py", "python"),
                ("web/templates/**.html", "jinja2"),
                ("mail/templates/**.txt", "jinja2"),
            ],
            options_map={
                "web/templates/**.html": _TEMPLATE_OPTIONS,
                "mail/templates/**.txt": _TEMPLATE_OPTIONS,
            },
            languages=translated,
        ),
        CatalogSet(
            name="shop_terminal",
            package=ROOT / "shop_terminal",
            method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
            options_map={"templates/**.html": _TEMPLATE_OPTIONS},
            languages=translated,
        ),
    ]


def extract(catalogs: CatalogSet) -> Catalog:
    """Every marked string of the app, as a catalog template (in memory)."""
    template = Catalog(project=catalogs.name, charset="utf-8", fuzzy=False)
    found = extract_from_dir(
        str(catalogs.package),
        method_map=catalogs.method_map,
        options_map=catalogs.options_map,
        keywords=KEYWORDS,
        comment_tags=("Translators:",),
        strip_comment_tags=True,
    )
    prefix = catalogs.package.name
    for filename, lineno, message, comments, context in found:
        template.add(
            message,
            None,
            [(f"{prefix}/{filename}", lineno)],
            auto_comments=comments,
            context=context,
        )
    return template


def read(path: Path, language: str) -> Catalog:
    """A ``.po`` file as a catalog."""
    with path.open("rb") as f:
        return read_po(f, locale=language)


def write(path: Path, catalog: Catalog) -> None:
    """Write a ``.po`` file: sorted by message, file names without line numbers, unwrapped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog.fuzzy = False
    with path.open("wb") as f:
        write_po(
            f,
            catalog,
            width=0,
            sort_output=True,
            include_lineno=False,
            ignore_obsolete=True,
            include_previous=False,
        )


def update(catalogs: CatalogSet) -> dict[str, tuple[int, int, int]]:
    """Bring every language's ``.po`` up to date with the code; return, per language,
    (messages, translated, needing work)."""
    template = extract(catalogs)
    stats = {}
    for language in catalogs.languages:
        path = catalogs.po_path(language)
        if path.exists():
            catalog = read(path, language)
        else:
            catalog = Catalog(locale=language, project=catalogs.name, fuzzy=False)
            catalog.language_team = f"{language} <cooperative-credits@example.org>"
        # The creation date is the template's; keeping the old one avoids a changed line in
        # every .po file each time the catalogs are updated.
        template.creation_date = catalog.creation_date
        catalog.update(template, no_fuzzy_matching=False, update_header_comment=False)
        if language in PLURAL_FORMS:
            catalog.mime_headers = [("Plural-Forms", PLURAL_FORMS[language])]
        catalog.header_comment = (
            f"# {catalog.locale.english_name if catalog.locale else language} words of "
            f"Cooperative Credits ({catalogs.name}).\n"
            "# docs/translating.md: how to add a string or a language; `./dev i18n` updates "
            "this file."
        )
        catalog.project, catalog.version = "Cooperative Credits", catalogs.name
        catalog.msgid_bugs_address = ""
        catalog.last_translator = "Cooperative Credits <cooperative-credits@example.org>"
        write(path, catalog)
        todo = sum(1 for m in _messages(catalog) if _problem(m))
        total = sum(1 for _ in _messages(catalog))
        stats[language] = (total, total - todo, todo)
    return stats


def _messages(catalog: Catalog) -> Iterator[Message]:
    return (m for m in catalog if m.id)


def _problem(message: Message) -> str | None:
    if message.fuzzy:
        return "fuzzy (check the translation, then remove the fuzzy flag)"
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    if not all(strings):
        return "not translated"
    return None


def _label(message: Message) -> str:
    text = message.id[0] if isinstance(message.id, tuple) else message.id
    where = ", ".join(sorted({loc for loc, _ in message.locations})) or "?"
    context = f" [{message.context}]" if message.context else ""
    return f"{text!r}{context} ({where})"


def check(catalogs: CatalogSet) -> list[str]:
    """Everything wrong with the app's catalogs: a string of the code missing from a
    language, fuzzy or empty; a catalog entry the code no longer has; a translation whose
    placeholders differ from the message's."""
    template = extract(catalogs)
    wanted = {(m.id, m.context): m for m in _messages(template)}
    problems = []
    for language in catalogs.languages:
        path = catalogs.po_path(language)
        if not path.exists():
            problems.append(f"{catalogs.name}/{language}: no catalog ({path})")
            continue
        catalog = read(path, language)
        if language in PLURAL_FORMS and catalog.plural_forms != PLURAL_FORMS[language]:
            problems.append(
                f"{catalogs.name}/{language}: Plural-Forms should be {PLURAL_FORMS[language]!r}"
            )
        have = {(m.id, m.context): m for m in _messages(catalog)}
        for key, message in wanted.items():
            found = have.get(key)
            if found is None:
                problems.append(f"{catalogs.name}/{language}: missing {_label(message)}")
            elif reason := _problem(found):
                problems.append(f"{catalogs.name}/{language}: {reason}: {_label(message)}")
        for key, message in have.items():
            if key not in wanted:
                problems.append(
                    f"{catalogs.name}/{language}: no longer in the code: {_label(message)}"
                )
        for message, errors in catalog.check():
            for error in errors:
                problems.append(f"{catalogs.name}/{language}: {error}: {_label(message)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``update`` (the default) or ``check``."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "update"
    if command == "update":
        for catalogs in catalog_sets():
            for language, (total, done, todo) in update(catalogs).items():
                note = f", {todo} to translate or check" if todo else ""
                print(f"{catalogs.name}/{language}: {done} of {total} translated{note}")
        print("Translate what is missing (fuzzy entries too), then run the tests.")
        return 0
    if command == "check":
        problems = [p for catalogs in catalog_sets() for p in check(catalogs)]
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s)" if problems else "Every catalog is complete.")
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
