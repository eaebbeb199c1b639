"""JSON logs: one object per line on stdout, carrying who logged it and which request it belongs to.

Every line — whether written through structlog or through stdlib ``logging`` (uvicorn, SQLAlchemy, nats)
— goes through the same processors and renderer, and carries::

    timestamp, level, event, logger, service, instance, trace_id, span_id, correlation_id

``trace_id``/``span_id`` come from the current OpenTelemetry span and ``correlation_id`` from
:mod:`baton.telemetry.context`, read on every line, so a handler never has to bind them by hand.
Values under keys that look like secrets (password, secret, token, authorization, api key, cookie) are
masked wherever they appear in the event dict.

Lines written once per request (the access log) go through :class:`EventLogger` instead: the same fields and
masking, rendered straight to the same handler, without structlog's processor chain and the two stdlib
``LogRecord`` copies per line (~100 µs of CPU per request, measured by ``bench/telemetry.py``).

Usage::

    configure_logging(service="catalog", instance="catalog-1")
    log = get_logger(__name__)
    log.info("price changed", sku="A-1", cents=1299)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

import orjson
import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from baton.telemetry.context import get_correlation_id

__all__ = [
    "MASK",
    "EventLogger",
    "RequestLogger",
    "configure_logging",
    "event_logger",
    "get_logger",
    "mask_secrets",
    "request_logger",
    "reset_logging",
]

MASK = "***"
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|authori[sz]ation|api[-_]?key|cookie|credential", re.I)
_HANDLER_MARK = "_baton_handler"
# Chatty at INFO; the kit logs what matters from them itself (e.g. one "migrated" line per history).
_QUIET_LOGGERS = {
    "sqlalchemy": logging.WARNING,
    "aiosqlite": logging.WARNING,
    "asyncio": logging.WARNING,
    "alembic": logging.WARNING,
    "httpx": logging.WARNING,
}


def _masked(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: MASK if _is_secret_key(k) else _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


# Whether a key looks secret, decided once per key name: log keys come from code, so the set stays small.
_secret_keys: dict[str, bool] = {}
_SECRET_KEYS_MAX = 4096


def _is_secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    known = _secret_keys.get(key)
    if known is None:
        known = _SECRET_KEY.search(key) is not None
        if len(_secret_keys) < _SECRET_KEYS_MAX:
            _secret_keys[key] = known
    return known


def mask_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace values stored under secret-looking keys (at any depth) by ``***``."""
    for key, value in list(event_dict.items()):
        if _is_secret_key(key):
            event_dict[key] = MASK
        elif isinstance(value, Mapping | list | tuple):
            event_dict[key] = _masked(value)
    return event_dict


def _add_request_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(span_context.span_id, "016x"))
    else:
        event_dict.setdefault("trace_id", None)
        event_dict.setdefault("span_id", None)
    event_dict.setdefault("correlation_id", get_correlation_id())
    return event_dict


def _identity(service: str, instance: str) -> Processor:
    def add_identity(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        event_dict.setdefault("instance", instance)
        return event_dict

    return add_identity


def _render_json(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    # orjson is ~10x faster than json.dumps; ``default=repr`` keeps odd values (exceptions, paths) loggable.
    return orjson.dumps(event_dict, default=repr).decode()


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # uvicorn duplicates its message with ANSI colours under this key.
    event_dict.pop("color_message", None)
    return event_dict


#: How long an already rendered line may wait for the lines written after it (seconds), and how many may wait:
#: the access log's lines leave in one ``write`` per batch instead of one system call per request.
FLUSH_DELAY = 0.05
FLUSH_LINES = 256


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that resolves ``sys.stdout`` at emit time (so test capture and redirection work)."""

    def __init__(self, stream: TextIO | None, *, service: str, instance: str) -> None:
        super().__init__(stream)
        self._explicit = stream is not None
        self.service = service
        self.instance = instance
        self._pending: list[str] = []
        self._flush_loop: asyncio.AbstractEventLoop | None = None  # the loop whose timer will write ``_pending``

    def emit(self, record: logging.LogRecord) -> None:
        if not self._explicit:
            self.stream = sys.stdout
        if self._pending:  # (under the handler's lock, taken by ``handle``) keep the lines in order
            self._write_pending()
        super().emit(record)

    def write_line(self, line: str) -> None:
        """Write an already rendered line, in order with the handler's own records.

        Inside an event loop the line joins the lines written after it for up to :data:`FLUSH_DELAY` seconds (or
        until :data:`FLUSH_LINES` wait), and they leave in one ``write``: one system call per batch instead of one
        per request — a stream set to line buffering (the zygote's instances) would write each line on its own.
        Outside a loop it is written at once; a flush of the handler (``logging.shutdown`` at exit) writes what
        waits.
        """
        with self.lock:  # type: ignore[union-attr]
            self._pending.append(line)
            try:
                loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is None or len(self._pending) >= FLUSH_LINES:
                self._write_pending()
                return
            if self._flush_loop is loop:
                return  # this loop flushes them soon
            # (a loop that closed before its timer fired left its lines here: this loop's timer takes them too)
            self._flush_loop = loop
        loop.call_later(FLUSH_DELAY, self._scheduled_flush)

    def flush(self) -> None:
        """Write the lines waiting, then flush the stream."""
        with self.lock:  # type: ignore[union-attr]
            if self._pending:
                self._write_pending()
            else:
                self._flush_quietly()

    def _scheduled_flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._flush_loop = None
            if self._pending:
                self._write_pending()

    def _write_pending(self) -> None:
        lines, self._pending = self._pending, []
        if not self._explicit:
            self.stream = sys.stdout
        try:
            self.stream.write(self.terminator.join(lines) + self.terminator)
        except Exception:  # like Handler.handleError: a broken pipe must not fail the request
            return
        self._flush_quietly()

    def _flush_quietly(self) -> None:
        with contextlib.suppress(Exception):
            if self.stream and hasattr(self.stream, "flush"):
                self.stream.flush()


# The handler configure_logging installed; EventLogger writes through it (None: not configured).
_handler: _StdoutHandler | None = None


def configure_logging(*, service: str, instance: str, level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to one JSON line per record on ``stream`` (default: stdout).

    Safe to call again (e.g. once per test): the previous Baton handler is replaced, other handlers stay.
    """
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _identity(service, instance),
        _add_request_context,
        _drop_color_message,
        mask_secrets,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Caching would freeze the first configuration into loggers created at import time.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _render_json],
    )
    handler = _StdoutHandler(stream, service=service, instance=instance)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    global _handler
    _handler = handler

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        old.flush()  # the lines it holds back
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name, quiet_level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet_level)
    # uvicorn installs its own handlers unless told otherwise; make its records flow to ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True


def reset_logging() -> None:
    """Undo :func:`configure_logging`: remove the Baton handler and restore structlog's defaults (tests)."""
    global _handler
    _handler = None
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        old.flush()
        root.removeHandler(old)
    structlog.reset_defaults()


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger (JSON once :func:`configure_logging` ran), optionally with bound values."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**initial) if initial else logger


class EventLogger:
    """A logger for lines written on every request: one JSON object, the fields of every line, no chain.

    The line carries exactly what a structlog line would (``timestamp``, ``level``, ``event``, ``logger``,
    ``service``, ``instance``, ``trace_id``, ``span_id``, ``correlation_id``, then the given fields, secret
    keys masked), and honours the stdlib level of ``name``. Before :func:`configure_logging` ran it hands the
    line to structlog, like :func:`get_logger` would.
    """

    __slots__ = ("_fallback", "_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger = logging.getLogger(name)
        self._fallback = get_logger(name)

    def log(
        self,
        level: int,
        event: str,
        fields: dict[str, Any],
        *,
        ids: tuple[int, int] | None = None,
        plain: bool = False,
    ) -> None:
        """Write ``event`` with ``fields`` at ``level`` (a :mod:`logging` level number).

        Args:
            ids: the ``(trace_id, span_id)`` the line belongs to, when the caller holds them (the current span's
                otherwise).
            plain: the caller vouches that no key of ``fields`` looks secret and every value is a scalar (the
                access log's fixed fields): they are written as given, unmasked.
        """
        handler = _handler
        if handler is None:
            self._fallback.log(level, event, **fields)
            return
        if not self._logger.isEnabledFor(level):
            return
        if ids is None:
            span_context = trace.get_current_span().get_span_context()
            ids = (span_context.trace_id, span_context.span_id) if span_context.is_valid else (0, 0)
        trace_id, span_id = ids
        line: dict[str, Any] = {
            "timestamp": _timestamp(),
            "level": _LEVEL_NAMES.get(level) or logging.getLevelName(level).lower(),
            "event": event,
            "logger": self.name,
            "service": handler.service,
            "instance": handler.instance,
            "trace_id": format(trace_id, "032x") if trace_id else None,
            "span_id": format(span_id, "016x") if trace_id else None,
            "correlation_id": get_correlation_id(),
        }
        if plain:
            line.update(fields)
        else:
            for key, value in fields.items():
                if _is_secret_key(key):
                    line[key] = MASK
                elif isinstance(value, Mapping | list | tuple):
                    line[key] = _masked(value)
                else:
                    line[key] = value
        handler.write_line(orjson.dumps(line, default=repr).decode())


_stamped: tuple[int, str] = (-1, "")


def _timestamp() -> str:
    """Now as ISO 8601 UTC with microseconds (like structlog's ``TimeStamper``), formatting each second once."""
    global _stamped
    now = time.time()
    second = int(now)
    stamped_second, prefix = _stamped  # one tuple, so threads never pair a second with another's prefix
    if second != stamped_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _stamped = (second, prefix)
    return f"{prefix}.{int((now - second) * 1_000_000):06d}Z"


_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


def event_logger(name: str) -> EventLogger:
    """An :class:`EventLogger` for the hot path (one line per request) under logger ``name``."""
    return EventLogger(name)


class RequestLogger:
    """The access log: one ``request`` line per request, as :class:`EventLogger` writes it, for less.

    The line holds the fields of every line, then ``method``, ``path``, ``route``, ``status``, ``duration_ms`` and
    ``client``. Its fixed part (``level`` to ``instance``) is rendered once per configured handler, the timestamp's
    date and time once per second, and the rest goes into the line in one formatting: the ids straight from their
    numbers, the request's own values through one small ``orjson`` mapping (no mapping of fifteen keys, no masking
    pass: no key of it looks secret). Before :func:`configure_logging` ran it writes through :class:`EventLogger`.
    """

    __slots__ = ("_events", "_head", "_head_of", "_stamped", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._events = EventLogger(name)
        self._head_of: _StdoutHandler | None = None
        self._head = ""
        self._stamped: tuple[int, str] = (-1, "")

    def request(
        self,
        method: str,
        path: str,
        route: str | None,
        status: int,
        seconds: float,
        client: str | None,
        ids: tuple[int, int] | None = None,
    ) -> None:
        """Write the line of a request answered with ``status`` after ``seconds``.

        Args:
            ids: the ``(trace_id, span_id)`` the request ran under, when the caller holds them (the current span's
                otherwise).
        """
        # ``int(x + 0.5)`` rounds as ``round(x, 3)`` does (but at exact ties), at a fraction of its cost.
        duration_ms = int(seconds * 1_000_000 + 0.5) / 1000
        # The fallback writes the same mapping: its correlation_id lands where EventLogger puts one anyway.
        fields = {
            "correlation_id": get_correlation_id(),
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "client": client,
        }
        handler = _handler
        if handler is None or ids is None or not ids[0]:
            self._events.log(logging.INFO, "request", fields, ids=ids, plain=True)
            return
        if not self._events._logger.isEnabledFor(logging.INFO):
            return
        if handler is not self._head_of:
            fixed = {"level": "info", "event": "request", "logger": self.name}
            fixed.update(service=handler.service, instance=handler.instance)
            self._head = orjson.dumps(fixed).decode()[1:-1]
            self._head_of = handler
        now = time.time()
        second = int(now)
        stamped_second, stamp = self._stamped  # one tuple, so threads never pair a second with another's stamp
        if second != stamped_second:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._stamped = (second, stamp)
        values = orjson.dumps(fields, default=repr)
        handler.write_line(
            # %d truncates the microseconds as _timestamp does; %x formats the ids without a call each.
            '{"timestamp":"%s.%06dZ",%s,"trace_id":"%032x","span_id":"%016x",%s'  # noqa: UP031 - the cheapest here
            % (stamp, (now - second) * 1_000_000, self._head, ids[0], ids[1], values[1:].decode())
        )


def request_logger(name: str) -> RequestLogger:
    """A :class:`RequestLogger` (the access log's lines) under logger ``name``."""
    return RequestLogger(name)
