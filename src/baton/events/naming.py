"""How event types map onto NATS subjects, JetStream streams and consumer names.

::

    type     shop.catalog.product.price_changed.v1
    subject  shop.catalog.product.price_changed        (type without the version suffix)
    stream   SHOP_CATALOG, subjects shop.catalog.>     (one stream per bounded context: first two segments)

Versions share a subject on purpose: a consumer keeps its place in the stream when producers move to ``.v2``,
and the handler chooses which versions it accepts.
"""

from __future__ import annotations

import re

from baton.errors import EventError

DLQ_STREAM = "BATON_DLQ"
"""The dead-letter stream shared by every service."""
DLQ_PREFIX = "baton.dlq"
"""Dead letters are published on ``baton.dlq.<consumer>``."""

_VERSION = re.compile(r"\.v\d+$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def version_of(type_or_subject: str) -> str | None:
    """The version suffix (``"v1"``) of an event type, or ``None`` for a bare subject/pattern."""
    match = _VERSION.search(type_or_subject)
    return match.group(0)[1:] if match else None


def subject_for(type_or_pattern: str) -> str:
    """The NATS subject (or subject pattern) of an event type: the type without its version suffix.

    Raises:
        EventError: fewer than three segments, or a segment that is not a subject token.
    """
    subject = _VERSION.sub("", type_or_pattern)
    tokens = subject.split(".")
    if len(tokens) < 3:
        raise EventError(
            f"event type {type_or_pattern!r} needs at least <system>.<context>.<name>"
            " (e.g. shop.catalog.product.price_changed.v1)"
        )
    for i, token in enumerate(tokens):
        wildcard = token == "*" or (token == ">" and i == len(tokens) - 1)
        if not wildcard and not _TOKEN.match(token):
            raise EventError(f"event type {type_or_pattern!r} has an invalid segment {token!r}")
    if any(t in ("*", ">") for t in tokens[:2]):
        raise EventError(f"{type_or_pattern!r}: the system and context segments cannot be wildcards")
    return subject


def context_of(type_or_subject: str) -> str:
    """The bounded context, ``<system>.<context>`` (``shop.catalog``)."""
    return ".".join(subject_for(type_or_subject).split(".")[:2])


def stream_for(type_or_subject: str) -> str:
    """The stream name of the event's bounded context (``SHOP_CATALOG``)."""
    return context_of(type_or_subject).replace(".", "_").replace("-", "_").upper()


def stream_subjects(type_or_subject: str) -> list[str]:
    """The subjects the context's stream captures (``["shop.catalog.>"]``)."""
    return [context_of(type_or_subject) + ".>"]


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether a NATS subject matches a pattern with ``*`` (one token) and ``>`` (the rest) wildcards."""
    p_tokens = pattern.split(".")
    s_tokens = subject.split(".")
    for i, p in enumerate(p_tokens):
        if p == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens) or (p != "*" and p != s_tokens[i]):
            return False
    return len(p_tokens) == len(s_tokens)


def consumer_name(service: str, *, instance: str | None = None) -> str:
    """A durable consumer name: the service, or ``<service>_<instance>`` for a broadcast consumer."""
    name = service if instance is None else f"{service}_{instance}"
    return _NAME_UNSAFE.sub("_", name)


def dlq_subject(consumer: str) -> str:
    """The subject a consumer's dead letters are published on."""
    return f"{DLQ_PREFIX}.{_NAME_UNSAFE.sub('_', consumer)}"
