"""The configuration page's form: column roles and hierarchies, turned into the YAML config.

The page offers the common choices (numeric interval widths, date levels,
municipality → prefecture, suppression of categories); everything else —
categorical trees, top/bottom coding, rare values — is written in the YAML,
which the page shows for every run so an official can copy and extend it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from tsunagu.anonymize import config, errors
from tsunagu.core.i18n import N_

ROLES = {
    "delete": N_("Delete (not released)"),
    "identifier": N_("Identifier (deleted, recorded as a PPC step)"),
    "quasi_identifier": N_("Quasi-identifier (generalized)"),
    "sensitive": N_("Sensitive (kept; l-diversity and t-closeness apply)"),
    "insensitive": N_("Insensitive (kept as is)"),
}
KINDS = {
    "description": N_("Description identifying a person (name, address …)"),
    "identification_code": N_("Individual identification code (個人番号 …)"),
    "linking_code": N_("Linking code (internal id)"),
}
HIERARCHIES = {
    "auto": N_("Default for the column's type"),
    "interval": N_("Numeric intervals"),
    "date": N_("Date: month, year, decade"),
    "municipality": N_("Municipality code → prefecture"),
    "suppress": N_("Category: value or *"),
}
COLUMN_TYPES = {"number": N_("number"), "date": N_("date"), "text": N_("text")}
DATE_LEVELS = {"month": N_("Month"), "year": N_("Year"), "decade": N_("Decade")}
ALGORITHMS = {
    "optimal": N_("Full-domain generalization (optimal search)"),
    "mondrian": N_("Multidimensional partitioning (Mondrian)"),
}
L_VARIANTS = {
    "distinct": N_("distinct"),
    "entropy": N_("entropy"),
    "recursive": N_("recursive (c, l)"),
}
_MUNICIPALITY_NAME = re.compile(r"municipal|lg_?code|city|市区町村|団体コード", re.IGNORECASE)


class FormData(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...
    def getlist(self, key: str) -> list[Any]: ...


@dataclass
class ColumnChoice:
    name: str
    type: str  # number | date | text
    role: str = "delete"
    kind: str = "description"
    hierarchy: str = "auto"
    widths: str = ""
    date_levels: list[str] = field(default_factory=lambda: list(DATE_LEVELS))


@dataclass
class PrivacyChoice:
    algorithm: str = "optimal"
    k: str = "5"
    l: str = ""  # noqa: E741 - the model's name
    l_variant: str = "distinct"
    t: str = ""
    suppression_percent: str = "5"


def suggested_hierarchy(name: str, kind: str) -> str:
    if _MUNICIPALITY_NAME.search(name):
        return "municipality"
    return {"number": "interval", "date": "date"}.get(kind, "suppress")


def default_choices(columns: Sequence[tuple[str, str]]) -> list[ColumnChoice]:
    """Every column deleted unless the official says otherwise (privacy by default)."""
    return [
        ColumnChoice(name, kind, hierarchy=suggested_hierarchy(name, kind))
        for name, kind in columns
    ]


def _pick(value: Any, allowed: Mapping[str, str], default: str) -> str:
    return value if isinstance(value, str) and value in allowed else default


def choices_from_form(
    columns: Sequence[tuple[str, str]], form: FormData
) -> tuple[list[ColumnChoice], PrivacyChoice]:
    """What the official chose, field by field (columns are numbered, names may be anything)."""
    chosen = []
    for index, (name, kind) in enumerate(columns):
        chosen.append(
            ColumnChoice(
                name,
                kind,
                role=_pick(form.get(f"role_{index}"), ROLES, "delete"),
                kind=_pick(form.get(f"kind_{index}"), KINDS, "description"),
                hierarchy=_pick(form.get(f"hierarchy_{index}"), HIERARCHIES, "auto"),
                widths=str(form.get(f"widths_{index}") or "")[:200],
                date_levels=[
                    level for level in form.getlist(f"levels_{index}") if level in DATE_LEVELS
                ],
            )
        )
    privacy = PrivacyChoice(
        algorithm=_pick(form.get("algorithm"), ALGORITHMS, "optimal"),
        k=str(form.get("k") or "").strip()[:10],
        l=str(form.get("l") or "").strip()[:10],
        l_variant=_pick(form.get("l_variant"), L_VARIANTS, "distinct"),
        t=str(form.get("t") or "").strip()[:10],
        suppression_percent=str(form.get("suppression_percent") or "0").strip()[:10],
    )
    return chosen, privacy


def _shown(value: Any) -> str:
    """A number as the official typed it (5, not 5.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def choices_from_config(
    columns: Sequence[tuple[str, str]], text: str
) -> tuple[list[ColumnChoice], PrivacyChoice] | None:
    """The form as it stands for a configuration (the last run's), so it can be adjusted."""
    try:
        data = config.parse_config(yaml.safe_load(text))
    except (errors.AnonymizeError, yaml.YAMLError):
        return None
    chosen = default_choices(columns)
    for choice in chosen:
        attribute = data.attributes.get(choice.name)
        if attribute is None:
            continue
        choice.role, choice.kind = attribute.role.value, attribute.kind.value
        hierarchy = attribute.hierarchy
        if hierarchy is None:
            if attribute.role is config.Role.QUASI_IDENTIFIER:
                choice.hierarchy = "auto"
        elif hierarchy.type in HIERARCHIES:
            choice.hierarchy = hierarchy.type
        if isinstance(hierarchy, config.IntervalHierarchy) and hierarchy.widths:
            choice.widths = ", ".join(_shown(w) for w in hierarchy.widths)
        if isinstance(hierarchy, config.DateHierarchy):
            choice.date_levels = list(hierarchy.levels)
    model = data.privacy
    privacy = PrivacyChoice(
        algorithm=data.algorithm.value,
        k=str(model.k),
        l=str(model.l_diversity.l) if model.l_diversity else "",
        l_variant=model.l_diversity.variant if model.l_diversity else "distinct",
        t=_shown(model.t_closeness.t) if model.t_closeness else "",
        suppression_percent=_shown(round(data.suppression_limit * 100, 6)),
    )
    return chosen, privacy


def _number(text: str, what: str, cast: type[int] | type[float]) -> int | float:
    try:
        return cast(text)
    except ValueError:
        raise errors.bad_config(f"{what}: {text!r} is not a number") from None


def _hierarchy(choice: ColumnChoice) -> dict[str, Any] | None:
    if choice.hierarchy == "auto":
        return None
    if choice.hierarchy == "interval":
        parts = [p for p in re.split(r"[,\s、]+", choice.widths) if p]
        widths = [_number(p, f"{choice.name} widths", float) for p in parts]
        return {"type": "interval", **({"widths": widths} if widths else {})}
    if choice.hierarchy == "date":
        if not choice.date_levels:
            raise errors.bad_config(f"{choice.name}: choose at least one date level")
        return {"type": "date", "levels": choice.date_levels}
    return {"type": choice.hierarchy}


def build_config(columns: Sequence[ColumnChoice], privacy: PrivacyChoice) -> dict[str, Any]:
    """The configuration mapping the choices stand for (validated later by ``parse_config``)."""
    attributes: dict[str, Any] = {}
    for choice in columns:
        if choice.role == "delete":
            continue
        entry: dict[str, Any] = {"role": choice.role}
        if choice.role == "identifier":
            entry["kind"] = choice.kind
        if choice.role == "quasi_identifier" and (hierarchy := _hierarchy(choice)) is not None:
            entry["hierarchy"] = hierarchy
        attributes[choice.name] = entry
    model: dict[str, Any] = {"k": _number(privacy.k or "0", "k", int)}
    if privacy.l:
        model["l_diversity"] = {"l": _number(privacy.l, "l", int), "variant": privacy.l_variant}
    if privacy.t:
        model["t_closeness"] = {"t": _number(privacy.t, "t", float)}
    percent = _number(privacy.suppression_percent or "0", "suppression", float)
    return {
        "algorithm": privacy.algorithm,
        "attributes": attributes,
        "privacy": model,
        "suppression_limit": percent / 100,
    }


def to_yaml(config: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(config), allow_unicode=True, sort_keys=False)
