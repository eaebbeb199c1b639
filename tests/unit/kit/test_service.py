"""Service wiring: events hooks, the deadline layer, settings, loading a service by name."""

from __future__ import annotations

import pytest
from pydantic_settings import SettingsConfigDict
from sqlalchemy import select

from baton.errors import ConfigError
from baton.kit import Service, ServiceSettings
from baton.kit.serve import load_service, main

events = pytest.importorskip("baton.events")

loadable = Service("loadable")


class GreeterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GREETER_")

    greeting: str = "Hello"


def test_service_settings_are_read_from_the_services_prefix(monkeypatch):
    service = Service("greeter", settings=GreeterSettings)
    monkeypatch.setenv("GREETER_GREETING", "Salut")
    assert service.settings.greeting == "Salut"
    monkeypatch.setenv("GREETER_GREETING", "Hej")
    assert service.settings.greeting == "Salut"  # read once...
    service.reload_settings()
    assert service.settings.greeting == "Hej"  # ...until asked to read again


def test_handler_declares_through_baton_events_and_leaves_the_function_callable():
    service = Service("listener")

    @service.handler("shop.catalog.product.price_changed.v1", max_deliver=3)
    async def on_price(event, session) -> None:
        return None

    definition = on_price.__baton_handler__
    assert definition.max_deliver == 3
    assert definition.subject == "shop.catalog.product.price_changed"
    assert service.events.handlers == [on_price]
    runtime = service.events.runtime()
    assert runtime.name == "events"
    assert [fn for fn, _ in runtime.definitions] == [on_price]


async def test_emit_adds_a_cloudevent_from_the_service_to_the_outbox(serving):
    from baton.events.tables import outbox

    service = Service("emitter")
    async with serving(service):
        async with service.transaction() as session:
            event = await service.emit(session, type="shop.emitter.thing.made.v1", data={"n": 1}, subject="t-1")
        async with service.transaction() as session:
            row = (await session.execute(select(outbox.c.id, outbox.c.type))).one()
    assert event.source == "emitter"
    assert (row.id, row.type) == (event.id, "shop.emitter.thing.made.v1")


async def test_a_spent_request_deadline_is_answered_504_and_counted(serving):
    pytest.importorskip("baton.resilience.deadline")
    service = Service("deadlined")

    @service.get("/v1/work")
    async def work() -> dict[str, str]:
        return {"done": "yes"}

    async with serving(service) as client:
        spent = await client.get("/v1/work", headers={"X-Request-Deadline": "0"})
        fine = await client.get("/v1/work", headers={"X-Request-Deadline": "5000"})
        metrics = (await client.get("/metrics")).text
    assert spent.status_code == 504
    assert fine.json() == {"done": "yes"}
    # Rejected before routing, inside the RED layer: counted, under no route.
    assert 'http_response_status_code="504",http_route="unmatched",service="deadlined"} 1.0' in metrics


def test_load_service_finds_a_service_by_module_and_attribute():
    assert load_service(f"{__name__}:loadable") is loadable


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no-colon", "module:attribute"),
        ("baton.kit.nope_module:service", "cannot import"),
        ("baton.kit:Service", "is not a baton.kit.Service"),
    ],
)
def test_load_service_explains_what_is_wrong(target, message):
    with pytest.raises(ConfigError, match=message):
        load_service(target)


def test_serve_command_exits_2_on_a_bad_target(capsys):
    assert main(["baton.kit:Service"]) == 2
    assert "is not a baton.kit.Service" in capsys.readouterr().err


async def test_an_unreachable_bus_fails_the_start_and_releases_the_database(instance_settings, monkeypatch):
    from baton.errors import BrokerUnavailable
    from baton.events.server import free_port
    from baton.kit import Phase, bus
    from baton.kit.bus import connect_bus

    with pytest.raises(BrokerUnavailable, match="no connection within the timeout"):
        await connect_bus(f"nats://127.0.0.1:{free_port()}", name="nobody", timeout=0.3)

    service = Service("stranded")
    settings = instance_settings.model_copy(update={"nats_url": f"nats://127.0.0.1:{free_port()}"})
    monkeypatch.setattr(bus, "CONNECT_TIMEOUT", 0.3)
    with pytest.raises(BrokerUnavailable):
        async with service.running(settings):
            pass
    assert service.phase is Phase.STOPPED
    assert service.runtime is not None
    assert service.runtime.context.engine is None


async def test_session_dependency_commits_before_the_response(serving):
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession

    service = Service("sessions")

    @service.post("/v1/rows", status_code=201)
    async def add(session: AsyncSession = service.session_dependency) -> dict[str, int]:
        await session.execute(text("INSERT INTO rows (n) VALUES (1)"))
        return {"added": 1}

    async with serving(service) as client:
        async with service.transaction() as session:
            await session.execute(text("CREATE TABLE rows (n INTEGER)"))
        response = await client.post("/v1/rows")
        async with service.transaction() as session:
            count = (await session.execute(text("SELECT count(*) FROM rows"))).scalar_one()
    assert response.status_code == 201
    assert count == 1
