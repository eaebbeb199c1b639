"""The CloudEvents 1.0 envelope every Baton event travels in (structured mode, JSON).

:class:`CloudEvent` is a frozen dataclass encoded with orjson rather than the ``cloudevents`` SDK's event class:
the envelope is encoded and decoded on every hop of the outbox → relay → stream → inbox path, where the SDK's
per-attribute validation and stdlib ``json`` cost several times more than one ``orjson`` call. The wire format is
the spec's structured JSON, so the SDK reads it as is (:meth:`CloudEvent.to_sdk` / :meth:`CloudEvent.from_sdk`
convert for users who need its HTTP/Kafka bindings, and the conformance test checks both directions).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from baton.errors import EventError
from baton.events import naming
from baton.telemetry.context import CORRELATION_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER, inject

if TYPE_CHECKING:
    from cloudevents.core.v1.event import CloudEvent as SdkCloudEvent

SPECVERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
_CORE = frozenset({"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data", "data_base64"})
_TRACE_KEYS = frozenset({"traceparent", "tracestate", "correlationid"})


def _now() -> str:
    # RFC 3339 with a "Z" suffix, the form the spec's examples use.
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One event: a CloudEvents 1.0 envelope with Baton's trace and correlation extensions."""

    id: str
    """Unique id; also the ``Nats-Msg-Id`` (broker dedup) and the inbox key (consumer dedup)."""
    source: str
    """URI-reference of the producer, e.g. ``/shop/catalog``."""
    type: str
    """Versioned type, ``<system>.<context>.<entity>.<fact>.v<N>``, e.g. ``shop.catalog.product.price_changed.v1``."""
    data: Any = None
    """JSON-serialisable payload."""
    subject: str | None = None
    """What the event is about inside the source (e.g. the product id)."""
    time: str = field(default_factory=_now)
    """RFC 3339 timestamp of the fact."""
    datacontenttype: str = JSON_CONTENT_TYPE
    traceparent: str | None = None
    """W3C trace context of the producing span (CloudEvents distributed-tracing extension)."""
    tracestate: str | None = None
    correlationid: str | None = None
    """Correlation id of the business flow that produced the event."""
    extensions: Mapping[str, Any] = field(default_factory=dict)
    """Other extension attributes, passed through untouched."""
    _raw: bytes | None = field(default=None, init=False, compare=False, repr=False)
    # The bytes this event was decoded from, so re-encoding a relayed event costs nothing. Not an init field:
    # ``dataclasses.replace`` must drop it, or a changed copy would still encode as the original.

    @classmethod
    def create(
        cls,
        *,
        type: str,
        source: str,
        data: Any = None,
        subject: str | None = None,
        id: str | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> CloudEvent:
        """A new event stamped with a fresh id, the current time, trace context and correlation id.

        Raises:
            EventError: ``type`` does not follow the ``<system>.<context>.<...>.v<N>`` naming.
        """
        naming.subject_for(type)  # validates early: a bad type must fail in the request, not in the relay
        carrier: dict[str, str] = {}
        inject(carrier)
        return cls(
            id=id or str(uuid.uuid4()),
            source=source,
            type=type,
            data=data,
            subject=subject,
            traceparent=carrier.get(TRACEPARENT_HEADER),
            tracestate=carrier.get(TRACESTATE_HEADER),
            correlationid=carrier.get(CORRELATION_HEADER),
            extensions=dict(extensions or {}),
        )

    @property
    def nats_subject(self) -> str:
        """The NATS subject this event is published on (its type without the version suffix)."""
        return naming.subject_for(self.type)

    @property
    def stream(self) -> str:
        """The JetStream stream of the event's bounded context."""
        return naming.stream_for(self.type)

    def context_carrier(self) -> dict[str, str]:
        """The trace/correlation context as a carrier for :func:`baton.telemetry.context.attached`."""
        carrier: dict[str, str] = {}
        if self.traceparent:
            carrier[TRACEPARENT_HEADER] = self.traceparent
        if self.tracestate:
            carrier[TRACESTATE_HEADER] = self.tracestate
        if self.correlationid:
            carrier["correlationid"] = self.correlationid
        return carrier

    def to_dict(self) -> dict[str, Any]:
        """The structured-mode JSON object (attributes + ``data``)."""
        out: dict[str, Any] = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": self.datacontenttype,
        }
        if self.subject is not None:
            out["subject"] = self.subject
        for key in ("traceparent", "tracestate", "correlationid"):
            value = getattr(self, key)
            if value:
                out[key] = value
        out.update(self.extensions)
        if self.data is not None:
            out["data"] = self.data
        return out

    def to_json(self) -> bytes:
        """Encode as structured-mode JSON.

        Raises:
            EventError: ``data`` is not JSON-serialisable.
        """
        if self._raw is not None:
            return self._raw
        try:
            return orjson.dumps(self.to_dict())
        except TypeError as exc:
            raise EventError(f"event {self.type} cannot be encoded: {exc}", event_id=self.id) from exc

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], *, raw: bytes | None = None) -> CloudEvent:
        """Build from a structured-mode JSON object.

        Raises:
            EventError: a required attribute is missing or the spec version is not 1.0.
        """
        try:
            if obj.get("specversion", SPECVERSION) != SPECVERSION:
                raise EventError(f"unsupported CloudEvents specversion {obj.get('specversion')!r}")
            extensions = {k: v for k, v in obj.items() if k not in _CORE and k not in _TRACE_KEYS}
            event = cls(
                id=str(obj["id"]),
                source=str(obj["source"]),
                type=str(obj["type"]),
                data=obj.get("data"),
                subject=obj.get("subject"),
                time=str(obj.get("time") or _now()),
                datacontenttype=str(obj.get("datacontenttype") or JSON_CONTENT_TYPE),
                traceparent=obj.get("traceparent"),
                tracestate=obj.get("tracestate"),
                correlationid=obj.get("correlationid"),
                extensions=extensions,
            )
        except KeyError as exc:
            raise EventError(f"CloudEvent lacks the required attribute {exc.args[0]!r}") from exc
        if raw is not None:
            object.__setattr__(event, "_raw", raw)
        return event

    @classmethod
    def from_json(cls, payload: bytes | str) -> CloudEvent:
        """Decode structured-mode JSON.

        Raises:
            EventError: the payload is not JSON or not a CloudEvent.
        """
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"event payload is not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise EventError("event payload is not a JSON object")
        raw = payload if isinstance(payload, bytes) else None
        return cls.from_dict(obj, raw=raw)

    def to_sdk(self) -> SdkCloudEvent:
        """Convert to the ``cloudevents`` SDK's event (for its HTTP/Kafka bindings)."""
        from cloudevents.core.v1.event import CloudEvent as SdkEvent

        attributes = {k: v for k, v in self.to_dict().items() if k != "data"}
        attributes["time"] = datetime.fromisoformat(self.time.replace("Z", "+00:00"))
        return SdkEvent(attributes, self.data)

    @classmethod
    def from_sdk(cls, event: SdkCloudEvent) -> CloudEvent:
        """Convert from the ``cloudevents`` SDK's event."""
        attributes = dict(event.get_attributes())
        when = attributes.get("time")
        if isinstance(when, datetime):
            attributes["time"] = when.isoformat().replace("+00:00", "Z")
        attributes["data"] = event.get_data()
        return cls.from_dict(attributes)
