"""Audit trail: chain integrity, tamper detection, daily Merkle roots."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.audit import merkle
from tsunagu.core.audit import service as audit
from tsunagu.core.db import transaction


def _write(factory: sessionmaker[Session], count: int, at: datetime | None = None) -> None:
    with transaction(factory) as session:
        for i in range(count):
            audit.record(
                session,
                actor="official:1",
                action="test.change",
                object_type="thing",
                object_id=str(i),
                data={"i": i, "名前": "山田"},
                at=at,
            )


def _verify(factory: sessionmaker[Session]) -> audit.ChainBreak | None:
    with transaction(factory) as session:
        return audit.verify_chain(session)


def _sql(factory: sessionmaker[Session], statement: str) -> None:
    with transaction(factory) as session:
        session.execute(text(statement))


def test_intact_chain_verifies_across_transactions(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 3)
    _write(session_factory, 4)
    assert _verify(session_factory) is None


def test_rolled_back_records_leave_no_gap(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 2)
    with pytest.raises(RuntimeError), transaction(session_factory) as session:
        audit.record(session, actor="a", action="x", object_type="t", object_id="1")
        raise RuntimeError("business change failed")
    _write(session_factory, 2)
    assert _verify(session_factory) is None


def test_altered_row_is_named(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 5)
    _sql(session_factory, "UPDATE audit_records SET actor = 'someone else' WHERE seq = 3")
    broken = _verify(session_factory)
    assert broken is not None and broken.seq == 3 and "altered" in broken.reason


def test_altered_data_is_named(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 5)
    with transaction(session_factory) as session:
        session.execute(text("UPDATE audit_records SET data = :d WHERE seq = 2"), {"d": '{"i":99}'})
    broken = _verify(session_factory)
    assert broken is not None and broken.seq == 2


def test_deleted_row_is_named(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 5)
    _sql(session_factory, "DELETE FROM audit_records WHERE seq = 4")
    broken = _verify(session_factory)
    assert broken is not None and broken.seq == 5 and "missing" in broken.reason


def test_deleted_last_row_with_renumbering_is_caught(
    session_factory: sessionmaker[Session],
) -> None:
    """Deleting a row and renumbering the rest still breaks the prev_hash links."""
    _write(session_factory, 5)
    _sql(session_factory, "DELETE FROM audit_records WHERE seq = 2")
    for seq in (3, 4, 5):
        _sql(session_factory, f"UPDATE audit_records SET seq = {seq - 1} WHERE seq = {seq}")
    broken = _verify(session_factory)
    assert broken is not None and broken.seq == 2


def test_swapped_rows_are_named(session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 5)
    _sql(session_factory, "UPDATE audit_records SET seq = 100 WHERE seq = 2")
    _sql(session_factory, "UPDATE audit_records SET seq = 2 WHERE seq = 3")
    _sql(session_factory, "UPDATE audit_records SET seq = 3 WHERE seq = 100")
    broken = _verify(session_factory)
    assert broken is not None and broken.seq == 2


def test_recomputed_hashes_are_caught_by_published_root(
    session_factory: sessionmaker[Session],
) -> None:
    """An insider who rewrites a past day *and* re-hashes it still fails the anchored root."""
    yesterday = datetime.now(UTC) - timedelta(days=1)
    _write(session_factory, 4, at=yesterday)
    with transaction(session_factory) as session:
        assert len(audit.publish_closed_days(session)) == 1
    with transaction(session_factory) as session:
        rows = session.execute(text("SELECT seq FROM audit_records ORDER BY seq")).scalars().all()
        session.execute(text("DELETE FROM audit_records"))
    _write(session_factory, len(rows) - 1, at=yesterday)  # a shorter, self-consistent rewrite
    broken = _verify(session_factory)
    assert broken is not None and "published root" in broken.reason


@pytest.mark.parametrize(
    ("data", "refused"),
    [
        ({"note": "番号 123456789018"}, True),  # a valid 個人番号
        ({"token_id": "3f2a1b4c-0000-4000-8000-123456789018"}, False),  # inside a UUID
        ({"reference": "123456789012"}, False),  # twelve digits, wrong check digit
    ],
)
def test_personal_numbers_are_refused(
    session_factory: sessionmaker[Session], data: dict[str, str], refused: bool
) -> None:
    def write() -> None:
        with transaction(session_factory) as session:
            audit.record(
                session, actor="a", action="x", object_type="person", object_id="1", data=data
            )

    if refused:
        with pytest.raises(audit.PersonalNumberInAudit):
            write()
    else:
        write()


def test_roots_endpoint_and_inclusion_proof(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _write(session_factory, 7)
    roots = client.get("/api/audit/roots").json()
    assert len(roots) == 1 and roots[0]["record_count"] == 7 and roots[0]["final"] is False
    with transaction(session_factory) as session:
        proof = audit.inclusion_proof(session, 5)
    assert proof["root"] == roots[0]["root"]
    leaf = merkle.leaf_hash(bytes.fromhex(proof["hash"]))
    path = [bytes.fromhex(p) for p in proof["proof"]]
    root = bytes.fromhex(proof["root"])
    assert merkle.verify_inclusion(proof["leaf_index"], proof["tree_size"], leaf, path, root)
    assert not merkle.verify_inclusion(
        proof["leaf_index"], proof["tree_size"], merkle.leaf_hash(b"x"), path, root
    )


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 100])
def test_every_leaf_has_a_valid_proof(size: int) -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(size)]
    root = merkle.root_of(leaves)
    for index, leaf in enumerate(leaves):
        proof = merkle.inclusion_proof(index, leaves)
        assert merkle.verify_inclusion(index, size, leaf, proof, root)
        assert not merkle.verify_inclusion((index + 1) % size, size, leaf, proof, root) or size == 1


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TSUNAGU_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "tsunagu", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_cli_verify_exit_codes(database_url: str, session_factory: sessionmaker[Session]) -> None:
    _write(session_factory, 3)
    ok = _cli(database_url, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    _sql(session_factory, "UPDATE audit_records SET action = 'forged' WHERE seq = 2")
    bad = _cli(database_url, "audit", "verify")
    assert bad.returncode == 1
    assert "record 2" in bad.stderr and "Traceback" not in bad.stderr
