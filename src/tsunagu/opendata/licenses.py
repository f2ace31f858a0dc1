"""Licences offered to publishers (CKAN ``license_list``).

政府標準利用規約 2.0 is compatible with CC BY 4.0 (the Digital Agency says so in
the terms themselves), so both are ``od_conformance: approved``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class License:
    id: str
    title: str
    title_en: str
    url: str
    open: bool

    def as_ckan(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("open")
        data.update(
            od_conformance="approved" if self.open else "not reviewed",
            osd_conformance="not reviewed",
            status="active",
            maintainer="",
            family="",
            domain_content=self.open,
            domain_data=self.open,
            domain_software=False,
            is_generic=False,
        )
        return data


LICENSES: tuple[License, ...] = (
    License(
        "cc-by-4.0",
        "クリエイティブ・コモンズ 表示 4.0 国際",
        "Creative Commons Attribution 4.0 International",
        "https://creativecommons.org/licenses/by/4.0/",
        True,
    ),
    License(
        "gov-jp-2.0",
        "公共データ利用規約（第1.0版）・政府標準利用規約（第2.0版）",
        "Public Data License / Government of Japan Standard Terms of Use 2.0",
        "https://www.digital.go.jp/resources/open_data/public_data_license_v1.0",
        True,
    ),
    License(
        "cc0-1.0",
        "CC0 1.0 全世界 パブリック・ドメイン提供",
        "Creative Commons CC0 1.0 Universal",
        "https://creativecommons.org/publicdomain/zero/1.0/",
        True,
    ),
    License(
        "cc-by-sa-4.0",
        "クリエイティブ・コモンズ 表示-継承 4.0 国際",
        "Creative Commons Attribution-ShareAlike 4.0 International",
        "https://creativecommons.org/licenses/by-sa/4.0/",
        True,
    ),
    License("other-closed", "その他（非オープン）", "Other (not open)", "", False),
)
BY_ID = {license.id: license for license in LICENSES}


def get(license_id: str) -> License | None:
    return BY_ID.get(license_id)
