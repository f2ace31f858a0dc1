"""HTML forms for any registry record, built from the registry's JSON Schema.

Keepers edit records of eleven different registers; rather than a template
per register, each leaf of the schema becomes one form control (text, number,
date, a choice for enums and booleans, JSON for lists), labelled with the
schema's Japanese title and named by its dotted path. Submitted strings are
turned back into typed values; anything that cannot be read is reported per
field, in the same shape as the schema validator's errors, so the page shows
every problem next to its field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tsunagu.registry.definitions import RegistryDefinition, lookup
from tsunagu.registry.validation import FieldError

PREFIX = "f."


@dataclass(frozen=True)
class Field:
    """One control: the value at ``path`` in a record."""

    path: str
    title: str
    kind: str  # text, integer, number, date, choice, boolean, json
    required: bool
    choices: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return PREFIX + self.path

    @property
    def id(self) -> str:
        return "f-" + self.path.replace(".", "-")


def _kind(node: dict[str, Any]) -> str:
    if node.get("type") == "array":
        return "json"
    if "enum" in node:
        return "choice"
    if node.get("type") == "boolean":
        return "boolean"
    if node.get("type") in ("integer", "number"):
        return str(node["type"])
    return "date" if node.get("format") == "date" else "text"


def fields_of(definition: RegistryDefinition) -> list[Field]:
    """Every leaf of the record schema, in schema order."""
    return list(_fields(definition.schema, "", True))


def _fields(node: dict[str, Any], prefix: str, required: bool) -> list[Field]:
    found: list[Field] = []
    needed = set(node.get("required", []))
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        is_required = required and name in needed
        if child.get("type") == "object" and "properties" in child:
            found += _fields(child, path, is_required)
            continue
        choices = tuple(str(c) for c in child.get("enum", ()))
        found.append(Field(path, str(child.get("title", path)), _kind(child), is_required, choices))
    return found


def initial_values(fields: list[Field], data: dict[str, Any] | None) -> dict[str, str]:
    """What each control shows for a stored record (empty for a new one)."""
    values: dict[str, str] = {}
    for field in fields:
        value = lookup(data, field.path)
        if value is None:
            values[field.path] = ""
        elif field.kind == "json":
            values[field.path] = json.dumps(value, ensure_ascii=False, indent=1)
        elif field.kind == "boolean":
            values[field.path] = "true" if value else "false"
        else:
            values[field.path] = str(value)
    return values


def displayed(fields: list[Field], data: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, value) of every field the record holds, for reading."""
    shown = initial_values(fields, data)
    return [(f.title, shown[f.path]) for f in fields if shown[f.path] != ""]


def submitted_values(fields: list[Field], form: Mapping[str, Any]) -> dict[str, str]:
    return {f.path: str(form.get(f.name, "")).strip() for f in fields}


def _unreadable(field: Field, ja: str, en: str) -> FieldError:
    return FieldError(
        field.path, "type", f"「{field.title}」({field.path}): {ja}", f"{field.path} {en}"
    )


def _typed(field: Field, raw: str) -> Any:
    """The value of one control; raises ValueError with a FieldError when it cannot be read."""
    if field.kind == "integer":
        try:
            return int(raw.replace(",", ""))
        except ValueError:
            raise ValueError(
                _unreadable(field, "整数で入力してください。", "must be a whole number.")
            ) from None
    if field.kind == "number":
        try:
            number = float(raw.replace(",", ""))
        except ValueError:
            raise ValueError(
                _unreadable(field, "数値で入力してください。", "must be a number.")
            ) from None
        return int(number) if number.is_integer() else number
    if field.kind == "boolean":
        return raw == "true"
    if field.kind == "json":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(
                _unreadable(field, "JSON の一覧として入力してください。", "must be a JSON list.")
            ) from None
    return raw


def parse(
    fields: list[Field], values: Mapping[str, str]
) -> tuple[dict[str, Any], list[FieldError]]:
    """The record the form describes, and the controls that could not be read.

    Empty controls leave their field out (the schema then says whether it was required).
    """
    record: dict[str, Any] = {}
    errors: list[FieldError] = []
    for field in fields:
        raw = values.get(field.path, "")
        if raw == "":
            continue
        try:
            value = _typed(field, raw)
        except ValueError as exc:
            errors.append(exc.args[0])
            continue
        target = record
        *parents, last = field.path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return record, errors
