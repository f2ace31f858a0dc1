"""Who is acting, what they may do, and how sure we are it is them.

Services take an ``Actor`` and call ``require``/``require_assurance`` before
they change anything, so a permission holds whether the call comes from a
page, the JSON API, the CLI or another module — not only in the routes.

Assurance levels follow the Japanese guideline DS-500 (行政手続におけるオンラインによる
本人確認の手法に関するガイドライン), which uses the NIST SP 800-63 scale:

- IAL (身元確認保証レベル): 1 self-asserted, 2 remote or vouched proofing,
  3 in person with photo ID (the counter check before a card is issued).
- AAL (当人認証保証レベル): 1 single factor, 2 two factors, 3 two factors with a
  hardware-protected key.

A digital-card login is IAL3/AAL2: the key sits in a software wallet
(WebCrypto or a PIN-sealed file), not in a tamper-resistant chip, so we do not
claim AAL3. Password + TOTP is AAL2; its IAL is that of the account's proofing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tsunagu.core.errors import PermissionDenied
from tsunagu.identity.schemas import OfficialRole


class Permission(StrEnum):
    CARD_ISSUE = "card.issue"
    CARD_REVOKE = "card.revoke"
    BUSINESS_VERIFY = "business.verify"
    SEAL_ISSUE = "seal.issue"
    APPLICATION_REVIEW = "application.review"
    REGISTRY_MAINTAIN = "registry.maintain"
    DATA_PUBLISH = "data.publish"
    OFFICIALS_MANAGE = "officials.manage"
    DELEGATION_INSPECT = "delegation.inspect"


ROLE_PERMISSIONS: dict[OfficialRole, frozenset[Permission]] = {
    OfficialRole.COUNTER_STAFF: frozenset(
        {
            Permission.CARD_ISSUE,
            Permission.CARD_REVOKE,
            Permission.BUSINESS_VERIFY,
            Permission.DELEGATION_INSPECT,
        }
    ),
    OfficialRole.REVIEWER: frozenset(
        {Permission.APPLICATION_REVIEW, Permission.DELEGATION_INSPECT}
    ),
    OfficialRole.REGISTRY_KEEPER: frozenset(
        {Permission.REGISTRY_MAINTAIN, Permission.CARD_REVOKE, Permission.SEAL_ISSUE}
    ),
    OfficialRole.DATA_PUBLISHER: frozenset({Permission.DATA_PUBLISH}),
    OfficialRole.ADMINISTRATOR: frozenset({Permission.OFFICIALS_MANAGE, Permission.SEAL_ISSUE}),
}

LEVEL_NAMES = {1: "1", 2: "2", 3: "3"}


class ActorKind(StrEnum):
    PERSON = "person"
    OFFICIAL = "official"
    MEMBER = "member"


@dataclass(frozen=True)
class Actor:
    """The party behind a request, as established by its login session."""

    kind: ActorKind
    ial: int
    aal: int
    person_id: str | None = None
    official_id: str | None = None
    organization_id: str | None = None
    member_id: str | None = None
    business_account_id: str | None = None
    is_prime: bool = False
    roles: frozenset[OfficialRole] = field(default_factory=frozenset)
    display_name: str = ""

    @property
    def label(self) -> str:
        """How the audit trail names this actor (ids only, never numbers or names)."""
        if self.kind is ActorKind.OFFICIAL:
            return f"official:{self.official_id}"
        if self.kind is ActorKind.MEMBER:
            return f"member:{self.member_id}"
        return f"person:{self.person_id}"

    @property
    def ial_name(self) -> str:
        return f"IAL{self.ial}"

    @property
    def aal_name(self) -> str:
        return f"AAL{self.aal}"

    def permissions(self) -> frozenset[Permission]:
        granted: set[Permission] = set()
        for role in self.roles:
            granted |= ROLE_PERMISSIONS.get(role, frozenset())
        return frozenset(granted)

    def can(self, permission: Permission) -> bool:
        return self.kind is ActorKind.OFFICIAL and permission in self.permissions()


def require(actor: Actor | None, permission: Permission) -> Actor:
    """The actor, if it holds ``permission``; else PermissionDenied."""
    if actor is None or not actor.can(permission):
        raise PermissionDenied(
            "permission_denied",
            "この操作を行う権限がありません。",
            f"You are not allowed to do this (needs {permission.value}).",
        )
    return actor


def require_assurance(actor: Actor | None, *, ial: int = 1, aal: int = 1) -> Actor:
    """The actor, if its session reached both levels; else PermissionDenied."""
    if actor is None or actor.ial < ial or actor.aal < aal:
        raise PermissionDenied(
            "assurance_too_low",
            f"この手続には身元確認 IAL{ial}・当人認証 AAL{aal} 以上のログインが必要です。",
            f"This needs a login with identity assurance IAL{ial} and authenticator "
            f"assurance AAL{aal} or higher (for example the digital card).",
        )
    return actor


def require_person(actor: Actor | None) -> Actor:
    if actor is None or actor.person_id is None:
        raise PermissionDenied(
            "person_required", "本人としてのログインが必要です。", "You need to log in as a person."
        )
    return actor
