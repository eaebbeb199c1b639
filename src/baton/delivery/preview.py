"""The preview check: requests through the gateway's preview route must reach the new version and not fail.

Argo Rollouts' ``prePromotionAnalysis`` against the ``previewService``: before any public traffic moves, a few
requests carrying the tester headers go through the real edge (so the gateway's route table and its discovery
watch are proven to know the new instances), and each must be answered below 500.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

from baton.control.manifest import RouteSpec
from baton.delivery.runner import PreviewCheck

__all__ = ["gateway_preview", "preview_path"]


def preview_path(routes: Sequence[RouteSpec], service: str) -> str | None:
    """A path of a public GET route of ``service`` (no authentication at the edge), or ``None``."""
    for route in routes:
        if route.service != service or route.auth != "none":
            continue
        if route.methods and "GET" not in {m.upper() for m in route.methods}:
            continue
        prefix = route.prefix.rstrip("/") or "/"
        return f"/{route.version.strip('/')}{prefix}" if route.version else prefix
    return None


def gateway_preview(gateway_url: str, path: str, *, requests: int = 5, timeout: float = 5.0) -> PreviewCheck:
    """A :data:`~baton.delivery.runner.PreviewCheck` sending ``requests`` GETs of ``path`` through the gateway."""

    async def check(headers: dict[str, str]) -> tuple[int, int, str]:
        healthy = 0
        statuses: list[int] = []
        problems: list[str] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            for _ in range(requests):
                try:
                    async with session.get(gateway_url.rstrip("/") + path, headers=headers) as response:
                        await response.read()
                        statuses.append(response.status)
                        if response.status < 500:
                            healthy += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    problems.append(type(exc).__name__)
        detail = f"GET {path}: statuses {statuses}" + (f", errors {problems}" if problems else "")
        return len(statuses), healthy, detail

    return check
