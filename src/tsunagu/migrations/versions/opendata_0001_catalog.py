"""opendata: catalog, search index, datastore registry, requests, harvest sources

Revision ID: opendata_0001
Revises:
Create Date: 2026-11-26

On SQLite the full-text index is an FTS5 table ``opendata_fts`` (rowid =
``opendata_search_docs.id``); on PostgreSQL the ``tsv`` column with a GIN index.
Schema comparisons must ignore ``opendata_fts*`` (FTS5 and its shadow tables).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "opendata_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("opendata",)
depends_on: str | Sequence[str] | None = "core_0001"

AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SEARCH_VECTOR = sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql")
FTS_DDL = (
    "CREATE VIRTUAL TABLE opendata_fts USING fts5("
    "title, body, tokenize='unicode61 remove_diacritics 0')"
)


def upgrade() -> None:
    op.create_table(
        "opendata_api_call_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "action", name=op.f("pk_opendata_api_call_counts")),
    )
    op.create_table(
        "opendata_datastore_tables",
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("table_name", sa.String(length=63), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(length=30), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_opendata_datastore_tables")),
        sa.UniqueConstraint("table_name", name=op.f("uq_opendata_datastore_tables_table_name")),
    )
    op.create_table(
        "opendata_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("image_url", sa.String(length=1000), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_opendata_groups_name")),
    )
    op.create_table(
        "opendata_organizations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("image_url", sa.String(length=1000), nullable=False),
        sa.Column("homepage", sa.String(length=1000), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("lg_code", sa.String(length=6), nullable=True),
        sa.Column("corporate_number", sa.String(length=13), nullable=True),
        sa.Column("identity_org_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_organizations")),
        sa.UniqueConstraint("name", name=op.f("uq_opendata_organizations_name")),
    )
    op.create_index(
        op.f("ix_opendata_organizations_lg_code"),
        "opendata_organizations",
        ["lg_code"],
        unique=False,
    )
    op.create_table(
        "opendata_package_revisions",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_package_revisions")),
    )
    op.create_index(
        op.f("ix_opendata_package_revisions_package_id"),
        "opendata_package_revisions",
        ["package_id"],
        unique=False,
    )
    op.create_table(
        "opendata_search_docs",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title_sort", sa.String(length=500), nullable=False),
        sa.Column("title_tokens", sa.Text(), nullable=False),
        sa.Column("body_tokens", sa.Text(), nullable=False),
        sa.Column("tsv", SEARCH_VECTOR, nullable=True),
        sa.Column("owner_org", sa.String(length=36), nullable=True),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("metadata_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metadata_modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_search_docs")),
        sa.UniqueConstraint("package_id", name=op.f("uq_opendata_search_docs_package_id")),
    )
    op.create_index(
        op.f("ix_opendata_search_docs_metadata_modified"),
        "opendata_search_docs",
        ["metadata_modified"],
        unique=False,
    )
    op.create_index(
        "ix_opendata_search_docs_tsv",
        "opendata_search_docs",
        ["tsv"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_table(
        "opendata_users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("fullname", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("sysadmin", sa.Boolean(), nullable=False),
        sa.Column("identity_person_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_users")),
        sa.UniqueConstraint("name", name=op.f("uq_opendata_users_name")),
    )
    op.create_table(
        "opendata_api_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["opendata_users.id"],
            name=op.f("fk_opendata_api_tokens_user_id_opendata_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_opendata_api_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_opendata_api_tokens_user_id"), "opendata_api_tokens", ["user_id"], unique=False
    )
    op.create_table(
        "opendata_data_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["opendata_organizations.id"],
            name="fk_opendata_data_requests_org",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_data_requests")),
    )
    op.create_index(
        op.f("ix_opendata_data_requests_organization_id"),
        "opendata_data_requests",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "opendata_harvest_sources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("interval_hours", sa.Integer(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=False),
        sa.Column("last_message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["opendata_organizations.id"],
            name="fk_opendata_harvest_sources_org",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_harvest_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_opendata_harvest_sources_name")),
    )
    op.create_table(
        "opendata_members",
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("capacity", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["opendata_organizations.id"],
            name=op.f("fk_opendata_members_organization_id_opendata_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["opendata_users.id"],
            name=op.f("fk_opendata_members_user_id_opendata_users"),
        ),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name=op.f("pk_opendata_members")),
    )
    op.create_table(
        "opendata_packages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("owner_org", sa.String(length=36), nullable=True),
        sa.Column("license_id", sa.String(length=100), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("author", sa.String(length=300), nullable=False),
        sa.Column("author_email", sa.String(length=300), nullable=False),
        sa.Column("maintainer", sa.String(length=300), nullable=False),
        sa.Column("maintainer_email", sa.String(length=300), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("spatial_lg_code", sa.String(length=6), nullable=True),
        sa.Column("temporal_start", sa.Date(), nullable=True),
        sa.Column("temporal_end", sa.Date(), nullable=True),
        sa.Column("frequency", sa.String(length=50), nullable=True),
        sa.Column("conforms_to", sa.String(length=50), nullable=True),
        sa.Column("extras", sa.JSON(), nullable=False),
        sa.Column("harvest_source_id", sa.String(length=36), nullable=True),
        sa.Column("creator_user_id", sa.String(length=36), nullable=True),
        sa.Column("metadata_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metadata_modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("download_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_org"],
            ["opendata_organizations.id"],
            name=op.f("fk_opendata_packages_owner_org_opendata_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_packages")),
        sa.UniqueConstraint("name", name=op.f("uq_opendata_packages_name")),
    )
    op.create_index(
        op.f("ix_opendata_packages_owner_org"), "opendata_packages", ["owner_org"], unique=False
    )
    op.create_table(
        "opendata_search_facets",
        sa.Column("doc_id", AUTO_ID, nullable=False),
        sa.Column("field", sa.String(length=30), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["doc_id"],
            ["opendata_search_docs.id"],
            name=op.f("fk_opendata_search_facets_doc_id_opendata_search_docs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("doc_id", "field", "value", name=op.f("pk_opendata_search_facets")),
    )
    op.create_index(
        "ix_opendata_search_facets_field_value",
        "opendata_search_facets",
        ["field", "value", "doc_id"],
        unique=False,
    )
    op.create_table(
        "opendata_package_groups",
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["opendata_groups.id"],
            name=op.f("fk_opendata_package_groups_group_id_opendata_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["opendata_packages.id"],
            name=op.f("fk_opendata_package_groups_package_id_opendata_packages"),
        ),
        sa.PrimaryKeyConstraint("package_id", "group_id", name=op.f("pk_opendata_package_groups")),
    )
    op.create_table(
        "opendata_package_tags",
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["opendata_packages.id"],
            name=op.f("fk_opendata_package_tags_package_id_opendata_packages"),
        ),
        sa.PrimaryKeyConstraint("package_id", "name", name=op.f("pk_opendata_package_tags")),
    )
    op.create_index(
        op.f("ix_opendata_package_tags_name"), "opendata_package_tags", ["name"], unique=False
    )
    op.create_table(
        "opendata_resources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("url_type", sa.String(length=20), nullable=False),
        sa.Column("format", sa.String(length=50), nullable=False),
        sa.Column("mimetype", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("hash", sa.String(length=100), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=True),
        sa.Column("conforms_to", sa.String(length=50), nullable=True),
        sa.Column("datastore_active", sa.Boolean(), nullable=False),
        sa.Column("extras", sa.JSON(), nullable=False),
        sa.Column("validation", sa.JSON(), nullable=True),
        sa.Column("link_status", sa.String(length=20), nullable=True),
        sa.Column("link_error", sa.String(length=500), nullable=True),
        sa.Column("link_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("download_count", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["opendata_packages.id"],
            name=op.f("fk_opendata_resources_package_id_opendata_packages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendata_resources")),
    )
    op.create_index(
        op.f("ix_opendata_resources_package_id"), "opendata_resources", ["package_id"], unique=False
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(FTS_DDL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS opendata_fts")
    op.drop_table("opendata_resources")
    op.drop_table("opendata_package_tags")
    op.drop_table("opendata_package_groups")
    op.drop_table("opendata_search_facets")
    op.drop_table("opendata_packages")
    op.drop_table("opendata_members")
    op.drop_table("opendata_harvest_sources")
    op.drop_table("opendata_data_requests")
    op.drop_table("opendata_api_tokens")
    op.drop_table("opendata_users")
    op.drop_table("opendata_search_docs")
    op.drop_table("opendata_package_revisions")
    op.drop_table("opendata_organizations")
    op.drop_table("opendata_groups")
    op.drop_table("opendata_datastore_tables")
    op.drop_table("opendata_api_call_counts")
