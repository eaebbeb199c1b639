"""Headers layer: what every try carries — trace context, correlation id, deadline and service token."""

from __future__ import annotations

from multidict import CIMultiDict

from baton.client.base import Handler, Request, TokenProvider
from baton.client.response import Response
from baton.resilience import deadline
from baton.telemetry.context import inject


class HeadersLayer:
    """Builds ``request.send_headers`` fresh for each try (the remaining deadline shrinks between tries)."""

    def __init__(self, next: Handler, *, auth: TokenProvider | None = None) -> None:
        self.next = next
        self._auth = auth

    async def handle(self, request: Request) -> Response:
        """Add the propagation headers, then send."""
        # A CIMultiDict is what aiohttp builds from a dict anyway: building it here saves that conversion.
        headers: CIMultiDict[str] = CIMultiDict(request.headers)
        inject(headers)
        left = deadline.remaining()
        if left is not None:
            headers[deadline.DEADLINE_HEADER] = deadline.header_value(left)
        if self._auth is not None:
            token = await self._auth(request.target.service)
            if token:
                headers["Authorization"] = f"Bearer {token}"
        request.send_headers = headers
        return await self.next.handle(request)
