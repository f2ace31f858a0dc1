"""Agencies told of register changes by notification: 日本年金機構 and 全国健康保険協会,
each designated for its statutory function and subscribed to deaths in 住基."""

from __future__ import annotations

from tests.procedure.conftest import World
from tsunagu.core import ids
from tsunagu.core.db import transaction
from tsunagu.exchange import notifications
from tsunagu.exchange import service as exchange
from tsunagu.identity import service as identity
from tsunagu.identity.schemas import OrganizationIn, OrganizationKind

# name, kana, 法人番号 without its check digit, statutory function, legal basis of the notice
PENSION_SERVICE = ("日本年金機構", "ニホンネンキンキコウ", "011105001589", "pension_service",
                   "juki-nenkin-shibo")  # fmt: skip
HEALTH_INSURER = ("全国健康保険協会", "ゼンコクケンコウホケンキョウカイ", "010405003060",
                  "health_insurer", "juki-kenpo-shibo")  # fmt: skip


def told_of_deaths(world: World, agency: tuple[str, str, str, str, str]) -> str:
    """The agency, designated, sealed and subscribed to the 住基 ``died`` event; its id."""
    name, kana, serial, function, basis_id = agency
    with transaction(world.factory) as session:
        agency_id = identity.create_organization(
            session,
            OrganizationIn(
                kind=OrganizationKind.OTHER_AGENCY, name_ja=name, name_kana=kana,
                corporate_number=ids.complete(ids.IdKind.CORPORATE, serial),
            ),
            actor="test",
        ).id  # fmt: skip
        exchange.designate(session, agency_id, function, actor="test")
        world.store.ensure(session, agency_id, actor="test")
        notifications.subscribe(
            session, subscriber_id=agency_id, basis_id=basis_id, event_id="died",
            actor=f"{function}-admin",
        )  # fmt: skip
    return agency_id
