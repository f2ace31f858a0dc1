"""trust: certification authorities, certificates, enrollments, challenges

Revision ID: trust_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "trust_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("trust",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "trust_authorities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("cert_der", sa.LargeBinary(), nullable=False),
        sa.Column("key_file", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("crl_number", sa.Integer(), nullable=False),
        sa.Column("crl_der", sa.LargeBinary(), nullable=True),
        sa.Column("crl_this_update", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trust_authorities"),
        sa.UniqueConstraint("role", name="uq_trust_authorities_role"),
    )
    op.create_table(
        "trust_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(42), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subject_ref", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(40), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["trust_authorities.id"],
            name="fk_trust_certificates_authority_id_trust_authorities",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_trust_certificates"),
        sa.UniqueConstraint("serial", name="uq_trust_certificates_serial"),
        sa.UniqueConstraint("fingerprint", name="uq_trust_certificates_fingerprint"),
    )
    op.create_index("ix_trust_certificates_authority_id", "trust_certificates", ["authority_id"])
    op.create_index("ix_trust_certificates_subject_ref", "trust_certificates", ["subject_ref"])
    op.create_table(
        "trust_enrollments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("subject_ref", sa.String(64), nullable=False),
        sa.Column("subject_json", sa.Text(), nullable=False),
        sa.Column("municipality_code", sa.String(6), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("identity_check", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trust_enrollments"),
        sa.UniqueConstraint("code_hash", name="uq_trust_enrollments_code_hash"),
    )
    op.create_index("ix_trust_enrollments_subject_ref", "trust_enrollments", ["subject_ref"])
    op.create_table(
        "trust_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce_hash", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("binding", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trust_challenges"),
        sa.UniqueConstraint("nonce_hash", name="uq_trust_challenges_nonce_hash"),
    )
    op.create_index("ix_trust_challenges_expires_at", "trust_challenges", ["expires_at"])


def downgrade() -> None:
    op.drop_table("trust_challenges")
    op.drop_table("trust_enrollments")
    op.drop_table("trust_certificates")
    op.drop_table("trust_authorities")
