"""Evidence types and the legal-basis matrix, read from a pack.

An *evidence type* is what procedures used to demand as a paper attachment
(住民票の写し, 課税証明書 …), defined as a projection of one registry onto
the fields the document shows. The *matrix* (``legal_basis.yaml``) says, like
the tables under the My Number Act, which statutory function may obtain which
evidence for which procedure and whether the subject's consent is also
needed; and which functions may subscribe to which registry events.
Anything the matrix does not grant is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tsunagu.core.errors import NotFoundError
from tsunagu.packs import DEFAULT_PACK, PackError, load_document, load_folder
from tsunagu.registry.definitions import Names, RegistryDefinition, parse_names, registries


@dataclass(frozen=True)
class EvidenceType:
    id: str
    name: Names
    description: Names
    registry_id: str
    fields: tuple[str, ...]

    def project(self, data: dict[str, Any]) -> dict[str, Any]:
        """Only the fields this document shows (absent ones stay absent)."""
        projected: dict[str, Any] = {}
        for path in self.fields:
            parts = path.split(".")
            value: Any = data
            for part in parts:
                value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                continue
            target = projected
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = value
        return projected


@dataclass(frozen=True)
class Function:
    """A statutory function (事務) an organization performs, e.g. 市町村長, 日本年金機構."""

    id: str
    name: Names
    kinds: tuple[str, ...]
    implied: bool


@dataclass(frozen=True)
class Procedure:
    id: str
    name: Names


@dataclass(frozen=True)
class Provision:
    """One row of the matrix: functions → procedure → evidence types (consent or not)."""

    id: str
    basis: Names
    procedure_id: str
    requesters: tuple[str, ...]
    evidence: tuple[str, ...]
    consent: bool


@dataclass(frozen=True)
class NotificationBasis:
    """Who may be told of which registry events, with which fields."""

    id: str
    basis: Names
    subscribers: tuple[str, ...]
    registry_id: str
    events: tuple[str, ...]
    fields: tuple[str, ...]

    def project(self, data: dict[str, Any] | None) -> dict[str, Any]:
        view = EvidenceType(self.id, self.basis, self.basis, self.registry_id, self.fields)
        return view.project(data or {})


@dataclass(frozen=True)
class Matrix:
    functions: dict[str, Function]
    procedures: dict[str, Procedure]
    provisions: tuple[Provision, ...]
    notifications: dict[str, NotificationBasis]

    def provisions_for(self, procedure_id: str, evidence_id: str) -> list[Provision]:
        return [
            p
            for p in self.provisions
            if p.procedure_id == procedure_id and evidence_id in p.evidence
        ]


def _check_fields(fields: tuple[str, ...], registry: RegistryDefinition, where: str) -> None:
    paths = registry.field_paths()
    for field in fields:
        if not any(p == field or p.startswith(field + ".") for p in paths):
            raise PackError(f"{where}: {field!r} is not a field of registry {registry.id}")


def _parse_evidence(raw: dict[str, Any], where: Path) -> EvidenceType:
    try:
        registry = registries().get(raw["registry"])
        if registry is None:
            raise PackError(f"{where}: unknown registry {raw['registry']!r}")
        fields = tuple(str(f) for f in raw["fields"])
        _check_fields(fields, registry, str(where))
        return EvidenceType(
            id=str(raw["id"]),
            name=parse_names(raw.get("name"), str(where)),
            description=parse_names(raw.get("description"), f"{where} description"),
            registry_id=registry.id,
            fields=fields,
        )
    except KeyError as exc:
        raise PackError(f"{where}: missing {exc.args[0]!r}") from exc


@lru_cache(maxsize=4)
def evidence_types(pack: str = DEFAULT_PACK) -> dict[str, EvidenceType]:
    found: dict[str, EvidenceType] = {}
    for path, raw in load_folder("evidence", pack):
        evidence = _parse_evidence(raw, path)
        if evidence.id in found:
            raise PackError(f"{path}: evidence type {evidence.id!r} is defined twice")
        found[evidence.id] = evidence
    return found


def _ids(raw: Any, known: dict[str, Any], what: str, where: str) -> tuple[str, ...]:
    values = tuple(str(v) for v in (raw or []))
    unknown = [v for v in values if v not in known]
    if not values or unknown:
        raise PackError(f"{where}: unknown or missing {what}: {unknown or values}")
    return values


@lru_cache(maxsize=4)
def matrix(pack: str = DEFAULT_PACK) -> Matrix:
    """The legal-basis matrix of a pack, checked against its registries and evidence types."""
    raw = load_document("legal_basis.yaml", pack)
    where = "legal_basis.yaml"
    try:
        functions = {
            f["id"]: Function(
                f["id"], parse_names(f["name"], where), tuple(f["kinds"]), bool(f.get("implied"))
            )
            for f in raw["functions"]
        }
        procedures = {
            p["id"]: Procedure(p["id"], parse_names(p["name"], where)) for p in raw["procedures"]
        }
        evidence = evidence_types(pack)
        provisions = tuple(
            Provision(
                id=str(p["id"]),
                basis=parse_names(p["basis"], f"{where} {p['id']}"),
                procedure_id=_ids([p["procedure"]], procedures, "procedure", p["id"])[0],
                requesters=_ids(p["requesters"], functions, "functions", p["id"]),
                evidence=_ids(p["evidence"], evidence, "evidence types", p["id"]),
                consent=bool(p["consent"]),
            )
            for p in raw["provisions"]
        )
        notifications: dict[str, NotificationBasis] = {}
        for n in raw.get("notifications", []):
            registry = registries(pack).get(n["registry"])
            if registry is None:
                raise PackError(f"{where} {n['id']}: unknown registry {n['registry']!r}")
            fields = tuple(str(f) for f in n["fields"])
            _check_fields(fields, registry, f"{where} {n['id']}")
            events = {e: e for e in registry.event_ids}
            notifications[n["id"]] = NotificationBasis(
                id=str(n["id"]),
                basis=parse_names(n["basis"], f"{where} {n['id']}"),
                subscribers=_ids(n["subscribers"], functions, "functions", n["id"]),
                registry_id=registry.id,
                events=_ids(n["events"], events, "events", n["id"]),
                fields=fields,
            )
    except KeyError as exc:
        raise PackError(f"{where}: missing {exc.args[0]!r}") from exc
    ids = [p.id for p in provisions] + list(notifications)
    if len(ids) != len(set(ids)):
        raise PackError(f"{where}: provision ids must be unique")
    return Matrix(functions, procedures, provisions, notifications)


def get_evidence_type(evidence_id: str) -> EvidenceType:
    found = evidence_types().get(evidence_id)
    if found is None:
        raise NotFoundError(
            "unknown_evidence_type",
            f"証明書の種類「{evidence_id}」は定義されていません。",
            f"There is no evidence type {evidence_id!r}.",
        )
    return found
