"""The events tables ship as Alembic migrations that match the SQLAlchemy metadata."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect

from baton.events import migrations
from baton.events.tables import metadata


def test_alembic_upgrade_creates_the_tables_with_its_own_version_table(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    config = Config()
    config.set_main_option("script_location", str(migrations.LOCATION))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")

    engine = create_engine(url)
    insp = inspect(engine)
    assert {"baton_outbox", "baton_inbox", "baton_events_version"} <= set(insp.get_table_names())
    for table in metadata.sorted_tables:
        assert {c["name"] for c in insp.get_columns(table.name)} == set(table.c.keys())
    assert insp.get_pk_constraint("baton_inbox")["constrained_columns"] == ["consumer", "event_id"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM baton_events_version").scalar() == "baton_events_0001"

    command.downgrade(config, "base")
    assert "baton_outbox" not in inspect(create_engine(url)).get_table_names()


def test_upgrade_helper_runs_without_env_py_on_a_given_connection(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    with engine.begin() as conn:
        migrations.upgrade(conn)
    with engine.begin() as conn:
        migrations.upgrade(conn)  # idempotent: already at head
    assert {"baton_outbox", "baton_inbox"} <= set(inspect(engine).get_table_names())
