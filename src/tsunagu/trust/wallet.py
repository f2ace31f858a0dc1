"""The Python wallet: the person's two key pairs in a file encrypted under a PIN.

For operators, tests and automation (people use the browser wallet). Each
private key is kept as PKCS#8 DER sealed with AES-256-GCM under a key derived
from the PIN with scrypt; a wrong PIN fails the GCM tag check. What this
protects, honestly: a copied wallet file cannot be used without the PIN, but
a short numeric PIN can be brute-forced offline by whoever holds the file —
there is no tamper-resistant chip counting wrong tries as on the real card.
Keep the file on the device it was made on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.x509.oid import AttributeOID

from tsunagu.core.clock import utcnow
from tsunagu.core.errors import ValidationError
from tsunagu.trust import cms, protocol, tsa
from tsunagu.trust.pki import PrivateKey, generate_key

FORMAT = "tsunagu-wallet/1"
LABELS = ("signing", "authentication")
SCRYPT_N = 2**15
MIN_PIN = 6
MAX_PIN = 64


class WalletError(ValidationError):
    """A wallet operation that cannot proceed (wrong PIN, missing file, server refusal)."""


def _check_pin(pin: str) -> bytes:
    if not MIN_PIN <= len(pin) <= MAX_PIN:
        raise ValidationError(
            "bad_pin_format",
            f"暗証番号は {MIN_PIN}〜{MAX_PIN} 文字にしてください。",
            f"The PIN must be {MIN_PIN} to {MAX_PIN} characters long.",
        )
    return pin.encode("utf-8")


def _derive(pin: str, kdf: dict[str, Any]) -> bytes:
    return Scrypt(
        salt=protocol.unb64(kdf["salt"]),
        length=32,
        n=int(kdf["n"]),
        r=int(kdf["r"]),
        p=int(kdf["p"]),
    ).derive(_check_pin(pin))


def _seal(key: bytes, label: str, private_key: PrivateKey) -> dict[str, str]:
    nonce = os.urandom(12)
    plain = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    sealed = AESGCM(key).encrypt(nonce, plain, f"{FORMAT}:{label}".encode())
    return {"nonce": protocol.b64(nonce), "ciphertext": protocol.b64(sealed)}


def _unseal(key: bytes, label: str, box: dict[str, str]) -> PrivateKey:
    try:
        plain = AESGCM(key).decrypt(
            protocol.unb64(box["nonce"]),
            protocol.unb64(box["ciphertext"]),
            f"{FORMAT}:{label}".encode(),
        )
    except InvalidTag as exc:
        raise WalletError(
            "wrong_pin", "暗証番号が違います。", "Wrong PIN for this wallet."
        ) from exc
    loaded = serialization.load_der_private_key(plain, password=None)
    return loaded  # type: ignore[return-value]


@dataclass
class Wallet:
    """A wallet file's content; private keys stay sealed until ``unlock``."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, path: Path, pin: str, *, algorithm: str = "ec-p256") -> Wallet:
        """Generate both key pairs on this device and write them sealed under ``pin``."""
        if path.exists():
            raise WalletError(
                "wallet_exists",
                "そのファイルは既に存在します。",
                f"{path} already exists; refusing to overwrite a wallet.",
            )
        kdf = {
            "name": "scrypt",
            "salt": protocol.b64(os.urandom(16)),
            "n": SCRYPT_N,
            "r": 8,
            "p": 1,
        }
        key = _derive(pin, kdf)
        data: dict[str, Any] = {
            "format": FORMAT,
            "algorithm": algorithm,
            "kdf": kdf,
            "keys": {label: _seal(key, label, generate_key(algorithm)) for label in LABELS},
            "certificates": {},
            "chain": [],
            "root": None,
            "url": None,
        }
        wallet = cls(path, data)
        wallet.save()
        return wallet

    @classmethod
    def open(cls, path: Path) -> Wallet:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise WalletError(
                "wallet_missing", "ウォレットがありません。", f"No wallet at {path}."
            ) from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise WalletError(
                "wallet_corrupt",
                "ウォレットファイルが壊れています。",
                f"{path} is not a wallet file.",
            ) from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise WalletError(
                "wallet_corrupt",
                "ウォレットファイルが壊れています。",
                f"{path} is not a {FORMAT} file.",
            )
        return cls(path, data)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(self.path.suffix + ".tmp")
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(self.data, handle, ensure_ascii=False, indent=2)
        temp.replace(self.path)

    def unlock(self, pin: str) -> UnlockedWallet:
        key = _derive(pin, self.data["kdf"])
        keys = {label: _unseal(key, label, self.data["keys"][label]) for label in LABELS}
        return UnlockedWallet(self, keys)

    def certificate(self, label: str) -> bytes:
        pem = self.data["certificates"].get(label)
        if not pem:
            raise WalletError(
                "wallet_not_enrolled",
                "このウォレットには証明書がまだありません。",
                "This wallet has no certificates yet: enroll it with a code from the counter.",
            )
        return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)

    def chain(self) -> list[bytes]:
        return [
            x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
            for pem in self.data["chain"]
        ]

    def store(self, certificates: dict[str, str], chain: list[str], root: str, url: str) -> None:
        """Keep the issued certificates (PEM) after checking they match our keys."""
        self.data["certificates"].update(certificates)
        self.data["chain"] = chain
        self.data["root"] = root
        self.data["url"] = url
        self.save()


@dataclass
class UnlockedWallet:
    """A wallet whose keys are in memory for one operation."""

    wallet: Wallet
    keys: dict[str, PrivateKey]

    def csr(self, label: str, challenge: str) -> bytes:
        """PKCS#10 request proving possession of the ``label`` key, bound to ``challenge``."""
        return (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([]))
            .add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge.encode("utf-8"))
            .sign(self.keys[label], hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )

    def sign(self, content: bytes, *, signing_time: datetime | None = None) -> bytes:
        """Detached CMS SignedData over ``content`` with the signing key and its chain."""
        key = self.keys["signing"]
        return cms.sign_detached(
            content,
            sign=lambda data: cms.raw_signature(key, data),
            signer_cert_der=self.wallet.certificate("signing"),
            chain_ders=self.wallet.chain(),
            signing_time=signing_time or utcnow(),
        )

    def login_signature(self, origin: str, nonce: str, expires_at: datetime) -> bytes:
        return cms.raw_signature(
            self.keys["authentication"], protocol.login_message(origin, nonce, expires_at)
        )

    def check_certificate(self, label: str, pem: str) -> None:
        cert = x509.load_pem_x509_certificate(pem.encode())
        if cert.public_key() != self.keys[label].public_key():
            raise WalletError(
                "certificate_key_mismatch",
                "発行された証明書が鍵と一致しません。",
                f"The issued {label} certificate is not for this wallet's key.",
            )


# --- talking to a tsunagu server ------------------------------------------------


def _post(http: httpx2.Client, url: str, **kwargs: Any) -> httpx2.Response:
    """POST, turning network failures into a one-line wallet error."""
    try:
        return http.post(url, **kwargs)
    except httpx2.HTTPError as exc:
        raise WalletError(
            "server_unreachable", "サーバに接続できません。", f"Cannot reach {url}: {exc}"
        ) from exc


def _raise_for(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.is_success:
        return body if isinstance(body, dict) else {}
    error = body.get("error", {}) if isinstance(body, dict) else {}
    raise WalletError(
        str(error.get("code", f"http_{response.status_code}")),
        str(error.get("message_ja", f"サーバがエラーを返しました ({response.status_code})。")),
        str(error.get("message_en", f"The server answered {response.status_code}.")),
    )


def enroll(
    wallet: Wallet, pin: str, *, code: str, url: str, client: httpx2.Client | None = None
) -> list[str]:
    """Obtain certificates with a counter code; returns the labels issued."""
    unlocked = wallet.unlock(pin)
    base = url.rstrip("/")
    http = client or httpx2.Client(timeout=30)
    challenge = _raise_for(
        _post(http, f"{base}/api/trust/enrollment/challenge", json={"code": code})
    )
    nonce = str(challenge["nonce"])
    issued = _raise_for(
        _post(
            http,
            f"{base}/api/trust/enrollment",
            json={
                "code": code,
                "nonce": nonce,
                "signing_csr": unlocked.csr("signing", nonce).decode(),
                "authentication_csr": unlocked.csr("authentication", nonce).decode(),
            },
        )
    )
    certificates = {c["kind"]: c["pem"] for c in issued["certificates"]}
    for label, pem in certificates.items():
        unlocked.check_certificate(label, pem)
    wallet.store(certificates, issued["chain"], issued["root"], base)
    return sorted(certificates)


def login(
    wallet: Wallet, pin: str, *, url: str, client: httpx2.Client | None = None
) -> dict[str, Any]:
    """Log in by challenge–response; returns the server's session description."""
    unlocked = wallet.unlock(pin)
    base = url.rstrip("/")
    origin = protocol.origin_of(base)
    http = client or httpx2.Client(timeout=30)
    challenge = _raise_for(_post(http, f"{base}/api/identity/login/challenge"))
    if challenge.get("origin") != origin:
        raise WalletError(
            "origin_mismatch",
            "別のサイト向けのチャレンジには署名しません。",
            f"Refusing to sign a challenge for {challenge.get('origin')} "
            f"while talking to {origin}.",
        )
    expires = datetime.fromisoformat(str(challenge["expires_at"]))
    signature = unlocked.login_signature(origin, str(challenge["nonce"]), expires)
    return _raise_for(
        _post(
            http,
            f"{base}/api/identity/login/card",
            json={
                "nonce": challenge["nonce"],
                "certificate": protocol.b64(wallet.certificate("authentication")),
                "signature": protocol.b64(signature),
            },
        )
    )


def timestamp(signature: bytes, *, url: str, client: httpx2.Client | None = None) -> bytes:
    """Ask the platform TSA to time-stamp a signature value and attach the token (CAdES-T)."""
    message = cms.parse(signature)
    request = tsa.build_request(cms.sha256(message.signature))
    http = client or httpx2.Client(timeout=30)
    response = _post(
        http,
        f"{url.rstrip('/')}/api/trust/tsa",
        content=request,
        headers={"content-type": "application/timestamp-query"},
    )
    if not response.is_success:
        _raise_for(response)
    token = tsa.token_from_response(response.content)
    info = tsa.parse_token(token)
    if info.digest != cms.sha256(message.signature):
        raise WalletError(
            "timestamp_mismatch",
            "タイムスタンプが署名と一致しません。",
            "The time-stamp authority stamped something else.",
        )
    return cms.with_timestamp(signature, token)
