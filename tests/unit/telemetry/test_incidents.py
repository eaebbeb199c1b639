"""Alerts grouped into incidents: relatedness, timeline, enrichment hooks, auto-resolve, reopen, persistence."""

from __future__ import annotations

import pytest

from baton.telemetry.alerts import Alert
from baton.telemetry.incident_store import MemoryIncidentStore, SqliteIncidentStore
from baton.telemetry.incidents import IncidentManager, IncidentPolicy, error_traces
from baton.telemetry.memory_spans import MemorySpanStore
from baton.telemetry.notify import MemoryNotifier

from .conftest import span


def alert(key, service, **extra) -> Alert:
    return Alert(key=key, service=service, summary=f"{key} on {service}", **extra)


@pytest.mark.parametrize(
    ("a", "b", "related"),
    [
        (alert("x", "order"), alert("y", "order", instance="order-2"), True),
        (alert("x", "order"), alert("y", "payment"), False),
        (alert("x", "order", edge=("order", "payment")), alert("y", "payment"), True),
        (alert("x", "gateway", edge=("gateway", "order")), alert("y", "catalog", edge=("gateway", "catalog")), True),
        (alert("x", "catalog", edge=("catalog", "db")), alert("y", "payment", edge=("payment", "psp")), False),
        (alert("x", "order", deploy="order@v2"), alert("y", "payment", deploy="order@v2"), True),
        (alert("x", "order", deploy="order@v2"), alert("y", "payment", deploy="payment@v7"), False),
    ],
)
def test_relatedness(a, b, related):
    assert a.related_to(b) is related
    assert b.related_to(a) is related


@pytest.fixture
def manager():
    notifier = MemoryNotifier()
    return IncidentManager(MemoryIncidentStore(), notifiers=[notifier]), notifier


async def test_related_alerts_share_one_incident_and_unrelated_ones_get_their_own(manager):
    incidents, notifier = manager

    await incidents.observe([alert("slo:a:page", "order", runbook="https://rb/a")], now=0)
    await incidents.observe(
        [
            alert("slo:a:page", "order", runbook="https://rb/a"),
            alert("client:errors", "gateway", edge=("gateway", "order"), runbook="https://rb/gw"),
            alert("slo:c:page", "catalog"),
        ],
        now=60,
    )

    order, catalog = incidents.open_incidents()
    assert sorted(order.alerts) == ["client:errors", "slo:a:page"]
    assert order.services == ["gateway", "order"]
    assert order.runbooks == ["https://rb/a", "https://rb/gw"]
    assert order.title == "slo:a:page on order"
    assert list(catalog.alerts) == ["slo:c:page"]
    assert [event for event, _ in notifier.sent] == ["opened", "alert_added", "opened"]


async def test_an_incident_resolves_when_all_its_alerts_clear_and_keeps_its_timeline(manager):
    incidents, notifier = manager
    await incidents.observe([alert("a", "order"), alert("b", "order")], now=0)
    await incidents.observe([alert("b", "order")], now=60)
    (incident,) = incidents.open_incidents()

    changes = await incidents.observe([], now=120)

    assert [(event, i.id) for event, i in changes] == [("resolved", incident.id)]
    assert incident.state == "resolved"
    assert incident.resolved_at == 120
    assert [(e["at"], e["kind"]) for e in incident.timeline] == [
        (0, "alert_fired"),
        (0, "opened"),
        (0, "alert_fired"),
        (60, "alert_cleared"),
        (120, "alert_cleared"),
        (120, "resolved"),
    ]
    assert incidents.open_incidents() == []
    assert notifier.sent[-1][1]["state"] == "resolved"


async def test_a_resolve_hold_waits_before_resolving():
    incidents = IncidentManager(MemoryIncidentStore(), policy=IncidentPolicy(resolve_hold=300))
    await incidents.observe([alert("a", "order")], now=0)

    await incidents.observe([], now=60)
    still_open = len(incidents.open_incidents())
    await incidents.observe([], now=400)

    assert still_open == 1
    assert incidents.open_incidents() == []


async def test_a_flapping_alert_reopens_its_recent_incident_instead_of_opening_another(manager):
    incidents, notifier = manager
    await incidents.observe([alert("a", "order")], now=0)
    await incidents.observe([], now=60)

    await incidents.observe([alert("a", "order")], now=200)
    await incidents.observe([], now=260)
    await incidents.observe([alert("a", "order")], now=260 + 601)  # beyond the 600 s group window

    assert [event for event, _ in notifier.sent] == ["opened", "resolved", "reopened", "resolved", "opened"]
    assert len({i["id"] for _, i in notifier.sent}) == 2


async def test_hooks_attach_failing_traces_and_logs_when_an_incident_opens():
    spans = MemorySpanStore()
    await spans.add(
        [
            span("a", "1", service="order", error=True, start_ms=1_000_000),
            span("b", "2", service="payment", error=True, start_ms=1_000_500),
            span("c", "3", service="order", error=False, start_ms=1_000_600),
            span("d", "4", service="order", error=True, start_ms=0),  # long before the incident
        ]
    )

    async def logs(incident):
        return [f"log line about {s}" for s in incident.services]

    incidents = IncidentManager(MemoryIncidentStore(), traces=error_traces(spans, lookback=60), logs=logs)

    await incidents.observe([alert("x", "order", edge=("order", "payment"))], now=1001)

    (incident,) = incidents.open_incidents()
    assert [t[-1] for t in incident.trace_ids] == ["b", "a"]
    assert incident.logs == ["log line about order", "log line about payment"]


async def test_incidents_survive_a_restart_in_sqlite(tmp_path):
    store = SqliteIncidentStore(tmp_path / "incidents.db")
    first = IncidentManager(store)
    await first.observe([alert("a", "order", runbook="https://rb")], now=0)
    await first.observe([alert("b", "catalog")], now=10)
    await first.observe([alert("a", "order", runbook="https://rb")], now=20)

    second = IncidentManager(store, clock=lambda: 30)
    await second.load()
    changes = await second.observe([], now=30)

    assert sorted(i.alerts.popitem()[0] for _, i in changes) == ["a"]  # only the order incident was still open
    stored = await store.list()
    assert [(d["title"], d["state"]) for d in stored] == [("b on catalog", "resolved"), ("a on order", "resolved")]
    assert (await store.get(stored[1]["id"]))["runbooks"] == ["https://rb"]
    assert await store.list(state="open") == []
    await store.aclose()
