"""RED metrics: OTel names, route templates as labels, probes left out."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from baton.kit import Service


def _service() -> Service:
    service = Service("shop")

    @service.get("/v1/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    return service


async def _samples(client, name):
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [
        sample
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name
    ]


async def test_duration_histogram_is_labelled_by_route_template_method_and_status(serving):
    async with serving(_service()) as client:
        for path in ("/v1/items/1", "/v1/items/2", "/v1/items/oops", "/v1/unknown/7"):
            await client.get(path)
        counts = await _samples(client, "http_server_request_duration_seconds_count")
    by_labels = {
        (s.labels["http_route"], s.labels["http_request_method"], s.labels["http_response_status_code"]): s.value
        for s in counts
    }
    assert by_labels == {
        ("/v1/items/{item_id}", "GET", "200"): 2.0,
        ("/v1/items/{item_id}", "GET", "422"): 1.0,
        ("unmatched", "GET", "404"): 1.0,
    }
    assert {s.labels["service"] for s in counts} == {"shop"}


async def test_probes_and_metrics_are_not_measured(serving):
    async with serving(_service()) as client:
        for path in ("/livez", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200
        counts = await _samples(client, "http_server_request_duration_seconds_count")
    assert counts == []


async def test_active_requests_return_to_zero(serving):
    async with serving(_service()) as client:
        await client.get("/v1/items/1")
        active = await _samples(client, "http_server_active_requests")
    assert [(s.labels["http_request_method"], s.value) for s in active] == [("GET", 0.0)]


async def test_each_service_has_its_own_registry(serving):
    first, second = _service(), _service()
    async with serving(first) as client:
        await client.get("/v1/items/1")
    assert first.metrics.registry is not second.metrics.registry
    assert second.metrics.render()[0].count(b'http_route="/v1/items/{item_id}"') == 0


async def test_plain_starlette_routes_are_labelled_by_their_path_too(serving):
    async with serving(_service()) as client:
        assert (await client.get("/openapi.json")).status_code == 200
        counts = await _samples(client, "http_server_request_duration_seconds_count")
    assert [s.labels["http_route"] for s in counts] == ["/openapi.json"]


def test_the_exposition_is_what_a_prometheus_client_histogram_and_gauge_render():
    """The RED numbers are kept by hand for speed; scraped, they must read exactly like the library's instruments."""
    from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest

    from baton.telemetry.metrics import DURATION_BUCKETS, HttpServerMetrics

    ours = HttpServerMetrics(service="shop")
    reference = CollectorRegistry()
    histogram = Histogram(
        "http_server_request_duration_seconds",
        "Duration of HTTP server requests (OTel http.server.request.duration).",
        ["service", "http_route", "http_request_method", "http_response_status_code"],
        registry=reference,
        buckets=DURATION_BUCKETS,
    )
    gauge = Gauge(
        "http_server_active_requests",
        "Number of HTTP server requests in flight (OTel http.server.active_requests).",
        ["service", "http_request_method"],
        registry=reference,
    )
    # On bounds, between them, past the last one: ``le`` is inclusive.
    observations = [("/v1/items/{id}", "GET", 200, s) for s in (0.0, 0.005, 0.0051, 0.3, 10.0, 12.5)]
    observations += [(None, "POST", 404, 0.02), ("/v1/items/{id}", "GET", 500, 1.0)]
    for route, method, status, seconds in observations:
        ours.observe(route=route, method=method, status=status, seconds=seconds)
        histogram.labels("shop", route or "unmatched", method, str(status)).observe(seconds)
    ours.request_started("GET")
    ours.request_started("GET")
    ours.request_finished("GET")
    gauge.labels("shop", "GET").inc(2)
    gauge.labels("shop", "GET").dec()

    def lines(text: bytes) -> list[str]:
        return sorted(line for line in text.decode().splitlines() if "_created" not in line)

    assert lines(ours.render()[0]) == lines(generate_latest(reference))
