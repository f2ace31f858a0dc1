"""Who may anonymize, record, sign and publish: data publishers of the owning organization.

Anonymization handles raw personal data, so every page and JSON endpoint is
closed by default. The caller is an official logged in to the platform
(password + TOTP or the digital card; cookie session, CSRF-checked on every
change by ``identity.deps``) holding the role ``data_publisher``
(permission ``data.publish``). An official acts only for their own
organization: its releases, its seal, its catalog entries. Releases of other
organizations look absent (404), as private catalog datasets do.

Sealing a release is a legal act of the organization, so it also needs a
session of authenticator assurance AAL2 or higher. Once a release is
published, its record, signature and verification are public.

There is no machine token: batch work runs through ``tsunagu anonymize`` on
the server, whose operator already has the database and the keys.
"""

from __future__ import annotations

from tsunagu.anonymize.models import AnonymizationRelease
from tsunagu.core.errors import NotFoundError, PermissionDenied
from tsunagu.identity import roles
from tsunagu.identity.roles import Actor, Permission

SIGNING_AAL = 2


def _organization(actor: Actor, permission: Permission) -> str:
    roles.require(actor, permission)
    if actor.organization_id is None:
        raise PermissionDenied(
            "anonymize.no_organization",
            "所属組織のない職員は匿名加工情報を扱えません",
            "an official without an organization cannot handle anonymized releases",
        )
    return actor.organization_id


def organization_of(actor: Actor) -> str:
    """The organization a data publisher acts for (403 for anyone else)."""
    return _organization(actor, Permission.DATA_PUBLISH)


def seal_issuer_organization(actor: Actor) -> str:
    """The organization an administrator (or registry keeper) may have a seal issued for."""
    return _organization(actor, Permission.SEAL_ISSUE)


def release_not_found() -> NotFoundError:
    return NotFoundError(
        "anonymize.release_not_found",
        "匿名加工情報の作成記録が見つかりません",
        "no such anonymization release",
    )


def check_owner(actor: Actor, row: AnonymizationRelease) -> AnonymizationRelease:
    """The release, if the actor is a data publisher of its organization; else 404."""
    if row.organization_id is None or row.organization_id != organization_of(actor):
        raise release_not_found()
    return row


def check_signer(actor: Actor, row: AnonymizationRelease) -> AnonymizationRelease:
    """As ``check_owner``, and the session is strong enough to apply the seal."""
    check_owner(actor, row)
    roles.require_assurance(actor, aal=SIGNING_AAL)
    return row


def can_read(actor: Actor | None, row: AnonymizationRelease) -> bool:
    """Published releases are public; others only to their organization's data publishers."""
    if row.package_id is not None:
        return True
    return (
        actor is not None
        and actor.can(Permission.DATA_PUBLISH)
        and row.organization_id is not None
        and actor.organization_id == row.organization_id
    )


def can_issue_seal(actor: Actor, organization_id: str) -> bool:
    """Administrators and registry keepers may have a seal issued for their organization."""
    return actor.can(Permission.SEAL_ISSUE) and actor.organization_id == organization_id
