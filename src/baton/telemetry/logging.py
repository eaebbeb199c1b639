"""JSON logs: one object per line on stdout, carrying who logged it and which request it belongs to.

Every line — whether written through structlog or through stdlib ``logging`` (uvicorn, SQLAlchemy, nats)
— goes through the same processors and renderer, and carries::

    timestamp, level, event, logger, service, instance, trace_id, span_id, correlation_id

``trace_id``/``span_id`` come from the current OpenTelemetry span and ``correlation_id`` from
:mod:`baton.telemetry.context`, read on every line, so a handler never has to bind them by hand.
Values under keys that look like secrets (password, secret, token, authorization, api key, cookie) are
masked wherever they appear in the event dict.

Usage::

    configure_logging(service="catalog", instance="catalog-1")
    log = get_logger(__name__)
    log.info("price changed", sku="A-1", cents=1299)
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import orjson
import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from baton.telemetry.context import get_correlation_id

__all__ = ["MASK", "configure_logging", "get_logger", "mask_secrets", "reset_logging"]

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


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


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


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that resolves ``sys.stdout`` at emit time (so test capture and redirection work)."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream)
        self._explicit = stream is not None

    def emit(self, record: logging.LogRecord) -> None:
        if not self._explicit:
            self.stream = sys.stdout
        super().emit(record)


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
    handler = _StdoutHandler(stream)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
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
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    structlog.reset_defaults()


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger (JSON once :func:`configure_logging` ran), optionally with bound values."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**initial) if initial else logger
