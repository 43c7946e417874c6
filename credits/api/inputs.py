"""What the edge accepts: the one place that bounds what a request may carry.

Every value a caller sends passes through here before a use case sees it, so that no
malformed value can reach the database or Python's own limits and come back as a 500:

- **JSON bodies** are parsed by :func:`parse_json`: at most :data:`MAX_JSON_INT_DIGITS`
  digits in an integer (Python refuses more than 4,300 with a ValueError of its own), no
  nesting deeper than :data:`MAX_JSON_DEPTH`, no lone UTF-16 surrogates (``"\\ud800"``:
  valid JSON, but not text that UTF-8, and so PostgreSQL, can store) in any key or value.
  A body that breaks one is 400 ``validation_error``. flask-smorest blueprints get it
  through :class:`Blueprint`.
  ``NaN``, ``Infinity`` and floats that overflow (``1e999``) are parsed as Python does and
  refused by the field that receives them (422 naming the field).
- **Integers** (:class:`Integer`, and the ``int`` path converter :class:`BigIntConverter`)
  lie in the database's BIGINT range; JSON ``true`` is not 1.
- **Text** (:class:`String`, :class:`Email`, the ``string`` path converter, and — on the
  pages — every form and query value, :func:`refuse_control_characters`) holds no control
  characters: NUL, escape, DEL, C1... A field that is multi-line (a note, a description, a
  reason) keeps line breaks and tabs. SQLite would store them and PostgreSQL refuse NUL
  with an error; either way they have no business in a name or a code.
- **Times and dates** (:class:`AwareDateTime`, :class:`Date`) lie between
  :data:`EARLIEST` and :data:`LATEST`, so converting them to UTC or adding a few days to
  them cannot overflow (``0001-01-01T00:00:00+14:00`` is before year 1 in UTC).

``tests/integration/test_hostile_input.py`` holds every schema to these fields and throws
hostile values at every operation of the OpenAPI document.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Flask, request
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, abort
from werkzeug.routing import IntegerConverter, UnicodeConverter

from credits.errors import ValidationFailed

#: PostgreSQL's BIGINT (SQLite's INTEGER is the same 64 bits).
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
#: A JSON integer longer than this cannot be a BIGINT (19 digits) nor anything else we use.
MAX_JSON_INT_DIGITS = 40
#: Bodies are small (64 KiB); nothing we accept nests more than a few levels.
MAX_JSON_DEPTH = 32
#: The span of instants and dates accepted: wide enough for any real record, narrow enough
#: that arithmetic on them (London midnight to UTC, a day either side) stays in range.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, tzinfo=UTC)

#: Characters allowed in a multi-line field that are otherwise control characters.
LINE_BREAKS = frozenset("\n\r\t")


class BadJson(ValueError):
    """A body that is JSON by its syntax but not a value we accept."""


# --- text ----------------------------------------------------------------------------------


#: Control characters (Unicode category Cc: C0, DEL, C1) and UTF-16 surrogates, as regular
#: expressions (a scan in C: a per-character loop in Python cost ~0.5 µs a character).
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_REFUSED_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` is not acceptable text, or None. Refuses lone surrogates and control
    characters (Unicode category Cc: C0, DEL, C1); ``multiline`` keeps CR, LF and tab."""
    found = (_REFUSED_MULTILINE if multiline else _REFUSED).search(value)
    if found is None:
        return None
    if "\ud800" <= found.group(0) <= "\udfff":
        return "Contains an invalid character (a lone UTF-16 surrogate)."
    if multiline:
        return "Contains a control character (such as NUL)."
    return "Contains a control character (such as NUL or a line break)."


class String(ma.fields.String):
    """A string without control characters or lone surrogates. ``multiline=True`` keeps
    line breaks and tabs (notes, descriptions, reasons)."""

    def __init__(self, *args: Any, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text, multiline=self.multiline)
        if problem:
            raise ma.ValidationError(problem)
        return text


class Email(ma.fields.Email, String):
    """An email address (marshmallow's check) that is also clean text."""


# --- integers ------------------------------------------------------------------------------


class Integer(ma.fields.Integer):
    """An integer in the database's BIGINT range; ``true``/``false`` are not integers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ma.ValidationError("Not a valid integer.")
        if isinstance(value, str) and len(value.strip()) > MAX_JSON_INT_DIGITS:
            # int() of a long string costs quadratic time before it fails or succeeds.
            raise ma.ValidationError("Not a valid integer.")
        try:
            number = int(super()._deserialize(value, attr, data, **kwargs))
        except (OverflowError, ValueError) as exc:  # int(inf), int of a huge float
            raise ma.ValidationError("Not a valid integer.") from exc
        if not BIGINT_MIN <= number <= BIGINT_MAX:
            raise ma.ValidationError("Number is out of range.")
        return number


# --- times and dates -----------------------------------------------------------------------


def _in_span(moment: datetime) -> datetime:
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ma.ValidationError("Date and time out of range.") from exc
    if not EARLIEST <= utc <= LATEST:
        raise ma.ValidationError(
            f"Date and time out of range ({EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d})."
        )
    return moment


class AwareDateTime(ma.fields.AwareDateTime):
    """An ISO 8601 instant with its offset, between :data:`EARLIEST` and :data:`LATEST`."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, str) and len(value) > 64:
            raise ma.ValidationError("Not a valid datetime.")
        return _in_span(super()._deserialize(value, attr, data, **kwargs))


class DateTime(ma.fields.DateTime):
    """An ISO 8601 date and time, between :data:`EARLIEST` and :data:`LATEST`."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, str) and len(value) > 64:
            raise ma.ValidationError("Not a valid datetime.")
        moment = super()._deserialize(value, attr, data, **kwargs)
        return _in_span(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


class Date(ma.fields.Date):
    """A calendar date, between :data:`EARLIEST` and :data:`LATEST`."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> date:
        if isinstance(value, str) and len(value) > 32:
            raise ma.ValidationError("Not a valid date.")
        day = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST.date() <= day <= LATEST.date():
            raise ma.ValidationError(
                f"Date out of range ({EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d})."
            )
        return day


# --- JSON ----------------------------------------------------------------------------------


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise BadJson(f"a number has more than {MAX_JSON_INT_DIGITS} digits")
    return int(digits)


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_tree(value: Any) -> None:
    """Depth and strings of a decoded document, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                raise BadJson("a string holds a lone UTF-16 surrogate (not valid text)")
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise BadJson(f"nested more than {MAX_JSON_DEPTH} levels deep")
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


_DECODER = json.JSONDecoder(parse_int=_parse_int)


def parse_json(data: bytes | str) -> Any:
    """Decode a request body; :class:`json.JSONDecodeError` for anything we do not accept
    (see the module docstring), so that callers need to handle one error only."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(f"not UTF-8: {exc.reason}", "", exc.start) from exc
    try:
        value = _DECODER.decode(text)
        # Walk the document only when the text could break a rule (most bodies cannot): deep
        # nesting needs that many brackets, and a lone surrogate a \uD800-\uDFFF escape.
        nests = text.count("[") + text.count("{") > MAX_JSON_DEPTH
        if nests or _SURROGATE_ESCAPE.search(text):
            _check_tree(value)
    except json.JSONDecodeError:
        raise
    except (BadJson, RecursionError, ValueError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise json.JSONDecodeError(reason, text or " ", 0) from exc
    return value


class Parser(FlaskParser):
    """webargs' Flask parser with :func:`parse_json` for bodies."""

    def _raw_load_json(self, req: Any) -> Any:
        if not webargs_core.is_json(req.mimetype):
            return webargs_core.missing
        return parse_json(req.get_data(cache=True))

    def _handle_invalid_json_error(self, error: Any, req: Any, *args: Any, **kwargs: Any) -> Any:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "not UTF-8"
        abort(400, exc=error, messages={"json": {"_body": [f"Invalid JSON body: {reason}."]}})


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint parsing with :class:`Parser`: every API module uses it."""

    ARGUMENTS_PARSER = Parser()


def refuses(**codes: int) -> Any:
    """Document the refusals particular to one operation, each as problem+json with its
    ``code``: ``@refuses(shop_exists=409)``. Several codes may share a status."""
    by_status: dict[int, list[str]] = {}
    for code, status in codes.items():
        by_status.setdefault(status, []).append(code)
    responses = {
        str(status): {
            "description": "problem+json, code " + " or ".join(f"`{c}`" for c in names),
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for status, names in by_status.items()
    }
    return flask_smorest.Blueprint.doc(responses=responses)


# --- path parameters -----------------------------------------------------------------------


class BigIntConverter(IntegerConverter):
    """``<int:...>``: a non-negative integer no larger than a BIGINT (else 404, never a
    database error). Documented in OpenAPI with its maximum."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", BIGINT_MAX)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        if len(value) > MAX_JSON_INT_DIGITS:  # int() of a huge string is slow
            from werkzeug.routing import ValidationError

            raise ValidationError()
        return int(super().to_python(value))


class CleanStringConverter(UnicodeConverter):
    """``<name>`` and ``<string:name>``: one path segment without control characters."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\\x00-\\x1f\\x7f-\\x9f]", 1)


def install_converters(app: Flask) -> None:
    """Make ``int`` and ``string`` (the default) the bounded converters; call before any
    blueprint adds its rules."""
    app.url_map.converters["int"] = BigIntConverter
    app.url_map.converters["string"] = CleanStringConverter
    app.url_map.converters["default"] = CleanStringConverter


# --- pages ---------------------------------------------------------------------------------

#: The highest ``?page=`` a list page follows (a larger offset is not a real page).
MAX_PAGE = 1_000_000


def page_number(raw: str | None) -> int:
    """``?page=`` of a list page: 1 to :data:`MAX_PAGE`; anything else is page 1."""
    text = (raw or "").strip()
    if not text.isdigit() or len(text) > 7:
        return 1
    return max(1, min(MAX_PAGE, int(text)))


#: Form fields that are <textarea>s on the pages: they keep line breaks.
MULTILINE_FORM_FIELDS = frozenset({"note", "description", "reason"})


def refuse_control_characters() -> None:
    """Before a page runs: no form or query value may carry control characters (422). The
    API has its own per-field rules (:class:`String`)."""
    if request.path.startswith("/api/"):
        return
    for name, value in request.args.items(multi=True):
        if text_problem(value) or text_problem(name):
            raise ValidationFailed(f"{name!r} {(text_problem(value) or '').lower()}".strip())
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        for name, value in request.form.items(multi=True):
            problem = text_problem(value, multiline=name in MULTILINE_FORM_FIELDS)
            if problem or text_problem(name):
                raise ValidationFailed(
                    "the form holds a character that cannot be stored",
                    errors={name[:100]: [problem or "Invalid field name."]},
                )
