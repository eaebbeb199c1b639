"""The SMTP send of ``bench/checkout_floor.py --smtp``, priced apart (the kit has no mailer).

Two roles, each its own process so the bench can pin both to the server core and read their CPU:

- ``sink PORT``: an aiosmtpd server (the library the shop's mail sink serves SMTP with) on an asyncio loop,
  accepting every message and keeping none;
- ``send PORT COUNT PER_CONNECTION``: stdlib ``smtplib`` as the shop's notification mailer uses it, ``COUNT``
  e-mails of about the size of an order confirmation, ``PER_CONNECTION`` of them over each connection (the
  mailer opens one connection per batch it sends). Prints the CPU seconds its sending loop used (JSON).

    python -m bench.floor.smtp sink 2525
    python -m bench.floor.smtp send 2525 500 1
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import sys
import time
from email.message import EmailMessage
from typing import Any


class _Accept:
    """aiosmtpd handler: every message is accepted and dropped."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 Message accepted"


async def sink(port: int) -> None:
    """Serve SMTP on 127.0.0.1:``port`` until killed."""
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    handler = _Accept()
    server = await loop.create_server(lambda: SMTP(handler), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def message(n: int) -> EmailMessage:
    """An order confirmation's size and shape: plain text and HTML alternatives, ~2 KB."""
    mail = EmailMessage()
    mail["From"] = "shop@baton.local"
    mail["To"] = f"customer-{n}@bench.test"
    mail["Subject"] = f"Your order {n:08d} is confirmed"
    lines = [f"1 x Espresso beans 1kg — 12.50 EUR (line {i})" for i in range(8)]
    mail.set_content("Thank you for your order.\n\n" + "\n".join(lines) + "\n\nTotal: 100.00 EUR\n")
    mail.add_alternative("<html><body><p>Thank you for your order.</p><ul>" + "".join(f"<li>{x}</li>" for x in lines))
    return mail


def send(port: int, count: int, per_connection: int) -> dict[str, float]:
    """Send ``count`` messages, ``per_connection`` per SMTP connection; CPU seconds of the loop."""
    mails = [message(n) for n in range(count)]
    started = time.process_time()
    for first in range(0, count, per_connection):
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            for mail in mails[first : first + per_connection]:
                smtp.send_message(mail)
    return {"cpu_s": time.process_time() - started, "sent": count}


def main() -> None:
    role, port = sys.argv[1], int(sys.argv[2])
    if role == "sink":
        import uvloop  # as the kit serves: the shop's sink runs on its instance's uvloop

        uvloop.run(sink(port))
    else:
        print(json.dumps(send(port, int(sys.argv[3]), int(sys.argv[4]))))


if __name__ == "__main__":
    main()
