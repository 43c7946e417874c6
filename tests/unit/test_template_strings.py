"""Every word a template shows is marked for translation.

Each template of the pages, the emails and the counter screen is parsed (Jinja's own parser,
with the i18n extension). What it would print outside ``{% trans %}`` and ``_()`` — its text
and the attributes a person reads or hears (``aria-label``, ``title``, ``alt``,
``placeholder``, a button's ``value``, ``data-*`` text handed to scripts) — must hold no
words; so must any string literal in an expression (``field('email', 'Email address')``)
that is not an argument of ``_()``. A short allow-list names the few things that are not
words to translate (units, symbols, protocol lines).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from jinja2 import nodes

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [
    ROOT / "credits" / "web" / "templates",
    ROOT / "credits" / "mail" / "templates",
    ROOT / "shop_terminal" / "templates",
]
TEMPLATES = sorted(
    p for folder in TEMPLATE_DIRS for p in folder.rglob("*") if p.suffix in (".html", ".txt")
)

#: Where an expression's value is printed: it holds no letters we can see.
HOLE = "\ue000"
GETTEXT = {"_", "gettext", "ngettext", "pgettext", "npgettext"}
#: Attributes a person reads or hears.
SPOKEN = {"title", "alt", "placeholder", "aria-label", "aria-description", "label", "summary"}
#: Text that is not words to translate.
ALLOWED = {
    "Subject:",  # an email template's first line: the subject follows, translated
    "A4",
    "A6",  # paper sizes
    "UTC",
    "SHA-256",
    "JSON",  # a file format's name
}
#: A string literal that is a name, not prose: an endpoint, a field, a CSS class, a path.
_NAME = re.compile(r"^[a-z0-9_.\-:/#%?=&\[\] ]*$")
_WORDY = re.compile(r"[A-Za-z]")
#: Markup written in pieces: ``min="``, ``" class="short"`` (a macro's attributes).
_ATTRIBUTE = re.compile(r'^(?:"|[a-z][a-z-]*="(?:[a-z0-9 _.\-]*)"?|\{[a-z_]+\})$')
_SPOKEN_ATTRIBUTE = re.compile(r'\b(?:title|alt|placeholder|aria-label|label)="')


def _is_markup(text: str) -> bool:
    tokens = text.replace(HOLE, " ").split()
    return (
        bool(tokens)
        and all(_ATTRIBUTE.match(t) for t in tokens)
        and not (_SPOKEN_ATTRIBUTE.search(text))
    )


def _is_prose(value: str) -> bool:
    text = value.strip()
    if not _WORDY.search(text) or text in ALLOWED or _is_markup(text):
        return False
    return not (_NAME.match(text) and " " not in text)


class _Finder:
    """Walks one template's syntax tree."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.literals: list[str] = []

    def walk(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.TemplateData):
            self.text.append(node.data)
            return
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    self.text.append(child.data)
                else:
                    self.text.append(HOLE)
                    self.expression(child)
            return
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.Expr):
                self.expression(child)
            else:
                self.walk(child)

    def expression(self, expr: nodes.Node) -> None:
        called = expr.node if isinstance(expr, nodes.Call) else None
        if isinstance(called, nodes.Name) and called.name in GETTEXT:
            # Its message is marked; its keyword arguments are values.
            for kw in expr.kwargs:  # a Call: its keyword arguments
                self.expression(kw.value)
            return
        if isinstance(expr, nodes.Const) and isinstance(expr.value, str):
            if _is_prose(expr.value):
                self.literals.append(expr.value)
            return
        if isinstance(expr, nodes.Compare):
            # ``x == 'posted'``: compared values are codes, not words.
            return
        for child in expr.iter_child_nodes():
            self.expression(child)


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        kind = dict(attrs).get("type")
        for name, value in attrs:
            if not value:
                continue
            spoken = name in SPOKEN or (
                name == "value" and tag == "input" and kind in ("submit", "button", "reset")
            )
            words = value.replace(HOLE, "")
            shown = (spoken and _WORDY.search(words)) or (
                name.startswith("data-") and _is_prose(words)
            )
            if shown and words.strip() not in ALLOWED:
                self.found.append(f'attribute <{tag} {name}="{value}">')

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        text = data.replace(HOLE, " ").strip()
        if _WORDY.search(text) and text not in ALLOWED and not _is_markup(text):
            self.found.append(text)


_env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
_env.policies["ext.i18n.trimmed"] = True


def unmarked(source: str, suffix: str = ".html") -> list[str]:
    """What a template (its source) shows that is not marked for translation."""
    tree = _env.parse(source)
    finder = _Finder()
    finder.walk(tree)
    flat = "".join(finder.text)
    found = [f"literal {value!r}" for value in finder.literals]
    if suffix == ".html":
        parser = _Html()
        parser.feed(flat)
        parser.close()
        found += [t if t.startswith("attribute ") else f"text {t!r}" for t in parser.found]
    else:
        for line in flat.splitlines():
            text = line.replace(HOLE, " ").strip()
            if _WORDY.search(text) and text not in ALLOWED:
                found.append(f"text {text!r}")
    return found


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_word_is_marked_for_translation(path: Path) -> None:
    assert unmarked(path.read_text(encoding="utf-8"), path.suffix) == [], (
        "Mark these with {% trans %}…{% endtrans %} or _('…') (docs/translating.md):"
    )


def test_the_check_finds_unmarked_words() -> None:
    """The check itself: each way of showing words unmarked is caught, marked words pass."""

    check = unmarked
    assert check("<p>Hello</p>") == ["text 'Hello'"]
    assert check('<a href="/" aria-label="Home">{{ x }}</a>') == ['attribute <a aria-label="Home">']
    assert check("{{ field('email', 'Email address') }}") == ["literal 'Email address'"]
    assert check("{% if a %}<p>Yes {{ n }}</p>{% endif %}") == ["text 'Yes'"]
    assert check("Dear {{ name }},", ".txt") == ["text 'Dear  ,'"]
    assert check('<div data-note="Starting the camera">') == [
        'attribute <div data-note="Starting the camera">'
    ]
    assert check("<p>{% trans n=3 %}You have {{ n }} credits{% endtrans %}</p>") == []
    assert check("{{ field('email', _('Email address'), hint=_('Yours')) }}") == []
    assert check('<a aria-label="{{ _(\'Home\') }}" class="nav-link">{{ x }} · £</a>') == []
    assert check("{% if s == 'posted' %}{{ url_for('member.home') }}{% endif %}") == []
    assert check("<style>@page { size: A4 }</style><script>go()</script>") == []
    markup = """{{ text_input('n', _('N'), attrs='inputmode="numeric" class="short"') }}"""
    assert check(markup) == []
    assert check("""{{ text_input('n', _('N'), attrs='placeholder="Your name"') }}""") == [
        """literal 'placeholder="Your name"'"""
    ]
