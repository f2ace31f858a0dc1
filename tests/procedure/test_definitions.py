"""The procedure pack loads, every definition is consistent, broken files are refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tsunagu.packs import PackError, load_file
from tsunagu.procedure import definitions
from tsunagu.procedure.definitions import get_procedure, procedures
from tsunagu.procedure.service import fill

PACK = Path(definitions.__file__).resolve().parents[1] / "packs" / "jp" / "procedures"
EXPECTED = {
    "tenshutsu": "転出届",
    "tennyu": "転入届",
    "tenkyo": "転居届",
    "kokuho": "国民健康保険の加入・喪失の届出",
    "jidou_teate": "児童手当の認定請求",
    "hoiku": "保育所等の利用申込み",
    "kaigo_nintei": "要介護認定の申請",
    "shibou": "死亡届",
    "juminhyo_kofu": "住民票の写しの交付請求",
    "kazei_shomei_kofu": "課税証明書の交付請求",
    "risai_shomei": "罹災証明書の交付申請",
    "hisaisha_shien": "被災者生活再建支援金の支給申請",
    "shikaku_shutoku": "健康保険・厚生年金保険 被保険者資格取得届",
    "shussei": "出生届",
    "kodomo_iryo": "子ども医療費助成の申請",
    "jidosha_henko": "自動車の変更登録（住所の変更）",
    # the employers' one-stop (入社・退社)
    "shikaku_soshitsu": "健康保険・厚生年金保険 被保険者資格喪失届",
    "koyou_shutoku": "雇用保険被保険者資格取得届",
    "koyou_soshitsu": "雇用保険被保険者資格喪失届",
    "jyuminzei_idou": "給与所得者異動届出書（住民税の特別徴収）",
    # a recipient's further child (the birth bundle)
    "jidou_teate_gakukaitei": "児童手当の額改定請求",
    # a certified member moving in (the moving bundle)
    "kaigo_tennyu": "介護保険の転入の届出（要介護認定の引継ぎ）",
}


def test_the_thirteen_japanese_procedures_load() -> None:
    loaded = procedures()
    assert {k: v.name.ja for k, v in loaded.items()} == EXPECTED
    for definition in loaded.values():
        assert definition.name.en and definition.legal_basis.ja and definition.legal_basis.en
        assert all(f.label.ja and f.label.en for f in definition.form.fields)


def test_tennyu_fetches_instead_of_attaching_and_updates_the_register() -> None:
    tennyu = get_procedure("tennyu")
    assert tennyu.owner.mode == "form" and tennyu.owner.path == "new_address.municipality_code"
    assert [e.type_id for e in tennyu.evidence] == ["juminhyo"]
    assert tennyu.evidence[0].replaces.ja == "転出証明書"
    assert (tennyu.ial, tennyu.aal) == (3, 2)
    assert tennyu.effects[0].registry == "juki"
    assert [f.path for f in tennyu.form.fields][:2] == ["moved_in_on", "new_address.postal_code"]
    required = {f.path for f in tennyu.form.fields if f.required}
    assert "new_address.town" in required and "new_address.building" not in required


def test_employer_procedure_is_for_representatives_of_a_corporation() -> None:
    shikaku = get_procedure("shikaku_shutoku")
    assert shikaku.applicants == ("representative",)
    assert shikaku.subject_kind == "organization"
    assert shikaku.owner.function == "pension_service"


def test_online_fee_discount() -> None:
    fee = get_procedure("juminhyo_kofu").fee
    assert (fee.paper, fee.online) == (300, 200)
    assert [e.id for e in fee.exemptions] == ["public_assistance"]


def test_unknown_procedure_is_not_found() -> None:
    with pytest.raises(Exception) as raised:
        get_procedure("nope")
    assert getattr(raised.value, "code", None) == "unknown_procedure"


def _broken(tmp_path: Path, change: Any) -> str:
    raw = load_file(PACK / "tennyu.yaml")
    change(raw)
    path = tmp_path / "tennyu.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PackError) as raised:
        definitions._parse(load_file(path), path)
    assert str(path) in str(raised.value)
    return str(raised.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(applicants=["anyone"]), "applicants"),
        (lambda r: r.update(category="misc"), "category"),
        (lambda r: r["assurance"].update(ial=4), "assurance"),
        (lambda r: r.update(exchange_procedure="nothing"), "legal-basis matrix"),
        (
            lambda r: r["evidence"].append(
                {"type": "touki", "replaces": r["evidence"][0]["replaces"]}
            ),
            "no provision",
        ),
        (
            lambda r: r["evidence"].append({"type": "x", "replaces": {"ja": "a", "en": "b"}}),
            "unknown evidence",
        ),
        (lambda r: r["form"]["fields"].pop(), "every schema leaf"),
        (
            lambda r: r["form"]["fields"].append({"path": "nope", "label": {"ja": "a", "en": "b"}}),
            "not a leaf",
        ),
        (lambda r: r["form"]["schema"].pop("additionalProperties"), "closed object"),
        # a check refuses one form field, with a safe rule and a message in ja and en
        (
            lambda r: r["form"].update(
                checks=[{"path": "nope", "when": True, "message": {"ja": "a", "en": "b"}}]
            ),
            "path of a form field",
        ),
        (
            lambda r: r["form"].update(
                checks=[{"path": "moved_in_on", "when": {"exec": "x"}, "message": {"ja": "a"}}]
            ),
            "unknown rule operator",
        ),
        (
            lambda r: r["form"].update(checks=[{"path": "moved_in_on", "when": True}]),
            "message: needs text",
        ),
        (lambda r: r["form"].update(checks={"path": "moved_in_on"}), "form.checks must be a list"),
        (lambda r: r["auto_decision"][0].update(when={"exec": "rm -rf"}), "unknown rule operator"),
        (lambda r: r["auto_decision"][0].update(decision="maybe"), "decision"),
        (lambda r: r["effects"][0]["patch"].update(status="$secrets.key"), "must start with"),
        # $item only in an effect made for each item of a list, and each is a $path
        (lambda r: r["effects"][0]["patch"].update(status="$item.status"), "must start with"),
        (lambda r: r["effects"][0].update(each="members"), "each is a $path"),
        (lambda r: r["effects"][0]["patch"].update(status="$item_evidence.x"), "must start with"),
        # $date_offset takes [date, whole days]; valid_from is a $path or one shifted
        (
            lambda r: r["effects"][0].update(valid_from={"$date_offset": ["$form.x", "1"]}),
            "$date_offset stands alone",
        ),
        (
            lambda r: r["effects"][0].update(valid_from={"$date_offset": ["2024-01-01", 1]}),
            "needs valid_from",
        ),
        # evidence about each item of a form list names no one person too
        (
            lambda r: r["evidence"].append(
                {**r["evidence"][0], "each": "form.x", "about": "subject"}
            ),
            "evidence 'each'",
        ),
        (
            lambda r: r["evidence"].append({**r["evidence"][0], "each": "$form.x"}),
            "evidence 'each'",
        ),
        # $append takes [list, item]; $record (the record changed) only in what is changed
        (
            lambda r: r["effects"][0]["patch"].update(status={"$append": ["$form.x"]}),
            "$append stands alone",
        ),
        (lambda r: r["effects"][0].update(subject="$record.id"), "must start with"),
        (lambda r: r["owner"].update({"from": "anywhere"}), "owner.from"),
        (lambda r: r.update(fee={"paper": 100, "online": 200}), "online"),
        (lambda r: r.pop("legal_basis"), "legal_basis"),
    ],
)
def test_broken_definitions_are_refused(tmp_path: Path, change: Any, message: str) -> None:
    assert message in _broken(tmp_path, change)


@pytest.mark.parametrize(
    ("day", "days", "shifted"),
    [
        ("2026-02-28", 1, "2026-03-01"),
        ("2024-12-31", 1, "2025-01-01"),
        ("2024-03-01", -1, "2024-02-29"),
    ],
)
def test_a_template_shifts_a_date(day: str, days: int, shifted: str) -> None:
    """国民健康保険法 第8条: a death on ``day`` ends the enrolment on the next day."""
    template = {"lost_on": {"$date_offset": ["$form.death_date", days]}}
    assert fill(template, {"form": {"death_date": day}}) == {"lost_on": shifted}
    assert fill(template, {"form": {}}) == {"lost_on": None}  # no date: nothing made up
