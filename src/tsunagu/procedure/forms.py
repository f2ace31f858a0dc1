"""Resident-facing forms of a procedure, built from its definition.

Each field of the definition (a leaf of the form's JSON Schema, in the
definition's order, with ja/en label and help) becomes one control. What a
register already holds about the subject is never asked: a field with a
``prefill`` source is filled from the subject's own record and shown
read-only, and the facts the procedure's evidence will confirm (name,
address, household …) are shown as "already known". Only the subject's own
records are read, through the registry service.

Posted strings become typed JSON (integers, booleans, nested objects) with
:func:`tsunagu.registry.forms.parse`; schema errors are reworded to name the
field by its label, so the page can list them in a summary and next to each
field in the visitor's language.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from tsunagu.core.errors import ValidationError
from tsunagu.exchange.definitions import evidence_types
from tsunagu.procedure.definitions import FormField, ProcedureDefinition
from tsunagu.registry import forms as record_forms
from tsunagu.registry import service as registry
from tsunagu.registry.definitions import get_registry, lookup
from tsunagu.registry.validation import FieldError

PREFIX = record_forms.PREFIX
LONG_TEXT = 300  # strings allowed to be longer than this get a multi-line box


@dataclass(frozen=True)
class Control:
    """One field of the form as the page shows it; ``known`` is set when a register holds it."""

    field: FormField
    kind: str  # text, textarea, integer, number, date, choice, boolean, upload
    choices: tuple[str, ...]
    known: Any = None

    @property
    def path(self) -> str:
        return self.field.path

    @property
    def name(self) -> str:
        return PREFIX + self.field.path

    @property
    def id(self) -> str:
        return "f-" + self.field.path.replace(".", "-")

    def label(self, language: str) -> str:
        return self.field.label.get(language)

    def help(self, language: str) -> str | None:
        return self.field.help.get(language) if self.field.help else None


@dataclass(frozen=True)
class KnownFact:
    """A fact a register holds about the subject, shown instead of asked."""

    source: str  # the evidence type's name (住民票の写し …) in the page's language
    title: str  # the register's (Japanese) title of the field
    value: str


def _kind(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "choice"
    kind = schema.get("type")
    if kind in ("integer", "number", "boolean"):
        return str(kind)
    if schema.get("format") in ("date", "upload"):
        return str(schema["format"])
    return "textarea" if int(schema.get("maxLength", 0)) > LONG_TEXT else "text"


def _registry_value(session: Session, source: str, subject_id: str) -> Any:
    registry_id, _, path = source.partition(".")
    versions = registry.as_of(session, registry_id, subject_id)
    return lookup(versions[0].data, path) if versions else None


def controls(session: Session, definition: ProcedureDefinition, subject_id: str) -> list[Control]:
    """The form's controls, with the subject's register values where the definition says so
    (none for what only a life event works out)."""
    found = []
    for field in definition.form.fields:
        if field.derived:
            continue
        known = _registry_value(session, field.prefill, subject_id) if field.prefill else None
        choices = tuple(str(c) for c in field.schema.get("enum", ()))
        found.append(Control(field, _kind(field.schema), choices, known))
    return found


def _set(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        record = record.setdefault(part, {})
    record[last] = value


def prefilled(items: list[Control]) -> dict[str, Any]:
    """The part of the form the registers already answer."""
    record: dict[str, Any] = {}
    for control in items:
        if control.known is not None:
            _set(record, control.path, control.known)
    return record


def known_facts(
    session: Session, definition: ProcedureDefinition, subject_id: str, language: str
) -> list[KnownFact]:
    """What the evidence about the subject will show, read from the subject's own records."""
    facts = []
    types = evidence_types()
    for need in definition.evidence:
        if need.about != "subject":
            continue
        evidence = types[need.type_id]
        register = get_registry(evidence.registry_id)
        for version in registry.as_of(session, evidence.registry_id, subject_id):
            shown = evidence.project(version.data)
            for path in evidence.fields:
                value = _text(lookup(shown, path), register.schema, path)
                if value:
                    source = evidence.name.get(language)
                    facts.append(KnownFact(source, register.title_of(path), value))
    return facts


def _text(value: Any, schema: Mapping[str, Any], path: str) -> str:
    """A register value as one line: a name's or an address's parts in the register's order,
    without machine codes (地方公共団体コード)."""
    node: Mapping[str, Any] = schema
    for part in path.split("."):
        node = node.get("properties", {}).get(part, {})
    if isinstance(value, dict):
        parts = (
            _text(value.get(name), node, name)
            for name, child in node.get("properties", {}).items()
            if child.get("format") != "lgcode"
        )
        return " ".join(p for p in parts if p)
    if value is None:
        return ""
    return str(value)


def shown_values(items: list[Control], form: Mapping[str, Any]) -> dict[str, str]:
    """What each control shows for a stored form."""
    values = {}
    for control in items:
        value = lookup(dict(form), control.path)
        if control.known is not None:
            value = control.known
        if value is None:
            values[control.path] = ""
        elif isinstance(value, bool):
            values[control.path] = "true" if value else "false"
        else:
            values[control.path] = str(value)
    return values


def submitted_values(items: list[Control], posted: Mapping[str, Any]) -> dict[str, str]:
    """The posted text of each control; read-only fields keep the register's value."""
    values = {c.path: str(posted.get(c.name, "")).strip() for c in items}
    values.update({k: v for k, v in shown_values(items, {}).items() if v})
    return values


def _required_objects(schema: Mapping[str, Any], record: dict[str, Any]) -> None:
    """Give every required nested object a place, so its own missing fields are reported."""
    for name in schema.get("required", []):
        child = schema.get("properties", {}).get(name, {})
        if child.get("type") == "object":
            _required_objects(child, record.setdefault(name, {}))


def parse(
    definition: ProcedureDefinition,
    items: list[Control],
    values: Mapping[str, str],
    stored: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[FieldError]]:
    """The typed form the controls describe, and the values that could not be read; what a
    life event worked out in the ``stored`` form (no control shows it) is kept."""
    fields = [
        record_forms.Field(
            c.path,
            c.field.label.ja,
            c.kind if c.kind in ("integer", "number", "boolean") else "text",
            c.field.required,
            c.choices,
        )
        for c in items
    ]
    record, errors = record_forms.parse(fields, values)
    record = with_derived(definition, record, stored)
    _required_objects(definition.form.schema, record)
    return record, errors


def with_derived(
    definition: ProcedureDefinition,
    form: Mapping[str, Any],
    stored: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``form`` as the filer typed it, with what a life event worked out in the ``stored``
    form kept (``derived`` fields: the new head after a death). Typing such a value through
    the procedure itself is refused: only the life event, from the registers, sets it."""
    record = copy.deepcopy(dict(form))
    for field in definition.form.fields:
        if not field.derived:
            continue
        kept = lookup(dict(stored or {}), field.path)
        typed = lookup(record, field.path)
        if typed is not None and typed != kept:
            raise ValidationError(
                "derived_field",
                f"「{field.label.ja}」は入力できません（ライフイベントの届出で台帳から設定されます）。",
                f"{field.label.en} cannot be typed: a life event sets it from the registers.",
            )
        if kept is not None:
            _set(record, field.path, kept)
    return record


def _strip(message: str, prefix: str) -> str:
    return message[len(prefix) :] if message.startswith(prefix) else message


def reworded(items: list[Control], errors: list[FieldError]) -> list[FieldError]:
    """Errors naming the field by its label (ja/en) instead of its schema path.

    An error on a path that is not a field (a whole missing object) goes to
    the first field below it, so every error sits next to something to fix.
    """
    by_path = {c.path: c for c in items}
    found: dict[str, FieldError] = {}
    for error in errors:
        control = by_path.get(error.path) or next(
            (c for c in items if c.path.startswith(error.path + ".")), None
        )
        if control is None:
            found.setdefault(error.path, error)
            continue
        label_ja, label_en = control.field.label.ja, control.field.label.en
        if error.rule == "required":
            ja, en = f"「{label_ja}」を入力してください。", f"{label_en}: enter a value."
        else:
            rule_ja = _strip(error.message_ja, f"「{control.field.label.ja}」({error.path}): ")
            rule_ja = _strip(rule_ja, f"「{error.path}」({error.path}): ")
            rule_en = _strip(error.message_en, f"{error.path} ")
            ja, en = f"「{label_ja}」: {rule_ja}", f"{label_en}: {rule_en}"
        found.setdefault(control.path, FieldError(control.path, error.rule, ja, en))
    order = {c.path: i for i, c in enumerate(items)}
    return sorted(found.values(), key=lambda e: order.get(e.path, len(order)))
