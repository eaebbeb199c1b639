"""Run a service instance: ``python -m baton.kit.serve apps.hello.service:service``.

Reads :class:`~baton.kit.settings.InstanceSettings` from ``BATON_*``, configures JSON logs and tracing, and
runs uvicorn (uvloop + httptools, lifespan on, uvicorn's access log off — the kit logs requests itself) on
``BATON_HOST:BATON_PORT``.

On SIGTERM or SIGINT the instance shuts down gracefully, in this order:

1. ``/readyz`` answers 503 and components ``drain()`` (discovery deregisters first, consumers stop fetching);
2. ``BATON_DRAIN_DELAY`` seconds pass (default 0) so load balancers notice before the listener closes;
3. uvicorn stops accepting connections and lets in-flight requests finish (``BATON_SHUTDOWN_GRACE``);
4. the lifespan ends: components ``stop()``, the NATS connection drains, the engine is disposed;
5. the process exits 0. A second signal skips the waiting.

With ``BATON_TLS_DIR`` (the control plane sets it) the instance serves HTTPS with client certificates required,
behind its ``baton.yaml`` allow rules and service-token verification, and renews its leaf at half-life
(:class:`~baton.security.wiring.InstanceSecurity`); ``/livez``, ``/readyz`` and ``/metrics`` need no token.

If the instance cannot start (database, migrations or NATS failing) the process exits non-zero (uvicorn's
startup-failure code 3) after logging why, so the supervisor restarts it with backoff.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
import socket
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

from baton._lazy import import_without

# Extras the libraries below load eagerly when installed and no instance uses; every instance (and the zygote
# they are forked from) would carry them: structlog's rich tracebacks for its console renderer (rich with
# pygments: ~2 MB; instances log JSON), uvicorn's --reload watcher (watchfiles), and psutil for OpenTelemetry's
# process resource detector (not configured: instances use the "otel" detector only).
import_without("structlog", "rich")
import_without("uvicorn", "watchfiles")
import_without("opentelemetry.sdk.resources", "psutil")

import uvicorn  # noqa: E402 - after the imports above, by design

from baton.errors import ConfigError  # noqa: E402
from baton.kit.service import Service  # noqa: E402
from baton.kit.settings import InstanceSettings  # noqa: E402
from baton.telemetry.logging import configure_logging, get_logger  # noqa: E402
from baton.telemetry.tracing import configure_tracing, shutdown_tracing  # noqa: E402

if TYPE_CHECKING:
    from baton.security.wiring import InstanceSecurity

__all__ = ["load_service", "main", "serve", "server_config"]

_log = get_logger("baton.kit.serve")


def load_service(target: str) -> Service:
    """Import ``module:attribute`` and return the :class:`Service` it names.

    Raises:
        ConfigError: the target is malformed, cannot be imported or is not a Service.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"expected 'module:attribute', got {target!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}") from exc
    service = getattr(module, attribute, None)
    if not isinstance(service, Service):
        raise ConfigError(f"{target!r} is not a baton.kit.Service (got {type(service).__name__})")
    return service


class _GracefulServer(uvicorn.Server):
    """uvicorn's server, with the kit's shutdown sequence in front of uvicorn's own."""

    def __init__(self, config: uvicorn.Config, *, service: Service, drain_delay: float) -> None:
        super().__init__(config)
        self.service = service
        self.drain_delay = drain_delay
        self._requested = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Signal handler: start the graceful sequence; a second signal makes uvicorn stop at once."""
        # Not calling super(): uvicorn would re-raise the captured signal after shutdown, and a process
        # killed by its own SIGTERM exits -15 instead of 0.
        if self._requested.is_set() or self._loop is None:
            self.should_exit = True
            if sig == signal.SIGINT and self._requested.is_set():
                self.force_exit = True
            return
        # Signal handlers run between bytecodes of the loop's thread; hand over through the loop.
        self._loop.call_soon_threadsafe(self._requested.set)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up (lifespan, then the listening sockets); then tell the service it is reachable."""
        await super().startup(sockets)
        if self.started:
            self.service.mark_serving()

    async def run_until_stopped(self) -> bool:
        """Serve until shutdown completes; return whether the server had started."""
        self._loop = asyncio.get_running_loop()
        sequence = asyncio.create_task(self._shutdown_sequence(), name="baton-graceful-shutdown")
        try:
            await self.serve()
        finally:
            sequence.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sequence
        return self.started

    async def _shutdown_sequence(self) -> None:
        await self._requested.wait()
        _log.info("shutdown requested", drain_delay=self.drain_delay)
        await self.service.begin_shutdown()
        if self.drain_delay > 0:
            # A deliberate pause, not synchronisation: peers poll /readyz on their own schedule.
            await asyncio.sleep(self.drain_delay)
        self.should_exit = True


def serve(service: Service, *, settings: InstanceSettings | None = None) -> bool:
    """Run ``service`` until it is stopped by a signal; return whether it started at all."""
    settings = settings or InstanceSettings(service=service.name)
    service.configure(settings)
    instance = settings.instance_id()
    configure_logging(service=service.name, instance=instance, level=settings.log_level)
    configure_tracing(
        service=service.name, instance=instance, version=settings.version, environment=settings.environment
    )
    app: Any = service.app
    tls: dict[str, Any] = {"http": "httptools"}
    security = _security()
    if security is not None:
        service.add_component(security.renewer)
        app = security.protect(app)
        tls = security.uvicorn_options()
    config = server_config(app, settings, tls)
    server = _GracefulServer(config, service=service, drain_delay=settings.drain_delay)
    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            started = runner.run(server.run_until_stopped())
    finally:
        shutdown_tracing()
    _log.info("exited", started=started)
    return started


def server_config(app: Any, settings: InstanceSettings, options: dict[str, Any]) -> uvicorn.Config:
    """uvicorn's configuration of an instance serving ``app``; ``options`` add the protocol and TLS."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        lifespan="on",
        ws="none",  # no kit service speaks WebSocket; "auto" would import the websockets package at every start
        **options,
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_keep_alive=max(1, round(settings.keep_alive)),
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace)),
    )


def _security() -> InstanceSecurity | None:
    """The instance's security when ``BATON_TLS_DIR`` is set (imported only then: plain instances skip it)."""
    import os

    if not os.environ.get("BATON_TLS_DIR"):
        return None
    from baton.security.wiring import InstanceSecurity

    return InstanceSecurity.current()


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code (0 after a clean shutdown, 2 for a bad target)."""
    parser = argparse.ArgumentParser(prog="python -m baton.kit.serve", description=__doc__.splitlines()[0])
    parser.add_argument("target", help="the service to run, as module:attribute (apps.hello.service:service)")
    args = parser.parse_args(argv)
    try:
        service = load_service(args.target)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return 0 if serve(service) else 1
    except ConfigError as exc:  # e.g. BATON_TLS_DIR without usable credentials
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
