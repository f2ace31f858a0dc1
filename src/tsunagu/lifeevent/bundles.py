"""Life-event bundles read from a pack (``packs/<pack>/lifeevents/bundles/*.yaml``).

A bundle turns one life event into the procedures it needs: a few choices
(``questions``), the few facts only the resident knows (``fields``, typed
once however many procedures use them) and ``parts``, each naming a
procedure, whom it is filed for (``each``: the applicant, every moving
household member, every child, every vehicle), when it applies (a rule of
:mod:`tsunagu.procedure.rules`) and how its form is filled from the
answers and the registers (templates as in procedure effects). A bundle
holds no code: a municipality adds a life event by adding a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from tsunagu.core.errors import NotFoundError
from tsunagu.packs import DEFAULT_PACK, PackError, load_document, load_folder
from tsunagu.procedure import rules
from tsunagu.procedure.definitions import procedures
from tsunagu.registry.definitions import Names, parse_names, registries

FOLDER = "lifeevents/bundles"
# Whom a part is filed for: once for the applicant, or once per item of the household facts.
EACH = ("applicant", "member", "child", "vehicle")
CONTEXT_ROOTS = ("answers", "derived", "applicant", "head", "member", "child", "vehicle")


@dataclass(frozen=True)
class Option:
    value: str
    label: Names


@dataclass(frozen=True)
class Question:
    """A choice the resident makes (counted apart from typed fields)."""

    id: str
    label: Names
    options: tuple[Option, ...]


@dataclass(frozen=True)
class Field:
    """A fact only the resident knows, asked once for every part that needs it."""

    id: str
    schema: dict[str, Any]
    required: bool
    label: Names
    help: Names | None
    when: Any


@dataclass(frozen=True)
class Part:
    procedure_id: str
    each: str
    when: Any
    form: dict[str, Any]
    organization: str | None
    # evidence the one signature consents to have fetched for this part (就労証明書 from the
    # employer): recorded on the part's case before the fetch
    consent: tuple[str, ...] = ()


@dataclass(frozen=True)
class Members:
    """Whom the parts are about: the applicant ``always`` with the members ticked (a move),
    ``never`` (a death: only the member ticked), or by ``choice`` like any member (care) —
    with ``least`` to ``most`` ticked."""

    label: Names
    applicant: str
    least: int
    most: int | None


@dataclass(frozen=True)
class Deadline:
    """Something left to do by a date counted from an answer (相続放棄: three months …)."""

    id: str
    label: Names
    basis: Names
    months: int
    start: str  # the answer the months run from, e.g. ``death_date``
    # ``due``: to be done by the date; ``from``: due from the date on (a check-up, a vaccine)
    kind: str = "due"


# In a ``head_change`` table: 兄・姉・弟・妹, by the members' dates of birth and sex.
SIBLING = "兄弟姉妹"


@dataclass(frozen=True)
class HeadChange:
    """Who heads the household when the member a bundle is about was its head (住民基本台帳法
    第25条): the only remaining member of ``min_age`` or over, else the one the filer chooses
    among them. ``relationships`` gives the others' new 続柄 by the new head's former one and
    theirs; one not listed keeps it if ``kept`` (同居人, no relative) and is ``otherwise``
    (縁故者, a relative not described more precisely)."""

    label: Names
    help: Names | None
    min_age: int
    relationships: dict[str, dict[str, str]]
    kept: tuple[str, ...]
    otherwise: str


@dataclass(frozen=True)
class Bundle:
    id: str
    name: Names
    description: Names
    event: str | None  # the life event companies may be told of (notices), if any
    questions: tuple[Question, ...]
    fields: tuple[Field, ...]
    parts: tuple[Part, ...]
    # what the resident no longer has to do at all (told by the registers, fetched, not attached)
    unnecessary: tuple[Names, ...]
    members: Members
    checklist: tuple[Deadline, ...]
    head_change: HeadChange | None = None

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


def _check_template(value: Any, where: str) -> None:
    """A ``$path``, a literal, a mapping of templates, or a list of ``$path`` (first present)."""
    if isinstance(value, list):
        if not value or not all(isinstance(v, str) and v.startswith("$") for v in value):
            raise PackError(f"{where}: a list in a form template holds $paths, first present wins")
        for item in value:
            _check_template(item, where)
    elif isinstance(value, str) and value.startswith("$"):
        if value[1:].split(".")[0] not in CONTEXT_ROOTS:
            raise PackError(f"{where}: {value!r} must start with one of {CONTEXT_ROOTS}")
    elif isinstance(value, Mapping):
        for item in value.values():
            _check_template(item, where)


def _question(raw: Any, where: str) -> Question:
    options = tuple(
        Option(str(o["value"]), parse_names(o["label"], f"{where} option")) for o in raw["options"]
    )
    if len(options) < 2:
        raise PackError(f"{where}: a question offers at least two options")
    return Question(str(raw["id"]), parse_names(raw["label"], where), options)


def _field(raw: Any, where: str) -> Field:
    schema = dict(raw["schema"])
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise PackError(f"{where}: {exc.message}") from exc
    rules.check(raw.get("when"), where)
    return Field(
        id=str(raw["id"]),
        schema=schema,
        required=bool(raw.get("required", False)),
        label=parse_names(raw["label"], where),
        help=parse_names(raw["help"], where) if raw.get("help") else None,
        when=raw.get("when", True),
    )


def _part(raw: Any, where: str) -> Part:
    procedure_id = str(raw["procedure"])
    if procedure_id not in procedures():
        raise PackError(f"{where}: unknown procedure {procedure_id!r}")
    each = str(raw.get("each", "applicant"))
    if each not in EACH:
        raise PackError(f"{where}: each must be one of {EACH}")
    form = raw.get("form")
    if not isinstance(form, Mapping):
        raise PackError(f"{where}: a part needs a form template")
    _check_template(form, where)
    organization = raw.get("organization")
    _check_template(organization, where)
    rules.check(raw.get("when"), where)
    consent = tuple(str(c) for c in raw.get("consent", []))
    fetched = {need.type_id for need in procedures()[procedure_id].evidence}
    if not set(consent) <= fetched:
        raise PackError(f"{where}: consent names evidence {procedure_id!r} does not fetch")
    return Part(procedure_id, each, raw.get("when", True), dict(form), organization, consent)


APPLICANT_MODES = ("always", "never", "choice")
MOVING_TOGETHER = Members(Names("一緒に手続をする人", "Who else this is for"), "always", 0, None)


def _members(raw: Any, where: str) -> Members:
    if raw is None:
        return MOVING_TOGETHER
    most = raw.get("most")
    applicant = str(raw.get("applicant", "always"))
    if applicant not in APPLICANT_MODES:
        raise PackError(f"{where}: members.applicant must be one of {APPLICANT_MODES}")
    return Members(
        parse_names(raw["label"], f"{where} members"),
        applicant,
        int(raw.get("least", 0)),
        int(most) if most is not None else None,
    )


def _deadline(raw: Any, where: str, start: str | None = None, kind: str = "due") -> Deadline:
    return Deadline(
        id=str(raw["id"]),
        label=parse_names(raw["label"], f"{where} checklist"),
        basis=parse_names(raw["basis"], f"{where} checklist basis"),
        months=int(raw["months"]),
        start=start or str(raw["from"]),
        kind=kind,
    )


def _head_change(raw: Any, where: str) -> HeadChange | None:
    if raw is None:
        return None
    known = set(registries()["juki"].schema["properties"]["household"]["properties"]
                ["relationship"]["enum"])  # fmt: skip
    table = {
        str(k): {str(a): str(b) for a, b in v.items()} for k, v in raw["relationships"].items()
    }
    kept = tuple(str(k) for k in raw.get("kept", []))
    named = {str(raw["otherwise"]), *kept, *table}
    for row in table.values():
        named |= set(row) | (set(row.values()) - {SIBLING})
    if named - known:
        raise PackError(f"{where}: head_change names unknown relationships {sorted(named - known)}")
    return HeadChange(
        label=parse_names(raw["label"], f"{where} head_change"),
        help=parse_names(raw["help"], f"{where} head_change help") if raw.get("help") else None,
        min_age=int(raw["min_age"]),
        relationships=table,
        kept=kept,
        otherwise=str(raw["otherwise"]),
    )


SCHEDULES = "lifeevents/schedules"


def _schedule(raw: Any, where: str, pack: str) -> tuple[Deadline, ...]:
    """A shared dated schedule (``schedules/<id>.yaml``: 乳幼児健診・予防接種), each item due
    from its age in months counted from the bundle's answer ``from`` (the birth date)."""
    if raw is None:
        return ()
    name = f"{SCHEDULES}/{raw['id']}.yaml"
    items = load_document(name, pack)
    if not isinstance(items, Mapping) or not isinstance(items.get("items"), list):
        raise PackError(f"{where}: {name} holds a list of items")
    return tuple(_deadline(i, f"{where} {name}", str(raw["from"]), "from") for i in items["items"])


def _parse(raw: Any, path: Path, pack: str) -> Bundle:
    where = str(path)
    if not isinstance(raw, Mapping):
        raise PackError(f"{where}: a bundle definition is a mapping")
    try:
        return Bundle(
            id=str(raw["id"]),
            name=parse_names(raw["name"], f"{where} name"),
            description=parse_names(raw["description"], f"{where} description"),
            event=str(raw["event"]) if raw.get("event") else None,
            questions=tuple(_question(q, f"{where} question") for q in raw.get("questions", [])),
            fields=tuple(_field(f, f"{where} field") for f in raw["fields"]),
            parts=tuple(_part(p, f"{where} part") for p in raw["parts"]),
            unnecessary=tuple(
                parse_names(u, f"{where} unnecessary") for u in raw.get("unnecessary", [])
            ),
            members=_members(raw.get("members"), where),
            checklist=(
                *(_deadline(d, where) for d in raw.get("checklist", [])),
                *_schedule(raw.get("schedule"), where, pack),
            ),
            head_change=_head_change(raw.get("head_change"), where),
        )
    except (KeyError, TypeError) as exc:
        raise PackError(f"{where}: missing or malformed {exc.args[0]!r}") from exc


@lru_cache(maxsize=4)
def bundles(pack: str = DEFAULT_PACK) -> dict[str, Bundle]:
    """Every bundle of the pack, checked, by id."""
    found: dict[str, Bundle] = {}
    for path, raw in load_folder(FOLDER, pack):
        bundle = _parse(raw, path, pack)
        if bundle.id in found:
            raise PackError(f"{path}: bundle {bundle.id!r} is defined twice")
        found[bundle.id] = bundle
    return found


def get_bundle(bundle_id: str) -> Bundle:
    found = bundles().get(bundle_id)
    if found is None:
        raise NotFoundError(
            "unknown_life_event",
            f"ライフイベント「{bundle_id}」はありません。",
            f"There is no life event {bundle_id!r}.",
        )
    return found
