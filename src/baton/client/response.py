"""What a call returns: status, headers and the whole body (read inside the per-try timeout)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self

import orjson

from baton.errors import CallError, UpstreamRejected, UpstreamUnavailable

if TYPE_CHECKING:
    from baton.discovery.base import Instance


class Response:
    """An HTTP answer from one instance of the target."""

    __slots__ = ("content", "headers", "instance", "status", "target")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        *,
        target: str = "",
        instance: Instance | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        """Case-insensitive mapping of the response headers."""
        self.content = content
        self.target = target
        self.instance = instance
        """Which instance answered (``None`` for a fallback response)."""

    @property
    def ok(self) -> bool:
        """Whether the status is below 400."""
        return self.status < 400

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            CallError: the body is not JSON.
        """
        try:
            return orjson.loads(self.content)
        except orjson.JSONDecodeError as exc:
            raise CallError(f"{self.target} answered {self.status} with a non-JSON body", target=self.target) from exc

    def raise_for_status(self) -> Self:
        """Return ``self`` for 1xx–3xx.

        Raises:
            UpstreamRejected: 4xx (a business error; ``context`` carries status and problem details).
            UpstreamUnavailable: 5xx.
        """
        if self.status < 400:
            return self
        problem = self._problem()
        detail = problem.get("detail") or problem.get("title") or self.text[:200]
        where = f"{self.target} ({self.instance.id})" if self.instance else self.target
        message = f"{where} answered {self.status}: {detail}"
        if self.status < 500:
            raise UpstreamRejected(message, target=self.target, status=self.status, problem=problem)
        raise UpstreamUnavailable(message, target=self.target, status=self.status, problem=problem)

    def _problem(self) -> dict[str, Any]:
        if not self.content:
            return {}
        try:
            parsed = orjson.loads(self.content)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def __repr__(self) -> str:
        return f"<Response {self.status} from {self.instance.id if self.instance else self.target}>"
