"""Problem+json answers sent straight from ASGI middleware (before any framework runs).

Bodies are deliberately plain: they say *that* authentication or authorization failed and what to do, never
*why* in detail — a reason like "signature mismatch for kid X" helps an attacker tune the next attempt.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.types import Scope, Send

from baton.kit.problems import PROBLEM_JSON, problem_body, problem_type


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    *,
    error: str,
    title: str,
    detail: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer the request with an RFC 9457 problem document.

    Args:
        error: problem name turned into the ``type`` URI (``InvalidToken`` → ``urn:baton:problem:invalid-token``).
    """
    body = orjson.dumps(
        problem_body(status, title=title, detail=detail, type=problem_type(error), instance=scope.get("path"))
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
