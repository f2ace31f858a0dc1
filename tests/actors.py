"""Actors for tests that call services directly, as the HTTP layer would build them."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.db import transaction
from tsunagu.identity import service as parties
from tsunagu.identity.roles import Actor, ActorKind


def official_actor(factory: sessionmaker[Session], official_id: str) -> Actor:
    """An official's actor with the organization and roles the register gives them now."""
    with transaction(factory) as session:
        record = parties.get_official(session, official_id)
    return Actor(
        kind=ActorKind.OFFICIAL,
        ial=2,
        aal=2,
        official_id=official_id,
        organization_id=record.organization_id,
        roles=frozenset(record.roles),
    )
