"""Rate limits: in-process token buckets per consumer, per IP and per route; 429 with ``Retry-After``.

Headers follow the IETF ``RateLimit`` draft: ``RateLimit-Limit`` (the burst), ``RateLimit-Remaining``,
``RateLimit-Reset`` (seconds until the bucket is full again, or until the next token on a 429) and
``RateLimit-Policy``. Buckets live in :class:`TokenBuckets`, shared across config reloads, so a reload never
hands a caller a fresh allowance.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from math import floor

from baton.gateway.config import RateLimitConfig, RateSpec
from baton.gateway.policies.base import RequestInfo, Verdict
from baton.gateway.responses import HeaderBlock, Rejection
from baton.resilience.clock import MONOTONIC, Clock


class TokenBuckets:
    """Token bucket state by key (the state only; the specs come with each call)."""

    __slots__ = ("_buckets", "clock", "max_keys")

    def __init__(self, *, clock: Clock = MONOTONIC, max_keys: int = 200_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Hashable, list[float]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable, spec: RateSpec, now: float | None = None) -> float:
        """Take one token. Returns the tokens left (``>= 0``) or, when refused, minus the seconds to wait.

        ``now`` (the bucket clock's reading) lets a caller taking from several buckets read the clock once.
        """
        if now is None:
            now = self.clock.now()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self.prune()
            self._buckets[key] = [spec.burst - 1.0, now]
            return spec.burst - 1.0
        tokens = bucket[0] + (now - bucket[1]) * spec.rate
        if tokens > spec.burst:
            tokens = spec.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return tokens - 1.0
        bucket[0] = tokens
        return -(1.0 - tokens) / spec.rate

    def prune(self) -> None:
        """Forget the oldest half of the buckets (memory bound under address-spraying floods)."""
        by_age = sorted(self._buckets.items(), key=lambda item: item[1][1])
        for key, _ in by_age[: len(by_age) // 2 + 1]:
            del self._buckets[key]


def _limit_headers(spec: RateSpec, remaining: float) -> HeaderBlock:
    reset = math.ceil((spec.burst - remaining) / spec.rate) if remaining < spec.burst else 0
    return HeaderBlock(
        (
            (b"ratelimit-limit", b"%d" % spec.burst),
            (b"ratelimit-remaining", b"%d" % int(remaining)),
            (b"ratelimit-reset", b"%d" % reset),
        )
    )


_HEADER_MEMO_LIMIT = 1024
_SCOPES = ("route", "address", "consumer")


def too_many(spec: RateSpec, wait: float, scope: str) -> Rejection:
    """The 429 for a refused token: ``Retry-After`` and the ``RateLimit-*`` headers."""
    seconds = max(1, math.ceil(wait))
    headers = (
        (b"retry-after", b"%d" % seconds),
        (b"ratelimit-limit", b"%d" % spec.burst),
        (b"ratelimit-remaining", b"0"),
        (b"ratelimit-reset", b"%d" % seconds),
        (b"ratelimit-policy", b"%d;w=%d" % (max(1, round(spec.rate * spec.window)), max(1, round(spec.window)))),
    )
    return Rejection(status=429, title="Too Many Requests", detail=f"{scope} rate limit exceeded", headers=headers)


class RateLimit:
    """Policy: take a token from each configured bucket (route, IP, consumer); 429 on the first refusal."""

    name = "rate_limit"

    def __init__(self, route_name: str, config: RateLimitConfig, buckets: TokenBuckets) -> None:
        self.route_name = route_name
        self.config = config
        self.buckets = buckets
        tags = ((route_name, "route"), (route_name, "ip"), (route_name, "consumer"))
        steps = ((0, config.route), (1, config.ip), (2, config.consumer))
        self._steps: tuple[tuple[int, RateSpec, float, float, tuple[str, str]], ...] = tuple(
            (i, spec, spec.rate, float(spec.burst), tags[i]) for i, spec in steps if spec is not None
        )
        """``(scope, spec, rate, burst, tag)`` for the route, address and consumer buckets in order (configured
        ones). The tag is the route bucket's key, and the first half of the others' (``(tag, address)``,
        ``(tag, consumer)``)."""
        self._with_headers = config.consumer is not None and config.headers
        self._headers: dict[int, HeaderBlock] = {}
        """Success headers by remaining whole tokens (most answers repeat a handful of values)."""

    def check(self, request: RequestInfo) -> Verdict:
        """Refuse when any bucket is empty; otherwise expose the consumer bucket's state.

        :meth:`TokenBuckets.take`'s arithmetic, inline for each bucket (one clock reading, no call per bucket).
        """
        buckets = self.buckets
        store = buckets._buckets
        now = buckets.clock.now()
        left = 0.0
        for scope, spec, rate, burst, tag in self._steps:
            if scope == 0:
                key: Hashable = tag
            elif scope == 1:
                key = (tag, request.client_ip)
            else:
                principal = request.principal
                key = (tag, principal.consumer if principal is not None else "ip:" + request.client_ip)
            bucket = store.get(key)
            if bucket is None:
                if len(store) >= buckets.max_keys:
                    buckets.prune()
                left = burst - 1.0
                store[key] = [left, now]
                continue
            tokens = bucket[0] + (now - bucket[1]) * rate
            if tokens > burst:
                tokens = burst
            bucket[1] = now
            if tokens >= 1.0:
                left = bucket[0] = tokens - 1.0
                continue
            bucket[0] = tokens
            return too_many(spec, (1.0 - tokens) / rate, _SCOPES[scope])
        if self._with_headers:
            # Memoised by whole tokens left; the reset is computed from them too (at most one token's refill
            # time later than from the exact fraction: a conservative answer).
            whole = floor(left)  # int(left): ``left`` is a whole number or positive (floor is the cheaper call)
            headers = self._headers.get(whole)
            if headers is None:
                consumer = self.config.consumer
                assert consumer is not None
                if len(self._headers) >= _HEADER_MEMO_LIMIT:
                    self._headers.clear()
                headers = self._headers[whole] = _limit_headers(consumer, whole)
            if request.response_headers is None:  # RequestInfo.add_response_headers, inline
                request.response_headers = headers
            else:
                request.add_response_headers(headers)
        return None
