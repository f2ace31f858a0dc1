"""Procedure definitions read from a pack (``packs/<pack>/procedures/*.yaml``).

A definition is everything the engine needs to run a procedure without
knowing it: names, the owning organization and how to find it, the legal
basis, the assurance levels, who may apply, the form (JSON Schema plus order,
labels and help in ja/en, and ``checks``: rules over the form, in the language of
``rules``, that refuse one field with a ja/en message, e.g. a date against today or
another date), the evidence fetched through the exchange instead
of attachments, the fee, the standard processing time, automatic decision
rules and the register changes an approval makes. A municipality adds a
procedure by adding a file; a broken file fails at load with its name.

Values in ``effects`` are templates: a string starting with ``$`` is a path
into the decision context (``$form.moved_on``, ``$evidence.juminhyo.address``,
``$owner.address.town``, ``$today``); anything else is a literal. An effect with ``each``
may also refer to ``$item``, the item of the list it is made for (and ``$item_evidence``,
the evidence fetched about its ``id`` by an evidence need with ``each``), and every effect to
``$record``, the subject's record it changes as it stands when the change is made (so a list
grows from what the register holds then, not from a copy fetched at submission).
``{$append: [list, item]}`` is that list with the item added (its absent facts left out).
``{$date_offset: [date, days]}`` is the ISO date that many days later, as the rule operator
``date_offset`` (a loss of insurance on the day after the death: ``[$form.death_date, 1]``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from tsunagu.core.errors import NotFoundError
from tsunagu.exchange.definitions import evidence_types, matrix
from tsunagu.packs import DEFAULT_PACK, PackError, load_folder
from tsunagu.procedure import rules
from tsunagu.registry.definitions import OWNER_KINDS, Names, parse_names, registries
from tsunagu.registry.validation import FieldError, RecordValidator

CATEGORIES = ("notification", "application", "certificate")
# self: the subject applies; proxy: a person under the subject's power of attorney;
# representative: for a corporation (its member, or under its power of attorney);
# household: a member of the subject's household (届出義務者, e.g. 死亡届).
APPLICANT_ROLES = ("self", "proxy", "representative", "household")
OWNER_MODES = ("form", "keeper", "choice")
# review: what the reviewer records when approving (the procedure's review_form)
CONTEXT_ROOTS = ("form", "evidence", "subject", "owner", "application", "today", "review")
JOIN = "$join"  # {"$join": [template, …]}: the filled parts joined by a space (e.g. a full name)
# {"$append": [list template, item template]}: the list with one more item (a child added to
# an allowance recipient's children)
APPEND = "$append"
# {"$date_offset": [date template, whole days]}: the ISO date that many days later (国民健康保険法
# 第8条: membership is lost on the day after the death)
DATE_OFFSET = "$date_offset"
# in effects made for each item: what evidence needs with ``each`` fetched about the item's id
ITEM_EVIDENCE = "item_evidence"
# in effects only: the record being changed, read when the change is made
RECORD = "record"


def _optional_names(raw: Any, where: str) -> Names | None:
    return None if raw is None else parse_names(raw, where)


@dataclass(frozen=True)
class FormField:
    """One input of the form: a leaf of the schema, in the order it is asked."""

    path: str
    label: Names
    help: Names | None
    schema: dict[str, Any]
    required: bool
    # "<registry>.<field path>": the value a register already holds about the subject,
    # filled in and never asked again (e.g. juki.address.municipality_code).
    prefill: str | None = None
    # worked out by a life event from the registers (the new head after a death), never
    # typed: the procedure's own form does not show it
    derived: bool = False


@dataclass(frozen=True)
class FormCheck:
    """What the schema cannot say about one field (a date against today or against another
    field): when the rule ``when`` holds over ``{"form": …}``, ``path`` is refused."""

    path: str
    when: Any
    message_ja: str  # naming the field like a schema error: 「label」(path): …
    message_en: str  # path …


class FormValidator(RecordValidator):
    """The form's schema, then the pack's checks (``form.checks``).

    The checks run once the schema holds, so they compare values of the right type and
    format (a date that is no date is refused by the schema alone, once). Each refusal names
    the field like a schema error does, so the pages reword it with the field's label.
    """

    def __init__(self, schema: dict[str, Any], checks: tuple[FormCheck, ...]) -> None:
        super().__init__(schema)
        self.checks = checks

    def errors(self, record: Any) -> list[FieldError]:
        found = super().errors(record)
        if found:
            return found
        return [
            FieldError(check.path, "check", check.message_ja, check.message_en)
            for check in self.checks
            if rules.evaluate(check.when, {"form": record}) is True
        ]


@dataclass(frozen=True)
class FormDefinition:
    schema: dict[str, Any]
    fields: tuple[FormField, ...]
    validator: FormValidator

    def field(self, path: str) -> FormField | None:
        return next((f for f in self.fields if f.path == path), None)


@dataclass(frozen=True)
class Owner:
    """How the owning organization is found: from a form field (地方公共団体コード), as the
    keeper of the subject's record in a register, or chosen by the applicant."""

    kind: str
    mode: str
    path: str | None = None
    registry: str | None = None
    function: str | None = None


@dataclass(frozen=True)
class EvidenceNeed:
    """Evidence fetched at submission; ``replaces`` names the attachment it does away with."""

    type_id: str
    about: str  # "subject", or a path into the form holding a person id
    replaces: Names
    required: bool
    # a path into the form holding a list: fetched about each item's ``id`` instead (every
    # remaining member of a household whose head died); an effect made ``each`` item finds
    # what was fetched about it under ``$item_evidence``
    each: str | None = None


@dataclass(frozen=True)
class Exemption:
    id: str
    name: Names


@dataclass(frozen=True)
class Fee:
    """Fee in yen: at the counter/on paper and online (the online discount)."""

    paper: int
    online: int
    exemptions: tuple[Exemption, ...]


@dataclass(frozen=True)
class Effect:
    """A register change made when the application is approved (by the owner, as keeper)."""

    registry: str
    # a date template: a ``$path``, or ``{$date_offset: [$path, days]}``
    valid_from: str | dict[str, Any]
    patch: dict[str, Any] | None
    # whose record changes: the application's subject, or e.g. ``$form.vehicle_id`` for a car
    subject: str = "$subject.id"
    # a rule expression: the change is made only when it holds (e.g. 加入 but not 喪失)
    when: Any = None
    # the whole record written when the subject has none valid then (an enrolment, a first
    # certification), or always without a patch (keyed registers: one more certificate)
    record: dict[str, Any] | None = None
    # a ``$path`` to a list: the change is made once per item, ``$item`` being that item (every
    # remaining member of a household whose head died); nothing when the list is absent
    each: str | None = None
    # the change refers to ``$record`` (read only then, when the change is made)
    reads_record: bool = False


CERTIFICATE_LAYOUTS = ("resident_record", "tax_assessment")


@dataclass(frozen=True)
class CertificateSpec:
    """What an approved certificate procedure issues (see :mod:`tsunagu.procedure.certificates`).

    ``layout`` picks how the projected evidence is laid out on the page;
    ``record`` (``{evidence field: form path}``) picks one of several records
    (課税 per fiscal year); ``options`` maps a layout's optional parts to the
    boolean form field by which the applicant asks for them (e.g. 続柄).
    """

    kind: str
    title: Names
    layout: str
    evidence: str
    valid_days: int
    record: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ProcedureDefinition:
    id: str
    name: Names
    description: Names
    category: str
    owner: Owner
    legal_basis: Names
    exchange_procedure: str | None
    ial: int
    aal: int
    applicants: tuple[str, ...]
    subject_kind: str
    form: FormDefinition
    evidence: tuple[EvidenceNeed, ...]
    fee: Fee
    processing_days: int
    rules: tuple[rules.Rule, ...]
    effects: tuple[Effect, ...]
    source: str
    certificate: CertificateSpec | None = None
    # what a reviewer records when approving (e.g. the care level after the board's review)
    review_form: FormDefinition | None = None

    @property
    def attachments_eliminated(self) -> int:
        return len(self.evidence)

    @property
    def online(self) -> bool:
        """Completed online end to end (every procedure here is; kept for the inventory)."""
        return True


def _leaves(schema: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[dict[str, Any], bool]]:
    """Dotted path → (leaf schema, required all the way down)."""
    found: dict[str, tuple[dict[str, Any], bool]] = {}
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        if sub.get("type") == "object" and "properties" in sub:
            for leaf, (leaf_schema, leaf_required) in _leaves(sub, path).items():
                found[leaf] = (leaf_schema, leaf_required and name in required)
        else:
            found[path] = (dict(sub), name in required)
    return found


def _prefill(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    registry_id, _, path = str(raw).partition(".")
    if registry_id not in registries() or path not in registries()[registry_id].field_paths():
        raise PackError(f"{where}: prefill {raw!r} is not <registry>.<field> of a known registry")
    return str(raw)


def _form(raw: Any, where: str) -> FormDefinition:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("schema"), Mapping):
        raise PackError(f"{where}: form needs a schema")
    schema = dict(raw["schema"])
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise PackError(f"{where}: invalid form schema: {exc.message}") from exc
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        raise PackError(f"{where}: the form schema must be a closed object")
    leaves = _leaves(schema)
    fields = []
    for item in raw.get("fields") or []:
        path = str(item.get("path", ""))
        if path not in leaves:
            raise PackError(f"{where}: form field {path!r} is not a leaf of the schema")
        leaf_schema, required = leaves[path]
        fields.append(
            FormField(
                path,
                parse_names(item.get("label"), f"{where} {path} label"),
                _optional_names(item.get("help"), f"{where} {path} help"),
                leaf_schema,
                required,
                _prefill(item.get("prefill"), f"{where} {path}"),
                bool(item.get("derived", False)),
            )
        )
    missing = sorted(set(leaves) - {f.path for f in fields})
    if missing or len(fields) != len(leaves):
        raise PackError(f"{where}: every schema leaf needs one form field entry; missing {missing}")
    checks = _checks(raw.get("checks"), where, {f.path: f.label for f in fields})
    return FormDefinition(schema, tuple(fields), FormValidator(schema, checks))


def _checks(raw: Any, where: str, labels: Mapping[str, Names]) -> tuple[FormCheck, ...]:
    if raw is not None and not isinstance(raw, list):
        raise PackError(f"{where}: form.checks must be a list")
    checks = []
    for index, item in enumerate(raw or []):
        spot = f"{where} form.checks[{index}]"
        path = str(item.get("path")) if isinstance(item, Mapping) else ""
        if path not in labels:
            raise PackError(f"{spot}: needs the path of a form field, when and message")
        rules.check(item.get("when"), spot)
        message = parse_names(item.get("message"), f"{spot} message")
        named_ja = f"「{labels[path].ja}」({path}): {message.ja}"
        checks.append(FormCheck(path, item["when"], named_ja, f"{path} {message.en}"))
    return tuple(checks)


def _owner(raw: Any, where: str) -> Owner:
    if not isinstance(raw, Mapping) or raw.get("kind") not in OWNER_KINDS:
        raise PackError(f"{where}: owner needs a kind out of {OWNER_KINDS}")
    mode = raw.get("from")
    if mode not in OWNER_MODES:
        raise PackError(f"{where}: owner.from must be one of {OWNER_MODES}")
    owner = Owner(
        str(raw["kind"]), str(mode), raw.get("path"), raw.get("registry"), raw.get("function")
    )
    if mode == "form" and not owner.path:
        raise PackError(f"{where}: owner from the form needs the path of a 地方公共団体コード")
    if mode == "keeper" and owner.registry not in registries():
        raise PackError(f"{where}: owner from a keeper needs a known registry")
    if owner.function is not None and owner.function not in matrix().functions:
        raise PackError(f"{where}: unknown statutory function {owner.function!r}")
    return owner


def _evidence(raw: Any, where: str, exchange_procedure: str | None) -> tuple[EvidenceNeed, ...]:
    needs = []
    for item in raw or []:
        type_id = str(item.get("type"))
        if type_id not in evidence_types():
            raise PackError(f"{where}: unknown evidence type {type_id!r}")
        if exchange_procedure is None or not matrix().provisions_for(exchange_procedure, type_id):
            raise PackError(
                f"{where}: no provision of the legal-basis matrix lets procedure "
                f"{exchange_procedure!r} obtain {type_id!r}"
            )
        about = str(item.get("about", "subject"))
        if about != "subject" and not about.startswith("form."):
            raise PackError(f"{where}: evidence 'about' is 'subject' or a form path")
        each = item.get("each")
        if each is not None and ("about" in item or not str(each).startswith("form.")):
            raise PackError(f"{where}: evidence 'each' is a form path to a list, without 'about'")
        needs.append(
            EvidenceNeed(
                type_id,
                about if each is None else str(each),  # never "subject": the list's persons
                parse_names(item.get("replaces"), f"{where} {type_id} replaces"),
                bool(item.get("required", True)),
                str(each) if each is not None else None,
            )
        )
    return tuple(needs)


def _fee(raw: Any, where: str) -> Fee:
    raw = raw or {}
    paper, online = int(raw.get("paper", 0)), int(raw.get("online", raw.get("paper", 0)))
    if paper < 0 or online < 0 or online > paper:
        raise PackError(f"{where}: fees must be ≥ 0 and online ≤ paper")
    exemptions = tuple(
        Exemption(str(e["id"]), parse_names(e.get("name"), f"{where} exemption"))
        for e in raw.get("exemptions") or []
    )
    return Fee(paper, online, exemptions)


def _check_template(value: Any, where: str, roots: tuple[str, ...] = CONTEXT_ROOTS) -> None:
    if isinstance(value, str) and value.startswith("$"):
        if value[1:].split(".")[0] not in roots:
            raise PackError(f"{where}: {value!r} must start with one of {roots}")
    elif isinstance(value, Mapping):
        if JOIN in value and (len(value) != 1 or not isinstance(value[JOIN], list)):
            raise PackError(f"{where}: {JOIN} stands alone and takes a list")
        if APPEND in value and (
            len(value) != 1 or not isinstance(value[APPEND], list) or len(value[APPEND]) != 2
        ):
            raise PackError(f"{where}: {APPEND} stands alone and takes [list, item]")
        if DATE_OFFSET in value and (
            len(value) != 1
            or not isinstance(value[DATE_OFFSET], list)
            or len(value[DATE_OFFSET]) != 2
            or type(value[DATE_OFFSET][1]) is not int
        ):
            raise PackError(f"{where}: {DATE_OFFSET} stands alone and takes [date, whole days]")
        for item in value.values():
            _check_template(item, where, roots)
    elif isinstance(value, list):
        for item in value:
            _check_template(item, where, roots)


def _is_date_template(value: Any) -> bool:
    """A ``$path``, or ``{$date_offset: [$path, days]}`` (a date that many days later)."""
    if isinstance(value, Mapping) and DATE_OFFSET in value:
        return isinstance(value[DATE_OFFSET], list) and _is_date_template(value[DATE_OFFSET][0])
    return isinstance(value, str) and value.startswith("$")


def _mentions(value: Any, root: str) -> bool:
    """Whether a template refers to ``$<root>…`` anywhere."""
    if isinstance(value, str):
        return value.startswith("$") and value[1:].split(".")[0] == root
    if isinstance(value, Mapping):
        return any(_mentions(item, root) for item in value.values())
    if isinstance(value, list):
        return any(_mentions(item, root) for item in value)
    return False


def _effects(raw: Any, where: str, *, reviewed: bool) -> tuple[Effect, ...]:
    """The register changes; ``$review…`` only where the procedure has a review form."""
    roots = CONTEXT_ROOTS if reviewed else tuple(r for r in CONTEXT_ROOTS if r != "review")
    effects = []
    for item in raw or []:
        if item.get("registry") not in registries():
            raise PackError(f"{where}: effect on unknown registry {item.get('registry')!r}")
        patch, record = item.get("patch"), item.get("record")
        if not all(isinstance(part, Mapping | None) for part in (patch, record)) or (
            patch is None and record is None
        ):
            raise PackError(f"{where}: an effect needs a patch, a record or both (mappings)")
        if not _is_date_template(item.get("valid_from")):
            raise PackError(f"{where}: an effect needs valid_from ($path or {DATE_OFFSET})")
        subject = str(item.get("subject", "$subject.id"))
        each = item.get("each")
        if each is not None and not str(each).startswith("$"):
            raise PackError(f"{where}: an effect's each is a $path to a list")
        _check_template(each, where, roots)
        found = (*roots, "item", ITEM_EVIDENCE) if each is not None else roots
        for template in (item["valid_from"], subject):
            _check_template(template, where, found)
        # what is changed may refer to the record changed (found by subject and valid_from)
        for template in (patch, record):
            _check_template(template, where, (*found, RECORD))
        if item.get("when") is not None:
            rules.check(item["when"], f"{where} effect when")
        effects.append(
            Effect(
                str(item["registry"]),
                item["valid_from"],
                dict(patch) if patch is not None else None,
                subject,
                item.get("when"),
                dict(record) if record is not None else None,
                str(each) if each is not None else None,
                _mentions([patch, record], RECORD),
            )
        )
    return tuple(effects)


def _certificate(
    raw: Any, where: str, evidence: tuple[EvidenceNeed, ...], form: FormDefinition
) -> CertificateSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or raw.get("layout") not in CERTIFICATE_LAYOUTS:
        raise PackError(f"{where}: certificate.layout must be one of {CERTIFICATE_LAYOUTS}")
    source = str(raw.get("evidence"))
    if source not in {need.type_id for need in evidence}:
        raise PackError(f"{where}: the certificate's evidence {source!r} is not fetched")
    days = int(raw.get("valid_days", 90))
    if days < 1:
        raise PackError(f"{where}: certificate.valid_days must be ≥ 1")
    fields = evidence_types()[source].fields
    record = tuple((str(k), str(v)) for k, v in (raw.get("record") or {}).items())
    options = tuple((str(k), str(v)) for k, v in (raw.get("options") or {}).items())
    for field_path, form_path in record:
        if field_path not in fields or form.field(form_path) is None:
            raise PackError(f"{where}: certificate.record {field_path}: {form_path} is unknown")
    for _option, form_path in options:
        found = form.field(form_path)
        if found is None or found.schema.get("type") != "boolean":
            raise PackError(f"{where}: certificate option {form_path!r} is no boolean form field")
    return CertificateSpec(
        str(raw.get("kind") or source),
        parse_names(raw.get("title"), f"{where} certificate.title"),
        str(raw["layout"]),
        source,
        days,
        record,
        options,
    )


def _parse(raw: Any, path: Path) -> ProcedureDefinition:
    where = str(path)
    if not isinstance(raw, Mapping):
        raise PackError(f"{where}: a procedure definition is a mapping")
    try:
        applicants = tuple(str(a) for a in raw["applicants"])
        if not applicants or not set(applicants) <= set(APPLICANT_ROLES):
            raise PackError(f"{where}: applicants must be among {APPLICANT_ROLES}")
        if raw["category"] not in CATEGORIES:
            raise PackError(f"{where}: category must be one of {CATEGORIES}")
        assurance = raw["assurance"]
        ial, aal = int(assurance["ial"]), int(assurance["aal"])
        if not (1 <= ial <= 3 and 1 <= aal <= 3):
            raise PackError(f"{where}: assurance levels run from 1 to 3")
        exchange_procedure = raw.get("exchange_procedure")
        if exchange_procedure is not None and exchange_procedure not in matrix().procedures:
            raise PackError(f"{where}: {exchange_procedure!r} is not in the legal-basis matrix")
        days = int(raw["processing_days"])
        if days < 0:
            raise PackError(f"{where}: processing_days must be ≥ 0")
        subject_kind = str(raw.get("subject_kind", "person"))
        if subject_kind not in ("person", "organization"):
            raise PackError(f"{where}: subject_kind is person or organization")
        form = _form(raw["form"], where)
        evidence = _evidence(raw.get("evidence"), where, exchange_procedure)
        return ProcedureDefinition(
            id=str(raw["id"]),
            name=parse_names(raw["name"], f"{where} name"),
            description=parse_names(raw["description"], f"{where} description"),
            category=str(raw["category"]),
            owner=_owner(raw["owner"], where),
            legal_basis=parse_names(raw["legal_basis"], f"{where} legal_basis"),
            exchange_procedure=exchange_procedure,
            ial=ial,
            aal=aal,
            applicants=applicants,
            subject_kind=subject_kind,
            form=form,
            evidence=evidence,
            fee=_fee(raw.get("fee"), where),
            processing_days=days,
            rules=rules.parse(raw.get("auto_decision"), where),
            effects=_effects(
                raw.get("effects"), where, reviewed=raw.get("review_form") is not None
            ),
            source=path.name,
            certificate=_certificate(raw.get("certificate"), where, evidence, form),
            review_form=(
                _form(raw["review_form"], f"{where} review_form")
                if raw.get("review_form") is not None
                else None
            ),
        )
    except (KeyError, TypeError) as exc:
        raise PackError(f"{where}: missing or malformed {exc.args[0]!r}") from exc


# A fresh server worker's first requests arrive together on its thread pool: unguarded,
# each thread parsed the packs at once under the GIL (8 at a time: 6–9 s to first answers).
_LOADING = threading.Lock()


def procedures(pack: str = DEFAULT_PACK) -> dict[str, ProcedureDefinition]:
    """Every procedure of the pack, checked, by id (parsed once per process, by one thread)."""
    with _LOADING:
        return _procedures(pack)


@lru_cache(maxsize=4)
def _procedures(pack: str) -> dict[str, ProcedureDefinition]:
    found: dict[str, ProcedureDefinition] = {}
    for path, raw in load_folder("procedures", pack):
        definition = _parse(raw, path)
        if definition.id in found:
            raise PackError(f"{path}: procedure {definition.id!r} is defined twice")
        found[definition.id] = definition
    return found


def get_procedure(procedure_id: str) -> ProcedureDefinition:
    found = procedures().get(procedure_id)
    if found is None:
        raise NotFoundError(
            "unknown_procedure",
            f"手続「{procedure_id}」はありません。",
            f"There is no procedure {procedure_id!r}.",
        )
    return found
