"""Keys, names and certificate profiles of the platform PKI.

Modelled on 公的個人認証 (JPKI): a root CA, one issuing CA per kind of person
certificate and one for organizations; each person holds two key pairs, one
for signing (the certificate names the person with the 基本4情報) and one for
logging in (the certificate names nothing but its serial and the issuing
municipality).

Subject name of a person signing certificate (one RDN per attribute)::

    C=JP
    CN=<氏名 as in the resident register>
    ARC.2.3=<旧氏>                (only when registered)
    ARC.2.1=<YYYY-MM-DD>          date of birth
    ARC.2.2=<男|女>                sex
    street=<住所>                  the registered address, as one line

All four basic attributes sit in the subject name with string syntax, so any
X.509 tool (``openssl x509 -subject -nameopt utf8``) shows them without a
private decoder; the two without a DirectoryString type in X.520 (birth date,
sex) use attribute types of our own arc (``oids.py``). Real JPKI puts them in
subjectAltName otherNames, which OpenSSL 3.0 prints only as ``<unsupported>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tsunagu.core.errors import ValidationError
from tsunagu.trust import oids

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

MIN_RSA_BITS = 2048


class CertKind(StrEnum):
    """End-entity certificate kinds issued by the platform."""

    SIGNING = "signing"
    AUTHENTICATION = "authentication"
    SEAL = "seal"
    TSA = "tsa"


class AuthorityRole(StrEnum):
    """The platform's CAs; ``TSA`` is the time-stamping unit's own key."""

    ROOT = "root"
    SIGNING = "signing"
    AUTHENTICATION = "authentication"
    ORGANIZATION = "organization"
    TSA = "tsa"


# Which CA issues which kind of certificate (JPKI keeps one CA per certificate kind).
ISSUER_OF = {
    CertKind.SIGNING: AuthorityRole.SIGNING,
    CertKind.AUTHENTICATION: AuthorityRole.AUTHENTICATION,
    CertKind.SEAL: AuthorityRole.ORGANIZATION,
    CertKind.TSA: AuthorityRole.ORGANIZATION,
}

CA_NAMES = {
    AuthorityRole.ROOT: "tsunagu Root CA",
    AuthorityRole.SIGNING: "tsunagu Person Signing CA",
    AuthorityRole.AUTHENTICATION: "tsunagu Person Authentication CA",
    AuthorityRole.ORGANIZATION: "tsunagu Organization CA",
}

SEX_VALUES = ("男", "女")


@dataclass(frozen=True)
class PersonAttributes:
    """The 基本4情報 (and 旧氏) certified by a signing certificate."""

    name: str
    birth_date: date
    sex: str
    address: str
    former_surname: str | None = None

    def __post_init__(self) -> None:
        for label, value in (("name", self.name), ("address", self.address)):
            if not value or not value.strip() or len(value) > 200:
                raise ValidationError(
                    "invalid_subject",
                    f"証明書に記載する{label}が不正です。",
                    f"The {label} to certify is empty or too long.",
                )
        if self.sex not in SEX_VALUES:
            raise ValidationError(
                "invalid_subject", "性別は「男」または「女」です。", "Sex must be 男 or 女."
            )


@dataclass(frozen=True)
class OrganizationAttributes:
    """What an organization seal certificate names."""

    name: str
    corporate_number: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Profile:
    """Extensions that distinguish one certificate kind from another."""

    key_usage: x509.KeyUsage
    extended_key_usages: tuple[x509.ObjectIdentifier, ...]
    eku_critical: bool
    policy: x509.ObjectIdentifier
    lifetime: timedelta


def _key_usage(*, signature: bool, commitment: bool, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


FIVE_YEARS = timedelta(days=5 * 365 + 1)
PROFILES = {
    CertKind.SIGNING: Profile(
        _key_usage(signature=True, commitment=True),
        (oids.EKU_DOCUMENT_SIGNING,),
        False,
        oids.POLICY_PERSON_SIGNING,
        FIVE_YEARS,
    ),
    CertKind.AUTHENTICATION: Profile(
        _key_usage(signature=True, commitment=False),
        (ExtendedKeyUsageOID.CLIENT_AUTH,),
        False,
        oids.POLICY_PERSON_AUTHENTICATION,
        FIVE_YEARS,
    ),
    CertKind.SEAL: Profile(
        _key_usage(signature=True, commitment=True),
        (oids.EKU_DOCUMENT_SIGNING,),
        False,
        oids.POLICY_ORGANIZATION_SEAL,
        FIVE_YEARS,
    ),
    # RFC 3161 §2.3: the TSA certificate has exactly one, critical, EKU.
    CertKind.TSA: Profile(
        _key_usage(signature=True, commitment=False),
        (ExtendedKeyUsageOID.TIME_STAMPING,),
        True,
        oids.POLICY_TIMESTAMP,
        timedelta(days=10 * 365),
    ),
}


def generate_key(algorithm: str = "ec-p256") -> PrivateKey:
    """A new key: ECDSA P-256 by default, RSA-2048 for interoperability tests."""
    if algorithm == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValidationError(
        "unknown_algorithm",
        f"鍵の方式 {algorithm} には対応していません。",
        f"Key algorithm {algorithm} is not supported (ec-p256, rsa-2048).",
    )


def check_public_key(key: object) -> PublicKey:
    """Accept only P-256 ECDSA or RSA of at least 2048 bits."""
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        return key
    raise ValidationError(
        "weak_key",
        "鍵は ECDSA P-256 または 2048 ビット以上の RSA である必要があります。",
        "The key must be ECDSA P-256 or RSA with at least 2048 bits.",
    )


def ca_name(role: AuthorityRole) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tsunagu"),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAMES[role]),
        ]
    )


def person_signing_name(person: PersonAttributes) -> x509.Name:
    """Subject of a signing certificate: the 基本4情報 (see module docstring)."""
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.COMMON_NAME, person.name),
    ]
    if person.former_surname:
        attributes.append(x509.NameAttribute(oids.ATTR_FORMER_SURNAME, person.former_surname))
    attributes += [
        x509.NameAttribute(oids.ATTR_DATE_OF_BIRTH, person.birth_date.isoformat()),
        x509.NameAttribute(oids.ATTR_SEX, person.sex),
        x509.NameAttribute(NameOID.STREET_ADDRESS, person.address),
    ]
    return x509.Name(attributes)


def person_authentication_name(serial: int, municipality_code: str) -> x509.Name:
    """Subject of an authentication certificate: no personal information at all."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(oids.ATTR_ISSUING_MUNICIPALITY, municipality_code),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{serial:x}"),
        ]
    )


def organization_name(org: OrganizationAttributes) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org.name),
    ]
    if org.unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org.unit))
    if org.corporate_number:
        attributes.append(
            x509.NameAttribute(oids.ORGANIZATION_IDENTIFIER, f"NTRJP-{org.corporate_number}")
        )
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, org.name))
    return x509.Name(attributes)


def person_from_name(name: x509.Name) -> PersonAttributes | None:
    """Read the 基本4情報 back from a signing certificate's subject."""

    def first(oid: x509.ObjectIdentifier) -> str | None:
        found = name.get_attributes_for_oid(oid)
        return str(found[0].value) if found else None

    birth = first(oids.ATTR_DATE_OF_BIRTH)
    common, sex, address = (
        first(NameOID.COMMON_NAME),
        first(oids.ATTR_SEX),
        first(NameOID.STREET_ADDRESS),
    )
    if not (birth and common and sex and address):
        return None
    return PersonAttributes(
        name=common,
        birth_date=date.fromisoformat(birth),
        sex=sex,
        address=address,
        former_surname=first(oids.ATTR_FORMER_SURNAME),
    )


def _ski(public_key: PublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def authority_key_identifier(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """AKI pointing at the issuer's own subject key identifier."""
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def build_ca_certificate(
    *,
    role: AuthorityRole,
    key: PrivateKey,
    issuer: tuple[x509.Certificate, PrivateKey] | None,
    not_before: datetime,
    lifetime: timedelta,
    base_url: str,
) -> x509.Certificate:
    """A root (``issuer`` None: self-signed with ``key``) or issuing CA certificate."""
    subject = ca_name(role)
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + lifetime)
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), True
        )
        .add_extension(_key_usage(signature=False, commitment=False, ca=True), True)
        .add_extension(_ski(public_key), False)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(oids.POLICY_CA, None)]), False
        )
    )
    if issuer is None:
        return builder.sign(key, hashes.SHA256())
    issuer_cert, issuer_key = issuer
    return (
        builder.add_extension(authority_key_identifier(issuer_cert), False)
        .add_extension(_crl_distribution(base_url, AuthorityRole.ROOT), False)
        .sign(issuer_key, hashes.SHA256())
    )


def _crl_distribution(base_url: str, role: AuthorityRole) -> x509.CRLDistributionPoints:
    url = f"{base_url.rstrip('/')}/api/trust/crl/{role.value}.crl"
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )


def build_end_entity_certificate(
    *,
    kind: CertKind,
    subject: x509.Name,
    public_key: PublicKey,
    serial: int,
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    not_before: datetime,
    not_after: datetime | None,
    base_url: str,
) -> x509.Certificate:
    """Issue one certificate of ``kind`` following its profile."""
    profile = PROFILES[kind]
    issuer_role = ISSUER_OF[kind]
    base = base_url.rstrip("/")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(check_public_key(public_key))
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(
            min(not_after or not_before + profile.lifetime, issuer_cert.not_valid_after_utc)
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(profile.key_usage, True)
        .add_extension(
            x509.ExtendedKeyUsage(list(profile.extended_key_usages)), profile.eku_critical
        )
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(profile.policy, None)]), False
        )
        .add_extension(_ski(public_key), False)
        .add_extension(authority_key_identifier(issuer_cert), False)
        .add_extension(_crl_distribution(base, issuer_role), False)
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(
                            f"{base}/api/trust/ca/{issuer_role.value}.cer"
                        ),
                    )
                ]
            ),
            False,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


def save_private_key(path: Path, key: PrivateKey, password: bytes) -> None:
    """Write ``key`` as encrypted PKCS#8 PEM readable only by the owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)


def load_private_key(path: Path, password: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=password)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{path} holds an unsupported key type")
    return key
