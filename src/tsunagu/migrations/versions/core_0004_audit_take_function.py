"""core: take an audit chain and read its head in one round trip (PostgreSQL)

Revision ID: core_0004
Revises: core_0003
Create Date: 2026-11-26

Taking a place in the trail needed two statements: a statement sees the data as
of its start, and the chain's previous holder may commit between that start and
the moment its lock is released to us. A VOLATILE PL/pgSQL function takes a new
snapshot for each statement it runs, so it can lock first and then read the
head within one call from the application. SQLite has no such function and
needs none (one writer, chain 0).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "core_0004"
down_revision: str | Sequence[str] | None = "core_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAKE = """
CREATE FUNCTION tsunagu_audit_take(lock_key bigint, chains integer, start integer, n integer)
RETURNS TABLE (taken_chain integer, last_hash varchar, seqs bigint[])
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  -- Every chain's lock is tried once, from a random start; only if all are
  -- held does the transaction wait, for the start's.
  FOR i IN 0 .. chains - 1 LOOP
    taken_chain := (start + i) % chains;
    EXIT WHEN pg_try_advisory_xact_lock(lock_key + taken_chain);
    taken_chain := NULL;
  END LOOP;
  IF taken_chain IS NULL THEN
    PERFORM pg_advisory_xact_lock(lock_key + start);
    taken_chain := start;
  END IF;
  -- A new statement, so a new snapshot: the previous holder's commit is seen.
  SELECT a.hash INTO last_hash FROM audit_records AS a
   WHERE a.chain = taken_chain ORDER BY a.seq DESC LIMIT 1;
  seqs := ARRAY(SELECT nextval('audit_records_seq') FROM generate_series(1, n));
  RETURN NEXT;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TAKE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION tsunagu_audit_take(bigint, integer, integer, integer)")
