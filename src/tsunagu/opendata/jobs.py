"""Outbox handlers of the catalog (imported by the worker through ``tsunagu.handlers``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tsunagu.core.config import get_settings
from tsunagu.core.outbox.service import Event, handler
from tsunagu.opendata import datastore
from tsunagu.opendata.config import storage_for
from tsunagu.opendata.models import OdResource


@handler(datastore.TOPIC_LOAD)
def load_into_datastore(session: Session, event: Event) -> None:
    """Load a large uploaded table (small ones load during the upload itself)."""
    resource = session.get(OdResource, event.payload["resource_id"])
    if resource is not None:
        datastore.load_resource(session, resource, storage_for(get_settings()))
