"""credits/web/forms.py: a page form read through a schema, and POST → use case → refusal."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from marshmallow import fields

from credits.api.problems import status_of
from credits.errors import Conflict, ValidationFailed
from credits.web.forms import Choices, Cut, Kept, PageForm, read_form, submit

Form = PageForm.from_dict(
    {"reason": Cut(5), "note": Kept(), "roles": Choices(None, 2)}, name="Form"
)
Strict = PageForm.from_dict({"count": fields.Integer(required=True)}, name="Strict")


@pytest.fixture
def app() -> Flask:
    return Flask(__name__)


def posted(app: Flask, data: Any) -> Any:
    return app.test_request_context("/", method="POST", data=data)


def test_text_is_cut_and_absent_fields_are_empty_or_left_out(app: Flask) -> None:
    with posted(app, {"reason": "too long a reason", "csrf_token": "x"}):
        assert read_form(Form) == {"reason": "too l", "roles": []}


def test_ticked_boxes_are_a_list_of_at_most_count(app: Flask) -> None:
    with posted(app, {"roles": ["a", "b", "c"], "note": ""}):
        assert read_form(Form) == {"reason": "", "note": "", "roles": ["a", "b"]}


def test_a_get_reads_the_defaults_or_the_query(app: Flask) -> None:
    with app.test_request_context("/?note=prefilled"):
        assert read_form(Form) == {"reason": "", "roles": []}
        assert read_form(Form, "query")["note"] == "prefilled"


def test_the_use_case_gets_the_values_and_its_result_is_kept(app: Flask) -> None:
    with posted(app, {"reason": "ok"}):
        sent = submit(Form, lambda form: form["reason"].upper())
    assert (sent.result, sent.refusal, sent.values["reason"]) == ("OK", None, "ok")


def test_a_refusal_is_kept_with_the_values_to_show_again(app: Flask) -> None:
    def refuse(form: dict[str, Any]) -> None:
        raise Conflict("no")

    with posted(app, {"reason": "why"}):
        sent = submit(Form, refuse)
    assert isinstance(sent.refusal, Conflict)
    assert sent.values["reason"] == "why" and sent.result is None


def test_a_form_that_does_not_fit_is_refused_field_by_field_not_aborted(app: Flask) -> None:
    with posted(app, {"count": "many"}):
        sent = submit(Strict, lambda form: pytest.fail("the use case ran"))
    assert isinstance(sent.refusal, ValidationFailed)
    assert status_of(sent.refusal) == 422
    assert set(sent.refusal.extra["errors"]) == {"count"}
