"""``tsunagu demo scenario tennyu``: a demo resident moves through the HTTP API of a server
started in process; the rules decide, the signed notice is downloaded, the register changes."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from typer.testing import CliRunner

from tsunagu import cli
from tsunagu.core.db import transaction
from tsunagu.core.errors import ConflictError
from tsunagu.identity.card import enroll_demo_wallets
from tsunagu.identity.models import Person
from tsunagu.procedure import decisions, scenario
from tsunagu.registry import service as registry
from tsunagu.trust import service as trust
from tsunagu.trust.pki import AuthorityRole
from tsunagu.web.app import create_app

from .conftest import World

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_wallet(world: World) -> Path:
    """taro, a resident of 千代田区, gets the demo wallet resident-1 (PIN 123456)."""
    with transaction(world.factory) as session:
        person = session.get(Person, world.taro)
        assert person is not None
        person.demo = True
        session.flush()
        enroll_demo_wallets(session, world.settings, count=1)
    return world.settings.var_dir / "demo" / "wallets" / "resident-1.wallet"


def test_tennyu_scenario_through_the_http_api(world: World, demo_wallet: Path) -> None:
    started = time.perf_counter()
    result = scenario.run(
        world.settings, world.factory, make_app=create_app, lgcodes=["131016", "271004"]
    )
    assert time.perf_counter() - started < 60
    assert json.loads(json.dumps(result)) == result  # one JSON object
    assert result["status"] == "approved" and result["automatic"]
    assert result["attachments_requested"] == 0
    assert result["evidence"] == [{"type": "juminhyo", "outcome": "provided"}]
    assert (result["from_municipality"], result["to_municipality"]) == ("131016", "271004")
    assert result["elapsed_ms"] > 0
    pdf = Path(result["decision_pdf"]).read_bytes()
    with transaction(world.factory) as session:
        root = trust.trust_store(session).ders[AuthorityRole.ROOT]
        [now] = registry.as_of(session, "juki", world.taro)
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(root)])
    [signature] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert decisions.run_sync(async_validate_pdf_signature(signature, context)).bottom_line
    assert now.keeper_id == world.osaka and now.data["address"]["municipality"] == "大阪市"
    assert now.data["status"] == "住民"


def test_scenario_without_a_demo_wallet_says_so(world: World) -> None:
    with pytest.raises(ConflictError) as raised:
        scenario.run(world.settings, world.factory, make_app=create_app, lgcodes=["131016"])
    assert raised.value.code == "no_demo_wallet"


def test_cli_refuses_an_unknown_scenario() -> None:
    result = CliRunner().invoke(cli.app, ["demo", "scenario", "nothing"])
    assert result.exit_code == cli.EXIT_USAGE
