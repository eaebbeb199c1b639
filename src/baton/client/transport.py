"""The last handler: send one try over pooled aiohttp connections; the boundary where aiohttp errors end.

aiohttp rather than httpx: measured here at 50 requests in flight aiohttp served 14–20k req/s where plain
httpx fell to ~0.6k (encode/httpx#3215); ``bench/client.py`` re-measures it.
"""

from __future__ import annotations

import aiohttp

from baton.client.base import Request
from baton.client.response import Response
from baton.errors import CallError, CallTimeout, UpstreamUnavailable


class AiohttpTransport:
    """Sends ``request`` to ``request.instance`` through a shared ``aiohttp.ClientSession``."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}

    def _timeout(self, seconds: float | None) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=seconds)
            # Deadline-bound timeouts are all different; only keep the few fixed per-try values.
            if len(self._timeouts) < 32:
                self._timeouts[seconds] = timeout
        return timeout

    async def handle(self, request: Request) -> Response:
        """Send one try and read the whole answer within ``request.try_timeout``.

        Raises:
            CallTimeout: the try timed out (connect, send or read).
            UpstreamUnavailable: connection refused or reset, or a broken answer.
        """
        instance = request.instance
        if instance is None:
            raise CallError("no instance chosen for the try (balance layer missing?)")
        try:
            # Awaited rather than entered: ``async with`` adds two coroutines on the way in and two on the way
            # out, on every call; ``read()`` gives the connection back at the end of the body and ``release()``
            # covers every other exit (it cancels a body upload still running).
            answer = await self.session.request(
                request.method,
                instance.base_url + request.path,
                params=request.params,
                data=request.body,
                headers=request.send_headers if request.send_headers is not None else request.headers,
                timeout=self._timeout(request.try_timeout),
                allow_redirects=False,
            )
            try:
                content = await answer.read()
            finally:
                answer.release()
            return Response(answer.status, answer.headers, content, target=request.target.service, instance=instance)
        except TimeoutError as exc:
            raise CallTimeout(
                f"{instance.id} did not answer {request.method} {request.path} within {request.try_timeout:.3f}s",
                target=request.target.service,
                instance=instance.id,
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise CallError(f"invalid URL for {instance.id}: {exc}", target=request.target.service) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamUnavailable(
                f"{instance.id} unreachable: {type(exc).__name__}: {exc}",
                target=request.target.service,
                instance=instance.id,
            ) from exc
