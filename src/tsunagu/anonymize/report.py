"""The HTML report of a run: a self-contained page with inline SVG charts.

Each chart is followed by a table of the same figures (the text alternative
for screen readers and for anyone who wants the numbers), the page declares
its language and uses a plain heading structure, and nothing needs JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tsunagu.core.rendering import environment

LABELS: dict[str, dict[str, str]] = {
    "ja": {
        "title": "匿名加工レポート",
        "summary": "概要",
        "input": "入力",
        "output": "出力",
        "rows": "件数",
        "algorithm": "手法",
        "requested": "指定値",
        "achieved": "達成値",
        "suppressed": "削除したレコード",
        "loss": "情報損失",
        "ncp": "属性ごとの情報損失 (NCP)",
        "metric": "指標",
        "value": "値",
        "risk": "再識別リスク",
        "risk_chart": "加工前と加工後の再識別リスク",
        "before": "加工前",
        "after": "加工後",
        "steps": "加工の手順 (個人情報保護委員会規則に基づく措置)",
        "levels": "一般化の階層",
        "attribute": "属性",
        "level": "階層",
        "chart_note": "グラフと同じ数値を表に示します。",
        "optimal": "全域一般化 (最適解探索)",
        "mondrian": "多次元分割 (Mondrian, 局所再符号化)",
        "none": "なし",
        "prosecutor_highest": "検察官モデル (最大)",
        "prosecutor_average": "検察官モデル (平均)",
        "journalist_highest": "ジャーナリストモデル (最大)",
        "marketer_average": "マーケターモデル (平均)",
        "records_at_risk": "リスクが閾値を超えるレコードの割合",
    },
    "en": {
        "title": "Anonymization report",
        "summary": "Summary",
        "input": "Input",
        "output": "Output",
        "rows": "Rows",
        "algorithm": "Method",
        "requested": "Requested",
        "achieved": "Achieved",
        "suppressed": "Suppressed records",
        "loss": "Information loss",
        "ncp": "Information loss per attribute (NCP)",
        "metric": "Metric",
        "value": "Value",
        "risk": "Re-identification risk",
        "risk_chart": "Re-identification risk before and after",
        "before": "Before",
        "after": "After",
        "steps": "Processing steps (PPC rules)",
        "levels": "Generalization levels",
        "attribute": "Attribute",
        "level": "Level",
        "chart_note": "The table gives the same figures as the chart.",
        "optimal": "full-domain generalization (optimal search)",
        "mondrian": "multidimensional partitioning (Mondrian, local recoding)",
        "none": "none",
        "prosecutor_highest": "prosecutor (highest)",
        "prosecutor_average": "prosecutor (average)",
        "journalist_highest": "journalist (highest)",
        "marketer_average": "marketer (average)",
        "records_at_risk": "share of records above the risk threshold",
    },
}

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


def _risk_rows(report: dict[str, Any], t: dict[str, str]) -> list[tuple[str, list[float]]]:
    before, after = report["risk_before"], report["risk_after"]
    pick = [
        ("prosecutor_highest", "prosecutor", "highest"),
        ("prosecutor_average", "prosecutor", "average"),
        ("journalist_highest", "journalist", "highest"),
        ("marketer_average", "marketer", "average"),
        ("records_at_risk", "prosecutor", "records_at_risk"),
    ]
    return [(t[label], [before[model][key], after[model][key]]) for label, model, key in pick]


def render_html(report: dict[str, Any], language: str = "ja") -> str:
    """The report page in ``language`` (``ja`` or ``en``)."""
    language = language if language in LABELS else "ja"
    ncp_rows = [(name, [value]) for name, value in report["loss"]["ncp"].items()]
    risk_rows = _risk_rows(report, LABELS[language])
    ncp_bars, risk_bars = _bars(ncp_rows), _bars(risk_rows)
    return (
        environment()
        .get_template("anonymize/report.html")
        .render(
            lang=language,
            t=LABELS[language],
            report=report,
            ncp_rows=ncp_rows,
            risk_rows=risk_rows,
            ncp_bars=ncp_bars,
            risk_bars=risk_bars,
            ncp_height=ncp_bars[-1].y + BAR_HEIGHT + 4 if ncp_bars else BAR_HEIGHT,
            risk_height=risk_bars[-1].y + BAR_HEIGHT + 4,
            label_width=LABEL_WIDTH,
            plot_width=PLOT_WIDTH,
            bar_height=BAR_HEIGHT,
        )
    )
