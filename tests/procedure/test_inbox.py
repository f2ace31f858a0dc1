"""The resident's inbox (notices and certificates of their applications, read state) and the
e-mail hint sent through a real SMTP server (aiosmtpd) when one is configured."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler
from fastapi.testclient import TestClient

from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.outbox.service import Dispatcher
from tsunagu.identity import service as identity
from tsunagu.procedure import mail, service
from tsunagu.procedure.models import Application
from tsunagu.procedure.service import Party

from .conftest import Login, World
from .test_certificates import JUMINHYO, request


def test_the_inbox_lists_notice_and_certificate_newest_first(world: World, login: Login) -> None:
    app = request(world, world.taro, "juminhyo_kofu", JUMINHYO)
    taro = login(person=world.taro)
    inbox = taro.get("/api/me/inbox").json()
    assert inbox["unread"] == 2
    kinds = [item["kind"] for item in inbox["items"]]
    assert kinds == ["certificate", "decision"]
    certificate, decision = inbox["items"]
    assert {certificate["application_id"], decision["application_id"]} == {app.id}
    assert certificate["title"]["ja"] == "住民票の写し" and decision["outcome"] == "approved"
    pdf = taro.get(certificate["download_url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    after = taro.get("/api/me/inbox").json()
    assert after["unread"] == 1 and after["items"][0]["read"] is True
    read = taro.post(f"/api/me/inbox/decision/{decision['id']}/read")
    assert read.status_code == 204
    assert taro.get("/api/me/inbox").json()["unread"] == 0
    page = taro.get("/inbox?lang=en")
    assert page.status_code == 200 and certificate["id"] in page.text
    assert page.headers["cache-control"] == "no-store" == pdf.headers["cache-control"]
    assert "Unread: 0" in page.text


def test_only_the_parties_see_an_item(world: World, login: Login, client: TestClient) -> None:
    request(world, world.taro, "juminhyo_kofu", JUMINHYO)
    item = login(person=world.taro).get("/api/me/inbox").json()["items"][0]
    assert client.get("/api/me/inbox").status_code == 401
    assert client.get(item["download_url"]).status_code == 401
    page = client.get("/inbox", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    for other in (login(person=world.jiro), login(person=world.stranger)):
        assert other.get("/api/me/inbox").json() == {"unread": 0, "items": []}
        assert other.get(item["download_url"]).status_code == 404
        assert other.post(f"/api/me/inbox/{item['kind']}/{item['id']}/read").status_code == 404
    official = login(official=world.chiyoda_reviewer)
    assert official.get("/api/me/inbox").status_code == 403
    assert official.get(item["download_url"]).status_code == 403
    assert login(person=world.taro).get("/api/me/inbox/other/x.pdf").status_code == 422


def test_a_household_member_files_and_both_see_it(world: World, login: Login) -> None:
    actor = world.person(world.jiro)
    with transaction(world.factory) as session:
        draft = service.create(
            session, actor, "juminhyo_kofu", JUMINHYO, on_behalf_of=Party("person", world.taro)
        )
        draft.fee = 0
        signature = world.sign(world.jiro, service.document(draft))
        service.submit(session, actor, draft.id, signature, store=world.store)
    world.drain()
    for person in (world.jiro, world.taro):
        assert len(login(person=person).get("/api/me/inbox").json()["items"]) == 2
    assert login(person=world.stranger).get("/api/me/inbox").json()["items"] == []


def test_contact_email_is_set_by_the_person(world: World, login: Login) -> None:
    taro = login(person=world.taro)
    assert taro.put("/api/me/contact-email", json={"email": "not an address"}).status_code == 422
    assert taro.put("/api/me/contact-email", json={"email": "taro@example.jp"}).status_code == 204
    with transaction(world.factory) as session:
        assert identity.contact_email(session, world.taro) == "taro@example.jp"
    official = login(official=world.chiyoda_reviewer)
    assert official.put("/api/me/contact-email", json={"email": "x@example.jp"}).status_code == 403


# --- e-mail through a real SMTP server ------------------------------------------------------------


class Inbox(MessageHandler):
    """aiosmtpd handler keeping what it received."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Message] = []

    def handle_message(self, message: Message) -> None:
        self.received.append(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def _mail_settings(world: World, monkeypatch: pytest.MonkeyPatch, port: int) -> Settings:
    configured = world.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": "notice@city.example"}
    )
    monkeypatch.setattr(mail, "get_settings", lambda: configured)
    return configured


def _with_email(world: World, person: str, address: str) -> None:
    with transaction(world.factory) as session:
        identity.set_contact_email(session, person, address, actor="test")


def test_notice_mail_is_sent_without_personal_content(
    world: World, smtp: tuple[Controller, Inbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, received = smtp
    _mail_settings(world, monkeypatch, controller.port)
    _with_email(world, world.taro, "taro@example.jp")
    request(world, world.taro, "juminhyo_kofu", JUMINHYO)
    [message] = received.received
    assert message["To"] == "taro@example.jp" and message["From"] == "notice@city.example"
    body = message_from_bytes(message.as_bytes()).get_payload(decode=True)
    text = body.decode("utf-8") if isinstance(body, bytes) else str(message.get_payload())
    assert "http://testserver/inbox" in text
    for personal in ("鈴木", "太郎", "住民票", "千代田", world.taro):
        assert personal not in text and personal not in str(message["Subject"])


def test_no_mail_without_smtp_or_address(
    world: World, smtp: tuple[Controller, Inbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, received = smtp
    request(world, world.taro, "juminhyo_kofu", JUMINHYO)  # no SMTP host configured
    _mail_settings(world, monkeypatch, controller.port)
    request(world, world.jiro, "juminhyo_kofu", JUMINHYO)  # jiro has no contact e-mail
    assert received.received == []


def test_a_failed_delivery_is_retried_by_the_outbox(
    world: World, smtp: tuple[Controller, Inbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, received = smtp
    _mail_settings(world, monkeypatch, _free_port())  # nobody listens there
    _with_email(world, world.taro, "taro@example.jp")
    actor = world.person(world.taro)
    with transaction(world.factory) as session:
        draft = service.create(session, actor, "juminhyo_kofu", JUMINHYO)
        draft.fee = 0
        signature = world.sign(world.taro, service.document(draft))
        app: Application = service.submit(
            session, actor, draft.id, signature, store=world.store
        ).application
    dispatcher = Dispatcher(world.factory, backoff_base=0.0, max_attempts=5)
    retried = 0
    for _ in range(10):
        retried += dispatcher.run_once().retried
        if retried:
            break
    assert retried == 1 and received.received == []
    _mail_settings(world, monkeypatch, controller.port)  # the server is back
    for _ in range(10):
        if dispatcher.run_once().claimed == 0:
            break
    [message] = received.received
    assert message["To"] == "taro@example.jp" and app.id not in message.as_string()
