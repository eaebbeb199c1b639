"""Saga histories gathered from the services that run orchestrators (``GET /v1/sagas`` of the control plane).

Sagas live in the database of the service hosting their orchestrator, which serves them with
:func:`baton.saga.api.saga_router`. The control plane asks one ready instance per such service — the services
named as ``orchestrator`` in the manifest's ``sagas:`` section, or, when it declares none, every service whose
instance answers ``/v1/sagas`` — and merges the answers, newest first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp

from baton.control.manifest import Manifest
from baton.errors import NotFound

__all__ = ["SagaAggregator"]


class SagaAggregator:
    """Lists and shows sagas across the orchestrating services' instances."""

    def __init__(
        self,
        manifest: Manifest,
        instances: Callable[[], Iterable[Mapping[str, Any]]],
        *,
        session: Callable[[], aiohttp.ClientSession | None],
        timeout: float = 3.0,
    ) -> None:
        self.declared = sorted({saga.orchestrator for saga in manifest.sagas.values()})
        self.instances = instances
        self.session = session
        self.timeout = timeout

    def sources(self) -> dict[str, str]:
        """``{service: base URL}`` of one ready instance per service that may host sagas."""
        chosen: dict[str, str] = {}
        for view in self.instances():
            service = str(view["service"])
            if view.get("ready") and (not self.declared or service in self.declared):
                chosen.setdefault(service, str(view["url"]))
        return chosen

    async def list(
        self, *, status: str | None = None, correlation_id: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        """``{"items": [... each with "service"], "sources": {service: "ok" | error}}``, newest first."""
        params = {"limit": str(min(max(limit, 1), 100))}
        if status:
            params["status"] = status
        if correlation_id:
            params["correlation_id"] = correlation_id
        sources = self.sources()
        answers = await asyncio.gather(*(self._get(url, "/v1/sagas", params) for url in sources.values()))
        items: list[dict[str, Any]] = []
        report: dict[str, str] = {}
        for service, (code, body) in zip(sources, answers, strict=True):
            if code == 200 and isinstance(body, dict):
                report[service] = "ok"
                items.extend({**item, "service": service} for item in body.get("items", []))
            else:
                report[service] = "no saga API" if code == 404 else f"unavailable ({code or 'no answer'})"
        items.sort(key=lambda item: str(item.get("created_at", "")), reverse=True)
        return {"items": items[:limit], "sources": report}

    async def show(self, saga_id: str) -> dict[str, Any]:
        """``{"service", "saga", "entries"}`` of one saga.

        Raises:
            NotFound: no orchestrating service knows ``saga_id``.
        """
        sources = self.sources()
        answers = await asyncio.gather(*(self._get(url, f"/v1/sagas/{saga_id}", {}) for url in sources.values()))
        for service, (code, body) in zip(sources, answers, strict=True):
            if code == 200 and isinstance(body, dict) and "saga" in body:
                return {"service": service, **body}
        raise NotFound(f"no orchestrating service knows saga '{saga_id}' (asked: {', '.join(sources) or 'none ready'})")

    async def _get(self, base: str, path: str, params: Mapping[str, str]) -> tuple[int, Any]:
        session = self.session()
        owned = session is None
        if session is None:
            from baton.security.wiring import instance_ssl  # the control plane's leaf when instances serve mTLS

            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=instance_ssl()))
        try:
            async with session.get(
                base + path, params=params, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as answer:
                body: Any = None
                with contextlib.suppress(aiohttp.ContentTypeError, ValueError):
                    body = await answer.json()
                return answer.status, body
        except (aiohttp.ClientError, TimeoutError, OSError):
            # An orchestrator restarting is routine; its sagas show again on the next refresh.
            return 0, None
        finally:
            if owned:
                await session.close()
