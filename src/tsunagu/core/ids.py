"""Japanese identity numbers: 個人番号, 法人番号 and 全国地方公共団体コード.

Each kind has a validator returning a reason (so the CLI and forms can say
*why* a number is wrong) and a generator used by the demo world and tests.
Full-width digits are accepted and normalised, as people type them.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class IdKind(StrEnum):
    MYNUMBER = "mynumber"
    CORPORATE = "corporate"
    LGCODE = "lgcode"


LENGTHS = {IdKind.MYNUMBER: 12, IdKind.CORPORATE: 13, IdKind.LGCODE: 6}
LABELS = {
    IdKind.MYNUMBER: ("個人番号", "individual number"),
    IdKind.CORPORATE: ("法人番号", "corporate number"),
    IdKind.LGCODE: ("地方公共団体コード", "local government code"),
}


@dataclass(frozen=True)
class Check:
    """Outcome of a validation; ``reason_*`` is empty when valid."""

    valid: bool
    normalized: str
    reason_ja: str = ""
    reason_en: str = ""


def normalize(raw: str) -> str:
    """NFKC (全角→半角) and strip surrounding blanks and common separators."""
    text = unicodedata.normalize("NFKC", raw).strip()
    return text.replace("-", "").replace(" ", "")


def mynumber_check_digit(first11: str) -> int:
    total = 0
    for n in range(1, 12):
        p = int(first11[11 - n])
        q = n + 1 if n <= 6 else n - 5
        total += p * q
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def corporate_check_digit(last12: str) -> int:
    total = 0
    for n in range(1, 13):
        p = int(last12[12 - n])
        total += p * (1 if n % 2 else 2)
    return 9 - (total % 9)


def lgcode_check_digit(first5: str) -> int:
    total = sum(int(d) * w for d, w in zip(first5, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def _expected_and_actual(kind: IdKind, digits: str) -> tuple[int, int]:
    if kind is IdKind.MYNUMBER:
        return mynumber_check_digit(digits[:11]), int(digits[11])
    if kind is IdKind.CORPORATE:
        return corporate_check_digit(digits[1:]), int(digits[0])
    return lgcode_check_digit(digits[:5]), int(digits[5])


def check(kind: IdKind | str, raw: str) -> Check:
    """Validate ``raw`` as ``kind`` and say why not, in Japanese and English."""
    kind = IdKind(kind)
    digits = normalize(raw)
    label_ja, label_en = LABELS[kind]
    length = LENGTHS[kind]
    if not digits.isascii() or not digits.isdigit():
        return Check(
            False,
            digits,
            f"{label_ja}は数字のみで入力してください",
            f"{label_en} must contain digits only",
        )
    if len(digits) != length:
        return Check(
            False,
            digits,
            f"{label_ja}は{length}桁です（{len(digits)}桁が入力されました）",
            f"{label_en} must have {length} digits, got {len(digits)}",
        )
    expected, actual = _expected_and_actual(kind, digits)
    if expected != actual:
        return Check(
            False,
            digits,
            f"{label_ja}のチェックデジットが正しくありません",
            f"{label_en} has a wrong check digit (expected {expected}, got {actual})",
        )
    return Check(True, digits)


def is_valid_mynumber(raw: str) -> bool:
    return check(IdKind.MYNUMBER, raw).valid


def is_valid_corporate(raw: str) -> bool:
    return check(IdKind.CORPORATE, raw).valid


def is_valid_lgcode(raw: str) -> bool:
    return check(IdKind.LGCODE, raw).valid


def complete(kind: IdKind | str, body: str) -> str:
    """Add the check digit to ``body`` (the number without it) in the right place."""
    kind = IdKind(kind)
    if kind is IdKind.MYNUMBER:
        return body + str(mynumber_check_digit(body))
    if kind is IdKind.CORPORATE:
        return str(corporate_check_digit(body)) + body
    return body + str(lgcode_check_digit(body))


def generate(kind: IdKind | str, rng: random.Random) -> str:
    """A random valid number of ``kind`` drawn from ``rng`` (deterministic per seed)."""
    kind = IdKind(kind)
    body_length = LENGTHS[kind] - 1
    body = "".join(str(rng.randrange(10)) for _ in range(body_length))
    return complete(kind, body)
