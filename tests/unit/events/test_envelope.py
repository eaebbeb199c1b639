"""The CloudEvents envelope: creation from context, JSON round trip, SDK conformance."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from cloudevents.core.formats.json import JSONFormat
from opentelemetry.sdk.trace import TracerProvider

from baton.errors import EventError
from baton.events import CloudEvent
from baton.telemetry.context import bind_correlation_id

TYPE = "shop.catalog.product.price_changed.v1"


def test_create_fills_id_time_and_carries_trace_and_correlation() -> None:
    tracer = TracerProvider().get_tracer("test")
    with bind_correlation_id("corr-1"), tracer.start_as_current_span("request") as span:
        event = CloudEvent.create(type=TYPE, source="/shop/catalog", data={"sku": "A1"}, subject="A1")
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert event.correlationid == "corr-1"
    assert event.traceparent is not None
    assert trace_id in event.traceparent
    assert len(event.id) == 36
    assert event.time.endswith("Z")
    assert event.nats_subject == "shop.catalog.product.price_changed"
    assert event.stream == "SHOP_CATALOG"
    assert event.context_carrier()["correlationid"] == "corr-1"


def test_create_rejects_a_type_without_context() -> None:
    with pytest.raises(EventError):
        CloudEvent.create(type="price_changed", source="/x")


def test_json_round_trip_keeps_every_attribute() -> None:
    event = CloudEvent(
        id="e1",
        source="/shop/catalog",
        type=TYPE,
        data={"price": 12.5, "tags": ["a"]},
        subject="A1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        correlationid="c1",
        extensions={"partitionkey": "A1"},
    )
    wire = event.to_json()
    obj = orjson.loads(wire)
    assert obj["specversion"] == "1.0"
    assert obj["partitionkey"] == "A1"
    assert obj["correlationid"] == "c1"
    again = CloudEvent.from_json(wire)
    assert again == event
    assert again.to_json() is wire  # decoded events re-encode for free


def test_replace_does_not_reuse_stale_bytes() -> None:
    event = CloudEvent.from_json(CloudEvent(id="e1", source="/s", type=TYPE, data=1).to_json())
    changed = dataclasses.replace(event, data=2)
    assert orjson.loads(changed.to_json())["data"] == 2


@pytest.mark.parametrize(
    "payload", [b"not json", b"[1,2]", b'{"id":"1","type":"a.b.c"}', b'{"specversion":"0.3","id":"1"}']
)
def test_malformed_payloads_raise_event_error(payload) -> None:
    with pytest.raises(EventError):
        CloudEvent.from_json(payload)


def test_unencodable_data_raises_event_error() -> None:
    with pytest.raises(EventError):
        CloudEvent(id="e", source="/s", type=TYPE, data={"x": object()}).to_json()


def test_wire_format_is_read_by_the_cloudevents_sdk_and_back() -> None:
    event = CloudEvent.create(type=TYPE, source="/shop/catalog", data={"sku": "A1"}, subject="A1")
    sdk_event = JSONFormat().read(None, event.to_json())
    assert sdk_event.get_type() == TYPE
    assert sdk_event.get_id() == event.id
    assert sdk_event.get_data() == {"sku": "A1"}
    back = CloudEvent.from_json(JSONFormat().write(event.to_sdk()))
    assert (back.id, back.type, back.subject, back.data) == (event.id, TYPE, "A1", {"sku": "A1"})
    assert CloudEvent.from_sdk(sdk_event).id == event.id
