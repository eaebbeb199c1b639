"""The shop's migrations that make room for sealed e-mails (``apps.shop.common.fields.widen_for_sealing``): the
column widens to hold an AES-GCM envelope, rows written before are kept as they are, and a downgrade narrows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from apps.shop.common.fields import SEALED_LENGTH
from sqlalchemy import create_engine, inspect

SHOP = Path(__file__).resolve().parents[2] / "apps" / "shop"


def _move(url: str, location: Path, destination: str, *, down: bool = False) -> None:
    """Upgrade (or downgrade) the database at ``url`` to ``destination`` of the revisions in ``location``."""
    config = Config()
    config.set_main_option("script_location", str(location))
    script = ScriptDirectory.from_config(config)

    def steps(revision: Any, _: Any) -> Any:
        return script._downgrade_revs(destination, revision) if down else script._upgrade_revs(destination, revision)

    with (
        create_engine(url).begin() as connection,
        EnvironmentContext(config, script, fn=steps, destination_rev=destination) as env,
    ):
        env.configure(connection=connection)
        with env.begin_transaction():
            env.run_migrations()


def _length(url: str, table: str, column: str) -> int:
    columns = {c["name"]: c["type"] for c in inspect(create_engine(url)).get_columns(table)}
    return int(columns[column].length)


@pytest.mark.parametrize(
    ("service", "table", "sealing", "plaintext_length"),
    [("order", "orders", "0002", 254), ("notification", "notifications", "0003", 320)],
)
def test_the_email_column_widens_for_sealed_values_and_narrows_back(
    tmp_path, service, table, sealing, plaintext_length
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    location = SHOP / service / "migrations"
    before = str(int(sealing) - 1).zfill(4)
    _move(url, location, before)
    assert _length(url, table, "email") == plaintext_length
    engine = create_engine(url)
    with engine.begin() as connection:
        # One row from before encryption, whatever else the table requires left to its defaults or NULL-able.
        required = [c["name"] for c in inspect(connection).get_columns(table) if not c["nullable"]]
        values = {name: "x" for name in required} | {"email": "ada@example.com"}
        names = ", ".join(values)
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in values)})", tuple(values.values())
        )

    _move(url, location, sealing)
    assert _length(url, table, "email") == SEALED_LENGTH
    with engine.connect() as connection:
        assert connection.exec_driver_sql(f"SELECT email FROM {table}").scalars().all() == ["ada@example.com"]

    _move(url, location, before, down=True)
    assert _length(url, table, "email") == plaintext_length
