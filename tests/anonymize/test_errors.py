"""Bad input gives one clear bilingual error and leaves no output behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsunagu.anonymize import engine
from tsunagu.anonymize.config import load_config, simple_config
from tsunagu.anonymize.errors import AnonymizeError

CITIES = ["131016", "011002", "271004"]
CSV = "id,age,sex,city,disease\n" + "".join(
    f"{i},{20 + i % 30},{'FM'[i % 2]},{CITIES[i % 3]},{['flu', 'cold'][i % 2]}\n" for i in range(60)
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def _fails(config_yaml: str, source: Path, code: str) -> AnonymizeError:
    output = source.parent / "out" / "released.csv"
    with pytest.raises(AnonymizeError) as caught:
        engine.run(load_config(config_yaml), source, output)
    assert caught.value.code == code
    assert caught.value.message_ja and caught.value.message_en
    assert not output.parent.exists() or list(output.parent.iterdir()) == []
    return caught.value


def test_unknown_column(source: Path) -> None:
    error = _fails(
        "attributes: {age: {role: quasi_identifier}, salary: {role: sensitive}}",
        source,
        "anonymize.unknown_column",
    )
    assert "salary" in error.message_en and "salary" in error.message_ja


def test_hierarchy_that_misses_a_value(source: Path) -> None:
    error = _fails(
        "attributes:\n  sex: {role: quasi_identifier, hierarchy: {type: tree, tree: {any: [F]}}}\n",
        source,
        "anonymize.hierarchy_gap",
    )
    assert "'M'" in error.message_en


def test_unsatisfiable_k(source: Path) -> None:
    _fails(
        "attributes: {age: {role: quasi_identifier}}\nprivacy: {k: 61}",
        source,
        "anonymize.unsatisfiable",
    )


def test_unsatisfiable_l(source: Path) -> None:
    _fails(
        "attributes: {age: {role: quasi_identifier}, disease: {role: sensitive}}\n"
        "privacy: {k: 2, l_diversity: {l: 3}}",
        source,
        "anonymize.unsatisfiable",
    )


def test_unsatisfiable_with_mondrian(source: Path) -> None:
    _fails(
        "algorithm: mondrian\nattributes: {age: {role: quasi_identifier}}\nprivacy: {k: 100}",
        source,
        "anonymize.unsatisfiable",
    )


@pytest.mark.parametrize(
    "text",
    [
        "attributes: [age]",
        "attributes: {age: {role: boss}}",
        "attributes: {age: {role: sensitive}}",
        "attributes: {age: {role: quasi_identifier}}\nprivacy: {k: 0}",
        "attributes: {age: {role: quasi_identifier}}\nsuppression_limit: 1.5",
        "attributes: {age: {role: quasi_identifier}}\nspeling: 1",
        "attributes: {age: {role: quasi_identifier}, disease: {role: insensitive}}\n"
        "privacy: {l_diversity: {l: 2}}",
        ": : :",
    ],
)
def test_invalid_configurations(text: str) -> None:
    with pytest.raises(AnonymizeError) as caught:
        load_config(text)
    assert caught.value.code == "anonymize.bad_config"


def test_an_existing_output_survives_a_failed_run(source: Path, tmp_path: Path) -> None:
    output = tmp_path / "released.csv"
    output.write_text("previous release\n")
    with pytest.raises(AnonymizeError):
        engine.run(simple_config(["age"], [], k=1000), source, output)
    assert output.read_text() == "previous release\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "released.csv"]


def test_cli_entry_point_prints_one_line(
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tsunagu.cli import main

    output = tmp_path / "out.csv"
    monkeypatch.setattr(
        "sys.argv",
        [
            "tsunagu",
            "anonymize",
            "run",
            "--in",
            str(source),
            "--out",
            str(output),
            "--qi",
            "age,nope",
            "--k",
            "2",
        ],
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "データにありません" in err[0]
    assert not output.exists()


def test_undeclared_personal_numbers_are_refused(tmp_path: Path) -> None:
    import random

    from tsunagu.core.ids import IdKind, generate

    rng = random.Random(7)
    rows = "".join(f"{generate(IdKind.MYNUMBER, rng)},{20 + i % 5}\n" for i in range(40))
    source = tmp_path / "in.csv"
    source.write_text("number,age\n" + rows, encoding="utf-8")
    config = "attributes: {number: {role: insensitive}, age: {role: quasi_identifier}}"
    error = _fails(config, source, "anonymize.bad_input")
    assert "個人番号" in error.message_ja and "number" in error.message_en
    declared = (
        "attributes:\n  number: {role: identifier, kind: identification_code}\n"
        "  age: {role: quasi_identifier}\nprivacy: {k: 5}"
    )
    report = engine.run(load_config(declared), source, tmp_path / "out.csv")
    step = next(s for s in report["steps"] if s["step"] == "identification_code_deletion")
    assert step["columns"] == ["number"]
    assert "number" not in (tmp_path / "out.csv").read_text().splitlines()[0]


def test_rare_values_are_replaced_and_recorded(tmp_path: Path) -> None:
    rows = ["a"] * 30 + ["b"] * 28 + ["z", "y"]
    source = tmp_path / "in.csv"
    source.write_text(
        "job,age\n" + "".join(f"{j},{30 + i % 3}\n" for i, j in enumerate(rows)), encoding="utf-8"
    )
    config = (
        "attributes: {job: {role: quasi_identifier}, age: {role: quasi_identifier}}\n"
        "privacy: {k: 2}\npeculiar: {rare_values: {job: {min_count: 3, replacement: other}}}"
    )
    report = engine.run(load_config(config), source, tmp_path / "out.csv")
    rare = next(s for s in report["steps"] if s["step"] == "peculiar_description_deletion")
    assert rare["rare_values"] == [{"column": "job", "min_count": 3, "values": 2, "rows": 2}]
    released = (tmp_path / "out.csv").read_text()
    assert ",z" not in released and "z," not in released and "y," not in released
