"""The Japanese example: a resident table, municipalities generalized to prefectures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import polars as pl
from pycanon import anonymity
from typer.testing import CliRunner

from tsunagu.anonymize.hierarchy import prefecture_names
from tsunagu.anonymize.report import render_html
from tsunagu.anonymize.synthetic import RESIDENT_CONFIG, write_residents
from tsunagu.cli import app

QI = ["age", "sex", "municipality", "household_size"]


def test_cli_run_with_configuration(tmp_path: Path) -> None:
    source = write_residents(tmp_path / "residents.csv", 30_000, prefectures=("13", "14", "27"))
    config = tmp_path / "residents.yaml"
    config.write_text(RESIDENT_CONFIG, encoding="utf-8")
    out, report_path, html = tmp_path / "out.csv", tmp_path / "r.json", tmp_path / "r.html"
    result = CliRunner().invoke(
        app,
        [
            "anonymize",
            "run",
            "--config",
            str(config),
            "--in",
            str(source),
            "--out",
            str(out),
            "--report",
            str(report_path),
            "--html",
            str(html),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    released = pl.read_csv(out, infer_schema_length=0)
    # municipality → prefecture: every released value is a prefecture name
    assert report["search"]["levels"]["municipality"] == 1
    assert set(released["municipality"]) <= {"東京都", "神奈川県", "大阪府"}
    assert "resident_id" not in released.columns
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert anonymity.k_anonymity(frame, QI) >= 10
    assert report["suppressed_rows"] <= 0.02 * 30_000
    steps = {s["step"]: s for s in report["steps"]}
    assert steps["linking_code_deletion"]["columns"] == ["resident_id"]
    assert steps["peculiar_description_deletion"]["top_bottom_coding"][0]["top"] == 90
    assert "担当課" in steps["other_measures"]["notes"][0]
    assert (
        report["risk_before"]["prosecutor"]["highest"]
        > report["risk_after"]["prosecutor"]["highest"]
    )
    assert report["risk_after"]["prosecutor"]["highest"] <= 0.1
    assert '<html lang="ja">' in html.read_text(encoding="utf-8")


def test_report_html_is_accessible_in_both_languages(tmp_path: Path) -> None:
    source = write_residents(tmp_path / "residents.csv", 3_000, prefectures=("13",))
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        app,
        [
            "anonymize",
            "run",
            "--in",
            str(source),
            "--out",
            str(out),
            "--report",
            str(tmp_path / "r.json"),
            "--qi",
            "age,sex,household_size",
            "--sensitive",
            "income_band",
            "--k",
            "5",
            "--l",
            "2",
            "--keep",
            "municipality",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    for lang, title in (("ja", "匿名加工レポート"), ("en", "Anonymization report")):
        page = render_html(report, lang)
        assert f'<html lang="{lang}">' in page
        assert f"<h1>{title}</h1>" in page and "<h2" in page
        # each chart is an image with a title, followed by a table of its figures
        assert page.count('role="img"') == 2 and page.count("<title id=") == 2
        assert page.count("<caption>") >= 4 and 'scope="col"' in page


def test_prefecture_names_cover_all_47() -> None:
    names = prefecture_names()
    assert len(names) == 47 and names["01"] == "北海道" and names["47"] == "沖縄県"
