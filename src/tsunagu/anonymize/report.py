"""The HTML report of a run: a self-contained page with inline SVG charts.

Each chart is followed by a table of the same figures (the text alternative
for screen readers and for anyone who wants the numbers), the page declares
its language and uses a plain heading structure, and nothing needs JavaScript.
The wording comes from the ``anonymize`` message catalog; the same partial
(``anonymize/_report.html``) shows a run's figures on the officials' pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tsunagu.core.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, translations
from tsunagu.core.rendering import environment

ALGORITHM_NAMES = {
    "optimal": N_("full-domain generalization (optimal search)"),
    "mondrian": N_("multidimensional partitioning (Mondrian, local recoding)"),
}
RISK_ROWS = (
    (N_("prosecutor (highest)"), "prosecutor", "highest"),
    (N_("prosecutor (average)"), "prosecutor", "average"),
    (N_("journalist (highest)"), "journalist", "highest"),
    (N_("marketer (average)"), "marketer", "average"),
    (N_("share of records above the risk threshold"), "prosecutor", "records_at_risk"),
)

BAR_HEIGHT = 22
LABEL_WIDTH = 270
PLOT_WIDTH = 360


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    y: int
    width: float
    series: int  # 0 or 1: which colour (before/after)


def _bars(rows: list[tuple[str, list[float]]]) -> list[Bar]:
    bars, y = [], 0
    for label, values in rows:
        for series, value in enumerate(values):
            bars.append(Bar(label, value, y, max(0.0, min(1.0, value)) * PLOT_WIDTH, series))
            y += BAR_HEIGHT
        y += 8
    return bars


def _risk_rows(
    report: dict[str, Any], gettext: Callable[[str], str]
) -> list[tuple[str, list[float]]]:
    before, after = report["risk_before"], report["risk_after"]
    return [
        (gettext(label), [before[model][key], after[model][key]]) for label, model, key in RISK_ROWS
    ]


def chart_context(report: dict[str, Any], gettext: Callable[[str], str]) -> dict[str, Any]:
    """What ``anonymize/_report.html`` needs besides the report and ``_``."""
    ncp_rows = [(name, [value]) for name, value in report["loss"]["ncp"].items()]
    risk_rows = _risk_rows(report, gettext)
    ncp_bars, risk_bars = _bars(ncp_rows), _bars(risk_rows)
    return {
        "report": report,
        "algorithm_names": ALGORITHM_NAMES,
        "ncp_rows": ncp_rows,
        "risk_rows": risk_rows,
        "ncp_bars": ncp_bars,
        "risk_bars": risk_bars,
        "ncp_height": ncp_bars[-1].y + BAR_HEIGHT + 4 if ncp_bars else BAR_HEIGHT,
        "risk_height": risk_bars[-1].y + BAR_HEIGHT + 4,
        "label_width": LABEL_WIDTH,
        "plot_width": PLOT_WIDTH,
        "bar_height": BAR_HEIGHT,
    }


def render_html(report: dict[str, Any], language: str = "ja") -> str:
    """The standalone report page in ``language`` (``ja`` or ``en``)."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    gettext = translations(language).gettext
    page = environment().get_template("anonymize/report.html")
    return page.render(lang=language, _=gettext, **chart_context(report, gettext))
