"""Registry definitions read from a pack (``packs/<pack>/registries/*.yaml``).

A definition says what a register is — its names, which kind of organization
keeps it, whose data it holds, the JSON Schema of one record, how long
history is retained and which changes other agencies may subscribe to. The
engine in :mod:`tsunagu.registry.service` knows nothing beyond this.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from tsunagu.core.errors import NotFoundError
from tsunagu.packs import DEFAULT_PACK, PackError, load_folder
from tsunagu.registry.validation import RecordValidator

SUBJECT_KINDS = ("person", "corporation", "property")
OWNER_KINDS = ("municipality", "prefecture", "ministry", "corporation", "other_agency")
# Every registry offers these; packs add domain events (a death, a move out …).
BUILTIN_EVENTS = ("created", "changed", "corrected", "retracted")


@dataclass(frozen=True)
class Names:
    ja: str
    en: str

    def get(self, language: str) -> str:
        return self.en if language == "en" else self.ja


@dataclass(frozen=True)
class EventRule:
    """A domain event: ``field`` took the value ``becomes`` (or changed at all)."""

    id: str
    name: Names
    field: str
    becomes: Any = None

    def fired(self, before: dict[str, Any] | None, after: dict[str, Any] | None) -> bool:
        old, new = lookup(before, self.field), lookup(after, self.field)
        if self.becomes is None:
            return before is not None and after is not None and old != new
        return bool(new == self.becomes and old != self.becomes)


@dataclass(frozen=True)
class RegistryDefinition:
    id: str
    name: Names
    description: Names
    law: Names
    owner_kind: str
    subject_kind: str
    key_field: str | None
    party_field: str | None
    retention_years: int
    schema: dict[str, Any]
    events: tuple[EventRule, ...] = ()
    # A field several records share when they belong together (住民基本台帳: the 世帯番号);
    # kept in an indexed column, so a household is found without reading the register.
    group_field: str | None = None
    source: str = ""
    validator: RecordValidator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "validator", RecordValidator(self.schema))

    def event(self, event_id: str) -> EventRule | None:
        return next((e for e in self.events if e.id == event_id), None)

    @property
    def event_ids(self) -> tuple[str, ...]:
        return BUILTIN_EVENTS + tuple(e.id for e in self.events)

    def field_paths(self) -> list[str]:
        """Dotted paths of every leaf property (what evidence types may project)."""
        return list(_leaf_paths(self.schema, ""))

    def record_key(self, data: dict[str, Any]) -> str:
        """The key distinguishing several records of one subject (e.g. the fiscal year)."""
        if self.key_field is None:
            return ""
        value = lookup(data, self.key_field)
        return "" if value is None else str(value)

    def party_of(self, subject_id: str, data: dict[str, Any] | None) -> str | None:
        """Whose personal data the record is (the access log is kept for them)."""
        if self.subject_kind == "person":
            return subject_id
        if self.party_field is None or data is None:
            return None
        value = lookup(data, self.party_field)
        return str(value) if value else None

    def group_of(self, data: dict[str, Any] | None) -> str | None:
        """The value of the group field (e.g. the 世帯番号), as text; None without one."""
        if self.group_field is None or data is None:
            return None
        value = lookup(data, self.group_field)
        return str(value) if value not in (None, "") else None

    def title_of(self, path: str) -> str:
        """The Japanese title the schema gives a dotted field path (the path if none)."""
        node: dict[str, Any] = self.schema
        for part in path.split("."):
            node = _child_schema(node, part)
        return str(node.get("title", path))


def _child_schema(node: dict[str, Any], part: str) -> dict[str, Any]:
    if node.get("type") == "array" or "items" in node:
        node = node.get("items", {})
    return dict(node.get("properties", {}).get(part, {}))


def _leaf_paths(node: dict[str, Any], prefix: str) -> list[str]:
    props = node.get("properties")
    if not props:
        return [prefix] if prefix else []
    paths: list[str] = []
    for name, child in props.items():
        paths.extend(_leaf_paths(child, f"{prefix}{name}" if not prefix else f"{prefix}.{name}"))
    return paths


def lookup(data: dict[str, Any] | None, path: str) -> Any:
    """Value at a dotted path, or ``None`` when any step is missing."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def parse_names(raw: Any, where: str) -> Names:
    """A pack item's names in both languages; a missing one fails the load, naming ``where``."""
    if not isinstance(raw, Mapping) or not raw.get("ja") or not raw.get("en"):
        raise PackError(f"{where}: needs text in 'ja' and 'en'")
    return Names(str(raw["ja"]), str(raw["en"]))


def parse_definition(raw: dict[str, Any], source: Path | str) -> RegistryDefinition:
    """Build and check one definition; errors name the file and the problem."""
    where = str(source)
    try:
        if raw.get("owner_kind") not in OWNER_KINDS:
            raise PackError(f"{where}: owner_kind must be one of {OWNER_KINDS}")
        if raw.get("subject_kind") not in SUBJECT_KINDS:
            raise PackError(f"{where}: subject_kind must be one of {SUBJECT_KINDS}")
        schema = raw["schema"]
        Draft202012Validator.check_schema(schema)
        events = tuple(
            EventRule(
                id=str(e["id"]),
                name=parse_names(e.get("name"), f"{where} event {e.get('id')}"),
                field=str(e["field"]),
                becomes=e.get("becomes"),
            )
            for e in raw.get("events", [])
        )
        definition = RegistryDefinition(
            id=str(raw["id"]),
            name=parse_names(raw.get("name"), where),
            description=parse_names(raw.get("description"), f"{where} description"),
            law=parse_names(raw.get("law"), f"{where} law"),
            owner_kind=raw["owner_kind"],
            subject_kind=raw["subject_kind"],
            key_field=raw.get("key"),
            party_field=raw.get("party"),
            retention_years=int(raw["retention_years"]),
            group_field=raw.get("group"),
            schema=schema,
            events=events,
            source=where,
        )
    except KeyError as exc:
        raise PackError(f"{where}: missing {exc.args[0]!r}") from exc
    except SchemaError as exc:
        raise PackError(f"{where}: invalid JSON Schema: {exc.message}") from exc
    paths = set(definition.field_paths())
    for rule in definition.events:
        if not any(p == rule.field or p.startswith(rule.field + ".") for p in paths):
            raise PackError(f"{where}: event {rule.id} watches unknown field {rule.field!r}")
    if definition.key_field and definition.key_field not in paths:
        raise PackError(f"{where}: key {definition.key_field!r} is not a field of the schema")
    if definition.group_field and definition.group_field not in paths:
        raise PackError(f"{where}: group {definition.group_field!r} is not a field of the schema")
    if definition.subject_kind == "property" and definition.party_field not in paths:
        raise PackError(f"{where}: a property registry names its owner's field as 'party'")
    return definition


# Parsed by one thread while the others wait (see procedure.definitions.procedures).
_LOADING = threading.Lock()


def registries(pack: str = DEFAULT_PACK) -> dict[str, RegistryDefinition]:
    """All registry definitions of a pack by id (parsed once per process, by one thread)."""
    with _LOADING:
        return _registries(pack)


@lru_cache(maxsize=4)
def _registries(pack: str) -> dict[str, RegistryDefinition]:
    found: dict[str, RegistryDefinition] = {}
    for path, raw in load_folder("registries", pack):
        definition = parse_definition(raw, path)
        if definition.id in found:
            raise PackError(f"{path}: registry id {definition.id!r} is defined twice")
        found[definition.id] = definition
    return found


def get_registry(registry_id: str, pack: str = DEFAULT_PACK) -> RegistryDefinition:
    definition = registries(pack).get(registry_id)
    if definition is None:
        raise NotFoundError(
            "unknown_registry",
            f"台帳「{registry_id}」は定義されていません。",
            f"There is no registry {registry_id!r}.",
        )
    return definition
