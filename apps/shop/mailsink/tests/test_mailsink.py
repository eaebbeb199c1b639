"""The mail sink through real SMTP and its HTTP API, on a real SQLite database (no bus)."""

from __future__ import annotations

import asyncio
import smtplib
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from apps.shop.common.testusers import STAFF, USERS
from apps.shop.mailsink.service import parse_message, service
from apps.shop.mailsink.smtp import sink

from baton.kit import InstanceSettings


@pytest.fixture
async def client(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MAILSINK_SMTP_PORT", "0")  # a free port, read back from the component
    monkeypatch.setenv("SHOP_USER_JWKS", USERS.jwks_json())
    service.reload_settings()
    async with service.running(InstanceSettings(home=tmp_path)):
        transport = httpx.ASGITransport(app=service.app)
        staff = USERS.headers("staff-1", roles=STAFF)
        async with httpx.AsyncClient(transport=transport, base_url="http://mailsink", headers=staff) as http:
            yield http
    service.reload_settings()


def _mail(to: str, subject: str, body: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "shop@example.test"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(body)
    return message


async def _send(message: EmailMessage) -> None:
    def send() -> None:
        assert sink.port is not None
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as smtp:
            smtp.send_message(message)

    await asyncio.to_thread(send)


def test_parse_message_reads_subject_body_and_recipients():
    raw = _mail("Ada@Example.test", "Hi", "Body text", "<m-1@test>").as_bytes()
    parsed = parse_message(raw, envelope_from="shop@example.test", envelope_to=["Ada@Example.test"])
    assert parsed["subject"] == "Hi"
    assert parsed["body"].strip() == "Body text"
    assert parsed["rcpt_to"] == "ada@example.test"
    assert parsed["message_id"] == "<m-1@test>"


def _multipart() -> EmailMessage:
    message = _mail("ada@example.test", "Alternatives", "plain text wins", "<m-alt@test>")
    message.add_alternative("<p>html loses</p>", subtype="html")
    message.add_attachment(b"%PDF-1", maintype="application", subtype="pdf", filename="invoice.pdf")
    return message


def _html_only() -> EmailMessage:
    message = _mail("ada@example.test", "Html", "", "<m-html@test>")
    message.set_content("<p>only html</p>", subtype="html")
    return message


def _encoded(cte: str) -> EmailMessage:
    subject = "Votre commande n° 42 est confirmée — merci, et un sujet assez long pour être replié " * 2
    message = _mail("ada@example.test", subject, "Bonjour Adà,\r\nmerci — ✓\r\n" * 3, "<m-enc@test>")
    message.set_content("Bonjour Adà,\nmerci — ✓\n" * 3, cte=cte)
    return message


@pytest.mark.parametrize(
    "message",
    [
        _mail("ada@example.test", "Hi", "Body text", "<m-1@test>"),
        _encoded("8bit"),
        _encoded("quoted-printable"),
        _encoded("base64"),
        _multipart(),
        _html_only(),
    ],
    ids=["ascii", "utf8-8bit", "quoted-printable", "base64", "multipart-with-attachment", "html-only"],
)
def test_the_columns_are_what_the_full_email_parser_reads(message):
    raw = message.as_bytes(policy=policy.SMTP)  # CRLF line ends, long headers folded: as it comes over SMTP
    full = message_from_bytes(raw, policy=policy.default)
    body = full.get_body(preferencelist=("plain", "html"))
    parsed = parse_message(raw, envelope_from="shop@example.test", envelope_to=["ada@example.test"])
    assert parsed["subject"] == str(full["Subject"])
    assert parsed["message_id"] == str(full["Message-ID"])
    assert parsed["body"] == body.get_content()


def test_a_message_without_message_id_or_subject_is_still_kept():
    raw = b"From: a@example.test\r\nTo: b@example.test\r\n\r\nhello\r\n"
    parsed = parse_message(raw, envelope_from="a@example.test", envelope_to=["b@example.test"])
    assert parsed["message_id"].startswith("<sink-")
    assert parsed["subject"] == ""
    assert parsed["body"] == "hello\r\n"


async def test_received_messages_are_listed_newest_first_and_filtered_by_recipient(client):
    await _send(_mail("ada@example.test", "Order confirmed", "Thanks, Ada", "<m-1@test>"))
    await _send(_mail("grace@example.test", "Order cancelled", "Sorry, Grace", "<m-2@test>"))
    everything = (await client.get("/v1/messages")).json()
    for_ada = (await client.get("/v1/messages", params={"to": "ada@example.test"})).json()
    for_nobody = (await client.get("/v1/messages", params={"to": "da@example.test"})).json()
    assert [m["subject"] for m in everything["items"]] == ["Order cancelled", "Order confirmed"]
    assert everything["total"] == 2
    assert [m["body"].strip() for m in for_ada["items"]] == ["Thanks, Ada"]
    assert for_nobody["items"] == []


async def test_a_resent_message_id_is_kept_once(client):
    message = _mail("ada@example.test", "Order confirmed", "Thanks", "<notification-1@shop>")
    await _send(message)
    await _send(message)  # the sender retried after losing our reply
    listed = (await client.get("/v1/messages")).json()
    assert listed["total"] == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
        (USERS.headers("ada"), 403),
        (USERS.headers("boss", roles=("admin",)), 200),
    ],
    ids=["anonymous", "bad-token", "customer", "admin"],
)
async def test_only_staff_list_the_messages(client, headers, status):
    await _send(_mail("ada@example.test", "Order confirmed", "Thanks, Ada", "<m-4@test>"))
    answer = await client.get("/v1/messages", headers={"Authorization": "", **headers})
    assert answer.status_code == status
    if status != 200:
        assert "Thanks, Ada" not in answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")


async def test_the_page_lists_messages_with_their_content_escaped(client):
    await _send(_mail("ada@example.test", "<b>Hello</b>", "a < b", "<m-3@test>"))
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;b&gt;Hello&lt;/b&gt;" in page.text
    assert "a &lt; b" in page.text
    assert "1 message(s)" in page.text
