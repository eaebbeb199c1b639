"""A request filter for provider verification: Pact's answer to tokens and ids a pact cannot know in advance.

A consumer's pact says ``GET /v1/orders/order-1`` with ``Authorization: Bearer <any>``; the provider's order ids
are generated and its tokens expire. The provider states create what the interaction needs — through the
provider's own API — and tell the filter what to substitute: ``filter.alias("order-1", real_id)``,
``filter.bearer(token)``. The verifier then talks to the filter, which rewrites the request (path, query and
JSON body; the ``Authorization`` header) and forwards it to the provider untouched otherwise. Responses come back
as the provider sent them: the pact's matchers judge them by type and shape.

Pact-JS calls this ``requestFilter``; the Pact docs recommend it for authentication rather than baking a token
into a pact.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

__all__ = ["RequestFilter", "request_filter"]

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "host"}
)


class RequestFilter:
    """The substitutions provider states asked for; applied to every request the verifier replays."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""
        """Where the verifier should send requests (set once serving)."""
        self.aliases: dict[str, str] = {}
        self.authorization: str | None = None
        self.seen: list[tuple[str, str]] = []
        """``(method, path)`` as forwarded (tests read it)."""

    def alias(self, placeholder: str, real: str) -> None:
        """Replace ``placeholder`` (an id the pact names) with ``real`` (the id the provider state created)."""
        self.aliases[placeholder] = real

    def bearer(self, token: str) -> None:
        """Send ``Authorization: Bearer <token>`` instead of whatever the pact's example carried."""
        self.authorization = f"Bearer {token}"

    def reset(self) -> None:
        """Forget every substitution (before the next interaction's states)."""
        self.aliases.clear()
        self.authorization = None

    def rewrite(self, text: str) -> str:
        """``text`` with every placeholder replaced (longest first, so ``order-10`` is not read as ``order-1``)."""
        for placeholder in sorted(self.aliases, key=len, reverse=True):
            text = text.replace(placeholder, self.aliases[placeholder])
        return text


def _handler(rules: RequestFilter, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if body:
                body = rules.rewrite(body.decode()).encode()
            dropped = HOP_BY_HOP | {"content-length"}
            headers: dict[str, Any] = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
            if rules.authorization is not None:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                headers["Authorization"] = rules.authorization
            path = rules.rewrite(self.path)
            rules.seen.append((self.command, path))
            answer = client.request(self.command, rules.upstream + path, headers=headers, content=body)
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in HOP_BY_HOP | {"content-length", "content-encoding"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Forward


@contextmanager
def request_filter(upstream: str) -> Iterator[RequestFilter]:
    """Serve a :class:`RequestFilter` in front of ``upstream`` on a free local port, for the ``with`` block."""
    rules = RequestFilter(upstream)
    with httpx.Client(timeout=30) as client:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rules, client))
        rules.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, name="pact request filter", daemon=True)
        thread.start()
        try:
            yield rules
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
