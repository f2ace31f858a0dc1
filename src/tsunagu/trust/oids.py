"""Object identifiers of tsunagu's own arc and the standard ones the profiles use.

Our arc lives under ``2.25`` (ITU-T X.667 / ISO/IEC 9834-8): any UUID turned
into a decimal integer is a globally unique OID arc that needs no registration,
which suits an open-source platform that many operators run. The arc is fixed
once and for all; operators who own a registered arc may fork the constants.

    ARC                          2.25.210702231379219146521792844920893042076
    ARC.1      certificate policies
    ARC.1.1      person signing certificate (署名用電子証明書)
    ARC.1.2      person authentication certificate (利用者証明用電子証明書)
    ARC.1.3      organization seal certificate (組織の電子印)
    ARC.1.4      time-stamp authority (RFC 3161 policy)
    ARC.1.5      certification authorities of the platform
    ARC.2      subject attributes (string syntax, UTF8String)
    ARC.2.1      dateOfBirth, ``YYYY-MM-DD`` (生年月日)
    ARC.2.2      sex, as in the resident register: 男 / 女 (性別)
    ARC.2.3      formerSurname (旧氏), present only when registered
    ARC.2.4      issuingMunicipality, 全国地方公共団体コード of the issuing office
"""

from __future__ import annotations

from cryptography import x509

ARC = "2.25.210702231379219146521792844920893042076"


def _oid(suffix: str) -> x509.ObjectIdentifier:
    return x509.ObjectIdentifier(f"{ARC}.{suffix}")


POLICY_PERSON_SIGNING = _oid("1.1")
POLICY_PERSON_AUTHENTICATION = _oid("1.2")
POLICY_ORGANIZATION_SEAL = _oid("1.3")
POLICY_TIMESTAMP = _oid("1.4")
POLICY_CA = _oid("1.5")

ATTR_DATE_OF_BIRTH = _oid("2.1")
ATTR_SEX = _oid("2.2")
ATTR_FORMER_SURNAME = _oid("2.3")
ATTR_ISSUING_MUNICIPALITY = _oid("2.4")

# RFC 9336 id-kp-documentSigning: the purpose of signing and seal certificates.
EKU_DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
# ETSI EN 319 412-1 organizationIdentifier ("NTRJP-" + 法人番号).
ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
