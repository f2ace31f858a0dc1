"""Record validation with JSON Schema, reported in Japanese and English.

``jsonschema`` finds the errors; this module turns each into a sentence that
names the field (its schema ``title`` in Japanese, its dotted path in both
languages) and the rule that was broken, so a registry keeper can fix the
record without reading the schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaViolation

from tsunagu.core.errors import ValidationError
from tsunagu.core.ids import is_valid_corporate, is_valid_lgcode, is_valid_mynumber

FORMAT_CHECKER = FormatChecker(["date", "email", "uuid"])
_KATAKANA = re.compile(r"^[\u30A0-\u30FF\u3000 ー・]+$")
_POSTAL = re.compile(r"^\d{7}$")
_REGISTRATION = re.compile(r"^\d{12}$")


@FORMAT_CHECKER.checks("lgcode")
def _lgcode(value: object) -> bool:
    return not isinstance(value, str) or is_valid_lgcode(value)


@FORMAT_CHECKER.checks("corporate-number")
def _corporate(value: object) -> bool:
    return not isinstance(value, str) or is_valid_corporate(value)


@FORMAT_CHECKER.checks("company-registration-number")
def _registration(value: object) -> bool:
    """会社法人等番号: registry office (4), legal form (2), serial (6); no check digit."""
    return not isinstance(value, str) or bool(_REGISTRATION.match(value))


# Twelve-digit identifiers that are not 個人番号 even when the My Number check digit fits.
NOT_PERSONAL_FORMATS = frozenset({"company-registration-number"})


@FORMAT_CHECKER.checks("postal-code")
def _postal(value: object) -> bool:
    return not isinstance(value, str) or bool(_POSTAL.match(value))


@FORMAT_CHECKER.checks("katakana")
def _katakana(value: object) -> bool:
    return not isinstance(value, str) or bool(_KATAKANA.match(value))


FORMAT_NAMES: dict[str, tuple[str, str]] = {
    "date": ("日付 (YYYY-MM-DD)", "a date (YYYY-MM-DD)"),
    "email": ("メールアドレス", "an e-mail address"),
    "uuid": ("UUID", "a UUID"),
    "lgcode": (
        "検査数字の正しい全国地方公共団体コード (6 桁)",
        "a valid 6-digit local government code",
    ),
    "corporate-number": ("検査数字の正しい法人番号 (13 桁)", "a valid 13-digit corporate number"),
    "postal-code": ("郵便番号 (ハイフンなし 7 桁)", "a 7-digit postal code without hyphen"),
    "company-registration-number": (
        "会社法人等番号 (12 桁)",
        "a 12-digit company registration number",
    ),
    "katakana": ("全角カタカナ", "full-width katakana"),
}
TYPE_NAMES: dict[str, tuple[str, str]] = {
    "string": ("文字列", "text"),
    "integer": ("整数", "a whole number"),
    "number": ("数値", "a number"),
    "boolean": ("真偽値", "true or false"),
    "object": ("項目の組", "an object"),
    "array": ("一覧", "a list"),
    "null": ("空", "null"),
}


@dataclass(frozen=True)
class FieldError:
    """One broken rule: where, which rule, and what to do about it."""

    path: str
    rule: str
    message_ja: str
    message_en: str

    def as_dict(self) -> dict[str, str]:
        return {
            "path": self.path,
            "rule": self.rule,
            "message_ja": self.message_ja,
            "message_en": self.message_en,
        }


class RecordInvalid(ValidationError):
    """A record does not satisfy its registry's schema; ``errors`` lists every problem."""

    def __init__(self, registry_id: str, errors: list[FieldError]) -> None:
        self.errors = errors
        first = errors[0]
        more_ja = f" (ほか {len(errors) - 1} 件)" if len(errors) > 1 else ""
        more_en = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            "invalid_record",
            f"台帳「{registry_id}」の記録に誤りがあります: {first.message_ja}{more_ja}",
            f"The {registry_id} record is invalid: {first.message_en}{more_en}",
        )

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "errors": [e.as_dict() for e in self.errors]}


def _type_name(value: Any) -> tuple[str, str]:
    names = [value] if isinstance(value, str) else list(value)
    pairs = [TYPE_NAMES.get(n, (n, n)) for n in names]
    return "または".join(p[0] for p in pairs), " or ".join(p[1] for p in pairs)


def _rule_text(error: SchemaViolation) -> tuple[str, str]:
    """(ja, en) description of the rule ``error`` broke, without the field name."""
    rule, expected = error.validator, error.validator_value
    if rule == "type":
        ja, en = _type_name(expected)
        return f"{ja}で入力してください。", f"must be {en}."
    if rule == "format":
        ja, en = FORMAT_NAMES.get(str(expected), (str(expected), str(expected)))
        return f"{ja} の形式ではありません。", f"is not {en}."
    if rule in ("enum", "const"):
        allowed = expected if rule == "enum" else [expected]
        shown = "、".join(map(str, allowed))
        return (
            f"次のいずれかを選んでください: {shown}",
            f"must be one of: {', '.join(map(str, allowed))}.",
        )
    limits = {
        "minimum": ("{v} 以上にしてください。", "must be at least {v}."),
        "maximum": ("{v} 以下にしてください。", "must be at most {v}."),
        "exclusiveMinimum": ("{v} より大きくしてください。", "must be greater than {v}."),
        "exclusiveMaximum": ("{v} より小さくしてください。", "must be less than {v}."),
        "minLength": ("{v} 文字以上で入力してください。", "must be at least {v} characters."),
        "maxLength": ("{v} 文字以内で入力してください。", "must be at most {v} characters."),
        "minItems": ("{v} 件以上必要です。", "needs at least {v} entries."),
        "maxItems": ("{v} 件以内にしてください。", "allows at most {v} entries."),
        "multipleOf": ("{v} の倍数にしてください。", "must be a multiple of {v}."),
        "pattern": ("形式が正しくありません (規則: {v})。", "does not match the pattern {v}."),
        "uniqueItems": ("同じ値が重複しています。", "contains duplicates."),
    }
    if rule in limits:
        ja, en = limits[str(rule)]
        return ja.format(v=expected), en.format(v=expected)
    if rule == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return (
            f"定義されていない項目があります: {', '.join(extra)}",
            f"has fields the registry does not define: {', '.join(extra)}.",
        )
    if rule in ("oneOf", "anyOf"):
        return "どの形式にも当てはまりません。", "matches none of the allowed shapes."
    return f"規則「{rule}」を満たしていません。", f"breaks the rule {rule!r}."


def _dotted(parts: Any) -> str:
    return ".".join(str(p) for p in parts)


class RecordValidator:
    """Validates records of one registry against its schema."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
        self._not_personal = frozenset(_paths_with_format(schema, NOT_PERSONAL_FORMATS))

    def errors(self, record: Any) -> list[FieldError]:
        found: dict[tuple[str, str], FieldError] = {}
        for error in sorted(self._validator.iter_errors(record), key=lambda e: list(e.path)):
            # ``required`` yields one error per missing field, each describing all of them.
            for described in self._describe(error):
                found.setdefault((described.path, described.rule), described)
        return [*found.values(), *_personal_numbers(record, "", self._not_personal)]

    def _describe(self, error: SchemaViolation) -> list[FieldError]:
        if error.validator == "required":
            missing = [k for k in error.validator_value if k not in (error.instance or {})]
            described = []
            for name in missing:
                path = _dotted([*error.absolute_path, name])
                title = error.schema.get("properties", {}).get(name, {}).get("title", name)
                described.append(
                    FieldError(
                        path,
                        "required",
                        f"「{title}」({path}) は必須です。",
                        f"{path} is required.",
                    )
                )
            return described
        path = _dotted(error.absolute_path) or "(record)"
        title = error.schema.get("title", path) if isinstance(error.schema, dict) else path
        ja, en = _rule_text(error)
        return [
            FieldError(path, str(error.validator), f"「{title}」({path}): {ja}", f"{path} {en}")
        ]

    def validate(self, registry_id: str, record: Any) -> None:
        errors = self.errors(record)
        if errors:
            raise RecordInvalid(registry_id, errors)


def _paths_with_format(
    node: dict[str, Any], formats: frozenset[str], prefix: str = ""
) -> list[str]:
    """Dotted paths of object properties whose schema declares one of ``formats``."""
    found = [prefix] if prefix and node.get("format") in formats else []
    for name, child in node.get("properties", {}).items():
        found += _paths_with_format(child, formats, f"{prefix}.{name}" if prefix else name)
    return found


def _personal_numbers(value: Any, path: str, exempt: frozenset[str]) -> list[FieldError]:
    """Registers never hold a 個人番号 in clear; a stray one is refused like a schema error.

    Fields whose schema declares another twelve-digit identifier (会社法人等番号)
    are exempt: their numbers fit the My Number check digit one time in eleven.
    """
    if path in exempt:
        return []
    if isinstance(value, dict):
        return [
            e
            for k, v in value.items()
            for e in _personal_numbers(v, f"{path}.{k}" if path else str(k), exempt)
        ]
    if isinstance(value, list):
        return [e for i, v in enumerate(value) for e in _personal_numbers(v, f"{path}.{i}", exempt)]
    # Only text: a 12-digit amount (資本金) is a number, never an identifier.
    if isinstance(value, str) and len(value) == 12 and value.isdigit() and is_valid_mynumber(value):
        return [
            FieldError(
                path,
                "no_individual_number",
                f"({path}): 個人番号を台帳に記録することはできません。",
                f"{path}: an individual number (個人番号) must not be stored in a register.",
            )
        ]
    return []
