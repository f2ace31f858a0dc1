"""Errors of the anonymization engine, each with a Japanese and English message."""

from __future__ import annotations

from collections.abc import Iterable

from tsunagu.core.errors import ValidationError


class AnonymizeError(ValidationError):
    """Raised for any input or configuration the engine cannot process."""


def _sample(values: Iterable[object], limit: int = 5) -> str:
    items = [repr(v) for v in values]
    more = f" … (+{len(items) - limit})" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def bad_config(detail: str) -> AnonymizeError:
    return AnonymizeError(
        "anonymize.bad_config",
        f"匿名加工の設定が正しくありません: {detail}",
        f"invalid anonymization configuration: {detail}",
    )


def unknown_columns(columns: Iterable[str], available: Iterable[str]) -> AnonymizeError:
    names, known = _sample(columns), _sample(available, limit=20)
    return AnonymizeError(
        "anonymize.unknown_column",
        f"設定にある列がデータにありません: {names}(データの列: {known})",
        f"columns named in the configuration are not in the data: {names} (data has: {known})",
    )


def hierarchy_gap(column: str, values: Iterable[object]) -> AnonymizeError:
    sample = _sample(values)
    return AnonymizeError(
        "anonymize.hierarchy_gap",
        f"列「{column}」の階層に含まれない値があります: {sample}",
        f"the hierarchy of column '{column}' does not cover these values: {sample}",
    )


def unsatisfiable(detail_ja: str, detail_en: str) -> AnonymizeError:
    return AnonymizeError(
        "anonymize.unsatisfiable",
        f"指定したプライバシー基準を満たす加工ができません: {detail_ja}",
        f"no transformation satisfies the privacy requirements: {detail_en}",
    )


def bad_input(detail_ja: str, detail_en: str) -> AnonymizeError:
    return AnonymizeError(
        "anonymize.bad_input",
        f"入力データを処理できません: {detail_ja}",
        f"cannot process the input data: {detail_en}",
    )
