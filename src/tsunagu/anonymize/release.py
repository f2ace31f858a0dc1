"""What a release record says, as canonical JSON: the bytes a seal signature will cover.

Signing with the organization's seal certificate (trust module) and listing
the release in the open data catalog (opendata module) both work on the
output of this file, so neither needs to know how the engine works:
``to_be_signed`` gives the exact bytes to sign and ``catalog_metadata`` the
figures a catalog entry carries.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

RECORD_SCHEMA = "tsunagu.anonymize.release/v1"

# Report keys that make up the 作成記録: the method, its parameters and what it achieved.
_CREATION_KEYS = (
    "schema",
    "tool",
    "input",
    "output",
    "algorithm",
    "requested",
    "achieved",
    "attributes",
    "rows_in",
    "rows_out",
    "suppressed_rows",
    "suppressed_fraction",
    "equivalence_classes",
    "loss",
    "risk_before",
    "risk_after",
    "steps",
)


def creation_record(report: dict[str, Any]) -> dict[str, Any]:
    """The 作成記録 of a run: everything in the report except timings and search statistics."""
    record = {key: report[key] for key in _CREATION_KEYS if key in report}
    levels = report.get("search", {}).get("levels")
    if levels is not None:
        record["generalization_levels"] = levels
    return record


def canonical_json(value: Any) -> bytes:
    """Deterministic UTF-8 JSON (sorted keys, no whitespace): same record, same bytes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def signed_content(
    *,
    release_id: str,
    title: str,
    organization: str,
    created_at: str,
    creation: dict[str, Any],
    publication: dict[str, Any],
) -> dict[str, Any]:
    """The document a seal signature covers (created_at as ISO 8601 UTC)."""
    return {
        "schema": RECORD_SCHEMA,
        "id": release_id,
        "title": title,
        "organization": organization,
        "created_at": created_at,
        "creation_record": creation,
        "publication": publication,
    }


def digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def catalog_metadata(content: dict[str, Any]) -> dict[str, Any]:
    """Figures a catalog dataset entry carries (CKAN extras / DCAT), from the signed content."""
    creation = content["creation_record"]
    achieved = creation.get("achieved", {})
    return {
        "anonymization_method": creation.get("algorithm"),
        "anonymization_k": achieved.get("k"),
        "anonymization_l": achieved.get("l_distinct"),
        "anonymization_t": achieved.get("t"),
        "information_loss_gcp": creation.get("loss", {}).get("gcp"),
        "suppressed_rows": creation.get("suppressed_rows"),
        "output_sha256": creation.get("output", {}).get("sha256"),
        "personal_information_categories": content["publication"].get("categories"),
        "provision_method": content["publication"].get("provision_method"),
        "release_record_sha256": digest(content),
    }
