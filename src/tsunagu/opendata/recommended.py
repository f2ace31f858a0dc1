"""Recommended municipal datasets (推奨データセット) as Frictionless Table Schemas.

The 14 definitions are OpenAPI schemas (see ``config.recommended_dir`` for why
they are read at run time rather than copied into the package). Each becomes a
Table Schema: ``number`` → number, ``format: date``/``time`` → date/time,
``enum`` → an enum constraint, ``required`` → a required constraint; the
GeoJSON ``location`` object is not a CSV column and is left out. Fields that
carry a 全国地方公共団体コード or 法人番号 get ``x-tsunagu-check`` so their check
digits are verified with ``tsunagu.core.ids``.

A resource declared as following one (``conforms_to``) is validated with
frictionless plus the check-digit pass; the report names the row (file line,
the header being line 1), the column and the cause in Japanese and English.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from tsunagu.core import ids
from tsunagu.core.clock import utcnow
from tsunagu.core.errors import NotFoundError
from tsunagu.opendata.config import recommended_dir
from tsunagu.opendata.models import OdResource
from tsunagu.opendata.storage import Storage

MAX_REPORTED = 200
CODE_CHECKS = {"lgcode": ids.IdKind.LGCODE, "corporate": ids.IdKind.CORPORATE}


@dataclass(frozen=True)
class Recommended:
    key: str
    number: int
    title: str
    description: str
    schema: dict[str, Any]

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.schema["fields"]]

    @property
    def required(self) -> list[str]:
        return [
            f["name"] for f in self.schema["fields"] if f.get("constraints", {}).get("required")
        ]


def _code_check(name: str) -> str | None:
    if name == "法人番号":
        return "corporate"
    if name.endswith("コード") and ("市区町村" in name or "都道府県" in name):
        return "lgcode"
    return None


def _field(name: str, spec: dict[str, Any], required: bool) -> dict[str, Any] | None:
    kind = spec.get("type", "string")
    if kind == "object":
        return None
    field: dict[str, Any] = {
        "name": name,
        "title": name,
        "description": spec.get("description", ""),
    }
    fmt = spec.get("format")
    if kind == "number":
        field["type"] = "number"
    elif fmt == "date":
        field["type"] = "date"
    elif fmt == "time":
        field.update(type="time", format="any")
    else:
        field["type"] = "string"
        if fmt == "uri":
            field["format"] = "uri"
    constraints: dict[str, Any] = {}
    if required:
        constraints["required"] = True
    enum = [str(v) for v in spec.get("enum", []) if str(v) != ""]
    if enum:
        constraints["enum"] = enum
    if constraints:
        field["constraints"] = constraints
    check = _code_check(name)
    if check:
        field["x-tsunagu-check"] = check
    return field


def convert(path: Path) -> Recommended:
    """One OpenAPI definition file → a ``Recommended`` with its Table Schema."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    ((title, spec),) = document["components"]["schemas"].items()
    required = set(spec.get("required", []))
    fields = [
        f
        for name, prop in spec["properties"].items()
        if (f := _field(str(name), prop, name in required))
    ]
    number_text, _, key = path.stem.partition("-")
    return Recommended(
        key=key,
        number=int(number_text),
        title=title,
        description=spec.get("description", ""),
        schema={"fields": fields, "missingValues": [""]},
    )


@lru_cache(maxsize=4)
def _load(folder: str) -> dict[str, Recommended]:
    items = [convert(p) for p in sorted(Path(folder).glob("*.yaml"))]
    return {item.key: item for item in items}


def definitions() -> dict[str, Recommended]:
    """All recommended datasets by key (empty when the definitions folder is absent)."""
    folder = recommended_dir()
    return _load(str(folder)) if folder else {}


def get(key: str) -> Recommended:
    found = definitions().get(key)
    if found is None:
        raise NotFoundError(
            "opendata.recommended_not_found",
            f"推奨データセット {key} が見つかりません。",
            f"Recommended dataset {key} not found.",
        )
    return found


def template_csv(key: str) -> bytes:
    """An empty CSV with the header row, UTF-8 with BOM so spreadsheet software reads it."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(get(key).field_names)
    return buffer.getvalue().encode("utf-8-sig")


# --------------------------------------------------------------- validation

MESSAGES = {
    "missing-column": ("必須の列「{col}」がありません", 'required column "{col}" is missing'),
    "type-error": ("「{value}」は{type_ja}として読めません", '"{value}" is not a valid {type}'),
    "constraint-error:required": ("必須項目が空です", "a required value is empty"),
    "constraint-error:enum": (
        "「{value}」は許される値（{enum}）ではありません",
        '"{value}" is not one of the allowed values ({enum})',
    ),
    "check-digit": ("{reason_ja}", "{reason_en}"),
    "extra-cell": ("列の数が見出しより多い行です", "the row has more cells than the header"),
    "missing-cell": ("列の数が見出しより少ない行です", "the row has fewer cells than the header"),
    "blank-row": ("空行です", "blank row"),
    "other": ("{note}", "{note}"),
}
TYPE_JA = {
    "number": "数値",
    "date": "日付（YYYY-MM-DD）",
    "time": "時刻（HH:MM）",
    "string": "文字列",
    "integer": "整数",
}


def _issue(row: int | None, column: str | None, kind: str, **values: Any) -> dict[str, Any]:
    ja, en = MESSAGES.get(kind, MESSAGES["other"])
    return {
        "row": row,
        "column": column,
        "type": kind.split(":")[0],
        "message_ja": ja.format(**values),
        "message_en": en.format(**values),
    }


def validate_bytes(key: str, data: bytes, fmt: str = "csv") -> dict[str, Any]:
    """Validate tabular ``data`` against recommended dataset ``key``; returns the report."""
    from frictionless import Resource, Schema

    from tsunagu.opendata.datastore import detect_encoding

    definition = get(key)
    encoding = detect_encoding(data[: 256 * 1024]) if fmt.lower() != "xlsx" else None
    header = _header(data, encoding, fmt)
    issues = [
        _issue(1, col, "missing-column", col=col)
        for col in definition.required
        if col not in header
    ]
    fields = {f["name"]: f for f in definition.schema["fields"]}
    resource = Resource(
        data=data,
        format=fmt.lower(),
        encoding=encoding,
        # "partial": columns are matched by name, in any order, and the data may lack or add
        # some (a missing required column is reported above, in the guide's own words)
        schema=Schema.from_descriptor({**definition.schema, "fieldsMatch": "partial"}),
    )
    report = resource.validate(limit_errors=MAX_REPORTED)
    for error in report.tasks[0].errors if report.tasks else report.errors:
        issues.append(_from_frictionless(error, fields))
    issues.extend(_check_digits(data, encoding, fmt, fields))
    rows = report.tasks[0].stats.get("rows", 0) if report.tasks else 0
    issues.sort(
        key=lambda i: (i["row"] or 0, header.index(i["column"]) if i["column"] in header else -1)
    )
    return {
        "schema": key,
        "title": definition.title,
        "valid": not issues,
        "rows": rows,
        "error_count": len(issues),
        "errors": issues[:MAX_REPORTED],
        "checked_at": utcnow().isoformat(),
    }


def _rows(data: bytes, encoding: str | None, fmt: str) -> Iterator[list[str]]:
    """Every row as text cells (header first), so codes keep their leading zeros."""
    if encoding is None:
        from openpyxl import load_workbook

        from tsunagu.opendata.datastore import excel_text

        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for values in workbook.worksheets[0].iter_rows(values_only=True):
                yield ["" if v is None else excel_text(v) for v in values]
        finally:
            workbook.close()
        return
    delimiter = "\t" if fmt.lower() == "tsv" else ","
    text = data.decode(encoding, errors="replace")
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        yield [cell.strip() for cell in row]


def _header(data: bytes, encoding: str | None, fmt: str) -> list[str]:
    return next(_rows(data, encoding, fmt), [])


def _from_frictionless(error: Any, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    row, column = getattr(error, "row_number", None), getattr(error, "field_name", None)
    value = getattr(error, "cell", "")
    kind = error.type
    if kind == "type-error" and column in fields:
        field_type = fields[column]["type"]
        return _issue(
            row,
            column,
            kind,
            value=value,
            type=field_type,
            type_ja=TYPE_JA.get(field_type, field_type),
        )
    if kind == "constraint-error" and column in fields:
        constraint = "required" if "required" in error.note else "enum"
        enum = "、".join(fields[column].get("constraints", {}).get("enum", []))
        return _issue(row, column, f"{kind}:{constraint}", value=value, enum=enum)
    if kind in MESSAGES:
        return _issue(row, column, kind)
    return _issue(row, column, "other", note=error.message)


def _check_digits(
    data: bytes, encoding: str | None, fmt: str, fields: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    checked = {
        n: CODE_CHECKS[f["x-tsunagu-check"]] for n, f in fields.items() if f.get("x-tsunagu-check")
    }
    rows = _rows(data, encoding, fmt)
    header = next(rows, [])
    columns = [(i, name, checked[name]) for i, name in enumerate(header) if name in checked]
    issues: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=2):
        for index, name, kind in columns:
            value = row[index] if index < len(row) else ""
            if value and not (result := ids.check(kind, value)).valid:
                issues.append(
                    _issue(
                        line,
                        name,
                        "check-digit",
                        reason_ja=result.reason_ja,
                        reason_en=result.reason_en,
                    )
                )
    return issues


def validate_resource(session: Session, resource: OdResource, storage: Storage) -> None:
    """Validate an uploaded resource declared to follow a recommended dataset; keep the report."""
    if not resource.conforms_to or not resource.storage_key:
        return
    if resource.conforms_to not in definitions():
        resource.validation = {
            "schema": resource.conforms_to,
            "valid": False,
            "error_count": 1,
            "errors": [_issue(None, None, "other", note=f"unknown schema {resource.conforms_to}")],
        }
        return
    data = storage.path(resource.storage_key).read_bytes()
    resource.validation = validate_bytes(resource.conforms_to, data, resource.format or "csv")


def badge_svg(report: dict[str, Any] | None) -> str:
    """A small conformance badge (green: conforms, red: errors, grey: not checked)."""
    if not report:
        label, colour = "未検証 / not checked", "#767676"
    elif report.get("valid"):
        label, colour = "適合 / conforms", "#1a7f37"
    else:
        label, colour = f"不適合 {report.get('error_count', 0)} / errors", "#b42318"
    width = 110 + 7 * len(label)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="推奨データセット: {label}"><title>推奨データセット: {label}</title>'
        f'<rect width="110" height="20" fill="#333"/><rect x="110" width="{width - 110}" '
        f'height="20" fill="{colour}"/><g fill="#fff" font-family="sans-serif" font-size="11">'
        f'<text x="6" y="14">推奨データセット</text><text x="116" y="14">{label}</text></g></svg>'
    )
