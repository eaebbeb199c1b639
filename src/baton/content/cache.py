"""The content client's cache: answers kept by query, tagged with what they contain, dropped by events.

An answer is tagged ``api:<apiId>`` and ``doc:<documentId>`` for every document in it (populated ones
included). A content event drops the answers tagged with its type or document, so a published change is read
fresh on the next call; the TTL only bounds how long an answer lives if an event is ever missed (the client
also clears everything after a reconnect to NATS, when events may have been missed).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CachePolicy", "CachedAnswer", "ContentCache", "tags_of"]


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How the content client caches (a policy, so every service states it the same way)."""

    ttl: float = 60.0
    """Seconds an answer is served without asking the hub; content events invalidate sooner. 0 disables caching."""
    revalidate: bool = True
    """After the TTL, ask the hub with ``If-None-Match``: an unchanged answer costs a 304 and no body."""
    stale_if_error: float = 300.0
    """Seconds past the TTL an answer may still be served when the hub cannot be reached."""
    max_entries: int = 10_000
    """Answers kept; the least recently used go first."""

    @property
    def enabled(self) -> bool:
        """Whether answers are kept at all."""
        return self.ttl > 0 and self.max_entries > 0


@dataclass(slots=True)
class CachedAnswer:
    """One cached answer."""

    body: Any
    etag: str | None
    stored_at: float
    tags: frozenset[str] = field(default_factory=frozenset)


def _document_ids(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        document_id = value.get("documentId")
        if isinstance(document_id, str):
            out.add(document_id)
        for item in value.values():
            if isinstance(item, dict | list):
                _document_ids(item, out)
    elif isinstance(value, list):
        for item in value:
            _document_ids(item, out)


def tags_of(api_id: str, body: Any) -> frozenset[str]:
    """The tags of an answer from ``/api/<api_id>``."""
    ids: set[str] = set()
    _document_ids(body, ids)
    return frozenset({f"api:{api_id}", *(f"doc:{d}" for d in ids)})


class ContentCache:
    """An LRU map of answers with tag-based invalidation."""

    def __init__(self, policy: CachePolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.invalidations = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> CachedAnswer | None:
        """The answer kept under ``key``, fresh or not (see :meth:`is_fresh`)."""
        answer = self._entries.get(key)
        if answer is not None:
            self._entries.move_to_end(key)
        return answer

    def is_fresh(self, answer: CachedAnswer) -> bool:
        """Whether ``answer`` is within its TTL."""
        return self.clock() - answer.stored_at < self.policy.ttl

    def is_usable_stale(self, answer: CachedAnswer) -> bool:
        """Whether ``answer`` may still be served because the hub is failing."""
        return self.clock() - answer.stored_at < self.policy.ttl + self.policy.stale_if_error

    def store(self, key: str, body: Any, *, etag: str | None, tags: frozenset[str]) -> None:
        """Keep an answer (evicting the least recently used beyond ``max_entries``)."""
        if not self.policy.enabled:
            return
        self._entries[key] = CachedAnswer(body, etag, self.clock(), tags)
        self._entries.move_to_end(key)
        while len(self._entries) > self.policy.max_entries:
            self._entries.popitem(last=False)

    def touch(self, answer: CachedAnswer) -> None:
        """Mark a revalidated answer fresh again."""
        answer.stored_at = self.clock()

    def invalidate(self, tags: Iterable[str]) -> int:
        """Drop every answer carrying one of ``tags``; how many were dropped."""
        wanted = set(tags)
        doomed = [key for key, answer in self._entries.items() if answer.tags & wanted]
        for key in doomed:
            del self._entries[key]
        self.invalidations += len(doomed)
        return len(doomed)

    def tagged(self, tag: str) -> int:
        """How many answers carry ``tag`` (``api:email-templates``, ``doc:<documentId>``)."""
        return sum(1 for answer in self._entries.values() if tag in answer.tags)

    def clear(self) -> None:
        """Drop everything."""
        self.invalidations += len(self._entries)
        self._entries.clear()
