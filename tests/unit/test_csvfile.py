"""credits/csvfile.py: formula cells neutralised, numbers left alone; the only CSV writer."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from credits import csvfile

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "cell,written",
    [
        ("=1+2", "'=1+2"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("-", "'-"),
        # Numbers are numbers: ints, decimals, and text that is only a decimal number.
        (-5, -5),
        (0, 0),
        (Decimal("-1.50"), Decimal("-1.50")),
        ("-12.50", "-12.50"),
        ("+3", "+3"),
        ("14.50", "14.50"),
        # Ordinary text is untouched.
        ("Brixton Bakery", "Brixton Bakery"),
        ("a=b", "a=b"),
        ("", ""),
        (None, None),
    ],
)
def test_neutralise(cell, written):
    assert csvfile.neutralise(cell) == written


def test_the_writer_neutralises_every_row():
    out = io.StringIO()
    w = csvfile.writer(out, lineterminator="\n")
    w.writerow(["=cmd", -3, "-3", "ok"])
    w.writerows([["@x"], [1]])
    assert out.getvalue() == "'=cmd,-3,-3,ok\n'@x\n1\n"


def test_no_other_module_writes_csv():
    """Every CSV export goes through credits/csvfile.py (a new one cannot forget to)."""
    pattern = re.compile(r"csv\.(writer|DictWriter)\(")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("credits", "shop_terminal")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "csvfile.py"
        and "bench" not in path.parts
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
