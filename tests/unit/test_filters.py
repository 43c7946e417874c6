"""The template filters' one home (credits/web/filters.py)."""

from datetime import UTC, datetime

import pytest
from flask import Flask

from credits.web.filters import london, london_day, register_filters, signed


def test_a_filter_name_can_be_registered_only_once():
    app = Flask(__name__)
    register_filters(app)
    with pytest.raises(RuntimeError, match="london"):
        register_filters(app)


def test_london_shows_london_time_with_or_without_the_time():
    summer = datetime(2026, 7, 1, 13, 5, tzinfo=UTC)  # BST: 14:05 in London
    assert london(summer) == "1 Jul 2026, 14:05"
    assert london(summer, False) == "1 Jul 2026" and london_day(summer) == "1 July 2026"
    assert london(None) == "–" and london_day(None) == ""
    assert signed(-5) == "\u22125" and signed(3) == "+3" and signed(0) == "0"
