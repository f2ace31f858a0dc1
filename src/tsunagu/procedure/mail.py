"""E-mail hints: "a notice is in your inbox", sent when a decision notice is issued.

An outbox handler of :data:`tsunagu.procedure.decisions.NOTICE_ISSUED_TOPIC`
(registered through :mod:`tsunagu.handlers`). It writes to the contact
e-mail of the applicant and of the person the application is about, through
the SMTP server of ``TSUNAGU_SMTP_*``; with no host configured it does
nothing. The mail names no procedure and carries nothing personal: it only
points to the inbox, where the person logs in. A refused or unreachable
server raises, so the outbox retries with backoff.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy.orm import Session

from tsunagu.core.config import Settings, get_settings
from tsunagu.core.outbox.service import Event, handler
from tsunagu.identity import service as identity
from tsunagu.procedure.decisions import NOTICE_ISSUED_TOPIC
from tsunagu.procedure.models import Application

SUBJECT = "【tsunagu】お知らせが届いています / A notice is in your inbox"
BODY = """\
tsunagu のお知らせ箱に新しい通知が届いています。
ログインしてご確認ください: {url}

このメールには個人に関する情報は含まれていません。お心当たりのない場合は破棄してください。

A new notice is in your tsunagu inbox. Log in to read it: {url}

This e-mail contains no personal information. If you did not expect it, please ignore it.
"""


def recipients(session: Session, app: Application) -> list[str]:
    """Contact e-mails of the applicant (a person) and of the subject, each once."""
    persons = []
    if app.applicant.startswith("person:"):
        persons.append(app.applicant.removeprefix("person:"))
    if app.subject_kind == "person":
        persons.append(app.subject_id)
    found: list[str] = []
    for person in dict.fromkeys(persons):
        email = identity.contact_email(session, person)
        if email and email not in found:
            found.append(email)
    return found


def message(settings: Settings, to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = to
    mail["Subject"] = SUBJECT
    mail["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
    mail.set_content(BODY.format(url=f"{settings.base_url.rstrip('/')}/inbox"))
    return mail


def send(settings: Settings, messages: list[EmailMessage]) -> None:
    """Deliver over one SMTP connection (STARTTLS and login when configured)."""
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        for mail in messages:
            smtp.send_message(mail)


@handler(NOTICE_ISSUED_TOPIC, name="procedure.mail.notice_issued")
def notify(session: Session, event: Event) -> None:
    settings = get_settings()
    if not settings.smtp_host:
        return
    app = session.get(Application, str(event.payload["application_id"]))
    if app is None:
        return
    to = recipients(session, app)
    if to:
        send(settings, [message(settings, address) for address in to])
