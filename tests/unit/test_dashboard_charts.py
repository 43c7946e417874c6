"""The dashboard's server-drawn SVG charts: scale, accessible names, escaped text."""

from __future__ import annotations

import re

import pytest

from credits.dashboard import charts


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20), (45, 50), (51, 100), (1234, 2000)],
)
def test_nice_ceiling(value, ceiling):
    assert charts.nice_ceiling(value) == ceiling


def test_a_bar_chart_is_a_named_image_whose_description_reads_every_number():
    svg = str(
        charts.bar_chart(
            "c",
            "Issued & redeemed <per month>",
            ["Dec 2025", "Jan 2026"],
            [
                charts.Series("Issued", [120, 0], charts.ISSUED_COLOUR),
                charts.Series("Redeemed", [45, 7], charts.REDEEMED_COLOUR),
            ],
            "credits",
        )
    )
    assert svg.startswith('<svg class="chart"') and 'role="img"' in svg
    assert 'aria-labelledby="c-title c-desc"' in svg
    assert '<title id="c-title">Issued &amp; redeemed &lt;per month&gt;</title>' in svg
    desc = re.search(r'<desc id="c-desc">(.*?)</desc>', svg)
    assert desc and desc.group(1) == (
        "Dec 2025: issued 120 credits, redeemed 45 credits; "
        "Jan 2026: issued 0 credits, redeemed 7 credits"
    )
    # Four bars (Dec issued, Dec redeemed, Jan issued, Jan redeemed) on a scale of 200.
    bar = r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"'
    heights = [float(h) for h in re.findall(bar, svg)][:4]
    plot_h = charts.HEIGHT - charts.TOP - charts.BOTTOM
    assert heights == [
        pytest.approx(plot_h * 120 / 200, abs=0.1),
        pytest.approx(plot_h * 45 / 200, abs=0.1),
        0.0,
        pytest.approx(plot_h * 7 / 200, abs=0.1),
    ]


def test_a_step_chart_reads_its_values_out():
    svg = str(
        charts.step_chart(
            "l",
            "Liability",
            ["Oct", "Nov"],
            charts.Series("Outstanding", [70, 1500], "#000"),
            "credits",
        )
    )
    assert '<desc id="l-desc">Oct: 70 credits; Nov: 1,500 credits</desc>' in svg
    assert svg.count("<circle") == 2 and "<polyline" in svg
