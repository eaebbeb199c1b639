"""Saga histories gathered from the services that run orchestrators (``GET /v1/sagas`` of the control plane),
and whole flows by correlation id (``GET /v1/flows/{correlation_id}``).

Sagas live in the database of the service hosting their orchestrator, which serves them with
:func:`baton.saga.api.saga_router`. The control plane asks one ready instance per such service — the services
named as ``orchestrator`` in the manifest's ``sagas:`` section, or, when it declares none, every service whose
instance answers ``/v1/sagas`` — and merges the answers, newest first.

A flow is everything done under one correlation id: the log of the orchestrated sagas carrying it (the checkout's
steps) and the choreography around them — the events produced under the id, when the relay published them and
which services' consumers handled them (:func:`baton.events.flows.gather_flow`, answered over NATS from each
instance's outbox and inbox). :meth:`SagaAggregator.flow` merges both into one timeline.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from baton.control.manifest import Manifest
from baton.errors import NotFound
from baton.events.flows import gather_flow

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
        nats: Callable[[], Any] | None = None,
    ) -> None:
        self.declared = sorted({saga.orchestrator for saga in manifest.sagas.values()})
        self.instances = instances
        self.session = session
        self.timeout = timeout
        self.nats = nats
        """The control plane's NATS client, read when a flow is asked for (its events part needs it)."""

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

    async def flow(self, correlation_id: str, *, nats: Any = None, timeout: float = 0.5) -> dict[str, Any]:
        """The timeline of everything done under ``correlation_id``, oldest first.

        ``{"correlation_id", "sagas": [saga rows], "items": [...], "services": [...], "sources": {...}}``; each
        item is ``{"t" (Unix seconds), "at" (ISO 8601), "service", "kind", "name", "detail", "ref"}`` with
        ``kind`` one of ``saga`` (a saga log entry), ``produced`` (an event written to an outbox),
        ``published`` (the relay handed it to the broker) and ``handled`` (a consumer's handler committed).
        ``nats`` is a connected NATS client (default: the one given at construction); the choreography part is
        skipped without one.
        """
        if nats is None and self.nats is not None:
            nats = self.nats()
        listed = await self.list(correlation_id=correlation_id, limit=20)
        sagas = listed["items"]
        histories = await asyncio.gather(*(self._history(str(s["id"])) for s in sagas))
        items: list[dict[str, Any]] = []
        for saga, history in zip(sagas, histories, strict=True):
            for entry in history:
                detail = " ".join(
                    part
                    for part in (
                        str(entry.get("step") or ""),
                        f"attempt {entry['attempt']}" if entry.get("attempt") else "",
                        str(entry.get("error") or ""),
                    )
                    if part
                )
                items.append(
                    _item(
                        _epoch(entry.get("at")),
                        str(saga.get("service", "")),
                        "saga",
                        f"{saga.get('name')}: {entry.get('kind')}",
                        detail,
                        f"{saga['id']}#{entry.get('seq')}",
                    )
                )
        sources = dict(listed["sources"])
        if nats is None:
            sources["events"] = "no NATS connection"
        else:
            try:
                choreography = await gather_flow(nats, correlation_id, timeout=timeout)
            except Exception as exc:  # nats-py raises a variety of errors; report them as this source's state
                sources["events"] = f"unavailable ({type(exc).__name__})"
            else:
                sources["events"] = f"{len(choreography['answered'])} instances answered"
                for event in choreography["produced"]:
                    service = str(event.get("service", ""))
                    items.append(_item(event["created_at"], service, "produced", event["type"], "", event["id"]))
                    if event.get("sent_at"):
                        items.append(
                            _item(event["sent_at"], service, "published", event["type"], event["subject"], event["id"])
                        )
                for row in choreography["handled"]:
                    items.append(
                        _item(
                            row["processed_at"],
                            str(row.get("service", "")),
                            "handled",
                            str(row.get("type") or ""),
                            f"consumer {row['consumer']}",
                            row["event_id"],
                        )
                    )
        items.sort(key=lambda item: float(item["t"]))
        services = list(dict.fromkeys(str(item["service"]) for item in items))
        return {
            "correlation_id": correlation_id,
            "sagas": sagas,
            "items": items,
            "services": services,
            "sources": sources,
        }

    async def _history(self, saga_id: str) -> builtins.list[dict[str, Any]]:
        with contextlib.suppress(NotFound):
            shown = await self.show(saga_id)
            entries = shown.get("entries", [])
            return list(entries) if isinstance(entries, list) else []
        return []

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


def _epoch(value: Any) -> float:
    """Unix seconds of an ISO 8601 time (0 when absent or unreadable)."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    return 0.0


def _item(t: Any, service: str, kind: str, name: str, detail: str, ref: str) -> dict[str, Any]:
    seconds = float(t or 0)
    return {
        "t": seconds,
        "at": datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "service": service,
        "kind": kind,
        "name": name,
        "detail": detail,
        "ref": ref,
    }
