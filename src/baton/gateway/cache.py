"""Response caching for GETs that opt in, with ETag / If-None-Match revalidation.

Only ``200`` answers without ``Cache-Control: no-store``/``private``, ``Set-Cookie`` or ``Vary: *`` are
stored; the key is the route, the request target, the route's ``vary`` headers and (unless the route says
``shared``) the consumer, so one caller never receives another's answer. Entries hold the *filtered* body,
since filtering runs before caching. The ETag is the upstream's, or a BLAKE2 digest of the body.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from baton.gateway.config import CacheConfig
from baton.gateway.policies.base import RequestInfo
from baton.resilience.clock import MONOTONIC, Clock


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A stored answer."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    """End-to-end headers to replay (no framing or hop-by-hop headers)."""
    body: bytes
    etag: bytes
    stored_at: float
    expires_at: float


def etag_for(body: bytes) -> bytes:
    """A strong ETag derived from the body."""
    return b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'


def etag_matches(if_none_match: bytes | None, etag: bytes) -> bool:
    """Weak comparison of ``If-None-Match`` against ``etag`` (RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == b"*":
        return True
    mine = etag.removeprefix(b"W/")
    return any(tag.strip().removeprefix(b"W/") == mine for tag in if_none_match.split(b","))


def cacheable(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """Whether an answer's headers allow a shared cache to keep it."""
    for name, value in headers:
        if name == b"set-cookie":
            return False
        if name == b"cache-control":
            directives = value.lower()
            if b"no-store" in directives or b"private" in directives or b"no-cache" in directives:
                return False
        if name == b"vary" and value.strip() == b"*":
            return False
    return True


class ResponseCache:
    """An LRU of answers for one route."""

    def __init__(self, config: CacheConfig, *, clock: Clock = MONOTONIC) -> None:
        self.config = config
        self.clock = clock
        self.vary = tuple(h.lower().encode() for h in config.vary)
        self._entries: OrderedDict[Hashable, CachedResponse] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, request: RequestInfo, target: bytes) -> Hashable:
        """The cache key of a request."""
        varied = tuple(request.headers.get(h) for h in self.vary)
        who = None if self.config.shared else (request.consumer or "")
        return (target, varied, who)

    def get(self, key: Hashable) -> CachedResponse | None:
        """A fresh entry for ``key``."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self.clock.now():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(
        self, key: Hashable, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes
    ) -> CachedResponse | None:
        """Store an answer if it may be cached; returns the entry (with its ETag)."""
        if status != 200 or len(body) > self.config.max_body or not cacheable(headers):
            return None
        etag = next((v for n, v in headers if n == b"etag"), None) or etag_for(body)
        kept = tuple((n, v) for n, v in headers if n not in (b"etag", b"age", b"date"))
        now = self.clock.now()
        entry = CachedResponse(status, kept, body, etag, now, now + self.config.ttl)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.config.max_entries:
            self._entries.popitem(last=False)
        return entry
