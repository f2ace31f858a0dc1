"""Catalog tables: CKAN's organizations, datasets (packages), resources, and their indexes.

Catalog organizations and users are the catalog's own (as in CKAN), optionally
linked to an identity organization or person by id, so the catalog works
before and without the identity module.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from tsunagu.core.db import Base, UTCDateTime, register_unmanaged_tables

AUTO_ID = BigInteger().with_variant(Integer(), "sqlite")
# The PostgreSQL search column; on SQLite the FTS5 table serves instead and this stays empty.
SEARCH_VECTOR = Text().with_variant(TSVECTOR(), "postgresql")


# Created by migrations or at run time but not mapped: SQLite's FTS5 index with
# its shadow tables, and one table per datastore resource.
register_unmanaged_tables("opendata_fts")
register_unmanaged_tables("ds_")


class OdUser(Base):
    """A catalog user (publisher or machine); API tokens belong to one."""

    __tablename__ = "opendata_users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    fullname: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sysadmin: Mapped[bool] = mapped_column(Boolean, default=False)
    identity_person_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OdApiToken(Base):
    """An API token; only its SHA-256 is stored, the secret is shown once."""

    __tablename__ = "opendata_api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("opendata_users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OdOrganization(Base):
    """A publisher: a municipality (地方公共団体コード), a ministry (法人番号) or another body."""

    __tablename__ = "opendata_organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str] = mapped_column(String(1000), default="")
    homepage: Mapped[str] = mapped_column(String(1000), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    lg_code: Mapped[str | None] = mapped_column(String(6), nullable=True, index=True)
    corporate_number: Mapped[str | None] = mapped_column(String(13), nullable=True)
    identity_org_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OdMember(Base):
    """A user's capacity in an organization: member (read private), editor, admin."""

    __tablename__ = "opendata_members"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("opendata_organizations.id"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("opendata_users.id"), primary_key=True)
    capacity: Mapped[str] = mapped_column(String(20))


class OdGroup(Base):
    """A thematic group of datasets (CKAN group)."""

    __tablename__ = "opendata_groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str] = mapped_column(String(1000), default="")
    state: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OdPackage(Base):
    """A dataset (CKAN package) with DCAT's spatial and temporal coverage."""

    __tablename__ = "opendata_packages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    notes: Mapped[str] = mapped_column(Text, default="")
    owner_org: Mapped[str | None] = mapped_column(
        ForeignKey("opendata_organizations.id"), nullable=True, index=True
    )
    license_id: Mapped[str] = mapped_column(String(100), default="")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default="active")
    type: Mapped[str] = mapped_column(String(30), default="dataset")
    author: Mapped[str] = mapped_column(String(300), default="")
    author_email: Mapped[str] = mapped_column(String(300), default="")
    maintainer: Mapped[str] = mapped_column(String(300), default="")
    maintainer_email: Mapped[str] = mapped_column(String(300), default="")
    url: Mapped[str] = mapped_column(String(2000), default="")
    version: Mapped[str] = mapped_column(String(100), default="")
    spatial_lg_code: Mapped[str | None] = mapped_column(String(6), nullable=True)
    temporal_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    temporal_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    frequency: Mapped[str | None] = mapped_column(String(50), nullable=True)
    conforms_to: Mapped[str | None] = mapped_column(String(50), nullable=True)
    extras: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    harvest_source_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    creator_user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    metadata_created: Mapped[datetime] = mapped_column(UTCDateTime())
    metadata_modified: Mapped[datetime] = mapped_column(UTCDateTime())
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    download_count: Mapped[int] = mapped_column(Integer, default=0)


class OdPackageTag(Base):
    __tablename__ = "opendata_package_tags"

    package_id: Mapped[str] = mapped_column(ForeignKey("opendata_packages.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class OdPackageGroup(Base):
    __tablename__ = "opendata_package_groups"

    package_id: Mapped[str] = mapped_column(ForeignKey("opendata_packages.id"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("opendata_groups.id"), primary_key=True)


class OdResource(Base):
    """A distribution: an uploaded file (``url_type='upload'``) or a link."""

    __tablename__ = "opendata_resources"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    package_id: Mapped[str] = mapped_column(ForeignKey("opendata_packages.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(2000), default="")
    url_type: Mapped[str] = mapped_column(String(20), default="")
    format: Mapped[str] = mapped_column(String(50), default="")
    mimetype: Mapped[str] = mapped_column(String(100), default="")
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    hash: Mapped[str] = mapped_column(String(100), default="")
    storage_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    conforms_to: Mapped[str | None] = mapped_column(String(50), nullable=True)
    datastore_active: Mapped[bool] = mapped_column(Boolean, default=False)
    extras: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    validation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    link_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    link_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    link_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    download_count: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime())


class OdRevision(Base):
    """One saved version of a dataset (the full CKAN dict), kept after deletion."""

    __tablename__ = "opendata_package_revisions"

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    package_id: Mapped[str] = mapped_column(String(36), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class OdSearchDoc(Base):
    """The search index row of a dataset: sort, filter and visibility keys (and on PostgreSQL
    the weighted full-text vector; SQLite's FTS5 table ``opendata_fts`` shares its ids)."""

    __tablename__ = "opendata_search_docs"

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    package_id: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    title_sort: Mapped[str] = mapped_column(String(500))
    tsv: Mapped[str | None] = mapped_column(SEARCH_VECTOR, nullable=True)
    owner_org: Mapped[str | None] = mapped_column(String(36), nullable=True)
    private: Mapped[bool] = mapped_column(Boolean)
    metadata_created: Mapped[datetime] = mapped_column(UTCDateTime())
    metadata_modified: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    __table_args__ = (Index("ix_opendata_search_docs_tsv", "tsv", postgresql_using="gin"),)


class OdSearchFacet(Base):
    """One facet value of an indexed dataset (organization, tags, res_format, …)."""

    __tablename__ = "opendata_search_facets"

    doc_id: Mapped[int] = mapped_column(
        AUTO_ID, ForeignKey("opendata_search_docs.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(30), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)

    __table_args__ = (Index("ix_opendata_search_facets_field_value", "field", "value", "doc_id"),)


class OdSearchState(Base):
    """One row: the index's token, replaced by a random value with every index change.

    Search processes compare it with the token of their in-memory snapshot
    (``opendata/snapshot.py``) to know whether the snapshot is still current.
    Document ids come from ``next_id`` under the row's lock, so committed ids
    only grow; ``generation`` changes when the row is made anew (ids may then
    start again); ``removed`` counts deleted documents, so a snapshot knows
    whether documents went without a replacement.
    """

    __tablename__ = "opendata_search_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(32))
    generation: Mapped[str] = mapped_column(String(32))
    next_id: Mapped[int] = mapped_column(BigInteger)
    removed: Mapped[int] = mapped_column(BigInteger)  # documents ever deleted from the index


class OdDatastoreTable(Base):
    """A resource loaded into the datastore: its table and CKAN-style field list."""

    __tablename__ = "opendata_datastore_tables"

    resource_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(63), unique=True)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    row_count: Mapped[int] = mapped_column(Integer)
    encoding: Mapped[str] = mapped_column(String(30))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OdDataRequest(Base):
    """A request from the public for data (No.2-1), tracked until publication."""

    __tablename__ = "opendata_data_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    organization_id: Mapped[str | None] = mapped_column(
        ForeignKey("opendata_organizations.id", name="fk_opendata_data_requests_org"),
        nullable=True,
        index=True,
    )
    status: Mapped[str] = mapped_column(String(20), default="open")
    response: Mapped[str] = mapped_column(Text, default="")
    package_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OdHarvestSource(Base):
    """Another catalog (CKAN API or DCAT document) whose datasets are imported on a schedule."""

    __tablename__ = "opendata_harvest_sources"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    kind: Mapped[str] = mapped_column(String(10))
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("opendata_organizations.id", name="fk_opendata_harvest_sources_org")
    )
    interval_hours: Mapped[int] = mapped_column(Integer, default=24)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status: Mapped[str] = mapped_column(String(20), default="")
    last_message: Mapped[str] = mapped_column(Text, default="")


class OdApiCallCount(Base):
    """Calls per Action API action per day (use statistics, no caller identity)."""

    __tablename__ = "opendata_api_call_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    action: Mapped[str] = mapped_column(String(50), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
