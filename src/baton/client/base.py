"""The client's one seam: ``async handle(request) -> response``, which every layer implements.

Like httpx's transport interface, a layer receives the :class:`Request`, may act before and after, and hands
it to the next :class:`Handler`. Layers fill in the per-try fields (``instance``, ``try_timeout``,
``send_headers``) on the way down; 5xx answers travel back up as :class:`Response` objects (each layer
classifies them), connection problems as :mod:`baton.errors` exceptions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from baton.client.response import Response
    from baton.discovery.base import Instance
    from baton.errors import CallError
    from baton.resilience.registry import TargetState

Fallback = Callable[["Request", "CallError"], Awaitable["Response"]]
"""Produces a substitute response when a call failed (not for 4xx: business errors are the caller's)."""
SERVICE_TOKEN_HEADER = "X-Baton-Service-Token"
"""The header carrying a service token (``Authorization`` stays the end user's); the servers' ``ServiceTokenAuth``
reads the same one."""

TokenProvider = Callable[[str], Awaitable[str | None]]
"""``async (target service) -> bearer token or None``; the security layer plugs service JWTs in here."""


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Per-call options; ``None`` means "as the target's policy says"."""

    timeout: float | None = None
    """Seconds for the whole call (all tries); never beyond the caller's own deadline."""
    per_try_timeout: float | None = None
    """Seconds for one try."""
    retry: bool | None = None
    """``False``: never retry this call; ``True``: the caller vouches it is safe to repeat."""
    raise_for_status: bool = True
    """Raise ``UpstreamRejected`` on 4xx and ``UpstreamUnavailable`` on 5xx instead of returning them."""
    fallback: Fallback | None = None
    """Overrides the client's fallback for this call."""


DEFAULT_OPTIONS = CallOptions()


@dataclass(slots=True, eq=False)
class Request:
    """One logical call; the per-try fields are rewritten by the layers on every try."""

    method: str
    path: str
    """Path (and query string, if any) relative to the instance's base URL, e.g. ``/v1/stock/42``."""
    target: TargetState
    headers: dict[str, str] = field(default_factory=dict)
    params: Mapping[str, str] | None = None
    body: bytes | None = None
    options: CallOptions = DEFAULT_OPTIONS
    attempt: int = 1
    """1 for the first try, 2 for the first retry..."""
    instance: Instance | None = None
    """The instance chosen for the current try."""
    tried: list[str] = field(default_factory=list)
    """Ids of the instances already tried (retries prefer others)."""
    try_timeout: float | None = None
    """Seconds the current try may take (the smaller of per-try timeout and remaining deadline)."""
    send_headers: MutableMapping[str, str] | None = None
    """The headers of the current try, with trace context, deadline and token added."""


class Handler(Protocol):
    """A layer (or the final transport): takes a request, returns the response."""

    async def handle(self, request: Request) -> Response:
        """Perform (part of) the call."""
