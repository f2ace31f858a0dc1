"""Trust benchmarks: signed-submission verification and card login over HTTP (issue #3).

- ``verify_per_s``: ``trust.service.verify_signature`` on detached CMS signatures
  from 20 enrolled wallets (CMS parse + chain + validity + revocation lookup in
  the database + ECDSA verify), one core, reported beside the raw OpenSSL
  ECDSA-P256 verify rate measured in the same run.
- ``login_p95_ms``: challenge + signed login round trip (two HTTP requests) to
  a real uvicorn server on loopback.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bench.common import percentile, sqlite_url
from tsunagu.core.config import Settings
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.identity import service as parties
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import AddressIn, PersonIn, Sex
from tsunagu.trust import protocol, service
from tsunagu.trust.pki import PersonAttributes
from tsunagu.trust.wallet import UnlockedWallet, Wallet

TARGETS = {"verify_per_s": 3_000, "verify_share_of_raw": 0.30, "login_p95_ms": 20.0}
PIN = "123456"
WALLETS = 20
SECONDS = 3.0
LOGINS = 300


def raw_ecdsa_verify_per_s(seconds: float = SECONDS) -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    data = b"x" * 200
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(200):
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        count += 200
    return count / (time.perf_counter() - started)


def _enroll(factory: Any, settings: Settings, workdir: Path, subject: str) -> UnlockedWallet:
    person = PersonAttributes("山田\u3000花子", date(1980, 1, 2), "女", "東京都千代田区永田町1-7-1")
    with transaction(factory) as session:
        code = service.create_enrollment(
            session,
            subject_ref=subject,
            person=person,
            municipality_code="131016",
            identity_check={"method": "in_person"},
            actor="bench",
        ).code
        nonce = service.enrollment_challenge(session, settings, code).nonce
    wallet = Wallet.create(workdir / f"{subject}.wallet", PIN)
    unlocked = wallet.unlock(PIN)
    with transaction(factory) as session:
        rows = service.complete_enrollment(
            session,
            settings,
            code=code,
            nonce=nonce,
            signing_csr=unlocked.csr("signing", nonce),
            authentication_csr=unlocked.csr("authentication", nonce),
        )
        store = service.trust_store(session)
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        def pem(der: bytes) -> str:
            return (
                x509.load_der_x509_certificate(der)
                .public_bytes(serialization.Encoding.PEM)
                .decode()
            )

        wallet.store(
            {r.kind: pem(r.der) for r in rows},
            [pem(store.ders[service.AuthorityRole.SIGNING])],
            service.root_certificate_pem(session).decode(),
            settings.base_url,
        )
    return wallet.unlock(PIN)


def verify_rate(factory: Any, signed: list[tuple[bytes, bytes]]) -> float:
    count, started = 0, time.perf_counter()
    with transaction(factory) as session:
        while time.perf_counter() - started < SECONDS:
            for cms_der, content in signed:
                service.verify_signature(session, cms_der, content)
            count += len(signed)
    return count / (time.perf_counter() - started)


def _serve(settings: Settings) -> tuple[uvicorn.Server, threading.Thread, str]:
    from tsunagu.web.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings.base_url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, settings.base_url


def login_latencies(settings: Settings, person_wallet: UnlockedWallet) -> list[float]:
    server, thread, base = _serve(settings)
    certificate = protocol.b64(person_wallet.wallet.certificate("authentication"))
    samples: list[float] = []
    try:
        with httpx2.Client(base_url=base) as client:
            for i in range(LOGINS + 20):
                started = time.perf_counter()
                challenge = client.post("/api/identity/login/challenge").json()
                signature = person_wallet.login_signature(
                    challenge["origin"],
                    challenge["nonce"],
                    datetime.fromisoformat(challenge["expires_at"]),
                )
                response = client.post(
                    "/api/identity/login/card",
                    json={
                        "nonce": challenge["nonce"],
                        "certificate": certificate,
                        "signature": protocol.b64(signature),
                    },
                )
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"login failed: {response.text}")
                client.cookies.clear()
                if i >= 20:  # warm-up
                    samples.append(elapsed)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return samples


def run(workdir: Path) -> dict[str, Any]:
    url = sqlite_url(workdir, "trust")
    settings = Settings(
        database_url=url, var_dir=workdir / "var", base_url="http://bench", pki_key_password="bench"
    )
    factory = make_session_factory(make_engine(url))
    with transaction(factory) as session:
        service.init_pki(session, settings)
    wallets = [_enroll(factory, settings, workdir, f"person-{i}") for i in range(WALLETS)]
    signed = []
    for i, wallet in enumerate(wallets * 5):
        content = f"申請書 {i}".encode() * 50
        signed.append((wallet.sign(content), content))
    raw = raw_ecdsa_verify_per_s()
    verify = verify_rate(factory, signed)
    # login needs a real person row (sessions reference identity_persons)
    vault = MyNumberVault.from_settings(settings)
    with transaction(factory) as session:
        person = parties.create_person(
            session,
            PersonIn(
                family_name="山田",
                given_name="花子",
                family_name_kana="ヤマダ",
                given_name_kana="ハナコ",
                birth_date=date(1980, 1, 2),
                sex=Sex.FEMALE,
                address=AddressIn(municipality_code="131016", town="永田町", block="1丁目7番1号"),
            ),
            actor="bench",
            vault=vault,
        ).id
    login_wallet = _enroll(factory, settings, workdir, person)
    latencies = login_latencies(settings, login_wallet)
    return {
        "backend": "sqlite",
        "verify_per_s": round(verify),
        "raw_ecdsa_p256_verify_per_s": round(raw),
        "verify_share_of_raw": round(verify / raw, 3),
        "login_round_trips": len(latencies),
        "login_p50_ms": round(percentile(latencies, 50), 2),
        "login_p95_ms": round(percentile(latencies, 95), 2),
        "targets": TARGETS,
    }
