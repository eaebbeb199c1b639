"""The route table: which route a request belongs to (path prefix, API version, header and cookie conditions).

Routes are indexed by the first path segment, then tried most specific first: the longest prefix, then the
route with the most conditions, so a canary route ``X-Baton-Version: v2`` on ``/v1/catalog`` wins over the plain
``/v1/catalog`` route for requests carrying the header and never for the others. The table is immutable; a
config reload builds a new one and swaps it in one assignment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from baton.gateway.config import RouteConfig
from baton.gateway.splitting import WeightedPicker

_NONE_ALLOWED: frozenset[str] = frozenset()
"""No method allowed (yet): where :meth:`RouteTable.match` starts (one set, not one per request)."""


def full_prefix(config: RouteConfig) -> str:
    """The path prefix a route matches: ``/<version><prefix>`` (no trailing slash except for ``/``)."""
    prefix = config.prefix.rstrip("/")
    if config.version:
        prefix = f"/{config.version.strip('/')}{prefix}"
    return prefix or "/"


def _admit(request: Any) -> None:
    return None


def _first_segment(path: str) -> str:
    end = path.find("/", 1)
    return path[1:] if end < 0 else path[1:end]


@dataclass(slots=True, eq=False)
class Route:
    """A route compiled for the hot path: its config plus everything precomputed from it."""

    config: RouteConfig
    prefix: str = ""
    policies: tuple[Any, ...] = ()
    """The request policies in chain order (see :mod:`baton.gateway.policies.chain`)."""
    chain: Callable[[Any], Any] = _admit
    """:attr:`policies` compiled into one function (:func:`~baton.gateway.policies.chain.compile_chain`)."""
    bodyless_chain: Callable[[Any], Any] = _admit
    """The chain for requests without a body (validation's header checks only look at declared bodies)."""
    picker: WeightedPicker = field(default_factory=lambda: WeightedPicker([1]))
    header_conditions: tuple[tuple[bytes, bytes | None], ...] = ()
    cookie_conditions: tuple[tuple[str, str | None], ...] = ()
    methods: frozenset[str] = frozenset()
    # Route-scoped helpers attached by :mod:`baton.gateway.build` (attributes: the hot path reads them per request).
    max_body: int = 0
    """Request body limit in bytes (the route's validation ``max_body`` or the gateway's)."""
    validator: Any = None
    """The route's :class:`~baton.gateway.policies.validation.Validate` (body checks, OpenAPI schemas)."""
    buffer_body: bool = False
    """Whether bodies are buffered for validation before the upstream sees them."""
    response_filter: Any = None
    """:class:`~baton.gateway.filtering.ResponseFilter` for JSON answers, or ``None``."""
    cache: Any = None
    """:class:`~baton.gateway.cache.ResponseCache`, or ``None``."""
    targets: list[Any] = field(default_factory=list)
    """:class:`~baton.gateway.upstreams.Target` per backend, in config order (weights index them)."""
    budget: Any = None
    """The route's :class:`~baton.resilience.retry.RetryBudget`, or ``None``."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Anything else attached to the route by extensions."""

    def __post_init__(self) -> None:
        self.prefix = full_prefix(self.config)
        self.picker = WeightedPicker([b.weight for b in self.config.backends])
        self.header_conditions = tuple(
            (k.lower().encode("latin-1"), None if v == "*" else v.encode("latin-1"))
            for k, v in self.config.match.headers.items()
        )
        self.cookie_conditions = tuple((k, None if v == "*" else v) for k, v in self.config.match.cookies.items())
        self.methods = self.config.methods

    @property
    def name(self) -> str:
        """The route's name (metrics label, logs)."""
        return self.config.name

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key: longer prefixes first, then more conditions."""
        return (len(self.prefix), len(self.header_conditions) + len(self.cookie_conditions))

    def matches_path(self, path: str) -> bool:
        """Whether ``path`` is under this route's prefix, on a segment boundary."""
        prefix = self.prefix
        if prefix == "/":
            return True
        return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")

    def matches_conditions(self, headers: Mapping[bytes, bytes]) -> bool:
        """Whether the request's headers and cookies satisfy this route's conditions."""
        for name, expected in self.header_conditions:
            value = headers.get(name)
            if value is None or (expected is not None and value != expected):
                return False
        if self.cookie_conditions:
            raw = headers.get(b"cookie")
            if raw is None:
                return False
            jar = SimpleCookie()
            try:
                jar.load(raw.decode("latin-1"))
            except Exception:
                return False
            for cname, cexpected in self.cookie_conditions:
                morsel = jar.get(cname)
                if morsel is None or (cexpected is not None and morsel.value != cexpected):
                    return False
        return True

    def upstream_path(self, target: bytes) -> bytes:
        """The request target sent upstream (``strip_prefix`` keeps the API version segment)."""
        if not self.config.strip_prefix:
            return target
        cut = len(self.prefix)
        head = f"/{self.config.version}".encode() if self.config.version else b""
        rest = target[cut:]
        if not rest.startswith((b"/", b"?")):
            rest = b"/" + rest
        return head + rest


class MethodNotAllowed(Exception):
    """Raised by :meth:`RouteTable.match` when routes match the path but none allows the method."""

    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__("method not allowed")
        self.allowed = allowed


class RouteTable:
    """Immutable set of routes with a first-segment index."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(sorted(routes, key=lambda r: r.specificity, reverse=True))
        self._by_segment: dict[str, tuple[Route, ...]] = {}
        self._root: tuple[Route, ...] = tuple(r for r in self.routes if r.prefix == "/")
        segments = {_first_segment(r.prefix) for r in self.routes if r.prefix != "/"}
        for seg in segments:
            hits = [r for r in self.routes if r.prefix != "/" and _first_segment(r.prefix) == seg]
            self._by_segment[seg] = tuple(hits) + self._root
        self.by_name = {r.name: r for r in self.routes}

    def match(self, method: str, path: str, headers: Mapping[bytes, bytes]) -> Route | None:
        """The most specific route for the request, or ``None``.

        Raises:
            MethodNotAllowed: routes match the path and conditions but none allows ``method``.
        """
        allowed = _NONE_ALLOWED  # (no set built per request: most requests match at once)
        end = path.find("/", 1)  # _first_segment and matches_path, inline
        for route in self._by_segment.get(path[1:] if end < 0 else path[1:end], self._root):
            prefix = route.prefix
            if prefix != "/" and not (
                path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")
            ):
                continue
            if (route.header_conditions or route.cookie_conditions) and not route.matches_conditions(headers):
                continue
            if route.methods and method not in route.methods:
                allowed |= route.methods
                continue
            return route
        if allowed:
            raise MethodNotAllowed(allowed)
        return None
