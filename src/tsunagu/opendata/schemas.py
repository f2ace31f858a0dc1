"""Inputs of the publisher's HTML forms (the Action API takes CKAN dictionaries instead)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

Text = Annotated[str, Field(max_length=20_000)]


class DatasetForm(BaseModel):
    """The dataset form; tags are one comma- (or 、-) separated field."""

    name: Text = ""
    title: Text = ""
    owner_org: Text = ""
    notes: Text = ""
    license_id: Text = ""
    tags: Text = ""
    private: Text = "false"
    spatial_lg_code: Text = ""
    temporal_start: Text = ""
    temporal_end: Text = ""
    conforms_to: Text = ""

    def ckan(self) -> dict[str, Any]:
        """The CKAN dictionary ``package_create``/``package_update`` accept."""
        tags = self.tags.replace("、", ",").split(",")
        return {
            "name": self.name.strip(),
            "title": self.title.strip(),
            "owner_org": self.owner_org,
            "notes": self.notes,
            "license_id": self.license_id,
            "tags": [{"name": t.strip()} for t in tags if t.strip()],
            "private": self.private == "true",
            "spatial_lg_code": self.spatial_lg_code.strip(),
            "temporal_start": self.temporal_start,
            "temporal_end": self.temporal_end,
            "conforms_to": self.conforms_to,
        }

    @classmethod
    def of_package(cls, package: dict[str, Any]) -> DatasetForm:
        """The form's values for an existing dataset (a CKAN dictionary)."""
        return cls(
            name=package["name"],
            title=package["title"],
            owner_org=package["owner_org"] or "",
            notes=package["notes"],
            license_id=package["license_id"],
            tags=", ".join(t["name"] for t in package["tags"]),
            private="true" if package["private"] else "false",
            spatial_lg_code=package["spatial_lg_code"] or "",
            temporal_start=package["temporal_start"] or "",
            temporal_end=package["temporal_end"] or "",
            conforms_to=package["conforms_to"] or "",
        )


class ResourceForm(BaseModel):
    """A new resource: a file travels beside these fields, or ``url`` links to one."""

    url: Text = ""
    resource_name: Text = ""
    description: Text = ""
    format: Text = ""
    conforms_to: Text = ""
