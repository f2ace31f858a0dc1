#!/usr/bin/env python3
"""Verify a downloaded tsunagu access log offline (Python standard library only).

Usage::

    python3 tools/verify_access_log.py access-log.json [--roots roots.json]

For every entry it checks that

1. the entry says what its audit record says (kind, outcome, agency, purpose,
   legal basis, fields …) and is about the person the log is for;
2. the audit record's hash is SHA-256(previous hash ‖ canonical JSON of the
   record) — so the record was not altered after it was chained;
3. the RFC 6962 inclusion proof leads from that hash to the day's Merkle root;
4. with ``--roots`` (the JSON of ``/api/audit/roots``, fetched separately or
   from a copy someone else kept), the root is the one the platform published.

Exit status 0 when everything verifies, 1 otherwise (each failure is printed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

FORMAT = "tsunagu-access-log/1"
# Entry field → key in the audit record's data that must hold the same value.
BOUND_FIELDS = {
    "kind": "kind",
    "outcome": "outcome",
    "reason": "reason",
    "agency_id": "requester_id",
    "agency_verified": "requester_verified",
    "owner_id": "owner_id",
    "registry_id": "registry_id",
    "evidence_type_id": "evidence_type",
    "procedure_id": "procedure_id",
    "application_ref": "application_ref",
    "provision_id": "provision_id",
    "fields": "fields",
}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(body)).encode("utf-8")).hexdigest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def check_entry(
    entry: dict[str, Any], party_id: str, roots: dict[str, dict[str, Any]]
) -> list[str]:
    """Problems with one entry (empty when it verifies)."""
    problems: list[str] = []
    record = entry.get("audit") or {}
    body = record.get("body") or {}
    data = body.get("data") or {}
    if body.get("seq") != entry.get("audit_seq"):
        problems.append("the entry cites another audit record than the one attached")
    if body.get("object_id") != party_id or data.get("party_id") != party_id:
        problems.append("the audit record is not about this person")
    for field, key in BOUND_FIELDS.items():
        if entry.get(field) != data.get(key):
            problems.append(f"{field} differs from the audit record ({key})")
    if chain_hash(str(record.get("prev_hash", "")), body) != record.get("hash"):
        problems.append("the audit record does not match its hash (altered)")
    try:
        leaf = leaf_hash(bytes.fromhex(record["hash"]))
        proof = [bytes.fromhex(p) for p in record["proof"]]
        root = bytes.fromhex(record["root"])
        included = verify_inclusion(
            int(record["leaf_index"]), int(record["tree_size"]), leaf, proof, root
        )
    except (KeyError, TypeError, ValueError):
        included = False
    if not included:
        problems.append("the Merkle inclusion proof does not lead to the root")
    published = roots.get(str(record.get("day")))
    if published is not None and int(published["record_count"]) == record.get("tree_size"):
        if published["root"] != record.get("root"):
            problems.append("the root differs from the published daily root")
    elif roots and published is None:
        problems.append(f"no published root for {record.get('day')}")
    return problems


def verify(document: dict[str, Any], roots: dict[str, dict[str, Any]]) -> list[str]:
    if document.get("format") != FORMAT:
        return [f"not a {FORMAT} document"]
    party_id = str(document.get("party_id"))
    failures = []
    for position, entry in enumerate(document.get("entries", []), start=1):
        for problem in check_entry(entry, party_id, roots):
            failures.append(f"entry {position} (audit seq {entry.get('audit_seq')}): {problem}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a tsunagu access log offline.")
    parser.add_argument("log", type=Path, help="access log JSON downloaded from tsunagu")
    parser.add_argument("--roots", type=Path, help="JSON of /api/audit/roots to compare with")
    args = parser.parse_args(argv)
    try:
        document = json.loads(args.log.read_text(encoding="utf-8"))
        roots_list = json.loads(args.roots.read_text(encoding="utf-8")) if args.roots else []
    except (OSError, ValueError) as exc:
        print(f"cannot read input: {exc}", file=sys.stderr)
        return 1
    roots = {str(r["day"]): r for r in roots_list}
    failures = verify(document, roots)
    for failure in failures:
        print(f"FAIL {failure}")
    count = len(document.get("entries", [])) if isinstance(document, dict) else 0
    if failures:
        print(f"{len(failures)} problem(s) in {count} entries")
        return 1
    print(f"OK: {count} entries verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
