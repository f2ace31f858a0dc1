"""The anonymization configuration (YAML) and the simple command-line form.

A configuration states every column's role, the generalization hierarchy of
each quasi-identifier, the privacy models, the suppression limit and the
treatment of peculiar values, so that a release can be reproduced from it.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from tsunagu.anonymize import errors


class Role(StrEnum):
    IDENTIFIER = "identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"
    INSENSITIVE = "insensitive"


class IdentifierKind(StrEnum):
    """Which PPC processing step deletes the column."""

    DESCRIPTION = "description"  # 特定の個人を識別することができる記述等 (name, address …)
    IDENTIFICATION_CODE = "identification_code"  # 個人識別符号 (個人番号, passport no. …)
    LINKING_CODE = "linking_code"  # 連結符号 (internal ids that link to other data)


class Algorithm(StrEnum):
    OPTIMAL = "optimal"  # full-domain generalization, optimal over the lattice
    MONDRIAN = "mondrian"  # multidimensional partitioning (local recoding)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntervalHierarchy(_Strict):
    """Numbers → aligned intervals of growing width → ``*``; each width divides the next."""

    type: Literal["interval"] = "interval"
    widths: list[float] | None = None  # None: 5, 10, 20, … until the range is covered
    origin: float = 0
    bounds: tuple[float, float] | None = None  # values outside are a configuration error


class DateHierarchy(_Strict):
    type: Literal["date"] = "date"
    levels: list[Literal["month", "year", "decade"]] = ["month", "year", "decade"]


class MunicipalityHierarchy(_Strict):
    """全国地方公共団体コード (5 or 6 digits) → prefecture (first two digits) → ``*``."""

    type: Literal["municipality"] = "municipality"
    labels: Literal["name", "code"] = "name"


class TreeHierarchy(_Strict):
    """A categorical tree: nested mappings whose leaves (lists or keys) are the values."""

    type: Literal["tree"] = "tree"
    tree: dict[str, Any]


class SuppressionHierarchy(_Strict):
    """A value or ``*``: the default for categories."""

    type: Literal["suppress"] = "suppress"


Hierarchy = Annotated[
    IntervalHierarchy
    | DateHierarchy
    | MunicipalityHierarchy
    | TreeHierarchy
    | SuppressionHierarchy,
    Field(discriminator="type"),
]


class Attribute(_Strict):
    role: Role
    kind: IdentifierKind = IdentifierKind.DESCRIPTION
    hierarchy: Hierarchy | None = None  # None: chosen from the column's type


class LDiversity(_Strict):
    l: int = Field(ge=2)  # noqa: E741 - the model's name
    variant: Literal["distinct", "entropy", "recursive"] = "distinct"
    c: float = Field(default=3.0, gt=0)  # recursive (c, l)-diversity only


class TCloseness(_Strict):
    """Earth mover's distance: ordered for numeric sensitive values, equal otherwise."""

    t: float = Field(gt=0, le=1)


class Privacy(_Strict):
    k: int = Field(default=2, ge=1)
    l_diversity: LDiversity | None = None
    t_closeness: TCloseness | None = None


class Coding(_Strict):
    """Top/bottom coding: values beyond a threshold are replaced by the threshold."""

    bottom: float | None = None
    top: float | None = None


class RareValues(_Strict):
    """Values seen fewer than ``min_count`` times are replaced (特異な記述等)."""

    min_count: int = Field(ge=2)
    replacement: str = "*"


class Peculiar(_Strict):
    top_bottom_coding: dict[str, Coding] = {}
    rare_values: dict[str, RareValues] = {}


class Risk(_Strict):
    """Share of the population the data covers (1.0: the whole population, e.g. a registry)."""

    sampling_fraction: float = Field(default=1.0, gt=0, le=1)
    threshold: float = Field(default=0.2, gt=0, le=1)  # a record is "at risk" above this


class AnonymizeConfig(_Strict):
    algorithm: Algorithm = Algorithm.OPTIMAL
    attributes: dict[str, Attribute]
    default_role: Literal["delete", "insensitive"] = "delete"
    privacy: Privacy = Privacy()
    suppression_limit: float = Field(default=0.0, ge=0, lt=1)
    peculiar: Peculiar = Peculiar()
    other_measures: list[str] = []
    risk: Risk = Risk()
    trim_whitespace: bool = True

    @model_validator(mode="after")
    def _needs_quasi_identifiers(self) -> AnonymizeConfig:
        if not self.quasi_identifiers:
            raise ValueError("at least one quasi_identifier is required")
        if (self.privacy.l_diversity or self.privacy.t_closeness) and not self.sensitive:
            raise ValueError("l-diversity and t-closeness need a sensitive attribute")
        return self

    def columns_with(self, role: Role) -> list[str]:
        return [name for name, a in self.attributes.items() if a.role is role]

    @property
    def quasi_identifiers(self) -> list[str]:
        return self.columns_with(Role.QUASI_IDENTIFIER)

    @property
    def sensitive(self) -> list[str]:
        return self.columns_with(Role.SENSITIVE)

    @property
    def identifiers(self) -> list[str]:
        return self.columns_with(Role.IDENTIFIER)


def _describe(exc: PydanticValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(root)"
    return f"{where}: {first['msg']}"


def parse_config(data: Any) -> AnonymizeConfig:
    """Validate a configuration mapping; errors name the offending key."""
    if not isinstance(data, dict):
        raise errors.bad_config("the document must be a mapping")
    try:
        return AnonymizeConfig.model_validate(data)
    except PydanticValidationError as exc:
        raise errors.bad_config(_describe(exc)) from None


def load_config(text: str) -> AnonymizeConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise errors.bad_config(f"YAML: {exc}".splitlines()[0]) from None
    return parse_config(data)


def load_config_file(path: Path) -> AnonymizeConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise errors.bad_config(f"{path}: {exc.strerror}") from None
    return load_config(text)


def simple_config(
    qi: list[str],
    sensitive: list[str],
    *,
    k: int,
    l: int | None = None,  # noqa: E741
    t: float | None = None,
    suppression: float = 0.0,
    algorithm: Algorithm = Algorithm.OPTIMAL,
    keep: list[str] | None = None,
) -> AnonymizeConfig:
    """The configuration of the command-line short form, with default hierarchies."""
    attributes: dict[str, Any] = {name: {"role": "quasi_identifier"} for name in qi}
    attributes.update({name: {"role": "sensitive"} for name in sensitive})
    attributes.update({name: {"role": "insensitive"} for name in keep or []})
    privacy: dict[str, Any] = {"k": k}
    if l is not None:
        privacy["l_diversity"] = {"l": l}
    if t is not None:
        privacy["t_closeness"] = {"t": t}
    return parse_config(
        {
            "algorithm": algorithm.value,
            "attributes": attributes,
            "privacy": privacy,
            "suppression_limit": suppression,
        }
    )
