"""Identity numbers: published test values and hypothesis properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.core.ids import LENGTHS, IdKind, check, generate

VALID = [
    (IdKind.MYNUMBER, "123456789018"),
    (IdKind.CORPORATE, "7000012050002"),
    (IdKind.CORPORATE, "1180301018771"),
    (IdKind.LGCODE, "131016"),
    (IdKind.LGCODE, "011002"),
    (IdKind.LGCODE, "271004"),
]


@pytest.mark.parametrize(("kind", "number"), VALID)
def test_published_values_are_valid(kind: IdKind, number: str) -> None:
    assert check(kind, number).valid


def test_corporate_with_wrong_check_digit_is_rejected() -> None:
    result = check(IdKind.CORPORATE, "7000012050003")
    assert not result.valid
    assert "check digit" in result.reason_en
    assert "チェックデジット" in result.reason_ja


def test_full_width_digits_are_normalized() -> None:
    result = check(IdKind.MYNUMBER, "１２３４５６７８９０１８")
    assert result.valid and result.normalized == "123456789018"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("12345678901", "12 digits"),
        ("1234567890188", "12 digits"),
        ("12345678901a", "digits only"),
        ("", "digits only"),
    ],
)
def test_malformed_mynumber_says_why(raw: str, fragment: str) -> None:
    result = check(IdKind.MYNUMBER, raw)
    assert not result.valid and fragment in result.reason_en


# An independent oracle: the weights of DESIGN.md written out left to right,
# rather than derived position by position as the implementation does.
MYNUMBER_WEIGHTS = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2]  # Qn for n = 11 … 1
LGCODE_WEIGHTS = [6, 5, 4, 3, 2]
CORPORATE_WEIGHTS = [2, 1] * 6  # Qn for n = 12 … 1 (even n → 2)


def oracle_valid(kind: IdKind, number: str) -> bool:
    digits = [int(c) for c in number]
    if kind is IdKind.MYNUMBER:
        r = sum(d * w for d, w in zip(digits[:11], MYNUMBER_WEIGHTS, strict=True)) % 11
        return digits[11] == (0 if r <= 1 else 11 - r)
    if kind is IdKind.CORPORATE:
        r = sum(d * w for d, w in zip(digits[1:], CORPORATE_WEIGHTS, strict=True)) % 9
        return digits[0] == 9 - r
    r = sum(d * w for d, w in zip(digits[:5], LGCODE_WEIGHTS, strict=True)) % 11
    return digits[5] == (11 - r) % 10


kinds = st.sampled_from(list(IdKind))
numbers = st.tuples(kinds, st.integers(min_value=0, max_value=2**32)).map(
    lambda ks: (ks[0], generate(ks[0], random.Random(ks[1])))
)


@given(numbers)
def test_every_generated_number_validates(kind_number: tuple[IdKind, str]) -> None:
    kind, number = kind_number
    assert len(number) == LENGTHS[kind]
    assert check(kind, number).valid and oracle_valid(kind, number)


@given(numbers, st.data())
def test_single_digit_changes_are_rejected_where_detectable(
    kind_number: tuple[IdKind, str], data: st.DataObject
) -> None:
    """Rejected exactly when the scheme can see the change.

    Weights are coprime to the modulus, so a change always moves the weighted
    remainder; it escapes only where two remainders share a check digit
    (個人番号: 0 and 1; 団体コード: 0 and 10) or, for 法人番号 (mod 9), when
    a digit 0 becomes 9 or back.
    """
    kind, number = kind_number
    position = data.draw(st.integers(min_value=0, max_value=LENGTHS[kind] - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    changed = number[:position] + digit + number[position + 1 :]
    assert check(kind, changed).valid is oracle_valid(kind, changed)
    if kind is IdKind.CORPORATE and check(kind, changed).valid:
        assert {number[position], digit} == {"0", "9"}


@given(numbers, st.data())
def test_adjacent_transpositions_are_rejected_where_detectable(
    kind_number: tuple[IdKind, str], data: st.DataObject
) -> None:
    kind, number = kind_number
    i = data.draw(st.integers(min_value=0, max_value=LENGTHS[kind] - 2))
    swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
    if swapped != number:
        assert check(kind, swapped).valid is oracle_valid(kind, swapped)


@given(numbers)
def test_changing_the_check_digit_is_always_rejected(kind_number: tuple[IdKind, str]) -> None:
    kind, number = kind_number
    position = 0 if kind is IdKind.CORPORATE else LENGTHS[kind] - 1
    for digit in "0123456789":
        if digit != number[position]:
            assert not check(kind, number[:position] + digit + number[position + 1 :]).valid


def test_mynumber_detects_every_single_body_digit_change_that_moves_the_remainder() -> None:
    """Exhaustive over one number: the mod-11 scheme catches the large majority of changes."""
    number = "123456789018"
    caught = total = 0
    for position in range(12):
        for digit in "0123456789":
            if digit == number[position]:
                continue
            total += 1
            caught += not check(
                IdKind.MYNUMBER, number[:position] + digit + number[position + 1 :]
            ).valid
    assert caught / total > 0.85
