"""`baton config` and `baton secret` against a real HTTP server running the router (real NATS, real store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import asynccontextmanager

import nats
import pytest
import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException
from typer.testing import CliRunner

from baton.cli import config as config_cli
from baton.cli import secret as secret_cli
from baton.control import api_config
from baton.events.server import free_port
from baton.security.secrets import LocalSecretStore, Secret
from baton.testing import wait_until_sync

pytestmark = pytest.mark.integration

TOKEN = "test-admin-token"
VALUE = "cli-s3cret-value-8841"


@pytest.fixture
def home(tmp_path):
    root = tmp_path / "home"
    root.mkdir()
    (root / "admin-token").write_text(TOKEN + "\n")
    return root


@pytest.fixture
def control(nats_url, home):
    """The router served by uvicorn on a free port, in a thread with its own event loop."""
    store = LocalSecretStore.open(home, environ={})

    @asynccontextmanager
    async def lifespan(app):
        app.state.nats = await nats.connect(nats_url)
        app.state.secrets = store
        yield
        await app.state.nats.close()

    def require_admin(authorization: str = Header(default="")) -> None:
        if authorization != f"Bearer {TOKEN}":
            raise HTTPException(401)

    app = FastAPI(lifespan=lifespan)
    app.include_router(api_config.router, dependencies=[Depends(require_admin)])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_sync(lambda: server.started, timeout=10.0)
    yield {"url": f"http://127.0.0.1:{port}", "store": store}
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def env(control, home):
    return {"BATON_CONTROL_URL": control["url"], "BATON_HOME": str(home)}


def test_config_commands(env):
    runner = CliRunner()
    result = runner.invoke(config_cli.app, ["set", "catalog.page_size", "25"], env=env)
    assert result.exit_code == 0, result.output
    runner.invoke(config_cli.app, ["set", "_global.greeting", "hi"], env=env)
    runner.invoke(config_cli.app, ["set", "order.page_size", "7"], env=env)

    got = runner.invoke(config_cli.app, ["get", "catalog.page_size"], env=env)
    assert (got.exit_code, got.output.strip()) == (0, "25")

    listed = runner.invoke(config_cli.app, ["list", "--service", "catalog", "--json"], env=env)
    assert [i["key"] for i in json.loads(listed.output)] == ["_global.greeting", "catalog.page_size"]
    table = runner.invoke(config_cli.app, ["list"], env=env)
    assert "order.page_size" in table.output
    assert "7" in table.output

    assert runner.invoke(config_cli.app, ["rm", "catalog.page_size"], env=env).exit_code == 0
    missing = runner.invoke(config_cli.app, ["get", "catalog.page_size"], env=env)
    assert missing.exit_code == 1
    assert "not set" in missing.output


def test_config_errors_have_exit_codes(env, home):
    runner = CliRunner()
    bad_key = runner.invoke(config_cli.app, ["set", "Not A Key", "1"], env=env)
    assert bad_key.exit_code == 2
    assert "invalid config key" in bad_key.output
    assert runner.invoke(config_cli.app, ["set", "catalog.x"], env=env).exit_code == 2  # missing VALUE

    (home / "admin-token").write_text("wrong\n")
    refused = runner.invoke(config_cli.app, ["list"], env=env)
    assert refused.exit_code == 1
    assert "admin token" in refused.output

    down = runner.invoke(config_cli.app, ["list"], env={**env, "BATON_CONTROL_URL": f"http://127.0.0.1:{free_port()}"})
    assert down.exit_code == 1
    assert "cannot reach the control plane" in down.output


def test_secret_commands_never_print_the_value(env, control):
    runner = CliRunner()
    stored = runner.invoke(secret_cli.app, ["set", "catalog/DB_PASSWORD", "--from-stdin"], input=VALUE + "\n", env=env)
    assert stored.exit_code == 0, stored.output
    assert control["store"].get("catalog/DB_PASSWORD") == Secret(VALUE)

    listed = runner.invoke(secret_cli.app, ["list"], env=env)
    as_json = runner.invoke(secret_cli.app, ["list", "--json"], env=env)
    assert "catalog/DB_PASSWORD" in listed.output
    assert [i["name"] for i in json.loads(as_json.output)] == ["catalog/DB_PASSWORD"]
    for result in (stored, listed, as_json):
        assert VALUE not in result.output

    # No terminal and no --from-stdin: refuse rather than take the value from somewhere unsafe.
    no_tty = runner.invoke(secret_cli.app, ["set", "catalog/OTHER"], env=env)
    assert no_tty.exit_code == 2
    assert "--from-stdin" in no_tty.output
    assert runner.invoke(secret_cli.app, ["set", "bad name", "--from-stdin"], input="x", env=env).exit_code == 2

    assert runner.invoke(secret_cli.app, ["rm", "catalog/DB_PASSWORD"], env=env).exit_code == 0
    gone = runner.invoke(secret_cli.app, ["rm", "catalog/DB_PASSWORD"], env=env)
    assert gone.exit_code == 1
    assert "does not exist" in gone.output


def test_secret_set_as_a_real_process_keeps_the_value_out_of_argv(env, control):
    process = subprocess.run(
        [sys.executable, "-m", "baton.cli.secret", "set", "_global/API_KEY", "--from-stdin"],
        input=VALUE,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=30,
    )
    assert process.returncode == 0, process.stderr
    assert VALUE not in " ".join(process.args)
    assert VALUE not in process.stdout + process.stderr
    assert control["store"].get("_global/API_KEY") == Secret(VALUE)
