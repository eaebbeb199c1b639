"""Control plane API for central configuration and secrets (``/v1/config``, ``/v1/secrets``).

Mount it behind the admin-token dependency and set two attributes on the app's state::

    app.state.nats = nats_connection          # the daemon's nats.aio.client.Client
    app.state.secrets = LocalSecretStore.open(home)   # any SecretBackend
    app.include_router(api_config.router, dependencies=[Depends(require_admin)])

Secret values go in (``PUT /v1/secrets/{name}``) and never come out: no endpoint returns one, error bodies never
quote a request body (bodies are parsed here, not by FastAPI's validator, whose 422 answers echo the input),
and logs carry names only.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from baton.control.config import ConfigStore
from baton.errors import BatonError, BrokerError, ConfigError, SecretError
from baton.kit.problems import problem_response, problem_type
from baton.security.secrets import SecretBackend, SecretName

log = logging.getLogger("baton.control.config")

router = APIRouter(tags=["config"])

MAX_BODY = 64 * 1024
"""Largest accepted request body (bytes): config values and secrets are small."""


def _problem(request: Request, exc: BatonError) -> Response:
    """The problem+json answer for ``exc`` (invalid input is a 400, a missing broker a 503)."""
    status = 400 if isinstance(exc, ConfigError) else 503 if isinstance(exc, BrokerError) else exc.status
    return problem_response(
        status, type=problem_type(type(exc)), title=exc.title, detail=exc.message, instance=request.url.path
    )


def _not_found(request: Request, detail: str) -> Response:
    return problem_response(404, detail=detail, instance=request.url.path)


async def _store(request: Request) -> ConfigStore:
    state = request.app.state
    store: ConfigStore | None = getattr(state, "config_store", None)
    if store is None:
        nc = getattr(state, "nats", None)
        if nc is None:
            raise BrokerError("the control plane has no NATS connection (app.state.nats is not set)")
        store = await ConfigStore.open(nc.jetstream())
        state.config_store = store
    return store


def _secrets(request: Request) -> SecretBackend:
    backend: SecretBackend | None = getattr(request.app.state, "secrets", None)
    if backend is None:
        raise SecretError("the control plane has no secret backend (app.state.secrets is not set)")
    return backend


async def _value_from_body(request: Request) -> str:
    """The ``value`` string of a JSON body ``{"value": "..."}``; errors never quote the body."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ConfigError(f"body larger than {MAX_BODY} bytes")
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise ConfigError('body must be JSON: {"value": "<string>"}') from None
    if not isinstance(data, dict) or not isinstance(data.get("value"), str):
        raise ConfigError('body must be JSON: {"value": "<string>"}')
    return str(data["value"])


@router.get("/v1/config")
async def list_config(request: Request, service: str | None = None) -> Response:
    """Every config key (``?service=`` limits to that service's and the global ones)."""
    try:
        entries = await (await _store(request)).list(service=service)
    except BatonError as exc:
        return _problem(request, exc)
    return JSONResponse({"items": [e.to_json() for e in entries]})


@router.get("/v1/config/{key}")
async def get_config(request: Request, key: str) -> Response:
    """One key's value and revision; 404 when unset."""
    try:
        entry = await (await _store(request)).get(key)
    except BatonError as exc:
        return _problem(request, exc)
    if entry is None:
        return _not_found(request, f"config key {key!r} is not set")
    return JSONResponse(entry.to_json())


@router.put("/v1/config/{key}")
async def put_config(request: Request, key: str) -> Response:
    """Set a key from ``{"value": "..."}``; running instances apply it within a second."""
    try:
        value = await _value_from_body(request)
        entry = await (await _store(request)).set(key, value)
    except BatonError as exc:
        return _problem(request, exc)
    log.info("config %s set (revision %d)", entry.key, entry.revision)
    return JSONResponse(entry.to_json())


@router.delete("/v1/config/{key}")
async def delete_config(request: Request, key: str) -> Response:
    """Remove a key (instances fall back to their own value); 404 when unset."""
    try:
        existed = await (await _store(request)).delete(key)
    except BatonError as exc:
        return _problem(request, exc)
    if not existed:
        return _not_found(request, f"config key {key!r} is not set")
    log.info("config %s deleted", key)
    return Response(status_code=204)


@router.get("/v1/secrets")
async def list_secrets(request: Request) -> Response:
    """Secret names and metadata; never values."""
    try:
        infos = await run_in_threadpool(_secrets(request).list)
    except BatonError as exc:
        return _problem(request, exc)
    return JSONResponse({"items": [info.to_json() for info in infos]})


@router.put("/v1/secrets/{name:path}", status_code=204)
async def put_secret(request: Request, name: str) -> Response:
    """Store a secret from ``{"value": "..."}``; answers 204 with no body (the value is never echoed)."""
    try:
        SecretName.parse(name)
        value = await _value_from_body(request)
        await run_in_threadpool(_secrets(request).set, name, value)
    except BatonError as exc:
        return _problem(request, exc)
    log.info("secret %s set", name)
    return Response(status_code=204)


@router.delete("/v1/secrets/{name:path}", status_code=204)
async def delete_secret(request: Request, name: str) -> Response:
    """Remove a secret; 404 when absent."""
    try:
        existed = await run_in_threadpool(_secrets(request).delete, name)
    except BatonError as exc:
        return _problem(request, exc)
    if not existed:
        return _not_found(request, f"secret {name!r} does not exist")
    log.info("secret %s deleted", name)
    return Response(status_code=204)
