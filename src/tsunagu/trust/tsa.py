"""RFC 3161 time-stamp protocol: requests, responses and tokens.

The platform's time-stamping unit answers a ``TimeStampReq`` with a token (a
CMS SignedData over a ``TSTInfo``) saying "this hash existed at genTime".
Attached to a signature (``cms.with_timestamp``) it keeps the signature
verifiable after the signer certificate expires or is revoked later: what
matters is whether the certificate was good at genTime.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms as asn1_cms
from asn1crypto import tsp

from tsunagu.core.errors import ValidationError
from tsunagu.trust import cms, oids

MAX_REQUEST_BYTES = 4096


def _bad(code: str, ja: str, en: str) -> ValidationError:
    return ValidationError(code, ja, en)


def build_request(data_digest: bytes, *, nonce: int | None = None) -> bytes:
    """A TimeStampReq for a SHA-256 digest, asking for the TSA certificate."""
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": data_digest,
            },
            "nonce": nonce if nonce is not None else secrets.randbits(63),
            "cert_req": True,
        }
    )
    return bytes(request.dump())


@dataclass(frozen=True)
class Request:
    digest: bytes
    nonce: int | None
    cert_req: bool


def parse_request(der: bytes) -> Request:
    """Validate a TimeStampReq: SHA-256 imprint of the right length, our policy or none."""
    if not der or len(der) > MAX_REQUEST_BYTES:
        raise _bad(
            "bad_tsa_request", "時刻認証の要求が不正です。", "The time-stamp request is malformed."
        )
    try:
        request = tsp.TimeStampReq.load(der, strict=True)
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        digest = bytes(imprint["hashed_message"].native)
        policy = request["req_policy"].native
        nonce = request["nonce"].native
        cert_req = bool(request["cert_req"].native)
    except (ValueError, TypeError, KeyError) as exc:
        raise _bad(
            "bad_tsa_request", "時刻認証の要求が不正です。", "The time-stamp request is malformed."
        ) from exc
    if algorithm != "sha256" or len(digest) != 32:
        raise _bad(
            "bad_tsa_algorithm",
            "時刻認証は SHA-256 のみ対応しています。",
            "The time-stamp authority accepts SHA-256 imprints only.",
        )
    if policy is not None and policy != oids.POLICY_TIMESTAMP.dotted_string:
        raise _bad(
            "bad_tsa_policy", "未対応の時刻認証ポリシーです。", "Unsupported time-stamp policy."
        )
    return Request(digest=digest, nonce=nonce, cert_req=cert_req)


def issue_token(
    request: Request,
    *,
    at: datetime,
    sign: Callable[[bytes], bytes],
    tsa_cert_der: bytes,
    chain_ders: Sequence[bytes],
) -> bytes:
    """The time-stamp token (ContentInfo DER) for ``request`` at time ``at``."""
    info = tsp.TSTInfo(
        {
            "version": "v1",
            "policy": oids.POLICY_TIMESTAMP.dotted_string,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": request.digest,
            },
            "serial_number": secrets.randbits(127),
            "gen_time": at,
            "accuracy": {"seconds": 1},
            "nonce": request.nonce,
        }
    )
    encoded = bytes(info.dump())
    attrs = cms.signed_attributes(cms.sha256(encoded), tsa_cert_der, at, cms.TST_INFO)
    return cms.assemble(
        signed_attrs=attrs,
        signature=sign(attrs),
        signer_cert_der=tsa_cert_der,
        chain_ders=chain_ders if request.cert_req else [],
        content_type=cms.TST_INFO,
        content=encoded,
    )


def response(token: bytes) -> bytes:
    """TimeStampResp granting ``token``."""
    reply = tsp.TimeStampResp(
        {"status": {"status": "granted"}, "time_stamp_token": asn1_cms.ContentInfo.load(token)}
    )
    return bytes(reply.dump())


def rejection(reason: str) -> bytes:
    """TimeStampResp refusing a request (``bad_alg``, ``bad_request``, ``bad_data_format``…)."""
    reply = tsp.TimeStampResp(
        {"status": {"status": "rejection", "fail_info": tsp.PKIFailureInfo({reason})}}
    )
    return bytes(reply.dump())


def token_from_response(der: bytes) -> bytes:
    """The token inside a granted TimeStampResp (raise when the TSA refused)."""
    try:
        reply = tsp.TimeStampResp.load(der, strict=True)
        status = reply["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            raise _bad(
                "timestamp_refused",
                "時刻認証局が要求を拒否しました。",
                f"The time-stamp authority refused the request ({status}).",
            )
        return bytes(reply["time_stamp_token"].dump())
    except (ValueError, TypeError, KeyError) as exc:
        raise _bad(
            "bad_tsa_response",
            "時刻認証の応答が不正です。",
            "The time-stamp response is malformed.",
        ) from exc


@dataclass(frozen=True)
class TokenInfo:
    """A parsed token: the time it vouches for and the signed message behind it."""

    gen_time: datetime
    digest: bytes
    serial: int
    nonce: int | None
    message: cms.SignedMessage


def parse_token(token: bytes) -> TokenInfo:
    """Parse a token and check its TSTInfo is the content its signer signed."""
    message = cms.parse(token)
    if message.content_type != "1.2.840.113549.1.9.16.1.4" and message.content_type != cms.TST_INFO:
        raise cms.malformed()
    if message.content is None or message.message_digest != cms.sha256(message.content):
        raise cms.malformed()
    try:
        info = tsp.TSTInfo.load(message.content, strict=True)
        imprint = info["message_imprint"]
        if imprint["hash_algorithm"]["algorithm"].native != "sha256":
            raise cms.malformed()
        return TokenInfo(
            gen_time=info["gen_time"].native,
            digest=bytes(imprint["hashed_message"].native),
            serial=int(info["serial_number"].native),
            nonce=info["nonce"].native,
            message=message,
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise cms.malformed() from exc
