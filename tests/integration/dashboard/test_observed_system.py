"""A latency SLO breach made by the fault proxy fires the fast-burn alert in the control plane, opens exactly one
incident for the two relay replicas, notifies the webhook, and resolves once the fault is removed."""

from __future__ import annotations

import pytest

from baton.testing import wait_until_sync

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]


def _slo(system, name):
    return next(s for s in system.get("/v1/slos")["slos"] if s["name"] == name)


def _relay_route(system):
    red = system.get("/v1/metrics/red")
    service = next((s for s in red["services"] if s["service"] == "relay"), None)
    if service is None:
        return None
    return next((r for r in service["routes"] if r["route"] == "/v1/relay"), None)


def test_latency_breach_through_the_fault_proxy_opens_one_incident_that_resolves(observed, traffic):
    system, proxy, sink = observed
    with traffic(system.instance_urls("relay")) as load:
        # Healthy: traffic measured, the SLO evaluated and fine, no incident.
        wait_until_sync(
            lambda: (
                (_slo(system, "relay-latency")["good_ratio"] or 0) > 0.95 and (_relay_route(system) or {}).get("rate")
            ),
            timeout=20,
            interval=0.2,
            message="healthy traffic never showed in the SLO",
        )
        assert _slo(system, "relay-latency")["state"] == "ok"
        assert system.get("/v1/incidents") == []

        proxy.latency(0.5)
        # The slow-burn ticket rules may fire first; the fast-burn page (1 h / 5 min, 14.4x) must follow.
        breached = wait_until_sync(
            lambda: (slo := _slo(system, "relay-latency"))["state"] == "page" and slo,
            timeout=30,
            interval=0.1,
            message="the fast-burn alert never fired",
        )
        slow_route = _relay_route(system)
        opened = wait_until_sync(
            lambda: [i for i in system.get("/v1/incidents", state="open") if "slo:relay-latency:page" in i["firing"]],
            timeout=10,
            interval=0.1,
            message="the page alert joined no incident",
        )
        open_then = system.get("/v1/incidents", state="open")

        proxy.clear()
        resolved = wait_until_sync(
            lambda: [i for i in system.get("/v1/incidents") if i["state"] == "resolved"],
            timeout=60,
            interval=0.25,
            message="the incident never resolved",
        )
        wait_until_sync(lambda: [n["event"] for n in sink.received][-1:] == ["resolved"], timeout=20, interval=0.1)
        everything = system.get("/v1/incidents")

    # The breach is real: the scraped histogram of relay's own requests shows the proxy's 500 ms.
    assert slow_route["p99_ms"] >= 400
    assert any(f["severity"] == "page" and f["long_window"] == "1h" for f in breached["firing"])
    assert breached["budget_remaining"] < 1
    # One incident for the service, not one per replica; it carries the runbook and resolves on its own.
    assert len(opened) == 1
    assert len(open_then) == 1
    assert len(everything) == 1
    (incident,) = resolved
    assert incident["id"] == opened[0]["id"]
    assert incident["services"] == ["relay"]
    assert incident["runbooks"] == ["https://runbooks.example/relay-latency"]
    assert {a["labels"]["slo"] for a in incident["alerts"]} == {"relay-latency"}
    assert all(a["instance"] is None for a in incident["alerts"])
    kinds = [entry["kind"] for entry in incident["timeline"]]
    assert kinds[:2] == ["alert_fired", "opened"]
    assert kinds[-1] == "resolved"
    # The webhook heard the same story, once.
    events = [n["event"] for n in sink.received]
    assert events[0] == "opened"
    assert events[-1] == "resolved"
    assert events.count("opened") == 1
    assert {n["incident"]["id"] for n in sink.received} == {incident["id"]}
    assert _slo(system, "relay-availability")["state"] in ("ok", "no data")
    assert load.failed == 0
    detail = system.get(f"/v1/incidents/{incident['id']}")
    assert detail["state"] == "resolved"
