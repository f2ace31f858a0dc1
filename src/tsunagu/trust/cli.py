"""``tsunagu pki …`` for operators and ``tsunagu wallet …`` for the Python wallet.

Failures raise ``TsunaguError`` subclasses, which the main CLI turns into a
one-line message and a non-zero exit code.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from tsunagu.core.config import get_settings
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.trust import service
from tsunagu.trust import wallet as wallets

pki_app = typer.Typer(help="認証基盤 / platform PKI (CAs, CRLs)", no_args_is_help=True)
wallet_app = typer.Typer(
    help="ウォレット / the Python wallet (keys under a PIN)", no_args_is_help=True
)

PinOption = Annotated[
    str, typer.Option("--pin", help="暗証番号 / PIN", prompt=True, hide_input=True)
]


def _transaction() -> AbstractContextManager[Session]:
    return transaction(make_session_factory(make_engine(get_settings().effective_database_url)))


@pki_app.command("init")
def pki_init() -> None:
    """ルート CA・中間 CA・TSA を作成 / create the root, issuing CAs and TSA (idempotent)."""
    settings = get_settings()
    with _transaction() as session:
        created = service.init_pki(session, settings, actor="cli")
    typer.echo(f"created: {', '.join(created)}" if created else "PKI already initialised")


@pki_app.command("ca-cert")
def pki_ca_cert(
    role: Annotated[
        str, typer.Option(help="root | signing | authentication | organization")
    ] = "root",
) -> None:
    """CA 証明書 (PEM) を標準出力へ / print a CA certificate as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    with _transaction() as session:
        der = service.authority_certificate(session, role)
    typer.echo(
        x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode(),
        nl=False,
    )


@pki_app.command("crl")
def pki_crl(
    role: Annotated[str, typer.Argument(help="signing | authentication | organization | root")],
    out: Annotated[Path, typer.Option(help="DER CRL file")],
) -> None:
    """失効リストを書き出す / write the current CRL (DER) of a CA."""
    with _transaction() as session:
        out.write_bytes(service.crl(session, get_settings(), role))
    typer.echo(f"wrote {out}")


@wallet_app.command("create")
def wallet_create(
    out: Annotated[Path, typer.Option("--out", help="wallet file to create")],
    pin: PinOption,
    algorithm: Annotated[str, typer.Option(help="ec-p256 | rsa-2048")] = "ec-p256",
) -> None:
    """鍵ペア 2 組を生成 / generate the signing and authentication key pairs."""
    wallets.Wallet.create(out, pin, algorithm=algorithm)
    typer.echo(f"wallet created: {out}")


@wallet_app.command("enroll")
def wallet_enroll(
    wallet: Annotated[Path, typer.Argument(help="wallet file")],
    code: Annotated[str, typer.Option(help="窓口で受け取った発行コード / counter code")],
    url: Annotated[str, typer.Option(help="tsunagu base URL")],
    pin: PinOption,
) -> None:
    """発行コードで証明書を取得 / obtain the certificates with a counter code."""
    issued = wallets.enroll(wallets.Wallet.open(wallet), pin, code=code, url=url)
    typer.echo(f"certificates issued: {', '.join(issued)}")


@wallet_app.command("sign")
def wallet_sign(
    wallet: Annotated[Path, typer.Argument(help="wallet file")],
    infile: Annotated[Path, typer.Option("--in", help="document to sign")],
    out: Annotated[Path, typer.Option("--out", help="detached CMS signature (DER .p7s)")],
    pin: PinOption,
    timestamp: Annotated[
        bool, typer.Option(help="add a platform time-stamp (needs the server)")
    ] = False,
) -> None:
    """文書に署名 (CMS, DER, 分離署名) / sign a document (detached CMS SignedData)."""
    opened = wallets.Wallet.open(wallet)
    signature = opened.unlock(pin).sign(infile.read_bytes())
    if timestamp:
        signature = wallets.timestamp(signature, url=str(opened.data.get("url") or ""))
    out.write_bytes(signature)
    typer.echo(f"wrote {out}")


@wallet_app.command("login")
def wallet_login(
    wallet: Annotated[Path, typer.Argument(help="wallet file")],
    url: Annotated[str, typer.Option(help="tsunagu base URL")],
    pin: PinOption,
) -> None:
    """利用者証明用の鍵でログイン / log in with the authentication key."""
    result = wallets.login(wallets.Wallet.open(wallet), pin, url=url)
    typer.echo(
        f"logged in: {result.get('display_name', '')} "
        f"({result.get('ial')}/{result.get('aal')}, until {result.get('expires_at')})"
    )


@wallet_app.command("show")
def wallet_show(wallet: Annotated[Path, typer.Argument(help="wallet file")]) -> None:
    """ウォレットの証明書を表示 / show the wallet's certificates (no PIN needed)."""
    from cryptography import x509

    opened = wallets.Wallet.open(wallet)
    for label, pem in sorted(opened.data["certificates"].items()):
        cert = x509.load_pem_x509_certificate(pem.encode())
        typer.echo(
            f"{label}: serial {cert.serial_number:x}, "
            f"valid until {cert.not_valid_after_utc:%Y-%m-%d}"
        )
    if not opened.data["certificates"]:
        typer.echo("no certificates yet")
